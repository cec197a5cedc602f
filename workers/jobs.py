"""RQ job functions. They take primitives only (JSON serializer) and look rows up by id."""

from __future__ import annotations

import threading
import time

import structlog

from hub import assignment, redisconn
from hub.queues import DISPATCHED, HEARTBEAT
from hub.redisconn import patient
from hub.runtime import get_runtime
from workers import ingest, outbox, webhooks_out

log = structlog.get_logger("omnihub.jobs")

#: how long a drain waits for Redis to answer again (a Sentinel failover, a restart) before
#: it gives its job up; the client's own retries (hub.redisconn) come first
REDIS_WAIT = redisconn.REDIS_WAIT


def _patient(call, *args):
    """``call(*args)``, retried while Redis cannot be reached, for up to REDIS_WAIT seconds
    (``hub.redisconn.patient``): a drain that holds its slot keeps it through a failover
    instead of leaving it claimed (and its stage idle) until the slot's TTL. A call that ran
    but whose answer was lost can only pop ids that no batch gets: their rows stay pending
    and the sweeper schedules them again. The batch's own Redis calls (its turn, its claim
    order: ``hub.queues``) are retried the same way."""
    return patient(call, *args, event="drain.redis_unavailable", wait=REDIS_WAIT)


class _Heartbeat:
    """While a batch runs, a thread tells the batches after it that its worker is alive
    (``Queues.heartbeat``); when the worker is killed the beats stop and the next batch takes
    its ids over instead of waiting (``Queues.wait_turn``)."""

    def __init__(self, q, stage: str, seq: int) -> None:
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        if seq:
            self.thread = threading.Thread(target=self._run, args=(q, stage, seq), name="omnihub-batch-heartbeat", daemon=True)
            self.thread.start()

    def _run(self, q, stage: str, seq: int) -> None:
        while not self.done.wait(HEARTBEAT):
            try:
                q.heartbeat(stage, seq)
            except Exception as exc:  # Redis away: the next batch may take over (stores are idempotent)
                log.warning("drain.heartbeat_failed", stage=stage, error=f"{exc.__class__.__name__}: {exc}")

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(5)


def run_stage(rt, stage: str, ids: list[int], seq: int = 0) -> set[int]:
    """Process one batch; returns the teams whose queues got conversations (to assign once the
    batch has handed the turn to the next one: hub.assignment)."""
    if stage == "ingest":
        # Deliveries to the built-in inbox are recorded in the ingest transaction itself (no
        # network call, no second queue hop: end-to-end latency, benchmarks P5); result.push
        # holds the rest, for the push queue. Batches store in the order they left the
        # list (``seq``), so two workers never store one conversation out of order.
        wait = (lambda: rt.queues.wait_turn("ingest", seq)) if seq else None  # Turn: in order, ids taken over
        claim = ((lambda: rt.queues.wait_claim("ingest", seq)), (lambda: rt.queues.claimed("ingest", seq))) if seq else None
        result = ingest.process(rt, ids, push_local=True, wait_turn=wait, claim_turn=claim)
        _patient(rt.queues.schedule, "push", result.push)  # stored: the next stages must learn of it
        _patient(rt.queues.schedule, "send", result.send)
        return result.teams
    elif stage == "push":
        rt.queues.schedule("push", outbox.push(rt, ids))
    elif stage == "send":
        rt.queues.schedule("push", outbox.send(rt, ids))
    elif stage == "event":
        webhooks_out.deliver(rt, ids)
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return set()


def drain(stage: str, slot: int) -> int:
    """Process batches of scheduled ids for one stage until the list is empty."""
    rt = get_runtime()
    q = rt.queues
    done = 0
    if stage in DISPATCHED:  # a drain job queued before event webhooks had their dispatcher: the ids stay for it
        _patient(q.release_slot, stage, slot)
        return 0
    while True:
        seq, ids = _patient(q.pop_batch, stage, rt.settings.batch_size, slot)
        if not ids:
            _patient(q.release_slot, stage, slot)
            # Another producer may have pushed between our pop and the release.
            if _patient(q.redis.llen, q.pending_key(stage)) and _patient(q.claim_slot, stage, slot):
                continue
            return done
        started = time.perf_counter()
        teams: set[int] = set()
        beat = _Heartbeat(q, stage, seq)
        try:
            teams = run_stage(rt, stage, sorted(set(ids)), seq)
        except Exception:
            # Rows stay pending in SQL; the sweeper re-schedules them.
            log.exception("drain.batch_failed", stage=stage, count=len(ids))
        finally:
            beat.stop()
            try:
                _patient(q.finish_turn, stage, seq)
            except Exception as exc:  # the next batch stops waiting after ORDER_WAIT
                log.warning("drain.finish_turn_failed", stage=stage, error=str(exc))
        if teams:  # committed, and the next batch is storing already: assign (the poller's timer catches up on a failure)
            assignment.assign_teams(rt, teams)
        log.debug("drain.batch", stage=stage, slot=slot, count=len(ids), ms=round((time.perf_counter() - started) * 1000, 1))
        done += len(ids)
