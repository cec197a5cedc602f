from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from normalizers.model import Attachment, Entity, NormalizedMessage, Participant, Redaction, Triage
from normalizers.pipeline import clean_text, run


def _msg(**kw):
    base = dict(medium="sms", connector="c", external_id="1", thread_key="t", sender=Participant("sms", "+15551234567", "Ana"),
                sent_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))))
    base.update(kw)
    return NormalizedMessage(**base)


def test_sent_at_is_aware_utc_and_naive_is_refused():
    assert _msg().sent_at == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        _msg(sent_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        _msg(kind="fax")


def test_round_trip_through_json():
    m = _msg(
        attachments=(Attachment("a.png", "image/png", 3, content=b"abc"),),
        redactions=(Redaction("recovery_phrase", "[redacted: recovery phrase]"),),
        entities=(Entity("evm_address", "0xabc", chain="ethereum"),),
        triage=Triage("payment_delay", "high"),
        references=("<a@b>",),
        extra={"nested": {"k": [1, 2]}},
    )
    back = NormalizedMessage.from_dict(m.to_dict(with_content=True))
    assert back == m
    assert "content" not in m.to_dict()["attachments"][0]


def test_clean_step():
    assert clean_text("a\r\nb \t\n\n\n\nc\x00") == "a\nb\n\nc"
    out = run(_msg(text="  hi\r\n", subject="Re:\nsubject"))
    assert out.text == "hi" and out.full_text == "hi" and out.subject == "Re: subject"
