"""R1: what secret redaction costs per 2 KB message (issue #22.5), on real text.

The messages are cut from the shared corpus (../shared/corpus: the text of real emails in
many languages and charsets, parsed by our email normalizer, and the real Slack / X /
Twilio / helpdesk payloads), in 2 KB pieces at whitespace. One message in five also holds
a row of tests/data/redaction_set.jsonl (a generated seed phrase in one of the ten BIP39
languages, a WIF / xprv / 64-hex key, a transaction hash after its cue, a card number, a
password after its cue, or one of the near misses) put in at a line break.

Each message is a ``NormalizedMessage`` as the channel normalizers make it (text and
full_text, subject, sender, thread key, message id) and the figure is the pipeline step
``redact(msg)`` per message. The baseline, measured in the same run over the same
messages, is a single plain regex pass (``\\w+`` findall) over the same text fields, so the
ratio says how many plain passes over the text redaction costs.

    python -m benchmarks R1 [--quick]
    python -m benchmarks.bench_redact          # the figures alone, no Redis
"""

from __future__ import annotations

import email
import email.policy
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZE = 2048
GOAL_MS = 0.5
_SKIP_SUFFIXES = (".png", ".jpg", ".gif", ".pdf", ".msg", ".tsv", ".md")
_MAX_FILE = 300_000
_WORD = re.compile(r"\w+")


def corpus_dir() -> Path:
    for candidate in (REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")):
        if candidate.exists():
            return candidate
    return REPO.parent / "shared" / "corpus"


def _email_texts(path: Path) -> Iterable[tuple[str, str, str]]:
    """(subject, sender, body) of one mail, through the email normalizer the hub uses."""
    from normalizers import email as email_normalizer
    from normalizers.pipeline import clean

    raw = path.read_bytes()
    try:
        msgs = email_normalizer.normalize(raw, connector="bench")
    except Exception:  # noqa: BLE001 - the corpus keeps broken mail on purpose; the hub quarantines it
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = []
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                try:
                    body.append(part.get_content())
                except Exception:  # noqa: BLE001 - a broken charset
                    continue
        yield str(msg.get("subject", "")), str(msg.get("from", "")), "\n".join(body)
        return
    for m in msgs:
        m = clean(m)
        yield m.subject, m.sender.name or m.sender.address, m.full_text or m.text


def _payload_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _pieces(text: str, size: int = SIZE) -> Iterable[str]:
    """``text`` in pieces of about ``size`` characters, cut at whitespace."""
    start = 0
    while len(text) - start >= size // 2:
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            cut = max(cut, text.rfind("\n", start + size // 2, end))
            end = cut if cut > start else end
        yield text[start:end]
        start = end


def corpus_messages(limit: int | None = None) -> list[tuple[str, str, str]]:
    """(subject, sender, ~2 KB body) pieces of the shared corpus, emails first, then payloads."""
    root = corpus_dir()
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size <= _MAX_FILE
             and p.suffix.lower() not in _SKIP_SUFFIXES and not p.name.upper().startswith(("LICENSE", "README", "COPYING"))]
    out: list[tuple[str, str, str]] = []
    carry = ""
    for path in files:
        if "email" in path.relative_to(root).parts:
            items = list(_email_texts(path))
        else:
            items = [(path.stem, "", _payload_text(path))]
        for subject, sender, body in items:
            # short bodies are joined to the next ones so every piece is about 2 KB
            carry = f"{carry}\n\n{body}" if carry else body
            if len(carry) < SIZE:
                continue
            for piece in _pieces(carry):
                out.append((subject, sender, piece))
            carry = ""
        if limit and len(out) >= limit:
            break
    return out[:limit] if limit else out


def secret_rows() -> list[dict]:
    path = REPO / "tests" / "data" / "redaction_set.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _message(k: int, subject: str, sender: str, text: str):
    from normalizers.model import NormalizedMessage, Participant

    return NormalizedMessage(
        medium="email", connector="bench", external_id=f"<bench-{k}@corpus.example>", thread_key=f"bench:{k}",
        sender=Participant(medium="email", address=f"customer{k}@corpus.example", name=sender[:80]),
        sent_at=datetime(2026, 12, 5, tzinfo=UTC), subject=subject[:200], text=text, full_text=text,
    )


def build(limit: int | None = None, seed: int = 22) -> tuple[list, list]:
    """(corpus messages, messages with a secret or a near miss) as NormalizedMessages."""
    rng = random.Random(seed)
    rows = secret_rows()
    plain, seeded = [], []
    for i, (subject, sender, body) in enumerate(corpus_messages(limit)):
        plain.append(_message(i, subject, sender, body))
        if i % 5 == 0:
            row = rows[rng.randrange(len(rows))]
            lines = body.split("\n")
            at = rng.randrange(len(lines) + 1)
            text = "\n".join([*lines[:at], row["text"], *lines[at:]])
            seeded.append(_message(i, subject, sender, text[: SIZE + len(row["text"])]))
    return plain, seeded


def _paired(ours: Callable[[], object], base: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median CPU seconds of ``ours`` and of ``base``, run in alternating rounds.

    CPU time of this process (``time.process_time``), not wall time: on a machine shared
    with other work, time spent waiting for a core is not redaction's cost. Alternating
    puts a noisy moment into one round of both sides, not into the whole of one side."""
    ours()  # warm: wordlists, caches, compiled patterns
    base()
    a, b = [], []
    for _ in range(rounds):
        t0 = time.process_time()
        ours()
        t1 = time.process_time()
        base()
        t2 = time.process_time()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return statistics.median(a), statistics.median(b)


def measure(quick: bool = False, redact: Callable | None = None) -> dict:
    """ms per message of ``redact`` (default: normalizers.redact.redact) and of the baseline."""
    if redact is None:
        from normalizers.redact import redact
    plain, seeded = build(150 if quick else None)
    rounds = 3 if quick else 7
    mix = plain + seeded

    def fields(msgs: list) -> list[str]:
        return [t for m in msgs for t in (m.text, m.full_text, m.subject, m.sender.name, m.sender.address, m.thread_key, m.external_id) if t]

    result: dict = {"messages": len(mix), "n_plain": len(plain), "n_seeded": len(seeded),
                    "mean_chars": round(statistics.mean(len(m.text) for m in mix))}
    for name, msgs in (("mix", mix), ("plain", plain), ("seeded", seeded)):
        texts = fields(msgs)
        ours, base = _paired(lambda msgs=msgs: [redact(m) for m in msgs], lambda texts=texts: [_WORD.findall(t) for t in texts], rounds)
        result[name] = {"ms": ours * 1000 / len(msgs), "baseline_ms": base * 1000 / len(msgs)}
    return result


def rows(quick: bool = False) -> list[dict]:
    r = measure(quick)
    out = []
    for name, label in (("mix", f"all {r['messages']}"), ("plain", f"the {r['n_plain']} corpus pieces"),
                        ("seeded", f"the {r['n_seeded']} with a secret or near miss")):
        ms, base = r[name]["ms"], r[name]["baseline_ms"]
        out.append({
            "id": "R1", "what": f"redact(msg) CPU per 2 KB message ({label})",
            "value": f"{ms:.3f} ms", "baseline": f"one \\w+ regex pass {base:.3f} ms", "ratio": ms / base,
            "goal": f"<= {GOAL_MS} ms" if name == "mix" else "— (reported)", "ok": ms <= GOAL_MS if name == "mix" else None,
        })
    return out


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    fn = None
    if "--reference" in sys.argv:  # the implementation before #22.5, frozen in tests/
        sys.path.insert(0, str(REPO))
        from tests.normalizers.redact_reference import redact as fn
    print(json.dumps(measure(quick, fn), indent=2))
