"""Language and triage measured on the HELD-OUT half of tests/data/triage_corpus.tsv.

The corpus was written by hand as customers write; it is split by sha256(text) before any
training (normalizers/train_intel.py trains on the development half only). Goals (issue #16):
language >= 97 % on messages of at most 12 words, triage top-1 >= 90 %, security-critical
categories recall >= 98 %. Where the measured figure is still below the goal (see docs/intelligence/triage-language.md,
Language / Triage) the test asserts the measured floor, so a regression fails, and says so:
the held-out half is never tuned on to close the gap.
"""


from __future__ import annotations

import json
from collections import Counter

from normalizers import language as lang_mod
from normalizers import train_intel
from normalizers.triage import CATEGORIES, SECURITY_CRITICAL, classify
from tests.normalizers import blind_scores

ROWS = train_intel.load_corpus()
HELDOUT = [r for r in ROWS if r["split"] == "heldout"]
DEV = [r for r in ROWS if r["split"] == "dev"]

LANGUAGE_GOAL, LANGUAGE_FLOOR = 0.97, 0.97  # measured 0.994 (2026-12-06 b; 0.991 before)
TRIAGE_GOAL = 0.90
SECURITY_GOAL, SECURITY_FLOOR = 0.98, 0.98  # measured 1.000 (70/70, 2026-12-06 b); top-1 0.976 (0.973 before)


def _lang_rows(rows):
    return [r for r in rows if r["category"] != "command" and len(r["text"].split()) <= 12]


def test_corpus_size_and_coverage():
    assert len(ROWS) >= 600
    assert len(_lang_rows(ROWS)) >= 400
    assert {r["lang"] for r in ROWS} == set(lang_mod.SUPPORTED)
    assert {r["category"] for r in ROWS} <= set(CATEGORIES)
    assert 0.4 < len(HELDOUT) / len(ROWS) < 0.6
    # the shipped model was trained on the development half (and training-only rows) only
    model = json.loads(lang_mod.MODEL_PATH.read_text(encoding="utf-8"))
    training = blind_scores.training_rows()
    assert model["rows"] == len(training) and len(training) > len(DEV)
    # no measured row (held-out half, blind set) leaked into training, nor a near copy of one
    measured = train_intel.measured_rows()
    assert not {r["text"] for r in training} & {r["text"] for r in HELDOUT}
    near = train_intel.Near([train_intel._words(r["text"]) for r in measured])
    dev_texts = {r["text"] for r in DEV}
    training_only = [r["text"] for r in training if r["text"] not in dev_texts]
    assert training_only and not [t for t in training_only if train_intel.near(t, near)]


def test_language_heldout():
    rows = _lang_rows(HELDOUT)
    wrong = [f"{r['lang']}->{lang_mod.detect(r['text'])}: {r['text']}" for r in rows if lang_mod.detect(r["text"]) != r["lang"]]
    acc = 1 - len(wrong) / len(rows)
    print(f"language held-out {acc:.3f} on {len(rows)}")
    assert acc >= min(LANGUAGE_GOAL, LANGUAGE_FLOOR), wrong


def test_triage_heldout_top1_and_security_recall():
    wrong = []
    sec = Counter()
    for r in HELDOUT:
        got = classify(r["text"]).category
        if got != r["category"]:
            wrong.append(f"{r['lang']} {r['category']}->{got}: {r['text']}")
        if r["category"] in SECURITY_CRITICAL:
            sec["n"] += 1
            sec["ok"] += got == r["category"]
    acc = 1 - len(wrong) / len(HELDOUT)
    recall = sec["ok"] / sec["n"]
    print(f"triage held-out top-1 {acc:.3f} on {len(HELDOUT)}; security recall {recall:.3f} on {sec['n']}")
    assert acc >= TRIAGE_GOAL, wrong
    assert recall >= min(SECURITY_GOAL, SECURITY_FLOOR), wrong


def test_the_near_index_agrees_with_comparing_every_row():
    """train_intel.Near (words indexed) answers as the plain pairwise Jaccard check."""
    rows = [train_intel._words(t) for t in ("my account was hacked", "where is my deposit", "hola que tal", "")]
    index = train_intel.Near(rows)
    for text in ("my account was hacked yesterday", "deposit where is my", "hola", "nothing in common here", "", "my"):
        assert index.near(text) == train_intel.near(text, rows)
    assert index.near("my account was hacked yesterday") and not index.near("nothing in common here")


def test_the_near_index_agrees_with_comparing_every_row_on_real_messages():
    """Prefix filtering (train_intel.Near) finds exactly the rows the pairwise check finds, on
    1,500 training messages against 400 others (short messages alike included), and at the
    threshold itself: a pair of Jaccard exactly 0.5 is near, just under it is not."""
    texts = [r["text"] for r in blind_scores.training_rows()[::7]]
    rows = [train_intel._words(t) for t in texts[:400]]
    index = train_intel.Near(rows)
    got = [index.near(t) for t in texts[400:1900]]
    assert got == [train_intel.near(t, rows) for t in texts[400:1900]]
    assert 5 <= sum(got) < len(got)  # 10 of the 1,500 are near one of the 400
    edge = train_intel.Near([frozenset("a b c d".split()), frozenset("x y z".split())])
    assert edge.near("a b c d e f g h") and not edge.near("a b c d e f g h i")
    assert edge.near("x y") and not edge.near("x")
