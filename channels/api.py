"""api channel: any system (or the web chat widget) posts signed JSON messages.

In:  POST /webhooks/<connector>/messages, signed with X-Omnihub-Timestamp/-Signature.
Out: agent replies POSTed, signed the same way, to the connector's callback_url.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr, field_validator

from channels.base import ChannelAdapter
from hub import signing
from hub.errors import PayloadInvalid, RetriableDeliveryError, error_for_status
from hub.net import UrlRefused, guarded_request
from hub.types import AdapterConfig, CheckResult, OutboundReply, RawEvent, SendResult, WebhookRequest, setting
from normalizers import api as api_normalizer
from normalizers.model import NormalizedMessage


class ApiConfig(AdapterConfig):
    secret: SecretStr = setting(
        title="Shared secret",
        help="Signs every request between your system and the hub (X-Omnihub-Signature, HMAC-SHA256 over the timestamp "
             "and the body). Generate one with: openssl rand -hex 32")
    callback_url: str | None = setting(
        None, title="Callback URL", example="https://app.example.com/omnihub/replies", origin_of="url",
        help="Where agent replies are POSTed (signed with the shared secret). Optional with the chat widget, which reads replies from the hub.")
    timeout: float = setting(
        10.0, title="Callback timeout (seconds)", section="advanced",
        help="How long a callback may take before it is retried.")
    widget: bool = setting(
        False, title="Web chat widget", section="behaviour",
        help="Serve the chat widget (/widget.js) on this connector; replies are then read by the widget from the hub.")
    widget_origins: list[str] = setting(
        default_factory=list, title="Sites allowed to embed the widget", example="https://www.example.com", section="addresses",
        help="Origins (scheme://host[:port]) of the pages that may embed the widget. Empty: only the hub's own pages.")

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        """Also accept a JSON list or a comma-separated string (`--set widget_origins=a,b`)."""
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [x for x in (p.strip() for p in text.split(",")) if x]
        return v


class ApiChannel(ChannelAdapter):
    kind = "api"
    title = "API / web chat"
    Config = ApiConfig
    config: ApiConfig  # the instance's validated config (ctx.config)
    hooks = ("messages",)
    signed_timestamp = True  # X-Omnihub-Timestamp is signed
    max_text_length = 65536
    supports_attachments = True

    def verify(self, hook: str, request: WebhookRequest) -> None:
        signing.verify(self.config.secret.get_secret_value(), request.body, request.headers)

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "messages":
            raise PayloadInvalid(f"api: unknown hook {hook!r} (use /messages)")
        data = api_normalizer.parse_body(request.body)
        return [RawEvent(external_id=data["id"], hook=hook, payload=request.body, content_type="application/json")]

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        received = event.meta.get("received_at")
        return api_normalizer.normalize(
            event.payload,
            connector=self.ctx.name,
            received_at=datetime.fromisoformat(received) if received else None,
        )

    def send(self, reply: OutboundReply) -> SendResult:
        url = self.config.callback_url
        if not url and self.config.widget:
            # The web chat widget reads the conversation's sent replies from the hub.
            return SendResult(external_id=f"reply-{reply.id}", state="sent")
        if not url:
            from hub.errors import PermanentDeliveryError

            raise PermanentDeliveryError(f"api connector {self.ctx.name!r} has no callback_url: set it to deliver replies")
        contact_id = reply.to.address.split(":", 1)[1] if ":" in reply.to.address else reply.to.address
        payload: dict[str, Any] = {
            "id": str(reply.id),
            "conversation": str(reply.conversation_id),
            "thread": reply.thread_key.split(":", 1)[1] if ":" in reply.thread_key else reply.thread_key,
            "to": {"id": contact_id},
            "text": reply.text,
            "author": reply.author_name,
            "sent_at": datetime.now(UTC).isoformat(),
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
                for a in reply.attachments
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"reply-{reply.id}"}
        headers.update(signing.sign(self.config.secret.get_secret_value(), body))
        try:
            resp = guarded_request("callback_url", "POST", url, content=body, headers=headers, timeout=self.config.timeout)
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"api connector {self.ctx.name!r}: {url}: {exc.__class__.__name__}: {exc}") from None
        err = error_for_status(
            resp.status_code, resp.text[:300], who=f"api connector {self.ctx.name!r} callback", retry_after=resp.headers.get("Retry-After")
        )
        if err:
            raise err
        return SendResult(external_id=f"reply-{reply.id}", state="sent")

    def check(self) -> CheckResult:
        if not self.config.callback_url:
            if self.config.widget:
                return CheckResult(True, "web chat widget enabled: replies are read by the widget")
            return CheckResult(True, "inbound ready; no callback_url, so agent replies cannot be delivered")
        try:
            resp = guarded_request("callback_url", "HEAD", self.config.callback_url, timeout=5)
        except UrlRefused as exc:
            return CheckResult(False, str(exc))
        except httpx.HTTPError as exc:
            return CheckResult(False, f"callback_url unreachable: {exc}")
        return CheckResult(True, f"callback_url reachable (HTTP {resp.status_code})")

    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        sender: dict[str, str] = {"id": sender_id, "name": options.get("name") or sender_id}
        payload: dict[str, Any] = {
            "id": options.get("id") or f"sim-{time.time_ns()}",
            "from": sender,
            "text": text,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        if options.get("email"):
            sender["email"] = options["email"]
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **signing.sign(self.config.secret.get_secret_value(), body)}
        return "messages", headers, body
