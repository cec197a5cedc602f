"""A visitor chats through the widget embedded in another site; the agent's answer comes back live."""

from __future__ import annotations

import httpx
import pytest
from werkzeug import Response

from tests.support.hub import wait_until
from tests.web.conftest import assert_labelled, screenshot

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Wallet</title></head>
<body style="font-family:sans-serif;background:#fafafa"><h1>Acme Wallet</h1><p>Welcome to our help centre.</p>
<script src="{hub}/widget.js" data-connector="site" data-color="#0a7a5a" data-greeting="Hi! Ask us anything." data-title="Acme support" async></script>
</body></html>"""


@pytest.fixture
def site(httpserver, live):
    """The customer's website (another origin) with the one script tag."""
    httpserver.expect_request("/").respond_with_response(Response(PAGE.format(hub=live.url), content_type="text/html"))
    origin = httpserver.url_for("/").rstrip("/")
    live.hub.add_connector("site", "api", secret="widget-secret-not-in-browser", widget=True, widget_origins=[origin])
    return origin


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations?connector=site").get_json()["items"]


def test_visitor_chats_and_gets_the_agents_answer_across_page_loads(live, site, context, artifacts_dir):
    hub = live.hub
    hub.start_worker()
    page = context.new_page()
    page.set_viewport_size({"width": 420, "height": 720})  # a phone
    page.goto(site + "/")
    page.get_by_role("button", name="Acme support").click()
    chat = page.locator("#omnihub-chat")
    chat.get_by_text("Hi! Ask us anything.").wait_for()
    chat.get_by_text("Your name and email (optional)").click()
    chat.get_by_label("Name").fill("Vera Visitor")
    chat.get_by_label("Email").fill("vera@example.com")
    chat.get_by_label("Your message").fill("Is the <b>app</b> down? My balance shows 0")
    chat.get_by_role("button", name="Send").click()

    conv = wait_until(lambda: conversations(hub), message="widget conversation")[0]
    assert conv["customer"]["display_name"] == "Vera Visitor" and conv["channel"] == "api"
    full = hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()
    assert full["messages"][0]["text"] == "Is the <b>app</b> down? My balance shows 0"
    assert full["contact"]["email"] == "vera@example.com"  # optional details reach the contact

    # the agent answers; the api connector has no callback_url: the widget reads sent replies
    resp = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi Vera, a display bug: your funds are safe."})
    assert resp.status_code == 202
    chat.locator(".agent").filter(has_text="your funds are safe").wait_for()
    wait_until(lambda: hub.api("GET", f"/api/v1/replies/{resp.get_json()['id']}").get_json()["state"] == "sent")
    assert chat.locator(".visitor").count() == 1 and chat.locator(".pending").count() == 0
    assert page.evaluate("document.querySelectorAll('b').length") == 0  # text stays text
    screenshot(page, artifacts_dir, "widget")
    assert_labelled(page, "omnihub-chat")

    # next page load: same visitor, same conversation, history shown, chat still open
    page.reload()
    chat.locator(".agent").filter(has_text="your funds are safe").wait_for()
    chat.get_by_label("Your message").fill("Thanks!")
    chat.get_by_label("Your message").press("Enter")
    wait_until(lambda: len(hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["messages"]) == 2, message="second message")
    assert len(conversations(hub)) == 1


def test_widget_endpoints_refuse_other_origins_and_plain_api_connectors(live, site):
    hub = live.hub
    visitor = "v" * 20
    body = {"visitor": visitor, "text": "hi"}
    url = f"{live.url}/widget/site/messages"
    assert httpx.post(url, json=body, headers={"Origin": "https://evil.example"}).status_code == 403
    assert httpx.post(url, json=body).status_code == 403  # no Origin: not a browser on an allowed site
    assert httpx.post(url, json={**body, "visitor": "short"}, headers={"Origin": site}).status_code == 400
    ok = httpx.post(url, json=body, headers={"Origin": site})
    assert ok.status_code == 202 and ok.headers["Access-Control-Allow-Origin"] == site
    pre = httpx.options(url, headers={"Origin": site, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and pre.headers["Access-Control-Allow-Origin"] == site
    hub.add_connector("plain", "api", secret="x")  # no widget option: no public endpoints
    assert httpx.post(f"{live.url}/widget/plain/messages", json=body, headers={"Origin": site}).status_code == 404
    # rate limit per visitor
    codes = [httpx.post(url, json={**body, "text": f"m{i}"}, headers={"Origin": site}).status_code for i in range(22)]
    assert 429 in codes and codes.index(429) >= 18
    # journaled exactly like a webhook: one inbound event per accepted message
    from hub.models import InboundEvent

    assert hub.count(InboundEvent) == 1 + codes.count(202)
