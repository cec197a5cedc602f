"""twilio channel: signatures (Twilio's published vectors), inbound webhooks for every hook,
and outbound through the official twilio client against a local server checking the
Messages API contract."""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from channels import REGISTRY
from channels.twilio import TwilioChannel, TwilioConfig, signature
from channels.twilio.api import BaseUrlHttpClient
from hub.errors import (
    AuthError,
    ConfigError,
    PayloadInvalid,
    PermanentDeliveryError,
    RecipientRefused,
    RetriableDeliveryError,
    SignatureInvalid,
)
from hub.net import TooLarge
from hub.types import BlobRef, CaseInsensitiveDict, ConnectorContext, MemoryState, OutboundReply, WebhookRequest
from normalizers.model import Participant
from tests.support.corpus import CORPUS
from tests.support.twilio_api import TwilioApiServer
from tests.support.twilio_webhooks import call_params, inbound_sms, signed_request

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TOKEN = "9f3c1e2d4b5a69788796a5b4c3d2e1f0"
OUR = "+14155550100"
CUSTOMER = "+14155550123"
WA_FROM = "whatsapp:+14155238886"
PUBLIC = "https://hub.example.com:8443"
CALL = "CA" + "1" * 32


def make_adapter(api_base_url: str | None = None, state: MemoryState | None = None, **overrides) -> TwilioChannel:
    cfg = {
        "account_sid": ACCOUNT_SID,
        "auth_token": TOKEN,
        "phone_numbers": OUR,
        "whatsapp_from": "+14155238886",
        "api_base_url": api_base_url,
        **overrides,
    }
    config = TwilioConfig(**cfg)
    return TwilioChannel(ConnectorContext(name="tw", kind="twilio", config=config, public_url=PUBLIC, state=state or MemoryState()))


@pytest.fixture
def twilio_api(httpserver) -> TwilioApiServer:
    return TwilioApiServer(httpserver, ACCOUNT_SID, TOKEN).install()


@pytest.fixture
def adapter(twilio_api) -> TwilioChannel:
    return make_adapter(twilio_api.base_url)


def reply(text: str, to: str = CUSTOMER, medium: str = "sms", rid: int = 1, **kw) -> OutboundReply:
    ours = WA_FROM if medium == "whatsapp" else OUR
    return OutboundReply(
        id=rid,
        conversation_id=10,
        connector="tw",
        to=Participant(medium=medium, address=to),
        thread_key=f"tw:{to}>{ours}",
        text=text,
        **kw,
    )


# --- registry and config ------------------------------------------------------------------


def test_registered_with_capabilities():
    assert REGISTRY["twilio"] is TwilioChannel
    assert TwilioChannel.hooks == ("sms", "status", "voice", "recording", "transcription")
    assert TwilioChannel.reopen_resolved is False and TwilioChannel.supports_attachments is True
    assert TwilioConfig.secret_fields() == {"auth_token"}


def test_config_validates_and_normalizes():
    cfg = TwilioConfig(account_sid=ACCOUNT_SID, auth_token="x", phone_numbers="+1 415 555 0100, +442071838750", whatsapp_from="+14155238886")
    assert cfg.numbers == ["+14155550100", "+442071838750"]
    assert cfg.whatsapp_from == WA_FROM
    assert "x" not in repr(cfg)
    for bad in ({"account_sid": "AC123"}, {"phone_numbers": "0415 555"}, {"voicemail": "maybe"}, {"nope": 1}, {"api_base_url": "ftp://x"}):
        with pytest.raises(ValidationError):
            TwilioConfig(**{"account_sid": ACCOUNT_SID, **bad})


# --- signatures: Twilio's published vectors ------------------------------------------------

VECTORS = json.loads((CORPUS / "twilio" / "twilio_request_validator_examples.json").read_text())


def _vector_request(case: dict) -> WebhookRequest:
    if "raw_body" in case:
        body, ctype, form = case["raw_body"].encode(), "application/json", ()
    else:
        pairs = [tuple(p) for p in case.get("params_multi") or case["params"].items()]
        body, ctype, form = urlencode(pairs).encode(), "application/x-www-form-urlencoded", tuple(pairs)
    return WebhookRequest(
        method="POST",
        url=case["url"],
        path="/myapp.php",
        headers=CaseInsensitiveDict({"Content-Type": ctype, "X-Twilio-Signature": case["expected_signature"]}),
        body=body,
        form=form,
    )


def _vector_adapter() -> TwilioChannel:
    return make_adapter(auth_token=VECTORS["auth_token"])


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_published_signature_vectors_verify(case):
    _vector_adapter().verify("sms", _vector_request(case))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_published_vectors_fail_with_another_token(case):
    with pytest.raises(SignatureInvalid):
        make_adapter(auth_token="54321").verify("sms", _vector_request(case))


def test_unverified_doc_example_does_not_verify():
    note = VECTORS["_unverified_doc_example"]["note"]
    sig = re.search(r"X-Twilio-Signature (\S+?=)", note).group(1)
    params = dict(re.findall(r"(CallSid|Caller|Digits|From|To)=(\S+)", note))
    assert sig == "Np1nax6uFoY6qpfT5l9jWwJeit0=" and len(params) == 5
    case = {"url": "https://mycompany.com/myapp", "params": params, "expected_signature": sig}
    with pytest.raises(SignatureInvalid):
        _vector_adapter().verify("sms", _vector_request(case))


def test_json_body_tampered_fails_hash_check():
    case = next(c for c in VECTORS["cases"] if "raw_body" in c)
    tampered = {**case, "raw_body": case["raw_body"].replace("true", "false")}
    with pytest.raises(SignatureInvalid):
        _vector_adapter().verify("sms", _vector_request(tampered))


def test_non_form_body_without_body_hash_is_refused():
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    req = WebhookRequest(
        method="POST",
        url=url,
        path="/myapp.php",
        headers=CaseInsensitiveDict({"Content-Type": "application/json", "X-Twilio-Signature": signature.sign("12345", url)}),
        body=b'{"Body": "anything"}',
    )
    with pytest.raises(SignatureInvalid, match="bodySHA256"):
        _vector_adapter().verify("sms", req)


# --- signatures: fail closed, forged, replayed ----------------------------------------------


def _sms_pairs(sid="SM" + "a" * 32, body="Hello, my card was charged twice"):
    return inbound_sms(sid, CUSTOMER, OUR, body, ACCOUNT_SID)


def test_valid_signature_on_public_url_verifies():
    a = make_adapter()
    a.verify("sms", signed_request(a.ctx.webhook_url("sms"), _sms_pairs(), TOKEN))


def test_no_auth_token_fails_closed():
    a = make_adapter(auth_token=None)
    with pytest.raises(SignatureInvalid, match="no auth_token"):
        a.verify("sms", signed_request(a.ctx.webhook_url("sms"), _sms_pairs(), TOKEN))


def test_missing_signature_header_fails():
    a = make_adapter()
    req = signed_request(a.ctx.webhook_url("sms"), _sms_pairs(), TOKEN)
    headers = CaseInsensitiveDict({"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(SignatureInvalid):
        a.verify("sms", WebhookRequest(req.method, req.url, req.path, headers, req.body, req.form))


@pytest.mark.parametrize(
    "forgery",
    ["wrong_token", "tampered_param", "added_param", "wrong_path", "wrong_host", "wrong_port", "http_scheme", "other_hook"],
)
def test_forged_and_replayed_signatures_are_refused(forgery):
    a = make_adapter()
    url = a.ctx.webhook_url("sms")
    pairs = _sms_pairs()
    kwargs: dict = {}
    token = TOKEN
    if forgery == "wrong_token":
        token = "0" * 32
    elif forgery == "tampered_param":  # body changed after signing
        kwargs["sign_pairs"] = pairs
        pairs = [(k, "+19995550000" if k == "From" else v) for k, v in pairs]
    elif forgery == "added_param":
        kwargs["sign_pairs"] = list(pairs)
        pairs = pairs + [("MediaUrl0", "http://169.254.169.254/latest")]
    elif forgery == "wrong_path":  # replay of a request signed for another connector
        kwargs["sign_url"] = url.replace("/tw/", "/other/")
    elif forgery == "wrong_host":
        kwargs["sign_url"] = url.replace("hub.example.com", "evil.example.com")
    elif forgery == "wrong_port":  # signed for :9443, delivered to :8443
        kwargs["sign_url"] = url.replace(":8443", ":9443")
    elif forgery == "http_scheme":
        kwargs["sign_url"] = url.replace("https://", "http://")
    elif forgery == "other_hook":  # a status callback replayed onto the sms hook
        kwargs["sign_url"] = a.ctx.webhook_url("status")
    req = signed_request(url, pairs, token, **kwargs)
    with pytest.raises(SignatureInvalid):
        a.verify("sms", req)


def test_signature_without_port_verifies_on_public_url_with_port():
    """Twilio may sign the URL without its port (documented validator behaviour)."""
    a = make_adapter()
    url = a.ctx.webhook_url("sms")
    a.verify("sms", signed_request(url, _sms_pairs(), TOKEN, sign_url=url.replace(":8443", "")))


def test_repeated_parameter_names_are_all_signed():
    a = make_adapter()
    url = a.ctx.webhook_url("sms")
    pairs = _sms_pairs() + [("Digits", "1"), ("Digits", "2")]
    a.verify("sms", signed_request(url, pairs, TOKEN))
    with pytest.raises(SignatureInvalid):
        a.verify("sms", signed_request(url, pairs, TOKEN, sign_pairs=_sms_pairs() + [("Digits", "1")]))


# --- inbound SMS / MMS / WhatsApp -----------------------------------------------------------


def test_inbound_sms_parse_ack_normalize():
    a = make_adapter()
    sid = "SM" + "b" * 32
    text = "My wallet shows 0 after the update. " * 12  # multi-segment (NumSegments=4), kept whole
    req = signed_request(a.ctx.webhook_url("sms"), inbound_sms(sid, "+1 (415) 555-0123", OUR, text, ACCOUNT_SID, NumSegments="4"), TOKEN)
    a.verify("sms", req)
    events = a.parse("sms", req)
    assert [e.external_id for e in events] == [sid]
    assert events[0].payload == req.body
    ack = a.ack("sms", req, events)
    assert ack.status == 200 and ack.content_type == "text/xml"
    assert re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?><Response\s*/>', ack.body)
    (msg,) = a.normalize(events[0])
    assert msg.medium == "sms" and msg.kind == "message" and msg.external_id == sid
    assert msg.sender.address == CUSTOMER and msg.sender.extra["city"] == "SAN FRANCISCO"
    assert msg.recipients[0].address == OUR
    assert msg.text == text and msg.extra["num_segments"] == 4
    assert msg.thread_key == f"tw:{CUSTOMER}>{OUR}"
    assert "identity_update" not in msg.extra


def test_inbound_mms_media_fetched_with_credentials_from_twilio_host(twilio_api):
    a = make_adapter(twilio_api.base_url)
    jpeg = b"\xff\xd8\xff\xe0" + b"J" * 2048
    pdf = b"%PDF-1.4 receipt"
    sid = "MM" + "c" * 32
    url0 = twilio_api.add_media(f"2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{'1' * 32}", jpeg, "image/jpeg")
    url1 = twilio_api.add_media(f"2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{'2' * 32}", pdf, "application/pdf")
    pairs = inbound_sms(
        sid, CUSTOMER, OUR, "screenshot + receipt", ACCOUNT_SID,
        NumMedia="2", MediaContentType0="image/jpeg", MediaUrl0=url0, MediaContentType1="application/pdf", MediaUrl1=url1,
    )
    req = signed_request(a.ctx.webhook_url("sms"), pairs, TOKEN)
    a.verify("sms", req)
    (msg,) = a.normalize(a.parse("sms", req)[0])
    assert [(att.content_type, att.url) for att in msg.attachments] == [("image/jpeg", url0), ("application/pdf", url1)]
    assert [att.filename for att in msg.attachments] == [f"ME{'1' * 32}.jpg", f"ME{'2' * 32}.pdf"]
    assert a.fetch_attachment(msg.attachments[0], max_bytes=1 << 20) == jpeg
    assert a.fetch_attachment(msg.attachments[1], max_bytes=1 << 20) == pdf
    assert twilio_api.media_requests and all(r["authorized"] for r in twilio_api.media_requests)
    with pytest.raises(TooLarge):
        a.fetch_attachment(msg.attachments[0], max_bytes=100)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
        "https://api.twilio.com.evil.example.com/x",
        "file:///etc/passwd",
    ],
)
def test_media_from_other_hosts_is_refused(url, twilio_api):
    from normalizers.model import Attachment

    a = make_adapter(twilio_api.base_url)
    with pytest.raises(PayloadInvalid, match="refused"):
        a.fetch_attachment(Attachment(filename="x", url=url), max_bytes=1000)
    assert twilio_api.media_requests == []


def test_media_redirect_off_twilio_is_refused(twilio_api):
    from normalizers.model import Attachment
    twilio_api.redirects["/media/moved"] = "http://169.254.169.254/latest/meta-data/"
    a = make_adapter(twilio_api.base_url)
    with pytest.raises(PayloadInvalid, match="refused redirect"):
        a.fetch_attachment(Attachment(filename="x", url=f"{twilio_api.base_url}/media/moved"), max_bytes=1000)


def test_media_hosts_are_twilio_and_the_api_base():
    hosts = make_adapter("http://127.0.0.1:4010").media_hosts()
    assert hosts == ["api.twilio.com", "*.twilio.com", "127.0.0.1:4010"]
    assert make_adapter().media_hosts() == ["api.twilio.com", "*.twilio.com"]


def test_inbound_whatsapp():
    a = make_adapter()
    sid = "SM" + "d" * 32
    pairs = [
        ("SmsMessageSid", sid), ("NumMedia", "0"), ("ProfileName", "Ana Pérez"), ("MessageType", "text"),
        ("SmsSid", sid), ("WaId", "5215512345678"), ("SmsStatus", "received"), ("Body", "hola, necesito ayuda"),
        ("To", WA_FROM), ("NumSegments", "1"), ("ReferralNumMedia", "0"), ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID), ("From", "whatsapp:+5215512345678"), ("ApiVersion", "2010-04-01"),
    ]
    req = signed_request(a.ctx.webhook_url("sms"), pairs, TOKEN)
    a.verify("sms", req)
    (msg,) = a.normalize(a.parse("sms", req)[0])
    assert msg.medium == "whatsapp"
    assert msg.sender == Participant("whatsapp", "whatsapp:+5215512345678", "Ana Pérez", phone="+5215512345678", extra={"wa_id": "5215512345678"})
    assert msg.thread_key == f"tw:whatsapp:+5215512345678>{WA_FROM}"


# --- opt-out flow ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,opted_out",
    [("STOP", True), ("stop", True), (" Stop. ", True), ("UNSUBSCRIBE", True), ("StopAll", True), ("cancel", True),
     ("END", True), ("quit", True), ("OPTOUT", True), ("revoke", True),
     ("START", False), ("yes", False), ("UNSTOP", False),
     ("HELP", None), ("please stop charging my card", None), ("Stop the transfer!! now", None)],
)
def test_opt_out_keywords_update_identity(body, opted_out):
    a = make_adapter()
    req = signed_request(a.ctx.webhook_url("sms"), _sms_pairs(body=body), TOKEN)
    a.verify("sms", req)
    (msg,) = a.normalize(a.parse("sms", req)[0])
    assert msg.text == body  # the agent still sees what the customer wrote
    update = msg.identity_update
    if opted_out is None:
        assert update is None
    else:
        assert update.opted_out is opted_out and update.reason
    if body == "HELP":
        assert msg.extra["keyword"] == "help"


def test_advanced_opt_out_type_wins():
    a = make_adapter()
    pairs = _sms_pairs(body="BASTA") + [("OptOutType", "STOP")]
    (msg,) = a.normalize(a.parse("sms", signed_request(a.ctx.webhook_url("sms"), pairs, TOKEN))[0])
    assert msg.identity_update.opted_out is True


def test_opted_out_recipient_21610_fails_permanently_with_reason(adapter, twilio_api):
    twilio_api.fail_next.append((400, 21610, "Attempt to send to unsubscribed recipient", {}))
    with pytest.raises(RecipientRefused, match="opted out"):
        adapter.send(reply("We refunded you"))
    assert twilio_api.sent == [] and twilio_api.violations == []


# --- status callbacks -----------------------------------------------------------------------


def _status_pairs(sid: str, status: str, error: str | None = None):
    pairs = [
        ("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("From", OUR), ("MessageSid", sid),
        ("MessageStatus", status), ("SmsSid", sid), ("SmsStatus", status), ("To", CUSTOMER),
    ]
    if error:
        pairs.insert(2, ("ErrorCode", error))
    return pairs


@pytest.mark.parametrize(
    "status,expected,error,explains",
    [("queued", "queued", None, ""), ("sent", "sent", None, ""), ("delivered", "delivered", None, ""),
     ("read", "read", None, ""), ("undelivered", "undelivered", "30003", "unreachable"),
     ("failed", "failed", "30007", "spam"), ("undelivered", "undelivered", "30006", "landline"),
     ("failed", "failed", "21610", "opted out"), ("undelivered", "undelivered", "63016", "24 hours"),
     ("failed", "failed", "39999", "twilio.com/docs/api/errors/39999")],
)
def test_status_callbacks(status, expected, error, explains):
    a = make_adapter()
    sid = "SM" + "e" * 32
    req = signed_request(a.ctx.webhook_url("status"), _status_pairs(sid, status, error), TOKEN)
    a.verify("status", req)
    events = a.parse("status", req)
    assert [e.external_id for e in events] == [f"{sid}:{status}"]
    (msg,) = a.normalize(events[0])
    assert msg.kind == "status" and msg.in_reply_to == sid and msg.external_id == f"{sid}:{status}"
    assert msg.status.status == expected
    assert msg.status.error_code == (int(error) if error else None)
    assert explains in msg.status.error_message
    assert msg.thread_key == f"tw:{CUSTOMER}>{OUR}"


def test_inbound_message_states_on_status_hook_are_not_journaled():
    a = make_adapter()
    req = signed_request(a.ctx.webhook_url("status"), _status_pairs("SM" + "f" * 32, "received"), TOKEN)
    assert a.parse("status", req) == []


# --- voice, voicemail, missed calls ---------------------------------------------------------


def _twiml(body: str) -> str:
    return body.split("?>", 1)[-1]


def test_incoming_call_answers_greeting_then_record_with_callbacks():
    a = make_adapter(voice_greeting="Hi, you reached Acme support.", voice_language="en-GB")
    req = signed_request(a.ctx.webhook_url("voice"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID), TOKEN)
    a.verify("voice", req)
    events = a.parse("voice", req)
    assert [e.external_id for e in events] == [f"{CALL}:call"]
    assert a.normalize(events[0]) == []
    ack = a.ack("voice", req, events)
    assert ack.content_type == "text/xml"
    xml = _twiml(ack.body)
    assert xml.startswith('<Response><Say language="en-GB">Hi, you reached Acme support.</Say><Record ')
    assert f'action="{PUBLIC}/webhooks/tw/recording"' in xml
    assert 'transcribe="true"' in xml and f'transcribeCallback="{PUBLIC}/webhooks/tw/transcription"' in xml
    assert xml.endswith("<Hangup /></Response>")


def test_incoming_call_with_voicemail_off_only_greets():
    a = make_adapter(voicemail="off")
    req = signed_request(a.ctx.webhook_url("voice"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID), TOKEN)
    xml = _twiml(a.ack("voice", req, a.parse("voice", req)).body)
    assert "<Record" not in xml and "<Say" in xml and "<Hangup />" in xml


def test_incoming_call_forwards_then_falls_back_to_voicemail():
    state = MemoryState()
    a = make_adapter(forward_to="+14155550199", state=state)
    req = signed_request(a.ctx.webhook_url("voice"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID), TOKEN)
    xml = _twiml(a.ack("voice", req, a.parse("voice", req)).body)
    assert re.search(r"<Dial [^>]*action=\"https://hub.example.com:8443/webhooks/tw/voice\?step=dial\"[^>]*>\+14155550199</Dial>", xml)
    assert 'timeout="20"' in xml
    dial_url = a.ctx.webhook_url("voice") + "?step=dial"
    # agent did not answer -> voicemail
    noans = signed_request(dial_url, call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "in-progress", DialCallStatus="no-answer"), TOKEN)
    a.verify("voice", noans)
    assert [e.external_id for e in a.parse("voice", noans)] == [f"{CALL}:dial-no-answer"]
    assert "<Record " in _twiml(a.ack("voice", noans, []).body)
    assert state.get(f"call:{CALL}") is None
    # agent answered -> hang up after the call, and no missed call afterwards
    answered = signed_request(dial_url, call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "in-progress", DialCallStatus="completed"), TOKEN)
    a.parse("voice", answered)
    assert _twiml(a.ack("voice", answered, []).body) == "<Response><Hangup /></Response>"
    done = signed_request(a.ctx.webhook_url("status"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed"), TOKEN)
    (ev,) = a.parse("status", done)
    assert a.normalize(ev) == []


def test_voicemail_then_transcription_edit_and_no_missed_call():
    a = make_adapter()
    rec_url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'9' * 32}"
    rec = signed_request(
        a.ctx.webhook_url("recording"),
        call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "in-progress", RecordingUrl=rec_url, RecordingDuration="42",
                    RecordingSid="RE" + "9" * 32, Digits="hangup"),
        TOKEN,
    )
    a.verify("recording", rec)
    (ev,) = a.parse("recording", rec)
    assert ev.external_id == f"{CALL}:recording"
    assert _twiml(a.ack("recording", rec, [ev]).body) == "<Response><Hangup /></Response>"
    (vm,) = a.normalize(ev)
    assert vm.kind == "voicemail" and vm.external_id == f"{CALL}:voicemail" and vm.medium == "voice"
    assert vm.sender == Participant("sms", CUSTOMER, phone=CUSTOMER, extra={"country": "US"})  # one identity per phone number
    assert vm.thread_key == f"tw:{CUSTOMER}>{OUR}"  # same conversation as SMS with this number
    (att,) = vm.attachments
    assert att.url == rec_url + ".mp3" and att.content_type == "audio/mpeg" and vm.extra["duration"] == 42
    assert vm.subject == "Voicemail (0:42)" and vm.text == ""  # the transcript arrives later
    # transcription arrives later
    tr = signed_request(
        a.ctx.webhook_url("transcription"),
        call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", TranscriptionSid="TR" + "8" * 32,
                    TranscriptionText="Hi, I sent 2 ETH and it never arrived.", TranscriptionStatus="completed",
                    TranscriptionUrl=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/TR{'8' * 32}",
                    RecordingSid="RE" + "9" * 32, RecordingUrl=rec_url),
        TOKEN,
    )
    a.verify("transcription", tr)
    (tev,) = a.parse("transcription", tr)
    (edit,) = a.normalize(tev)
    assert edit.kind == "edit" and edit.in_reply_to == vm.external_id
    assert edit.text == "Hi, I sent 2 ETH and it never arrived."
    # the call's final status: recorded, so no missed call
    done = signed_request(a.ctx.webhook_url("status"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", CallDuration="61"), TOKEN)
    (sev,) = a.parse("status", done)
    assert sev.external_id == f"{CALL}:call-completed" and sev.meta["call_outcome"] == "voicemail"
    assert a.normalize(sev) == []
    assert a.ctx.state.get(f"call:{CALL}") is None  # forgotten once the call ended


@pytest.mark.parametrize("status,why", [("completed", "hung up"), ("busy", "busy"), ("no-answer", "nobody answered"), ("canceled", "hung up")])
def test_abandoned_or_missed_call(status, why):
    a = make_adapter()
    req = signed_request(a.ctx.webhook_url("status"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, status), TOKEN)
    a.verify("status", req)
    (ev,) = a.parse("status", req)
    (msg,) = a.normalize(ev)
    assert msg.kind == "missed_call" and msg.external_id == f"{CALL}:missed" and why in msg.text
    assert msg.sender.address == CUSTOMER


def test_empty_recording_is_a_missed_call_with_the_same_id():
    a = make_adapter()
    req = signed_request(a.ctx.webhook_url("recording"), call_params(CALL, CUSTOMER, OUR, ACCOUNT_SID, "completed", RecordingDuration="0",
                                                                       RecordingUrl="https://api.twilio.com/x/RE1"), TOKEN)
    (msg,) = a.normalize(a.parse("recording", req)[0])
    assert msg.kind == "missed_call" and msg.external_id == f"{CALL}:missed"


def test_unknown_hook_and_malformed_payloads():
    a = make_adapter()
    with pytest.raises(PayloadInvalid):
        a.parse("fax", signed_request(a.ctx.webhook_url("fax"), _sms_pairs(), TOKEN))
    no_sid = [(k, v) for k, v in _sms_pairs() if k not in ("MessageSid", "SmsSid", "SmsMessageSid")]
    with pytest.raises(PayloadInvalid, match="MessageSid"):
        a.parse("sms", signed_request(a.ctx.webhook_url("sms"), no_sid, TOKEN))


# --- simulate -------------------------------------------------------------------------------


def test_simulate_builds_a_correctly_signed_sms():
    a = make_adapter()
    hook, headers, body = a.simulate("test from the CLI", "+14155550123")
    assert hook == "sms"
    req = WebhookRequest("POST", a.ctx.webhook_url(hook), "/webhooks/tw/sms", CaseInsensitiveDict(headers), body)
    a.verify(hook, req)
    (msg,) = a.normalize(a.parse(hook, req)[0])
    assert msg.text == "test from the CLI" and msg.sender.address == CUSTOMER and msg.recipients[0].address == OUR
    other = make_adapter(auth_token="another-token")
    with pytest.raises(SignatureInvalid):
        other.verify(hook, req)


def test_simulate_with_a_non_phone_sender_uses_a_test_number():
    a = make_adapter()
    hook, headers, body = a.simulate("hi", "demo-customer")
    req = WebhookRequest("POST", a.ctx.webhook_url(hook), "/webhooks/tw/sms", CaseInsensitiveDict(headers), body)
    a.verify(hook, req)
    assert a.normalize(a.parse(hook, req)[0])[0].sender.address == "+15005550006"


def test_simulate_whatsapp():
    a = make_adapter()
    hook, headers, body = a.simulate("hola", "whatsapp:+5215512345678", name="Ana")
    req = WebhookRequest("POST", a.ctx.webhook_url(hook), "/webhooks/tw/sms", CaseInsensitiveDict(headers), body)
    a.verify(hook, req)
    (msg,) = a.normalize(a.parse(hook, req)[0])
    assert msg.medium == "whatsapp" and msg.sender.name == "Ana" and msg.recipients[0].address == WA_FROM


# --- outbound: the official client against the local Messages API ---------------------------


def test_send_sms(adapter, twilio_api):
    result = adapter.send(reply("Hi! We are looking into it."))
    assert twilio_api.violations == []
    (sent,) = twilio_api.sent
    assert result.external_id == sent.sid and result.state == "queued" and result.parts == ()
    assert sent.form == {
        "To": [CUSTOMER],
        "From": [OUR],
        "Body": ["Hi! We are looking into it."],
        "StatusCallback": [f"{PUBLIC}/webhooks/tw/status"],
    }


def test_send_with_messaging_service_keeps_the_customers_number(twilio_api):
    mg = "MG" + "a" * 32
    a = make_adapter(twilio_api.base_url, messaging_service_sid=mg)
    a.send(reply("hello"))
    (sent,) = twilio_api.sent
    assert sent.one("MessagingServiceSid") == mg and sent.one("From") == OUR
    b = make_adapter(twilio_api.base_url, messaging_service_sid=mg, phone_numbers="")
    res = b.send(reply("hello", rid=2, to="+14155550124"))
    assert twilio_api.sent[1].one("From") == OUR  # the number the customer wrote to (thread)
    assert res.state == "queued"


def test_long_sms_is_split_at_1600_and_nothing_lost(adapter, twilio_api):
    text = " ".join(f"Step {i}: check the transaction hash on the explorer and confirm." for i in range(60))
    assert len(text) > 3200
    result = adapter.send(reply(text))
    assert twilio_api.violations == []
    bodies = [m.one("Body") for m in twilio_api.sent]
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies)
    assert "".join(bodies) == text
    assert result.external_id == twilio_api.sent[0].sid
    assert result.parts == tuple(m.sid for m in twilio_api.sent[1:])


def test_emoji_count_double_against_the_limit(adapter, twilio_api):
    text = "🙂" * 1000  # 2,000 UTF-16 units
    adapter.send(reply(text))
    assert twilio_api.violations == [] and len(twilio_api.sent) == 2
    assert "".join(m.one("Body") for m in twilio_api.sent) == text


def test_whatsapp_reply_within_24h_splits_at_4096(adapter, twilio_api):
    text = "x" * 5000
    result = adapter.send(reply(text, to="whatsapp:+5215512345678", medium="whatsapp", last_inbound_at=datetime.now(UTC) - timedelta(hours=2)))
    assert twilio_api.violations == []
    assert [m.one("From") for m in twilio_api.sent] == [WA_FROM, WA_FROM]
    assert [m.one("To") for m in twilio_api.sent] == ["whatsapp:+5215512345678"] * 2
    assert [len(m.one("Body")) for m in twilio_api.sent] == [4096, 904]
    assert len(result.parts) == 1


def test_whatsapp_outside_24h_without_template_fails_before_any_request(adapter, twilio_api):
    for last in (datetime.now(UTC) - timedelta(hours=25), None):
        with pytest.raises(PermanentDeliveryError, match="24 hours"):
            adapter.send(reply("late", to="whatsapp:+5215512345678", medium="whatsapp", last_inbound_at=last))
    assert twilio_api.sent == []


def test_whatsapp_template_outside_24h(adapter, twilio_api):
    hx = "HX" + "b" * 32
    adapter.send(reply("", to="whatsapp:+5215512345678", medium="whatsapp", last_inbound_at=None,
                       options={"content_sid": hx, "content_variables": {"1": "Ana"}}))
    (sent,) = twilio_api.sent
    assert sent.one("ContentSid") == hx and json.loads(sent.one("ContentVariables")) == {"1": "Ana"}
    assert sent.one("Body") is None


def test_media_urls_are_sent_and_blob_only_attachments_are_reported(adapter, twilio_api):
    blob = BlobRef(filename="receipt.pdf", content_type="application/pdf", size=10, sha256="0" * 64)
    res = adapter.send(reply("see attached", attachments=(blob,)))
    assert twilio_api.sent[0].form.get("MediaUrl") is None
    assert res.detail["attachments_not_sent"] == ["receipt.pdf"]
    adapter.send(reply("with media", rid=2, attachments=(blob,), options={"media_urls": ["https://hub.example.com/m/1.jpg"]}))
    assert twilio_api.sent[1].form["MediaUrl"] == ["https://hub.example.com/m/1.jpg"]
    assert twilio_api.violations == []


@pytest.mark.parametrize(
    "status,code,error",
    [(429, 20429, RetriableDeliveryError), (500, None, RetriableDeliveryError), (503, None, RetriableDeliveryError),
     (401, 20003, AuthError), (400, 21211, PermanentDeliveryError), (400, 21614, PermanentDeliveryError),
     (400, 21408, PermanentDeliveryError), (404, 20404, PermanentDeliveryError)],
)
def test_api_errors_are_translated(adapter, twilio_api, status, code, error):
    twilio_api.fail_next.append((status, code, "error from Twilio", {}))
    with pytest.raises(error) as info:
        adapter.send(reply("hi"))
    assert not isinstance(info.value, RetriableDeliveryError) or error is RetriableDeliveryError
    if code in (21211, 21614):
        assert "Twilio error" in str(info.value)
    # the recipient itself cannot be reached: no retry can help (the inbox offers none)
    assert isinstance(info.value, RecipientRefused) is (code in (21211, 21614))


def test_wrong_credentials_are_an_auth_error(twilio_api):
    a = make_adapter(twilio_api.base_url, auth_token="not-the-token")
    with pytest.raises(AuthError):
        a.send(reply("hi"))


def test_unreachable_api_is_retriable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = make_adapter(f"http://127.0.0.1:{port}")
    with pytest.raises(RetriableDeliveryError, match="unreachable"):
        a.send(reply("hi"))


def test_retry_after_partial_send_never_duplicates_a_part(adapter, twilio_api):
    text = "a" * 1600 + "b" * 100
    real = twilio_api._create_message
    armed = []

    def first_ok_then_503(request):
        response = real(request)
        if not armed:  # after the first success, the next request fails once
            armed.append(True)
            twilio_api.fail_next.append((503, None, "Service Unavailable", {}))
        return response

    twilio_api.server.clear()
    twilio_api.server.expect_request(re.compile(r"^/2010-04-01/Accounts/[^/]+/Messages\.json$"), method="POST").respond_with_handler(
        first_ok_then_503
    )
    with pytest.raises(RetriableDeliveryError):
        adapter.send(reply(text, rid=77))
    (first,) = twilio_api.sent
    assert adapter.ctx.state.get("reply:77:parts") == [first.sid]
    result = adapter.send(reply(text, rid=77))  # the retry sends only the missing part
    assert [m.one("Body") for m in twilio_api.sent] == ["a" * 1600, "b" * 100]
    assert result.external_id == first.sid and result.parts == (twilio_api.sent[1].sid,)
    assert adapter.ctx.state.get("reply:77:parts") is None  # forgotten once complete


def test_send_without_token_is_a_config_error(twilio_api):
    with pytest.raises(ConfigError):
        make_adapter(twilio_api.base_url, auth_token=None).send(reply("hi"))


def test_empty_reply_is_refused(adapter, twilio_api):
    with pytest.raises(PermanentDeliveryError, match="nothing to send"):
        adapter.send(reply("   "))
    assert twilio_api.sent == []


def test_base_url_client_only_rewrites_twilio_hosts():
    c = BaseUrlHttpClient("http://127.0.0.1:4010/proxy")
    assert c.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1.json?x=1") == "http://127.0.0.1:4010/proxy/2010-04-01/Accounts/AC1.json?x=1"
    assert c.rewrite("https://example.com/a") == "https://example.com/a"


# --- check ----------------------------------------------------------------------------------


def test_check_fetches_account_and_lists_webhook_urls(adapter, twilio_api):
    twilio_api.numbers[OUR] = {"sms_url": "https://old.example.com/sms", "voice_url": "", "status_callback": ""}
    result = adapter.check()
    assert result.ok, result.summary
    assert "omnihub test account" in result.summary and "active" in result.summary
    assert f"{PUBLIC}/webhooks/tw/sms" in result.summary and f"{PUBLIC}/webhooks/tw/voice" in result.summary
    assert f"set the webhook URLs on {OUR}" in result.summary
    number = result.details["numbers"][OUR]
    assert number["expected"] == {
        "sms_url": f"{PUBLIC}/webhooks/tw/sms", "voice_url": f"{PUBLIC}/webhooks/tw/voice", "status_callback": f"{PUBLIC}/webhooks/tw/status",
    }
    assert number["ok"] is False
    twilio_api.numbers[OUR] = number["expected"]
    again = adapter.check()
    assert again.details["numbers"][OUR]["ok"] is True and "set the webhook URLs" not in again.summary


def test_check_reports_unknown_numbers_and_bad_credentials(twilio_api):
    a = make_adapter(twilio_api.base_url)
    res = a.check()
    assert not res.ok and f"not numbers of this account: {OUR}" in res.summary
    bad = make_adapter(twilio_api.base_url, auth_token="wrong")
    res = bad.check()
    assert not res.ok and "credentials" in res.summary
