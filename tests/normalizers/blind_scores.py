"""The figures a blind set is measured by (tests/normalizers/test_intel_blind*.py): aggregate
numbers only, never a row."""

from __future__ import annotations

import functools
from pathlib import Path

from normalizers import language as lang_mod
from normalizers import train_intel
from normalizers.triage import SECURITY_CRITICAL, classify

Row = tuple[str, str, str]  # category, language, text


@functools.cache
def training_rows() -> list[dict[str, str]]:
    """``train_intel.training_rows()``, computed once per test process (~4 s; four modules use it)."""
    return train_intel.training_rows()


@functools.cache
def category(text: str) -> str:
    """``category(text)``, once per text per test process: the four figures of a blind set
    read the same messages' categories."""
    return classify(text).category


def language_hits(rows: list[Row]) -> tuple[int, int]:
    """(right, of) language detections on the messages of at most 12 words (commands left out)."""
    short = [(lang, text) for cat, lang, text in rows if cat != "command" and len(text.split()) <= 12]
    return sum(lang_mod.detect(text) == lang for lang, text in short), len(short)


def triage_figures(rows: list[Row]) -> tuple[float, float, int]:
    """(top-1, security-critical recall under the right category, security-critical messages)."""
    got = [(cat, category(text)) for cat, _, text in rows]
    sec = [(c, g) for c, g in got if c in SECURITY_CRITICAL]
    return sum(c == g for c, g in got) / len(got), sum(c == g for c, g in sec) / len(sec), len(sec)


def false_alarms(rows: list[Row]) -> tuple[int, int]:
    """(triaged security-critical, of) the messages that are not security-critical."""
    non = [text for cat, _, text in rows if cat not in SECURITY_CRITICAL]
    return sum(category(text) in SECURITY_CRITICAL for text in non), len(non)


def flagged(rows: list[Row]) -> tuple[int, int]:
    """(triaged under some security-critical category, of) the security-critical messages: an
    impersonation triaged as a scam report still gets the security flag and the priority."""
    sec = [text for cat, _, text in rows if cat in SECURITY_CRITICAL]
    return sum(category(text) in SECURITY_CRITICAL for text in sec), len(sec)


def grouped_recall(rows: list[Row]) -> tuple[int, int]:
    """(right, of) the security-critical messages with scam and impersonation as the one group the
    issue names ("hacked account, lost keys, scam/impersonation"): the hub treats the two alike
    (the same priority, the security flag, no customer warning), so a scam report triaged as an
    impersonation, or the other way round, loses nothing an agent sees first."""
    group = {"scam_or_phishing_report": "scam/impersonation", "impersonation": "scam/impersonation"}
    sec = [(cat, text) for cat, _, text in rows if cat in SECURITY_CRITICAL]
    return sum(group.get(c, c) == group.get(g := category(t), g) for c, t in sec), len(sec)


class BlindSetChecks:
    """The checks of a blind set (a test module subclasses it as ``TestBlindSetN`` and sets the
    path, its first line, its size, the goals and the measured floors); the rows are read at the
    first test that needs them, not at import (each test process imports every module)."""

    PATH: Path
    HEADER: str
    SIZE: int
    MIN_SECURITY: int
    # no defaults: a set that forgets one fails with AttributeError instead of passing on 0.0
    LANGUAGE_FLOOR: float
    TRIAGE_FLOOR: float
    SECURITY_FLOOR: float
    GROUPED_FLOOR: float
    FLAGGED_FLOOR: float
    ALARMS_CEILING: float
    LANGUAGE_GOAL, TRIAGE_GOAL, SECURITY_GOAL = 0.97, 0.90, 0.98

    @classmethod
    def rows(cls) -> list[Row]:
        return _scored(cls.PATH)

    def test_the_blind_set_is_what_it_says(self):
        from normalizers.triage import CATEGORIES

        assert self.PATH.read_text(encoding="utf-8").startswith(self.HEADER)
        rows = self.rows()
        assert len(_all(self.PATH)) == self.SIZE and len(rows) >= self.SIZE - 10 and {c for c, _, _ in rows} <= set(CATEGORIES)
        assert {lang for _, lang, _ in rows} == set(lang_mod.SUPPORTED)
        assert sum(c in SECURITY_CRITICAL for c, _, _ in rows) >= self.MIN_SECURITY

    def test_language_on_the_blind_set(self):
        ok, n = language_hits(self.rows())
        print(f"{self.PATH.stem} language {ok}/{n}")
        assert ok / n >= min(self.LANGUAGE_GOAL, self.LANGUAGE_FLOOR)

    def test_triage_and_security_recall_on_the_blind_set(self):
        top1, recall, n_sec = triage_figures(self.rows())
        print(f"{self.PATH.stem} triage top-1 {top1:.3f}; security recall {recall:.3f} on {n_sec}")
        assert top1 >= min(self.TRIAGE_GOAL, self.TRIAGE_FLOOR)
        assert recall >= min(self.SECURITY_GOAL, self.SECURITY_FLOOR)

    def test_security_recall_with_scam_and_impersonation_as_one_group(self):
        ok, n = grouped_recall(self.rows())
        print(f"{self.PATH.stem} security recall, scam/impersonation one group: {ok}/{n}")
        assert ok / n >= min(self.SECURITY_GOAL, self.GROUPED_FLOOR)

    def test_false_alarms_on_the_blind_set(self):
        alarms, n = false_alarms(self.rows())
        print(f"{self.PATH.stem} false alarms {alarms}/{n}")
        assert alarms / n <= self.ALARMS_CEILING

    def test_security_critical_messages_get_the_security_flag(self):
        got, n = flagged(self.rows())
        print(f"{self.PATH.stem} triaged as security-critical {got}/{n}")
        assert got / n >= self.FLAGGED_FLOOR


def _all(path: Path) -> list[Row]:
    return [(r["category"], r["lang"], r["text"]) for r in train_intel.load_corpus(path)]


@functools.cache
def _scored(path: Path) -> list[Row]:
    """A blind set's rows, but for any whose text is word for word a training row (the development
    half of the corpus is not checked for near copies of measured rows: a short "STOP" or "hola"
    two authors both wrote)."""
    trained = {r["text"] for r in training_rows()}
    return [r for r in _all(path) if r[2] not in trained]
