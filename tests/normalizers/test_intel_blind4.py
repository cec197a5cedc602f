"""Language and triage on BLIND set 4, tests/data/intel_blind4.tsv.

480 messages (60 per language, 176 security-critical) written on 2026-12-06 ~20:35 UTC by a helper
session that never opened the repository (no rule, model, training row or measured set), from its
own brief (a realistic week of a desk's inbox per language; not the brief the training files of
2026-12-06 (e) were written from), after the shipped model of (e) was trained. Its rows have never
been looked at. It is not one of ``train_intel.measured_rows`` (that would have changed which
training rows are left out, and the model, after it was measured); instead its rows that share
half or more of their words with a training row (``train_intel.near``) are left out of its
figures: 180 of the 480 are (short messages alike, e.g. a customer asking where a deposit is),
so 300 rows are scored, 132 security-critical. Scored once, aggregate figures only
(docs/intelligence/triage-language.md, (e)): on the 300 rows language 159/161 = 0.988, top-1
0.917, security recall 122/132 = 0.924, under some security-critical category 131/132, false
alarms 3/168; on all 480 rows (read once too, for comparison) language 310/312, top-1 0.935,
security recall 166/176 = 0.943, under some security-critical category 175/176, false alarms 7/304.
Goals (issue #16): language >= 97 % on messages of at most 12 words, triage top-1 >= 90 %,
security-critical recall >= 98 %; where a figure is below its goal the test asserts the measured
floor, so a regression fails.
"""

from __future__ import annotations

from normalizers import language as lang_mod
from normalizers import train_intel
from normalizers.triage import CATEGORIES, SECURITY_CRITICAL
from tests.normalizers.blind_scores import false_alarms, flagged, language_hits, training_rows, triage_figures

BLIND = train_intel.BLIND4

LANGUAGE_GOAL, LANGUAGE_FLOOR = 0.97, 0.97  # measured 0.988 (159/161)
TRIAGE_GOAL, TRIAGE_FLOOR = 0.90, 0.90  # measured 0.917
SECURITY_GOAL, SECURITY_FLOOR = 0.98, 0.91  # measured 0.924 (122/132): NOT met
ALARMS_CEILING = 0.03  # measured 3/168 = 0.018
FLAGGED_FLOOR = 0.98  # measured 131/132 = 0.992

_TRAINING = train_intel.Near([train_intel._words(r["text"]) for r in training_rows()])
ALL_ROWS = [(r["category"], r["lang"], r["text"]) for r in train_intel.load_corpus(BLIND)]
#: rows near a training row are left out: the model may have been trained on a near copy
ROWS = [r for r in ALL_ROWS if not train_intel.near(r[2], _TRAINING)]


def test_the_blind_set_is_what_it_says():
    assert BLIND.read_text(encoding="utf-8").startswith("# blind held-out set 4 written without looking at the rules")
    assert len(ALL_ROWS) == 480 and {c for c, _, _ in ALL_ROWS} <= set(CATEGORIES)
    assert {lang for _, lang, _ in ROWS} == set(lang_mod.SUPPORTED)
    print(f"blind4 rows scored {len(ROWS)} of {len(ALL_ROWS)}")
    assert len(ROWS) >= 280 and sum(c in SECURITY_CRITICAL for c, _, _ in ROWS) >= 120


def test_language_on_the_blind_set():
    ok, n = language_hits(ROWS)
    print(f"blind4 language {ok}/{n}")
    assert ok / n >= min(LANGUAGE_GOAL, LANGUAGE_FLOOR)


def test_triage_and_security_recall_on_the_blind_set():
    top1, recall, n_sec = triage_figures(ROWS)
    print(f"blind4 triage top-1 {top1:.3f}; security recall {recall:.3f} on {n_sec}")
    assert top1 >= min(TRIAGE_GOAL, TRIAGE_FLOOR)
    assert recall >= min(SECURITY_GOAL, SECURITY_FLOOR)


def test_false_alarms_on_the_blind_set():
    alarms, n = false_alarms(ROWS)
    print(f"blind4 false alarms {alarms}/{n}")
    assert alarms / n <= ALARMS_CEILING


def test_security_critical_messages_get_the_security_flag():
    got, n = flagged(ROWS)
    print(f"blind4 triaged as security-critical {got}/{n}")
    assert got / n >= FLAGGED_FLOOR
