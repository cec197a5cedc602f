"""The channel adapter contract: its base class (docs/how-it-works.md, "Writing a channel adapter").

A channel adapter is one module (or package) in ``channels/``: a subclass of
``ChannelAdapter`` with capabilities as class attributes, a pydantic ``Config`` with
``SecretStr`` secrets, and the methods verify / parse / ack / normalize / poll / send /
check. One instance serves one connector (``ConnectorContext``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, ClassVar

from hub.errors import PayloadInvalid, SignatureInvalid
from hub.types import (
    AdapterConfig,
    CheckResult,
    ConnectorContext,
    OutboundReply,
    PollSink,
    RawEvent,
    SendResult,
    StopEvent,
    WebhookRequest,
    WebhookResponse,
)
from normalizers.model import Attachment, NormalizedMessage


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most limit characters, cut at a paragraph, line or word end when possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text.strip():
        parts.append(text)
    return [p for p in parts if p.strip()]


class ChannelAdapter:
    """Base class: declares capabilities; subclasses override what they support."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    Config: ClassVar[type[AdapterConfig]] = AdapterConfig
    #: webhook names served at /webhooks/<connector>/<hook>
    hooks: ClassVar[tuple[str, ...]] = ()
    #: hooks answered to GET as well as POST (e.g. X's CRC check)
    get_hooks: ClassVar[tuple[str, ...]] = ()
    #: the webhook signature covers a timestamp checked against a replay window
    #: (hub.signing.signed_timestamp); otherwise replay_key() must identify the signed content
    signed_timestamp: ClassVar[bool] = False
    #: query parameters of an unauthenticated GET challenge (X: crc_token); an answer to one
    #: must never verify as the signature of a POST (the contract test checks it)
    challenge_params: ClassVar[tuple[str, ...]] = ()
    #: webhooks authenticate with a shared token that covers no content (the provider cannot
    #: sign): neither a replay window nor a replay key applies
    token_auth: ClassVar[bool] = False
    #: the HTTP status of a request that fails verify() (Discord's interactions endpoint
    #: must answer 401; everything else 403)
    refused_status: ClassVar[int] = 403
    # capabilities, as data
    max_text_length: ClassVar[int | None] = None
    #: replies may carry files (the API refuses attachments to a channel without it)
    supports_attachments: ClassVar[bool] = False
    #: a resolved conversation reopens when the customer writes in the same thread;
    #: False: a new conversation starts (SMS pair, DMs)
    reopen_resolved: ClassVar[bool] = True
    #: a new conversation starts after this much silence (None: never)
    idle_gap: ClassVar[timedelta | None] = None
    #: True when poll() does something for this connector (a class default an instance may
    #: refine from its config: Slack polls only with an app token)
    polls: bool = False
    #: True when backfill() imports history (email: an IMAP folder since a date)
    supports_backfill: ClassVar[bool] = False
    #: True when send() splits a text longer than max_text_length into several messages
    splits_long_text: ClassVar[bool] = False
    #: True when the provider downloads reply attachments from URLs (Twilio): the hub then
    #: passes signed, expiring public URLs in ``reply.options["media_urls"]``
    fetches_media_by_url: ClassVar[bool] = False
    #: sending the same reply twice is harmless, so a send interrupted by a dead worker may
    #: simply run again when its lease expires (email: the reply's Message-ID is fixed, so a
    #: second copy is the same message to the customer's client; Twilio: the parts already
    #: accepted are recorded and only the missing ones are sent). False: an interrupted send
    #: becomes ``failed`` with "outcome unknown" and the agent decides whether to retry.
    send_is_idempotent: ClassVar[bool] = False

    #: the OAuth 2.0 token manager of a connector that signs in with OAuth (email with
    #: ``auth: oauth2``): the admin console's "Sign in" runs its authorization-code flow
    tokens: Any = None

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.config = ctx.config

    # --- inbound ---------------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        """Raise SignatureInvalid unless the request is authentic. Fail closed."""
        raise SignatureInvalid(f"{self.kind}: no webhook verification implemented")

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        """For a signature without a timestamp: the signature (the MAC of the signed content).

        Called after verify(). The hub keeps a digest of it and answers a second request with
        the same key as a duplicate that stores nothing, so a signed string that parses two
        ways (Twilio's concatenated parameters) cannot be replayed as a different message.
        """
        return None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        """Split a verified request into raw events (raise PayloadInvalid naming the problem)."""
        raise PayloadInvalid(f"{self.kind}: unknown hook {hook!r}")

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        """The response the provider expects once the events are journaled."""
        return WebhookResponse(200, b'{"ok":true}')

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        """Turn one journaled raw event into normalized messages (pure; no I/O)."""
        raise NotImplementedError

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download an attachment given by URL, with the provider's credentials.

        Must refuse hosts that are not the provider's (SSRF guard) and stop reading past
        ``max_bytes`` (raise PayloadInvalid with the reason).
        """
        raise PayloadInvalid(f"{self.kind}: remote attachments are not downloaded")

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """Long-running inbound loop (IMAP IDLE, X polling, Socket Mode); returns when stop is set."""
        stop.wait()

    def thread_policy(self, msg: NormalizedMessage) -> tuple[bool, timedelta | None]:
        """(reopen_resolved, idle_gap) for this message's conversation; per message so a
        channel can treat threads and direct messages differently."""
        return self.reopen_resolved, self.idle_gap

    def backfill(self, sink: PollSink, since: date | None = None,
                 progress: Callable[[int, int], None] | None = None) -> int:
        """Import history (``omnihub connectors backfill``): every message since ``since``
        into ``sink``, calling ``progress(done, total)``; returns how many were recorded.
        Only when ``supports_backfill`` is True."""
        raise NotImplementedError(f"{self.kind}: backfill is not supported")

    # --- outbound --------------------------------------------------------------------
    def composer_limits(self, medium: str, thread_key: str) -> dict[str, Any]:
        """Per-conversation limits for the inbox composer, merged over max_text_length:
        e.g. ``{"max_length": 4096}`` for WhatsApp on a Twilio connector, ``{"window":
        timedelta(hours=24)}`` for a channel that only answers within a window after the
        customer's last message (WhatsApp-like), ``{"segments": ...}``. Default: none."""
        return {}

    def validate_reply(self, text: str, options: dict[str, Any], thread_key: str | None = None) -> None:
        """Refuse a reply that cannot be sent as written (raise PayloadInvalid with the reason)."""
        limit = self.max_text_length
        if limit and len(text) > limit and not self.splits_long_text and not options.get("thread"):
            raise PayloadInvalid(f"{self.title or self.kind} allows {limit} characters per message; this reply has {len(text)}")

    def send(self, reply: OutboundReply) -> SendResult:
        raise NotImplementedError(f"{self.kind}: sending is not supported")

    def check(self) -> CheckResult:
        return CheckResult(True, "nothing to check")

    # --- tools -----------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        """Build a correctly signed provider request: (hook, headers, body). For `omnihub simulate`."""
        raise NotImplementedError(f"{self.kind}: simulate is not supported")

    def webhook_urls(self) -> dict[str, str]:
        return {hook: self.ctx.webhook_url(hook) for hook in self.hooks}
