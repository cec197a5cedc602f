"""Real mail for P2R: the shared corpus's emails (../shared/corpus/email, listed in its
CATALOG.tsv with their sources), journaled exactly as the IMAP poller journals them: raw
RFC 822 bytes, ``hook="imap"``, ``content_type="message/rfc822"``.

Copies beyond the corpus's size get a new Message-ID header (the only bytes changed), so each
is a distinct message and not deduplicated away; everything else (MIME structure, charsets,
attachments, quoted history, signatures, bounce reports) is the real message's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: emails larger than this are left out (a few megabyte newsletters would dominate the run)
MAX_BYTES = 512 * 1024


def _corpus() -> Path:
    env = os.environ.get("OMNIHUB_CORPUS")
    if env:
        return Path(env)
    for candidate in (REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")):
        if candidate.exists():
            return candidate
    return REPO.parent / "shared" / "corpus"


CORPUS = _corpus() / "email"


def load() -> list[tuple[str, bytes]]:
    """(catalog path, raw bytes) of every RFC 822 email of the corpus up to ``MAX_BYTES``."""
    catalog = CORPUS / "CATALOG.tsv"
    if not catalog.exists():
        return []
    out = []
    for line in catalog.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 3 or cols[2].startswith("OUTLOOK"):  # .msg files are not RFC 822
            continue
        path = CORPUS / cols[0]
        if path.is_file() and 0 < path.stat().st_size <= MAX_BYTES:
            out.append((cols[0], path.read_bytes()))
    return out


def describe(corpus: list[tuple[str, bytes]]) -> str:
    sizes = sorted(len(raw) for _, raw in corpus)
    return f"median {sizes[len(sizes) // 2] / 1024:.1f} KB"


_MESSAGE_ID = re.compile(rb"^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*\r?\n", re.I | re.M)


def _with_message_id(raw: bytes, mid: bytes) -> bytes:
    header = b"Message-ID: " + mid + b"\r\n"
    if _MESSAGE_ID.search(raw):
        return _MESSAGE_ID.sub(lambda _m: header, raw, count=1)
    return header + raw


def events(corpus: list[tuple[str, bytes]], m: int, salt: str = "") -> list[Any]:
    """``m`` journal events cycling through the corpus, each a distinct message (``salt``: a
    second set distinct from the first: every copy then gets a new Message-ID)."""
    from hub.types import RawEvent
    from normalizers.email import external_id_for

    out = []
    for i in range(m):
        raw = corpus[i % len(corpus)][1]
        if i >= len(corpus) or salt:
            raw = _with_message_id(raw, f"<p2r-{salt}{i}@bench.omnihub.example>".encode())
        out.append(RawEvent(external_id=external_id_for(raw), hook="imap", payload=raw, content_type="message/rfc822",
                            meta={"folder": "INBOX", "uid": i + 1, "uidvalidity": 1, "internaldate": None}))
    return out
