"""twilio end to end on a running hub (real Redis, real worker process): signed webhooks in,
conversations, agent replies out through the official twilio client to a local server that
checks the Messages API contract, status callbacks, opt-out, voicemail."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from channels.twilio import signature
from hub.models import InboundEvent, Message
from tests.support.hub import wait_until
from tests.support.twilio_api import TwilioApiServer
from tests.support.twilio_webhooks import call_params, inbound_sms

ACCOUNT_SID = "AC" + "fedcba9876543210" * 2
TOKEN = "5c1a0f0e2d3b4a59687766554433a2b1"
OUR = "+14155550100"
CUSTOMER = "+14155550123"
CALL = "CA" + "7" * 32


@pytest.fixture
def twilio_api(httpserver) -> TwilioApiServer:
    return TwilioApiServer(httpserver, ACCOUNT_SID, TOKEN).install()


@pytest.fixture
def phone_hub(make_hub, twilio_api):
    h = make_hub()
    h.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR,
                    api_base_url=twilio_api.base_url)
    h.start_worker()
    return h


def post_twilio(hub, hook: str, pairs, *, token: str = TOKEN, query: str = "", sign_url: str | None = None):
    """POST a form webhook to the hub signed like Twilio signs it (over OMNIHUB_PUBLIC_URL)."""
    path = f"/webhooks/phone/{hook}" + (f"?{query}" if query else "")
    url = hub.settings.effective_public_url + path
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature.sign(token, sign_url or url, pairs),
    }
    return hub.client.post(path, data=urlencode(pairs), headers=headers)


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def conversation(hub, conv_id):
    return hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()


def reply_state(hub, reply_id):
    return hub.api("GET", f"/api/v1/replies/{reply_id}").get_json()


def test_sms_round_trip_reply_delivered_mms_and_voicemail(phone_hub, twilio_api):
    hub = phone_hub
    sid = "SM" + "1" * 32
    resp = post_twilio(hub, "sms", inbound_sms(sid, CUSTOMER, OUR, "I sent 0.5 BTC and it is not showing", ACCOUNT_SID))
    assert resp.status_code == 200 and resp.content_type.startswith("text/xml")
    assert b"<Response" in resp.data
    conv = wait_until(lambda: conversations(hub), message="conversation")[0]
    assert conv["channel"] == "sms" and conv["customer"]["address"] == CUSTOMER
    assert conv["subject"] == "I sent 0.5 BTC and it is not showing"

    # the agent replies through the API -> Messages API request at the local server
    r = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Thanks, checking the transaction now."})
    assert r.status_code == 202
    rid = r.get_json()["id"]
    wait_until(lambda: reply_state(hub, rid)["state"] == "queued", message="reply queued at Twilio")
    assert twilio_api.violations == []
    (sent,) = twilio_api.sent
    assert sent.form["To"] == [CUSTOMER] and sent.form["From"] == [OUR]
    assert sent.form["Body"] == ["Thanks, checking the transaction now."]
    assert sent.form["StatusCallback"] == [f"{hub.settings.effective_public_url}/webhooks/phone/status"]
    assert reply_state(hub, rid)["external_id"] == sent.sid

    # Twilio's signed status callbacks: sent, then delivered
    for status in ("sent", "delivered"):
        pairs = [("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("From", OUR), ("MessageSid", sent.sid),
                 ("MessageStatus", status), ("SmsSid", sent.sid), ("SmsStatus", status), ("To", CUSTOMER)]
        assert post_twilio(hub, "status", pairs).status_code == 200
    done = wait_until(lambda: (x := reply_state(hub, rid))["state"] == "delivered" and x, message="delivered")
    assert [h["status"] for h in done["status_history"]] == ["sent", "delivered"]

    # MMS in the same conversation; the worker downloads the media from the local "Twilio"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 512
    mms = "MM" + "2" * 32
    media_url = twilio_api.add_media(f"2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{mms}/Media/ME{'3' * 32}", png, "image/png")
    pairs = inbound_sms(mms, CUSTOMER, OUR, "here is the screenshot", ACCOUNT_SID, NumMedia="1",
                        MediaContentType0="image/png", MediaUrl0=media_url)
    assert post_twilio(hub, "sms", pairs).status_code == 200

    # a voicemail from the same number lands in the same conversation, then its transcript
    assert b"<Record" in post_twilio(hub, "voice", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID)).data
    rec_url = twilio_api.add_media(f"2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'4' * 32}.mp3", b"ID3" + b"\x01" * 300, "audio/mpeg")
    rec = post_twilio(hub, "recording", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "in-progress",
                                                    RecordingUrl=rec_url, RecordingDuration="12", RecordingSid="RE" + "4" * 32))
    assert rec.status_code == 200 and b"<Hangup" in rec.data
    full = wait_until(lambda: (c := conversation(hub, conv["id"])) and len(c["messages"]) == 3 and c, message="mms + voicemail")
    post_twilio(hub, "transcription", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", TranscriptionSid="TR" + "5" * 32,
                                                  TranscriptionStatus="completed", TranscriptionText="Please call me back about my BTC."))
    post_twilio(hub, "status", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", CallDuration="30"))
    full = wait_until(lambda: (c := conversation(hub, conv["id"]))["messages"][-1]["text"] and c, message="transcript")
    by_kind = {m["kind"]: m for m in full["messages"]}
    assert set(by_kind) == {"message", "voicemail"} and len(full["messages"]) == 3
    image = full["messages"][1]["attachments"][0]
    assert image["stored"] and image["content_type"] == "image/png" and image["size"] == len(png)
    assert hub.api("GET", image["url"]).data == png
    vm = by_kind["voicemail"]
    assert vm["text"] == "Please call me back about my BTC." and vm["edited"]
    assert vm["attachments"][0]["content_type"] == "audio/mpeg" and vm["attachments"][0]["stored"]
    assert not any(m["kind"] == "missed_call" for m in full["messages"])  # the call was recorded
    assert twilio_api.media_requests and all(x["authorized"] for x in twilio_api.media_requests)


def test_opt_out_then_reply_fails_with_reason_and_nothing_is_sent(phone_hub, twilio_api):
    hub = phone_hub
    post_twilio(hub, "sms", inbound_sms("SM" + "a" * 32, CUSTOMER, OUR, "Where is my refund?", ACCOUNT_SID))
    conv = wait_until(lambda: conversations(hub))[0]
    post_twilio(hub, "sms", inbound_sms("SM" + "b" * 32, CUSTOMER, OUR, "STOP", ACCOUNT_SID))
    customer = wait_until(lambda: (c := conversation(hub, conv["id"])["customer"])["opted_out"] and c, message="opted out")
    assert "STOP" in customer["opt_out_reason"]
    # the API refuses a reply to an opted-out customer, saying why and what to do
    refused = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Your refund is on its way"})
    assert refused.status_code == 409 and "opted out" in refused.get_json()["error"] and "START" in refused.get_json()["error"]
    assert twilio_api.sent == []
    # START opts back in; the next reply goes out
    post_twilio(hub, "sms", inbound_sms("SM" + "c" * 32, CUSTOMER, OUR, "START", ACCOUNT_SID))
    wait_until(lambda: not conversation(hub, conv["id"])["customer"]["opted_out"], message="opted in")
    # the agent sees both in the conversation's timeline (it was not reopened for them)
    events = conversation(hub, conv["id"])["events"]
    assert [(e["kind"], e["details"]["word"]) for e in events] == [("command_stop", "STOP"), ("command_start", "START")]
    assert not any(m["text"] in ("STOP", "START") for m in conversation(hub, conv["id"])["messages"])
    rid2 = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Welcome back"}).get_json()["id"]
    wait_until(lambda: reply_state(hub, rid2)["state"] == "queued")
    assert [m.one("Body") for m in twilio_api.sent] == ["Welcome back"] and twilio_api.violations == []
    # the customer calls and hangs up during the greeting: a missed call in the same conversation
    assert post_twilio(hub, "voice", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID)).status_code == 200
    assert post_twilio(hub, "status", call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", CallDuration="4")).status_code == 200
    msgs = wait_until(lambda: [m for m in conversation(hub, conv["id"])["messages"] if m["kind"] == "missed_call"], message="missed call")
    assert msgs[0]["subject"] == "Missed call" and "hung up" in msgs[0]["text"]


def test_forged_replayed_and_wrong_url_signatures_get_403_and_store_nothing(make_hub, twilio_api):
    hub = make_hub()
    hub.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR,
                      api_base_url=twilio_api.base_url)
    pairs = inbound_sms("SM" + "d" * 32, CUSTOMER, OUR, "hi", ACCOUNT_SID)
    public = hub.settings.effective_public_url
    cases = [
        post_twilio(hub, "sms", pairs, token="0" * 32),  # forged with another token
        post_twilio(hub, "sms", pairs, sign_url=f"{public}/webhooks/other/sms"),  # replayed from another connector
        post_twilio(hub, "sms", pairs, sign_url=f"{public.replace('http://', 'https://')}/webhooks/phone/sms"),
        post_twilio(hub, "sms", pairs, sign_url="http://127.0.0.1:8000/webhooks/phone/sms"),  # not the public URL
        post_twilio(hub, "status", pairs, sign_url=f"{public}/webhooks/phone/sms"),  # hook swapped
        hub.client.post("/webhooks/phone/sms", data=urlencode(pairs), headers={"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    tampered = list(pairs)
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": signature.sign(TOKEN, f"{public}/webhooks/phone/sms", pairs)}
    tampered[10] = ("Body", "send my funds to bc1qattacker")
    cases.append(hub.client.post("/webhooks/phone/sms", data=urlencode(tampered), headers=headers))
    assert [r.status_code for r in cases] == [403] * len(cases)
    assert hub.count(InboundEvent) == 0 and hub.count(Message) == 0
    # the genuine request still works
    assert post_twilio(hub, "sms", pairs).status_code == 200
    assert hub.count(InboundEvent) == 1


def test_check_through_the_api_reports_account_and_webhook_urls(make_hub, twilio_api):
    hub = make_hub()
    hub.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR,
                      api_base_url=twilio_api.base_url)
    public = hub.settings.effective_public_url
    twilio_api.numbers[OUR] = {"sms_url": f"{public}/webhooks/phone/sms", "voice_url": f"{public}/webhooks/phone/voice",
                               "status_callback": f"{public}/webhooks/phone/status"}
    res = hub.api("POST", "/api/v1/connectors/phone/check").get_json()
    assert res["ok"] is True, res
    assert f"{public}/webhooks/phone/voice" in res["summary"] and res["details"]["numbers"][OUR]["ok"] is True
    shown = hub.api("GET", "/api/v1/connectors/phone").get_json()
    assert TOKEN not in str(shown)  # the auth token is never shown


def test_reply_attachments_go_out_as_signed_public_media_urls(phone_hub, twilio_api):
    """Twilio fetches MMS media from URLs: the hub publishes reply attachments at signed,
    expiring /media/<token> URLs that serve exactly those bytes and nothing else."""
    import base64

    hub = phone_hub
    post_twilio(hub, "sms", inbound_sms("SM" + "6" * 32, CUSTOMER, OUR, "what does the QR look like?", ACCOUNT_SID))
    conv = wait_until(lambda: conversations(hub), message="conversation")[0]
    png = b"\x89PNG\r\n\x1a\n" + b"\x07" * 256
    r = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={
        "text": "Like this:", "attachments": [{"filename": "qr.png", "content_type": "image/png",
                                                "data_base64": base64.b64encode(png).decode()}]})
    rid = r.get_json()["id"]
    wait_until(lambda: reply_state(hub, rid)["state"] == "queued", message="reply queued at Twilio")
    assert twilio_api.violations == []
    (sent,) = twilio_api.sent
    (url,) = sent.form["MediaUrl"]
    prefix = f"{hub.settings.effective_public_url}/media/"
    assert url.startswith(prefix)
    got = hub.client.get(url.removeprefix(hub.settings.effective_public_url))
    assert got.status_code == 200 and got.data == png and got.mimetype == "image/png"
    assert "attachments_not_sent" not in str(reply_state(hub, rid))
    # a tampered or foreign token serves nothing
    token = url.removeprefix(prefix)
    assert hub.client.get(f"/media/{token[:-2]}xx").status_code == 404
    from hub.media import media_url

    other = media_url("http://x", "another-secret-key", 1).rsplit("/", 1)[1]
    assert hub.client.get(f"/media/{other}").status_code == 404
    # only reply attachments are published: any other stored file is refused
    from hub.models import AttachmentRow

    key, digest = hub.rt.blobs.put(b"customer's private document")
    with hub.rt.db.session() as s:
        row = AttachmentRow(filename="id-card.jpg", content_type="image/jpeg", size=27, sha256=digest, storage_key=key)
        s.add(row)
        s.flush()
        private_id = row.id
    leaked = media_url(hub.settings.effective_public_url, hub.settings.secret_key, private_id).rsplit("/", 1)[1]
    assert hub.client.get(f"/media/{leaked}").status_code == 404


def test_a_reply_queued_before_the_opt_out_fails_for_good_and_is_not_replayed(phone_hub, twilio_api):
    """The send stage checks the opt-out again at the last moment: a reply queued before the
    STOP was processed fails with the reason, is marked permanent (no Retry), and replay
    leaves it out unless asked."""
    from hub import replay
    from hub.models import Conversation, Identity

    hub = phone_hub
    post_twilio(hub, "sms", inbound_sms("SM" + "d" * 32, CUSTOMER, OUR, "Where is my refund?", ACCOUNT_SID))
    conv = wait_until(lambda: conversations(hub))[0]
    hub.wait_idle()
    hub.kill("worker")
    rid = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Your refund is on its way"}).get_json()["id"]
    with hub.rt.db.session() as s:  # the STOP lands while the reply waits
        ident = s.get(Identity, s.get(Conversation, conv["id"]).identity_id)
        ident.opted_out, ident.opt_out_reason = True, "The customer replied 'STOP'"
    hub.start_worker("worker2")
    failed = wait_until(lambda: (x := reply_state(hub, rid))["state"] == "failed" and x, message="reply failed")
    assert "opted out" in failed["last_error"] and failed["permanent"] == "opted out"
    assert twilio_api.sent == []
    assert hub.api("POST", f"/api/v1/replies/{rid}/retry").status_code == 409
    counts = replay.replay(hub.rt, what="replies")
    assert counts == {"replies_left_out": 1, "replies": 0} and reply_state(hub, rid)["state"] == "failed"

