"""A signed JSON webhook for systems without a dedicated backend (docs/helpdesk-saas.md).

Each message is POSTed to ``url`` as ``{"event": "message.created", "conversation": ...,
"message": ..., "contact": ...}``, signed with omnihub's signature (``hub.signing``:
``X-Omnihub-Timestamp`` + ``X-Omnihub-Signature: sha256=<hex HMAC(secret, "<ts>.<body>")>``)
and an ``Idempotency-Key: omnihub-message-<id>`` the receiver should dedupe on. Retried like
every push (the one status mapping). The receiver may answer ``{"ticket_ref": "...",
"comment_ref": "..."}``; otherwise the conversation id is the ticket reference.
Agent replies come back signed the same way at ``/webhooks/<connector>/agent-reply``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pydantic import SecretStr

from hub import signing
from hub.errors import PayloadInvalid
from hub.types import AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

SCHEMA_VERSION = 1
STATUSES = ("open", "pending", "resolved", "closed")


class WebhookConfig(AdapterConfig):
    url: str
    secret: SecretStr
    timeout: float = 10.0


def build_payload(item: PushItem) -> dict[str, Any]:
    """The documented JSON body for one message (redacted text only)."""
    conv, contact = item.conversation, item.contact
    return {
        "event": "message.created",
        "version": SCHEMA_VERSION,
        "delivery_id": item.delivery_id,
        "conversation": {
            "id": conv.id,
            "subject": conv.subject,
            "channel": conv.channel,
            "connector": conv.connector,
            "status": conv.status,
            "priority": conv.priority,
            "category": conv.category,
            "language": conv.language,
            "tags": list(conv.tags),
            "ticket_ref": item.ticket_ref,
        },
        "message": {
            "id": item.message_id,
            "external_id": item.external_id,
            "direction": item.direction,
            "kind": item.kind,
            "is_first": item.is_first,
            "sent_at": item.sent_at.astimezone(timezone.utc).isoformat(),
            "subject": item.subject,
            "text": item.text,
            "sender": {"channel": item.sender.channel, "address": item.sender.address, "name": item.sender.name},
            "attachments": [
                {"filename": b.filename, "content_type": b.content_type, "size": b.size, "sha256": b.sha256}
                for b in item.attachments
            ],
        },
        "contact": {
            "id": contact.id,
            "name": contact.name,
            "email": contact.email,
            "identities": [{"channel": p.channel, "address": p.address, "name": p.name} for p in contact.identities],
        },
    }


class WebhookBackend(HelpdeskBackend):
    kind = "webhook"
    title = "Signed webhook"
    Config = WebhookConfig
    hooks = ("agent-reply",)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.who = f"webhook connector {ctx.name!r}"
        self.http = JsonClient(self.config.url, who=self.who, timeout=self.config.timeout)

    def push(self, item: PushItem) -> PushResult:
        body = json.dumps(build_payload(item), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": hd.message_key(item),
            **signing.sign(self.config.secret.get_secret_value(), body),
        }
        resp = self.http.request("POST", self.config.url, content=body, headers=headers)
        answer: dict[str, Any] = {}
        if resp.content and "json" in resp.headers.get("Content-Type", ""):
            try:
                loaded = resp.json()
                answer = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                answer = {}
        ticket_ref = str(answer.get("ticket_ref") or item.ticket_ref or f"conversation-{item.conversation.id}")
        comment_ref = str(answer.get("comment_ref") or hd.message_key(item))
        return PushResult(ticket_ref=ticket_ref, comment_ref=comment_ref)

    def check(self) -> CheckResult:
        body = json.dumps({"event": "ping", "version": SCHEMA_VERSION, "sent_at": datetime.now(timezone.utc).isoformat()}).encode()
        headers = {"Content-Type": "application/json", **signing.sign(self.config.secret.get_secret_value(), body)}
        resp = self.http.request("POST", self.config.url, content=body, headers=headers)
        return CheckResult(True, f"{self.config.url} accepted a signed ping (HTTP {resp.status_code})")

    # --- agent replies, signed like our own requests -------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        signing.verify(self.config.secret.get_secret_value(), request.body, request.headers)

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        data = hd.json_body(request.body, self.who)
        if not data.get("id") or not data.get("ticket_ref"):
            raise PayloadInvalid(f"{self.who}: agent reply needs 'id' and 'ticket_ref'")
        return [RawEvent(external_id=str(data["id"]), hook=hook, payload=request.body)]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        data = hd.json_body(event.payload, self.who)
        status = data.get("status")
        if status is not None and status not in STATUSES:
            raise PayloadInvalid(f"{self.who}: status must be one of {', '.join(STATUSES)}")
        return [
            AgentReply(
                external_id=str(data["id"]),
                ticket_ref=str(data["ticket_ref"]),
                text=str(data.get("text") or ""),
                html=str(data.get("html") or ""),
                author_name=str(data.get("author_name") or ""),
                internal=bool(data.get("internal", False)),
                status=status,
            )
        ]
