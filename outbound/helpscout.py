"""Help Scout (Mailbox API 2.0): conversations and threads; agent replies via webhooks.

API: https://developer.helpscout.com/mailbox-api/  Auth: OAuth2 client credentials
(``POST /v2/oauth2/token``), then ``Authorization: Bearer <token>``; refreshed on expiry or 401.
Push: the first message creates a conversation (``POST /v2/conversations``; id from the
``Resource-ID`` header) tagged ``omnihub-conversation-<id>``, found again with
``GET /v2/conversations?mailbox=&tag=&status=all``; later messages are customer threads
(``POST /v2/conversations/{id}/customer``) or, for agent replies sent from omnihub,
``imported`` reply threads (never emailed); deduplicated by the ``omnihub-message-<id>``
footer in ``GET /v2/conversations/{id}/threads``. Attachments: inline base64.
Agent replies: webhooks (``convo.agent.reply.created``, ``convo.note.created``,
``convo.status``) signed ``X-HelpScout-Signature: base64(HMAC-SHA1(secret, body))``. The
payload is the conversation; when it does not embed its threads the worker lists them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pydantic import SecretStr

from hub.errors import AuthError, PayloadInvalid, PermanentDeliveryError
from hub.types import AdapterConfig, AgentReply, CheckResult, PushItem, PushResult, RawEvent, WebhookRequest, setting
from outbound import _helpdesk as hd
from outbound._http import JsonClient
from outbound.base import HelpdeskBackend

STATUS = {"closed": "closed", "active": "open"}
CHANNEL_TYPE = {"email": "email", "voice": "phone"}


class HelpScoutConfig(AdapterConfig):
    base_url: str = setting(
        "https://api.helpscout.net", title="API base URL", section="advanced", origin_of="url",
        help="Another API host (a proxy or a local test server).")
    app_id: str = setting(
        title="App ID", section="credentials", help="Your profile → My Apps → Create App: the OAuth client's App ID.")
    app_secret: SecretStr = setting(title="App secret", help="The same app's App Secret.")
    mailbox_id: int = setting(
        title="Mailbox ID", example=123456, section="addresses", help="The mailbox conversations are created in (the number in its URL).")
    tags: tuple[str, ...] = setting(
        ("omnihub",), title="Tags", example="omnihub, wallet", help="Tags added to every conversation.")
    webhook_secret: SecretStr | None = setting(
        None, title="Webhook secret", needed_for="agent replies", help="The secret key of the Help Scout webhook that sends agent replies (it signs them).")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")


class HelpScoutBackend(HelpdeskBackend):
    kind = "helpscout"
    title = "Help Scout"
    Config = HelpScoutConfig
    config: HelpScoutConfig  # the instance's validated config (ctx.config)
    erases = True  # erase_ticket
    hooks = ("agent-reply",)

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.who = f"helpscout connector {ctx.name!r}"
        self.http = JsonClient(self.config.base_url, who=self.who, timeout=self.config.timeout)
        self._token_expires = 0.0

    # --- auth --------------------------------------------------------------------------
    def _authorize(self, force: bool = False) -> None:
        if not force and time.monotonic() < self._token_expires:
            return
        data = self.http.post(
            "/v2/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.config.app_id,
                "client_secret": self.config.app_secret.get_secret_value(),
            },
        )
        self.http.set_header("Authorization", f"Bearer {data['access_token']}")
        self._token_expires = time.monotonic() + max(60, int(data.get("expires_in", 7200)) - 60)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        self._authorize()
        try:
            return self.http.request(method, path, **kwargs)
        except AuthError:
            self._authorize(force=True)  # the token may have been revoked early: retry once
            return self.http.request(method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._call(method, path, **kwargs)
        return resp.json() if resp.content else None

    # --- push ------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        # Mailbox API: 10 MB per attachment
        item = hd.fit_attachments(item, per_file=10 * hd.MB, total=None, vendor="Help Scout")
        ticket_ref = item.ticket_ref or self._find_conversation(item)
        if ticket_ref is None:
            return self._create_conversation(item)
        threads = ((self._json("GET", f"/v2/conversations/{ticket_ref}/threads") or {}).get("_embedded") or {}).get("threads") or []
        for t in threads:
            if hd.has_marker(t.get("body"), item.message_id):
                return PushResult(ticket_ref=ticket_ref, comment_ref=str(t["id"]), data={"deduplicated": True})
        customer = self._customer_ref(item, threads)
        body: dict[str, Any] = {"customer": customer, "text": hd.body_html(item), **self._attachments(item)}
        if item.direction == "inbound":
            resp = self._call("POST", f"/v2/conversations/{ticket_ref}/customer", json=body)
        else:
            body["imported"] = True  # already delivered on the customer's channel: Help Scout must not email it
            resp = self._call("POST", f"/v2/conversations/{ticket_ref}/reply", json=body)
        return PushResult(ticket_ref=ticket_ref, comment_ref=resp.headers.get("Resource-ID"))

    def _customer_ref(self, item: PushItem, threads: list[dict[str, Any]]) -> dict[str, Any]:
        for t in threads:
            cust = t.get("customer") or {}
            if cust.get("id"):
                return {"id": cust["id"]}
        req = hd.requester(item)
        return {"email": req.email} if req.email else {"id": self._customer_id(req)}

    def _find_conversation(self, item: PushItem) -> str | None:
        data = self._json(
            "GET",
            "/v2/conversations",
            params={"mailbox": self.config.mailbox_id, "tag": hd.conversation_key(item), "status": "all"},
        )
        convs = ((data or {}).get("_embedded") or {}).get("conversations") or []
        return str(convs[0]["id"]) if convs else None

    def _create_conversation(self, item: PushItem) -> PushResult:
        req = hd.requester(item)
        customer: dict[str, Any]
        if req.email:
            first, last = req.first_last
            customer = {"email": req.email, "firstName": first[:40], **({"lastName": last[:40]} if last else {})}
        else:
            customer = {"id": self._customer_id(req)}
        thread = {"type": "customer", "customer": customer, "text": hd.body_html(item), **self._attachments(item)}
        body = {
            "subject": hd.subject(item),
            "customer": customer,
            "mailboxId": self.config.mailbox_id,
            "type": CHANNEL_TYPE.get(req.medium, "chat"),
            "status": "active",
            "tags": sorted({*self.config.tags, hd.conversation_key(item), f"omnihub-{req.medium}", *hd.labels(item.conversation)}),
            "threads": [thread],
        }
        resp = self._call("POST", "/v2/conversations", json=body)
        ref = resp.headers.get("Resource-ID") or resp.headers.get("Location", "").rstrip("/").rpartition("/")[2]
        if not ref:
            raise PayloadInvalid(f"{self.who}: conversation created without a Resource-ID header")
        return PushResult(ticket_ref=ref, comment_ref=None)

    def _customer_id(self, req: hd.Requester) -> int:
        """A customer without email: created once (phone when known), id kept in connector state."""
        state_key = f"helpscout-customer:{req.external_id}"
        cached = self.ctx.state.get(state_key)
        if cached:
            return int(cached)
        first, last = req.first_last
        body: dict[str, Any] = {"firstName": first[:40], "background": f"omnihub {req.medium}: {req.address}"[:200]}
        if last:
            body["lastName"] = last[:40]
        if req.phone:
            body["phones"] = [{"type": "mobile", "value": req.phone}]
        resp = self._call("POST", "/v2/customers", json=body)
        cid = int(resp.headers["Resource-ID"])
        self.ctx.state.set(state_key, cid)
        return cid

    @staticmethod
    def _attachments(item: PushItem) -> dict[str, Any]:
        if not item.attachments:
            return {}
        return {
            "attachments": [
                {"fileName": b.filename, "mimeType": b.content_type or "application/octet-stream", "data": hd.b64(b.read())}
                for b in item.attachments
            ]
        }

    def erase_ticket(self, ticket_ref: str) -> None:
        """``DELETE /v2/conversations/{id}``: Help Scout deletes the conversation for good."""
        if not str(ticket_ref).isdigit():
            raise PermanentDeliveryError(f"{self.who}: {ticket_ref!r} is not a Help Scout conversation id")
        self._call("DELETE", f"/v2/conversations/{ticket_ref}", accept=(404, 410))

    def check(self) -> CheckResult:
        mailbox = self._json("GET", f"/v2/mailboxes/{self.config.mailbox_id}") or {}
        return CheckResult(True, f"mailbox {mailbox.get('name')!r} reachable")

    # --- agent replies -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        secret = hd.secret_value(self.config.webhook_secret, self.who)
        expected = hd.b64(hd.hmac_digest(secret, request.body, "sha1"))
        hd.check_equal(expected, request.headers.get("X-HelpScout-Signature"), self.who, "X-HelpScout-Signature")

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        return (request.headers.get("X-HelpScout-Signature") or "").strip().encode() or None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "agent-reply":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /agent-reply)")
        data = hd.json_body(request.body, self.who)
        event = request.headers.get("X-HelpScout-Event") or ""
        if not data.get("id"):
            raise PayloadInvalid(f"{self.who}: webhook body has no conversation id")
        if event in ("convo.agent.reply.created", "convo.note.created"):
            thread = _newest_thread(data)
            # without embedded threads the worker reads them (every delivery journaled; replies dedupe by id)
            ext = f"thread-{thread['id']}" if thread else f"convo-{data['id']}-{time.time_ns()}"
        elif event == "convo.status":
            ext = f"status-{data['id']}-{data.get('status')}-{data.get('userUpdatedAt') or data.get('modifiedAt') or ''}"
        else:
            return []  # customer replies, assignments, ... are not agent replies
        return [RawEvent(external_id=ext, hook=hook, payload=request.body, meta={"event": event})]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        data = hd.json_body(event.payload, self.who)
        ticket_ref = str(data.get("id") or "")
        status = STATUS.get(str(data.get("status") or ""))
        if event.meta.get("event") == "convo.status" or event.external_id.startswith("status-"):
            return [AgentReply(external_id=event.external_id, ticket_ref=ticket_ref, status=status)] if status else []
        thread = _newest_thread(data)
        if thread:
            threads = [thread]
        else:
            listed = self._json("GET", f"/v2/conversations/{ticket_ref}/threads") or {}
            threads = (listed.get("_embedded") or {}).get("threads") or []
        replies = [r for r in (self._agent_reply(t, ticket_ref) for t in threads) if r]
        if replies and status == "closed":
            replies[-1] = dataclasses.replace(replies[-1], status="closed")
        return replies

    @staticmethod
    def _agent_reply(thread: dict[str, Any], ticket_ref: str) -> AgentReply | None:
        ttype = thread.get("type")
        by = thread.get("createdBy") or {}
        body = thread.get("body") or thread.get("text") or ""
        if ttype not in ("reply", "message", "note") or by.get("type") == "customer" or hd.is_ours(body):
            return None  # customer thread, or the echo of one we pushed
        if thread.get("state") == "draft":
            return None
        name = " ".join(p for p in (by.get("first") or by.get("firstName"), by.get("last") or by.get("lastName")) if p)
        return AgentReply(
            external_id=str(thread["id"]),
            ticket_ref=ticket_ref,
            text=hd.html_to_text(body),
            html=body,
            author_name=name,
            internal=ttype == "note",
        )


def _newest_thread(data: dict[str, Any]) -> dict[str, Any] | None:
    threads = ((data.get("_embedded") or {}).get("threads")) or data.get("threads") or []
    threads = [t for t in threads if isinstance(t, dict) and t.get("id")]
    if not threads:
        return None
    return max(threads, key=lambda t: (str(t.get("createdAt") or ""), int(t["id"])))
