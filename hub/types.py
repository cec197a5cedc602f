"""The small, plain types adapters are handed and return.

Channel adapters and helpdesk backends import these (and ``hub.errors`` and the
normalized model) and nothing else of the hub: no database, no queue, no Flask.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticUndefined

from normalizers.model import Participant

T = TypeVar("T")


class Registry(MutableMapping[str, type[T]], Generic[T]):
    """Connector kind -> adapter class, declared as dotted paths (``"channels.x:XChannel"``)
    and imported on first lookup: a process imports a channel's SDK only when it looks that
    kind up (a connector of that kind exists and is used), never because the package was
    imported. Iterating, ``len`` and ``in`` import nothing; ``[kind]``, ``get``, ``values``
    and ``items`` import what they return. Assigning a class (tests, plugins) or a dotted
    path registers a kind explicitly.
    """

    def __init__(self, what: str, paths: Mapping[str, str]) -> None:
        self.what = what
        self._entries: dict[str, str | type[T]] = dict(paths)

    def path(self, kind: str) -> str:
        """The dotted path ``module:Class`` of a kind (without importing it)."""
        entry = self._entries[kind]
        return entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"

    def loaded(self) -> set[str]:
        """The kinds whose classes this process has imported."""
        return {k for k, v in self._entries.items() if not isinstance(v, str)}

    def __getitem__(self, kind: str) -> type[T]:
        entry = self._entries[kind]
        if not isinstance(entry, str):
            return entry
        module, _, name = entry.partition(":")
        cls = getattr(importlib.import_module(module), name)
        if getattr(cls, "kind", None) != kind:
            raise TypeError(f"{self.what} registry: {entry} has kind {getattr(cls, 'kind', None)!r}, registered as {kind!r}")
        self._entries[kind] = cls
        return cls

    def __setitem__(self, kind: str, value: str | type[T]) -> None:
        self._entries[kind] = value

    def __delitem__(self, kind: str) -> None:
        del self._entries[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {sorted(self._entries)})"


def origin(what: str = "url") -> dict[str, str]:
    """Schema marker for a key that decides where requests go: "url" (a URL), "host" (a host
    name), "part" (a port, TLS mode or sub-domain that also changes the destination)."""
    return {"x-origin": what}


#: a DNS label: the sub-domain of a hosted helpdesk (acme → acme.zendesk.com)
SUBDOMAIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"

#: the sections of a connector form, in the order the admin console shows them
SECTIONS = ("credentials", "addresses", "behaviour", "advanced")


def setting(default: Any = PydanticUndefined, *, title: str, help: str, example: Any = None, section: str | None = None,
            origin_of: str | None = None, needed_for: str | None = None, channels_only: bool = False, **kw: Any) -> Any:
    """A connector key as the admin console and the documentation show it: a human
    ``title``, ``help`` text (what it is, where to find it), an ``example``, and the form
    ``section`` (one of SECTIONS; default: credentials for secrets, addresses for keys with
    an ``origin_of``, behaviour otherwise). ``origin_of``: see ``origin``. ``needed_for``:
    what does not work without an optional key ("webhooks", "agent replies"), shown next to
    its label."""
    extra: dict[str, Any] = dict(kw.pop("json_schema_extra", None) or {})
    if section is not None:
        if section not in SECTIONS:
            raise ValueError(f"section must be one of {SECTIONS}")
        extra["section"] = section
    if origin_of:
        extra.update(origin(origin_of))
    if needed_for:
        extra["needed_for"] = needed_for
    if channels_only:  # a key of the shared base that only channel connectors use
        extra["channels_only"] = True
    return Field(default, title=title, description=help, examples=[example] if example is not None else None,
                 json_schema_extra=extra or None, **kw)


def section_of(name: str, prop: Mapping[str, Any], secret: bool) -> str:
    """The form section of a key from its JSON-schema property (see ``key``)."""
    if prop.get("section"):
        return str(prop["section"])
    if secret:
        return "credentials"
    return "addresses" if prop.get("x-origin") in ("url", "host") else "behaviour"


class AdapterConfig(BaseModel):
    """Base of every connector config schema. Unknown keys are refused (typos surface).

    Every key is declared with ``setting(...)``: a title, help text and, where it helps, an
    example and a section (tests/contract checks that no key lacks them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    helpdesk: str | None = setting(
        None, title="Helpdesk connector", example="zendesk", section="behaviour", channels_only=True,
        help="Name of the helpdesk connector this channel's conversations go to; empty: OMNIHUB_DEFAULT_HELPDESK "
             "(the built-in inbox).")

    faq_bot: bool = setting(
        False, title="Answer FAQs automatically", section="behaviour", channels_only=True,
        help="Answer questions that match the FAQ knowledge base with high confidence. Security matters, "
             "low confidence and \"I want a human\" always go to an agent.")

    auto_ack: bool = setting(
        False, title="Acknowledge new conversations", section="behaviour", channels_only=True,
        help="Send the customer an automatic acknowledgement of a new conversation, in their language "
             "(never to robots, no-reply senders or opted-out numbers).")

    @model_validator(mode="before")
    @classmethod
    def _empty_secrets(cls, data: Any) -> Any:
        """An empty secret is no secret: refused for a required key (a webhook secret of ""
        would let anyone sign), dropped for an optional one (the feature it enables stays off,
        and says so), instead of being stored and failing later with a 403 nobody sees."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name in cls.secret_fields():
            value = out.get(name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(text, str) and not text.strip():
                if cls.model_fields[name].is_required():
                    raise ValueError(f"{name} is empty: paste the value (or, from a file, check that its ${{VAR}} is set)")
                out[name] = None
        return out

    @classmethod
    def origin_fields(cls) -> dict[str, str]:
        """Keys that decide where requests (and so the stored secrets) go, declared in the
        schema with ``Field(json_schema_extra=origin("url"|"host"|"part"))``: "url" and "host"
        keys pass the outbound URL guard; changing any of them requires re-entering secrets."""
        out = {}
        for name, f in cls.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if extra.get("x-origin"):
                out[name] = str(extra["x-origin"])
        return out

    @classmethod
    def secret_fields(cls) -> set[str]:
        out = set()
        for name, f in cls.model_fields.items():
            ann = f.annotation
            if ann is SecretStr or SecretStr in getattr(ann, "__args__", ()):
                out.add(name)
        return out



class CaseInsensitiveDict(dict):
    """Header mapping with case-insensitive ``get``/``[]`` (keys stored lower-case)."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        super().__init__({k.lower(): v for k, v in (data or {}).items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass(frozen=True)
class WebhookRequest:
    """An incoming provider request, as the provider addressed it.

    ``url`` is rebuilt from OMNIHUB_PUBLIC_URL + path + query string, so signatures that
    cover the URL (Twilio) verify behind proxies and on non-default ports.
    """

    method: str
    url: str
    path: str
    headers: CaseInsensitiveDict
    body: bytes
    form: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str], ...] = ()
    received_at: datetime | None = None

    def form_dict(self) -> dict[str, str]:
        """Form fields, first value wins."""
        out: dict[str, str] = {}
        for k, v in self.form:
            out.setdefault(k, v)
        return out

    def form_multi(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.form:
            out.setdefault(k, []).append(v)
        return out


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawEvent:
    """One provider event to journal, exactly as received.

    ``external_id`` is the provider's id (idempotency key, unique per connector).
    """

    external_id: str
    hook: str
    payload: bytes
    content_type: str = "application/json"
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    max_attachment_bytes: int = 25 * 1024 * 1024
    max_body_bytes: int = 10 * 1024 * 1024


class StateStore(Protocol):
    """Small persistent key/value state for one connector (poll cursors, caches)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class MemoryState(dict):
    """A StateStore kept in memory (tests, one-shot checks)."""

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.pop(key, None)


@dataclass
class ConnectorContext:
    """What an adapter instance knows about its connector."""

    name: str
    kind: str
    config: AdapterConfig  # the adapter's validated pydantic Config, secrets as SecretStr
    public_url: str = "http://127.0.0.1:8000"
    limits: Limits = field(default_factory=Limits)
    state: StateStore = field(default_factory=MemoryState)
    #: like ``state``, encrypted at rest (tokens an adapter obtains itself, e.g. OAuth refresh tokens)
    vault: StateStore = field(default_factory=MemoryState)
    log: Any = None  # a structlog logger bound with the connector name

    def webhook_url(self, hook: str) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/{self.name}/{hook}"


class PollSink(Protocol):
    """Where a poller hands events: journaled and committed before it returns."""

    def record(self, events: list[RawEvent]) -> list[int]: ...


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobRef:
    """A stored attachment handed to adapters for sending or uploading."""

    filename: str
    content_type: str
    size: int
    sha256: str
    loader: Callable[[], bytes] = field(repr=False, compare=False, default=lambda: b"")

    def read(self) -> bytes:
        return self.loader()


@dataclass(frozen=True)
class OutboundReply:
    """An agent's (or the system's) reply to send out of the customer's channel."""

    id: int
    conversation_id: int
    connector: str
    to: Participant
    thread_key: str
    text: str
    html: str = ""
    subject: str = ""
    author_name: str = ""
    attachments: tuple[BlobRef, ...] = ()
    in_reply_to: str | None = None  # provider id of the customer's latest message
    references: tuple[str, ...] = ()
    last_inbound_at: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"thread": True}
    conversation_extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    external_id: str
    state: str = "sent"  # sent | queued | delivered
    detail: Mapping[str, Any] = field(default_factory=dict)
    parts: tuple[str, ...] = ()  # extra provider ids when a reply was split


@dataclass(frozen=True)
class ContactInfo:
    id: int
    name: str
    email: str | None
    identities: tuple[Participant, ...] = ()


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    subject: str
    medium: str  # how the customer wrote (sms, email, …); the connector's name is ``connector``
    connector: str
    status: str
    priority: str
    category: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    entities: tuple[Mapping[str, Any], ...] = ()
    sla: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PushItem:
    """One message to push to a helpdesk; ``ticket_ref`` is set once a ticket exists."""

    delivery_id: int
    conversation: ConversationInfo
    contact: ContactInfo
    message_id: int
    external_id: str
    direction: str
    kind: str
    sender: Participant
    sent_at: datetime
    subject: str
    text: str  # redacted text only
    html: str
    attachments: tuple[BlobRef, ...] = ()
    ticket_ref: str | None = None
    is_first: bool = False


@dataclass(frozen=True)
class PushResult:
    ticket_ref: str
    comment_ref: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentReply:
    """A reply (or status change) written by an agent in a helpdesk."""

    external_id: str  # the helpdesk's comment/article id: idempotency key
    ticket_ref: str
    text: str = ""
    html: str = ""
    author_name: str = ""
    internal: bool = False
    status: str | None = None  # mirrored conversation status (resolved, closed, open)
    attachments: tuple[Any, ...] = ()


StopEvent = threading.Event
