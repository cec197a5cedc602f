"""What the composer needs to know about a channel: text limits, SMS segments, reply windows.

Capabilities are data on the adapter class (DESIGN.md: core never branches on a kind):
``max_text_length``, and optionally ``text_segments`` ("sms": count GSM-7/UCS-2 segments)
and ``reply_window`` (a timedelta after the customer's last message, e.g. WhatsApp's 24
hours). An adapter serving several identity channels may define
``composer_limits(channel) -> dict`` to override per channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from hub.connectors import adapter_class
from hub.errors import ConfigError


def limits(kind: str, channel: str | None, last_inbound_at: datetime | None) -> dict[str, Any]:
    try:
        cls = adapter_class(kind)
    except ConfigError:
        return {}
    info: dict[str, Any] = {
        "max_length": getattr(cls, "max_text_length", None),
        "segments": getattr(cls, "text_segments", None),
        "window": getattr(cls, "reply_window", None),
    }
    per_channel = getattr(cls, "composer_limits", None)
    if callable(per_channel):
        info.update(per_channel(channel) or {})
    window = info.pop("window", None)
    if isinstance(window, (int, float)):
        window = timedelta(seconds=window)
    if window:
        closes = (last_inbound_at + window) if last_inbound_at else None
        info["window_hours"] = round(window.total_seconds() / 3600, 1)
        info["window_closes_at"] = closes.isoformat() if closes else None
        info["window_open"] = bool(closes and closes > datetime.now(timezone.utc))
    return info


def canned_responses(var_dir: Path) -> list[dict[str, str]]:
    """Canned responses: VAR_DIR/canned_responses.yaml if present, else the packaged examples."""
    import config

    for path in (Path(var_dir) / "canned_responses.yaml", Path(config.__file__).parent / "canned_responses.yaml"):
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            return [{"title": str(d["title"]), "text": str(d["text"])} for d in data if isinstance(d, dict) and d.get("title") and d.get("text")]
    return []
