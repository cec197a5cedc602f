"""The sweeper: re-schedules pending work whose time has come (retries, lost jobs)."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import or_, select, update

from hub.models import Delivery, InboundEvent, Reply, now
from hub.runtime import Runtime

log = structlog.get_logger("omnihub.sweeper")

TABLES = (("ingest", InboundEvent), ("push", Delivery), ("send", Reply))


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
                        model.state == "pending",
                        model.next_attempt_at <= t,
                        or_(model.locked_until.is_(None), model.locked_until < t),
                    )
                    .order_by(model.id)
                    .limit(limit)
                )
            )
            if ids:
                s.execute(update(model).where(model.id.in_(ids)).values(next_attempt_at=later))
        if ids:
            rt.queues.schedule(stage, ids)
            log.info("sweeper.rescheduled", stage=stage, count=len(ids))
        counts[stage] = len(ids)
    return counts
