"""omnihub's own webhook signature (api channel in, webhook backend and callbacks out).

``X-Omnihub-Timestamp: <unix seconds>`` and ``X-Omnihub-Signature: sha256=<hex>`` where
hex is HMAC-SHA256 of ``"<timestamp>.<raw body>"`` keyed with the connector's secret.
A pure function of body + headers + clock, constant-time compare, replay window.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime

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
    ts = int(signed_timestamp(ts_raw, now=clock(), window=window, header=TIMESTAMP_HEADER, who="omnihub signature"))
    expected = sign(secret, body, ts)[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected.encode(), sig.strip().encode()):
        raise SignatureInvalid("signature mismatch")


#: unix seconds as providers send them: ASCII digits only (no sign, space, "_", "nan", "1e9")
_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")
#: ISO 8601 with a time zone, as Zendesk sends it (2021-09-28T17:58:38Z)
_ISO_8601 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")


def signed_timestamp(
    raw: str | None,
    *,
    now: float,
    window: float,
    header: str,
    who: str,
    iso: bool = False,
) -> float:
    """The unix time of a signed timestamp header, or SignatureInvalid. The one parser of
    every signed timestamp (omnihub's own, Slack, Zendesk, ...): fails closed.

    Only plain unix seconds (and, with ``iso``, ISO 8601 with a time zone) are accepted;
    anything else (``nan``, ``inf``, text, signs, spaces, huge numbers) is refused, never
    treated as "no timestamp", so a request can never step around the replay window.
    """
    value = raw or ""
    if not value:
        raise SignatureInvalid(f"{who}: missing {header}")
    ts: float | None = None
    if _UNIX_SECONDS.fullmatch(value):
        ts = float(int(value))
    elif iso and _ISO_8601.fullmatch(value):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            ts = None
    if ts is None or not math.isfinite(ts):
        raise SignatureInvalid(f"{who}: {header} is not a valid timestamp")
    if not math.isfinite(now) or abs(now - ts) > window:
        raise SignatureInvalid(f"{who}: stale request: {header} is outside the {int(window)}-second replay window")
    return ts
