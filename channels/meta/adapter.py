"""``MetaChannel``: what the whatsapp, messenger and instagram adapters share.

One webhook, ``/webhooks/<connector>/events``: GET is Meta's subscription handshake, POST a
signed delivery. Subclasses name their secrets (``app_secret``, ``verify_token`` on their
Config) and implement parse / normalize / send / check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from channels.base import ChannelAdapter
from channels.meta import graph
from hub.errors import PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, SignatureInvalid
from hub.types import RawEvent, WebhookRequest, WebhookResponse


class MetaChannel(ChannelAdapter):
    """Base of the Meta channel adapters (not a connector kind itself)."""

    hooks = ("events",)
    get_hooks = ("events",)
    #: the GET handshake's parameters; its answer echoes hub.challenge only after the verify
    #: token matched, and never carries a MAC (the contract test checks both)
    challenge_params = ("hub.challenge", "hub.verify_token", "hub.mode")
    #: Meta's object name for the deliveries of this channel (whatsapp_business_account, page, instagram)
    webhook_object: ClassVar[str] = ""

    @property
    def who(self) -> str:
        return f"{self.kind} connector {self.ctx.name!r}"

    def _secret(self, name: str) -> str | None:
        value = getattr(self.config, name, None)
        return value.get_secret_value() if value is not None else None

    # --- inbound -------------------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        if hook != "events":
            raise SignatureInvalid(f"{self.who}: unknown hook {hook!r}")
        if request.method == "GET":
            graph.verify_subscription(self._secret("verify_token"), dict(request.args), who=self.who)
            return
        graph.verify_signature(self._secret("app_secret"), request.body, request.headers.get(graph.SIGNATURE_HEADER), who=self.who)

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        # X-Hub-Signature-256 covers the body and no timestamp: a replayed delivery is a
        # duplicate (each event in it is also deduplicated by its Meta id)
        return (request.headers.get(graph.SIGNATURE_HEADER) or "").strip().lower().encode() or None

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        if request.method == "GET":
            try:  # answered only for a handshake that verifies (the hub verified it already)
                challenge = graph.verify_subscription(self._secret("verify_token"), dict(request.args), who=self.who)
            except SignatureInvalid:
                return WebhookResponse(403, b'{"error":"verification failed"}')
            return WebhookResponse(200, challenge.encode(), "text/plain")
        return WebhookResponse(200, b"EVENT_RECEIVED", "text/plain")

    def load(self, body: bytes) -> dict[str, Any]:
        """The delivery's JSON object, checked to be this channel's object kind."""
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadInvalid(f"{self.who}: body is not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
            raise PayloadInvalid(f"{self.who}: not a Meta webhook delivery (no entry list)")
        if self.webhook_object and data.get("object") != self.webhook_object:
            raise PayloadInvalid(f"{self.who}: delivery for object {data.get('object')!r}, expected {self.webhook_object!r}")
        return data

    def graph_client(self, token: str) -> graph.GraphClient:
        cfg: Any = self.config
        return graph.GraphClient(cfg.api_base_url, cfg.api_version, token, who=self.who)

    def token_expiry(self, client: graph.GraphClient) -> tuple[str, dict[str, Any]]:
        """What ``debug_token`` says about the token's expiry ("" when it cannot say), for check.

        https://developers.facebook.com/docs/graph-api/reference/debug_token"""
        try:
            data = client.get("debug_token", input_token=client.token).get("data") or {}
        except (PermanentDeliveryError, RetriableDeliveryError):
            return "", {}
        if not isinstance(data, dict):
            return "", {}
        expires = data.get("expires_at")
        info = {k: data[k] for k in ("type", "application", "expires_at", "is_valid", "scopes") if k in data}
        if data.get("is_valid") is False:
            return "the token is no longer valid", info
        if expires in (0, "0"):
            return "the token does not expire", info
        try:
            when = datetime.fromtimestamp(int(str(expires)), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return "", info
        days = (when - datetime.now(UTC)).days
        info["expires"] = when.isoformat()
        if days < 0:
            return f"the token expired on {when.date().isoformat()}", info
        return f"the token expires on {when.date().isoformat()}" + (" (soon: renew it)" if days < 7 else ""), info
