"""normalizers.twilio: pure functions over Twilio webhook parameters."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from hub.errors import PayloadInvalid
from normalizers import twilio as tw
from normalizers.model import NormalizedMessage

WHEN = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
OUR = "+14155550100"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("+14155550123", ("sms", "+14155550123")),
        ("+1 (415) 555-0123", ("sms", "+14155550123")),
        ("0044 20 7183 8750", ("sms", "+442071838750")),
        ("whatsapp:+5215512345678", ("whatsapp", "whatsapp:+5215512345678")),
        ("WhatsApp:+52 1 55 1234 5678", ("whatsapp", "whatsapp:+5215512345678")),
        ("messenger:1234567890", ("messenger", "messenger:1234567890")),
        ("12345", ("sms", "12345")),  # short code
        ("Acme", ("sms", "Acme")),  # alphanumeric sender id
        ("+266696687", ("sms", "+266696687")),  # Twilio's "anonymous caller" number
        ("", ("sms", "")),
    ],
)
def test_address(raw, expected):
    assert tw.address(raw) == expected


@pytest.mark.parametrize(
    "text,opt_type,expected",
    [
        ("STOP", "", "stop"), ("stop all", "", "stop"), ("Opt-Out", "", "stop"), ("'Unsubscribe'", "", "stop"),
        ("Start", "", "start"), ("yes!", "", "start"), ("help?", "", "help"), ("info", "", "help"),
        ("stop please", "", None), ("yes I sent it", "", None), ("", "", None),
        ("BASTA", "STOP", "stop"), ("whatever", "START", "start"), ("AIUTO", "HELP", "help"),
    ],
)
def test_keywords(text, opt_type, expected):
    assert tw.keyword(text, opt_type) == expected


def test_explain_error():
    assert "opted out" in tw.explain_error("21610")
    assert "unreachable" in tw.explain_error(30003)
    assert tw.explain_error(None) == "" and tw.explain_error("") == ""
    assert "errors/12345" in tw.explain_error(12345)
    for code in (30003, 30005, 30006, 30007, 30008, 21610, 63016):
        assert code in tw.ERROR_EXPLANATIONS


def test_thread_key_round_trip():
    key = tw.thread_key("tw", "whatsapp:+5215512345678", "whatsapp:+14155238886")
    assert tw.split_thread_key(key) == ("whatsapp:+5215512345678", "whatsapp:+14155238886")
    assert tw.split_thread_key("other:thing") == ("", "")


def _sms(**params) -> bytes:
    base = {"MessageSid": "SM" + "1" * 32, "From": "+14155550123", "To": OUR, "Body": "hi", "NumMedia": "0"}
    base.update(params)
    return urlencode(base).encode()


def test_normalize_sms_is_pure_and_serializable():
    (msg,) = tw.normalize("sms", _sms(), connector="tw", received_at=WHEN)
    assert msg.sent_at == WHEN and msg.extra["twilio"]["To"] == OUR and "Body" not in msg.extra["twilio"]
    assert NormalizedMessage.from_dict(msg.to_dict()) == msg


def test_json_payload_is_accepted():
    body = b'{"MessageSid": "SM1", "From": "+14155550123", "To": "+14155550100", "Body": "json"}'
    (msg,) = tw.normalize("sms", body, connector="tw", content_type="application/json", received_at=WHEN)
    assert msg.text == "json"
    with pytest.raises(PayloadInvalid):
        tw.normalize("sms", b"[1]", connector="tw", content_type="application/json")


@pytest.mark.parametrize(
    "params,error",
    [
        ({"MessageSid": ""}, "MessageSid"),
        ({"From": ""}, "From"),
        ({"NumMedia": "2", "MediaUrl0": "https://api.twilio.com/m0", "MediaContentType0": "image/png"}, "MediaUrl1"),
        ({"NumMedia": "two"}, "NumMedia"),
    ],
)
def test_malformed_messages(params, error):
    with pytest.raises(PayloadInvalid, match=error):
        tw.normalize("sms", _sms(**params), connector="tw")


def test_whatsapp_location_becomes_text():
    (msg,) = tw.normalize("sms", _sms(Body="", From="whatsapp:+5215512345678", To="whatsapp:+14155238886",
                                       Latitude="19.4326", Longitude="-99.1332", Label="Zócalo"), connector="tw")
    assert msg.text == "Location: 19.4326,-99.1332 (Zócalo)"


def test_media_keeps_content_types_and_names():
    (msg,) = tw.normalize(
        "sms",
        _sms(NumMedia="2", MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", MediaContentType0="image/png",
             MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", MediaContentType1="audio/ogg"),
        connector="tw",
    )
    assert [(a.filename, a.content_type) for a in msg.attachments] == [("ME1.png", "image/png"), ("ME2.ogg", "audio/ogg")]
    assert all(a.url and a.content is None for a in msg.attachments)


@pytest.mark.parametrize("status,expected", [("accepted", "queued"), ("sending", "sent"), ("canceled", "failed"), ("partially_delivered", "delivered")])
def test_status_mapping(status, expected):
    body = urlencode({"MessageSid": "SM9", "MessageStatus": status, "From": OUR, "To": "+14155550123"}).encode()
    (msg,) = tw.normalize("status", body, connector="tw")
    assert msg.status.status == expected and msg.extra["provider_status"] == status and msg.direction == "outbound"


def test_failed_transcription_changes_nothing():
    body = urlencode({"CallSid": "CA1", "From": "+14155550123", "To": OUR, "TranscriptionStatus": "failed", "TranscriptionText": ""}).encode()
    assert tw.normalize("transcription", body, connector="tw") == []


def test_unknown_hook():
    with pytest.raises(PayloadInvalid):
        tw.normalize("fax", _sms(), connector="tw")
