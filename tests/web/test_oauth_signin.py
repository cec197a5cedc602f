"""The OAuth sign-in of a mailbox in a real browser (headless Chromium): the admin presses
Sign in, the browser goes to the provider (tests/support/oauth_server.py) and comes back to
the callback; a connector that cannot authenticate shows as a banner for admins."""

from __future__ import annotations

import re

from sqlalchemy import select

from hub import health
from hub.models import Connector
from tests.support.oauth_server import OAuthServer
from tests.web.conftest import ADMIN, AGENT, login, screenshot


def test_admin_signs_a_mailbox_in_and_sees_red_connectors(live, context, artifacts_dir):
    hub = live.hub
    with OAuthServer(f"{live.url}/admin/oauth/callback", "support@example.com") as idp:
        hub.add_connector("m365", "email", imap_host="127.0.0.1", imap_security="none", username="support@example.com",
                          from_address="support@example.com", **idp.connector_config())
        page = context.new_page()
        login(page, live, ADMIN)
        page.goto(f"{live.url}/admin/connectors/m365")
        page.get_by_role("button", name=re.compile("Sign in with")).click()
        page.wait_for_url(re.compile(r".*/admin/connectors/m365$"))
        flash = page.locator(".flash").inner_text()
        # signed in with the provider, then the mailbox itself is tried: nothing listens on
        # this IMAP port, so it says so instead of "connected" (fresh-eyes finding)
        assert "signed in with the provider, but the mailbox check failed" in flash and "refused the connection" in flash
        assert idp.grants == ["authorization_code"]
        with hub.rt.db.read() as s:
            state = s.scalar(select(Connector.state).where(Connector.name == "m365"))
        assert "sealed:oauth" in state

        # credentials stop working: a banner for admins on every page
        with hub.rt.db.read() as s:
            cid = s.scalar(select(Connector.id).where(Connector.name == "m365"))
        health.note_failure(hub.rt, cid, "IMAP INBOX: the token refresh was refused by the provider: invalid_grant", auth=True)
        page.goto(f"{live.url}/inbox")
        banner = page.locator("#connector-health-banner")
        assert "m365" in banner.inner_text() and "invalid_grant" in banner.inner_text()
        screenshot(page, artifacts_dir, "connector-health-banner")
        banner.get_by_role("link", name="m365").click()
        page.wait_for_url(re.compile(r".*/admin/connectors/m365$"))

        agent = context.browser.new_context().new_page()
        login(agent, live, AGENT)
        assert agent.locator("#connector-health-banner").count() == 0
        agent.context.close()
