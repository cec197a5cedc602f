"""Zendesk Support: tickets via the Tickets API, agent replies via a signed webhook.

API: https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/
Auth: basic ``{email}/token:{api_token}``.
Push: the first message creates a ticket (``external_id`` = ``omnihub-conversation-<id>``,
looked up before creating, plus an ``Idempotency-Key``); later messages are comments added
with ``PUT /api/v2/tickets/{id}.json``, deduplicated by the ``omnihub-message-<id>`` footer
found in ``GET /api/v2/tickets/{id}/comments.json``. A closed ticket takes no comments: the
conversation continues in a follow-up ticket (``via_followup_source_id``, same external_id);
agent replies on it are mapped back to the ticket the core links (connector state). Attachments: ``POST /api/v2/uploads.json``
then the upload tokens on the comment.
Agent replies: a webhook subscribed to ``zen:event-type:ticket.comment_added`` and
``zen:event-type:ticket.status_changed``, signed per
https://developer.zendesk.com/documentation/webhooks/verifying/ :
``X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret, timestamp + body))``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr, model_validator

from hub import signing
from hub.errors import PayloadInvalid, PermanentDeliveryError
from hub.types import SUBDOMAIN, AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
PRIORITY = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
STATUS_MAP = {"solved": "resolved", "closed": "closed", "open": "open", "new": "open"}


class ZendeskConfig(AdapterConfig):
    subdomain: str | None = setting(
        None, title="Zendesk subdomain", example="acme", section="addresses", origin_of="part", pattern=SUBDOMAIN,
        needed_for="the API (or set Base URL)", help="acme for https://acme.zendesk.com. This or Base URL is required.")
    base_url: str | None = setting(
        None, title="Base URL", example="https://support.acme.com", section="advanced", origin_of="url",
        help="Overrides the subdomain (a host-mapped Zendesk, a proxy or a local test server).")
    email: str = setting(
        title="Agent email", example="omnihub@acme.com", section="credentials",
        help="The email of the agent (or admin) the API token belongs to; tickets are created as this user.")
    api_token: SecretStr = setting(
        title="API token", help="Admin Center → Apps and integrations → Zendesk API → API tokens.")
    group_id: int | None = setting(
        None, title="Group ID", example=360001234567, help="New tickets are assigned to this group.")
    brand_id: int | None = setting(None, title="Brand ID", example=360000123456, help="New tickets belong to this brand.")
    tags: tuple[str, ...] = setting(
        ("omnihub",), title="Tags", example="omnihub, wallet", help="Tags added to every ticket (the channel is always tagged too).")
    channel_field_id: int | None = setting(
        None, title="Channel field ID", example=360012345678, section="advanced",
        help="A custom ticket field that receives the channel name (sms, whatsapp, email…).")
    address_field_id: int | None = setting(
        None, title="Address field ID", example=360012345679, section="advanced",
        help="A custom ticket field that receives the customer's address (phone number, email…).")
    outbound_public: bool = setting(
        True, title="Replies as public comments", help="Agent replies sent from omnihub appear as public comments on the ticket.")
    webhook_secret: SecretStr | None = setting(
        None, title="Webhook signing secret", needed_for="agent replies",
        help="The signing secret of the Zendesk webhook that sends agent replies (Admin Center → Webhooks → the webhook → Signing secret).")
    webhook_max_age: int = setting(
        3600, title="Webhook maximum age (seconds)", section="advanced",
        help="Older signed timestamps are refused. Zendesk retries keep their first timestamp, so keep it above its retry window.")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")

    @model_validator(mode="after")
    def _where(self) -> ZendeskConfig:
        if not (self.subdomain or self.base_url):
            raise ValueError("set subdomain (acme for acme.zendesk.com) or base_url")
        return self


class ZendeskBackend(HelpdeskBackend):
    kind = "zendesk"
    title = "Zendesk"
    Config = ZendeskConfig
    config: ZendeskConfig  # the instance's validated config (ctx.config)
    hooks = ("agent-reply",)
    signed_timestamp = True  # the signature covers X-Zendesk-Webhook-Signature-Timestamp
    erases = True  # erase_ticket: delete, then delete permanently

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        c = self.config
        self.who = f"zendesk connector {ctx.name!r}"
        self.http = JsonClient(
            c.base_url or f"https://{c.subdomain}.zendesk.com",
            who=self.who,
            auth=(f"{c.email}/token", c.api_token.get_secret_value()),
            timeout=c.timeout,
        )

    # --- push ------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        # Zendesk takes files up to 50 MB
        item = hd.fit_attachments(item, per_file=50 * hd.MB, total=None, vendor="Zendesk")
        linked = item.ticket_ref or self._find_ticket(item, oldest=True)
        if linked is None:
            return self._create_ticket(item)
        ticket_ref = linked
        ticket = self.http.get(f"/api/v2/tickets/{ticket_ref}.json")["ticket"]
        if ticket.get("status") == "closed":
            # A closed ticket takes no more comments: the conversation continues in a follow-up
            # ticket with the same external_id (found again on a retry). The result keeps naming
            # the linked ticket; agent replies on the follow-up are mapped back to it.
            existing = self._find_comment(ticket_ref, item)
            if existing is not None:
                return PushResult(ticket_ref=linked, comment_ref=existing, data={"deduplicated": True})
            follow_ref = self._find_ticket(item, open_only=True)
            if follow_ref is None:
                created = self._create_ticket(item, followup_of=ticket_ref)
                self._remember_followup(created.ticket_ref, linked)
                return PushResult(ticket_ref=linked, comment_ref=created.comment_ref, data={"ticket": created.ticket_ref})
            self._remember_followup(follow_ref, linked)
            ticket_ref = follow_ref
            ticket = self.http.get(f"/api/v2/tickets/{ticket_ref}.json")["ticket"]
        data_out = {"ticket": ticket_ref} if ticket_ref != linked else {}
        existing = self._find_comment(ticket_ref, item)
        if existing is not None:
            return PushResult(ticket_ref=linked, comment_ref=existing, data={"deduplicated": True, **data_out})
        comment: dict[str, Any] = {"body": hd.body_text(item), "public": True}
        if item.direction == "inbound":
            comment["author_id"] = ticket["requester_id"]  # shown as the customer's; no notification
        else:
            comment["public"] = self.config.outbound_public
        uploads = self._upload(item)
        if uploads:
            comment["uploads"] = uploads
        update: dict[str, Any] = {"comment": comment, **_label_update(ticket, item)}
        data = self.http.put(f"/api/v2/tickets/{ticket_ref}.json", json={"ticket": update})
        return PushResult(ticket_ref=linked, comment_ref=_comment_id(data), data=data_out)

    def _remember_followup(self, follow_ref: str, linked_ref: str) -> None:
        """Agent replies on a follow-up ticket belong to the conversation the core links to ``linked_ref``."""
        key = f"zendesk-followup:{follow_ref}"
        if self.ctx.state.get(key) != linked_ref:
            self.ctx.state.set(key, linked_ref)

    def linked_ref(self, ticket_ref: str) -> str:
        """The ticket reference the core knows for ``ticket_ref`` (itself unless it is a follow-up)."""
        return str(self.ctx.state.get(f"zendesk-followup:{ticket_ref}") or ticket_ref)

    def _find_ticket(self, item: PushItem, *, open_only: bool = False, oldest: bool = False) -> str | None:
        """A ticket carrying the conversation's external_id: the first one (the one the core links)
        or the newest open follow-up."""
        data = self.http.get("/api/v2/tickets.json", params={"external_id": hd.conversation_key(item)})
        tickets = sorted(data.get("tickets") or [], key=lambda t: int(t["id"]), reverse=not oldest)
        if open_only:
            tickets = [t for t in tickets if t.get("status") != "closed"]
        return str(tickets[0]["id"]) if tickets else None

    def _find_comment(self, ticket_ref: str, item: PushItem) -> str | None:
        path = f"/api/v2/tickets/{ticket_ref}/comments.json"
        params: dict[str, Any] | None = {"sort_order": "desc"}
        while path:
            data = self.http.get(path, params=params)
            for c in data.get("comments") or []:
                if hd.has_marker(c.get("body") or c.get("plain_body"), item.message_id):
                    return str(c["id"])
            nxt = data.get("next_page")
            path, params = (nxt.replace(self.http.base_url, ""), None) if nxt else ("", None)
        return None

    def _create_ticket(self, item: PushItem, followup_of: str | None = None) -> PushResult:
        c = self.config
        req = hd.requester(item)
        ticket: dict[str, Any] = {
            "subject": hd.subject(item),
            "external_id": hd.conversation_key(item),
            "comment": {"body": hd.body_text(item), "public": True},
            "tags": sorted({*c.tags, f"omnihub_{_tag(req.medium)}", *hd.labels(item.conversation)}),
            "priority": hd.priority_for(item.conversation, PRIORITY),
        }
        if req.email:
            ticket["requester"] = {"name": req.name, "email": req.email}
        else:
            ticket["requester_id"] = self._end_user(req)
        if followup_of:
            ticket["via_followup_source_id"] = int(followup_of)
        if c.group_id:
            ticket["group_id"] = c.group_id
        if c.brand_id:
            ticket["brand_id"] = c.brand_id
        fields = []
        if c.channel_field_id:
            fields.append({"id": c.channel_field_id, "value": req.medium})
        if c.address_field_id:
            fields.append({"id": c.address_field_id, "value": req.address})
        if fields:
            ticket["custom_fields"] = fields
        uploads = self._upload(item)
        if uploads:
            ticket["comment"]["uploads"] = uploads
        # Idempotency-Key: Zendesk replays the first answer for a repeated key and refuses the
        # key with a different payload (new upload tokens on a retry), so the key covers both.
        body = {"ticket": ticket}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        data = self.http.post("/api/v2/tickets.json", json=body, headers={"Idempotency-Key": f"{hd.conversation_key(item)}-{digest}"})
        return PushResult(ticket_ref=str(data["ticket"]["id"]), comment_ref=_comment_id(data))

    def _end_user(self, req: hd.Requester) -> int:
        """A requester without email: an end user keyed by our external id (create_or_update is idempotent)."""
        user: dict[str, Any] = {"name": req.name, "external_id": req.external_id, "role": "end-user"}
        if req.phone:
            user["phone"] = req.phone
        data = self.http.post("/api/v2/users/create_or_update.json", json={"user": user})
        return int(data["user"]["id"])

    def _upload(self, item: PushItem) -> list[str]:
        tokens = []
        for blob in item.attachments:
            data = self.http.post(
                "/api/v2/uploads.json",
                params={"filename": blob.filename},
                content=blob.read(),
                headers={"Content-Type": blob.content_type or "application/octet-stream"},
            )
            tokens.append(data["upload"]["token"])
        return tokens

    def erase_ticket(self, ticket_ref: str) -> None:
        """Delete the ticket and its follow-ups (same ``external_id``), then delete each
        permanently (Zendesk keeps deleted tickets 30 days otherwise):
        ``DELETE /api/v2/tickets/{id}.json``, ``DELETE /api/v2/deleted_tickets/{id}.json``."""
        refs = [str(ticket_ref)]
        try:
            ext = self.http.get(f"/api/v2/tickets/{ticket_ref}.json")["ticket"].get("external_id")
        except PermanentDeliveryError:
            ext = None  # already deleted (404): its permanent deletion below is still asked for
        if ext:
            found = self.http.get("/api/v2/tickets.json", params={"external_id": ext}).get("tickets") or []
            refs += [str(t["id"]) for t in found if str(t.get("id")) not in refs]
        for ref in refs:
            if not ref.isdigit():
                raise PermanentDeliveryError(f"{self.who}: {ref!r} is not a Zendesk ticket id")
            self.http.delete(f"/api/v2/tickets/{ref}.json")
            self.http.delete(f"/api/v2/deleted_tickets/{ref}.json")

    def check(self) -> CheckResult:
        data = self.http.get("/api/v2/users/me.json")
        user = data.get("user") or {}
        if not user.get("id") or user.get("role") == "end-user":
            return CheckResult(False, "credentials answer as an anonymous or end user: use an agent's email and API token")
        return CheckResult(True, f"authenticated as {user.get('name')} ({user.get('role')})")

    # --- agent replies -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        secret = hd.secret_value(self.config.webhook_secret, self.who)
        ts = request.headers.get(TIMESTAMP_HEADER) or ""
        now = (request.received_at or datetime.now(UTC)).timestamp()
        # one shared parser: a timestamp that does not parse is refused, never skipped
        signing.signed_timestamp(ts, now=now, window=self.config.webhook_max_age, header=TIMESTAMP_HEADER, who=self.who, iso=True)
        expected = hd.b64(hd.hmac_digest(secret, ts.encode() + request.body, "sha256"))
        hd.check_equal(expected, request.headers.get(SIGNATURE_HEADER), self.who, SIGNATURE_HEADER)

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        data = hd.json_body(request.body, self.who)
        etype = str(data.get("type") or "")
        comment = ((data.get("event") or {}).get("comment")) or {}
        if etype.endswith("ticket.comment_added") and comment.get("id"):
            ext = f"comment-{comment['id']}"
        elif data.get("id"):
            ext = f"event-{data['id']}"
        else:
            raise PayloadInvalid(f"{self.who}: webhook has neither a comment id nor an event id")
        return [RawEvent(external_id=ext, hook=hook, payload=request.body, meta={"type": etype})]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        data = hd.json_body(event.payload, self.who)
        etype = str(data.get("type") or "")
        detail = data.get("detail") or {}
        ticket_ref = str(detail.get("id") or str(data.get("subject", "")).rpartition(":")[2])
        if not ticket_ref:
            raise PayloadInvalid(f"{self.who}: webhook names no ticket")
        ticket_ref = self.linked_ref(ticket_ref)
        ev = data.get("event") or {}
        if etype.endswith("ticket.status_changed"):
            status = STATUS_MAP.get(str(ev.get("current") or detail.get("status") or "").lower())
            return [AgentReply(external_id=event.external_id, ticket_ref=ticket_ref, status=status)] if status else []
        if not etype.endswith("ticket.comment_added"):
            return []
        comment = ev.get("comment") or {}
        author = comment.get("author") or {}
        body = comment.get("body") or ""
        if not author.get("is_staff") or hd.is_ours(body):
            return []  # the customer's own comment or the echo of one we pushed
        status = STATUS_MAP.get(str(detail.get("status") or "").lower())
        return [
            AgentReply(
                external_id=str(comment["id"]),
                ticket_ref=ticket_ref,
                text=body,
                html=comment.get("html_body") or "",
                author_name=author.get("name") or "",
                internal=not _truthy(comment.get("is_public", True)),
                status=status if status in ("resolved", "closed") else None,
            )
        ]


def _comment_id(data: dict[str, Any]) -> str | None:
    for ev in (data.get("audit") or {}).get("events") or []:
        if ev.get("type") == "Comment" and ev.get("id"):
            return str(ev["id"])
    return None


def _label_update(ticket: dict[str, Any], item: PushItem) -> dict[str, Any]:
    """Tag and priority changes riding on the comment's ticket update (no extra request).

    ``additional_tags`` / ``remove_tags`` leave the agents' own tags alone; only our stale
    labels go (at-risk -> breached). Priority only ever rises: an agent's choice is not undone.
    """
    have = set(ticket.get("tags") or [])
    want = set(hd.labels(item.conversation))
    out: dict[str, Any] = {}
    if want - have:
        out["additional_tags"] = sorted(want - have)
    stale = sorted(t for t in have - want if hd.is_label(t))
    if stale:
        out["remove_tags"] = stale
    if hd.priority_rank(item.conversation.priority) > hd.priority_rank(ticket.get("priority")):
        out["priority"] = hd.priority_for(item.conversation, PRIORITY)
    return out


def _tag(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s.lower())


def _truthy(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes")
