"""A site the widget refuses is visible to the admin: the connector page lists the allowed
origins and the recently refused ones (bounded, well-formed only), with the fix."""

from __future__ import annotations

import json

import httpx

from tests.security.test_secret_origin import _admin_client


def _post(client, origin: str):
    body = {"visitor": "v" * 24, "text": "hello"}
    return client.post("/widget/chat/messages", data=json.dumps(body), headers={"Origin": origin, "Content-Type": "application/json"})


def test_refused_origins_are_listed_for_the_admin_and_bounded(hub):
    hub.add_connector("chat", "api", secret="chat-secret-1", widget=True, widget_origins=["https://www.acme.example"])
    client = hub.app.test_client()
    assert _post(client, "https://shop.acme.example").status_code == 403
    assert _post(client, "https://shop.acme.example").status_code == 403  # listed once
    assert _post(client, "javascript:alert(1)//<script>").status_code == 403  # refused, not listed
    admin = _admin_client(hub)
    page = admin.get("/admin/connectors/chat").get_data(as_text=True)
    assert "Chat widget: allowed sites" in page and "<code>https://www.acme.example</code>" in page
    assert page.count("<code>https://shop.acme.example</code>") == 1 and "add it to <b>widget_origins</b>" in page
    assert "script" not in page.split('id="widget-origins"')[1].split("</section>")[0]
    for i in range(40):  # a flood of made-up origins keeps only the newest 20
        _post(client, f"https://f{i}.example")
    page = admin.get("/admin/connectors/chat").get_data(as_text=True)
    listed = page.split('class="refused-origins"')[1].split("</ul>")[0]
    assert listed.count("<li>") == 20 and "https://f39.example" in listed and "https://shop.acme.example" not in listed
    # the allowed site itself is not refused
    assert _post(client, "https://www.acme.example").status_code in (200, 202)


def test_widget_page_of_a_connector_without_origins_says_only_the_hub(hub):
    hub.add_connector("chat", "api", secret="chat-secret-1", widget=True)
    page = _admin_client(hub).get("/admin/connectors/chat").get_data(as_text=True)
    assert "only the hub's own" in page and "<code>http://hub.test</code>" in page and "/widget/chat/try" in page
    assert "No page from another site has been refused recently." in page


def test_try_page_embeds_the_widget_for_signed_in_users_only(live, context):
    """The hub's widget test page, in Chromium: a visitor's message from it reaches the inbox."""
    from tests.support.hub import wait_until
    from tests.web.conftest import login

    hub = live.hub
    hub.add_connector("chat", "api", secret="chat-secret-1", widget=True)
    hub.start_worker()
    assert httpx.get(f"{live.url}/widget/chat/try", follow_redirects=False).status_code in (302, 303)  # not public
    page = context.new_page()
    login(page, live)
    page.goto(f"{live.url}/widget/chat/try")
    page.get_by_text("No site is allowed yet").wait_for()
    page.get_by_role("button", name="Try: chat").click()
    chat = page.locator("#omnihub-chat")
    chat.get_by_label("Your message").fill("Testing the widget before it goes live")
    chat.get_by_role("button", name="Send").click()
    conv = wait_until(lambda: hub.api("GET", "/api/v1/conversations?connector=chat").get_json()["items"], message="conversation from the try page")[0]
    assert conv["channel"] == "api"
    # the widget is styled on this page (its <style> is allowed here, and only here)
    color = chat.get_by_role("button", name="Send").evaluate("b => getComputedStyle(b).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)")
    assert "unsafe-inline" not in httpx.get(f"{live.url}/login").headers["Content-Security-Policy"]
    assert httpx.get(f"{live.url}/widget/nochat/try", cookies={c["name"]: c["value"] for c in context.cookies()}).status_code == 404
