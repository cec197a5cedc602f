"""omnihub's own webhook signature (api channel in, webhook backend and callbacks out).

``X-Omnihub-Timestamp: <unix seconds>`` and ``X-Omnihub-Signature: sha256=<hex>`` where
hex is HMAC-SHA256 of ``"<timestamp>.<raw body>"`` keyed with the connector's secret.
A pure function of body + headers + clock, constant-time compare, replay window.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Callable, Mapping

from hub.errors import SignatureInvalid

TIMESTAMP_HEADER = "X-Omnihub-Timestamp"
SIGNATURE_HEADER = "X-Omnihub-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers that sign ``body``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"sha256={mac}"}


def verify(
    secret: str | None,
    body: bytes,
    headers: Mapping[str, str],
    *,
    window: int = 300,
    clock: Callable[[], float] = time.time,
) -> None:
    """Raise SignatureInvalid unless the headers sign ``body`` within the window."""
    if not secret:
        raise SignatureInvalid("connector has no secret configured")
    ts_raw = headers.get(TIMESTAMP_HEADER) or headers.get(TIMESTAMP_HEADER.lower())
    sig = headers.get(SIGNATURE_HEADER) or headers.get(SIGNATURE_HEADER.lower())
    if not ts_raw or not sig:
        raise SignatureInvalid("missing X-Omnihub-Timestamp or X-Omnihub-Signature")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise SignatureInvalid("X-Omnihub-Timestamp is not an integer") from None
    if abs(clock() - ts) > window:
        raise SignatureInvalid("timestamp outside the replay window")
    expected = sign(secret, body, ts)[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected.encode(), sig.strip().encode()):
        raise SignatureInvalid("signature mismatch")
