"""Channel rules in the browser (Chromium): an SMS customer who texted STOP (through the real,
signed Twilio webhook) cannot be written to — the composer says why and the way out; a reply
that failed for good offers no Retry; "Replay everything" shows what it will re-send and
asks first, leaving permanent failures out."""

from __future__ import annotations

from channels.twilio import signature
from hub.models import Conversation, Identity, Reply
from tests.channels.test_twilio_flow import ACCOUNT_SID, CUSTOMER, OUR, TOKEN
from tests.support.hub import wait_until
from tests.support.twilio_webhooks import inbound_sms
from tests.web.conftest import ADMIN, AGENT, login


def _sms(live, sid: str, body: str) -> None:
    from urllib.parse import urlencode

    import httpx

    pairs = inbound_sms(sid, CUSTOMER, OUR, body, ACCOUNT_SID)
    url = f"{live.url}/webhooks/phone/sms"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature.sign(TOKEN, url, pairs)}
    assert httpx.post(url, content=urlencode(pairs), headers=headers).status_code == 200


def test_opted_out_sms_customer_disables_the_composer_and_retry(live, context):
    hub = live.hub
    hub.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR,
                      api_base_url="http://127.0.0.1:9")  # nothing may be sent: an unreachable API proves it
    hub.start_worker()
    _sms(live, "SM" + "1" * 32, "Where is my refund?")
    conv = wait_until(lambda: hub.api("GET", "/api/v1/conversations").get_json()["items"], message="conversation")[0]
    _sms(live, "SM" + "2" * 32, "STOP")
    wait_until(lambda: hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["customer"]["opted_out"], message="opted out")
    with hub.rt.db.session() as s:  # an earlier reply that failed for good
        s.add(Reply(conversation_id=conv["id"], connector_id=s.get(Conversation, conv["id"]).connector_id, author_name="Alan",
                    text="Your refund is on its way", state="failed", last_error="not sent: the customer opted out (STOP)",
                    status_detail={"permanent": "opted out"}))
    page = context.new_page()
    login(page, live, AGENT)
    page.goto(f"{live.url}/inbox/c/{conv['id']}")
    note = page.locator("#optout-note")
    assert "opted out" in note.inner_text() and "START" in note.inner_text() and "internal note" in note.inner_text()
    assert note.inner_text().count("START") == 1  # the channel's reason says it already: not twice
    assert "opted out" in page.locator(f'.convs li[data-id="{conv["id"]}"]').inner_text()  # the list says so too
    assert page.get_by_label(f"Reply on {conv['channel']}").is_disabled()
    assert page.get_by_label("Internal note").is_checked()
    assert page.locator("#send-btn").inner_text() == "Add note"
    assert page.locator("button.retry").count() == 0
    assert "Not retried: opted out" in page.locator("#timeline").inner_text()
    # the note still works; the API refuses a reply with the reason
    page.locator("#reply-text").fill("Customer opted out by SMS; try email")
    page.locator("#send-btn").click()
    wait_until(lambda: any(r["kind"] == "note" for r in hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["replies"]),
               message="note stored")
    refused = page.request.post(f"{live.url}/api/v1/conversations/{conv['id']}/replies", data={"text": "hi"},
                                headers={"X-CSRF-Token": page.locator('meta[name="csrf-token"]').get_attribute("content")})
    assert refused.status == 409 and "opted out" in refused.json()["error"]


def test_replay_everything_shows_what_it_will_resend_and_asks_first(live, context):
    hub = live.hub
    hub.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR, api_base_url="http://127.0.0.1:9")
    from tests.web.conftest import seed_conversation

    _, conv_ok = seed_conversation(hub, "phone", "+14155550181", "Ann")
    _, conv_stop = seed_conversation(hub, "phone", "+14155550182", "Bob")
    with hub.rt.db.session() as s:
        s.get(Identity, s.get(Conversation, conv_stop).identity_id).opted_out = True
        for conv_id, detail in ((conv_ok, {}), (conv_stop, {"permanent": "opted out"})):
            s.add(Reply(conversation_id=conv_id, connector_id=s.get(Conversation, conv_id).connector_id, text="x",
                        state="dead", last_error="HTTP 500", status_detail=detail))
    page = context.new_page()
    login(page, live, ADMIN)
    page.goto(f"{live.url}/admin/dead-letters")
    assert page.locator("#replay-replies").inner_text() == "1"
    assert "1 replies that failed for good" in page.locator("#replay-left-out").inner_text()
    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Replay everything…").click()
    assert dialogs and "1 replies to customers" in dialogs[0]
    assert hub.count(Reply, Reply.state == "dead") == 2  # dismissed: nothing happened
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Replay everything…").click()
    page.get_by_text("left out 1 replies that failed for good").wait_for()
    with hub.rt.db.read() as s:
        states = {r.conversation_id: r.state for r in s.query(Reply)}
    assert states[conv_stop] == "dead" and states[conv_ok] != "dead"
