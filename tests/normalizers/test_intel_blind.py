"""Language and triage on the BLIND set tests/data/intel_blind2.tsv.

480 messages (60 per language) written on 2026-12-05 by a separate session that never saw the
rules, the model or any corpus (see the file's first line); scored after the changes of 2026-12-05
(twice) and after those of 2026-12-06 (a third time, and a fourth after the second round of that day,
a fifth after 2026-12-06 (c), a sixth after (d): a security-critical category from the model
without a support concept, a seventh after (e): twelve new files of training rows, concepts
counted 6 times and smoothed, the language word model retrained (language scored twice in (e): with
the old and with the retrained word model), an eighth and ninth after (f): six more training files, then two
rule parts against false alarms (language 227/229 = 0.991, top-1 0.935, recall 126/128, false alarms 3/349);
aggregate figures only; its rows were never looked at)
(the first blind set, scored and looked at, was demoted to training rows: train_intel.BLIND1). Goals (issue #16): language >= 97 % on messages of at most 12 words, triage top-1
>= 90 %, security-critical recall >= 98 %. Where a figure is below its goal the test asserts
the measured floor, so a regression fails, and docs/intelligence/triage-language.md says so.
"""

from __future__ import annotations

from pathlib import Path

from normalizers import language as lang_mod
from normalizers import train_intel
from normalizers.triage import CATEGORIES, SECURITY_CRITICAL
from tests.normalizers.blind_scores import false_alarms, flagged, language_hits, training_rows, triage_figures

BLIND = Path(__file__).resolve().parents[1] / "data" / "intel_blind2.tsv"

LANGUAGE_GOAL = 0.97
TRIAGE_GOAL, TRIAGE_FLOOR = 0.90, 0.90  # measured 0.935 (eighth and ninth scorings, f); 0.939 (seventh, 2026-12-06 e); 0.914 (d); 0.904 (c); 0.901 (b)
SECURITY_GOAL, SECURITY_FLOOR = 0.98, 0.98  # measured 0.984 (126/128, f, e); 0.977 (125/128, d); 0.930 (119/128) before
ALARMS_CEILING = 0.02  # measured 3/349 = 0.009 (f); 2/349 = 0.006 (e); 4/349 (d); 3/349 before
FLAGGED_FLOOR = 0.99  # measured 128/128 (f, e): under some security-critical category


def _rows() -> list[tuple[str, str, str]]:
    out = []
    for line in BLIND.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            cat, lang, text = line.split("\t", 2)
            out.append((cat, lang, text))
    return out


#: rows whose text is also a row of the development half (three short messages two authors
#: happened to write alike) are left out: the model was trained on them
TRAINED = {r["text"] for r in training_rows()}
ALL_ROWS = _rows()
ROWS = [r for r in ALL_ROWS if r[2] not in TRAINED]


def test_the_blind_set_is_what_it_says():
    assert BLIND == train_intel.BLIND
    assert BLIND.read_text(encoding="utf-8").startswith("# blind held-out set 2 written without looking at the rules")
    assert len(ALL_ROWS) >= 480 and len(ALL_ROWS) - len(ROWS) <= 5 and {c for c, _, _ in ROWS} <= set(CATEGORIES)
    assert {lang for _, lang, _ in ROWS} == set(lang_mod.SUPPORTED)
    assert sum(c in SECURITY_CRITICAL for c, _, _ in ROWS) >= 120


def test_language_on_the_blind_set():
    ok, n = language_hits(ROWS)
    print(f"blind language {ok}/{n}")
    assert ok / n >= LANGUAGE_GOAL


def test_triage_and_security_recall_on_the_blind_set():
    top1, recall, n_sec = triage_figures(ROWS)
    print(f"blind triage top-1 {top1:.3f}; security recall {recall:.3f} on {n_sec}")
    assert top1 >= min(TRIAGE_GOAL, TRIAGE_FLOOR)
    assert recall >= min(SECURITY_GOAL, SECURITY_FLOOR)


def test_false_alarms_on_the_blind_set():
    """Messages that are not security-critical triaged as security-critical (priority and the
    security flag raised for nothing; no customer warning: that comes from a pasted secret only)."""
    alarms, n = false_alarms(ROWS)
    print(f"blind false alarms {alarms}/{n}")
    assert alarms / n <= ALARMS_CEILING


def test_security_critical_messages_get_the_security_flag():
    """Security-critical messages triaged under some security-critical category (urgent or high,
    security=True), even when it is not the labelled one."""
    got, n = flagged(ROWS)
    print(f"blind2 triaged as security-critical {got}/{n}")
    assert got / n >= FLAGGED_FLOOR
