"""api channel: the JSON body of POST /webhooks/<connector>/messages -> NormalizedMessage."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from hub.errors import PayloadInvalid
from normalizers.model import Attachment, Medium, NormalizedMessage, Participant

MEDIUM = Medium.API


def _require(obj: dict, key: str, where: str = "") -> Any:
    if key not in obj or obj[key] in (None, ""):
        raise PayloadInvalid(f"missing field {where}{key}")
    return obj[key]


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise PayloadInvalid(f"field {name} must be a string")
    return value


def parse_body(body: bytes) -> dict[str, Any]:
    """Validate the documented request body; raise PayloadInvalid naming the field."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadInvalid(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadInvalid("body must be a JSON object")
    _string(_require(data, "id"), "id")
    sender = _require(data, "from")
    if not isinstance(sender, dict):
        raise PayloadInvalid("field from must be an object")
    _string(_require(sender, "id", "from."), "from.id")
    for opt in ("name", "email"):
        if sender.get(opt) is not None:
            _string(sender[opt], f"from.{opt}")
    if "text" not in data or not isinstance(data["text"], str):
        raise PayloadInvalid("missing field text" if "text" not in data else "field text must be a string")
    if data.get("sent_at") is not None:
        _parse_time(data["sent_at"])
    if data.get("thread") is not None:
        _string(data["thread"], "thread")
    atts = data.get("attachments") or []
    if not isinstance(atts, list):
        raise PayloadInvalid("field attachments must be a list")
    for i, att in enumerate(atts):
        if not isinstance(att, dict):
            raise PayloadInvalid(f"field attachments[{i}] must be an object")
        _string(_require(att, "filename", f"attachments[{i}]."), f"attachments[{i}].filename")
        if not att.get("url") and not att.get("data_base64"):
            raise PayloadInvalid(f"missing field attachments[{i}].url or attachments[{i}].data_base64")
    return data


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PayloadInvalid("field sent_at must be an ISO-8601 string")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadInvalid(f"field sent_at is not ISO-8601: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def normalize(body: bytes, *, connector: str, received_at: datetime | None = None) -> list[NormalizedMessage]:
    data = parse_body(body)
    sender = data["from"]
    email = (sender.get("email") or "").strip().lower() or None
    participant = Participant(
        medium=MEDIUM,
        address=f"{connector}:{sender['id']}",
        name=(sender.get("name") or "").strip(),
        email=email,
    )
    attachments = []
    for att in data.get("attachments") or []:
        ctype = att.get("content_type") or "application/octet-stream"
        if att.get("data_base64"):
            try:
                content = base64.b64decode(att["data_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise PayloadInvalid(f"attachment {att['filename']!r}: data_base64 is not valid base64") from None
            attachments.append(
                Attachment(
                    filename=att["filename"],
                    content_type=ctype,
                    size=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                    content=content,
                )
            )
        else:
            attachments.append(Attachment(filename=att["filename"], content_type=ctype, url=att["url"]))
    sent_at = _parse_time(data["sent_at"]) if data.get("sent_at") else (received_at or datetime.now(UTC))
    thread = data.get("thread") or f"contact:{sender['id']}"
    return [
        NormalizedMessage(
            medium=MEDIUM,
            connector=connector,
            external_id=data["id"],
            thread_key=f"{connector}:{thread}",
            sender=participant,
            sent_at=sent_at,
            text=data["text"],
            full_text=data["text"],
            attachments=tuple(attachments),
            extra={k: v for k, v in data.items() if k not in {"id", "from", "text", "sent_at", "attachments"}},
        )
    ]
