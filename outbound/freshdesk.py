"""Freshdesk (API v2): tickets and notes; agent replies via an automation-rule webhook.

API: https://developers.freshdesk.com/api/  Auth: basic ``{api_key}:X``.
Push: the first message creates a ticket tagged ``omnihub-conversation-<id>`` (looked up
first with ``GET /api/v2/tickets?email=`` — the database, no index lag — or, for requesters
without email (``unique_external_id``), the search API's ``tag:`` filter); later messages are public notes
(``incoming: true`` with the requester as author for customer messages), deduplicated by
the ``omnihub-message-<id>`` footer in ``GET /api/v2/tickets/{id}/conversations``.
Attachments: multipart ``attachments[]``.
Agent replies: an automation rule "Trigger webhook" (POST, JSON) with a custom header
``X-Omnihub-Webhook-Secret: <webhook_secret>`` (Freshdesk does not sign webhooks) and the
body ``{"freshdesk_webhook": {"ticket_id": "{{ticket.id}}"}}``. The hub journals it and
the worker reads the ticket's conversations: each public agent reply becomes an
AgentReply keyed by the conversation id (the core dedupes), private notes internal=True.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import SecretStr, model_validator

from hub.errors import PayloadInvalid, PermanentDeliveryError
from hub.types import SUBDOMAIN, AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

# https://developers.freshdesk.com/api/#ticket_attributes
SOURCES = {"email": 1, "portal": 2, "phone": 3, "chat": 7}
STATUS = {4: "resolved", 5: "closed"}
PRIORITY = {"low": 1, "normal": 2, "high": 3, "urgent": 4}
CHANNEL_SOURCE = {"email": 1, "voice": 3, "twilio_voice": 3}


class FreshdeskConfig(AdapterConfig):
    domain: str | None = setting(
        None, title="Freshdesk subdomain", example="acme", section="addresses", origin_of="part", pattern=SUBDOMAIN,
        needed_for="the API (or set Base URL)", help="acme for https://acme.freshdesk.com. This or Base URL is required.")
    base_url: str | None = setting(
        None, title="Base URL", example="https://support.acme.com", section="advanced", origin_of="url",
        help="Overrides the subdomain (a custom domain, a proxy or a local test server).")
    api_key: SecretStr = setting(title="API key", help="Profile settings → View API key (of the agent omnihub acts as).")
    group_id: int | None = setting(None, title="Group ID", example=43000123456, help="New tickets are assigned to this group.")
    product_id: int | None = setting(None, title="Product ID", example=43000012345, help="New tickets belong to this product.")
    tags: tuple[str, ...] = setting(
        ("omnihub",), title="Tags", example="omnihub, wallet", help="Tags added to every ticket.")
    source: int | None = setting(
        None, title="Ticket source", example=7, section="advanced",
        help="Freshdesk source id for new tickets; empty: 1 (email) for email, 3 (phone) for voice, 7 (chat) otherwise.")
    channel_field: str | None = setting(
        None, title="Channel field", example="cf_channel", section="advanced", help="A custom field (cf_…) that receives the channel name.")
    address_field: str | None = setting(
        None, title="Address field", example="cf_customer_address", section="advanced",
        help="A custom field (cf_…) that receives the customer's address.")
    webhook_secret: SecretStr | None = setting(
        None, title="Webhook secret", needed_for="agent replies", help="A secret you choose; the automation rule that sends agent replies puts it in the header below.")
    webhook_header: str = setting(
        "X-Omnihub-Webhook-Secret", title="Webhook secret header", section="advanced",
        help="The header the Freshdesk automation sends the webhook secret in.")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")

    @model_validator(mode="after")
    def _where(self) -> FreshdeskConfig:
        if not (self.domain or self.base_url):
            raise ValueError("set domain (acme for acme.freshdesk.com) or base_url")
        return self


class FreshdeskBackend(HelpdeskBackend):
    kind = "freshdesk"
    title = "Freshdesk"
    Config = FreshdeskConfig
    config: FreshdeskConfig  # the instance's validated config (ctx.config)
    hooks = ("agent-reply",)
    token_auth = True  # Freshdesk does not sign webhooks: a shared secret header
    erases = True  # erase_ticket

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        c = self.config
        self.who = f"freshdesk connector {ctx.name!r}"
        self.http = JsonClient(
            c.base_url or f"https://{c.domain}.freshdesk.com",
            who=self.who,
            auth=(c.api_key.get_secret_value(), "X"),
            timeout=c.timeout,
        )

    # --- push ------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        # https://developers.freshdesk.com/api/#create_ticket (attachments: 20 MB in total)
        item = hd.fit_attachments(item, per_file=None, total=20 * hd.MB, vendor="Freshdesk")
        ticket_ref = item.ticket_ref or self._find_ticket(item)
        if ticket_ref is None:
            return self._create_ticket(item)
        for conv in self._conversations(ticket_ref):
            if hd.has_marker(conv.get("body_text") or conv.get("body"), item.message_id):
                return PushResult(ticket_ref=ticket_ref, comment_ref=str(conv["id"]), data={"deduplicated": True})
        ticket = self.http.get(f"/api/v2/tickets/{ticket_ref}")
        if hd.has_marker(ticket.get("description_text") or ticket.get("description"), item.message_id):
            return PushResult(ticket_ref=ticket_ref, comment_ref=None, data={"deduplicated": True})
        note: dict[str, Any] = {"body": hd.body_html(item), "private": False}
        if item.direction == "inbound":
            note["incoming"] = True
            note["user_id"] = ticket["requester_id"]
        data = self._send(f"/api/v2/tickets/{ticket_ref}/notes", note, item)
        self._update_labels(ticket_ref, ticket, item)
        return PushResult(ticket_ref=ticket_ref, comment_ref=str(data["id"]))

    def _update_labels(self, ticket_ref: str, ticket: dict[str, Any], item: PushItem) -> None:
        """One ``PUT`` when the labels or the priority changed (tags are replaced as a whole:
        the agents' tags and our conversation key are kept, only our stale labels go).
        Priority only ever rises: an agent's choice is not undone."""
        have = list(ticket.get("tags") or [])
        want = set(hd.labels(item.conversation))
        tags = sorted({t for t in have if not hd.is_label(t)} | want)
        update: dict[str, Any] = {}
        if set(tags) != set(have):
            update["tags"] = tags
        ranks = {v: k for k, v in PRIORITY.items()}
        if hd.priority_rank(item.conversation.priority) > hd.priority_rank(ranks.get(int(ticket.get("priority") or 0))):
            update["priority"] = hd.priority_for(item.conversation, PRIORITY)
        if update:
            self.http.put(f"/api/v2/tickets/{ticket_ref}", json=update)

    def _find_ticket(self, item: PushItem) -> str | None:
        req = hd.requester(item)
        key = hd.conversation_key(item)
        if req.email:
            # the list endpoint reads the database (no index lag); without updated_since it
            # only returns tickets created in the last 30 days
            tickets = self.http.get(
                "/api/v2/tickets",
                params={"email": req.email, "updated_since": "2000-01-01T00:00:00Z", "order_by": "created_at", "per_page": 100},
            ) or []
        else:
            # no documented list filter for unique_external_id: the search API (tag filter)
            data = self.http.get("/api/v2/search/tickets", params={"query": f"\"tag:'{key}'\""}) or {}
            tickets = data.get("results") or []
        for t in tickets:
            if key in (t.get("tags") or []):
                return str(t["id"])
        return None

    def _create_ticket(self, item: PushItem) -> PushResult:
        c = self.config
        req = hd.requester(item)
        ticket: dict[str, Any] = {
            "subject": hd.subject(item),
            "description": hd.body_html(item),
            "status": 2,
            "priority": hd.priority_for(item.conversation, PRIORITY),
            "source": c.source or CHANNEL_SOURCE.get(req.medium, 7),
            "tags": sorted({*c.tags, hd.conversation_key(item), f"omnihub-{req.medium}", *hd.labels(item.conversation)}),
            "name": req.name,
        }
        if req.email:
            ticket["email"] = req.email
        else:  # the address goes to tags / address_field, not `phone` (it could clash with another contact)
            ticket["unique_external_id"] = req.external_id
        if c.group_id:
            ticket["group_id"] = c.group_id
        if c.product_id:
            ticket["product_id"] = c.product_id
        fields = {}
        if c.channel_field:
            fields[c.channel_field] = req.medium
        if c.address_field:
            fields[c.address_field] = req.address
        if fields:
            ticket["custom_fields"] = fields
        data = self._send("/api/v2/tickets", ticket, item)
        return PushResult(ticket_ref=str(data["id"]), comment_ref=None)

    def _send(self, path: str, body: dict[str, Any], item: PushItem) -> dict[str, Any]:
        """JSON, or multipart/form-data when there are attachments (the API's only way)."""
        if not item.attachments:
            return self.http.post(path, json=body)
        form: list[tuple[str, Any]] = []
        for key, value in body.items():
            if isinstance(value, (list, tuple)):
                form += [(f"{key}[]", str(v)) for v in value]
            elif isinstance(value, dict):
                form += [(f"{key}[{k}]", str(v)) for k, v in value.items()]
            elif isinstance(value, bool):
                form.append((key, "true" if value else "false"))
            else:
                form.append((key, str(value)))
        files = [("attachments[]", (b.filename, b.read(), b.content_type or "application/octet-stream")) for b in item.attachments]
        return self.http.post(path, data=_FormPairs(form), files=files)

    def _conversations(self, ticket_ref: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = self.http.request("GET", f"/api/v2/tickets/{ticket_ref}/conversations", params={"page": page})
            batch = resp.json() or []
            out += batch
            if not batch or "next" not in resp.links:
                return out
            page += 1

    def erase_ticket(self, ticket_ref: str) -> None:
        """``DELETE /api/v2/tickets/{id}`` (to the trash), then
        ``DELETE /api/v2/tickets/{id}/permanent_delete`` where the account allows it."""
        if not str(ticket_ref).isdigit():
            raise PermanentDeliveryError(f"{self.who}: {ticket_ref!r} is not a Freshdesk ticket id")
        self.http.delete(f"/api/v2/tickets/{ticket_ref}")
        self.http.request("DELETE", f"/api/v2/tickets/{ticket_ref}/permanent_delete", accept=(403, 404, 405, 410))

    def check(self) -> CheckResult:
        me = self.http.get("/api/v2/agents/me")
        contact = me.get("contact") or {}
        return CheckResult(True, f"authenticated as agent {contact.get('name') or me.get('id')}")

    # --- agent replies -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        secret = hd.secret_value(self.config.webhook_secret, self.who)
        hd.check_equal(secret, request.headers.get(self.config.webhook_header), self.who, self.config.webhook_header)

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        ticket_id = _ticket_id(hd.json_body(request.body, self.who), self.who)
        # The payload carries no conversation id: every delivery is journaled, replies dedupe by id.
        return [RawEvent(external_id=f"ticket-{ticket_id}-{time.time_ns()}", hook=hook, payload=request.body)]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        ticket_ref = _ticket_id(hd.json_body(event.payload, self.who), self.who)
        replies = []
        for conv in self._conversations(ticket_ref):
            text = conv.get("body_text") or ""
            if conv.get("incoming") or hd.is_ours(text) or hd.is_ours(conv.get("body")):
                continue  # the customer's message or the echo of one we pushed
            if conv.get("source") not in (None, 0, 2):  # 0 reply, 2 note; skip forwards, tweets, etc.
                continue
            replies.append(
                AgentReply(
                    external_id=str(conv["id"]),
                    ticket_ref=ticket_ref,
                    text=text,
                    html=conv.get("body") or "",
                    author_name=_display_name(conv.get("from_email")),
                    internal=bool(conv.get("private")),
                )
            )
        ticket = self.http.get(f"/api/v2/tickets/{ticket_ref}")
        status = STATUS.get(ticket.get("status"))
        if status:
            when = (ticket.get("stats") or {}).get(f"{status}_at") or ticket.get("updated_at") or ""
            replies.append(AgentReply(external_id=f"status-{ticket_ref}-{status}-{when}", ticket_ref=ticket_ref, status=status))
        return replies


class _FormPairs(dict):
    """httpx takes a dict for form data; repeated keys (tags[]) need a list value."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        for k, v in pairs:
            self.setdefault(k, []).append(v)


def _ticket_id(data: dict[str, Any], who: str) -> str:
    nested = data.get("freshdesk_webhook")
    inner = nested if isinstance(nested, dict) else data
    tid = str(inner.get("ticket_id") or "").strip()
    if not tid.isdigit():
        raise PayloadInvalid(f"{who}: webhook body has no numeric ticket_id (payload: {{\"freshdesk_webhook\": {{\"ticket_id\": \"{{{{ticket.id}}}}\"}}}})")
    return tid


def _display_name(from_email: str | None) -> str:
    if not from_email:
        return ""
    name = from_email.split("<", 1)[0].strip().strip('"')
    return name or from_email
