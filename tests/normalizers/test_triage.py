"""Triage accuracy on the labelled multilingual sets, priorities and hand-off flags."""

from __future__ import annotations

import pytest

from normalizers.triage import classify

# The old labelled sets (triage_set.jsonl / triage_holdout.jsonl) were written against the
# old keyword rules and label e.g. a pending withdrawal "transaction_not_processed"; the finer
# categories of issue #16 are measured on tests/data/triage_corpus.tsv instead
# (tests/normalizers/test_intel_heldout.py).


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


def test_twelve_of_anything_is_no_recovery_phrase():
    """Only "12/24 words" (in any language) is seed talk; "12 shirts" is not (fresh-eyes finding)."""
    for text in ("I ordered 12 shirts last week, when will they ship?", "Hello 12, question about order 1012"):
        t = classify(text)
        assert not t.security and t.category != "lost_keys_or_recovery_phrase", (text, t)
    assert classify("I lost my 12 words").category == "lost_keys_or_recovery_phrase"
