"""An agent in the inbox: live arrival, reply, delivery state, retry, inert HTML, roles, CSRF."""

from __future__ import annotations

import json
import re
from datetime import UTC

import httpx
import pytest
from werkzeug import Response

from hub import signing
from hub.errors import SignatureInvalid
from tests.support.hub import wait_until
from tests.web.conftest import ADMIN, AGENT, assert_labelled, login, screenshot, seed_conversation

SECRET = "inbox-test-secret"


def post_webhook(live, text, *, id, sender="carla", name="Carla Customer", connector="web"):
    """A signed api-channel webhook, over real HTTP, exactly as an integrating system sends it."""
    body = json.dumps({"id": id, "from": {"id": sender, "name": name, "email": f"{sender}@example.com"}, "text": text}).encode()
    headers = {"Content-Type": "application/json", **signing.sign(SECRET, body)}
    resp = httpx.post(f"{live.url}/webhooks/{connector}/messages", content=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


@pytest.fixture
def callback(httpserver):
    """The customer system's callback: checks the documented contract; refuses the first delivery."""
    calls = []

    def handler(request):
        try:
            signing.verify(SECRET, request.get_data(), request.headers)
        except SignatureInvalid as exc:
            return Response(json.dumps({"error": str(exc)}), status=401)
        body = json.loads(request.get_data())
        assert request.headers["Idempotency-Key"] == f"reply-{body['id']}"
        assert {"id", "conversation", "thread", "to", "text", "author", "sent_at"} <= set(body)
        calls.append(body)
        if len(calls) == 1:
            return Response(json.dumps({"error": "recipient session expired"}), status=422, content_type="application/json")
        return Response(json.dumps({"ok": True}), status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(handler)
    return calls


def test_agent_sees_message_arrive_live_replies_and_follows_delivery(live, context, callback, httpserver, artifacts_dir):
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    hub.start_worker()
    page = context.new_page()
    login(page, live, AGENT)
    assert page.locator(".convs li[data-id]").count() == 0

    # arrives through the channel webhook while the page is open: shown without a reload
    post_webhook(live, "My withdrawal of 0.5 BTC is stuck since yesterday", id="w-1")
    item = page.locator(".convs li[data-id]").filter(has_text="Carla Customer")
    item.wait_for()
    assert "stuck since yesterday" in item.inner_text()
    assert item.locator(".badge").inner_text() == "1"  # unread
    assert page.locator("#total-unread").inner_text() == "1"

    item.locator("a").click()
    page.wait_for_url(re.compile(r".*/inbox/c/\d+"))
    timeline = page.locator("#timeline")
    assert "My withdrawal of 0.5 BTC is stuck since yesterday" in timeline.inner_text()
    assert page.locator(".convs li.current .badge").count() == 0  # read now

    # a second message arrives while the conversation is open
    post_webhook(live, "Any news?", id="w-2")
    timeline.get_by_text("Any news?").wait_for()

    # internal note: stored, never sent
    page.keyboard.press("n")
    page.locator("#reply-text").fill("Checking the hot wallet queue")
    page.get_by_role("button", name="Add note").click()
    timeline.locator(".entry.note").get_by_text("Checking the hot wallet queue").wait_for()

    # reply: the first delivery is refused by the customer's system -> dead with the reason
    page.keyboard.press("r")
    page.get_by_label("Canned response").select_option(label="Greeting")
    assert page.locator("#reply-text").input_value().startswith("Hi Carla, thanks for reaching out.")
    assert page.locator("#counter").inner_text().endswith("/ 65536")
    page.locator("#attach").set_input_files([{"name": "receipt.txt", "mimeType": "text/plain", "buffer": b"tx 0xabc confirmed"}])
    page.locator("#attach-count", has_text="1 file").wait_for()
    page.locator("#reply-text").fill("Hi Carla, it has been released now.")
    page.locator("#reply-text").press("Control+Enter")
    reply = timeline.locator(".entry.reply:not(.note)").filter(has_text="it has been released now")
    reply.wait_for()
    reply.locator(".state-dead").wait_for()
    assert "recipient session expired" in reply.locator(".reason").inner_text()
    assert len(callback) == 1

    # retry really resends: the second delivery succeeds and the state changes live
    reply.get_by_role("button", name="Retry sending").click()
    reply.locator(".state-sent").wait_for()
    assert reply.locator(".reason").count() == 0
    wait_until(lambda: len(callback) == 2, message="second delivery")
    assert callback[1]["text"] == "Hi Carla, it has been released now." and callback[1]["author"] == "Alan Agent"
    assert [a["filename"] for a in callback[1]["attachments"]] == ["receipt.txt"] and callback[1]["attachments"][0]["size"] == 18
    assert reply.get_by_role("link", name="receipt.txt").count() == 1
    assert len(callback) == 2  # the note was never sent

    screenshot(page, artifacts_dir, "inbox")
    assert_labelled(page)

    # resolve with the keyboard
    page.locator("#timeline").click()
    page.keyboard.press("e")
    page.locator("#conv-status", has_text="resolved").wait_for()
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{page.url.rsplit('/', 1)[1]}").get_json()["status"] == "resolved")


def test_message_html_renders_inert(live, context):
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    hub.start_worker()
    payload = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"><b onmouseover="window.__xss=3">bold</b>'
    post_webhook(live, payload, id="xss-1", name='<img src=y onerror="window.__xss=4">')
    wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"], message="conversation")
    # an HTML body (as email brings): shown only in a sandboxed frame, scripts never run
    from datetime import datetime

    from hub.models import Message

    html = '<p>Hello <b>formatted</b></p><img src=x onerror="parent.__xss=5"><script>parent.__xss=6</script>'
    with hub.rt.db.session() as s:
        first = s.query(Message).filter_by(external_id="xss-1").one()
        s.add(Message(conversation_id=first.conversation_id, connector_id=first.connector_id, external_id="html-1",
                      sent_at=datetime.now(UTC), text="formatted", html=html))
    page = context.new_page()
    login(page, live, AGENT)
    page.locator(".convs li[data-id] a").first.click()
    page.locator("#timeline .entry.msg").first.wait_for()
    assert payload in page.locator("#timeline .entry.msg .text").first.inner_text()  # shown as text
    page.locator("#timeline .entry.msg .text").first.hover()
    page.get_by_text("Formatted version").click()
    frame = page.frame_locator("#timeline iframe")
    assert frame.locator("b").inner_text() == "formatted"
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#timeline img, #timeline script, .convs img, #timeline .text b").count() == 0


def test_agent_cannot_open_admin(live, context):
    page = context.new_page()
    login(page, live, AGENT)
    assert page.get_by_role("link", name="Admin").count() == 0
    resp = page.goto(live.url + "/admin/connectors")
    assert resp.status == 403
    assert "admin role" in page.content()
    resp = page.request.get(live.url + "/api/v1/connectors")
    assert resp.status == 403


def test_sms_segment_counter(live, context):
    """GSM-7: 160 septets in one SMS, 153 per part; extension characters count twice; else UCS-2 (70/67)."""
    page = context.new_page()
    login(page, live, AGENT)
    info = lambda text: page.evaluate("t => window.omnihubSmsInfo(t)", text)  # noqa: E731
    assert info("a" * 160) == {"enc": "GSM-7", "units": 160, "parts": 1}
    assert info("a" * 161) == {"enc": "GSM-7", "units": 161, "parts": 2}
    assert info("€" * 80) == {"enc": "GSM-7", "units": 160, "parts": 1}
    assert info("a" * 306)["parts"] == 2 and info("a" * 307)["parts"] == 3
    assert info("Привет" + "a" * 64) == {"enc": "UCS-2", "units": 70, "parts": 1}
    assert info("😀" * 36) == {"enc": "UCS-2", "units": 72, "parts": 2}


def test_posts_without_csrf_token_are_refused(live, context):
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    _, conv_id = seed_conversation(hub, "web", "web:carla", "Carla")
    conv = {"id": conv_id}
    page = context.new_page()
    login(page, live, ADMIN)
    url = f"{live.url}/api/v1/conversations/{conv['id']}/replies"
    # cookie-authenticated API call without the header: refused, nothing stored
    resp = page.request.post(url, data=json.dumps({"text": "forged", "internal": True}), headers={"Content-Type": "application/json"})
    assert resp.status == 403 and "CSRF" in resp.json()["error"]
    # a form post without the token (what a cross-site form would send): refused
    resp = page.request.post(live.url + "/admin/users", form={"action": "create", "email": "evil@example.com", "role": "admin", "password": "12345678910"})
    assert resp.status == 403
    resp = page.request.post(live.url + "/logout")
    assert resp.status == 403
    # with the page's token both work
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    resp = page.request.post(url, data=json.dumps({"text": "real note", "internal": True}), headers={"Content-Type": "application/json", "X-CSRF-Token": token})
    assert resp.status == 202
    texts = [r["text"] for r in hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["replies"]]
    assert texts == ["real note"]
    # bearer-token API calls need no CSRF token
    assert hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "via token", "internal": True}).status_code == 202


def test_agent_sets_the_conversation_language_and_the_csat_follows(live, context, httpserver):
    """Issue #16: the language select in the conversation view confirms a language (kept over
    detection) and the CSAT survey goes out in it."""
    from config import templates

    hub = live.hub
    received: list = []

    def handler(request):
        received.append(json.loads(request.get_data()))
        return Response(json.dumps({"ok": True}), status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(handler)
    hub.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    hub.start_worker()
    post_webhook(live, "Hola, mi saldo aparece duplicado en la aplicación", id="lang-1")
    page = context.new_page()
    login(page, live, AGENT)
    item = page.locator(".convs li[data-id]").filter(has_text="Carla Customer")
    item.wait_for()
    item.locator("a").click()
    page.wait_for_url(re.compile(r".*/inbox/c/\d+"))
    conv_id = int(re.search(r"/inbox/c/(\d+)", page.url).group(1))
    select = page.get_by_label("Conversation language")
    assert "es (detected)" in select.locator("option:checked").inner_text()
    select.select_option("pt")
    page.get_by_text("Language set to Português").wait_for()
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["language_confirmed"], message="confirmed")
    assert hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["language"] == "pt"
    page.reload()
    assert page.get_by_label("Conversation language").input_value() == "pt"
    # the agent corrects the triage from the header too
    category = page.get_by_label("Conversation category")
    assert category.input_value() == hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["category"]
    category.select_option("sync_problem")
    page.get_by_text("Category sync problem").wait_for()
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["category"] == "sync_problem", message="category")
    page.reload()
    assert page.get_by_label("Conversation category").input_value() == "sync_problem"
    # and confirms the contact's language in the sidebar: the conversation (not confirmed itself) follows
    page.get_by_label("Conversation language").select_option("")
    page.get_by_text("Language: detected").wait_for()
    page.get_by_label("Contact's language").select_option("ca")
    page.get_by_text("Contact's language set to Català").wait_for()
    contact_id = hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()["contact_id"]
    contact = hub.api("GET", f"/api/v1/contacts/{contact_id}").get_json()
    assert contact["language"] == "ca" and contact["language_confirmed"]
    wait_until(lambda: "ca (the contact's)" in page.get_by_label("Conversation language").locator("option").first.inner_text(), message="header follows")
    page.get_by_label("Conversation language").select_option("pt")
    page.get_by_text("Language set to Português").wait_for()
    wait_until(lambda: page.get_by_label("Conversation language").locator("option").first.inner_text() == "Use detection",
               message="the first option now goes back to detection")
    page.get_by_role("button", name="Resolve").click()
    wait_until(lambda: len(received) == 1, message="CSAT survey sent")
    assert received[0]["text"] == templates.render("csat_survey", "pt")


def test_long_names_and_unbroken_subjects_stay_on_the_page_and_esc_leaves_a_menu(live, context):
    """Found by a newcomer (2026-12-07): a long display name pushed the time out of the list row, an
    unbroken URL subject ran past the page at 1400 px and on a phone, and after `t` (team menu) Esc
    did not give the shortcuts back."""
    hub = live.hub
    hub.add_connector("web", "api", secret=SECRET)
    long_name = "Maximiliana Theodora Wilhelmina von Oberhausen-Schwarzenbergstein " * 2
    url = "https://example.com/" + "a" * 300
    _, conv_id = seed_conversation(hub, "web", "web:long", long_name.strip(), subject=url)
    page = context.new_page()
    login(page, live, AGENT)
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live.url}/inbox/c/{conv_id}")
        page.locator("#conv-title").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), width
        if width == 1400:
            row = page.locator(f'.convs li[data-id="{conv_id}"] time')
            box = row.bounding_box()
            assert box is not None and box["x"] + box["width"] <= page.locator(".convs").bounding_box()["x"] + page.locator(".convs").bounding_box()["width"] + 1
            page.locator("body").click(position={"x": 5, "y": 200})
            page.keyboard.press("t")
            assert page.evaluate("document.activeElement.id") == "team"
            page.keyboard.press("Escape")
            assert page.evaluate("document.activeElement.id") != "team"
            page.keyboard.press("Shift+?")
            page.locator("#help").wait_for(state="visible")
            page.keyboard.press("Escape")
