"""kill -9 workers repeatedly while N inbound messages flow -> each stored exactly once.

Default N = 1,000 (fast: posting and storing them is most of the test's time, and the kills
go on while they flow, at least 8 unless all are stored first); OMNIHUB_FULL_FAULTS=1
(`make faults-full`) runs the issue's 10,000.
"""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import func, select

from hub.models import Delivery, InboundEvent, Message
from tests.faults.support import SECRET, api_body, post, size
from tests.support.hub import wait_until

N = size(1000, 10_000)


def test_kill_9_workers_repeatedly_each_message_stored_exactly_once(make_hub):
    h = make_hub(sweep_after=1.0, lease_seconds=3.0, batch_size=50, sweep_interval=0.2)
    h.add_connector("web", "api", secret=SECRET)
    h.start_worker("w0")
    h.start_worker("w1")
    h.start_poller()
    errors: list = []
    posted = threading.Event()

    def produce():
        client = h.app.test_client()
        for i in range(N):
            resp = post(client, api_body(i, sender=f"c{i % 97}"))
            if resp.status_code != 200:
                errors.append((i, resp.status_code))
        posted.set()

    producer = threading.Thread(target=produce)
    producer.start()
    kills, rng, gen = 0, random.Random(7), 2
    deadline = time.monotonic() + (600 if N > 5000 else 240)
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.4, 1.0))
        victim = rng.choice([n for n in h.procs if n.startswith("w")])
        h.kill(victim)  # SIGKILL: no cleanup, leases and drain slots left behind
        kills += 1
        h.start_worker(f"w{gen}")
        gen += 1
        if posted.is_set() and (kills >= 8 or h.count(Message) >= N):
            break
    producer.join()
    assert not errors, errors[:5]
    wait_until(lambda: h.count(Message) >= N, timeout=180 if N > 5000 else 90, interval=0.5, message=f"{N} messages")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") >= N, timeout=120, interval=0.5, message="deliveries")
    h.wait_idle(timeout=60)  # nothing queued, running or leased: a duplicate in the making has landed
    with h.rt.db.read() as s:
        ids = list(s.scalars(select(Message.external_id)))
        dup_deliveries = s.scalar(select(func.count()).select_from(select(Delivery.message_id).group_by(Delivery.message_id).having(func.count() > 1).subquery()))
    assert len(ids) == N and set(ids) == {f"m{i}" for i in range(N)}, "each message stored exactly once"
    assert h.count(Delivery) == N and dup_deliveries == 0, "one delivery (push) per message"
    assert h.count(InboundEvent) == N and h.count(InboundEvent, InboundEvent.state != "processed") == 0
    assert kills >= 3
