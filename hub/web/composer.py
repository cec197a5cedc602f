"""What the composer needs to know about a channel: text limits, SMS segments, reply windows.

Capabilities are data on the adapter (the core never branches on a connector kind): the class
attributes ``max_text_length`` and ``splits_long_text``, and, for adapters whose limits
depend on the conversation (one Twilio connector serves SMS and WhatsApp; X public replies
vs DMs), an optional method ``composer_limits(medium, thread_key) -> dict`` returning any of
``max_length``, ``splits`` (longer text is sent as several messages), ``segments`` ("sms":
count GSM-7/UCS-2 segments) and ``window`` (a timedelta after the customer's last message,
e.g. WhatsApp's 24 hours).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml


def limits(adapter: Any, medium: str | None, thread_key: str, last_inbound_at: datetime | None) -> dict[str, Any]:
    """``adapter``: an adapter instance (or, when the connector cannot be built, its class)."""
    info: dict[str, Any] = {
        "max_length": getattr(adapter, "max_text_length", None),
        "splits": bool(getattr(adapter, "splits_long_text", False)),
        "segments": None,
    }
    if not isinstance(adapter, type):
        info.update(adapter.composer_limits(medium or "", thread_key or "") or {})
    window = info.pop("window", None)
    if isinstance(window, (int, float)):
        window = timedelta(seconds=window)
    if window:
        closes = (last_inbound_at + window) if last_inbound_at else None
        info["window_hours"] = round(window.total_seconds() / 3600, 1)
        info["window_closes_at"] = closes.isoformat() if closes else None
        info["window_open"] = bool(closes and closes > datetime.now(UTC))
    return info


def canned_responses(var_dir: Path) -> list[dict[str, str]]:
    """Canned responses: VAR_DIR/canned_responses.yaml if present, else the packaged examples."""
    import config

    for path in (Path(var_dir) / "canned_responses.yaml", Path(config.__file__).parent / "canned_responses.yaml"):
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            return [{"title": str(d["title"]), "text": str(d["text"])} for d in data if isinstance(d, dict) and d.get("title") and d.get("text")]
    return []
