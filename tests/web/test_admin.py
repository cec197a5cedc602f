"""The admin console: a connector added with a wrong URL fails its check, gets fixed, is saved."""

from __future__ import annotations

import re

from werkzeug import Response

from hub.models import Connector
from tests.web.conftest import ADMIN, free_port, login, screenshot


def test_admin_adds_connector_sees_check_fail_fixes_it(live, context, httpserver, artifacts_dir):
    hub = live.hub
    httpserver.expect_request("/omnihub-replies", method="HEAD").respond_with_response(Response(status=200))
    page = context.new_page()
    login(page, live, ADMIN)
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(re.compile(r".*/admin/connectors$"))
    page.get_by_label("Kind").select_option("api")
    page.get_by_role("button", name="Continue").click()

    # the form is generated from ApiConfig's schema: the secret is a password field
    secret = page.get_by_label("Secret")
    assert secret.get_attribute("type") == "password"
    assert page.get_by_label("Widget", exact=True).get_attribute("type") == "checkbox"
    page.get_by_label("Name", exact=True).fill("partner")
    secret.fill("partner-shared-secret-123")
    dead_port = free_port()
    page.get_by_label("Callback url").fill(f"http://127.0.0.1:{dead_port}/omnihub-replies")
    page.get_by_role("button", name="Check connection").click()
    result = page.locator("#check-result")
    result.filter(has_text="Check failed").wait_for()
    assert "unreachable" in result.inner_text()
    assert hub.count(Connector, Connector.name == "partner") == 0  # checking saves nothing

    # fix the URL, check again, save
    page.get_by_label("Callback url").fill(httpserver.url_for("/omnihub-replies"))
    page.get_by_role("button", name="Check connection").click()
    result.filter(has_text="Check passed").wait_for()
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/admin/connectors/partner$"))
    assert "created" in page.locator(".flash.ok").inner_text()
    # write-only: shown masked, never in clear
    assert "partner-shared-secret-123" not in page.content()
    assert "stored: pa••••••23" in page.get_by_label("Secret").get_attribute("placeholder")
    assert f"{live.url}/webhooks/partner/messages" in page.locator(".webhooks").inner_text()

    # edit without retyping the secret keeps it
    page.get_by_label("Timeout").fill("5")
    page.get_by_role("button", name="Save").click()
    page.locator(".flash.ok").wait_for()
    desc = hub.api("GET", "/api/v1/connectors/partner").get_json()
    assert desc["config"]["timeout"] == 5 and desc["config"]["secret"] == "pa••••••23"
    values = hub.app.extensions["omnihub.connectors"]
    with hub.rt.db.read() as s:
        assert values.values(values.get(s, "partner"))["secret"] == "partner-shared-secret-123"

    page.get_by_role("link", name="Connectors").click()
    row = page.locator("#connector-partner")
    assert "✔ ok" in row.locator(".health").inner_text()
    screenshot(page, artifacts_dir, "admin")


def test_admin_users_dead_letters_and_contact_merge(live, context):
    hub = live.hub
    page = context.new_page()
    login(page, live, ADMIN)
    page.goto(live.url + "/admin/users")
    page.get_by_label("Email", exact=True).fill("new.agent@example.com")
    page.get_by_label("Password", exact=True).fill("long enough pw")
    page.get_by_role("button", name="Create user").click()
    page.locator(".flash.ok", has_text="new.agent@example.com").wait_for()
    page.goto(live.url + "/admin/dead-letters")
    assert page.get_by_role("heading", name=re.compile("Replies")).count() == 1
    page.get_by_role("button", name="Replay everything").click()
    page.locator(".flash.ok", has_text="Replayed").wait_for()
