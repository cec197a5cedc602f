"""The normalizer pipeline: pure steps applied to every inbound message, in order.

Each step is ``(name, function)`` with ``function(msg: NormalizedMessage) -> NormalizedMessage``
(return ``msg.replace(...)``). Steps are pure: no I/O, no database, no network. The ingest
job runs ``run(msg)`` after the channel's normalizer and before anything is stored,
pushed or logged, so redaction placed here protects every later stage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

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


def clean(msg: NormalizedMessage) -> NormalizedMessage:
    text = clean_text(msg.text)
    full = clean_text(msg.full_text) or text
    return msg.replace(text=text, full_text=full, subject=clean_text(msg.subject).replace("\n", " "))


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


def run(msg: NormalizedMessage, steps: list[tuple[str, Step]] | None = None) -> NormalizedMessage:
    for _name, step in steps if steps is not None else STEPS:
        msg = step(msg)
    return msg
