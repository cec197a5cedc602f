"""Customer-facing templates: every template in every required language, fallback, placeholders."""

from __future__ import annotations

import pytest

from config import templates

REQUIRED = ("en", "es", "ca", "fr", "de", "pt", "it", "nl")


@pytest.mark.parametrize("name", ["auto_ack", "security_warning", "csat_survey", "csat_thanks", "faq_handoff_hint"])
def test_required_templates_exist_in_every_language(name):
    texts = templates.load()[name]
    assert set(REQUIRED) <= set(texts)
    rendered = {lang: templates.render(name, lang) for lang in REQUIRED}
    assert len(set(rendered.values())) == len(REQUIRED)  # really translated, not copies


def test_fallback_to_english_and_regional_codes():
    assert templates.render("csat_survey", "sv") == templates.render("csat_survey", "en")  # no Swedish yet
    assert templates.render("csat_survey", None) == templates.render("csat_survey", "en")
    assert templates.render("csat_survey", "pt-BR") == templates.render("csat_survey", "pt")
    assert templates.render("csat_survey", "ES") == templates.render("csat_survey", "es")


def test_security_warning_says_what_matters():
    en = templates.render("security_warning", "en")
    assert "never" in en.lower() and "recovery phrase" in en and "new wallet" in en.lower() and "risk" in en
    assert "nunca" in templates.render("security_warning", "es").lower()
    assert "mai" in templates.render("security_warning", "ca").lower()


def test_placeholders():
    assert "(#42)" in templates.render("auto_ack", "en", ref=42)
    assert "{" not in templates.render("auto_ack", "en")


def test_unknown_template_and_bad_files(tmp_path):
    with pytest.raises(KeyError):
        templates.render("nope", "en")
    bad = tmp_path / "t.yaml"
    bad.write_text("greeting:\n  es: hola\n")
    with pytest.raises(ValueError, match="needs at least an 'en'"):
        templates.load(bad)


def test_the_handoff_word_of_each_hint_asks_for_a_person():
    """The FAQ bot's hint tells the customer which word reaches a person: triage must hear it."""
    import re

    from normalizers.triage import _HUMAN, fold

    for lang in REQUIRED:
        hint = templates.render("faq_handoff_hint", lang)
        word = re.search(r'["«“]\s*([^"»”]+?)\s*["»”]', hint).group(1)
        assert _HUMAN.search(fold(word)), f"{lang}: replying {word!r} does not reach a person"

