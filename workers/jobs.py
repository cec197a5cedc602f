"""RQ job functions. They take primitives only (JSON serializer) and look rows up by id."""

from __future__ import annotations

import time

import structlog

from hub.runtime import get_runtime
from workers import ingest, outbox, webhooks_out

log = structlog.get_logger("omnihub.jobs")


def run_stage(rt, stage: str, ids: list[int], seq: int = 0) -> None:
    if stage == "ingest":
        # Deliveries to the built-in inbox are recorded in the ingest transaction itself (no
        # network call, no second queue hop: end-to-end latency, benchmarks P5); result.push
        # holds the rest, for the push queue. Batches store in the order they left the
        # list (``seq``), so two workers never store one conversation out of order.
        wait = (lambda: rt.queues.wait_turn("ingest", seq)) if seq else None
        result = ingest.process(rt, ids, push_local=True, wait_turn=wait)
        rt.queues.schedule("push", result.push)
        rt.queues.schedule("send", result.send)
    elif stage == "push":
        rt.queues.schedule("push", outbox.push(rt, ids))
    elif stage == "send":
        rt.queues.schedule("push", outbox.send(rt, ids))
    elif stage == "event":
        webhooks_out.deliver(rt, ids)
    else:
        raise ValueError(f"unknown stage {stage!r}")


def drain(stage: str, slot: int) -> int:
    """Process batches of scheduled ids for one stage until the list is empty."""
    rt = get_runtime()
    q = rt.queues
    done = 0
    while True:
        seq, ids = q.pop_batch(stage, rt.settings.batch_size, slot)
        if not ids:
            q.release_slot(stage, slot)
            # Another producer may have pushed between our pop and the release.
            if q.redis.llen(q.pending_key(stage)) and q.claim_slot(stage, slot):
                continue
            return done
        started = time.perf_counter()
        try:
            run_stage(rt, stage, sorted(set(ids)), seq)
        except Exception:
            # Rows stay pending in SQL; the sweeper re-schedules them.
            log.exception("drain.batch_failed", stage=stage, count=len(ids))
        finally:
            try:
                q.finish_turn(stage, seq)
            except Exception as exc:  # the next batch stops waiting after ORDER_WAIT
                log.warning("drain.finish_turn_failed", stage=stage, error=str(exc))
        log.debug("drain.batch", stage=stage, slot=slot, count=len(ids), ms=round((time.perf_counter() - started) * 1000, 1))
        done += len(ids)
