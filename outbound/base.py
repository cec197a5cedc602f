"""The helpdesk backend protocol and its base class.

One module per backend in ``outbound/``. ``push`` creates or updates the ticket for a
message and returns the external references; agent replies come back through a signed
webhook (verify + parse_agent_reply) or through ``poll``.
"""

from __future__ import annotations

from typing import ClassVar

from hub.errors import PayloadInvalid, RetriableDeliveryError, SignatureInvalid
from hub.types import (
    AdapterConfig,
    AgentReply,
    CheckResult,
    ConnectorContext,
    PollSink,
    PushItem,
    PushResult,
    RawEvent,
    StopEvent,
    WebhookRequest,
    WebhookResponse,
)


class HelpdeskBackend:
    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    Config: ClassVar[type[AdapterConfig]] = AdapterConfig
    hooks: ClassVar[tuple[str, ...]] = ()
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
    #: True when poll() reads agent replies back (poll_once every ``config.poll_interval``)
    polls: ClassVar[bool] = False
    #: True when conversations live in omnihub's own tables (the built-in inbox)
    builtin: ClassVar[bool] = False
    #: True when erase_ticket() can delete a ticket (a contact's erasure asks for it, hub.erasure)
    erases: ClassVar[bool] = False

    def __init__(self, ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.config = ctx.config

    def push(self, item: PushItem) -> PushResult:
        raise NotImplementedError

    def check(self) -> CheckResult:
        return CheckResult(True, "nothing to check")

    def erase_ticket(self, ticket_ref: str) -> None:
        """Delete the ticket ``ticket_ref`` (and what the helpdesk keeps of it) for a contact's
        erasure. Idempotent: a ticket already gone is success. Raise RetriableDeliveryError to
        be retried later. Only called when ``erases`` is True."""
        raise NotImplementedError

    # agent replies coming back
    def verify(self, hook: str, request: WebhookRequest) -> None:
        raise SignatureInvalid(f"{self.kind}: no webhook verification implemented")

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        """For a signature without a timestamp: the signature (the MAC of the signed content).

        Called after verify(). The hub keeps a digest of it and answers a second request with
        the same key as a duplicate that stores nothing, so a signed string that parses two
        ways (Twilio's concatenated parameters) cannot be replayed as a different message.
        """
        return None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        raise PayloadInvalid(f"{self.kind}: unknown hook {hook!r}")

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        return WebhookResponse(200, b'{"ok":true}')

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        raise PayloadInvalid(f"{self.kind}: agent replies are not supported")

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """Call ``poll_once`` every ``config.poll_interval`` seconds until stop is set.

        A temporary failure (helpdesk down) is logged and tried again at the next interval;
        anything else ends the loop and the poller restarts it with backoff.
        """
        if not self.polls:
            stop.wait()
            return
        while not stop.is_set():
            try:
                self.poll_once(sink)
            except RetriableDeliveryError as exc:
                if self.ctx.log is not None:
                    self.ctx.log.warning(f"{self.kind}.poll_failed", error=str(exc))
            stop.wait(float(getattr(self.config, "poll_interval", 20.0)))  # a polling backend's config key

    def poll_once(self, sink: PollSink) -> int:
        """One round of reading agent replies back from the helpdesk into ``sink`` (backends
        whose webhooks cannot carry them: RT, django-helpdesk). Returns how many were found."""
        return 0

    def webhook_urls(self) -> dict[str, str]:
        return {hook: self.ctx.webhook_url(hook) for hook in self.hooks}
