"""Request Tracker 5 (REST2): tickets out, agent correspondence back by polling.

Push: the first message of a conversation creates a ticket in the configured queue
(``POST /REST/2.0/ticket``), later messages are correspondence on it
(``POST /REST/2.0/ticket/ID/correspond``); attachments travel as REST2 ``Attachments``
(base64 documents). Agent replies: ``poll`` searches new transactions with TransactionSQL
(``GET /REST/2.0/transactions?query=...``) in the queue since a cursor kept in the
connector state; Correspond/Comment/Status transactions not made by omnihub's own RT user
are journaled, one RawEvent per transaction.

REST2 reference: https://docs.bestpractical.com/rt/5.0.3/RT/REST2.html
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr, model_validator

from hub.errors import AuthError, DeliveryError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, error_for_status
from hub.net import guarded_request
from hub.types import AdapterConfig, AgentReply, CheckResult, PollSink, PushItem, PushResult, RawEvent, setting
from normalizers import htmltext
from outbound._helpdesk import MB, DeliveryLedger, detected_line, fit_attachments, labels, priority_for
from outbound.base import HelpdeskBackend

#: RT statuses an agent sets -> conversation status omnihub mirrors (others are ignored)
STATUS_MAP = {"resolved": "resolved", "rejected": "closed", "deleted": "closed", "open": "open"}
#: RT's own bookkeeping user (automatic new -> open, scrips): never an agent
SYSTEM_USERS = {"RT_System"}
PAGE = 100
#: clock difference tolerated between omnihub and RT when matching an uncertain attempt
CLOCK_SLACK = timedelta(seconds=5)


class RTConfig(AdapterConfig):
    base_url: str = setting(
        title="RT URL", example="https://rt.example.com", origin_of="url", help="The RT web root (REST 2 lives at /REST/2.0).")
    username: str = setting(
        title="RT user", example="omnihub", section="credentials",
        help="The RT user omnihub acts as (the token's owner); its transactions are never taken for agent replies.")
    token: SecretStr | None = setting(
        None, title="Auth token", help="An RT auth token (Logged in as → Settings → Auth Tokens).")
    password: SecretStr | None = setting(None, title="Password", help="HTTP basic auth instead of a token.")
    queue: str = setting("General", title="Queue", example="Support", section="addresses", help="The queue new tickets go to.")
    priorities: dict[str, int] = setting(
        {"low": 0, "normal": 50, "high": 100, "urgent": 100}, title="Priority map", section="advanced",
        help="omnihub priority → RT's numeric Priority (RT 5's stock PriorityAsString: Low 0, Medium 50, High 100).")
    requestor_fallback: str | None = setting(
        None, title="Fallback requestor", example="support@example.com", section="addresses",
        help="Requestor for contacts without an email address (their channel and address go in the ticket).")
    max_attachment_mb: int = setting(
        10, title="Largest attachment (MB)", section="advanced",
        help="Larger files stay in omnihub and the ticket says so (RT's $MaxAttachmentSize, 10 MB by default).")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")
    poll_interval: float = setting(
        20.0, title="Poll interval (seconds)", section="advanced", help="Seconds between polls for agent replies and status changes.")

    @model_validator(mode="after")
    def _credentials(self) -> RTConfig:
        if not self.token and not self.password:
            raise ValueError("rt: set token (an RT auth token) or password (basic auth for username)")
        return self


def _tsql(value: str) -> str:
    """Quote a value for TicketSQL / TransactionSQL."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _since(created: str | None, since: datetime) -> bool:
    """Whether an RT ``Created`` stamp (UTC, "2026-11-22T17:46:00Z") is at/after an attempt.

    Compared here rather than in TicketSQL, which reads dates in the RT user's time zone.
    """
    if not created:
        return False
    when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return when >= since - CLOCK_SLACK


class RTBackend(HelpdeskBackend):
    kind = "rt"
    title = "Request Tracker"
    Config = RTConfig
    config: RTConfig  # the instance's validated config (ctx.config)
    polls = True

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._users: dict[str, tuple[str, bool]] = {}

    # -- HTTP ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        cfg: RTConfig = self.config
        url = f"{cfg.base_url.rstrip('/')}/REST/2.0/{path.lstrip('/')}"
        headers = {"Accept": "application/json"}
        auth = None
        if cfg.token:
            headers["Authorization"] = f"token {cfg.token.get_secret_value()}"
        else:
            assert cfg.password is not None  # RTConfig requires a token or a password
            auth = httpx.BasicAuth(cfg.username, cfg.password.get_secret_value())
        try:
            resp = guarded_request("base_url", method, url, json=json_body, params=params, headers=headers, auth=auth, timeout=cfg.timeout)
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"rt {self.ctx.name!r}: {method} {path}: {exc.__class__.__name__}: {exc}") from None
        err = error_for_status(resp.status_code, _message(resp), who=f"rt {self.ctx.name!r} {method} {path}", retry_after=resp.headers.get("Retry-After"))
        if err:
            raise err
        if 300 <= resp.status_code < 400:
            # RT answers REST2 with a redirect to its login page when WebPath/base_url don't match
            raise PermanentDeliveryError(
                f"rt {self.ctx.name!r}: {path} redirected to {resp.headers.get('Location')!r}: check base_url (and RT's $WebPath)"
            )
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise PermanentDeliveryError(f"rt {self.ctx.name!r}: {path}: answer is not JSON (is base_url an RT server?)") from None

    def _search(self, collection: str, query: str, *, fields: str, order: str = "ASC", per_page: int = PAGE, page: int = 1) -> dict:
        params = {"query": query, "fields": fields, "orderby": "id", "order": order, "per_page": per_page, "page": page}
        return self._request("GET", collection, params=params) or {}

    # -- push -----------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        ledger = DeliveryLedger(self.ctx.state, item)
        done = ledger.result()
        if done:
            return PushResult(ticket_ref=done["ticket"], comment_ref=done.get("comment"))
        item = fit_attachments(item, per_file=self.config.max_attachment_mb * MB, total=None, vendor="Request Tracker")
        if self.ctx.state.get("cursor") is None:
            self.ctx.state.set("cursor", self._last_transaction_id())
        attempt = ledger.attempt()
        ticket = ledger.ticket()
        comment: str | None = None
        if ticket is None:
            content = self._first_content(item)
            ticket = self._find_ticket(item, content, attempt) if attempt else None
            if ticket is None:
                ledger.mark_attempt()
                ticket = self._create_ticket(item, content)
            ledger.set_ticket(ticket)
        else:
            # REST2 refuses a correspondence without content unless it carries attachments
            content = item.text or ("" if item.attachments else f"({item.kind} without text)")
            if attempt:
                comment = self._find_correspondence(ticket, content, attempt)
            if comment is None:
                ledger.mark_attempt()
                self._request("POST", f"ticket/{ticket}/correspond", json_body=self._message_body(item, content))
                comment = self._find_correspondence(ticket, content, None)
        ledger.record(ticket, comment)
        return PushResult(ticket_ref=ticket, comment_ref=comment)

    def _first_content(self, item: PushItem) -> str:
        """The first message, headed with the customer's channel and address (RT has no field for them)."""
        who = item.contact.name or item.sender.name
        lines = [f"Channel: {item.conversation.medium} ({item.sender.address}{', ' + who if who else ''})"]
        lines.append(f"omnihub conversation: {item.conversation.id}")
        # RT has no tags without a custom field: the labels and the entities go in the text
        tags = labels(item.conversation)
        if tags:
            lines.append(f"omnihub labels: {' '.join(tags)}")
        detected = detected_line(item.conversation)
        if detected:
            lines.append(detected)
        return "\n".join(lines) + "\n\n" + item.text

    def _message_body(self, item: PushItem, content: str) -> dict[str, Any]:
        body: dict[str, Any] = {"Content": content, "ContentType": "text/plain"}
        if item.attachments:
            body["Attachments"] = [
                {"FileName": a.filename, "FileType": a.content_type, "FileContent": base64.b64encode(a.read()).decode()}
                for a in item.attachments
            ]
        return body

    def _requestor(self, item: PushItem) -> str | None:
        return item.contact.email or self.config.requestor_fallback

    def _subject(self, item: PushItem) -> str:
        subject = item.subject or item.conversation.subject
        if not subject:
            subject = f"{item.conversation.medium} message from {item.contact.name or item.sender.name or item.sender.address}"
        return subject[:200]

    def _create_ticket(self, item: PushItem, content: str) -> str:
        body = {
            "Queue": self.config.queue,
            "Subject": self._subject(item),
            "Priority": priority_for(item.conversation, self.config.priorities),
            **self._message_body(item, content),
        }
        requestor = self._requestor(item)
        if requestor:
            body["Requestor"] = requestor
        created = self._request("POST", "ticket", json_body=body)
        if not isinstance(created, dict) or "id" not in created:
            raise PermanentDeliveryError(f"rt {self.ctx.name!r}: ticket create answered {str(created)[:200]}")
        return str(created["id"])

    def _find_ticket(self, item: PushItem, content: str, since: datetime) -> str | None:
        """After an uncertain attempt: our ticket in the queue, same subject and text, created since."""
        query = (
            f"Queue = {_tsql(self.config.queue)} AND Subject = {_tsql(self._subject(item))} "
            f"AND Creator = {_tsql(self.config.username)}"
        )
        found = self._search("tickets", query, fields="Subject,Created", order="DESC", per_page=10)
        for ticket in found.get("items", []):
            if not _since(ticket.get("Created"), since):
                continue
            txns = self._search("transactions", f"ObjectType = 'RT::Ticket' AND ObjectId = {int(ticket['id'])} AND Type = 'Create'", fields="Type")
            for txn in txns.get("items", []):
                if _comparable(self._content(txn["id"])[0]) == _comparable(content):
                    return str(ticket["id"])
        return None

    def _find_correspondence(self, ticket: str, content: str, since: datetime | None) -> str | None:
        """Our newest Correspond transaction on ``ticket`` carrying ``content`` (since an attempt)."""
        query = (
            f"ObjectType = 'RT::Ticket' AND ObjectId = {int(ticket)} AND Type = 'Correspond' "
            f"AND Creator = {_tsql(self.config.username)}"
        )
        found = self._search("transactions", query, fields="Type,Created", order="DESC", per_page=10)
        for txn in found.get("items", []):
            if since is not None and not _since(txn.get("Created"), since):
                continue
            if self._content(txn["id"])[0].strip() == content.strip():
                return str(txn["id"])
        return None

    def _content(self, txn_id: Any) -> tuple[str, str]:
        """(text, content type) of a transaction's message body (text/plain preferred)."""
        atts = self._request("GET", f"transaction/{int(txn_id)}/attachments", params={"fields": "Content,ContentType,Filename", "per_page": PAGE})
        parts = [a for a in (atts or {}).get("items", []) if not a.get("Filename") and a.get("Content")]
        for wanted in ("text/plain", "text/html"):
            for part in parts:
                if part.get("ContentType") == wanted:
                    # collections give Content as text (only GET attachment/ID base64-encodes it)
                    return part["Content"], wanted
        return "", "text/plain"

    def _last_transaction_id(self) -> int:
        found = self._search("transactions", "id > 0", fields="Type", order="DESC", per_page=1)
        items = found.get("items") or []
        return int(items[0]["id"]) if items else 0

    # -- check ----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        try:
            queue = self._request("GET", f"queue/{self.config.queue}")
        except DeliveryError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"RT queue {queue.get('Name', self.config.queue)!r} reachable as {self.config.username}")

    # -- agent replies back -----------------------------------------------------------------
    def poll_once(self, sink: PollSink) -> int:
        """Journal agent transactions newer than the cursor; returns how many were recorded."""
        state = self.ctx.state
        cursor = state.get("cursor")  # the push worker sets it before the first ticket
        if cursor is None:  # first run: start from now, never replay the queue's history
            state.set("cursor", self._last_transaction_id())
            return 0
        recorded = 0
        while True:
            query = (
                f"id > {int(cursor)} AND ObjectType = 'RT::Ticket' AND TicketQueue = {_tsql(self.config.queue)} "
                "AND (Type = 'Correspond' OR Type = 'Comment' OR Type = 'Status')"
            )
            page = self._search("transactions", query, fields="Type,Creator,Created,ObjectId,OldValue,NewValue,Field")
            items = page.get("items") or []
            events = [e for e in (self._event(txn) for txn in items) if e is not None]
            if events:
                sink.record(events)
                recorded += len(events)
            if items:
                cursor = max(int(t["id"]) for t in items)
                state.set("cursor", cursor)
            if len(items) < PAGE:
                return recorded

    def _event(self, txn: dict) -> RawEvent | None:
        creator = (txn.get("Creator") or {}).get("id", "")
        if creator == self.config.username or creator in SYSTEM_USERS:
            return None
        real_name, privileged = self._user(creator)
        if not privileged:
            return None  # a requestor writing to RT directly (e.g. answering RT's mail): not an agent
        kind = txn.get("Type")
        data: dict[str, Any] = {
            "transaction": str(txn["id"]),
            "type": kind,
            "ticket": str(txn.get("ObjectId")),
            "creator": creator,
            "author_name": real_name,
            "created": txn.get("Created"),
        }
        if kind == "Status":
            status = STATUS_MAP.get(txn.get("NewValue") or "")
            if status is None:
                return None
            data.update(old_status=txn.get("OldValue"), new_status=txn.get("NewValue"), status=status)
        else:
            text, content_type = self._content(txn["id"])
            data.update(content=text.rstrip(), content_type=content_type)
        return RawEvent(external_id=str(txn["id"]), hook="poll", payload=json.dumps(data).encode(), meta={"ticket": data["ticket"]})

    def _user(self, username: str) -> tuple[str, bool]:
        """(real name, privileged) of an RT user; only privileged users are staff."""
        if username not in self._users:
            try:
                user = self._request("GET", f"user/{quote(username, safe='')}") or {}
            except AuthError:
                raise
            except PermanentDeliveryError:  # not visible to omnihub's user: not one of its agents
                user = {}
            self._users[username] = (user.get("RealName") or username, str(user.get("Privileged", "0")) == "1")
        return self._users[username]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        try:
            data = json.loads(event.payload)
            ticket = data["ticket"]
            kind = data["type"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PayloadInvalid(f"rt: unreadable polled transaction: {exc}") from None
        if kind == "Status":
            return [AgentReply(external_id=event.external_id, ticket_ref=ticket, author_name=data.get("author_name", ""), status=data.get("status"))]
        if kind not in ("Correspond", "Comment"):
            return []
        text, html = data.get("content", ""), ""
        if data.get("content_type") == "text/html":
            html = data.get("content", "")
            text = _html_to_text(html)
        return [
            AgentReply(
                external_id=event.external_id,
                ticket_ref=ticket,
                text=text,
                html=html,
                author_name=data.get("author_name", ""),
                internal=kind == "Comment",
            )
        ]


def _html_to_text(html: str) -> str:
    """A readable plain-text rendering of RT's rich-text correspondence."""
    return htmltext.html_to_text(html)


def _message(resp: httpx.Response) -> str:
    """RT's error text: REST2 answers {"message": "..."} (or a list of messages)."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])[:300]
    return json.dumps(data)[:300]


_VOLATILE = re.compile(r"^(?:omnihub labels: |Detected: ).*$\n?", re.M)


def _comparable(content: str) -> str:
    """A first message's text without the lines that may change between attempts (SLA state,
    entities found meanwhile): a retry still recognises the ticket it created."""
    return _VOLATILE.sub("", content).strip()
