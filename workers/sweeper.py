"""The sweeper: re-schedules pending work whose time has come (retries, lost jobs)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update

from hub.connectors import channel_class
from hub.models import Connector, Delivery, EventDelivery, InboundEvent, Reply, now
from hub.runtime import Runtime
from hub.states import OUTCOME_UNKNOWN, EventState, ReplyState
from workers import webhooks_out

log = structlog.get_logger("omnihub.sweeper")

TABLES = (("ingest", InboundEvent), ("push", Delivery), ("send", Reply), ("event", EventDelivery))


def sweep(rt: Runtime, limit: int = 5000) -> dict[str, int]:
    """Schedule every pending row that is due and not leased. Returns counts per stage."""
    t = now()
    counts: dict[str, int] = {}
    later = t + timedelta(seconds=rt.settings.sweep_after)
    for stage, model in TABLES:
        with rt.db.session() as s:
            ids = list(
                s.scalars(
                    select(model.id)
                    .where(
                        model.state == EventState.PENDING,  # "pending" in every table
                        model.next_attempt_at <= t,
                        or_(model.locked_until.is_(None), model.locked_until < t),
                    )
                    .order_by(model.id)
                    .limit(limit)
                    # PostgreSQL: rows a worker is claiming or recording right now are left for
                    # the next tick; the sweeper never waits for a worker, so its UPDATE below
                    # (on rows it holds already) cannot deadlock with one
                    .with_for_update(skip_locked=True)
                )
            )
            if ids:
                s.execute(update(model).where(model.id.in_(ids)).values(next_attempt_at=later))
        # ids still in the stage's list are a backlog older than sweep_after, not lost work:
        # they are left where they are (a second copy per tick would only grow the list)
        queued = rt.queues.waiting(stage, ids) if ids else set()
        if queued:
            ids = [i for i in ids if i not in queued]
            log.info("sweeper.still_queued", stage=stage, count=len(queued))
        if ids:
            rt.queues.schedule(stage, ids)
            log.info("sweeper.rescheduled", stage=stage, count=len(ids))
        if not ids and rt.queues.kick(stage):  # ids left in the list by a lost drain job (a failover)
            log.info("sweeper.drain_restarted", stage=stage)
        counts[stage] = len(ids)
    counts["expired_sends"] = expire_sends(rt, limit)
    counts["pruned_event_deliveries"] = webhooks_out.prune(rt)
    return counts


def expire_sends(rt: Runtime, limit: int = 5000) -> int:
    """Replies stuck in ``sending`` after their lease: the worker died during the provider
    call, so nobody knows whether the customer got it. Where the channel declares its send
    idempotent (``send_is_idempotent``) the reply goes back to ``pending`` and is sent again;
    otherwise it becomes ``failed`` with OUTCOME_UNKNOWN, visible and retryable by an agent.
    Returns how many replies were expired."""
    t = now()
    retry: list[int] = []
    failed = 0
    with rt.db.session() as s:
        rows = s.scalars(
            select(Reply)
            .where(Reply.state == ReplyState.SENDING, or_(Reply.locked_until.is_(None), Reply.locked_until < t))
            .order_by(Reply.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        kinds = {c.id: c.kind for c in s.scalars(select(Connector).where(Connector.id.in_({r.connector_id for r in rows})))}
        for r in rows:
            cls = channel_class(kinds.get(r.connector_id, ""))  # None: an unknown kind is not idempotent
            idempotent = cls is not None and cls.send_is_idempotent
            r.locked_until = None
            r.status_detail = {**(r.status_detail or {}), "lease_expired_at": t.isoformat()}
            if idempotent:
                r.state = ReplyState.PENDING
                r.next_attempt_at = t + timedelta(seconds=rt.settings.sweep_after)
                retry.append(r.id)
            else:
                r.state = ReplyState.FAILED
                r.last_error = OUTCOME_UNKNOWN
                failed += 1
    if retry:
        rt.queues.schedule("send", retry)
    if rows:
        log.warning("sweeper.sends_expired", retried=len(retry), failed=failed)
    return len(rows)
