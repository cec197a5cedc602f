"""The push stage (deliveries -> helpdesk) and the send stage (replies -> channel).

Each item is claimed with a lease in a short transaction, the network call runs outside
any transaction, and the result is recorded in another short transaction. Retriable
errors back off; permanent errors and exhausted retries go dead (see `omnihub replay`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.connectors import ConnectorService, adapter_class
from hub.errors import AuthError, ConfigError, PermanentDeliveryError, RetriableDeliveryError
from hub.media import media_url
from hub.models import (
    AttachmentRow,
    Connector,
    Contact,
    Conversation,
    Delivery,
    HelpdeskLink,
    Identity,
    Message,
    Reply,
    now,
)
from hub.runtime import Runtime
from hub.types import (
    BlobRef,
    ContactInfo,
    ConversationInfo,
    OutboundReply,
    PushItem,
)
from normalizers.model import Participant
from workers.ingest import service
from workers.retry import exhausted, next_attempt

log = structlog.get_logger("omnihub.outbox")


def _blob(rt: Runtime, a: AttachmentRow) -> BlobRef | None:
    if not a.storage_key:
        return None
    key = a.storage_key
    return BlobRef(a.filename, a.content_type, a.size or 0, a.sha256 or "", loader=lambda: rt.blobs.get(key))


def _participant(ident: Identity) -> Participant:
    return Participant(channel=ident.channel, address=ident.address, name=ident.display_name or "", verified_email=ident.verified_email)


def conversation_info(s: Session, conv: Conversation) -> ConversationInfo:
    conn = s.get(Connector, conv.connector_id)
    return ConversationInfo(
        id=conv.id,
        subject=conv.subject,
        channel=s.get(Identity, conv.identity_id).channel,
        connector=conn.name,
        status=conv.status,
        priority=conv.priority,
        category=conv.category,
        language=conv.language,
        tags=tuple(conv.tags or ()),
        entities=tuple(conv.entities or ()),
        sla=dict(conv.sla or {}),
    )


def contact_info(s: Session, contact_id: int) -> ContactInfo:
    c = s.get(Contact, contact_id)
    idents = s.scalars(select(Identity).where(Identity.contact_id == c.id).order_by(Identity.id)).all()
    return ContactInfo(id=c.id, name=c.name or "", email=c.email, identities=tuple(_participant(i) for i in idents))


def _fail(rt: Runtime, row: Any, exc: Exception, dead_state: str = "dead") -> None:
    row.attempts += 1
    row.last_error = str(exc)[:2000] or exc.__class__.__name__
    row.locked_until = None
    if isinstance(exc, PermanentDeliveryError) or isinstance(exc, ConfigError) or exhausted(rt.settings, row.attempts):
        row.state = dead_state
    else:
        retry_after = exc.retry_after if isinstance(exc, RetriableDeliveryError) else None
        row.next_attempt_at = next_attempt(rt.settings, row.attempts, now(), retry_after)


# ------------------------------------------------------------------------------ push
def push(rt: Runtime, ids: list[int]) -> list[int]:
    """Push deliveries to their helpdesk, in order within each conversation. Returns ids to schedule next."""
    svc: ConnectorService = service(rt)
    follow: list[int] = []
    t = now()
    with rt.db.session() as s:
        rows = s.scalars(
            select(Delivery)
            .where(
                Delivery.id.in_(ids),
                Delivery.state == "pending",
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < t),
            )
            .order_by(Delivery.id)
        ).all()
        work = []
        for d in rows:
            earlier = s.scalar(
                select(Delivery.id).where(
                    Delivery.conversation_id == d.conversation_id,
                    Delivery.helpdesk_id == d.helpdesk_id,
                    Delivery.state == "pending",
                    Delivery.id < d.id,
                ).limit(1)
            )
            if earlier is not None and earlier not in ids:
                continue  # keep order: the earlier one schedules this one when done
            d.locked_until = t + timedelta(seconds=rt.settings.lease_seconds)
            msg = s.get(Message, d.message_id)
            conv = s.get(Conversation, d.conversation_id)
            helpdesk = s.get(Connector, d.helpdesk_id)
            link = s.scalar(
                select(HelpdeskLink).where(HelpdeskLink.conversation_id == conv.id, HelpdeskLink.helpdesk_id == helpdesk.id)
            )
            sender = s.get(Identity, msg.identity_id) if msg.identity_id else s.get(Identity, conv.identity_id)
            atts = s.scalars(select(AttachmentRow).where(AttachmentRow.message_id == msg.id).order_by(AttachmentRow.id)).all()
            item = PushItem(
                delivery_id=d.id,
                conversation=conversation_info(s, conv),
                contact=contact_info(s, conv.contact_id),
                message_id=msg.id,
                external_id=msg.external_id,
                direction=msg.direction,
                kind=msg.kind,
                sender=_participant(sender),
                sent_at=msg.sent_at,
                subject=msg.subject or conv.subject,
                text=msg.text,
                html=msg.html,
                attachments=tuple(b for b in (_blob(rt, a) for a in atts) if b),
                ticket_ref=link.external_ref if link else None,
                is_first=link is None,
            )
            work.append((d.id, helpdesk, item))
    # Group by conversation: after the first failure in a conversation, stop (order).
    blocked: set[tuple[int, int]] = set()
    results: list[tuple[int, Any, Exception | None, Connector]] = []
    for delivery_id, helpdesk, item in work:
        key = (item.conversation.id, helpdesk.id)
        if key in blocked:
            results.append((delivery_id, None, None, helpdesk))
            continue
        try:
            backend = svc.adapter(helpdesk)
            result = backend.push(item)
            results.append((delivery_id, result, None, helpdesk))
        except Exception as exc:  # translated below; unknown errors are retried, then dead
            if not isinstance(exc, (RetriableDeliveryError, PermanentDeliveryError, ConfigError)):
                log.exception("push.unexpected", delivery_id=delivery_id, helpdesk=helpdesk.name)
            blocked.add(key)
            results.append((delivery_id, None, exc, helpdesk))
    with rt.db.session() as s:
        for delivery_id, result, exc, helpdesk in results:
            d = s.get(Delivery, delivery_id)
            if d is None or d.state != "pending":
                continue
            if result is None and exc is None:
                d.locked_until = None  # blocked behind an earlier failure in its conversation
                continue
            if exc is not None:
                _fail(rt, d, exc)
                log.info("push.failed", delivery_id=d.id, helpdesk=helpdesk.name, state=d.state, error=d.last_error)
                if isinstance(exc, AuthError):
                    svc.record_health(helpdesk.id, last_error=str(exc), last_error_at=now())
                continue
            link = s.scalar(
                select(HelpdeskLink).where(HelpdeskLink.conversation_id == d.conversation_id, HelpdeskLink.helpdesk_id == helpdesk.id)
            )
            if link is None:
                s.add(HelpdeskLink(conversation_id=d.conversation_id, helpdesk_id=helpdesk.id, external_ref=str(result.ticket_ref), data=dict(result.data or {})))
            d.state = "delivered"
            d.external_ref = result.comment_ref or str(result.ticket_ref)
            d.delivered_at = now()
            d.locked_until = None
            nxt = s.scalar(
                select(Delivery.id)
                .where(Delivery.conversation_id == d.conversation_id, Delivery.helpdesk_id == d.helpdesk_id, Delivery.state == "pending", Delivery.id > d.id)
                .order_by(Delivery.id)
                .limit(1)
            )
            if nxt is not None and nxt not in ids:
                follow.append(nxt)
    return follow


# ------------------------------------------------------------------------------ send
def _mirror_to_helpdesk(s: Session, r: Reply, conv: Conversation) -> int | None:
    """An agent's reply sent from omnihub (inbox, API) is appended to the conversation's
    external helpdesk ticket too, so agents there see the whole exchange. Returns a delivery id."""
    if r.kind != "reply" or r.source.startswith("helpdesk:"):
        return None  # automatic messages (surveys, warnings) would only churn the ticket
    helpdesk_id = s.scalar(
        select(Delivery.helpdesk_id).where(Delivery.conversation_id == conv.id).order_by(Delivery.id.desc()).limit(1)
    )
    helpdesk = s.get(Connector, helpdesk_id) if helpdesk_id else None
    if helpdesk is None or getattr(adapter_class(helpdesk.kind), "builtin", False):
        return None
    msg = Message(
        conversation_id=conv.id,
        connector_id=conv.connector_id,
        external_id=f"omnihub-reply-{r.id}",
        direction="outbound",
        kind="message",
        sender_name=r.author_name or "omnihub",
        sent_at=r.sent_at or now(),
        text=r.text,
        full_text=r.text,
        html="",
        redactions=[],
        entities=[],
        extra={"reply_id": r.id},
        history=[],
    )
    s.add(msg)
    s.flush()
    d = Delivery(message_id=msg.id, conversation_id=conv.id, helpdesk_id=helpdesk.id, state="pending")
    s.add(d)
    s.flush()
    return d.id


def send(rt: Runtime, ids: list[int]) -> list[int]:
    """Send replies on their channel. Returns delivery ids to push (replies mirrored to a helpdesk)."""
    svc: ConnectorService = service(rt)
    t = now()
    work = []
    with rt.db.session() as s:
        rows = s.scalars(
            select(Reply)
            .where(Reply.id.in_(ids), Reply.state == "pending", or_(Reply.locked_until.is_(None), Reply.locked_until < t))
            .order_by(Reply.id)
        ).all()
        for r in rows:
            conv = s.get(Conversation, r.conversation_id)
            ident = s.get(Identity, conv.identity_id)
            if ident.opted_out:
                r.state = "failed"
                r.last_error = f"not sent: the customer opted out ({ident.opt_out_reason or 'STOP'})"
                continue
            r.locked_until = t + timedelta(seconds=rt.settings.lease_seconds)
            r.state = "sending"
            conn = s.get(Connector, r.connector_id)
            last_in = s.scalar(
                select(Message)
                .where(Message.conversation_id == conv.id, Message.direction == "inbound")
                .order_by(Message.sent_at.desc(), Message.id.desc())
                .limit(1)
            )
            refs = list(
                s.scalars(select(Message.external_id).where(Message.conversation_id == conv.id).order_by(Message.id))
            ) + [x for x in s.scalars(select(Reply.external_id).where(Reply.conversation_id == conv.id, Reply.external_id.is_not(None), Reply.id != r.id).order_by(Reply.id))]
            atts = s.scalars(select(AttachmentRow).where(AttachmentRow.reply_id == r.id).order_by(AttachmentRow.id)).all()
            options = dict(r.options or {})
            if atts and getattr(adapter_class(conn.kind), "fetches_media_by_url", False):
                options["media_urls"] = [
                    media_url(rt.settings.effective_public_url, rt.settings.secret_key, a.id) for a in atts if a.storage_key
                ]
            out = OutboundReply(
                id=r.id,
                conversation_id=conv.id,
                connector=conn.name,
                to=_participant(ident),
                thread_key=conv.thread_key,
                text=r.text,
                html=r.html,
                subject=conv.subject,
                author_name=r.author_name,
                attachments=tuple(b for b in (_blob(rt, a) for a in atts) if b),
                in_reply_to=last_in.external_id if last_in else None,
                references=tuple(refs[-20:]),
                last_inbound_at=conv.last_inbound_at,
                options=options,
                conversation_extra={"token": conv.token, **(conv.extra or {})},
            )
            work.append((r.id, conn, out))
    results = []
    to_push: list[int] = []
    for reply_id, conn, out in work:
        try:
            results.append((reply_id, svc.adapter(conn).send(out), None, conn))
        except Exception as exc:
            if not isinstance(exc, (RetriableDeliveryError, PermanentDeliveryError, ConfigError)):
                log.exception("send.unexpected", reply_id=reply_id, connector=conn.name)
            results.append((reply_id, None, exc, conn))
    with rt.db.session() as s:
        for reply_id, result, exc, conn in results:
            r = s.get(Reply, reply_id)
            if r is None or r.state != "sending":
                continue
            if exc is not None:
                r.state = "pending"
                _fail(rt, r, exc)
                log.info("send.failed", reply_id=r.id, connector=conn.name, state=r.state, error=r.last_error)
                if isinstance(exc, AuthError):
                    svc.record_health(conn.id, last_error=str(exc), last_error_at=now())
                continue
            r.external_id = result.external_id
            r.state = result.state or "sent"
            detail = dict(r.status_detail or {})
            if result.parts:
                detail["parts"] = list(result.parts)
            if result.detail:
                detail.update(dict(result.detail))
            r.status_detail = detail
            r.sent_at = now()
            r.locked_until = None
            r.last_error = None
            conv = s.get(Conversation, r.conversation_id)
            if r.kind == "reply" and conv.first_response_at is None:
                conv.first_response_at = r.sent_at
            conv.last_message_at = max(conv.last_message_at, r.sent_at)
            mirrored = _mirror_to_helpdesk(s, r, conv)
            if mirrored:
                to_push.append(mirrored)
    return to_push
