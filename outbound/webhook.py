"""A signed JSON webhook for systems without a dedicated backend (docs/helpdesks/webhook.md).

Each message is POSTed to ``url`` as ``{"event": "message.created", "conversation": ...,
"message": ..., "contact": ...}``, signed with omnihub's signature (``hub.signing``:
``X-Omnihub-Timestamp`` + ``X-Omnihub-Signature: sha256=<hex HMAC(secret, "<ts>.<body>")>``)
and an ``Idempotency-Key: omnihub-message-<id>`` the receiver should dedupe on. Retried like
every push (the one status mapping). The receiver may answer ``{"ticket_ref": "...",
"comment_ref": "..."}``; otherwise the conversation id is the ticket reference.
Agent replies come back signed the same way at ``/webhooks/<connector>/agent-reply``.
When a contact is erased, ``{"event": "ticket.erase", "ticket_ref": ...}`` is POSTed, signed
the same way, for each of its tickets (hub.erasure).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from hub import signing
from hub.errors import PayloadInvalid
from hub.types import AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

SCHEMA_VERSION: Literal[1] = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Party(_Model):
    medium: str = Field(description="How the customer writes: sms, whatsapp, voice, email, slack, x, api, ...")
    channel: str = Field(description="Deprecated: the same value as medium (its old name)")
    address: str = Field(description="Normalized address: E.164 phone, lower-cased email, provider user id")
    name: str = ""


class AttachmentInfo(_Model):
    filename: str
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str


class ConversationInfo(_Model):
    id: int
    subject: str
    medium: str = Field(description="How the customer wrote: sms, whatsapp, voice, email, slack, x, api, ...")
    channel: str = Field(description="Deprecated: the same value as medium (its old name)")
    connector: str = Field(description="The omnihub channel connector the customer wrote to")
    status: str = Field(description="open | pending | resolved | closed")
    priority: str = Field(description="low | normal | high | urgent")
    category: str | None = None
    language: str | None = None
    tags: list[str] = []
    labels: list[str] = Field(default=[], description="The helpdesk tags omnihub derives (category, priority, language, SLA state, entity kinds)")
    entities: list[dict[str, Any]] = Field(default=[], description="Detected entities: kind, value, chain")
    sla: dict[str, Any] = Field(default={}, description="SLA targets and state (first_response, resolution)")
    ticket_ref: str | None = Field(description="What the receiver answered for an earlier message; null for the first")


class MessageInfo(_Model):
    id: int = Field(description="omnihub's message id (Idempotency-Key: omnihub-message-<id>)")
    external_id: str = Field(description="The channel provider's message id")
    direction: Literal["inbound", "outbound"] = Field(description="inbound: the customer; outbound: sent by omnihub")
    kind: str = Field(description="message | voicemail | missed_call")
    is_first: bool
    sent_at: str = Field(description="ISO 8601, UTC")
    subject: str
    text: str = Field(description="Redacted text: secrets the customer pasted are replaced by markers")
    sender: Party
    attachments: list[AttachmentInfo] = Field(description="Described, not embedded")


class ContactInfo(_Model):
    id: int
    name: str
    email: str | None
    identities: list[Party]


class MessageCreated(_Model):
    """The body omnihub POSTs for every message (schema version 1)."""

    event: Literal["message.created"] = "message.created"
    version: Literal[1] = SCHEMA_VERSION
    delivery_id: int
    conversation: ConversationInfo
    message: MessageInfo
    contact: ContactInfo


class TicketErase(_Model):
    """Sent when a contact is erased (hub.erasure): delete what you keep of this ticket."""

    event: Literal["ticket.erase"] = "ticket.erase"
    version: Literal[1] = SCHEMA_VERSION
    ticket_ref: str = Field(description="The ticket_ref you answered to message.created (or conversation-<id>)")
    sent_at: str = Field(description="ISO-8601 UTC")


class AgentReplyIn(_Model):
    """The body a receiver POSTs back to /webhooks/<connector>/agent-reply, signed the same way."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1, description="Unique id of the reply in your system (deduplicated)")
    ticket_ref: str = Field(min_length=1, description="The ticket_ref you answered for the conversation")
    text: str = ""
    html: str = ""
    author_name: str = ""
    internal: bool = Field(False, description="An internal note: recorded, never sent to the customer")
    status: Literal["open", "pending", "resolved", "closed"] | None = None


class WebhookConfig(AdapterConfig):
    url: str = setting(
        title="Webhook URL", example="https://hooks.example.com/omnihub", origin_of="url",
        help="Every message is POSTed here as signed JSON (message.created).")
    secret: SecretStr = setting(
        title="Signing secret",
        help="Signs every POST (X-Omnihub-Signature, HMAC-SHA256) and checks agent replies sent back. Generate one with: openssl rand -hex 32")
    timeout: float = setting(10.0, title="Request timeout (seconds)", section="advanced", help="How long one POST may take before it is retried.")


def build_payload(item: PushItem) -> dict[str, Any]:
    """The documented JSON body for one message (redacted text only)."""
    conv, contact = item.conversation, item.contact
    body = MessageCreated(
        delivery_id=item.delivery_id,
        conversation=ConversationInfo(
            id=conv.id, subject=conv.subject, medium=conv.medium, channel=conv.medium, connector=conv.connector, status=conv.status,
            priority=conv.priority, category=conv.category, language=conv.language, tags=list(conv.tags),
            labels=hd.labels(conv), entities=[dict(e) for e in conv.entities], sla=dict(conv.sla),
            ticket_ref=item.ticket_ref,
        ),
        message=MessageInfo(
            id=item.message_id, external_id=item.external_id, direction="inbound" if item.direction == "inbound" else "outbound",
            kind=item.kind,
            is_first=item.is_first, sent_at=item.sent_at.astimezone(UTC).isoformat(), subject=item.subject,
            text=item.text,
            sender=Party(medium=item.sender.medium, channel=item.sender.medium, address=item.sender.address, name=item.sender.name),
            attachments=[
                AttachmentInfo(filename=b.filename, content_type=b.content_type, size=b.size, sha256=b.sha256)
                for b in item.attachments
            ],
        ),
        contact=ContactInfo(
            id=contact.id, name=contact.name, email=contact.email,
            identities=[Party(medium=p.medium, channel=p.medium, address=p.address, name=p.name) for p in contact.identities],
        ),
    )
    return body.model_dump(mode="json")


def json_schemas() -> dict[str, Any]:
    """JSON Schemas of both directions (committed as docs/webhook-schema.json)."""
    return {"message.created": MessageCreated.model_json_schema(), "ticket.erase": TicketErase.model_json_schema(),
            "agent-reply": AgentReplyIn.model_json_schema()}


class WebhookBackend(HelpdeskBackend):
    kind = "webhook"
    title = "Signed webhook"
    Config = WebhookConfig
    config: WebhookConfig  # the instance's validated config (ctx.config)
    hooks = ("agent-reply",)
    signed_timestamp = True  # X-Omnihub-Timestamp is signed
    erases = True  # erase_ticket: a signed ticket.erase event

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.who = f"webhook connector {ctx.name!r}"
        self.http = JsonClient(self.config.url, who=self.who, timeout=self.config.timeout, url_key="url")

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

    def erase_ticket(self, ticket_ref: str) -> None:
        """POST a signed ``{"event": "ticket.erase", "ticket_ref": ...}`` (Idempotency-Key
        ``omnihub-erase-<ref>``): the receiver deletes what it keeps of the ticket; any 2xx is done."""
        payload = TicketErase(ticket_ref=str(ticket_ref), sent_at=datetime.now(UTC).isoformat())
        body = json.dumps(payload.model_dump(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"omnihub-erase-{ticket_ref}"[:255],
                   **signing.sign(self.config.secret.get_secret_value(), body)}
        self.http.request("POST", self.config.url, content=body, headers=headers, accept=(404, 410))

    def check(self) -> CheckResult:
        body = json.dumps({"event": "ping", "version": SCHEMA_VERSION, "sent_at": datetime.now(UTC).isoformat()}).encode()
        headers = {"Content-Type": "application/json", **signing.sign(self.config.secret.get_secret_value(), body)}
        resp = self.http.request("POST", self.config.url, content=body, headers=headers)
        return CheckResult(True, f"{self.config.url} accepted a signed ping (HTTP {resp.status_code})")

    # --- agent replies, signed like our own requests -------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        signing.verify(self.config.secret.get_secret_value(), request.body, request.headers)

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        reply = self._reply(request.body)
        return [RawEvent(external_id=reply.id, hook=hook, payload=request.body)]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        r = self._reply(event.payload)
        return [
            AgentReply(
                external_id=r.id, ticket_ref=r.ticket_ref, text=r.text, html=r.html,
                author_name=r.author_name, internal=r.internal, status=r.status,
            )
        ]

    def _reply(self, body: bytes) -> AgentReplyIn:
        try:
            return AgentReplyIn.model_validate(hd.json_body(body, self.who))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise PayloadInvalid(f"{self.who}: agent reply does not match the documented schema: {problems}") from None
