"""Queue names and batch scheduling on RQ.

Work is identified by SQL row ids. ``schedule(stage, ids)`` appends ids to a Redis list and
makes sure a drain job is queued for that stage; a drain job pops up to BATCH_SIZE ids at a
time and processes them as one batch, so RQ's per-job cost is paid once per batch instead of
once per message. Redis is only the transport: SQL holds the truth, and the sweeper
re-schedules anything still pending after a timeout (lost Redis, killed worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import NamedTuple

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from config.settings import Settings
from hub.jobguard import OmnihubJob
from hub.redisconn import patient

STAGES = {"ingest": "inbound", "push": "push", "send": "send", "event": "default"}
QUEUE_NAMES = ("inbound", "push", "send", "default")
#: stages whose ids are not drained by RQ jobs: event webhooks are POSTed by the dispatcher
#: threads of the worker and poller processes (workers.webhooks_out.Dispatcher), so a slow
#: receiver never holds a worker that ingest, pushes and replies wait for
DISPATCHED = frozenset({"event"})
DRAIN_TTL = 120  # upper bound of the seconds a drain slot stays claimed without progress
SCHEDULE_CHUNK = 1000  # ids per script call (Lua's unpack() has a stack limit)
WAITING_CHUNK = 10_000  # list entries per LRANGE when the sweeper looks for ids still waiting

# KEYS[1]: the stage's pending list; KEYS[2..]: its drain slots. ARGV[1]: slot TTL; ARGV[2..]: ids.
# Returns the slot claimed (0-based), or -1 when every slot is held by a running drain.
_PUSH_CLAIM = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], 1, 'NX', 'EX', ARGV[1]) then return i - 2 end
end
return -1
"""

# KEYS[1]: the stage's pending list; KEYS[2..]: its drain slots. ARGV[1]: slot TTL.
# Like _PUSH_CLAIM without ids: a slot for ids already waiting, when none is held.
_KICK = """
if redis.call('LLEN', KEYS[1]) == 0 then return -1 end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return -1 end
end
redis.call('SET', KEYS[2], 1, 'EX', ARGV[1])
return 0
"""

#: Seconds a batch waits for the one before it (``Queues.wait_turn``) while that one is alive,
#: at most (then it goes ahead rather than stall the stage); OMNIHUB_LEASE_SECONDS when longer.
ORDER_WAIT = 10.0
#: A running batch proves it is alive every HEARTBEAT seconds (``Queues.heartbeat``); one that
#: has not for BEAT_GRACE seconds is dead (its worker was killed) and the next batch takes its
#: ids over.
HEARTBEAT = 0.5
BEAT_GRACE = 3.0
#: seconds a batch's ids are kept for a takeover
BATCH_TTL = 600

# KEYS: pending list, batch counter, in-flight batches (sorted set: seq -> alive-until ms),
# drain slot. ARGV: count, alive-until (ms), slot TTL, batch ids key prefix, its TTL.
# Returns {seq, id, id, ...} or {}. The batch's ids are kept under <prefix><seq> so that the
# next batch can store them first if this one's worker dies (``Queues.wait_turn``).
_POP_BATCH = """
local ids = redis.call('LPOP', KEYS[1], ARGV[1])
if not ids then return {} end
redis.call('EXPIRE', KEYS[4], ARGV[3])
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], ARGV[2], seq)
redis.call('SET', ARGV[4] .. seq, table.concat(ids, ','), 'EX', ARGV[5])
table.insert(ids, 1, seq)
return ids
"""


class Turn(NamedTuple):
    """What ``Queues.wait_turn`` found: ``in_order`` when every earlier batch finished (or was
    taken over); ``taken``: the ids of earlier batches whose workers died, to store first."""

    in_order: bool
    taken: list[int]

    def __bool__(self) -> bool:
        return self.in_order


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def queue_name(settings: Settings, base: str) -> str:
    return base if settings.queue_prefix == "omnihub" else f"{settings.queue_prefix}.{base}"


class Queues:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = settings.queue_prefix
        self.by_name = {
            base: Queue(queue_name(settings, base), connection=redis, serializer=JSONSerializer, job_class=OmnihubJob)
            for base in QUEUE_NAMES
        }
        self._push_claim = redis.register_script(_PUSH_CLAIM)
        self._pop_batch = redis.register_script(_POP_BATCH)
        self._kick = redis.register_script(_KICK)

    def all(self) -> list[Queue]:
        return [self.by_name[n] for n in QUEUE_NAMES]

    @property
    def slot_ttl(self) -> int:
        """A drain slot is a lease like a row's: a worker killed mid-drain (kill -9) frees
        its slot after OMNIHUB_LEASE_SECONDS (capped at DRAIN_TTL), not a fixed 2 minutes."""
        return max(1, min(DRAIN_TTL, int(self.settings.lease_seconds)))

    def pending_key(self, stage: str) -> str:
        return f"{self.prefix}:pending:{stage}"

    def slot_key(self, stage: str, slot: int) -> str:
        return f"{self.prefix}:drain:{stage}:{slot}"

    def schedule(self, stage: str, ids: Iterable[int]) -> None:
        """Append ids for a stage and claim a free drain slot, in ONE round trip (a Lua
        script); only when a slot was free is a drain job enqueued. Under load every slot is
        held by a running drain, so a webhook costs a single Redis call (benchmarks P1)."""
        ids = list(ids)
        if not ids:
            return
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        if stage in DISPATCHED:  # no RQ job: the dispatcher threads take the ids from the list
            for start in range(0, len(ids), SCHEDULE_CHUNK):
                self.redis.rpush(self.pending_key(stage), *ids[start : start + SCHEDULE_CHUNK])
            return
        keys = [self.pending_key(stage)] + [self.slot_key(stage, n) for n in range(self.settings.drain_slots)]
        for start in range(0, len(ids), SCHEDULE_CHUNK):
            slot = int(self._push_claim(keys=keys, args=[self.slot_ttl, *ids[start : start + SCHEDULE_CHUNK]]))
            if slot >= 0:  # every claimed slot gets its drain job
                self._enqueue_drain(stage, slot)

    def kick(self, stage: str) -> bool:
        """Start a drain for ids waiting in a stage's list while no drain slot is held (the
        sweeper, every tick). That happens when the drain job was lost after its slot was
        claimed: a Redis failover discarded the job (or the slot expired after a worker was
        killed) and no new ids arrived since. True when a drain was enqueued."""
        if stage in DISPATCHED:
            return False
        keys = [self.pending_key(stage)] + [self.slot_key(stage, n) for n in range(self.settings.drain_slots)]
        if int(self._kick(keys=keys, args=[self.slot_ttl])) < 0:
            return False
        self._enqueue_drain(stage, 0)
        return True

    def claim_slot(self, stage: str, slot: int) -> bool:
        """Take a drain slot back (a drain that found more work just after releasing it)."""
        return bool(self.redis.set(self.slot_key(stage, slot), 1, nx=True, ex=self.slot_ttl))

    def _enqueue_drain(self, stage: str, slot: int) -> None:
        self.by_name[STAGES[stage]].enqueue(
            "workers.jobs.drain",
            stage,
            slot,
            job_timeout=3600,
            result_ttl=0,
            failure_ttl=86400,
            description=f"drain {stage} (slot {slot})",
        )

    def pop_batch(self, stage: str, count: int, slot: int) -> tuple[int, list[int]]:
        """Pop up to ``count`` ids and number the batch, in one call: (sequence, ids).

        The sequence orders the batches of a stage as they left the list; ``wait_turn`` and
        ``finish_turn`` let a batch store only after the one before it (ingest: two workers
        must not store one conversation's messages out of order). Also refreshes the slot."""
        alive_ms = int((time.time() + BEAT_GRACE) * 1000)
        got = self._pop_batch(
            keys=[self.pending_key(stage), self._seq_key(stage), self._inflight_key(stage), self.slot_key(stage, slot)],
            args=[count, alive_ms, self.slot_ttl, self._batch_prefix(stage), BATCH_TTL],
        )
        if not got:
            return 0, []
        return int(got[0]), [int(x) for x in got[1:]]

    def heartbeat(self, stage: str, seq: int) -> None:
        """Batch ``seq`` is still running (its worker calls this every HEARTBEAT seconds)."""
        self.redis.zadd(self._inflight_key(stage), {str(seq): int((time.time() + BEAT_GRACE) * 1000)}, xx=True)

    def wait_claim(self, stage: str, seq: int, timeout: float = ORDER_WAIT) -> bool:
        """Block until batch ``seq - 1`` has claimed its rows (or finished, or died), so that
        batches claim in the order they left the list. Otherwise a later batch holding a
        sweeper's second copy of an id could claim it first and store it after the later
        messages of its conversation. Claims are short; False after ``timeout``."""
        if seq <= 1:
            return True
        prev = seq - 1
        deadline = time.monotonic() + timeout
        while True:
            if self._patient("exists", self._claimed_key(stage, prev)):
                return True
            alive_until = self._patient("zscore", self._inflight_key(stage), prev)
            if alive_until is None or alive_until < time.time() * 1000:
                return True  # finished, or dead: its ids are taken over at wait_turn
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._patient("blpop", [self._claimed_key(stage, prev) + ":baton"], timeout=min(left, HEARTBEAT / 5))

    def claimed(self, stage: str, seq: int) -> None:
        """Batch ``seq`` holds its rows: the next batch may claim."""
        if seq < 1:
            return
        key = self._claimed_key(stage, seq)

        def send() -> None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(key, 1, ex=BATCH_TTL)
            pipe.rpush(key + ":baton", 1)
            pipe.expire(key + ":baton", 120)
            pipe.execute()

        patient(send, event="drain.redis_unavailable")

    def _patient(self, command: str, *args, **kwargs):
        """``self.redis.<command>(...)`` retried through a failover (``hub.redisconn.patient``,
        up to REDIS_WAIT seconds): a batch waiting for its turn must not fail, and leave its
        rows claimed, because the master changed under its blocking pop."""
        return patient(getattr(self.redis, command), *args, event="drain.redis_unavailable", **kwargs)

    def _claimed_key(self, stage: str, seq: int) -> str:
        return f"{self.prefix}:claimed:{stage}:{seq}"

    def wait_turn(self, stage: str, seq: int, timeout: float | None = None) -> Turn:
        """Block until every batch before ``seq`` of the stage has finished, so that two workers
        never store one conversation's messages out of order.

        A batch before it whose worker died (no heartbeat for BEAT_GRACE seconds: kill -9, a
        lost host) is not waited for and not skipped either: its ids are returned in
        ``Turn.taken``, for this batch to store first (their leases are the dead worker's), and
        kept as this batch's own, should it die too; then the batch before that one is waited
        for. A live batch before it is waited for until it finishes, but for at most ORDER_WAIT
        seconds once it is storing (it waits its own turn first, so a chain of waiting batches
        does not time out all at once) and at most ``timeout`` in all (default
        OMNIHUB_LEASE_SECONDS, after which its rows' leases are up anyway); then this batch
        goes ahead, and ``Turn.in_order`` is False."""
        taken: list[int] = []
        if seq <= 1:
            self._storing(stage, seq)
            return Turn(True, taken)
        limit = timeout if timeout is not None else max(ORDER_WAIT, self.settings.lease_seconds)
        started = time.monotonic()
        storing_since: float | None = None
        inflight = self._inflight_key(stage)
        prev = seq - 1
        while prev >= 1:
            alive_until = self._patient("zscore", inflight, prev)
            if alive_until is None:  # finished (or long forgotten): in order from here
                break
            if alive_until < time.time() * 1000:  # its worker died: store its ids first
                ids = self._patient("get", self._batch_prefix(stage) + str(prev))
                if ids:
                    taken = [int(x) for x in _text(ids).split(",") if x] + taken
                self._patient("zrem", inflight, prev)
                prev -= 1
                storing_since = None
                continue
            t = time.monotonic()
            if storing_since is None and self._patient("exists", self._storing_key(stage, prev)):
                storing_since = t
            if t - started >= limit or (storing_since is not None and t - storing_since >= min(ORDER_WAIT, limit)):
                self._keep(stage, seq, taken)
                self._storing(stage, seq)
                return Turn(False, taken)
            # a failover ends this pop (UNBLOCKED, READONLY, the old master gone): retried
            # on the new master, as every call of the batch's turn (``_patient``)
            self._patient("blpop", [self._baton_key(stage, prev)], timeout=HEARTBEAT / 2)
        self._keep(stage, seq, taken)
        self._storing(stage, seq)
        return Turn(True, taken)

    def _storing(self, stage: str, seq: int) -> None:
        """Batch ``seq`` has its turn (or went ahead): the one after it starts counting ORDER_WAIT."""
        if seq >= 1:
            self._patient("set", self._storing_key(stage, seq), 1, ex=BATCH_TTL)

    def _storing_key(self, stage: str, seq: int) -> str:
        return f"{self.prefix}:storing:{stage}:{seq}"

    def _keep(self, stage: str, seq: int, taken: list[int]) -> None:
        """Add the ids taken over to batch ``seq``'s own: a successor takes them from it if it dies too."""
        if not taken:
            return
        key = self._batch_prefix(stage) + str(seq)
        own = self._patient("get", key)
        ids = ",".join(str(i) for i in taken) + ("," + _text(own) if own else "")
        self._patient("set", key, ids, ex=BATCH_TTL)

    def finish_turn(self, stage: str, seq: int) -> None:
        """Batch ``seq`` is done (stored, or failed and left to the sweeper): the next may go."""
        if seq <= 0:
            return
        baton = self._baton_key(stage, seq)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(baton, 1)
        pipe.expire(baton, 120)
        pipe.zrem(self._inflight_key(stage), seq)
        pipe.zremrangebyscore(self._inflight_key(stage), 0, int(time.time() * 1000) - 120_000)
        pipe.delete(self._batch_prefix(stage) + str(seq), self._storing_key(stage, seq), self._claimed_key(stage, seq))
        pipe.execute()

    def _batch_prefix(self, stage: str) -> str:
        return f"{self.prefix}:batch:{stage}:"

    def _seq_key(self, stage: str) -> str:
        return f"{self.prefix}:batches:{stage}"

    def _inflight_key(self, stage: str) -> str:
        return f"{self.prefix}:inflight:{stage}"

    def _baton_key(self, stage: str, seq: int) -> str:
        return f"{self.prefix}:done:{stage}:{seq}"

    def waiting(self, stage: str, ids: Iterable[int], chunk: int = WAITING_CHUNK, most: int | None = None) -> set[int]:
        """Which of ``ids`` are still in the stage's list, waiting for a drain (the sweeper
        leaves those alone: a backlog older than OMNIHUB_SWEEP_AFTER is not a lost job, and
        scheduling its ids again would add a second copy of each to the list every tick).

        Reads the list in chunks (LRANGE), so Redis is never blocked by a long backlog, and
        stops as soon as every id was seen. An id popped between two chunks is missed, so
        it is scheduled again: a copy is harmless (the claim is leased), a lost id is not.
        ``most``: read at most that many entries (an id further down counts as not waiting)."""
        left = set(ids)
        found: set[int] = set()
        key = self.pending_key(stage)
        start = 0
        while left and (most is None or start < most):
            values = self.redis.lrange(key, start, start + chunk - 1)
            if not values:
                break
            seen = left.intersection(int(v) for v in values)
            found |= seen
            left -= seen
            if len(values) < chunk:
                break
            start += chunk
        return found

    def release_slot(self, stage: str, slot: int) -> None:
        self.redis.delete(self.slot_key(stage, slot))

    def backlog(self) -> dict[str, int]:
        pipe = self.redis.pipeline()
        for stage in STAGES:
            pipe.llen(self.pending_key(stage))
        for q in self.all():
            pipe.llen(q.key)
        values = pipe.execute()
        out = {f"pending_{s}": v for s, v in zip(STAGES, values, strict=False)}
        out.update({f"queue_{n}": v for n, v in zip(QUEUE_NAMES, values[len(STAGES):], strict=False)})
        return out
