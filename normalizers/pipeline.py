"""The normalizer pipeline: pure steps applied to every inbound message, in order.

Each step is ``(name, function)`` with ``function(msg: NormalizedMessage) -> NormalizedMessage``
(return ``msg.replace(...)``). Steps are pure: no I/O, no database, no network. The ingest
job runs ``run(msg)`` after the channel's normalizer and before anything is stored,
pushed or logged, so redaction placed here protects every later stage.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from normalizers.model import NormalizedMessage

Step = Callable[[NormalizedMessage], NormalizedMessage]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC, unified newlines, no control characters, no trailing blanks or blank-line runs."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    text = _TRAILING_WS.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


from normalizers.fit import ADDRESS_MAX, KEY_MAX, NAME_MAX, SUBJECT_MAX, fit_key, fit_text  # noqa: E402


def _fit_participant(p: Any) -> Any:
    changes: dict[str, Any] = {}
    if len(p.address) > ADDRESS_MAX:
        changes["address"] = fit_key(p.address, ADDRESS_MAX)
    if len(p.name) > NAME_MAX:
        changes["name"] = fit_text(p.name, NAME_MAX)
    for f in ("email", "verified_email"):
        if (v := getattr(p, f)) and len(v) > ADDRESS_MAX:
            changes[f] = None  # no address that long is deliverable (RFC 5321: 254)
    return dataclasses.replace(p, **changes) if changes else p


def _fit_attachment(a: Any) -> Any:
    changes: dict[str, Any] = {}
    if len(a.filename) > 500:
        stem, dot, ext = a.filename.rpartition(".")
        changes["filename"] = fit_text(stem, 490 - len(ext)) + dot + ext if dot and len(ext) <= 10 else fit_text(a.filename, 500)
    if len(a.content_type) > NAME_MAX:
        changes["content_type"] = "application/octet-stream"
    if a.content_id and len(a.content_id) > KEY_MAX:
        changes["content_id"] = fit_key(a.content_id)
    return dataclasses.replace(a, **changes) if changes else a


#: a provider timestamp further ahead than this is not believed (clock skew is allowed for):
#: a message "from next month" would keep a 24-hour reply window open for weeks
FUTURE_SKEW = timedelta(minutes=10)


def clean(msg: NormalizedMessage) -> NormalizedMessage:
    limit = datetime.now(UTC) + FUTURE_SKEW
    if msg.sent_at > limit:
        msg = msg.replace(sent_at=datetime.now(UTC), extra={**msg.extra, "claimed_sent_at": msg.sent_at.isoformat()})
    text = clean_text(msg.text)
    full = clean_text(msg.full_text) or text
    return msg.replace(
        text=text, full_text=full, subject=fit_text(clean_text(msg.subject).replace("\n", " "), SUBJECT_MAX),
        external_id=fit_key(msg.external_id), thread_key=fit_key(msg.thread_key),
        in_reply_to=fit_key(msg.in_reply_to) if msg.in_reply_to else msg.in_reply_to,
        references=tuple(fit_key(r) for r in msg.references),
        sender=_fit_participant(msg.sender), recipients=tuple(_fit_participant(p) for p in msg.recipients),
        attachments=tuple(_fit_attachment(a) for a in msg.attachments),
    )


# The order matters: redaction runs right after cleaning (before any other step sees the
# text, and before anything is stored); language detection then works on the redacted
# text with the markers removed, so a Spanish-wordlist seed phrase cannot make an English
# message "Spanish"; entities and triage see only redacted text.
from normalizers.entities import entities  # noqa: E402
from normalizers.language import language  # noqa: E402
from normalizers.redact import redact  # noqa: E402
from normalizers.triage import triage  # noqa: E402

STEPS: list[tuple[str, Step]] = [
    ("clean", clean),
    ("redact", redact),
    ("language", language),
    ("entities", entities),
    ("triage", triage),
]


def warm() -> None:
    """Compile and load what the steps otherwise build on first use (the grouped rule
    patterns of redaction, quotes, bounces and the triage's security families and concepts,
    the triage and language models, the lingua detector): a worker calls it once at boot
    (before it forks a child per job with ``--fork``), so no job pays for it (P2R profile:
    ~1.5 s of the first job's CPU)."""
    from normalizers import bounces, quotes
    from normalizers import language as lang
    from normalizers import redact as redaction
    from normalizers import triage as triaging

    redaction._more_rules()
    quotes._verb_rule()
    bounces._bounce_text()
    bounces._delay()
    triaging._any_family()
    triaging._any_concept()
    triaging.model()
    lang.detector()
    lang._word_model()


def run(msg: NormalizedMessage, steps: list[tuple[str, Step]] | None = None) -> NormalizedMessage:
    for _name, step in steps if steps is not None else STEPS:
        msg = step(msg)
    return msg
