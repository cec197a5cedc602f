"""Hub events for event webhooks (docs/event-webhooks.md).

The core emits ``conversation.created``, ``conversation.updated``, ``message.created``,
``reply.status_changed`` and ``csat.received`` wherever the change is made, without any
caller having to remember it: listeners on the hub's sessions see the rows a transaction
inserts and the tracked columns it changes, and just before that transaction commits, the
events are written (``webhook_events``) with one outbox row per subscription that wants them
(``event_deliveries``). Nothing is lost (the rows commit with the change or not at all; a
savepoint rolled back takes its events with it) and nothing slows ingest down (no network
call; with no subscription the only cost is one small query per transaction that had
events). After the commit the delivery ids are scheduled on the ``event`` stage
(``workers.webhooks_out``); the sweeper re-schedules anything a lost Redis dropped.

``emit`` adds an event explicitly (``csat.received``: a score is not a column).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from hub.models import (
    AttachmentRow,
    Connector,
    Conversation,
    EventDelivery,
    EventSubscription,
    Identity,
    Message,
    Reply,
    User,
    WebhookEvent,
)
from hub.states import DeliveryState, ReplyState

log = structlog.get_logger("omnihub.events")

#: every event a subscription can ask for (keep the names: they are the public contract)
EVENT_TYPES = ("conversation.created", "conversation.updated", "message.created", "reply.status_changed", "csat.received")
#: the body's schema version
VERSION = 1
#: conversation columns whose change is a ``conversation.updated``
TRACKED = ("status", "assignee_id", "priority", "category", "tags")
#: subscriptions at most (every event fans out to each of them)
MAX_SUBSCRIPTIONS = 50

_KEY = "omnihub.events"
_IDS = "omnihub.event_delivery_ids"
_SUBS = "omnihub.event_subscriptions"


@dataclass
class _Pending:
    type: str
    obj: Any
    tx: SessionTransaction | None
    data: dict[str, Any] = field(default_factory=dict)


def _queue(s: Session) -> list[_Pending]:
    return s.info.setdefault(_KEY, [])


def _tx(s: Session) -> SessionTransaction | None:
    return s.get_nested_transaction() or s.get_transaction()


def emit(s: Session, type_: str, conversation: Conversation, **data: Any) -> None:
    """Add an event about ``conversation`` to the current transaction (written at commit)."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    _queue(s).append(_Pending(type_, conversation, _tx(s), dict(data)))


def _history(obj: Any, attr: str) -> tuple[bool, Any, Any]:
    h = inspect(obj).attrs[attr].history
    if not h.added and not h.deleted:
        return False, None, None
    old = h.deleted[0] if h.deleted else None
    new = h.added[0] if h.added else None
    return old != new, old, new


def _before_flush(s: Session, _ctx: Any, _instances: Any) -> None:
    if _SUBS in s.info and any(isinstance(o, EventSubscription) for o in (*s.new, *s.dirty, *s.deleted)):
        s.info.pop(_SUBS, None)
    q = _queue(s)
    tx = _tx(s)
    for obj in s.new:
        if isinstance(obj, Conversation):
            q.append(_Pending("conversation.created", obj, tx))
        elif isinstance(obj, Message) and "reply_id" not in (obj.extra or {}):  # not the copy of one of our replies
            q.append(_Pending("message.created", obj, tx))
    for obj in s.dirty:
        if isinstance(obj, Conversation):
            changes = {}
            for attr in TRACKED:
                changed, old, new = _history(obj, attr)
                if changed:
                    changes[attr] = (old, new)
            if changes:
                q.append(_Pending("conversation.updated", obj, tx, {"changes": changes}))
        elif isinstance(obj, Reply):
            changed, old, new = _history(obj, "state")
            # a worker's lease (sending) and its retry (back to pending) are not news
            if changed and new != ReplyState.SENDING and not (old == ReplyState.SENDING and new == ReplyState.PENDING):
                q.append(_Pending("reply.status_changed", obj, tx, {"from": old, "to": new}))


def _inside(tx: SessionTransaction | None, gone: SessionTransaction) -> bool:
    while tx is not None:
        if tx is gone:
            return True
        tx = tx.parent
    return False


def _after_soft_rollback(s: Session, previous: SessionTransaction) -> None:
    q = s.info.get(_KEY)
    if q:
        s.info[_KEY] = [p for p in q if not _inside(p.tx, previous)]
    if previous.parent is None:
        s.info.pop(_KEY, None)
        s.info.pop(_IDS, None)
        s.info.pop(_SUBS, None)


def _subscriptions(s: Session) -> Sequence[Any]:
    """The enabled subscriptions. An ingest batch releases one savepoint per message, each
    with events: they are read once per transaction for the savepoints (P2R profile: one
    query per message), and afresh for the outermost commit. A subscription written in the
    transaction drops the copy (``_before_flush``)."""
    if s.get_nested_transaction() is None:
        s.info.pop(_SUBS, None)
    else:
        hit = s.info.get(_SUBS)
        if hit is not None and hit[0] is s.get_transaction():
            return hit[1]
    subs = s.execute(select(EventSubscription.id, EventSubscription.events).where(EventSubscription.enabled.is_(True))).all()
    if s.get_nested_transaction() is not None:
        s.info[_SUBS] = (s.get_transaction(), subs)
    return subs


def subscribed(s: Session) -> bool:
    """Whether an enabled subscription wants any event: read once per transaction, the copy
    the transaction's savepoint releases use (``_subscriptions``). An ingest batch that finds
    none stores its events without a savepoint each (``workers.ingest``) and then drops the
    events it queued (``discard``), as those releases would have."""
    hit = s.info.get(_SUBS)
    if hit is None or hit[0] is not s.get_transaction():
        subs = s.execute(select(EventSubscription.id, EventSubscription.events).where(EventSubscription.enabled.is_(True))).all()
        hit = (s.get_transaction(), subs)
        s.info[_SUBS] = hit
    return any(types for _sub_id, types in hit[1])


def discard(s: Session) -> None:
    """Drop the events queued so far (no subscription wants them: see ``wanted``)."""
    s.info.pop(_KEY, None)


def _before_commit(s: Session, sweep_after: float) -> None:
    if s.new or s.dirty or s.deleted:
        # the changes not flushed yet are flushed by the commit itself, AFTER this hook: flush
        # them now, or their events (a reply marked sent just before the commit) are never seen
        s.flush()
    if not s.info.get(_KEY):
        return
    pending = s.info.pop(_KEY, [])
    if not pending:
        return
    subs = _subscriptions(s)
    wanted: dict[str, list[int]] = {}
    for sub_id, types in subs:
        for t in types or ():
            wanted.setdefault(t, []).append(sub_id)
    if not any(wanted.get(p.type) for p in pending):
        return
    ids: list[int] = s.info.setdefault(_IDS, [])
    snap = _Snapshots(s)
    for type_, obj, data in _merge(pending):  # merged first: a creation absorbs its updates, wanted or not
        if not wanted.get(type_):
            continue
        body = snap.data(type_, obj, data)
        if body is None:
            continue
        conv_id = body.get("conversation", {}).get("id")
        ev = WebhookEvent(type=type_, conversation_id=conv_id, payload={})
        s.add(ev)
        s.flush()
        ev.payload = {"id": ev.id, "type": type_, "version": VERSION, "occurred_at": _iso(ev.created_at), "data": body}
        # scheduled right after the commit: the sweeper's turn comes only if that is lost
        due = ev.created_at + timedelta(seconds=sweep_after)
        rows = [EventDelivery(event_id=ev.id, subscription_id=sid, state=DeliveryState.PENDING, next_attempt_at=due)
                for sid in wanted[type_]]
        s.add_all(rows)
        s.flush()
        ids.extend(r.id for r in rows)


def _merge(pending: list[_Pending]) -> Iterable[tuple[str, Any, dict[str, Any]]]:
    """One event per change: updates of a conversation created in the same transaction are
    part of its creation, and several updates of one conversation become one (first old value,
    last new value)."""
    created = {id(p.obj) for p in pending if p.type == "conversation.created"}
    updates: dict[int, _Pending] = {}
    out: list[_Pending] = []
    for p in pending:
        if p.type == "conversation.updated":
            if id(p.obj) in created:
                continue
            first = updates.get(id(p.obj))
            if first is None:
                updates[id(p.obj)] = p
                out.append(p)
            else:
                for attr, (old, new) in p.data["changes"].items():
                    first.data["changes"][attr] = (first.data["changes"].get(attr, (old, new))[0], new)
            continue
        out.append(p)
    for p in out:
        if p.type == "conversation.updated":
            p.data["changes"] = {k: v for k, v in p.data["changes"].items() if v[0] != v[1]}
            if not p.data["changes"]:
                continue
        yield p.type, p.obj, p.data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class _Snapshots:
    """The ``data`` of each event: what the row looks like as the transaction commits."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.emails: dict[int, str | None] = {}

    def _email(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self.emails:
            self.emails[user_id] = self.s.scalar(select(User.email).where(User.id == user_id))
        return self.emails[user_id]

    def conversation(self, c: Conversation) -> dict[str, Any]:
        ident = self.s.get(Identity, c.identity_id)
        conn = self.s.get(Connector, c.connector_id)
        return {
            "id": c.id, "subject": c.subject or "", "status": c.status, "priority": c.priority,
            "assignee": self._email(c.assignee_id), "category": c.category, "language": c.language,
            "tags": list(c.tags or []), "security_flag": bool(c.security_flag),
            "medium": ident.medium if ident else None, "connector": conn.name if conn else None,
            "contact_id": c.contact_id, "created_at": _iso(c.created_at), "last_message_at": _iso(c.last_message_at),
            "resolved_at": _iso(c.resolved_at),
        }

    def message(self, m: Message) -> dict[str, Any]:
        atts = self.s.scalars(select(AttachmentRow).where(AttachmentRow.message_id == m.id).order_by(AttachmentRow.id)).all()
        return {
            "id": m.id, "conversation_id": m.conversation_id, "external_id": m.external_id, "direction": m.direction,
            "kind": m.kind, "sent_at": _iso(m.sent_at), "subject": m.subject or "", "sender_name": m.sender_name or "",
            "text": m.text or "",  # redacted: secrets a customer pasted are markers here too
            "auto_generated": bool(m.auto_generated),
            "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256} for a in atts],
        }

    def reply(self, r: Reply) -> dict[str, Any]:
        return {
            "id": r.id, "conversation_id": r.conversation_id, "kind": r.kind, "state": r.state, "source": r.source,
            "author_name": r.author_name or "", "external_id": r.external_id, "error": r.last_error,
            "sent_at": _iso(r.sent_at), "text": r.text or "",
        }

    def data(self, type_: str, obj: Any, extra: dict[str, Any]) -> dict[str, Any] | None:
        state = inspect(obj)
        if state.transient or state.deleted or state.detached:  # gone with a rolled-back savepoint
            return None
        if type_ == "conversation.created":
            return {"conversation": self.conversation(obj)}
        if type_ == "conversation.updated":
            changes: dict[str, dict[str, Any]] = {}
            for attr, (old, new) in extra["changes"].items():
                if attr == "assignee_id":
                    changes["assignee"] = {"from": self._email(old), "to": self._email(new)}
                else:
                    changes[attr] = {"from": list(old) if isinstance(old, list) else old, "to": list(new) if isinstance(new, list) else new}
            return {"conversation": self.conversation(obj), "changes": changes}
        if type_ == "message.created":
            conv = self.s.get(Conversation, obj.conversation_id)
            return {"conversation": self.conversation(conv) if conv else {"id": obj.conversation_id}, "message": self.message(obj)}
        if type_ == "reply.status_changed":
            conv = self.s.get(Conversation, obj.conversation_id)
            return {"conversation": self.conversation(conv) if conv else {"id": obj.conversation_id}, "reply": self.reply(obj),
                    "from": extra.get("from"), "to": extra.get("to")}
        if type_ == "csat.received":
            return {"conversation": self.conversation(obj), **{k: v for k, v in extra.items()}}
        return None


def install(factory: sessionmaker, on_commit: Callable[[list[int]], None], sweep_after: float = 30.0) -> None:
    """Watch the sessions of ``factory`` (one Database); ``on_commit(ids)`` gets the event
    delivery ids each committed transaction wrote (to schedule them; the sweeper takes over
    after ``sweep_after`` seconds if that is lost)."""

    def before_commit(s: Session) -> None:
        _before_commit(s, sweep_after)

    def after_commit(s: Session) -> None:
        s.info.pop(_KEY, None)
        if s.get_nested_transaction() is None:
            s.info.pop(_SUBS, None)
        ids = s.info.pop(_IDS, None)
        if ids:
            try:
                on_commit(ids)
            except Exception as exc:  # the sweeper schedules them instead
                log.warning("events.schedule_failed", count=len(ids), error=str(exc))

    sa_event.listen(factory, "before_flush", _before_flush)
    sa_event.listen(factory, "before_commit", before_commit)
    sa_event.listen(factory, "after_commit", after_commit)
    sa_event.listen(factory, "after_soft_rollback", _after_soft_rollback)
