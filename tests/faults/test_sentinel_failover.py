"""Redis Sentinel failover in the middle of a webhook load: nothing acknowledged is lost,
nothing is stored twice (issue #22, item 2).

A real Sentinel setup (tests/support/sentinel.py: redis-server master + replica, three
sentinels) and a real hub: `omnihub web` (gunicorn), two `omnihub worker` and an
`omnihub poll` (the sweeper), all configured with OMNIHUB_REDIS_SENTINELS only. Provider
threads post webhooks and retry what is not answered 200 (a 503, a dropped connection), as
providers do. Mid-load the master is switched, either with SENTINEL FAILOVER (planned: the
old master is demoted to a replica, writes it took in the switch are discarded) or by
kill -9 (the sentinels elect the replica after down-after-milliseconds; what the master had
not yet replicated is gone). Either way the journal (SQL) holds every acknowledged event and
the sweeper schedules what Redis lost.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from hub import leases, signing
from hub.embedded import free_port
from hub.models import Delivery, InboundEvent, Message
from tests.faults.support import SECRET, api_body, size
from tests.support.hub import Hub, wait_until
from tests.support.sentinel import MASTER, SENTINEL_PASSWORD

PRODUCERS = 3
BEFORE = size(150, 2000)  # messages stored before the switch (the pipeline is running)
AFTER = size(150, 2000)  # messages acknowledged, and stored, after every sentinel names the new master


class Providers:
    """PRODUCERS threads posting signed webhooks until stopped; a request not answered 200
    is sent again (same message id), like a provider's retry."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[str] = []
        self.retries = 0
        self.statuses: dict[str, int] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(PRODUCERS)]

    def _run(self, n: int) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                body = api_body(f"{n}-{i}", sender=f"c{n}-{i % 13}")
                while True:
                    try:
                        r = client.post(f"{self.url}/webhooks/web/messages", content=body,
                                        headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
                        status = str(r.status_code)
                    except httpx.HTTPError as exc:
                        status = exc.__class__.__name__
                    with self.lock:
                        self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == "200":
                        break
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.05)
                with self.lock:
                    self.acked.append(f"m{n}-{i}")
                i += 1

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> set[str]:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a provider thread is stuck"
        return set(self.acked)


@pytest.mark.parametrize("switch", ["sentinel-failover", "kill-9"])
def test_failover_mid_load_nothing_acknowledged_lost_nothing_stored_twice(sentinel_cluster, tmp_path, switch):
    cluster = sentinel_cluster
    port = free_port()
    h = Hub(tmp_path / "hub", cluster.url(db=2), redis_sentinels=cluster.addresses, redis_sentinel_master=MASTER,
            redis_sentinel_password=SENTINEL_PASSWORD, public_url=f"http://127.0.0.1:{port}", web_workers=1, web_threads=8,
            sweep_after=1.0, sweep_interval=0.2, lease_seconds=3.0, poll_lease_seconds=3.0, batch_size=50)
    try:
        h.add_connector("web", "api", secret=SECRET)
        h.start_worker("w0")
        h.start_worker("w1")
        h.start_poller()
        h.start("web", "web", "--host", "127.0.0.1", "--port", str(port))
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(url + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, interval=0.2, message="omnihub web ready (database and Redis through Sentinel)")
        providers = Providers(url)
        providers.start()
        wait_until(lambda: h.count(Message) >= BEFORE, timeout=60, interval=0.1, message=f"{BEFORE} messages stored before the switch")

        old, new = cluster.first_master, cluster.first_replica
        acked_at_switch = providers.count()
        if switch == "kill-9":
            cluster.kill(old)
        else:
            cluster.failover()
        cluster.wait_master(new, timeout=90)  # an election that splits is retried after 2 x failover-timeout
        acked_at_new = providers.count()
        wait_until(lambda: providers.count() >= acked_at_new + AFTER, timeout=60, interval=0.1,
                   message=f"{AFTER} webhooks acknowledged after the switch")
        stored_at_new = h.count(Message)
        wait_until(lambda: h.count(Message) >= stored_at_new + AFTER, timeout=60, interval=0.1,
                   message="messages stored through the new master")
        acked = providers.finish()

        wait_until(lambda: h.count(Message) >= len(acked), timeout=60, interval=0.2,
                   message=f"all {len(acked)} acknowledged messages stored")
        h.wait_idle(timeout=60, settle=1.5)  # a duplicate in the making would land here
        with h.rt.db.read() as s:
            ids = list(s.scalars(select(Message.external_id)))
            dup_deliveries = s.scalar(select(func.count()).select_from(
                select(Delivery.message_id).group_by(Delivery.message_id).having(func.count() > 1).subquery()))
        assert len(ids) == len(set(ids)), "a message stored twice"
        assert set(ids) == acked, f"lost: {sorted(acked - set(ids))[:5]}, never acknowledged: {sorted(set(ids) - acked)[:5]}"
        assert h.count(Delivery) == len(acked) and dup_deliveries == 0, "one delivery (push) per message"
        assert h.count(InboundEvent) == len(acked) and h.count(InboundEvent, InboundEvent.state != "processed") == 0
        assert acked_at_switch >= BEFORE - PRODUCERS and len(acked) >= acked_at_new + AFTER  # the switch was mid-load

        # every process followed the failover: alive, and talking to the new master
        assert all(p.poll() is None for p in h.procs.values()), {n: p.poll() for n, p in h.procs.items()}
        assert ready(), "web not ready after the failover"

        def sweeper_lease_on_new_master() -> list:
            with cluster.client(new, db=2) as c:
                return [x for x in leases.holders(c, h.settings.queue_prefix) if x["name"] == "sweeper"]

        wait_until(sweeper_lease_on_new_master, timeout=30, interval=0.2, message="the poller's sweeper lease on the new master")
        with cluster.client(new) as c:
            assert c.info("replication")["role"] == "master"
            assert c.info("keyspace").get("db2", {}).get("keys"), "the hub's keys are in OMNIHUB_REDIS_URL's database (2)"
    finally:
        h.close()
