"""whatsapp channel: the adapter against a local Graph API (tests/support/graph_api.py) that
checks every request against Meta's documented contract and answers with recorded samples
(tests/support/meta_samples.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from channels.meta import graph
from channels.whatsapp import WhatsAppChannel, WhatsAppConfig
from hub.errors import AuthError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, SignatureInvalid
from hub.net import TooLarge
from hub.types import BlobRef, CaseInsensitiveDict, ConnectorContext, OutboundReply, RawEvent, WebhookRequest
from normalizers import twilio as tw
from normalizers.model import Attachment, Participant
from tests.support import meta_samples as ms
from tests.support.graph_api import GraphApi

APP_SECRET = "wa-app-secret"
VERIFY = "wa-verify-token"


@pytest.fixture
def api(httpserver):
    api = GraphApi(httpserver)
    yield api
    assert api.violations == []


def make(api: GraphApi | None = None, **overrides) -> WhatsAppChannel:
    cfg = dict(access_token=api.token if api else "EAAG-test-token", app_secret=APP_SECRET, verify_token=VERIFY,
               phone_number_id=ms.PHONE_NUMBER_ID, waba_id=ms.WABA_ID,
               api_base_url=api.base_url if api else "http://127.0.0.1:9")
    cfg.update(overrides)
    return WhatsAppChannel(ConnectorContext(name="acme-wa", kind="whatsapp", config=WhatsAppConfig(**cfg), public_url="https://hub.example.com"))


def post(adapter, body: bytes, headers: dict | None = None) -> WebhookRequest:
    if headers is None:
        headers = {"Content-Type": "application/json", graph.SIGNATURE_HEADER: graph.sign(APP_SECRET, body)}
    return WebhookRequest(method="POST", url=adapter.ctx.webhook_url("events"), path="/webhooks/acme-wa/events",
                          headers=CaseInsensitiveDict(headers), body=body)


def get(adapter, **args) -> WebhookRequest:
    return WebhookRequest(method="GET", url=adapter.ctx.webhook_url("events"), path="/webhooks/acme-wa/events",
                          headers=CaseInsensitiveDict({}), body=b"", args=tuple(args.items()))


def messages(adapter, sample) -> list:
    body = json.dumps(sample).encode()
    req = post(adapter, body)
    adapter.verify("events", req)
    return [m for ev in adapter.parse("events", req) for m in adapter.normalize(ev)]


# --- webhook security -------------------------------------------------------------------------
def test_subscription_handshake_echoes_the_challenge_only_for_our_verify_token():
    adapter = make()
    good = get(adapter, **{"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    adapter.verify("events", good)
    resp = adapter.ack("events", good, [])
    assert (resp.status, resp.body, resp.content_type) == (200, b"1158201444", "text/plain")
    for args in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                 {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
                 {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "<script>"},
                 {"hub.challenge": "1"}):
        with pytest.raises(SignatureInvalid):
            adapter.verify("events", get(adapter, **args))
        assert adapter.ack("events", get(adapter, **args), []).status == 403


def test_forged_unsigned_and_wrong_secret_deliveries_are_refused():
    adapter = make()
    body = json.dumps(ms.TEXT).encode()
    adapter.verify("events", post(adapter, body))
    for headers in ({"Content-Type": "application/json"},
                    {graph.SIGNATURE_HEADER: graph.sign("another-app", body)},
                    {graph.SIGNATURE_HEADER: graph.sign(APP_SECRET, body + b" ")},
                    {graph.SIGNATURE_HEADER: "sha256=" + "0" * 64}):
        with pytest.raises(SignatureInvalid):
            adapter.verify("events", post(adapter, body, headers))
    with pytest.raises(SignatureInvalid):  # the signature of another body
        adapter.verify("events", post(adapter, body.replace(b"color", b"colour"), {graph.SIGNATURE_HEADER: graph.sign(APP_SECRET, body)}))


def test_a_multi_entry_delivery_is_one_event_per_message_and_status():
    adapter = make()
    batch = ms.multi(ms.TEXT, ms.IMAGE, ms.status("wamid.OURS1", "delivered"), ms.status("wamid.OURS1", "read"))
    other = ms.inbound(ms.TEXT, wamid="wamid.OTHERNUMBER")
    other["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999"  # another number of the app
    batch["entry"].extend(other["entry"])
    batch["entry"][0]["changes"].append({"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    events = adapter.parse("events", post(adapter, json.dumps(batch).encode()))
    assert [e.external_id for e in events] == [ms.WAMID, ms.IMAGE["entry"][0]["changes"][0]["value"]["messages"][0]["id"],
                                               "wamid.OURS1:delivered", "wamid.OURS1:read"]
    # each event holds exactly its own item, with the contact that sent it
    value = json.loads(events[0].payload)["entry"][0]["changes"][0]["value"]
    assert len(value["messages"]) == 1 and value["contacts"][0]["wa_id"] == ms.WA_ID


# --- inbound types --------------------------------------------------------------------------
@pytest.mark.parametrize("sample, text, in_reply_to", [
    (ms.TEXT, "Does it come in another color?", None),
    (ms.LOCATION, "[Location: 37.483307,-122.148981 (Philz Coffee, 1 Hacker Way, Menlo Park, CA 94025) https://www.philzcoffee.com/]", None),
    (ms.CONTACTS, "Shared contact: Barbara J. Johnson, +1 (415) 555-0123, bjohnson@example.com", None),
    (ms.BUTTON_REPLY, "Cancel order", "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUMA"),
    (ms.LIST_REPLY, "Priority Mail Express — Next Day to 2 Days", "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUQA"),
    (ms.TEMPLATE_BUTTON, "Unsubscribe from Promos", "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBRkJDRkU2NzRBMDUzNUI4MUUA"),
    (ms.REACTION, "[Reacted \U0001f44d to a message]", ms.WAMID),
    (ms.UNSUPPORTED, "[Unsupported WhatsApp message type: unsupported (Message type unknown)]", None),
], ids=["text", "location", "contacts", "button_reply", "list_reply", "template_button", "reaction", "unsupported"])
def test_each_inbound_type_becomes_visible_text(sample, text, in_reply_to):
    (msg,) = messages(make(), sample)
    assert msg.text == text and msg.in_reply_to == in_reply_to
    assert msg.medium == "whatsapp" and msg.direction == "inbound" and msg.kind == "message"
    assert msg.sender.name == "Sheena Nelson"
    assert msg.thread_key == f"acme-wa:whatsapp:+16505551234>{ms.PHONE_NUMBER_ID}"
    assert msg.sent_at.tzinfo is not None


@pytest.mark.parametrize("sample, filename, ctype, caption", [
    (ms.IMAGE, "image-2754859441498128.jpg", "image/jpeg", "Black jacket"),
    (ms.AUDIO, "voice-note-1003383421387256.ogg", "audio/ogg; codecs=opus", ""),
    (ms.VIDEO, "video-1684617525422565.mp4", "video/mp4", ""),
    (ms.DOCUMENT, "receipt.pdf", "application/pdf", "Receipt"),
    (ms.STICKER, "sticker-1228181695218427.webp", "image/webp", ""),
], ids=["image", "voice-note", "video", "document", "sticker"])
def test_media_messages_carry_their_media_id(sample, filename, ctype, caption):
    (msg,) = messages(make(), sample)
    (att,) = msg.attachments
    assert (att.filename, att.content_type, msg.text) == (filename, ctype, caption)
    assert att.url and att.url.startswith("whatsapp-media:")


def test_the_customer_is_the_same_identity_as_the_number_on_twilio_whatsapp():
    (msg,) = messages(make(), ms.TEXT)
    assert msg.sender.address == "whatsapp:+16505551234" and msg.sender.phone == "+16505551234"
    twilio = tw._participant("whatsapp:+16505551234")
    assert (msg.sender.medium, msg.sender.address, msg.sender.phone) == (twilio.medium, twilio.address, twilio.phone)


def test_statuses_name_the_reply_with_meta_code_and_a_human_explanation():
    adapter = make()
    (read,) = messages(adapter, ms.status("wamid.OURS1", "read"))
    assert (read.kind, read.in_reply_to, read.status.status, read.direction) == ("status", "wamid.OURS1", "read", "outbound")
    (failed,) = messages(adapter, ms.status("wamid.OURS2", "failed", errors=ms.RE_ENGAGEMENT))
    assert failed.status.status == "failed" and failed.status.error_code == 131047
    assert "24 hours" in failed.status.error_message and "template" in failed.status.error_message
    assert messages(adapter, ms.status("wamid.OURS3", "deleted")) == []


# --- media download ------------------------------------------------------------------------
def test_media_is_downloaded_through_the_graph_media_endpoint_with_the_token(api):
    adapter = make(api)
    api.media["2754859441498128"] = (b"\xff\xd8jpeg bytes", "image/jpeg")
    (msg,) = messages(adapter, ms.IMAGE)
    assert adapter.fetch_attachment(msg.attachments[0], 1024) == b"\xff\xd8jpeg bytes"
    assert [p for m, p, _ in api.calls] == ["/v24.0/2754859441498128", "/media-download/2754859441498128"]
    with pytest.raises(TooLarge):  # the Graph answer's file_size is over the limit: not downloaded
        adapter.fetch_attachment(msg.attachments[0], 4)
    with pytest.raises(PayloadInvalid):
        adapter.fetch_attachment(Attachment(filename="x", url="https://evil.example/x"), 1024)


def test_a_media_url_off_meta_hosts_is_refused(api):
    adapter = make(api)
    api.fail_next("/v24.0/2754859441498128", 200, {**ms.MEDIA_URL, "url": "http://169.254.169.254/latest/meta-data/", "file_size": "10"})
    with pytest.raises(PayloadInvalid, match="not a provider media host"):
        adapter.fetch_attachment(Attachment(filename="x", url="whatsapp-media:2754859441498128"), 1024)


# --- outbound --------------------------------------------------------------------------------
def reply(text: str = "Hi Sheena, it comes in black and navy.", **kw) -> OutboundReply:
    base = dict(id=7, conversation_id=1, connector="acme-wa",
                to=Participant(medium="whatsapp", address="whatsapp:+16505551234", phone="+16505551234"),
                thread_key=f"acme-wa:whatsapp:+16505551234>{ms.PHONE_NUMBER_ID}", text=text, in_reply_to=ms.WAMID,
                last_inbound_at=datetime.now(UTC) - timedelta(minutes=5))
    base.update(kw)
    return OutboundReply(**base)


def test_long_text_is_split_at_4096_and_the_first_part_quotes_the_customer(api):
    adapter = make(api)
    result = adapter.send(reply("word " * 1000 + "x" * 10))  # 5,010 characters
    calls = api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")
    assert len(calls) == 2 and all(len(c["text"]["body"]) <= 4096 for c in calls)
    assert calls[0]["context"] == {"message_id": ms.WAMID} and "context" not in calls[1]
    assert calls[0]["to"] == "16505551234" and calls[0]["type"] == "text"
    assert result.external_id == "wamid.SENT0001" and result.parts == ("wamid.SENT0002",)


def test_files_are_uploaded_then_sent_by_media_id(api):
    adapter = make(api)
    pdf = BlobRef("statement.pdf", "application/pdf", 9, "0" * 64, loader=lambda: b"%PDF-1.4 ")
    png = BlobRef("screen.png", "image/png", 4, "0" * 64, loader=lambda: b"\x89PNG")
    adapter.send(reply("Here you go", attachments=(pdf, png)))
    calls = api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")
    assert [c["type"] for c in calls] == ["text", "document", "image"]
    assert calls[1]["document"]["filename"] == "statement.pdf"
    assert api.uploads[calls[1]["document"]["id"]] == ("statement.pdf", b"%PDF-1.4 ", "application/pdf")


def test_errors_map_to_retriable_permanent_and_auth(api):
    adapter = make(api)
    api.fail_next("/messages", 429, ms.RATE_LIMITED, {"Retry-After": "7"})
    with pytest.raises(RetriableDeliveryError) as exc:
        adapter.send(reply())
    assert exc.value.retry_after == 7.0
    api.fail_next("/messages", 503, {"error": {"message": "Service temporarily unavailable", "code": 133004, "type": "OAuthException"}})
    with pytest.raises(RetriableDeliveryError):
        adapter.send(reply())
    api.fail_next("/messages", 401, ms.TOKEN_EXPIRED)
    with pytest.raises(AuthError, match="expired or was revoked"):
        adapter.send(reply())
    with pytest.raises(PermanentDeliveryError, match="24 hours"):  # outside the window: never sent
        adapter.send(reply(last_inbound_at=datetime.now(UTC) - timedelta(hours=25)))
    assert len(api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")) == 3


def test_composer_shows_the_24_hour_window():
    assert make().composer_limits("whatsapp", "k") == {"max_length": 4096, "splits": True, "window": timedelta(hours=24)}


def test_check_reports_the_number_and_an_expired_token(api):
    adapter = make(api)
    ok = adapter.check()
    assert ok.ok and ok.summary == "connected to Jasper's Market (+1 555-078-3881), quality GREEN; the token does not expire; 2 approved message templates"
    assert ok.details["token"]["type"] == "SYSTEM_USER"
    api.fail_next(f"/v24.0/{ms.PHONE_NUMBER_ID}", 400, ms.TOKEN_EXPIRED)
    bad = adapter.check()
    assert not bad.ok and "190" in bad.summary and api.token not in bad.summary


def test_config_keys_and_validation():
    assert set(WhatsAppConfig.model_fields) >= {"access_token", "app_secret", "verify_token", "phone_number_id", "waba_id", "api_base_url", "api_version"}
    assert WhatsAppConfig.secret_fields() >= {"access_token", "app_secret", "verify_token"}
    cfg = WhatsAppConfig(access_token="t", app_secret="s", verify_token="v", phone_number_id="1")
    assert (cfg.api_base_url, cfg.api_version) == ("https://graph.facebook.com", "v24.0")
    with pytest.raises(ValueError):
        WhatsAppConfig(access_token="t", app_secret="s", verify_token="v", phone_number_id="+1 555")
    with pytest.raises(ValueError):
        WhatsAppConfig(access_token="t", app_secret="s", verify_token="v", phone_number_id="1", api_version="24")


def test_a_malformed_event_is_invalid_not_a_crash():
    adapter = make()
    bad = RawEvent(external_id="x", hook="events", payload=b'{"entry":[{"changes":[{"value":{"contacts":[{"profile":"x"}],"messages":[{"id":"x","from":"1","type":"text"}]}}]}]}')
    with pytest.raises(PayloadInvalid):
        adapter.normalize(bad)


def test_templates_are_synced_and_sent_outside_the_window(api):
    adapter = make(api)
    names = [(t["name"], t["status"], t["parameters"]) for t in adapter.templates()]
    assert names == [("hello_world", "APPROVED", 0), ("order_update", "APPROVED", 2), ("spring_sale", "REJECTED", 1)]
    adapter.templates()  # cached in the connector state: not fetched again
    assert len(api.called("GET", f"/v24.0/{ms.WABA_ID}/message_templates")) == 1
    late = datetime.now(UTC) - timedelta(days=3)
    tpl = {"template": {"name": "order_update", "language": "en_US", "parameters": ["Sheena", "#1234"]}}
    result = adapter.send(reply("Hi Sheena, your order #1234 has shipped.", last_inbound_at=late, options=tpl))
    (call,) = api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")
    assert call["type"] == "template" and "context" not in call
    assert call["template"] == {"name": "order_update", "language": {"code": "en_US"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Sheena"}, {"type": "text", "text": "#1234"}]}]}
    assert result.detail["template"] == "order_update"
    with pytest.raises(PermanentDeliveryError, match="132001"):  # not approved: Meta refuses, the reason is kept
        adapter.send(reply("x", options={"template": {"name": "spring_sale", "language": "en_US", "parameters": ["May 1"]}}))
    adapter.validate_reply("ok", tpl)
    for bad in ({"template": "hello"}, {"template": {"name": "Hello World", "language": "en_US"}},
                {"template": {"name": "hello_world", "language": "english"}}, {"template": {"name": "hello_world", "language": "en_US", "parameters": [{}]}}):
        with pytest.raises(PayloadInvalid):
            adapter.validate_reply("x", bad)
    assert "2 approved message templates" in adapter.check().summary
