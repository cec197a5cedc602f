"""The admin console: a connector added with a wrong URL fails its check, gets fixed, is saved."""

from __future__ import annotations

import re

from werkzeug import Response

from hub.models import Connector
from tests.web.conftest import ADMIN, assert_labelled, free_port, login, screenshot, seed_conversation


def test_admin_adds_connector_sees_check_fail_fixes_it(live, context, httpserver, artifacts_dir):
    hub = live.hub
    httpserver.expect_request("/omnihub-replies", method="HEAD").respond_with_response(Response(status=200))
    page = context.new_page()
    login(page, live, ADMIN)
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(re.compile(r".*/admin/connectors$"))
    page.get_by_label("Kind").select_option("api")
    page.get_by_role("button", name="Continue").click()

    # the form is generated from ApiConfig's schema: human labels, help, examples, sections
    assert_labelled(page)
    secret = page.get_by_label("Shared secret")
    assert secret.get_attribute("type") == "password"
    assert page.get_by_label("Web chat widget", exact=True).get_attribute("type") == "checkbox"
    legends = page.locator("fieldset.section legend").all_inner_texts()
    assert legends == ["Credentials", "Addresses", "Behaviour", "Advanced"]
    assert page.locator("#section-credentials").get_by_label("Shared secret").count() == 1
    assert page.locator("#section-advanced").get_by_label("Callback timeout (seconds)").count() == 1
    assert "Example: https://app.example.com/omnihub/replies" in page.locator("#cfg_callback_url-help").inner_text()
    assert not page.get_by_text("Callback url", exact=True).count() and not page.get_by_text("Faq bot").count()

    # the webhook URLs follow the name as it is typed
    hooks = page.locator("#webhook-urls")
    assert f"{live.url}/webhooks/<name>/messages" in hooks.inner_text()
    page.locator("#name").press_sequentially("partner")
    assert f"{live.url}/webhooks/partner/messages" in hooks.inner_text()
    secret.fill("partner-shared-secret-123")
    dead_port = free_port()
    page.get_by_label("Callback URL").fill(f"http://127.0.0.1:{dead_port}/omnihub-replies")
    page.get_by_role("button", name="Check connection").click()
    result = page.locator("#check-result")
    result.filter(has_text="Check failed").wait_for()
    # plain words with the key to fix, no exception text
    assert result.inner_text() == ("Check failed: 127.0.0.1 refused the connection — nothing is listening there; "
                                   "check callback_url")
    assert hub.count(Connector, Connector.name == "partner") == 0  # checking saves nothing

    # fix the URL, check again, save
    page.get_by_label("Callback URL").fill(httpserver.url_for("/omnihub-replies"))
    page.get_by_role("button", name="Check connection").click()
    result.filter(has_text="Check passed").wait_for()
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/admin/connectors/partner$"))
    assert "created" in page.locator(".flash.ok").inner_text()
    # write-only: shown masked, never in clear
    assert "partner-shared-secret-123" not in page.content()
    assert "stored: pa••••••23" in page.get_by_label("Shared secret").get_attribute("placeholder")
    assert f"{live.url}/webhooks/partner/messages" in page.locator(".webhooks").inner_text()

    # edit without retyping the secret keeps it
    page.get_by_label("Callback timeout (seconds)").fill("5")
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


def _seed(hub):
    """Two contacts of one customer and a dead reply."""
    from hub.models import Reply

    hub.add_connector("web", "api", secret="x")
    keep, conv_id = seed_conversation(hub, "web", "web:dana", "Dana Doe")
    other, _ = seed_conversation(hub, "web", "web:dana-mobile", "D. Doe")
    with hub.rt.db.session() as s:
        conn_id = s.query(Connector).filter_by(name="web").one().id
        r = Reply(conversation_id=conv_id, connector_id=conn_id, text="lost", state="dead", last_error="HTTP 404 from callback", source="api")
        s.add(r)
        s.flush()
        return (keep, other), r.id


def test_admin_users_dead_letters_and_contact_merge(live, context):
    from hub.models import Contact, Identity, Reply

    hub = live.hub
    (keep, other), reply_id = _seed(hub)
    page = context.new_page()
    login(page, live, ADMIN)

    page.goto(live.url + "/admin/users")
    page.get_by_label("Email", exact=True).fill("new.agent@example.com")
    page.get_by_label("Password", exact=True).fill("long enough pw")
    page.get_by_role("button", name="Create user").click()
    page.locator(".flash.ok", has_text="new.agent@example.com").wait_for()
    assert page.get_by_label("Role of new.agent@example.com").input_value() == "agent"

    assert_labelled(page)
    page.goto(live.url + "/admin/dead-letters")
    assert "HTTP 404 from callback" in page.locator("table").first.inner_text()
    page.get_by_label(f"select replies {reply_id}").check()
    page.get_by_role("button", name="Replay selected replies").click()
    page.locator(".flash.ok", has_text="1 replies").wait_for()
    with hub.rt.db.read() as s:
        r = s.get(Reply, reply_id)
        assert r.state == "pending" and r.last_error is None

    page.goto(live.url + "/admin/contacts?q=doe")
    assert page.locator("table tbody tr").count() == 2
    assert_labelled(page)
    page.get_by_label("Keep contact id").fill(str(keep))
    page.get_by_label("Merge contact id into it").fill(str(other))
    page.get_by_role("button", name="Merge").click()
    page.locator("#merge-result", has_text="now has 2 identities and 2 conversations").wait_for()
    with hub.rt.db.read() as s:
        assert s.get(Contact, other).merged_into_id == keep
        assert {i.contact_id for i in s.query(Identity)} == {keep}
