"""Builders shared by the helpdesk backend tests."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import UTC, datetime

from hub.types import BlobRef, ConnectorContext, ContactInfo, ConversationInfo, MemoryState, PushItem, RawEvent
from normalizers.model import Participant
from normalizers.twilio import phone_of

_ids = itertools.count(1000)


class ListSink:
    """A PollSink that keeps what it is handed (the hub's journals and commits)."""

    def __init__(self) -> None:
        self.events: list[RawEvent] = []

    def record(self, events: list[RawEvent]) -> list[int]:
        start = len(self.events)
        self.events.extend(events)
        return list(range(start, len(self.events)))


def context(kind: str, config, name: str | None = None) -> ConnectorContext:
    return ConnectorContext(name=name or f"{kind}-test", kind=kind, config=config, state=MemoryState())


def blob(name: str, data: bytes, content_type: str = "text/plain") -> BlobRef:
    return BlobRef(name, content_type, len(data), hashlib.sha256(data).hexdigest(), loader=lambda: data)


class Conversation:
    """One customer conversation: hands out PushItems for its successive messages."""

    def __init__(self, *, email: str | None = "jane@example.com", medium: str = "api", subject: str | None = None) -> None:
        self.id = next(_ids)
        self.tag = uuid.uuid4().hex[:10]
        self.subject = subject or f"Cannot withdraw {self.tag}"
        self.email = email
        self.medium = medium
        address = email or "+15551234567"
        self.sender = Participant(medium=medium, address=address, name="Jane Doe", phone=phone_of(medium, address))
        self.count = 0

    def item(self, text: str, *, ticket_ref: str | None = None, attachments=(), delivery_id: int | None = None, html: str = "", **conv) -> PushItem:
        """The next message; ``conv`` overrides ConversationInfo fields (priority, category, tags, entities...)."""
        self.count += 1
        message_id = next(_ids)
        return PushItem(
            delivery_id=delivery_id if delivery_id is not None else next(_ids),
            conversation=ConversationInfo(
                id=self.id, subject=self.subject, medium=self.medium, connector=f"{self.medium}-in",
                **{"status": "open", "priority": "normal", **conv},
            ),
            contact=ContactInfo(id=self.id, name="Jane Doe", email=self.email, identities=(self.sender,)),
            message_id=message_id,
            external_id=f"ext-{message_id}",
            direction="inbound",
            kind="message",
            sender=self.sender,
            sent_at=datetime.now(UTC),
            subject=self.subject if self.count == 1 else "",
            text=text,
            html=html,  # the sanitized original, NOT redacted: backends must never send it
            attachments=tuple(attachments),
            ticket_ref=ticket_ref,
            is_first=self.count == 1,
        )


def lossy_proxy(httpserver, upstream: str, lose: dict[str, int]) -> str:
    """Route requests through ``httpserver`` to a real ``upstream`` server.

    ``lose`` maps "METHOD path-suffix" to a count: that many matching requests still reach
    the upstream (which acts on them) but their answer is replaced with a 502, the way a
    proxy timeout or a crash after the call looks to a client. Returns the proxy's base URL.
    """
    import re

    import httpx
    from werkzeug import Response

    remaining = dict(lose)

    def forward(request):
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type", "accept")}
        resp = httpx.request(request.method, upstream.rstrip("/") + request.full_path.rstrip("?"), content=request.get_data(), headers=headers, timeout=60)
        for key, left in remaining.items():
            method, suffix = key.split(" ", 1)
            if left and request.method == method and request.path.endswith(suffix):
                remaining[key] = left - 1
                return Response("upstream answer lost", status=502)
        return Response(resp.content, status=resp.status_code, content_type=resp.headers.get("content-type", "application/json"))

    httpserver.expect_request(re.compile(".*")).respond_with_handler(forward)
    return httpserver.url_for("/").rstrip("/")
