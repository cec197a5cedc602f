"""Equivalence check for normalizer speed work: the whole normalizer chain over every message
of the shared corpus, written as one canonical JSON line per message, so the output of two
revisions can be compared byte for byte.

The chain is what the ingest worker runs: the channel normalizer (email: every file under
``corpus/email``, any size, broken ones included; Slack Events API callbacks; X Account
Activity and v2 payloads), then ``pipeline.run`` inside a redaction context, then
``to_dict()``. Each message is run under three redaction contexts (none; the agent asked
for a transaction id; the conversation is about Ethereum), so every branch of the hash
classification is exercised. Besides ``to_dict()`` the line holds every field of the
message (sealed clear values and attachment bytes included, as sha256), serialized here
without the model's own code.

    python -m benchmarks.normalize_equivalence dump OUT.jsonl      # this tree's output
    python -m benchmarks.normalize_equivalence compare REV         # this tree against git REV

``compare`` dumps this tree and REV (a temporary ``git worktree`` of it, run with the same
interpreter) and prints the first differences; exit status 1 when any line differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: a fixed receive time, so a message without a usable Date has a stable sent_at
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


_NOT_MAIL = (".tsv", ".md", ".png", ".jpg", ".gif", ".wav", ".gitattributes", ".py", ".rb", ".json")


def _corpus() -> Path:
    from benchmarks.real_mail import _corpus as find

    return find()


def _plain(value: Any) -> Any:
    """Every field, independent of ``normalizers.model`` (bytes as their sha256)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__" + type(value).__name__: {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, tuple):
        return {"__tuple": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {"__dict": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return {"__" + type(value).__name__: repr(value)}


def _sources() -> Iterator[tuple[str, str, Any]]:
    """(name, kind, payload) of every corpus message."""
    corpus = _corpus()
    for path in sorted((corpus / "email").rglob("*")):
        if not path.is_file() or path.suffix.lower() in _NOT_MAIL or path.name.upper().startswith(("LICENSE", "MIT-LICENSE", "COPYING")):
            continue
        raw = path.read_bytes()
        yield str(path.relative_to(corpus)), "email", raw
        if path.suffix.lower() in (".txt", ".html"):
            # reply-parsing cases are bodies, not mail: also as the body of a minimal message
            ctype = b"text/html" if path.suffix.lower() == ".html" else b"text/plain"
            head = b"From: Customer <customer@example.com>\nTo: support@example.com\nSubject: Re: help\n"
            yield str(path.relative_to(corpus)) + "#body", "email", head + b"Content-Type: " + ctype + b"; charset=utf-8\n\n" + raw
    for path in sorted((corpus / "slack").rglob("*.json")):
        yield str(path.relative_to(corpus)), "slack", path.read_bytes()
    for path in sorted((corpus / "twitter").rglob("*.json")):
        yield str(path.relative_to(corpus)), "x", path.read_bytes()


def _normalize(kind: str, payload: bytes) -> list[Any]:
    if kind == "email":
        from normalizers import email as email_normalizer

        return email_normalizer.normalize(payload, connector="eq", received_at=RECEIVED, extra={"folder": "INBOX", "uid": 1})
    if kind == "slack":
        from normalizers import slack

        return slack.normalize(payload, connector="eq", received_at=RECEIVED)
    from normalizers import x

    body = json.loads(payload)
    out: list[Any] = []
    candidates = [body] + [v for v in (body.values() if isinstance(body, dict) else []) if isinstance(v, dict)]
    for cand in candidates:
        try:
            for _eid, env in x.split_activity(cand):
                out.extend(x.normalize(json.dumps(env).encode(), connector="eq"))
        except Exception:  # noqa: BLE001 - most recordings are not activity bodies
            pass
    return out


def dump(out_path: Path) -> int:
    from normalizers import pipeline, redact

    contexts = [
        redact.Context(id_key=b"eq-key"),
        redact.Context(asked_for_tx=True, id_key=b"eq-key"),
        redact.Context(chain="eth", id_key=b"eq-key"),
    ]
    n = 0
    with out_path.open("w", encoding="utf-8") as out:
        for name, kind, payload in _sources():
            try:
                msgs = _normalize(kind, payload)
            except Exception as exc:  # noqa: BLE001 - the reason is part of the output
                out.write(json.dumps({"source": name, "error": f"{exc.__class__.__name__}: {exc}"}, ensure_ascii=False) + "\n")
                continue
            for i, msg in enumerate(msgs):
                for c, ctx in enumerate(contexts):
                    try:
                        with redact.context(ctx):
                            done = pipeline.run(msg)
                        if "claimed_sent_at" in done.extra:  # the clock: sent_at is "now"
                            done = done.replace(sent_at=RECEIVED)
                        line = {"source": name, "i": i, "ctx": c, "to_dict": done.to_dict(), "with_content": done.to_dict(with_content=True),
                                "fields": _plain(done)}
                    except Exception as exc:  # noqa: BLE001
                        line = {"source": name, "i": i, "ctx": c, "error": f"{exc.__class__.__name__}: {exc}"}
                    out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                    n += 1
    return n


def compare(rev: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        wt = tmpd / "rev"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(wt), rev], check=True, capture_output=True)
        try:
            mine, theirs = tmpd / "mine.jsonl", tmpd / "theirs.jsonl"
            for tree, out in ((REPO, mine), (wt, theirs)):
                # this script (REV may not have it) with the tree's own packages first on the path
                env = {**os.environ, "PYTHONPATH": str(tree)}
                subprocess.run([sys.executable, str(Path(__file__).resolve()), "dump", str(out)], cwd=tree, env=env, check=True)
            a = mine.read_text(encoding="utf-8").splitlines()
            b = theirs.read_text(encoding="utf-8").splitlines()
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(wt)], check=False, capture_output=True)
    diffs = [i for i in range(max(len(a), len(b))) if i >= len(a) or i >= len(b) or a[i] != b[i]]
    print(f"{len(a)} lines here, {len(b)} at {rev}: {len(diffs)} differ")
    for i in diffs[:5]:
        print("here :", (a[i] if i < len(a) else "<none>")[:2000])
        print("there:", (b[i] if i < len(b) else "<none>")[:2000])
    return 1 if diffs else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        n = dump(Path(argv[1]))
        print(f"{n} normalized messages written to {argv[1]}", file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "compare":
        return compare(argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
