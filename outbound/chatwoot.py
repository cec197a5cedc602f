"""Chatwoot: conversations in an API-channel inbox; agent replies via its webhook.

API: https://www.chatwoot.com/developers/api/  Auth: header ``api_access_token: <token>``.
Push: a contact (identifier ``omnihub-contact-<id>``) and its contact-inbox, then a
conversation with ``custom_attributes.omnihub_conversation_id`` (looked up among the
contact's conversations before creating); each message is ``POST .../messages`` with
``source_id: omnihub-message-<id>`` (the message builder keeps it), deduplicated by listing
the conversation's messages. Customer messages are ``incoming``, agent replies sent from
omnihub ``outgoing``. Attachments: multipart ``attachments[]``.
Agent replies: Chatwoot posts ``message_created`` to the API inbox's webhook URL (or an
account webhook). Chatwoot does not sign webhooks (``lib/webhooks/trigger.rb`` posts plain
JSON), so the URL carries our secret: ``.../agent-reply?token=<webhook_token>`` (or the
header ``X-Omnihub-Webhook-Token``), compared in constant time.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hub.errors import PayloadInvalid, SignatureInvalid
from hub.types import AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

TOKEN_HEADER = "X-Omnihub-Webhook-Token"
STATUS = {"resolved": "resolved", "open": "open"}
OUTGOING = ("outgoing", 1)


class ChatwootConfig(AdapterConfig):
    base_url: str = setting(
        "https://app.chatwoot.com", title="Chatwoot URL", example="https://chat.example.com", origin_of="url",
        help="Your Chatwoot installation (or Chatwoot Cloud).")
    account_id: int = setting(
        title="Account ID", example=1, section="addresses", help="The number after /app/accounts/ in Chatwoot's URLs.")
    inbox_id: int = setting(
        title="Inbox ID", example=3, section="addresses",
        help="An API-channel inbox (Settings → Inboxes → Add inbox → API); the number after /inboxes/ in its settings URL.")
    api_access_token: SecretStr = setting(
        title="API access token", help="Profile settings → Access token of the agent or bot omnihub acts as.")
    webhook_token: SecretStr | None = setting(
        None, title="Webhook token", needed_for="agent replies",
        help="Chatwoot does not sign webhooks: this token is part of the agent-reply webhook URL you register in Chatwoot.")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")


class ChatwootBackend(HelpdeskBackend):
    kind = "chatwoot"
    title = "Chatwoot"
    Config = ChatwootConfig
    config: ChatwootConfig  # the instance's validated config (ctx.config)
    hooks = ("agent-reply",)
    token_auth = True  # Chatwoot does not sign webhooks: a token in the URL

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        c = self.config
        self.who = f"chatwoot connector {ctx.name!r}"
        self.http = JsonClient(
            c.base_url, who=self.who, headers={"api_access_token": c.api_access_token.get_secret_value()}, timeout=c.timeout
        )
        self.acct = f"/api/v1/accounts/{c.account_id}"

    # --- push ------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        # Chatwoot's default MAXIMUM_FILE_UPLOAD_SIZE is 40 MB
        item = hd.fit_attachments(item, per_file=40 * hd.MB, total=None, vendor="Chatwoot")
        ticket_ref = item.ticket_ref
        if ticket_ref is None:
            contact_id, source_id = self._contact(item)
            ticket_ref = self._find_conversation(contact_id, item) or self._create_conversation(contact_id, source_id, item)
            self._label(ticket_ref, item)
        key = hd.message_key(item)
        existing = self._find_message(ticket_ref, key)
        if existing:
            return PushResult(ticket_ref=ticket_ref, comment_ref=existing, data={"deduplicated": True})
        msg: dict[str, Any] = {
            "content": hd.with_detected(item, item.text or "(attachment)"),
            "message_type": "incoming" if item.direction == "inbound" else "outgoing",
            "private": False,
            "source_id": key,
        }
        path = f"{self.acct}/conversations/{ticket_ref}/messages"
        if item.attachments:
            files = [("attachments[]", (b.filename, b.read(), b.content_type or "application/octet-stream")) for b in item.attachments]
            data = self.http.post(path, data={k: str(v).lower() if isinstance(v, bool) else v for k, v in msg.items()}, files=files)
        else:
            data = self.http.post(path, json=msg)
        return PushResult(ticket_ref=ticket_ref, comment_ref=str(data["id"]))

    def _contact(self, item: PushItem) -> tuple[int, str]:
        req = hd.requester(item)
        match = self._search_contact("identifier", req.external_id)
        # a contact Chatwoot already has (another channel) owns the email/phone: creating one would be refused
        if not match and req.email:
            match = self._search_contact("email", req.email)
        if not match and req.phone:
            match = self._search_contact("phone_number", req.phone)
        if match:
            contact_id = int(match[0]["id"])
            mine = [ci for ci in match[0].get("contact_inboxes") or [] if (ci.get("inbox") or {}).get("id") == self.config.inbox_id]
            ci = mine[0] if mine else self.http.post(
                f"{self.acct}/contacts/{contact_id}/contact_inboxes", json={"inbox_id": self.config.inbox_id}
            )
            source_id = str(ci["source_id"])
        else:
            body: dict[str, Any] = {
                "inbox_id": self.config.inbox_id,
                "name": req.name,
                "identifier": req.external_id,
                "custom_attributes": {"omnihub_channel": req.medium, "omnihub_address": req.address},
            }
            if req.email:
                body["email"] = req.email
            if req.phone:
                body["phone_number"] = req.phone
            payload = (self.http.post(f"{self.acct}/contacts", json=body) or {}).get("payload") or {}
            contact = payload.get("contact") or payload
            contact_id = int(contact["id"])
            inbox: dict[str, Any] = payload.get("contact_inbox") or next(
                (ci for ci in contact.get("contact_inboxes") or [] if (ci.get("inbox") or {}).get("id") == self.config.inbox_id), {}
            )
            if not inbox.get("source_id"):
                inbox = self.http.post(f"{self.acct}/contacts/{contact_id}/contact_inboxes", json={"inbox_id": self.config.inbox_id})
            source_id = str(inbox["source_id"])
        return contact_id, source_id

    def _search_contact(self, field: str, value: str) -> list[dict[str, Any]]:
        found = self.http.get(f"{self.acct}/contacts/search", params={"q": value}) or {}
        return [c for c in found.get("payload") or [] if str(c.get(field) or "").lower() == value.lower()]

    def _find_conversation(self, contact_id: int, item: PushItem) -> str | None:
        data = self.http.get(f"{self.acct}/contacts/{contact_id}/conversations") or {}
        for conv in data.get("payload") or []:
            if str((conv.get("custom_attributes") or {}).get("omnihub_conversation_id")) == str(item.conversation.id):
                return str(conv["id"])
        return None

    def _create_conversation(self, contact_id: int, source_id: str, item: PushItem) -> str:
        body = {
            "source_id": source_id,
            "inbox_id": self.config.inbox_id,
            "contact_id": contact_id,
            "status": "open",
            "custom_attributes": {"omnihub_conversation_id": str(item.conversation.id), "omnihub_channel": item.conversation.medium},
            "additional_attributes": {"mail_subject": hd.subject(item)},
        }
        data = self.http.post(f"{self.acct}/conversations", json=body)
        return str(data["id"])

    def _label(self, ticket_ref: str, item: PushItem) -> None:
        """Our labels on a new conversation (``POST .../labels`` sets the list: repeatable).
        Chatwoot shows labels defined in the account (Settings -> Labels); define the ones
        you filter on. Later pushes do not change them (one more request per message)."""
        wanted = hd.labels(item.conversation)
        if wanted:
            self.http.post(f"{self.acct}/conversations/{ticket_ref}/labels", json={"labels": wanted})

    def _find_message(self, ticket_ref: str, key: str) -> str | None:
        path = f"{self.acct}/conversations/{ticket_ref}/messages"
        params: dict[str, Any] = {}
        for _ in range(50):  # newest first, 20 per page; a retried push is among the newest
            batch = (self.http.get(path, params=params) or {}).get("payload") or []
            for m in batch:
                if m.get("source_id") == key:
                    return str(m["id"])
            if not batch:
                return None
            params = {"before": min(int(m["id"]) for m in batch)}
        return None

    def check(self) -> CheckResult:
        inbox = self.http.get(f"{self.acct}/inboxes/{self.config.inbox_id}")
        kind = inbox.get("channel_type", "")
        if kind and kind != "Channel::Api":
            return CheckResult(False, f"inbox {self.config.inbox_id} is {kind}: use an API-channel inbox")
        return CheckResult(True, f"inbox {inbox.get('name')!r} reachable")

    # --- agent replies -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        secret = hd.secret_value(self.config.webhook_token, self.who)
        provided = request.headers.get(TOKEN_HEADER) or dict(request.args).get("token")
        if not provided:
            raise SignatureInvalid(f"{self.who}: missing ?token= (Chatwoot does not sign webhooks; put the token in the URL)")
        hd.check_equal(secret, provided, self.who, "webhook token")

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        data = hd.json_body(request.body, self.who)
        event = data.get("event")
        if event == "message_created":
            if not data.get("id"):
                raise PayloadInvalid(f"{self.who}: message_created without a message id")
            return [RawEvent(external_id=f"message-{data['id']}", hook=hook, payload=request.body, meta={"event": event})]
        if event in ("conversation_status_changed", "conversation_resolved", "conversation_opened"):
            conv = data.get("id") or (data.get("conversation") or {}).get("id")
            ext = f"status-{conv}-{data.get('status')}-{data.get('updated_at') or data.get('timestamp') or ''}"
            return [RawEvent(external_id=ext, hook=hook, payload=request.body, meta={"event": event})]
        return []  # other events (typing, webwidget_triggered, ...) are acknowledged and dropped

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        data = hd.json_body(event.payload, self.who)
        if data.get("event") != "message_created":
            conv_id = data.get("display_id") or data.get("id")
            status = STATUS.get(str(data.get("status") or ""))
            return [AgentReply(external_id=event.external_id, ticket_ref=str(conv_id), status=status)] if status and conv_id else []
        conv = data.get("conversation") or {}
        ticket_ref = str(conv.get("display_id") or conv.get("id") or "")
        if not ticket_ref:
            raise PayloadInvalid(f"{self.who}: message_created names no conversation")
        sender = data.get("sender") or {}
        if data.get("message_type") not in OUTGOING or str(data.get("source_id") or "").startswith(hd.MESSAGE_PREFIX):
            return []  # the customer's message, an activity/template, or the echo of one we pushed
        if sender and sender.get("type") not in ("user", "agent_bot", None):
            return []
        return [
            AgentReply(
                external_id=str(data["id"]),
                ticket_ref=ticket_ref,
                text=data.get("content") or "",
                author_name=sender.get("available_name") or sender.get("name") or "",
                internal=bool(data.get("private")),
            )
        ]
