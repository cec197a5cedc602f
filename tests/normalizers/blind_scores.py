"""The figures a blind set is measured by (tests/normalizers/test_intel_blind*.py): aggregate
numbers only, never a row."""

from __future__ import annotations

import functools

from normalizers import language as lang_mod
from normalizers import train_intel
from normalizers.triage import SECURITY_CRITICAL, classify

Row = tuple[str, str, str]  # category, language, text


@functools.cache
def training_rows() -> list[dict[str, str]]:
    """``train_intel.training_rows()``, computed once per test process (~4 s; four modules use it)."""
    return train_intel.training_rows()


def language_hits(rows: list[Row]) -> tuple[int, int]:
    """(right, of) language detections on the messages of at most 12 words (commands left out)."""
    short = [(lang, text) for cat, lang, text in rows if cat != "command" and len(text.split()) <= 12]
    return sum(lang_mod.detect(text) == lang for lang, text in short), len(short)


def triage_figures(rows: list[Row]) -> tuple[float, float, int]:
    """(top-1, security-critical recall under the right category, security-critical messages)."""
    got = [(cat, classify(text).category) for cat, _, text in rows]
    sec = [(c, g) for c, g in got if c in SECURITY_CRITICAL]
    return sum(c == g for c, g in got) / len(got), sum(c == g for c, g in sec) / len(sec), len(sec)


def false_alarms(rows: list[Row]) -> tuple[int, int]:
    """(triaged security-critical, of) the messages that are not security-critical."""
    non = [text for cat, _, text in rows if cat not in SECURITY_CRITICAL]
    return sum(classify(text).category in SECURITY_CRITICAL for text in non), len(non)


def flagged(rows: list[Row]) -> tuple[int, int]:
    """(triaged under some security-critical category, of) the security-critical messages: an
    impersonation triaged as a scam report still gets the security flag and the priority."""
    sec = [text for cat, _, text in rows if cat in SECURITY_CRITICAL]
    return sum(classify(text).category in SECURITY_CRITICAL for text in sec), len(sec)
