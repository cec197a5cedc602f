"""The channel-neutral normalized message: the contract between adapters and the core.

Every channel's raw event becomes one or more ``NormalizedMessage``. The model is
frozen: pipeline steps return a changed copy with ``dataclasses.replace``.

Everything the core acts on is a typed field here (or of a small typed sub-object:
``DeliveryStatus``, ``Bounce``, ``IdentityUpdate``, ``ConversationToken``). ``extra`` is
for adapter-private data only: the core stores it with the message and never reads a key
of it (tests/contract/test_adapters.py scans the core for that).
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal


class Medium(StrEnum):
    """How a customer reaches us — the *medium* of a message or identity — as opposed to the
    connector *kind* that carries it (``twilio`` carries sms, whatsapp and voice; ``api``
    carries the chat widget and integrations). One phone number is one ``sms`` identity for
    texts and calls alike."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"
    VOICE = "voice"
    EMAIL = "email"
    SLACK = "slack"
    X = "x"
    TELEGRAM = "telegram"
    DISCORD = "discord"
    API = "api"


Direction = Literal["inbound", "outbound"]
Kind = Literal["message", "voicemail", "missed_call", "edit", "delete", "status"]
KINDS: tuple[str, ...] = ("message", "voicemail", "missed_call", "edit", "delete", "status")


@dataclass(frozen=True, slots=True)
class Participant:
    """One side of a message: medium + normalized address + display name.

    Addresses are normalized per medium: E.164 phone (``+15551234567``), ``whatsapp:+1555…``,
    lower-cased email, Slack user id, X user id, or ``<connector>:<id>`` for the api medium.
    ``verified_email`` is set only when the provider vouches for it (e.g. a Slack profile):
    identities with the same verified email merge into one contact. ``phone`` is the E.164
    number of a participant reached by phone (SMS, WhatsApp, voice), set by the normalizer,
    so nothing downstream needs a list of phone media.
    """

    medium: str  # a Medium value
    address: str
    name: str = ""
    verified_email: str | None = None
    #: an email address the customer gave (e.g. in the chat widget), not vouched for: it
    #: fills a new contact's email but never merges identities
    email: str | None = None
    phone: str | None = None
    #: the handle on the platform (Telegram @username, Discord username), shown to agents
    #: next to the display name; the address stays the platform's stable numeric id
    username: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def channel(self) -> str:
        """Deprecated name of ``medium`` (kept for older callers)."""
        return self.medium

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Participant:
        d = dict(data)
        if "channel" in d:  # serialized before ``medium`` (journal, queue)
            d.setdefault("medium", d.pop("channel"))
        return cls(**d)


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
class DeliveryStatus:
    """A provider's report on one of our replies (``kind="status"``; ``in_reply_to`` names
    the reply's provider id). ``status`` is a reply state of hub/states.py: queued, sent,
    delivered, read, failed or undelivered."""

    status: str
    error_code: str | int | None = None
    error_message: str = ""  # in plain words, for the agent
    #: why sending the same reply again cannot deliver it (a closed messaging window, an
    #: unreachable number) and what to do instead; set only on a failure. The inbox then
    #: offers no Retry and shows this.
    permanent: str = ""
    #: a read / delivery watermark (Messenger): the report covers every reply of the thread
    #: sent at or before the message's ``sent_at``, not one named reply (``in_reply_to`` empty)
    watermark: bool = False


@dataclass(frozen=True, slots=True)
class Reaction:
    """The sender reacted to an earlier message (``in_reply_to`` names it by its provider id):
    an emoji, or ``""`` when the reaction was taken back. Shown on that message (a customer
    message or one of our replies), one reaction per reacting person; a reaction to a message
    the hub does not know is stored as the message's own text (a visible placeholder)."""

    emoji: str = ""


@dataclass(frozen=True, slots=True)
class Referral:
    """Where the customer came from: an ad (click-to-WhatsApp, click-to-Messenger), an
    m.me / ig.me link with a ref, or an Instagram story they replied to or mentioned us in.
    Shown with the message; ``label`` is the line an agent reads."""

    source: str  # "ad", "post", "link", "story_reply", "story_mention", or the platform's word
    url: str = ""
    headline: str = ""
    body: str = ""
    ref: str = ""
    ad_id: str = ""

    @property
    def label(self) -> str:
        what = {"ad": "an ad", "post": "a post", "link": "a link", "story_reply": "a reply to your story",
                "story_mention": "a mention of you in their story"}.get(self.source, self.source or "a referral")
        bits = [f"\u201c{self.headline[:200]}\u201d" if self.headline else "", self.body[:200], f"ref {self.ref[:200]}" if self.ref else "",
                f"ad {self.ad_id[:64]}" if self.ad_id and not self.headline else "", self.url[:500]]
        return f"Came from {what}" + (": " + " \u2014 ".join(b for b in bits if b) if any(bits) else "")


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery failure report (an email bounce) naming one of our replies: by the
    Message-ID it quotes (``message_id``, then any of ``candidates``) or by our
    conversation token (``token``). A delayed-delivery notice is ``delayed=True`` and never
    fails a reply."""

    message_id: str | None = None
    candidates: tuple[str, ...] = ()
    token: str | None = None
    reason: str = ""
    delayed: bool = False

    @property
    def names_a_message(self) -> bool:
        return not self.delayed and bool(self.message_id or self.candidates or self.token)


@dataclass(frozen=True, slots=True)
class IdentityUpdate:
    """A change the channel reports about the sender (Twilio: STOP / START opt-out)."""

    opted_out: bool | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConversationToken:
    """Our conversation token found in an inbound message (email: the plus-address or the
    subject tag). ``source`` is "address", "header" or "subject"; a token found only in
    a subject must also match the conversation's subject."""

    token: str
    source: str = "address"


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    medium: str  # a Medium value: how the customer reached us (the connector's kind is not here)
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
    #: the language detector's confidence in ``language`` (0..1; None: not detected)
    language_confidence: float | None = None
    auto_generated: bool = False
    #: why the message is automatic (an auto-reply, a bounce, a list, a no-reply sender...)
    auto_reason: str | None = None
    redactions: tuple[Redaction, ...] = ()
    sealed: tuple[Sealed, ...] = ()
    entities: tuple[Entity, ...] = ()
    triage: Triage | None = None
    #: kind "status": the provider's report on one of our replies
    status: DeliveryStatus | None = None
    bounce: Bounce | None = None
    identity_update: IdentityUpdate | None = None
    conversation_token: ConversationToken | None = None
    #: a reaction to the message ``in_reply_to`` names (kept on that message, not stored as one)
    reaction: Reaction | None = None
    #: the ad, link or story that brought the customer here (shown with the message)
    referral: Referral | None = None
    #: adapter-private data, stored with the message; the core never reads its keys
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown message kind {self.kind!r}")
        if not self.external_id:
            raise ValueError("external_id is required")
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be timezone-aware")
        if self.sent_at.utcoffset() != UTC.utcoffset(None):
            object.__setattr__(self, "sent_at", self.sent_at.astimezone(UTC))

    @property
    def channel(self) -> str:
        """Deprecated name of ``medium`` (kept for older callers)."""
        return self.medium

    def replace(self, **changes: Any) -> NormalizedMessage:
        return dataclasses.replace(self, **changes)

    def to_dict(self, *, with_content: bool = False) -> dict[str, Any]:
        """JSON-ready form. Attachment bytes are left out unless ``with_content``."""
        data = _to_jsonable(self, skip=() if with_content else _NO_CONTENT)
        data["sealed"] = [s for s in data.get("sealed", []) if s.get("sealed")]  # ciphertext only
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizedMessage:
        d = dict(data)
        if "channel" in d:  # serialized before ``medium`` (journal, queue)
            d.setdefault("medium", d.pop("channel"))
        d["sender"] = Participant.from_dict(d["sender"])
        d["recipients"] = tuple(Participant.from_dict(p) for p in d.get("recipients", ()))
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
        _lift_legacy_extra(d)
        d["status"] = DeliveryStatus(**d["status"]) if d.get("status") else None
        d["bounce"] = Bounce(**{**d["bounce"], "candidates": tuple(d["bounce"].get("candidates", ()))}) if d.get("bounce") else None
        d["identity_update"] = IdentityUpdate(**d["identity_update"]) if d.get("identity_update") else None
        d["conversation_token"] = ConversationToken(**d["conversation_token"]) if d.get("conversation_token") else None
        d["reaction"] = Reaction(**d["reaction"]) if d.get("reaction") else None
        d["referral"] = Referral(**d["referral"]) if d.get("referral") else None
        return cls(**d)


_LEGACY_KEYS = ("status", "error_code", "error_message", "bounce_for", "bounce_candidates", "bounce_token",
                "bounce_reason", "bounce_delayed", "identity_update", "conversation_token", "conversation_token_source")


def _lift_legacy_extra(d: dict[str, Any]) -> None:
    """Messages serialized before the typed fields existed kept them as ``extra`` keys: lift
    them into the typed fields, so a journaled or queued message of an older version is
    still understood."""
    extra = dict(d.get("extra") or {})
    if not any(k in extra for k in _LEGACY_KEYS):
        return
    if extra.get("status") and not d.get("status") and d.get("kind") == "status":
        d["status"] = {"status": extra.pop("status"), "error_code": extra.pop("error_code", None),
                       "error_message": extra.pop("error_message", "") or ""}
    if not d.get("bounce") and any(k in extra for k in ("bounce_for", "bounce_candidates", "bounce_token", "bounce_delayed")):
        d["bounce"] = {"message_id": extra.pop("bounce_for", None), "candidates": tuple(extra.pop("bounce_candidates", ()) or ()),
                       "token": extra.pop("bounce_token", None), "reason": extra.pop("bounce_reason", "") or "",
                       "delayed": bool(extra.pop("bounce_delayed", False))}
    if isinstance(extra.get("identity_update"), dict) and not d.get("identity_update"):
        upd = extra.pop("identity_update")
        d["identity_update"] = {"opted_out": upd.get("opted_out"), "reason": upd.get("reason") or ""}
    if extra.get("conversation_token") and not d.get("conversation_token"):
        d["conversation_token"] = {"token": str(extra.pop("conversation_token")),
                                   "source": extra.pop("conversation_token_source", None) or "address"}
    d["extra"] = extra


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
#: types returned as they are (exact types: a str enum or other subclass takes the long way);
#: most of a message's ~90 values are these, and they skip the look-ups below
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _to_jsonable(value: Any, skip: tuple[tuple[type, str], ...] = ()) -> Any:
    cls = type(value)
    if cls in _SCALARS:
        return value
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _to_jsonable(getattr(value, name), skip) for name in names if not skip or (cls, name) not in skip}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, skip) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v, skip) for k, v in value.items()}
    return value


#: (class, field) pairs ``to_dict()`` without content leaves out: an attachment's bytes (not
#: base64-encoded only to be dropped)
_NO_CONTENT: tuple[tuple[type, str], ...] = ((Attachment, "content"),)


def utcnow() -> datetime:
    return datetime.now(UTC)
