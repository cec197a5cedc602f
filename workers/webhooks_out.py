"""The ``event`` stage: POST event webhooks to their subscribers (docs/event-webhooks.md).

Like a helpdesk push: each delivery is claimed under a lease in a short transaction, the POST
runs outside any transaction through the outbound URL guard (no private, loopback or
metadata address unless OMNIHUB_ALLOW_PRIVATE_URLS; no redirects followed), and the result
is recorded in another short transaction together with one row of the delivery log (status
code, latency, error). A 2xx answer delivers it; anything else is retried with the hub's
backoff (honouring Retry-After) and is dead after OMNIHUB_RETRY_MAX_ATTEMPTS attempts, or at
once when the URL is refused; dead deliveries are replayed from the API or the admin console.

Deliveries are NOT RQ jobs: ``schedule("event", ids)`` only appends the ids to the stage's
Redis list, and a ``Dispatcher`` (a few threads in every ``omnihub worker`` and ``omnihub
poll`` process, so once in ``omnihub run``) takes them from there. A slow or silent receiver
therefore never holds up ingest, pushes or replies (their RQ drain jobs never wait on an
event POST), and each POST has a strict timeout (OMNIHUB_EVENT_TIMEOUT_SECONDS). A
subscription has at most PER_SUBSCRIPTION POSTs in flight across every process: a claim
counts the subscription's live leases in SQL under a lock on its row (PostgreSQL) or the
write lock (SQLite). A delivery whose subscription is at its limit is left pending and due,
and the thread that frees a slot takes it next.

Every request is signed like the ``webhook`` helpdesk backend (``hub.signing``: a fresh
``X-Omnihub-Timestamp`` at each attempt and ``X-Omnihub-Signature: sha256=<HMAC of
"<timestamp>.<body>">``) and carries the event id (``X-Omnihub-Event-Id``, ``Idempotency-Key:
omnihub-event-<id>``), the same on every retry and replay, for the receiver to dedupe on.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import delete, exists, func, or_, select

from hub import signing
from hub.models import EventDelivery, EventDeliveryAttempt, EventSubscription, WebhookEvent, now
from hub.net import UrlRefused, guarded_client
from hub.redisconn import short_error
from hub.runtime import Runtime
from hub.states import DeliveryState
from workers.retry import exhausted, next_attempt

log = structlog.get_logger("omnihub.webhooks_out")

USER_AGENT = "omnihub-webhooks/1 (+https://github.com/omnihub)"
TIMEOUT = 10.0  # seconds one POST may take (the default of OMNIHUB_EVENT_TIMEOUT_SECONDS)
PARALLEL = 8  # POSTs at once per batch
#: POSTs at once to one subscription: a slow receiver holds at most this many of the PARALLEL
#: slots, the others keep serving the other subscriptions
PER_SUBSCRIPTION = 2
CHUNK = PARALLEL * 4  # deliveries claimed at once (at most 4 rounds of timeouts under one lease)
#: deliveries of one subscription claimed per chunk (4 rounds of its PER_SUBSCRIPTION slots:
#: the lease outlasts them even when each one times out); the rest wait for the next chunk
PER_SUBSCRIPTION_CLAIM = PER_SUBSCRIPTION * 4
#: bytes of a failed answer kept in the delivery log
ANSWER_LIMIT = 300
#: delivered deliveries (and their log) are kept this long; dead ones until replayed or removed
KEEP_DELIVERED = timedelta(days=30)
PRUNE_EVERY = 3600.0  # seconds between two prunes by one sweeper
_pruned_at: dict[int, float] = {}


@dataclass
class _Work:
    delivery_id: int
    attempt: int
    url: str
    secret: str
    event_id: int
    event_type: str
    body: bytes
    subscription_id: int = 0


@dataclass
class _Result:
    work: _Work
    status: int | None
    latency_ms: int
    error: str | None
    permanent: bool = False
    retry_after: float | None = None


def headers_for(work: _Work, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Omnihub-Event": work.event_type,
        "X-Omnihub-Event-Id": str(work.event_id),
        "X-Omnihub-Delivery": str(work.delivery_id),
        "X-Omnihub-Attempt": str(work.attempt),
        "Idempotency-Key": f"omnihub-event-{work.event_id}",
        **signing.sign(work.secret, work.body, timestamp),
    }


def _claim(rt: Runtime, ids: list[int], left: list[int] | None = None) -> list[_Work]:
    """Claim the pending deliveries among ``ids``, at most PER_SUBSCRIPTION_CLAIM of one
    subscription; the ids left unclaimed for that reason are appended to ``left``."""
    t = now()
    out: list[_Work] = []
    taken: Counter[int] = Counter()
    with rt.db.session() as s:
        rows = s.scalars(
            select(EventDelivery)
            .where(
                EventDelivery.id.in_(ids),
                EventDelivery.state == DeliveryState.PENDING,
                or_(EventDelivery.locked_until.is_(None), EventDelivery.locked_until < t),
            )
            .order_by(EventDelivery.id)
            .with_for_update(skip_locked=True)  # PostgreSQL: never claimed by two workers at once
        ).all()
        if not rows:
            return out
        subs = {x.id: x for x in s.scalars(select(EventSubscription).where(EventSubscription.id.in_({r.subscription_id for r in rows})))}
        events = {x.id: x for x in s.scalars(select(WebhookEvent).where(WebhookEvent.id.in_({r.event_id for r in rows})))}
        for d in rows:
            sub, ev = subs.get(d.subscription_id), events.get(d.event_id)
            if sub is None or ev is None:
                continue  # deleted with its subscription
            if not sub.enabled:
                d.state = DeliveryState.DEAD
                d.last_error = "not sent: the subscription is disabled (replay it once enabled)"
                d.locked_until = None
                continue
            if taken[sub.id] >= PER_SUBSCRIPTION_CLAIM:
                if left is not None:
                    left.append(d.id)
                continue
            taken[sub.id] += 1
            d.locked_until = t + timedelta(seconds=rt.settings.lease_seconds)
            body = json.dumps(ev.payload, separators=(",", ":"), ensure_ascii=False).encode()
            out.append(_Work(d.id, d.attempts + 1, sub.url, rt.box.open(sub.secret).decode(), ev.id, ev.type, body, sub.id))
    return out


def _post(client: httpx.Client, work: _Work, limit: float | None = None) -> _Result:
    """One POST. ``limit``: seconds it may take in all (the client's timeouts bound each
    connect, write and read; this bounds the answer's body too)."""
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        # streamed: only the start of an answer is read (a receiver cannot make a worker buffer a huge body)
        with client.stream("POST", work.url, content=work.body, headers=headers_for(work)) as resp:
            status, headers = resp.status_code, resp.headers
            answer = b""
            if not 200 <= status < 300 and not resp.is_redirect:
                for chunk in resp.iter_bytes():
                    answer += chunk
                    if len(answer) >= ANSWER_LIMIT or (limit is not None and time.perf_counter() - started > limit):
                        break
    except UrlRefused as exc:
        return _Result(work, None, took(), str(exc), permanent=True)
    except httpx.TimeoutException as exc:
        return _Result(work, None, took(), f"timed out ({exc.__class__.__name__})")
    except httpx.HTTPError as exc:
        return _Result(work, None, took(), f"{exc.__class__.__name__}: {exc}"[:500])
    ms = took()
    if 200 <= status < 300:
        return _Result(work, status, ms, None)
    retry_after = None
    raw = headers.get("Retry-After", "")
    if raw.isdigit():
        retry_after = min(float(raw), 3600.0)
    if 300 <= status < 400 and "Location" in headers:
        error = f"HTTP {status}: redirected to {headers['Location'].split('?', 1)[0][:200]} (redirects are not followed)"
    else:
        text = answer[:ANSWER_LIMIT].decode("utf-8", "replace").strip().replace("\n", " ")
        error = f"HTTP {status}" + (f": {text}" if text else "")
    return _Result(work, status, ms, error, retry_after=retry_after)


def deliver(rt: Runtime, ids: list[int]) -> None:
    """POST the deliveries and record each outcome (and its delivery-log row), a chunk at a
    time: each chunk is claimed just before it is sent, so its lease (OMNIHUB_LEASE_SECONDS)
    outlasts even a chunk of receivers that all time out."""
    left: list[int] = []
    for start in range(0, len(ids), CHUNK):
        _deliver(rt, ids[start : start + CHUNK], left)
    if left:  # over one subscription's share of a chunk: behind the others, in the stage's list again
        rt.queues.schedule("event", left)


def post_all(client: httpx.Client, work: list[_Work]) -> list[_Result]:
    """POST every delivery, PARALLEL at once but at most PER_SUBSCRIPTION at once to one
    subscription, taking the subscriptions in turn: a slow or dead receiver holds at most its
    own slots while the others' events keep flowing."""
    queues: dict[int, deque[_Work]] = {}
    for w in work:
        queues.setdefault(w.subscription_id, deque()).append(w)
    order = list(queues)  # round robin over the subscriptions
    inflight: Counter[int] = Counter()
    results: list[_Result] = []
    cond = threading.Condition()

    def take() -> _Work | None:
        with cond:
            while True:
                if not any(queues.values()):
                    return None
                for n, sub in enumerate(order):
                    if queues[sub] and inflight[sub] < PER_SUBSCRIPTION:
                        order.append(order.pop(n))  # this one goes to the back of the turn
                        inflight[sub] += 1
                        return queues[sub].popleft()
                cond.wait()

    def runner() -> None:
        while (w := take()) is not None:
            try:
                r = _post(client, w)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, retried
                r = _Result(w, None, 0, f"{exc.__class__.__name__}: {exc}"[:500])
            with cond:
                inflight[w.subscription_id] -= 1
                results.append(r)
                cond.notify_all()

    slots = min(PARALLEL, sum(min(len(q), PER_SUBSCRIPTION) for q in queues.values()))
    if slots <= 1:
        runner()
        return results
    threads = [threading.Thread(target=runner, name=f"event-webhook-{n}", daemon=True) for n in range(slots)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def _client(rt: Runtime, connections: int = PARALLEL) -> httpx.Client:
    limit = timeout_for(rt)
    return guarded_client("event webhook url", timeout=httpx.Timeout(limit, connect=min(limit, 5.0), pool=limit),
                          limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


def timeout_for(rt: Runtime) -> float:
    return float(getattr(rt.settings, "event_timeout_seconds", TIMEOUT))


def _deliver(rt: Runtime, ids: list[int], left: list[int] | None = None) -> None:
    work = _claim(rt, ids, left)
    if not work:
        return
    with _client(rt) as client:
        results = post_all(client, work)
    record(rt, results)


def record(rt: Runtime, results: list[_Result]) -> None:
    """Record outcomes (and their delivery-log rows) in one short transaction."""
    with rt.db.session() as s:
        rows = {d.id: d for d in s.scalars(select(EventDelivery).where(EventDelivery.id.in_([r.work.delivery_id for r in results])))}
        for r in results:
            d = rows.get(r.work.delivery_id)
            if d is None or d.state != DeliveryState.PENDING:
                continue
            d.attempts += 1
            d.locked_until = None
            d.last_status_code = r.status
            d.last_latency_ms = r.latency_ms
            s.add(EventDeliveryAttempt(delivery_id=d.id, attempt=d.attempts, status_code=r.status, latency_ms=r.latency_ms,
                                       error=r.error, ok=r.error is None))
            if r.error is None:
                d.state = DeliveryState.DELIVERED
                d.delivered_at = now()
                d.last_error = None
                continue
            d.last_error = r.error[:2000]
            if r.permanent or exhausted(rt.settings, d.attempts):
                d.state = DeliveryState.DEAD
            else:
                d.next_attempt_at = next_attempt(rt.settings, d.attempts, now(), r.retry_after)
            log.info("event_webhook.failed", delivery_id=d.id, event_id=r.work.event_id, state=d.state, error=d.last_error)



# ------------------------------------------------------------------ the dispatcher
def lease_for(rt: Runtime) -> timedelta:
    """A claim's lease: never shorter than a POST may take, so no second process claims a
    delivery still on its way (that would send it twice and break the per-subscription bound)."""
    return timedelta(seconds=max(float(rt.settings.lease_seconds), timeout_for(rt) + 5.0))


def claim_one(rt: Runtime, delivery_id: int) -> _Work | None:
    """Claim one pending delivery for a POST, or None: gone, delivered, leased by someone
    else, its subscription disabled (then dead), or its subscription already has
    PER_SUBSCRIPTION POSTs in flight in any process (then left pending and due now: the
    thread that frees a slot takes it next, see ``next_due``)."""
    t = now()
    with rt.db.session() as s:
        d = s.scalars(
            select(EventDelivery)
            .where(EventDelivery.id == delivery_id, EventDelivery.state == DeliveryState.PENDING,
                   or_(EventDelivery.locked_until.is_(None), EventDelivery.locked_until < t))
            .with_for_update(skip_locked=True)
        ).first()
        if d is None:
            return None
        # the subscription's row lock serializes claims for one subscription across processes
        # (PostgreSQL); on SQLite the write lock already does
        sub = s.scalars(select(EventSubscription).where(EventSubscription.id == d.subscription_id).with_for_update()).first()
        ev = s.get(WebhookEvent, d.event_id)
        if sub is None or ev is None:
            return None
        if not sub.enabled:
            d.state = DeliveryState.DEAD
            d.last_error = "not sent: the subscription is disabled (replay it once enabled)"
            d.locked_until = None
            return None
        in_flight = s.scalar(select(func.count()).select_from(EventDelivery).where(
            EventDelivery.subscription_id == sub.id, EventDelivery.state == DeliveryState.PENDING,
            EventDelivery.locked_until.is_not(None), EventDelivery.locked_until >= t)) or 0
        if in_flight >= PER_SUBSCRIPTION:
            if d.next_attempt_at is None or d.next_attempt_at > t:
                d.next_attempt_at = t
            return None
        d.locked_until = t + lease_for(rt)
        body = json.dumps(ev.payload, separators=(",", ":"), ensure_ascii=False).encode()
        return _Work(d.id, d.attempts + 1, sub.url, rt.box.open(sub.secret).decode(), ev.id, ev.type, body, sub.id)


def next_due(rt: Runtime, subscription_id: int) -> int | None:
    """The oldest delivery of a subscription that is due and not leased (one that waited for
    a free slot, or a retry whose time has come)."""
    t = now()
    with rt.db.read() as s:
        return s.scalar(
            select(EventDelivery.id)
            .where(EventDelivery.subscription_id == subscription_id, EventDelivery.state == DeliveryState.PENDING,
                   EventDelivery.next_attempt_at <= t,
                   or_(EventDelivery.locked_until.is_(None), EventDelivery.locked_until < t))
            .order_by(EventDelivery.id).limit(1))


class Dispatcher:
    """Event deliveries on their own threads, apart from the RQ worker's jobs.

    One feeder thread takes ids from the ``event`` stage's Redis list, only while one of the
    ``threads`` senders is free, and hands them over; a sender claims the delivery
    (``claim_one``), POSTs it with the strict timeout, records the outcome, and goes on with
    its subscription's next due delivery. Ids taken but not done when the process stops stay
    pending in SQL: the sweeper schedules them again."""

    BLOCK = 1.0  # seconds one BLPOP waits (how soon a stop is seen)

    def __init__(self, rt: Runtime, threads: int = PARALLEL) -> None:
        self.rt = rt
        self.threads = max(1, threads)
        self.stop = threading.Event()
        self._free = threading.Semaphore(self.threads)
        self._handed: queue.Queue[int] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._client: httpx.Client | None = None

    def start(self) -> Dispatcher:
        self._client = _client(self.rt, self.threads)
        self._workers = [threading.Thread(target=self._feed, name="event-feeder", daemon=True)]
        self._workers += [threading.Thread(target=self._send, name=f"event-sender-{n}", daemon=True) for n in range(self.threads)]
        for th in self._workers:
            th.start()
        return self

    def close(self, wait: float = 0.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + wait
        for th in self._workers:
            th.join(max(0.0, deadline - time.monotonic()))

    def _feed(self) -> None:
        from redis.exceptions import RedisError

        redis = self.rt.redis_client(socket_timeout=self.BLOCK + 10, health_check_interval=30)
        key = self.rt.queues.pending_key("event")
        delay = 0.25
        while not self.stop.is_set():
            if not self._free.acquire(timeout=self.BLOCK):
                continue
            try:
                got = redis.blpop([key], timeout=self.BLOCK)
            except RedisError as exc:  # a failover, a restart: the sweeper keeps the rows
                self._free.release()
                log.warning("event_dispatch.redis_unavailable", error=short_error(exc), retry_in=delay)
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.25
            if not got:
                self._free.release()
                continue
            self._handed.put(int(got[1]))
        redis.close()

    def _send(self) -> None:
        while not self.stop.is_set():
            try:
                delivery_id = self._handed.get(timeout=self.BLOCK)
            except queue.Empty:
                continue
            try:
                self.run_one(delivery_id)
            except Exception:  # noqa: BLE001 - the row stays pending: the sweeper schedules it again
                log.exception("event_dispatch.failed", delivery_id=delivery_id)
            finally:
                self._free.release()

    def run_one(self, delivery_id: int) -> None:
        """Send one delivery, then the subscription's next due ones while there are any."""
        assert self._client is not None
        limit = timeout_for(self.rt)
        next_id: int | None = delivery_id
        while next_id is not None and not self.stop.is_set():
            work = claim_one(self.rt, next_id)
            if work is None:
                return
            try:
                result = _post(self._client, work, limit)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt, retried
                result = _Result(work, None, 0, f"{exc.__class__.__name__}: {exc}"[:500])
            record(self.rt, [result])
            next_id = next_due(self.rt, work.subscription_id)


def start_dispatcher(rt: Runtime) -> Dispatcher | None:
    """The dispatcher of this process (``omnihub worker``, ``omnihub poll``); None when
    OMNIHUB_EVENT_DELIVERY_THREADS is 0."""
    threads = int(getattr(rt.settings, "event_delivery_threads", PARALLEL))
    if threads <= 0:
        return None
    return Dispatcher(rt, threads).start()


def prune(rt: Runtime, *, force: bool = False) -> int:
    """Forget delivered deliveries older than KEEP_DELIVERED with their log, and the events no
    delivery refers to any more (run by the sweeper, at most every PRUNE_EVERY seconds).
    Returns how many deliveries were removed."""
    t = time.monotonic()
    if not force and t - _pruned_at.get(id(rt), -PRUNE_EVERY) < PRUNE_EVERY:
        return 0
    _pruned_at[id(rt)] = t
    cutoff = now() - KEEP_DELIVERED
    with rt.db.session() as s:
        old = select(EventDelivery.id).where(EventDelivery.state == DeliveryState.DELIVERED, EventDelivery.delivered_at < cutoff)
        s.execute(delete(EventDeliveryAttempt).where(EventDeliveryAttempt.delivery_id.in_(old)))
        gone = s.execute(delete(EventDelivery).where(EventDelivery.state == DeliveryState.DELIVERED, EventDelivery.delivered_at < cutoff))
        s.execute(delete(WebhookEvent).where(WebhookEvent.created_at < cutoff,
                                             ~exists().where(EventDelivery.event_id == WebhookEvent.id)))
    return int(getattr(gone, "rowcount", 0) or 0)
