"""Retention policies: per connector, what is older than N days is deleted or anonymized
(docs/retention.md).

A policy is one ``retention_policies`` row: ``days`` and ``action``:

A conversation is due when nothing happened in it since the cutoff, by the hub's clock: it
was created before, and no message was received and no reply or note written since (a
message's own ``sent_at`` is the sender's word: a backdated message makes nothing due; an
agent still working on a customer's old question keeps it alive).

- ``delete``: due conversations of the connector go with everything of theirs (messages,
  replies, attachments and their files, deliveries, helpdesk links, read markers, journal
  rows); in resolved or closed conversations that remain, messages received and finished
  replies written before the cutoff go with their attachments (an open conversation keeps
  its whole thread).
- ``anonymize``: the rows stay (statistics, SLA reports keep their counts and times) but
  their content goes: message text, HTML, subject, sender name, entities, provider fields;
  reply text (those of due conversations, and the old ones of resolved or closed
  conversations); the subject and entities of due conversations; attachments (rows and files)
  and journal rows are deleted.

In both, journal rows (``inbound_events``) of the connector received before the cutoff are
deleted unless still pending (work not done yet), and so are webhook replay keys. Contacts
and identities are not touched: a customer is erased with ``omnihub contacts erase``. A
conversation that stays but loses (or has blanked) old messages loses its subject and
detected entities too (``subjects``): they were taken from its first message. On SQLite the
full-text index is compacted after a run that changed anything (``hub.search.purge``) and the
write-ahead log is checkpointed (``hub.erasure.checkpoint``), so no removed word stays in the
index, the database file or its ``-wal`` file.

Each run is remembered on the policy (``last_run_at``, ``last_result``); the last run that
changed something is kept beside it (``last_change_at``, ``last_change``), so an hourly run
that found nothing does not hide what the policy last did.

``plan`` counts what a run would change (the dry run); ``run`` applies it in batches, each
its own transaction, so a large backlog never holds one long lock. The poller runs
``run_all`` every OMNIHUB_RETENTION_INTERVAL seconds under the ``retention`` lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, purge, search
from hub.errors import ConfigError, NotFound
from hub.models import (
    AttachmentRow,
    Connector,
    Conversation,
    ConversationEvent,
    InboundEvent,
    Message,
    Reply,
    RetentionPolicy,
    WebhookEvent,
    WebhookReplayKey,
    now,
)
from hub.states import ConversationStatus, EventState, ReplyState

log = structlog.get_logger("omnihub.retention")

ACTIONS = ("delete", "anonymize")
MAX_DAYS = 36500
#: rows per transaction
BATCH = 500
#: replies still on their way are never touched
OPEN_REPLIES = (ReplyState.PENDING, ReplyState.SENDING)
COUNT_KEYS = ("conversations", "messages", "replies", "attachments", "journal", "webhook_events", "replay_keys", "subjects")
#: where ``last_result`` keeps the last run that changed something (no column of its own)
_LAST_CHANGE = "_last_change"


@dataclass(frozen=True)
class Policy:
    connector_id: int
    connector: str
    days: int
    action: str

    def cutoff(self, at: datetime | None = None) -> datetime:
        return (at or now()) - timedelta(days=self.days)


def policy_json(row: RetentionPolicy, connector: str) -> dict[str, Any]:
    result = dict(row.last_result or {})
    change = result.pop(_LAST_CHANGE, None) or {}
    return {"connector": connector, "days": row.days, "action": row.action, "updated_by": row.updated_by,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
            "last_run_at": row.last_run_at.isoformat() if row.last_run_at else None, "last_result": result,
            "last_change_at": change.get("at"), "last_change": change.get("counts") or {}}


def _remember(row: RetentionPolicy, counts: dict[str, int]) -> None:
    """Record a run on its policy: always as the last run; as the last change when it changed
    something (an empty run keeps the previous change visible)."""
    at = now()
    previous = (row.last_result or {}).get(_LAST_CHANGE)
    result: dict[str, Any] = dict(counts)
    if any(int(v) for v in counts.values()):
        result[_LAST_CHANGE] = {"at": at.isoformat(), "counts": dict(counts)}
    elif previous:
        result[_LAST_CHANGE] = previous
    row.last_run_at, row.last_result = at, result


def list_policies(s: Session) -> list[dict[str, Any]]:
    rows = s.execute(select(RetentionPolicy, Connector.name).join(Connector, Connector.id == RetentionPolicy.connector_id)
                     .order_by(Connector.name)).all()
    return [policy_json(p, name) for p, name in rows]


def _connector(s: Session, name: str) -> Connector:
    row = s.scalar(select(Connector).where(Connector.name == name))
    if row is None or "~deleted~" in row.name:
        raise NotFound(f"connector {name!r} not found")
    return row


def validate(days: Any, action: str) -> tuple[int, str]:
    if action not in ACTIONS:
        raise ConfigError(f"action: one of {', '.join(ACTIONS)}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"days: a whole number from 1 to {MAX_DAYS}")
    return days, action


def set_policy(s: Session, connector: str, days: int, action: str, actor: str) -> dict[str, Any]:
    days, action = validate(days, action)
    conn = _connector(s, connector)
    row = s.scalar(select(RetentionPolicy).where(RetentionPolicy.connector_id == conn.id))
    before = {"days": row.days, "action": row.action} if row else None
    if row is None:
        row = RetentionPolicy(connector_id=conn.id, days=days, action=action, updated_by=actor[:320], last_result={})
        s.add(row)
    else:
        row.days, row.action, row.updated_by = days, action, actor[:320]
    s.flush()
    audit.record(s, actor=actor, action="retention.policy", target_type="connector", target_id=conn.name,
                 details={"days": days, "action": action, "before": before})
    return policy_json(row, conn.name)


def remove_policy(s: Session, connector: str, actor: str) -> bool:
    conn = _connector(s, connector)
    row = s.scalar(select(RetentionPolicy).where(RetentionPolicy.connector_id == conn.id))
    if row is None:
        return False
    before = {"days": row.days, "action": row.action}
    s.delete(row)
    audit.record(s, actor=actor, action="retention.policy", target_type="connector", target_id=conn.name,
                 details={"removed": True, "before": before})
    return True


def policies(s: Session, connector: str | None = None) -> list[Policy]:
    q = select(RetentionPolicy, Connector.name).join(Connector, Connector.id == RetentionPolicy.connector_id)
    if connector:
        q = q.where(Connector.name == connector)
    return [Policy(p.connector_id, name, p.days, p.action) for p, name in s.execute(q.order_by(Connector.name))]


# --------------------------------------------------------------------- what is due
#: statuses of a conversation that is finished: only in these are single old messages and
#: replies removed while the conversation itself stays (an open one keeps its whole thread)
FINISHED = (ConversationStatus.RESOLVED.value, ConversationStatus.CLOSED.value)


def _old_conversations(p: Policy, cutoff: datetime):
    """Conversations with no activity since the cutoff, by the hub's own clock: created before
    it, no message received, no reply (or note) written and nothing in its timeline
    (assignment, claim, team move) since. A message's own ``sent_at``
    is the sender's word and is not used: a backdated message makes nothing due."""
    recent_msg = select(Message.id).where(Message.conversation_id == Conversation.id, Message.received_at >= cutoff).exists()
    recent_reply = select(Reply.id).where(Reply.conversation_id == Conversation.id, Reply.created_at >= cutoff).exists()
    # the timeline: an agent claimed it, it was assigned, moved to a team, its status changed
    recent_event = select(ConversationEvent.id).where(ConversationEvent.conversation_id == Conversation.id,
                                                      ConversationEvent.at >= cutoff).exists()
    q = select(Conversation.id).where(Conversation.connector_id == p.connector_id, Conversation.created_at < cutoff,
                                      ~recent_msg, ~recent_reply, ~recent_event)
    if p.action == "anonymize":  # not yet anonymized
        q = q.where(or_(Conversation.subject != "", cast(Conversation.entities, Text) != "[]"))
    return q


def _finished_or_due(p: Policy, cutoff: datetime):
    """Conversations whose old messages and replies go: the due ones, and finished ones."""
    return select(Conversation.id).where(Conversation.connector_id == p.connector_id,
                                         or_(Conversation.status.in_(FINISHED), Conversation.id.in_(_old_conversations(p, cutoff))))


def _old_messages(p: Policy, cutoff: datetime):
    q = select(Message.id).where(Message.connector_id == p.connector_id, Message.received_at < cutoff,
                                 Message.conversation_id.in_(_finished_or_due(p, cutoff)))
    if p.action == "delete":  # the ones whose conversation is not deleted whole
        q = q.where(~Message.conversation_id.in_(_old_conversations(p, cutoff)))
    else:
        q = q.where(or_(Message.text != "", Message.full_text != "", Message.html != "", Message.subject != "",
                        Message.sender_name != "", Message.event_id.is_not(None),
                        Message.id.in_(select(AttachmentRow.message_id).where(AttachmentRow.message_id.is_not(None)))))
    return q


def _old_replies(p: Policy, cutoff: datetime):
    q = select(Reply.id).where(Reply.connector_id == p.connector_id, Reply.created_at < cutoff, Reply.state.not_in(OPEN_REPLIES),
                               Reply.conversation_id.in_(_finished_or_due(p, cutoff)))
    if p.action == "delete":
        q = q.where(~Reply.conversation_id.in_(_old_conversations(p, cutoff)))
    else:
        q = q.where(or_(Reply.text != "", Reply.html != "",
                        Reply.id.in_(select(AttachmentRow.reply_id).where(AttachmentRow.reply_id.is_not(None)))))
    return q


def _stale_subjects(p: Policy, cutoff: datetime, msgs):
    """Conversations that stay (not due themselves) but some of whose messages ``msgs`` go or
    are blanked: their subject and entities came from their first message."""
    return select(Conversation.id).where(
        Conversation.id.in_(select(Message.conversation_id).where(Message.id.in_(msgs))),
        ~Conversation.id.in_(_old_conversations(p, cutoff)),
        or_(Conversation.subject != "", cast(Conversation.entities, Text) != "[]"))


def _blank_subjects(s: Session, p: Policy, cutoff: datetime, message_ids: list[int]) -> int:
    """Blank the subject and entities of the conversations of these messages (before they go)."""
    n = 0
    for part in purge.chunks(message_ids):
        ids = list(s.scalars(_stale_subjects(p, cutoff, select(Message.id).where(Message.id.in_(part)))))
        if ids:
            n += purge.rowcount(s.execute(update(Conversation).where(Conversation.id.in_(ids)).values(**purge.BLANK_CONVERSATION)))
    return n


def _old_events(p: Policy, cutoff: datetime):
    return select(InboundEvent.id).where(InboundEvent.connector_id == p.connector_id, InboundEvent.received_at < cutoff,
                                         InboundEvent.state != EventState.PENDING)


def _count(s: Session, q) -> int:
    return int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)


def plan(s: Session, p: Policy, at: datetime | None = None) -> dict[str, int]:
    """What a run at ``at`` would change for this policy (the dry run)."""
    cutoff = p.cutoff(at)
    convs = _old_conversations(p, cutoff)
    msgs, replies = _old_messages(p, cutoff), _old_replies(p, cutoff)
    conv_msgs = select(Message.id).where(Message.conversation_id.in_(convs))
    conv_replies = select(Reply.id).where(Reply.conversation_id.in_(convs))
    if p.action == "delete":
        all_msgs = select(Message.id).where(or_(Message.id.in_(msgs), Message.id.in_(conv_msgs)))
        all_replies = select(Reply.id).where(or_(Reply.id.in_(replies), Reply.id.in_(conv_replies)))
        # journal rows: the old ones of the connector, and those of the messages deleted
        events = select(InboundEvent.id).where(or_(InboundEvent.id.in_(_old_events(p, cutoff)),
                                                   InboundEvent.id.in_(select(Message.event_id).where(Message.id.in_(all_msgs)))))
        n_msgs, n_replies = _count(s, all_msgs), _count(s, all_replies)
    else:
        all_msgs, all_replies = msgs, replies
        events = select(InboundEvent.id).where(or_(InboundEvent.id.in_(_old_events(p, cutoff)),
                                                   InboundEvent.id.in_(select(Message.event_id).where(Message.id.in_(msgs)))))
        n_msgs, n_replies = _count(s, msgs), _count(s, replies)
    atts = select(AttachmentRow.id).where(or_(AttachmentRow.message_id.in_(all_msgs), AttachmentRow.reply_id.in_(all_replies)))
    keys = select(WebhookReplayKey.id).where(WebhookReplayKey.connector_id == p.connector_id, WebhookReplayKey.received_at < cutoff)
    hooks = _old_webhook_events(p, cutoff)
    if p.action == "delete":  # those of the deleted conversations go too, whatever their age
        hooks = select(WebhookEvent.id).where(or_(WebhookEvent.id.in_(hooks), WebhookEvent.conversation_id.in_(convs)))
    return {"conversations": _count(s, convs), "messages": n_msgs, "replies": n_replies, "attachments": _count(s, atts),
            "journal": _count(s, events), "webhook_events": _count(s, hooks), "replay_keys": _count(s, keys),
            "subjects": _count(s, _stale_subjects(p, cutoff, msgs))}


def _old_webhook_events(p: Policy, cutoff: datetime):
    """Outgoing event-webhook events (they copy message text) of the connector's conversations."""
    return select(WebhookEvent.id).where(
        WebhookEvent.created_at < cutoff,
        WebhookEvent.conversation_id.in_(select(Conversation.id).where(Conversation.connector_id == p.connector_id)))


# ----------------------------------------------------------------------------- run
class Stopped(Exception):
    """The caller's ``keep_going`` said stop (the poller lost its lease): a later run goes on."""


def _batches(rt: Any, q, keep_going: Any = None) -> Any:
    """Ids of ``q`` a batch at a time, each batch re-selected after the last one is done."""
    while True:
        if keep_going is not None and not keep_going():
            raise Stopped()
        with rt.db.read() as s:
            ids = list(s.scalars(q.order_by(None).limit(BATCH)))
        if not ids:
            return
        yield ids


def run(rt: Any, p: Policy, at: datetime | None = None, progress: Any = None, keep_going: Any = None) -> dict[str, int]:
    """Apply one policy (module docstring); returns the counts (as ``plan`` predicted)."""
    cutoff = p.cutoff(at)
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["files"] = 0

    def add(result: dict[str, Any]) -> None:
        keys = result.pop("keys", set())
        for k, v in result.items():
            counts[k] = counts.get(k, 0) + int(v)
        if keys:
            with rt.db.read() as s:
                counts["files"] += purge.drop_files(s, rt.blobs, keys)
        if progress is not None:
            progress(p, dict(counts))

    if p.action == "delete":
        for ids in _batches(rt, _old_conversations(p, cutoff), keep_going):
            with rt.db.session() as s:
                result = purge.delete_conversations(s, ids)
            add(result)  # after the commit: the files go once no row names them
        for ids in _batches(rt, _old_messages(p, cutoff), keep_going):
            with rt.db.session() as s:
                subjects = _blank_subjects(s, p, cutoff, ids)
                result = purge.delete_messages(s, ids)
            add({**result, "subjects": subjects})  # after the commit: the files go once no row names them
        for ids in _batches(rt, _old_replies(p, cutoff), keep_going):
            with rt.db.session() as s:
                result = purge.delete_replies(s, ids)
            add(result)  # after the commit: the files go once no row names them
    else:
        for ids in _batches(rt, _old_messages(p, cutoff), keep_going):
            with rt.db.session() as s:
                subjects = _blank_subjects(s, p, cutoff, ids)
                result = purge.anonymize_messages(s, ids)
            add({**result, "subjects": subjects})  # after the commit: the files go once no row names them
        for ids in _batches(rt, _old_replies(p, cutoff), keep_going):
            with rt.db.session() as s:
                result = purge.anonymize_replies(s, ids)
            add(result)  # after the commit: the files go once no row names them
        for ids in _batches(rt, _old_conversations(p, cutoff), keep_going):
            with rt.db.session() as s:
                for part in purge.chunks(ids):
                    s.execute(update(Conversation).where(Conversation.id.in_(part)).values(**purge.BLANK_CONVERSATION))
            add({"conversations": len(ids)})
    for ids in _batches(rt, _old_webhook_events(p, cutoff), keep_going):
        with rt.db.session() as s:
            n_hooks = purge.delete_webhook_events(s, ids)
        add({"webhook_events": n_hooks})
    for ids in _batches(rt, _old_events(p, cutoff), keep_going):
        with rt.db.session() as s:
            n_events = purge.delete_events(s, ids)
        add({"journal": n_events})
    with rt.db.session() as s:
        n = purge.rowcount(s.execute(delete(WebhookReplayKey).where(WebhookReplayKey.connector_id == p.connector_id,
                                                                    WebhookReplayKey.received_at < cutoff)))
        counts["replay_keys"] += n
        row = s.scalar(select(RetentionPolicy).where(RetentionPolicy.connector_id == p.connector_id))
        if row is not None:
            _remember(row, counts)
    if any(counts.values()):
        with rt.db.session() as s:  # SQLite FTS5 keeps removed words until its segments merge
            search.purge(s)
        from hub.erasure import checkpoint

        if checkpoint(rt) is False:  # SQLite: the -wal file would keep the removed rows' old pages until the next checkpoint
            counts["wal_checkpoint_pending"] = 1
    return counts


def run_all(rt: Any, *, dry_run: bool = False, connector: str | None = None, actor: str = "system",
            progress: Any = None, keep_going: Any = None) -> dict[str, dict[str, Any]]:
    """Plan (``dry_run``) or apply every policy (or one connector's). A run that changed
    anything is audited (``retention.run``, counts only)."""
    with rt.db.read() as s:
        todo = policies(s, connector)
        if connector and not todo:
            _connector(s, connector)  # NotFound for an unknown connector
    out: dict[str, dict[str, Any]] = {}
    at = now()
    for p in todo:
        if dry_run:
            with rt.db.read() as s:
                counts: dict[str, Any] = plan(s, p, at)
        else:
            counts = run(rt, p, at, progress, keep_going)
            if any(counts.values()):
                with rt.db.session() as s:
                    audit.record(s, actor=actor, action="retention.run", target_type="connector", target_id=p.connector,
                                 details={"days": p.days, "action": p.action, **counts})
                log.info("retention.applied", connector=p.connector, action=p.action, days=p.days, **counts)
        out[p.connector] = {"days": p.days, "action": p.action, "cutoff": p.cutoff(at).isoformat(), **counts}
    return out
