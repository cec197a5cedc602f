"""Helpers for the fault-injection suite."""

from __future__ import annotations

import json
import os

from hub import signing

SECRET = "faults-secret"
FULL = os.environ.get("OMNIHUB_FULL_FAULTS") == "1"


def size(default: int, full: int) -> int:
    """The default (fast) size, or the issue's full size under OMNIHUB_FULL_FAULTS=1."""
    return full if FULL else default


def api_body(i: int | str, *, sender: str = "alice", text: str | None = None, thread: str | None = None, sent_at: str | None = None) -> bytes:
    payload = {"id": f"m{i}", "from": {"id": sender, "name": sender.title()}, "text": text or f"message {i}"}
    if thread:
        payload["thread"] = thread
    if sent_at:
        payload["sent_at"] = sent_at
    return json.dumps(payload).encode()


def post(client, body: bytes, connector: str = "web", secret: str = SECRET):
    headers = {"Content-Type": "application/json", **signing.sign(secret, body)}
    return client.post(f"/webhooks/{connector}/messages", data=body, headers=headers)
