"""django-helpdesk (DRF API): tickets out, staff follow-ups back by polling.

Push: the first message of a conversation creates a ticket (``POST api/tickets/``), later
messages are public follow-ups (``POST api/followups/``; files as multipart
``attachments``). Agent replies: ``poll`` pages through ``GET api/followups/`` (ordered by
date) from a cursor kept in the connector state. A follow-up written by a staff user other
than omnihub's own is an agent reply when public, an internal note when private; one whose
``new_status`` is resolved/closed mirrors that status.

django-helpdesk ignores ``message_id`` on follow-ups and has no idempotency key, so retries
are made safe here: each delivery's result is kept in the connector state, and a push that
may have reached the helpdesk before a crash is looked up (same author, same text, since
the attempt) before anything is posted again.

API: https://django-helpdesk.readthedocs.io/en/latest/api.html
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from hub.errors import DeliveryError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, error_for_status
from hub.net import guarded_request
from hub.types import AdapterConfig, AgentReply, CheckResult, PollSink, PushItem, PushResult, RawEvent, setting
from outbound._helpdesk import MB, DeliveryLedger, detected_line, fit_attachments, labels, priority_for
from outbound.base import HelpdeskBackend

PAGE = 100
#: heads the description of every ticket omnihub opens (how the poller knows its tickets)
MARKER = "omnihub conversation:"
SLACK = timedelta(seconds=5)  # clock difference tolerated when looking up an uncertain attempt


class DjangoHelpdeskConfig(AdapterConfig):
    base_url: str = setting(
        title="django-helpdesk URL", example="https://helpdesk.example.com/helpdesk", origin_of="url",
        help="Where django-helpdesk's URLs are mounted (its API is at <base URL>/api/).")
    token: SecretStr = setting(title="API token", help="The Django REST Framework token of the staff user omnihub acts as.")
    queue: int = setting(title="Queue ID", example=1, section="addresses", help="The queue new tickets go to.")
    submitter_email: str = setting(
        title="Fallback submitter email", example="support@example.com", section="addresses",
        help="Submitter of tickets for contacts without an email address (django-helpdesk requires one).")
    use_contact_email: bool = setting(
        True, title="Contact's email as submitter",
        help="Use the contact's email as submitter when known. django-helpdesk mails the submitter on every public "
             "follow-up: turn this off when omnihub alone should answer customers.")
    priority: int = setting(
        3, title="Default priority", example=3, ge=1, le=5, help="What omnihub's normal priority becomes (1 critical … 5 very low).")
    priorities: dict[str, int] = setting(
        {"low": 4, "high": 2, "urgent": 1}, title="Priority map", section="advanced",
        help="omnihub priority → django-helpdesk priority (1 critical … 5 very low); normal uses the default priority.")
    status_map: dict[int, str] = setting(
        {2: "open", 3: "resolved", 4: "closed", 5: "closed"}, title="Status map", section="advanced",
        help="django-helpdesk status id → conversation status mirrored in omnihub (defaults: its built-in ids).")
    max_attachment_mb: int = setting(
        10, title="Largest attachment (MB)", section="advanced",
        help="Larger files stay in omnihub and the ticket says so (match the server's upload limit).")
    timeout: float = setting(15.0, title="Request timeout (seconds)", section="advanced", help="How long one API request may take.")
    poll_interval: float = setting(
        20.0, title="Poll interval (seconds)", section="advanced", help="Seconds between polls for agent replies and status changes.")


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DjangoHelpdeskBackend(HelpdeskBackend):
    kind = "django_helpdesk"
    title = "django-helpdesk"
    Config = DjangoHelpdeskConfig
    config: DjangoHelpdeskConfig  # the instance's validated config (ctx.config)
    polls = True
    erases = True  # erase_ticket

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._tickets: dict[int, tuple[int | None, int | None]] = {}

    # -- HTTP ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, json_body: Any = None, data: Any = None, files: Any = None, params: Any = None,
                 accept: tuple[int, ...] = ()) -> Any:
        cfg: DjangoHelpdeskConfig = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/{path.lstrip('/')}"
        headers = {"Authorization": f"Token {cfg.token.get_secret_value()}", "Accept": "application/json"}
        try:
            resp = guarded_request("base_url", method, url, json=json_body, data=data, files=files, params=params, headers=headers, timeout=cfg.timeout)
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"django-helpdesk {self.ctx.name!r}: {method} {path}: {exc.__class__.__name__}: {exc}") from None
        if resp.status_code in accept:
            return None
        err = error_for_status(
            resp.status_code, resp.text[:300], who=f"django-helpdesk {self.ctx.name!r} {method} {path}", retry_after=resp.headers.get("Retry-After")
        )
        if err:
            raise err
        if 300 <= resp.status_code < 400:
            raise PermanentDeliveryError(
                f"django-helpdesk {self.ctx.name!r}: {path} redirected to {resp.headers.get('Location')!r}: check base_url"
            )
        if method == "DELETE" and not resp.content:
            return None  # 204 No Content
        try:
            return resp.json()
        except ValueError:
            raise PermanentDeliveryError(f"django-helpdesk {self.ctx.name!r}: {path}: answer is not JSON (is base_url right?)") from None

    def erase_ticket(self, ticket_ref: str) -> None:
        """``DELETE api/tickets/{id}/`` (the API user is a superuser): the ticket goes with its
        follow-ups and attachments. A ticket already gone (404) counts as deleted."""
        if not str(ticket_ref).isdigit():
            raise PermanentDeliveryError(f"django-helpdesk {self.ctx.name!r}: {ticket_ref!r} is not a ticket id")
        self._request("DELETE", f"tickets/{ticket_ref}/", accept=(404,))

    # -- push -----------------------------------------------------------------------------
    def push(self, item: PushItem) -> PushResult:
        ledger = DeliveryLedger(self.ctx.state, item)
        done = ledger.result()
        if done:
            return PushResult(ticket_ref=done["ticket"], comment_ref=done.get("comment"))
        item = fit_attachments(item, per_file=self.config.max_attachment_mb * MB, total=None, vendor="django-helpdesk")
        if self.ctx.state.get("cursor") is None:
            self.ctx.state.set("cursor", self._end_cursor())
        attempt = ledger.attempt()
        ticket = ledger.ticket()
        comment: str | None = None
        if ticket is None:
            found = self._find_ticket(item, attempt) if attempt else None
            if found is None:
                ledger.mark_attempt()
                found = self._create_ticket(item)
            ticket, comment = found
            ledger.set_ticket(ticket)
            if item.attachments:  # the ticket takes one file: the message's files follow in a follow-up
                comment = self._follow_up(ticket, ledger, "Attachments: " + ", ".join(a.filename for a in item.attachments), attempt)
        else:
            comment = self._follow_up(ticket, ledger, item.text or f"({item.kind} without text)", attempt)
        ledger.record(ticket, comment)
        return PushResult(ticket_ref=ticket, comment_ref=comment)

    def _submitter(self, item: PushItem) -> str:
        if self.config.use_contact_email and item.contact.email:
            return item.contact.email
        return self.config.submitter_email

    def _title(self, item: PushItem) -> str:
        title = item.subject or item.conversation.subject
        if not title:
            title = f"{item.conversation.medium} message from {item.contact.name or item.sender.name or item.sender.address}"
        return title[:200]

    def _description(self, item: PushItem) -> str:
        who = item.contact.name or item.sender.name
        head = f"Channel: {item.conversation.medium} ({item.sender.address}{', ' + who if who else ''})"
        lines = [head, f"{MARKER} {item.conversation.id}"]
        # django-helpdesk has no tags: the labels and the entities go in the description
        tags = labels(item.conversation)
        if tags:
            lines.append(f"omnihub labels: {' '.join(tags)}")
        detected = detected_line(item.conversation)
        if detected:
            lines.append(detected)
        return "\n".join(lines) + f"\n\n{item.text}"

    def _create_ticket(self, item: PushItem) -> tuple[str, str | None]:
        body = {
            "queue": self.config.queue,
            "title": self._title(item),
            "description": self._description(item),
            "submitter_email": self._submitter(item),
            "priority": priority_for(item.conversation, {"normal": self.config.priority, **self.config.priorities}),
        }
        created = self._request("POST", "tickets/", json_body=body)
        return self._learn_self(created)

    def _learn_self(self, ticket: dict) -> tuple[str, str | None]:
        """(ticket id, opening follow-up id); remembers which user omnihub is."""
        opened = (ticket.get("followup_set") or [{}])[0]
        self._remember_self(opened.get("user"))
        return str(ticket["id"]), str(opened["id"]) if opened.get("id") is not None else None

    def _find_ticket(self, item: PushItem, since: datetime) -> tuple[str, str | None] | None:
        """After an uncertain attempt: our ticket with this title, submitter and text, opened since."""
        count = self._request("GET", "tickets/", params={"page_size": 1}).get("count", 0)
        last = max(1, math.ceil(count / 25))
        for page in range(last, max(0, last - 2), -1):  # tickets are ordered by id: newest last
            for ticket in reversed(self._request("GET", "tickets/", params={"page_size": 25, "page": page}).get("results", [])):
                opened = (ticket.get("followup_set") or [{}])[0]
                if (
                    ticket.get("queue") == self.config.queue
                    and ticket.get("title") == self._title(item)
                    and ticket.get("submitter_email") == self._submitter(item)
                    and _comparable(ticket.get("description") or "") == _comparable(self._description(item))
                    and (_when(opened.get("date")) or since) >= since - SLACK
                ):
                    return self._learn_self(ticket)
        return None

    def _follow_up(self, ticket: str, ledger: DeliveryLedger, text: str, attempt: datetime | None) -> str:
        item = ledger.item
        if attempt:
            found = self._find_follow_up(ticket, text, attempt)
            if found:
                return found
        ledger.mark_attempt()
        fields = {"ticket": int(ticket), "comment": text, "public": True}
        if item.attachments:
            files = [("attachments", (a.filename, a.read(), a.content_type)) for a in item.attachments]
            created = self._request("POST", "followups/", data={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}, files=files)
        else:
            created = self._request("POST", "followups/", json_body=fields)
        self._remember_self(created.get("user"))
        return str(created["id"])

    def _remember_self(self, user: int | None) -> None:
        if user is not None and self.ctx.state.get("self_user") != user:
            self.ctx.state.set("self_user", user)

    def _find_follow_up(self, ticket: str, text: str, since: datetime) -> str | None:
        me = self.ctx.state.get("self_user")
        data = self._request("GET", f"tickets/{int(ticket)}/")
        for f in reversed(data.get("followup_set") or []):
            when = _when(f.get("date"))
            if (me is None or f.get("user") == me) and (f.get("comment") or "").strip() == text.strip() and when and when >= since - SLACK:
                return str(f["id"])
        return None

    # -- check ----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        try:
            data = self._request("GET", "tickets/", params={"page_size": 1})
        except DeliveryError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"django-helpdesk API reachable ({data.get('count', 0)} tickets visible)")

    # -- agent replies back -----------------------------------------------------------------
    def _end_cursor(self) -> dict[str, int]:
        count = self._request("GET", "followups/", params={"page_size": 1}).get("count", 0)
        page = max(1, math.ceil(count / PAGE))
        results = self._request("GET", "followups/", params={"page_size": PAGE, "page": page}).get("results", []) if count else []
        return {"last_id": max((f["id"] for f in results), default=0), "page": page}

    def poll_once(self, sink: PollSink) -> int:
        """Journal staff follow-ups newer than the cursor; returns how many were recorded."""
        state = self.ctx.state
        cursor = state.get("cursor")  # the push worker sets it before the first ticket
        if cursor is None:  # first run: start from now, never replay the helpdesk's history
            state.set("cursor", self._end_cursor())
            return 0
        last_id, page = int(cursor["last_id"]), int(cursor["page"])
        recorded = 0
        while True:
            try:
                data = self._request("GET", "followups/", params={"page_size": PAGE, "page": page})
            except PermanentDeliveryError:
                if page == 1:
                    raise
                page -= 1  # follow-ups were deleted and our page no longer exists
                continue
            results = [f for f in data.get("results", []) if int(f["id"]) > last_id]
            events = [e for e in (self._event(f) for f in results) if e is not None]
            if events:
                sink.record(events)
                recorded += len(events)
            if results:
                last_id = max(int(f["id"]) for f in results)
            if {"last_id": last_id, "page": page} != cursor:
                cursor = {"last_id": last_id, "page": page}
                state.set("cursor", cursor)  # only when it moved: every state write is a database write
            if not data.get("next"):
                return recorded
            page += 1

    def _event(self, f: dict) -> RawEvent | None:
        user = f.get("user")
        if user is None:
            return None  # the customer, through the helpdesk's own mail or public form
        queue, opener = self._ticket_info(int(f["ticket"]))
        if queue != self.config.queue or opener is None:
            return None  # not a ticket omnihub opened: no conversation to answer
        if user in (opener, self.ctx.state.get("self_user")):
            return None  # omnihub's own follow-ups (the customer's messages)
        new_status = f.get("new_status")
        status = self.config.status_map.get(int(new_status)) if new_status is not None else None
        if not (f.get("comment") or "").strip() and status is None:
            return None
        data = {
            "followup": f["id"],
            "ticket": str(f["ticket"]),
            "user": user,
            "public": bool(f.get("public")),
            "comment": f.get("comment") or "",
            "new_status": f.get("new_status"),
            "status": status,
            "title": f.get("title") or "",
            "date": f.get("date"),
        }
        return RawEvent(external_id=str(f["id"]), hook="poll", payload=json.dumps(data).encode(), meta={"ticket": data["ticket"]})

    def _ticket_info(self, ticket: int) -> tuple[int | None, int | None]:
        """(queue, omnihub's user id) of a ticket; the user is None unless omnihub opened it.

        The poller learns who omnihub is here, from the tickets it opened (their description
        carries our header and their opening follow-up our user), not from state written by
        the push worker, which another process may not have seen yet.
        """
        if ticket not in self._tickets:
            try:
                data = self._request("GET", f"tickets/{ticket}/")
            except PermanentDeliveryError:  # deleted, or in a queue we cannot see
                return None, None
            opened = (data.get("followup_set") or [{}])[0]
            ours = MARKER in (data.get("description") or "")
            self._tickets[ticket] = (data.get("queue"), opened.get("user") if ours else None)
        return self._tickets[ticket]

    def parse_agent_reply(self, event: RawEvent) -> list[AgentReply]:
        try:
            data = json.loads(event.payload)
            ticket = data["ticket"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PayloadInvalid(f"django-helpdesk: unreadable polled follow-up: {exc}") from None
        return [
            AgentReply(
                external_id=event.external_id,
                ticket_ref=ticket,
                text=data.get("comment", ""),
                author_name=data.get("author_name", ""),
                internal=not data.get("public", False),
                status=data.get("status"),
            )
        ]


_VOLATILE = re.compile(r"^(?:omnihub labels: |Detected: ).*$\n?", re.M)


def _comparable(description: str) -> str:
    """A description without the lines that may change between attempts (SLA state, entities
    found meanwhile): a retry still recognises the ticket it created."""
    return _VOLATILE.sub("", description.replace("\r\n", "\n")).strip()
