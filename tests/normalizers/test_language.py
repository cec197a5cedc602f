"""Language detection: accuracy on the labelled messages, lazy build, cost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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
