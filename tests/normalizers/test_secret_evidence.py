"""#16.3 measured: keys vs transaction hashes on the labelled set of
tests/data/gen_secret_evidence_set.py. Thresholds are asserted on the HELD-OUT half (never
tuned on); the development half is scored too, for docs/intelligence/redaction.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from normalizers.entities import extract
from normalizers.redact import Context, asks_for_transaction, context, redact_text

DATA = Path(__file__).resolve().parents[1] / "data"
MIN_RECALL = 0.995


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def _leaked(value: str, out: str) -> bool:
    if value in out:
        return True
    words = [w for w in re.split(r"[\s,]+", value) if w and not re.fullmatch(r"\d+[.)]?", w)]
    flat = " ".join(re.split(r"[\s,]+", out))
    return len(words) >= 3 and any(" ".join(words[i : i + 3]) in flat for i in range(len(words) - 2))


def score(rows: list[dict]) -> dict:
    s = {"secret": 0, "secret_caught": 0, "tx": 0, "tx_false_positive": 0, "tx_entity": 0,
         "bare_key_after_ask": 0, "bare_key_after_ask_kept": 0, "misses": []}
    for row in rows:
        ctx = Context(asked_for_tx=asks_for_transaction(row["agent_last"]), chain=row["chain"])
        with context(ctx):
            out, found = redact_text(row["text"], seal=lambda v, w: f"[sealed: {w} string #1]")
            ents = extract(out)
        if row["label"] == "secret":
            s["secret"] += 1
            if _leaked(row["value"], out):
                s["misses"].append(row["id"])
            else:
                s["secret_caught"] += 1
        elif row["label"] == "tx":
            s["tx"] += 1
            value = row["value"] if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", row["value"]) else row["value"].lower()
            if found or row["value"] not in out:
                s["tx_false_positive"] += 1
                s["misses"].append(row["id"])
            elif any(e.kind == "tx_hash" and e.value == value for e in ents):
                s["tx_entity"] += 1
        else:
            s["bare_key_after_ask"] += 1
            s["bare_key_after_ask_kept"] += row["value"] in out
    s["recall"] = s["secret_caught"] / s["secret"]
    return s


@pytest.mark.parametrize("half", ["secret_evidence_dev.jsonl", "secret_evidence_holdout.jsonl"])
def test_figures(half):
    s = score(_load(half))
    print(f"{half}: secrets {s['secret_caught']}/{s['secret']} (recall {s['recall']:.4f}); asked tx hashes "
          f"{s['tx']}, false positives {s['tx_false_positive']}, tx_hash entities {s['tx_entity']}; "
          f"bare keys answering a tx request kept {s['bare_key_after_ask_kept']}/{s['bare_key_after_ask']}; misses {s['misses']}")
    assert s["secret"] >= 200 and s["tx"] >= 150


def test_thresholds_on_the_held_out_half():
    s = score(_load("secret_evidence_holdout.jsonl"))
    assert s["recall"] >= MIN_RECALL, s["misses"]
    assert s["tx_false_positive"] == 0, s["misses"]
    assert s["tx_entity"] == s["tx"]  # every kept hash is surfaced as a tx_hash entity


# --- found by a newcomer trying to break it (2026-12-07): keys cut where a line ended --------
_KEY = "e10082c94cf3617ed401dd8af5e581a1bab9cbf906bd74c9f5bff77ad9f43f68"


@pytest.mark.parametrize("text", [
    f"my key: {_KEY[:30]}\n{_KEY[30:]}",
    f"my key: {_KEY[:21]}\n{_KEY[21:42]}\n{_KEY[42:]}",
    f"seed {_KEY[:10]} {_KEY[10:30]} {_KEY[30:]}",
    f"Private key below:\n\n{_KEY}",
    f"mi clave privada es\n\n{_KEY[:32]}\n{_KEY[32:]}",
])
def test_a_key_cut_unevenly_or_below_a_blank_line_is_a_key(text):
    out, found = redact_text(text, seal=lambda value, what: f"[sealed: {what} string #1]")
    assert [r.kind for r in found] == ["private_key"] and _KEY[:10] not in out and _KEY[-10:] not in out, out


@pytest.mark.parametrize("text, kinds", [
    (f"{_KEY[:30]} {_KEY[30:]}", ["ambiguous_key"]),  # no cue: sealed, not warned about
    (f"the tx is {_KEY[:30]}\n{_KEY[30:]}", []),  # a transaction hash, kept
    ("ids 123e4567-e89b-12d3-a456-426614174000 223e4567-e89b-12d3-a456-426614174001", []),  # two UUIDs
    ("order 1234567890 1234567890123456789012 12345678901234567890123456789012", []),  # digits alone
])
def test_uneven_pieces_without_a_key_cue(text, kinds):
    out, found = redact_text(text, seal=lambda value, what: f"[sealed: {what} string #1]")
    assert [r.kind for r in found] == kinds, out
