"""The ``event`` stage: POST event webhooks to their subscribers (docs/event-webhooks.md).

Like a helpdesk push: each delivery is claimed under a lease in a short transaction, the POST
runs outside any transaction through the outbound URL guard (no private, loopback or
metadata address unless OMNIHUB_ALLOW_PRIVATE_URLS; no redirects followed), and the result
is recorded in another short transaction together with one row of the delivery log (status
code, latency, error). A 2xx answer delivers it; anything else is retried with the hub's
backoff (honouring Retry-After) and is dead after OMNIHUB_RETRY_MAX_ATTEMPTS attempts, or at
once when the URL is refused; dead deliveries are replayed from the API or the admin console.

Every request is signed like the ``webhook`` helpdesk backend (``hub.signing``: a fresh
``X-Omnihub-Timestamp`` at each attempt and ``X-Omnihub-Signature: sha256=<HMAC of
"<timestamp>.<body>">``) and carries the event id (``X-Omnihub-Event-Id``, ``Idempotency-Key:
omnihub-event-<id>``), the same on every retry and replay, for the receiver to dedupe on.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog
from sqlalchemy import delete, exists, or_, select

from hub import signing
from hub.models import EventDelivery, EventDeliveryAttempt, EventSubscription, WebhookEvent, now
from hub.net import UrlRefused, guarded_client
from hub.runtime import Runtime
from hub.states import DeliveryState
from workers.retry import exhausted, next_attempt

log = structlog.get_logger("omnihub.webhooks_out")

USER_AGENT = "omnihub-webhooks/1 (+https://github.com/omnihub)"
TIMEOUT = 10.0  # seconds one POST may take
PARALLEL = 8  # POSTs at once per batch
CHUNK = PARALLEL * 4  # deliveries claimed at once (at most 4 rounds of timeouts under one lease)
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


def _claim(rt: Runtime, ids: list[int]) -> list[_Work]:
    t = now()
    out: list[_Work] = []
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
            d.locked_until = t + timedelta(seconds=rt.settings.lease_seconds)
            body = json.dumps(ev.payload, separators=(",", ":"), ensure_ascii=False).encode()
            out.append(_Work(d.id, d.attempts + 1, sub.url, rt.box.open(sub.secret).decode(), ev.id, ev.type, body))
    return out


def _post(client: httpx.Client, work: _Work) -> _Result:
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
                    if len(answer) >= ANSWER_LIMIT:
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
    for start in range(0, len(ids), CHUNK):
        _deliver(rt, ids[start : start + CHUNK])


def _deliver(rt: Runtime, ids: list[int]) -> None:
    work = _claim(rt, ids)
    if not work:
        return
    # in parallel: one slow or dead receiver does not hold up the others' events for a whole batch
    with guarded_client("event webhook url", timeout=httpx.Timeout(TIMEOUT, connect=min(TIMEOUT, 5.0)),
                        limits=httpx.Limits(max_connections=PARALLEL)) as client:
        if len(work) == 1:
            results = [_post(client, work[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL, len(work)), thread_name_prefix="event-webhook") as pool:
                results = list(pool.map(lambda w: _post(client, w), work))
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
