"""FAQ bot: matching the shipped knowledge base, and the hand-off rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.faq import load_articles, parse_article
from normalizers import pipeline
from normalizers.faq import FaqIndex, decide
from normalizers.model import NormalizedMessage, Participant

INDEX = FaqIndex(load_articles())


def _msg(text: str, language: str | None = None) -> NormalizedMessage:
    m = NormalizedMessage(medium="api", connector="c", external_id="1", thread_key="t",
                          sender=Participant("api", "c:1"), sent_at=datetime(2026, 1, 1, tzinfo=UTC), text=text)
    out = pipeline.run(m)
    return out if language is None else out.replace(language=language)


def test_knowledge_base_is_multilingual():
    assert {"en", "es", "ca", "fr", "de", "pt"} <= set(INDEX.languages())


@pytest.mark.parametrize(
    ("text", "article"),
    [
        ("What fees do you charge for buying bitcoin?", "fees"),
        ("How long does a SEPA withdrawal take to arrive?", "bank-transfer-times"),
        ("¿Cuánto tarda una transferencia bancaria?", "transferencias"),
        ("Com puc verificar la meva identitat?", "verificar-identitat"),
        ("Wie lange dauert eine Überweisung?", "ueberweisung"),
        ("Qual é o horário de atendimento?", "horario"),
        ("Quels sont les frais ?", "frais"),
    ],
)
def test_confident_questions_are_answered_in_their_language(text, article):
    d = decide(_msg(text), INDEX)
    assert (d.action, d.reason, d.article["id"]) == ("answer", "match", article)
    assert d.article["language"] == _msg(text).language


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("What fees do you charge? I want to talk to a human", "wants_human"),
        ("¿Qué comisiones cobráis? Quiero hablar con un agente", "wants_human"),
        ("My account was hacked, how long does a transfer take?", "security"),
        ("I lost my recovery phrase, what are the fees?", "security"),
        ("I love pizza and sunny days", "low_confidence"),
        ("El meu saldo apareix duplicat", "low_confidence"),
    ],
)
def test_hand_off(text, reason):
    d = decide(_msg(text), INDEX)
    assert (d.action, d.reason) == ("handoff", reason)


def test_a_pasted_secret_always_goes_to_an_agent():
    phrase = "kingdom drive afford damp once skill film lady double section sleep cradle"
    d = decide(_msg(f"what are the fees? {phrase}"), INDEX)
    assert (d.action, d.reason) == ("handoff", "security")


def test_unknown_language_falls_back_to_english_articles():
    d = decide(_msg("What fees do you charge for buying bitcoin?", language="sv"), INDEX)
    assert d.action == "answer" and d.article["language"] == "en"


def test_italian_and_dutch_questions_get_articles_in_their_language():
    it = decide(_msg("Quali commissioni ci sono per comprare bitcoin?", language="it"), INDEX)
    nl = decide(_msg("Hoe lang duurt een overboeking naar mijn bank?", language="nl"), INDEX)
    assert (it.action, it.article["language"]) == ("answer", "it")
    assert (nl.action, nl.article["language"]) == ("answer", "nl")


def test_empty_knowledge_base_hands_off():
    assert decide(_msg("What fees do you charge?"), FaqIndex([])).reason == "no_articles"


def test_article_format_errors():
    with pytest.raises(ValueError, match="Title"):
        parse_article("no title here", article_id="x", language="en")
    with pytest.raises(ValueError, match="front matter"):
        parse_article("---\ntags: a\n# T\n", article_id="x", language="en")
    art = parse_article("---\ntags: a, b\n---\n# T\n\nBody", article_id="x", language="en")
    assert art == {"id": "x", "language": "en", "title": "T", "tags": ["a", "b"], "body": "Body"}
