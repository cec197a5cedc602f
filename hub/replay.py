"""Dead letters: list them, and replay dead or failed work (CLI `omnihub replay`, admin API)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import Connector, Delivery, EventDelivery, EventSubscription, InboundEvent, Reply, WebhookEvent, now
from hub.states import REPLY_RETRYABLE, DeliveryState, EventState

#: a table of work that can die and be replayed
WorkModel = type[Delivery] | type[Reply] | type[InboundEvent]
KINDS: dict[str, tuple[WorkModel, str, tuple[str, ...]]] = {
    "deliveries": (Delivery, "push", (DeliveryState.DEAD,)),
    "replies": (Reply, "send", tuple(REPLY_RETRYABLE)),
    "events": (InboundEvent, "ingest", (EventState.QUARANTINED,)),
}
#: event-webhook deliveries that gave up (workers.webhooks_out): dead letters too, replayed
#: like the others unless their subscription is disabled (left out: they would die again at once)
EVENT_DELIVERIES = "event_deliveries"
ALL_KINDS = (*KINDS, EVENT_DELIVERIES)


def reset(row: Delivery | Reply | InboundEvent) -> None:
    row.state = EventState.PENDING  # the same word in every table
    row.attempts = 0
    row.locked_until = None
    row.next_attempt_at = now()
    if isinstance(row, InboundEvent):
        row.error = None
    else:
        row.last_error = None


def _connector_filter(model: WorkModel, connector: str | None):
    if not connector:
        return None
    if model is Delivery:
        return Delivery.helpdesk_id == select(Connector.id).where(Connector.name == connector).scalar_subquery()
    assert model is Reply or model is InboundEvent
    return model.connector_id == select(Connector.id).where(Connector.name == connector).scalar_subquery()


def replay(
    rt,
    what: str = "all",
    ids: list[int] | None = None,
    connector: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    batch: int = 500,
    include_permanent: bool = False,
    dry_run: bool = False,
) -> dict[str, int]:
    """Reset dead/failed rows to pending and schedule them. Returns counts per kind (and
    ``replies_left_out``: permanent failures — an opted-out customer, an automatic address,
    a number the provider refused — kept unless ``include_permanent``; ``event_deliveries_left_out``:
    dead event deliveries of a disabled subscription). ``dry_run``: count only."""
    counts: dict[str, int] = {}
    if what in ("all", EVENT_DELIVERIES):
        counts.update(_replay_event_deliveries(rt, ids, connector, dry_run, progress))
    for name, (model, stage, states) in KINDS.items():
        if what not in ("all", name):
            continue
        with rt.db.read() as s:
            q = select(model.id).where(model.state.in_(states))
            if name == "events":
                # Only events that failed processing; a signed-but-malformed request stays quarantined.
                q = q.where(~InboundEvent.external_id.startswith("invalid:"))
            cond = _connector_filter(model, connector)
            if cond is not None:
                q = q.where(cond)
            if ids:
                q = q.where(model.id.in_(ids))
            all_ids = list(s.scalars(q.order_by(model.id)))
            if name == "replies" and not include_permanent and all_ids:
                kept = _permanent_replies(s, all_ids)
                counts["replies_left_out"] = len(kept)
                all_ids = [i for i in all_ids if i not in kept]
        if dry_run:
            counts[name] = len(all_ids)
            continue
        done = 0
        for i in range(0, len(all_ids), batch):
            chunk = all_ids[i : i + batch]
            with rt.db.session() as s:
                for row in s.scalars(select(model).where(model.id.in_(chunk))):
                    reset(row)
            rt.queues.schedule(stage, chunk)
            done += len(chunk)
            if progress:
                progress(name, done, len(all_ids))
        counts[name] = len(all_ids)
    return counts


def _replay_event_deliveries(rt, ids: list[int] | None, connector: str | None, dry_run: bool,
                             progress: Callable[[str, int, int], None] | None) -> dict[str, int]:
    if connector:  # an event delivery belongs to a subscription, not to a connector
        return {EVENT_DELIVERIES: 0}
    with rt.db.read() as s:
        q = (select(EventDelivery.id, EventSubscription.enabled).join(EventSubscription, EventSubscription.id == EventDelivery.subscription_id)
             .where(EventDelivery.state == DeliveryState.DEAD))
        if ids:
            q = q.where(EventDelivery.id.in_(ids))
        rows = s.execute(q.order_by(EventDelivery.id)).all()
    todo = [r.id for r in rows if r.enabled]
    out = {EVENT_DELIVERIES: len(todo)}
    if len(todo) < len(rows):
        out["event_deliveries_left_out"] = len(rows) - len(todo)
    if dry_run or not todo:
        return out
    for i in range(0, len(todo), 500):
        chunk = todo[i : i + 500]
        with rt.db.session() as s:
            for d in s.scalars(select(EventDelivery).where(EventDelivery.id.in_(chunk), EventDelivery.state == DeliveryState.DEAD)):
                d.state = DeliveryState.PENDING
                d.attempts = 0
                d.replays = (d.replays or 0) + 1
                d.locked_until = None
                d.next_attempt_at = now()
                d.last_error = None
        rt.queues.schedule("event", chunk)
        if progress:
            progress(EVENT_DELIVERIES, min(i + 500, len(todo)), len(todo))
    return out


def _permanent_replies(s: Session, ids: list[int]) -> set[int]:
    """Replies that sending again cannot deliver: marked permanent, or to a customer who is
    opted out now."""
    from hub.models import Conversation, Identity

    out: set[int] = set()
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        rows = s.execute(
            select(Reply.id, Reply.status_detail, Identity.opted_out)
            .join(Conversation, Conversation.id == Reply.conversation_id)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Reply.id.in_(part))
        )
        out.update(row.id for row in rows if row.opted_out or (row.status_detail or {}).get("permanent"))
    return out


def dead_letters(s: Session, limit: int = 200) -> dict[str, list[dict[str, Any]]]:
    names = {c.id: c.name for c in s.scalars(select(Connector))}
    out: dict[str, list[dict[str, Any]]] = {}
    for name, (model, _stage, states) in KINDS.items():
        # select() of a union of models is typed as their base: the rows are one of the three
        rows = cast(Sequence[Delivery | Reply | InboundEvent], s.scalars(
            select(model).where(model.state.in_(states)).order_by(model.id.desc()).limit(limit)).all())
        items = []
        for r in rows:
            if isinstance(r, InboundEvent):
                cid, error, when = r.connector_id, r.error, r.received_at
            else:
                cid = r.helpdesk_id if isinstance(r, Delivery) else r.connector_id
                error, when = r.last_error, r.updated_at
            items.append({
                "id": r.id,
                "state": r.state,
                "connector": names.get(cid),
                "attempts": r.attempts,
                "error": error,
                "conversation_id": getattr(r, "conversation_id", None),
                "external_id": getattr(r, "external_id", None),
                "updated_at": when.isoformat(),
            })
        out[name] = items
    subs = {x.id: x for x in s.scalars(select(EventSubscription))}
    rows_ev = s.execute(select(EventDelivery, WebhookEvent.type, WebhookEvent.conversation_id)
                        .join(WebhookEvent, WebhookEvent.id == EventDelivery.event_id, isouter=True)
                        .where(EventDelivery.state == DeliveryState.DEAD).order_by(EventDelivery.id.desc()).limit(limit)).all()
    events = []
    for d, event_type, conv_id in rows_ev:
        sub = subs.get(d.subscription_id)
        events.append({
            "id": d.id,
            "state": d.state,
            "connector": f"event webhook {d.subscription_id}",  # what the row belongs to (a subscription, not a connector)
            "subscription_id": d.subscription_id,
            "subscription_url": sub.url if sub else None,
            "subscription_enabled": bool(sub.enabled) if sub else False,
            "event_type": event_type,
            "attempts": d.attempts,
            "error": d.last_error,
            "conversation_id": conv_id,
            "external_id": None,
            "updated_at": (d.updated_at or d.created_at).isoformat(),
        })
    out[EVENT_DELIVERIES] = events
    return out


def stats(rt) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with rt.db.read() as s:
        for name, (model, _stage, _states) in KINDS.items():
            out[name] = {state: n for state, n in s.execute(select(model.state, func.count()).group_by(model.state))}
        from hub.models import EventDelivery

        out["event_deliveries"] = {state: n for state, n in s.execute(select(EventDelivery.state, func.count()).group_by(EventDelivery.state))}
    try:
        out["redis"] = rt.queues.backlog()
    except Exception as exc:  # Redis down: report, don't fail
        from hub.redisconn import short_error

        out["redis"] = {"error": short_error(exc)}
    from hub import leases

    try:  # who runs which poll and periodic job (hub.leases), and the live pollers
        out["leases"] = leases.holders(rt.redis, rt.settings.queue_prefix)
        out["pollers"] = leases.pollers(rt.redis, rt.settings.queue_prefix)
    except Exception as exc:
        from hub.redisconn import short_error

        out["leases"] = out["pollers"] = {"error": short_error(exc)}
    return out
