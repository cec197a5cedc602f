"""What a normalizer writes for content without words ("[Location: … 1 Hacker Way …]",
"[Reacted 👍 to a message]", "[Unsupported WhatsApp message type: order]") is not the
customer's: triage never raises a security alarm from it (fresh-eyes finding, #19)."""

from datetime import UTC, datetime

import pytest

from normalizers.model import NormalizedMessage, Participant
from normalizers.triage import triage


def _msg(text: str) -> NormalizedMessage:
    return NormalizedMessage(medium="whatsapp", connector="wa", external_id="x", thread_key="t",
                             sender=Participant(medium="whatsapp", address="whatsapp:+14155550100"),
                             sent_at=datetime.now(UTC), text=text)


@pytest.mark.parametrize("text", [
    "[Location: 37.483307,-122.148981 (Philz Coffee, 1 Hacker Way, Menlo Park, CA 94025)]",
    "[Reacted 👍 to a message]",
    "[Unsupported WhatsApp message type: order]",
    "[sticker 😀]",
])
def test_generated_descriptions_raise_no_alarm(text):
    result = triage(_msg(text)).triage
    assert result is not None and not result.security and result.category == "general_question"


def test_the_customers_own_words_next_to_them_still_count():
    result = triage(_msg("[Location: 1.0,2.0]\nmy account was hacked, they took everything")).triage
    assert result is not None and result.security and result.category == "suspicious_access_or_hacked_account"


def test_whatsapp_media_messages_carry_no_false_redaction():
    import json

    from normalizers import whatsapp
    from normalizers.pipeline import run
    from tests.support import meta_samples as ms

    for sample in (ms.IMAGE, ms.AUDIO, ms.DOCUMENT, ms.VIDEO, ms.STICKER):
        for msg in whatsapp.normalize(json.dumps(sample), connector="wa", received_at=datetime.now(UTC)):
            assert run(msg).redactions == (), sample
