"""The channel-neutral normalized message (DESIGN.md section 2).

Every channel's raw event becomes one or more ``NormalizedMessage``. The model is
frozen: pipeline steps return a changed copy with ``dataclasses.replace``.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

Direction = Literal["inbound", "outbound"]
Kind = Literal["message", "voicemail", "missed_call", "edit", "delete", "status"]
KINDS: tuple[str, ...] = ("message", "voicemail", "missed_call", "edit", "delete", "status")


@dataclass(frozen=True, slots=True)
class Participant:
    """One side of a message: channel + normalized address + display name.

    Addresses are normalized per channel: E.164 phone (``+15551234567``), ``whatsapp:+1555…``,
    lower-cased email, Slack user id, X user id, or ``<connector>:<id>`` for the api channel.
    ``verified_email`` is set only when the provider vouches for it (e.g. a Slack profile):
    identities with the same verified email merge into one contact.
    """

    channel: str
    address: str
    name: str = ""
    verified_email: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message.

    Exactly one of ``content`` (bytes in hand), ``url`` (to be fetched by the adapter)
    or ``placeholder_reason`` (kept as a visible placeholder, e.g. over the size limit)
    describes where the bytes are. ``storage_key`` is set once the hub has stored them.
    """

    filename: str
    content_type: str = "application/octet-stream"
    size: int | None = None
    sha256: str | None = None
    content: bytes | None = field(default=None, repr=False)
    url: str | None = None
    content_id: str | None = None
    inline: bool = False
    storage_key: str | None = None
    placeholder_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Redaction:
    """A secret removed from the text: its kind and the marker that replaced it."""

    kind: str
    marker: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Sealed:
    """A value kept out of the text because it may be a secret (a 64-hex string that is a
    transaction hash as likely as a private key): the text shows ``[sealed: hex string #ref]``.

    ``value`` is the clear value while the pipeline runs; the ingest worker replaces it by
    its ciphertext (``sealed=True``) before anything is stored. ``to_dict`` never carries
    a clear value.
    """

    ref: int
    kind: str  # "hex" | "base58"
    value: str = field(repr=False)
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class Entity:
    """Something worth surfacing to an agent: tx hash, wallet address, order id, amount."""

    kind: str
    value: str
    chain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Triage:
    """Category, priority and flags computed by the triage step."""

    category: str = "general_question"
    priority: str = "normal"  # low | normal | high | urgent
    security: bool = False
    confidence: float = 0.0
    wants_human: bool = False
    command: str | None = None  # "stop" | "start" | "help" for an SMS-style keyword message


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    channel: str
    connector: str
    external_id: str
    thread_key: str
    sender: Participant
    sent_at: datetime
    direction: Direction = "inbound"
    kind: Kind = "message"
    recipients: tuple[Participant, ...] = ()
    subject: str = ""
    text: str = ""
    full_text: str = ""
    html: str = ""
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    language: str | None = None
    auto_generated: bool = False
    redactions: tuple[Redaction, ...] = ()
    sealed: tuple[Sealed, ...] = ()
    entities: tuple[Entity, ...] = ()
    triage: Triage | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind {self.kind!r}")
        if not self.external_id:
            raise ValueError("external_id is required")
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be timezone-aware")
        if self.sent_at.utcoffset() != timezone.utc.utcoffset(None):
            object.__setattr__(self, "sent_at", self.sent_at.astimezone(timezone.utc))

    def replace(self, **changes: Any) -> NormalizedMessage:
        return dataclasses.replace(self, **changes)

    def to_dict(self, *, with_content: bool = False) -> dict[str, Any]:
        """JSON-ready form. Attachment bytes are left out unless ``with_content``."""
        data = _to_jsonable(self)
        if not with_content:
            for att in data["attachments"]:
                att.pop("content", None)
        data["sealed"] = [s for s in data.get("sealed", []) if s.get("sealed")]  # ciphertext only
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizedMessage:
        d = dict(data)
        d["sender"] = Participant(**d["sender"])
        d["recipients"] = tuple(Participant(**p) for p in d.get("recipients", ()))
        d["attachments"] = tuple(
            Attachment(**{**a, "content": base64.b64decode(a["content"]) if a.get("content") else None})
            for a in d.get("attachments", ())
        )
        d["redactions"] = tuple(Redaction(**r) for r in d.get("redactions", ()))
        d["entities"] = tuple(Entity(**e) for e in d.get("entities", ()))
        d["sealed"] = tuple(Sealed(**x) for x in d.get("sealed", ()))
        d["triage"] = Triage(**d["triage"]) if d.get("triage") else None
        d["references"] = tuple(d.get("references", ()))
        d["sent_at"] = datetime.fromisoformat(d["sent_at"])
        return cls(**d)


def _to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
