"""Language detection: accuracy on the labelled messages, lazy build, cost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import pytest

from normalizers import language as lang_mod
from normalizers.language import SUPPORTED, detect

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]


def test_accuracy_on_labelled_messages():
    rows = [json.loads(line) for name in ("triage_set.jsonl", "triage_holdout.jsonl")
            for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    ok = sum(detect(r["text"]) == r["lang"] for r in rows)
    print(f"language accuracy {ok}/{len(rows)} = {ok / len(rows):.3f}")
    assert ok / len(rows) >= 0.95


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hola, no puc accedir al meu compte des d'ahir", "ca"),
        ("Hola, no puedo acceder a mi cuenta desde ayer", "es"),
        ("Mein Konto wurde gehackt, bitte helfen Sie mir", "de"),
        ("Bonjour, mon virement n'est pas arrivé", "fr"),
        ("Olá, a minha transferência não chegou", "pt"),
        ("Hello, my transfer has not arrived yet", "en"),
    ],
)
def test_detects_supported_languages(text, code):
    assert detect(text) == code


def test_short_or_noise_only_text_is_undecided():
    assert detect("ok") is None
    assert detect("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed 12.5") is None
    assert detect("[redacted: recovery phrase]") is None


def test_import_is_cheap_and_detector_is_built_once():
    code = "import time; t=time.perf_counter(); import normalizers.language as l; print(time.perf_counter()-t, l._detector)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    assert float(out[0]) < 0.5 and out[1] == "None"  # nothing loaded at import
    first = lang_mod.detector()
    t = time.perf_counter()
    assert lang_mod.detector() is first
    detect("Mi saldo aparece duplicado en la aplicación")
    assert time.perf_counter() - t < 0.5
    assert set(SUPPORTED) == {"en", "es", "ca", "fr", "de", "pt", "it", "nl"}


# --- issue #16: priors from the desk's evidence, "unknown" instead of a guess ---------------
def test_short_spanish_messages_are_spanish():
    for text in ("No me llega mi retiro de 0.5 BTC", "¿Dónde está mi depósito?", "mi cuenta esta bloqueada"):
        assert detect(text) == "es", text


def test_priors_parse_the_desks_evidence():
    from normalizers.language import parse_locale_header, phone_language, priors

    assert parse_locale_header("es-ES,es;q=0.9,en;q=0.5,ja;q=0.4") == [("es", 1.0), ("en", 0.5)]
    assert parse_locale_header("pt_BR") == [("pt", 1.0)]
    assert parse_locale_header("garbage;;q=x") == []
    assert phone_language("+34600111222") == "es" and phone_language("whatsapp:+5511999998888") == "pt"
    assert phone_language("+376312345") == "ca" and phone_language("alice") is None
    p = priors(history=["nl", "nl"], phone="+33612345678", accept_language="de-DE")
    assert abs(sum(p.values()) - 1) < 1e-9
    assert max(p, key=p.get) == "de" and p["nl"] > p["en"] and p["fr"] > p["en"]


def test_a_prior_decides_an_ambiguous_text_but_not_a_clear_one():
    from normalizers.language import detect_scored, priors

    text = "ok gracias"  # short; es / pt / ca all plausible on their own
    assert detect_scored(text, priors(phone="+34600111222", accept_language="es-ES"))[0] == "es"
    assert detect_scored("Hello, my transfer has not arrived yet", priors(accept_language="es-ES", phone="+34600111222"))[0] == "en"
    assert detect_scored("whatever", confirmed="it") == ("it", 1.0)


def test_unknown_below_confidence_and_default_language(monkeypatch):
    from normalizers.language import UNKNOWN, default_language, detect_scored

    assert detect_scored("ok")[0] == UNKNOWN
    assert detect_scored("xyz qwv")[0] in (UNKNOWN, *SUPPORTED)
    monkeypatch.delenv("OMNIHUB_DEFAULT_LANGUAGE", raising=False)
    assert default_language() == "en"
    monkeypatch.setenv("OMNIHUB_DEFAULT_LANGUAGE", "ES")
    assert default_language() == "es"


def test_widget_and_email_hints_reach_the_prior():
    from datetime import datetime

    from normalizers.language import language, message_prior
    from normalizers.model import NormalizedMessage, Participant

    base = dict(medium="api", connector="web", external_id="1", thread_key="t", sender=Participant(medium="api", address="v1"),
                sent_at=datetime.now(UTC), text="ok gracias")
    widget = NormalizedMessage(**base, extra={"widget": {"language": "es-ES", "accept_language": "es-ES,es;q=0.9"}})
    assert max(message_prior(widget).items(), key=lambda kv: kv[1])[0] == "es"
    email = NormalizedMessage(**{**base, "medium": "email"}, extra={"content_language": "fr"})
    assert max(message_prior(email).items(), key=lambda kv: kv[1])[0] == "fr"
    out = language(widget)
    assert out.language == "es" and 0 < out.language_confidence <= 1


@pytest.mark.parametrize("text, code", [
    ("5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060", None),  # a bare hash is no language
    ("[sealed: hex string #1]", None),
    ("KYC", None), ("bitcoin", None),  # one word every language uses
    ("here it is: 5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060", "en"),
    ("Deposit not arrived, tx hash: 5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060", "en"),
    ("aquí está: 5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060", "es"),
    ("my order ABC12345XYZ still has not arrived", "en"),
])
def test_hashes_markers_and_identifiers_are_no_language(text, code):
    assert detect(text) == code
