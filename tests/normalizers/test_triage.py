"""Triage accuracy on the labelled multilingual sets, priorities and hand-off flags."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from normalizers.triage import CATEGORIES, classify

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _accuracy(rows: list[dict]) -> tuple[float, list[str]]:
    wrong = [f"{r['lang']}:{r['category']}->{classify(r['text']).category}: {r['text']}" for r in rows
             if classify(r["text"]).category != r["category"]]
    return 1 - len(wrong) / len(rows), wrong


def test_labelled_set_covers_every_category_and_language():
    rows = _rows("triage_set.jsonl")
    per_cat = Counter(r["category"] for r in rows)
    assert set(per_cat) == set(CATEGORIES)
    assert min(per_cat.values()) >= 15
    for cat in CATEGORIES:
        assert {r["lang"] for r in rows if r["category"] == cat} >= {"en", "es", "ca", "fr", "de", "pt"}


@pytest.mark.parametrize(("name", "threshold"), [("triage_set.jsonl", 0.95), ("triage_holdout.jsonl", 0.85)])
def test_accuracy(name, threshold):
    acc, wrong = _accuracy(_rows(name))
    print(f"{name}: accuracy {acc:.3f}")
    assert acc >= threshold, wrong


@pytest.mark.parametrize(
    "text",
    ["My account was hacked!", "Me han hackeado la cuenta", "M'han robat els fons del compte",
     "Mon compte a été piraté", "Mein Konto wurde gehackt", "A minha conta foi hackeada"],
)
def test_hacked_account_is_urgent_and_security(text):
    t = classify(text)
    assert (t.category, t.priority, t.security) == ("suspicious_access_or_hacked_account", "urgent", True)


def test_pasted_recovery_phrase_is_security_and_urgent():
    t = classify("hello [redacted: recovery phrase]", frozenset({"recovery_phrase"}))
    assert t.security and t.priority == "urgent"
    assert t.category == "lost_keys_or_recovery_phrase"
    # a password alone is not a wallet compromise
    t = classify("my password is [redacted: password]", frozenset({"password"}))
    assert not t.security and t.priority != "urgent"


def test_priorities():
    assert classify("What are your opening hours?").priority == "low"
    assert classify("I lost my seed phrase").priority == "high"
    assert classify("Mi saldo aparece duplicado").priority == "normal"
    assert classify("URGENT my balance appears duplicated").priority == "high"


@pytest.mark.parametrize(
    ("text", "wants"),
    [
        ("I want to talk to a human", True),
        ("Can I speak to someone please?", True),
        ("Quiero hablar con un agente", True),
        ("Vull parlar amb un humà", True),
        ("Je veux parler à un humain", True),
        ("Ich möchte mit einem Mitarbeiter sprechen", True),
        ("Quero falar com um atendente", True),
        ("Quiero hablar con una persona", True),
        ("My transfer is stuck", False),
        ("Mi saldo aparece duplicado", False),
    ],
)
def test_wants_human(text, wants):
    assert classify(text).wants_human is wants
