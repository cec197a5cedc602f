"""The push stage (deliveries -> helpdesk) and the send stage (replies -> channel).

Each item is claimed with a lease in a short transaction, the network call runs outside
any transaction, and the result is recorded in another short transaction. Retriable
errors back off; permanent errors and exhausted retries go dead (see `omnihub replay`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hub import health
from hub.connectors import ConnectorService, adapter_class, channel_class
from hub.errors import AuthError, ConfigError, PermanentDeliveryError, RecipientOptedOut, RecipientRefused, RetriableDeliveryError
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
from hub.states import DeliveryState, ReplyState
from hub.types import (
    BlobRef,
    ContactInfo,
    ConversationInfo,
    OutboundReply,
    PushItem,
    PushResult,
    SendResult,
)
from normalizers.model import Participant
from workers.automatic import automatic_reason
from workers.retry import exhausted, next_attempt, rerun_transient
from workers.services import service

log = structlog.get_logger("omnihub.outbox")


def _blob(rt: Runtime, a: AttachmentRow) -> BlobRef | None:
    if not a.storage_key:
        return None
    key = a.storage_key
    return BlobRef(a.filename, a.content_type, a.size or 0, a.sha256 or "", loader=lambda: rt.blobs.get(key))


@dataclasses.dataclass
class _SendBatch:
    """Everything a batch of replies needs, loaded with one query per table."""

    conversations: dict[int, Conversation]
    identities: dict[int, Identity]
    connectors: dict[int, Connector]
    attachments: dict[int, list[AttachmentRow]]
    last_inbound: dict[int, str]  # conversation id -> external id of its last inbound message
    message_refs: dict[int, list[tuple[Any, str]]]  # conversation id -> (sent at, external id) of its messages
    reply_refs: dict[int, list[tuple[int, Any, str]]]  # conversation id -> (reply id, sent at, external id)

    @classmethod
    def load(cls, s: Session, rows: Sequence[Reply]) -> _SendBatch:
        conv_ids = {r.conversation_id for r in rows}
        if not rows:
            return cls({}, {}, {}, {}, {}, {}, {})
        convs = {c.id: c for c in s.scalars(select(Conversation).where(Conversation.id.in_(conv_ids)))}
        idents = {i.id: i for i in s.scalars(select(Identity).where(Identity.id.in_({c.identity_id for c in convs.values()})))}
        conns = {c.id: c for c in s.scalars(select(Connector).where(Connector.id.in_({r.connector_id for r in rows})))}
        atts: dict[int, list[AttachmentRow]] = {}
        for a in s.scalars(select(AttachmentRow).where(AttachmentRow.reply_id.in_([r.id for r in rows])).order_by(AttachmentRow.id)):
            if a.reply_id is not None:
                atts.setdefault(a.reply_id, []).append(a)
        last_inbound: dict[int, tuple[Any, int, str]] = {}
        message_refs: dict[int, list[tuple[Any, str]]] = {}
        for conv_id, mid, ext, direction, sent_at in s.execute(
            select(Message.conversation_id, Message.id, Message.external_id, Message.direction, Message.sent_at)
            .where(Message.conversation_id.in_(conv_ids)).order_by(Message.id)
        ):
            message_refs.setdefault(conv_id, []).append((sent_at, ext))
            if direction == "inbound" and (conv_id not in last_inbound or (sent_at, mid) >= last_inbound[conv_id][:2]):
                last_inbound[conv_id] = (sent_at, mid, ext)
        reply_refs: dict[int, list[tuple[int, Any, str]]] = {}
        for conv_id, rid, reply_ext, reply_at in s.execute(
            select(Reply.conversation_id, Reply.id, Reply.external_id, func.coalesce(Reply.sent_at, Reply.created_at))
            .where(Reply.conversation_id.in_(conv_ids), Reply.external_id.is_not(None)).order_by(Reply.id)
        ):
            reply_refs.setdefault(conv_id, []).append((rid, reply_at, reply_ext or ""))
        return cls(convs, idents, conns, atts, {c: v[2] for c, v in last_inbound.items()}, message_refs, reply_refs)


def _participant(ident: Identity) -> Participant:
    return Participant(medium=ident.medium, address=ident.address, name=ident.display_name or "", verified_email=ident.verified_email,
                       phone=ident.phone)


class PushOutcome(NamedTuple):
    """One delivery's push: the helpdesk's answer, or the error (both None: blocked behind an
    earlier failure of its conversation)."""

    delivery_id: int
    result: PushResult | None
    error: Exception | None
    helpdesk: Connector
    #: the push opened the ticket (no ticket of the conversation was known before it)
    opened: bool = False
    conversation_id: int = 0


class SendOutcome(NamedTuple):
    """One reply's send on its channel: the provider's answer or the error."""

    reply_id: int
    result: SendResult | None
    error: Exception | None
    connector: Connector


def _fail(rt: Runtime, row: Any, exc: Exception, dead_state: str = DeliveryState.DEAD) -> None:
    row.attempts += 1
    row.last_error = str(exc)[:2000] or exc.__class__.__name__
    row.locked_until = None
    if isinstance(exc, PermanentDeliveryError) or isinstance(exc, ConfigError) or exhausted(rt.settings, row.attempts):
        row.state = dead_state
    else:
        retry_after = exc.retry_after if isinstance(exc, RetriableDeliveryError) else None
        row.next_attempt_at = next_attempt(rt.settings, row.attempts, now(), retry_after)


# ------------------------------------------------------------------------------ push
def _as_utc(value: Any) -> datetime:
    """A stored time for ordering (SQLite may give naive UTC, PostgreSQL aware; None first)."""
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


M = TypeVar("M", Message, Conversation, Connector, Contact, Identity, Delivery, Reply)


def _by_id(s: Session, model: type[M], ids: set[int]) -> dict[int, M]:
    """Rows by primary key: from the session's identity map when there (no SQL; the ingest
    transaction has just written them), the rest with one IN query."""
    out: dict[int, M] = {}
    missing = set()
    for i in ids:
        if i is None:
            continue
        obj = s.identity_map.get(s.identity_key(model, i))
        if obj is not None:
            out[i] = obj
        else:
            missing.add(i)
    if missing:
        out.update((r.id, r) for r in s.scalars(select(model).where(model.id.in_(missing))))
    return out


def _pending_by_thread(s: Session, rows: Sequence[Delivery]) -> dict[tuple[int, int], list[int]]:
    """Every pending delivery id of the batch's (conversation, helpdesk) pairs, ascending:
    one query per batch for the order checks instead of one per delivery."""
    conv_ids = {d.conversation_id for d in rows}
    out: dict[tuple[int, int], list[int]] = {}
    if not conv_ids:
        return out
    for did, conv_id, helpdesk_id in s.execute(
        select(Delivery.id, Delivery.conversation_id, Delivery.helpdesk_id)
        .where(Delivery.conversation_id.in_(conv_ids), Delivery.state == DeliveryState.PENDING)
        .order_by(Delivery.id)
    ):
        out.setdefault((conv_id, helpdesk_id), []).append(did)
    return out


class _PushLoader:
    """Builds the PushItems of a batch from one IN query per table."""

    def __init__(self, s: Session, rt: Runtime, rows: list[Delivery]) -> None:
        self.rt = rt
        self.messages = _by_id(s, Message, {d.message_id for d in rows})
        self.convs = _by_id(s, Conversation, {d.conversation_id for d in rows})
        self.connectors = _by_id(s, Connector, {d.helpdesk_id for d in rows} | {c.connector_id for c in self.convs.values()})
        self.links = _links(s, set(self.convs))
        contact_ids = {c.contact_id for c in self.convs.values()}
        self.contacts = _by_id(s, Contact, contact_ids)
        self.identities: dict[int, Identity] = {}
        self.contact_identities: dict[int, list[Identity]] = {}
        if contact_ids:
            for ident in s.scalars(select(Identity).where(Identity.contact_id.in_(contact_ids)).order_by(Identity.id)):
                self.identities[ident.id] = ident
                self.contact_identities.setdefault(ident.contact_id, []).append(ident)
        wanted = {m.identity_id for m in self.messages.values() if m.identity_id is not None} | {c.identity_id for c in self.convs.values()}
        self.identities.update(_by_id(s, Identity, wanted - set(self.identities)))
        self.attachments: dict[int, list[AttachmentRow]] = {}
        if self.messages:
            for a in s.scalars(select(AttachmentRow).where(AttachmentRow.message_id.in_(set(self.messages))).order_by(AttachmentRow.id)):
                if a.message_id is not None:
                    self.attachments.setdefault(a.message_id, []).append(a)

    def conversation(self, conv: Conversation) -> ConversationInfo:
        return ConversationInfo(
            id=conv.id,
            subject=conv.subject,
            medium=self.identities[conv.identity_id].medium,
            connector=self.connectors[conv.connector_id].name,
            status=conv.status,
            priority=conv.priority,
            category=conv.category,
            language=conv.language,
            tags=tuple(conv.tags or ()),
            entities=tuple(conv.entities or ()),
            sla=dict(conv.sla or {}),
        )

    def contact(self, contact_id: int) -> ContactInfo:
        c = self.contacts[contact_id]
        idents = self.contact_identities.get(contact_id, [])
        return ContactInfo(id=c.id, name=c.name or "", email=c.email, identities=tuple(_participant(i) for i in idents))

    def item(self, d: Delivery) -> tuple[Connector, PushItem]:
        msg, conv = self.messages[d.message_id], self.convs[d.conversation_id]
        helpdesk = self.connectors[d.helpdesk_id]
        link = self.links.get((conv.id, helpdesk.id))
        sender = self.identities[msg.identity_id or conv.identity_id]
        return helpdesk, PushItem(
            delivery_id=d.id,
            conversation=self.conversation(conv),
            contact=self.contact(conv.contact_id),
            message_id=msg.id,
            external_id=msg.external_id,
            direction=msg.direction,
            kind=msg.kind,
            sender=_participant(sender),
            sent_at=msg.sent_at,
            subject=msg.subject or conv.subject,
            text=msg.text,
            html=msg.html,
            attachments=tuple(b for b in (_blob(self.rt, a) for a in self.attachments.get(msg.id, ())) if b),
            ticket_ref=link.external_ref if link else None,
            is_first=link is None,
        )


def push(rt: Runtime, ids: list[int], *, local_only: bool = False, session: Session | None = None) -> list[int]:
    """Push deliveries to their helpdesk, in order within each conversation. Returns ids to schedule next.

    A batch costs a fixed number of queries, whatever its size: the rows, the order check
    and every table a PushItem needs are loaded with one query each. The built-in inbox has
    nothing to call, so its deliveries are recorded in the claiming transaction itself.
    ``local_only`` (the ingest job, right after its batch, in its ``session``): push to
    built-in helpdesks only and return the other ids untouched, for the push queue."""
    if session is not None:
        if not local_only:
            raise ValueError("pushing inside a caller's transaction is for built-in helpdesks only (local_only=True)")
        follow, _work = _claim_pushes(rt, session, ids, True)
        return follow
    with rt.db.session() as s:
        follow, work = _claim_pushes(rt, s, ids, local_only)
    svc: ConnectorService = service(rt)
    # Group by conversation: after the first failure in a conversation, stop (order).
    blocked: set[tuple[int, int]] = set()
    tickets: dict[tuple[int, int], str] = {}  # opened in this batch: later messages join them
    results = []
    for delivery_id, helpdesk, item in work:
        key = (item.conversation.id, helpdesk.id)
        if item.ticket_ref is None and key in tickets:
            item = dataclasses.replace(item, ticket_ref=tickets[key], is_first=False)
        outcome = _push_one(svc, delivery_id, helpdesk, item, blocked)
        results.append(outcome)
        if outcome.result is not None:
            tickets.setdefault(key, str(outcome.result.ticket_ref))
    if results:
        # the helpdesk has them: a deadlock while recording must not leave them to be pushed again
        def record() -> list[int]:
            with rt.db.session() as s:
                # PostgreSQL: wait for an erasure holding these rows (hub.erasure locks them first),
                # then see whether they are still there
                s.scalars(select(Delivery).where(Delivery.id.in_([r.delivery_id for r in results])).order_by(Delivery.id)
                          .with_for_update()).all()
                return _record_pushes(rt, s, results, ids, None)

        follow += rerun_transient(record, "push.record_retried")
    return follow


def _claim_pushes(rt: Runtime, s: Session, ids: list[int], local_only: bool) -> tuple[list[int], list[tuple[int, Connector, PushItem]]]:
    """Claim a batch in order; push and record the built-in ones right here. Returns (ids to
    schedule next, network work for the caller to do outside the transaction)."""
    svc: ConnectorService = service(rt)
    t = now()
    work: list[tuple[int, Connector, PushItem]] = []
    inline: list[PushOutcome] = []
    remote: list[int] = []
    rows = s.scalars(
        select(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.state == DeliveryState.PENDING,
            or_(Delivery.locked_until.is_(None), Delivery.locked_until < t),
        )
        .order_by(Delivery.id)
        .with_for_update(skip_locked=True)  # PostgreSQL: never claimed by two workers at once
    ).all()
    if local_only:
        helpdesks = _by_id(s, Connector, {d.helpdesk_id for d in rows})
        builtin = {i for i, h in helpdesks.items() if getattr(adapter_class(h.kind), "builtin", False)}
        remote = [d.id for d in rows if d.helpdesk_id not in builtin]
        rows = [d for d in rows if d.helpdesk_id in builtin]
    pending = _pending_by_thread(s, rows)
    taken: set[int] = set()  # claimed in this batch
    claimed = []
    for d in rows:
        # Keep order: push only when EVERY earlier pending delivery of the conversation is
        # claimed in this batch (checking one of the requested ids let a later message
        # overtake an earlier one leased elsewhere or waiting for its retry — found by
        # tests/faults/test_faults.py::test_helpdesk_outage...).
        if any(e < d.id and e not in taken for e in pending.get((d.conversation_id, d.helpdesk_id), ())):
            continue  # the earlier one schedules this one when done
        taken.add(d.id)
        d.locked_until = t + timedelta(seconds=rt.settings.lease_seconds)
        claimed.append(d)
    loader = _PushLoader(s, rt, claimed)
    for d in claimed:
        helpdesk, item = loader.item(d)
        if getattr(adapter_class(helpdesk.kind), "builtin", False):
            inline.append(_push_one(svc, d.id, helpdesk, item, set()))
        else:
            work.append((d.id, helpdesk, item))
    follow = remote + (_record_pushes(rt, s, inline, ids, pending, loader.links) if inline else [])
    return follow, work


def _push_one(svc: ConnectorService, delivery_id: int, helpdesk: Connector, item: PushItem, blocked: set) -> PushOutcome:
    key = (item.conversation.id, helpdesk.id)
    if key in blocked:
        return PushOutcome(delivery_id, None, None, helpdesk)
    try:
        return PushOutcome(delivery_id, svc.adapter(helpdesk).push(item), None, helpdesk, item.ticket_ref is None, item.conversation.id)
    except Exception as exc:  # translated below; unknown errors are retried, then dead
        if not isinstance(exc, (RetriableDeliveryError, PermanentDeliveryError, ConfigError)):
            log.exception("push.unexpected", delivery_id=delivery_id, helpdesk=helpdesk.name)
        blocked.add(key)
        return PushOutcome(delivery_id, None, exc, helpdesk)


def _links(s: Session, conv_ids: set[int]) -> dict[tuple[int, int], HelpdeskLink]:
    if not conv_ids:
        return {}
    return {(link.conversation_id, link.helpdesk_id): link for link in s.scalars(select(HelpdeskLink).where(HelpdeskLink.conversation_id.in_(conv_ids)))}


def _record_pushes(
    rt: Runtime,
    s: Session,
    results: Sequence[PushOutcome],
    ids: list[int],
    pending: dict[tuple[int, int], list[int]] | None,
    links: dict[tuple[int, int], HelpdeskLink] | None = None,
) -> list[int]:
    """Record push results in one transaction; returns the next pending delivery of each
    conversation that was not asked for in this batch (it is scheduled next). ``pending``
    and ``links`` are reused when the caller loaded them in the same transaction."""
    rows = _by_id(s, Delivery, {r[0] for r in results})
    if links is None:
        links = _links(s, {d.conversation_id for d in rows.values()})
    if pending is None:
        pending = _pending_by_thread(s, list(rows.values()))
    delivered: list[Delivery] = []
    worked: set[int] = set()
    for delivery_id, result, exc, helpdesk, opened, conv_id in results:
        d = rows.get(delivery_id)
        if d is None and result is not None and opened and s.get(Conversation, conv_id) is None:
            _orphan_ticket(s, helpdesk, str(result.ticket_ref))
        if d is None or d.state != DeliveryState.PENDING:
            continue
        if result is None and exc is None:
            d.locked_until = None  # blocked behind an earlier failure in its conversation
            continue
        if exc is not None:
            _fail(rt, d, exc)
            log.info("push.failed", delivery_id=d.id, helpdesk=helpdesk.name, state=d.state, error=d.last_error)
            if isinstance(exc, (AuthError, RetriableDeliveryError)):
                health.note_failure(rt, helpdesk.id, f"push: {exc}", auth=isinstance(exc, AuthError), session=s)
            continue
        if helpdesk.id not in worked:
            worked.add(helpdesk.id)
            health.note_ok(rt, helpdesk.id, session=s)
        assert result is not None  # no error and not blocked: the helpdesk answered
        key = (d.conversation_id, helpdesk.id)
        if key not in links:
            links[key] = HelpdeskLink(
                conversation_id=d.conversation_id, helpdesk_id=helpdesk.id, external_ref=str(result.ticket_ref), data=dict(result.data or {})
            )
            s.add(links[key])
        d.state = DeliveryState.DELIVERED
        d.external_ref = result.comment_ref or str(result.ticket_ref)
        d.delivered_at = now()
        d.locked_until = None
        delivered.append(d)
    asked = set(ids)
    follow: list[int] = []

    def still_pending(e: int) -> bool:  # delivered or dead in this batch: not next in line
        r = rows.get(e)
        return r is None or r.state == ReplyState.PENDING

    for d in delivered:
        nxt = next((e for e in pending.get((d.conversation_id, d.helpdesk_id), ()) if e > d.id and still_pending(e)), None)
        if nxt is not None and nxt not in asked and nxt not in follow:
            follow.append(nxt)
    return follow


def _orphan_ticket(s: Session, helpdesk: Connector, ref: str) -> None:
    """The push opened a ticket for a conversation deleted meanwhile (a contact's erasure, or
    retention, ran while the helpdesk answered): nothing in omnihub points to that ticket any
    more, so it is queued for removal like the erased conversations' tickets (hub.erasure)."""
    from hub.models import TicketRemoval

    if s.scalar(select(HelpdeskLink.id).where(HelpdeskLink.helpdesk_id == helpdesk.id, HelpdeskLink.external_ref == ref)) is not None:
        return  # another conversation still uses it
    if s.scalar(select(TicketRemoval.id).where(TicketRemoval.helpdesk_id == helpdesk.id, TicketRemoval.external_ref == ref)) is not None:
        return
    cls = adapter_class(helpdesk.kind)
    if getattr(cls, "builtin", False):
        return
    supported = bool(getattr(cls, "erases", False))
    s.add(TicketRemoval(helpdesk_id=helpdesk.id, external_ref=ref[:255], state="pending" if supported else "unsupported",
                        last_error=None if supported else "this helpdesk backend cannot delete tickets: remove it there by hand"))
    log.warning("push.ticket_orphaned", helpdesk=helpdesk.name, queued_for_removal=supported)


# ------------------------------------------------------------------------------ send
def _last_helpdesks(s: Session, conv_ids: set[int]) -> dict[int, Connector]:
    """Each conversation's helpdesk (that of its latest delivery), in two queries."""
    if not conv_ids:
        return {}
    latest: dict[int, int] = {}
    for conv_id, helpdesk_id in s.execute(
        select(Delivery.conversation_id, Delivery.helpdesk_id).where(Delivery.conversation_id.in_(conv_ids)).order_by(Delivery.id)
    ):
        latest[conv_id] = helpdesk_id
    conns = {c.id: c for c in s.scalars(select(Connector).where(Connector.id.in_(set(latest.values()))))} if latest else {}
    return {conv_id: conns[h] for conv_id, h in latest.items() if h in conns}


def _mirror_to_helpdesk(s: Session, r: Reply, conv: Conversation, helpdesks: dict[int, Connector] | None = None) -> int | None:
    """An agent's reply sent from omnihub (inbox, API) is appended to the conversation's
    external helpdesk ticket too, so agents there see the whole exchange. Returns a delivery id.
    ``helpdesks``: each conversation's helpdesk, when the caller loaded them for a batch."""
    if r.kind != "reply" or r.source.startswith("helpdesk:"):
        return None  # automatic messages (surveys, warnings) would only churn the ticket
    if helpdesks is None:
        helpdesks = _last_helpdesks(s, {conv.id})
    helpdesk = helpdesks.get(conv.id)
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
    d = Delivery(message_id=msg.id, conversation_id=conv.id, helpdesk_id=helpdesk.id, state=DeliveryState.PENDING)
    s.add(d)
    s.flush()
    return d.id


def _opt_out(s: Session, conv: Conversation, reason: str) -> None:
    """The channel says the customer turned us away: their identity is opted out (the inbox
    shows why, and no later reply is attempted until they write again)."""
    ident = s.get(Identity, conv.identity_id)
    if ident is not None and not ident.opted_out:
        ident.opted_out = True
        ident.opt_out_reason = reason.split(": ", 1)[-1] if ": " in reason else reason
        ident.opted_out_at = now()


def _start_send(rt: Runtime, reply_id: int, lease: datetime) -> bool:
    """Mark a claimed reply ``sending``, committed, right before its provider call: from here
    on a lost worker means an unknown outcome (hub.states.OUTCOME_UNKNOWN, workers.sweeper);
    before it, nothing was attempted. The call gets a full lease of its own. False when the
    reply is no longer ours (cancelled, or claimed by another worker after our lease ran out)."""
    with rt.db.session() as s:
        started = s.execute(
            update(Reply)
            .where(Reply.id == reply_id, Reply.state == ReplyState.PENDING, Reply.locked_until == lease)
            # a lease of its own for the call: the replies before it in the batch took their time
            .values(state=ReplyState.SENDING, locked_until=now() + timedelta(seconds=rt.settings.lease_seconds))
        )
        return started.rowcount == 1  # type: ignore[attr-defined]


def send(rt: Runtime, ids: list[int]) -> list[int]:
    """Send replies on their channel. Returns delivery ids to push (replies mirrored to a helpdesk).

    The claim costs a fixed number of queries, whatever the batch's size (like push): the
    claimed replies, then their conversations, identities, connectors, attachments, each
    conversation's last inbound message and its thread references, one query each. Each reply
    is then marked sending, sent and recorded on its own (two short transactions), so that
    its lease covers only its own provider call."""
    svc: ConnectorService = service(rt)
    t = now()
    lease = t + timedelta(seconds=rt.settings.lease_seconds)
    work: list[tuple[int, Connector, OutboundReply]] = []
    with rt.db.session() as s:
        rows = s.scalars(
            select(Reply)
            .where(Reply.id.in_(ids), Reply.state == ReplyState.PENDING, or_(Reply.locked_until.is_(None), Reply.locked_until < t))
            .order_by(Reply.id)
            .with_for_update(skip_locked=True)  # PostgreSQL: never claimed by two workers at once
        ).all()
        batch = _SendBatch.load(s, rows)
        for r in rows:
            conv = batch.conversations[r.conversation_id]
            ident = batch.identities[conv.identity_id]
            if ident.opted_out:
                r.state = ReplyState.FAILED
                r.last_error = f"not sent: the customer opted out ({ident.opt_out_reason or 'STOP'})"
                r.status_detail = {**(r.status_detail or {}), "permanent": "opted out"}
                continue
            if r.kind == "auto":
                robot = automatic_reason(ident)
                if robot:  # never answer a robot: checked again at the last moment
                    r.state = ReplyState.FAILED
                    r.last_error = f"not sent: automatic message to an automatic address ({robot})"
                    r.status_detail = {**(r.status_detail or {}), "permanent": "automatic address"}
                    continue
            # claimed (leased) but not ``sending`` yet: that is marked just before its own
            # provider call (_start_send), so a worker killed mid-batch leaves the replies it
            # never tried pending, to be sent by another, not failed as "outcome unknown"
            r.locked_until = lease
            conn = batch.connectors[r.connector_id]
            last_in = batch.last_inbound.get(conv.id)
            # the thread in the order it happened (theirs and ours interleaved), RFC 5322 3.6.4
            dated = batch.message_refs.get(conv.id, []) + [(at, x) for rid, at, x in batch.reply_refs.get(conv.id, []) if rid != r.id]
            refs = [x for _at, x in sorted(dated, key=lambda d: _as_utc(d[0]))]
            atts = batch.attachments.get(r.id, [])
            options = dict(r.options or {})
            cls = channel_class(conn.kind)
            if atts and cls is not None and cls.fetches_media_by_url:
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
                in_reply_to=last_in,
                references=tuple(refs[-20:]),
                last_inbound_at=conv.last_inbound_at,
                options=options,
                conversation_extra={"token": conv.token, **(conv.extra or {})},
            )
            work.append((r.id, conn, out))
    to_push: list[int] = []
    worked: set[int] = set()
    for reply_id, conn, out in work:
        if not _start_send(rt, reply_id, lease):
            continue  # cancelled meanwhile, or our lease ran out and another worker has it
        try:
            outcome = SendOutcome(reply_id, svc.adapter(conn).send(out), None, conn)
        except Exception as exc:
            if not isinstance(exc, (RetriableDeliveryError, PermanentDeliveryError, ConfigError)):
                log.exception("send.unexpected", reply_id=reply_id, connector=conn.name)
            outcome = SendOutcome(reply_id, None, exc, conn)
        # recorded at once, not after the rest of the batch: the reply's lease covers its own
        # call only (a batch of slow calls outlived it and ended as "outcome unknown")
        to_push += _record_sends(rt, [outcome], worked)
    return to_push


def _record_sends(rt: Runtime, results: list[SendOutcome], worked: set[int]) -> list[int]:
    """Record send outcomes in one transaction; returns delivery ids to push (mirrored replies).
    ``worked``: connectors already noted healthy by this batch."""
    to_push: list[int] = []
    with rt.db.session() as s:
        replies = _by_id(s, Reply, {o.reply_id for o in results})
        convs = _by_id(s, Conversation, {r.conversation_id for r in replies.values()})
        helpdesks = _last_helpdesks(s, set(convs))
        for reply_id, result, error, conn in results:
            reply = replies.get(reply_id)
            if reply is None:
                continue
            if reply.state != ReplyState.SENDING:
                # the lease expired while the provider call ran (a very slow provider): the
                # sweeper marked it failed (outcome unknown) or pending; a late success is
                # still the truth, anything else leaves the sweeper's verdict
                late = reply.state in (ReplyState.FAILED, ReplyState.PENDING) and "lease_expired_at" in (reply.status_detail or {})
                if not (late and error is None):
                    continue
            if error is not None:
                reply.state = ReplyState.PENDING
                _fail(rt, reply, error)
                if isinstance(error, PermanentDeliveryError) and error.advice:  # e.g. a closed 24-hour window
                    reply.status_detail = {**(reply.status_detail or {}), "permanent": error.advice}
                elif isinstance(error, RecipientRefused):  # e.g. an invalid number: retrying cannot help
                    reply.status_detail = {**(reply.status_detail or {}), "permanent": "the recipient cannot be reached"}
                if isinstance(error, RecipientOptedOut):  # e.g. the customer blocked the bot
                    _opt_out(s, convs[reply.conversation_id], str(error))
                log.info("send.failed", reply_id=reply.id, connector=conn.name, state=reply.state, error=reply.last_error)
                if isinstance(error, (AuthError, RetriableDeliveryError)):
                    health.note_failure(rt, conn.id, f"send: {error}", auth=isinstance(error, AuthError), session=s)
                continue
            if conn.id not in worked:
                worked.add(conn.id)
                health.note_ok(rt, conn.id, session=s)
            assert result is not None  # no error: the adapter answered
            reply.external_id = result.external_id
            reply.state = ReplyState(result.state or ReplyState.SENT)
            detail = dict(reply.status_detail or {})
            if result.parts:
                detail["parts"] = list(result.parts)
            if result.detail:
                detail.update(dict(result.detail))
            reply.status_detail = detail
            reply.sent_at = now()
            reply.locked_until = None
            reply.last_error = None
            conv = convs[reply.conversation_id]
            if reply.kind == "reply" and conv.first_response_at is None:
                conv.first_response_at = reply.sent_at
            conv.last_message_at = max(conv.last_message_at, reply.sent_at)
            mirrored = _mirror_to_helpdesk(s, reply, conv, helpdesks)
            if mirrored:
                to_push.append(mirrored)
    return to_push
