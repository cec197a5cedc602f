"""A drain through a Redis Sentinel failover: the batch waiting for its turn (``Queues.wait_turn``,
a blocking pop) keeps waiting on the new master instead of failing, and a batch that fails
anyway gives its rows' claims back, so the sweeper schedules them after OMNIHUB_SWEEP_AFTER
rather than after OMNIHUB_LEASE_SECONDS."""

from __future__ import annotations

import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from hub.embedded import free_port
from hub.models import InboundEvent, Message
from hub.runtime import set_runtime
from tests.faults.support import SECRET, api_body, post
from tests.support.hub import Hub, wait_until
from tests.support.sentinel import MASTER, SENTINEL_PASSWORD


def _event(h: Hub) -> InboundEvent:
    with h.rt.db.read() as s:
        return s.scalars(select(InboundEvent)).one()


def test_a_failed_batch_releases_its_claims_for_the_sweeper(make_hub):
    from workers import ingest, sweeper

    h = make_hub(lease_seconds=120.0, sweep_after=1.0)
    h.add_connector("web", "api", secret=SECRET)
    assert post(h.client, api_body(1)).status_code == 200
    event_id = _event(h).id
    _seq, popped = h.rt.queues.pop_batch("ingest", 10, 0)  # as a drain does: the id leaves the list
    assert popped == [event_id]
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)  # nothing listens: refused, for real

    started = time.monotonic()
    try:
        ingest.process(h.rt, [event_id], push_local=True, wait_turn=dead.ping)
        raise AssertionError("the batch should have failed")
    except RedisConnectionError:
        pass
    row = _event(h)
    assert row.state == "pending" and row.locked_until is None  # claimed, then given back

    # the sweeper takes it again once due (OMNIHUB_SWEEP_AFTER after it arrived), not after the 120 s lease
    wait_until(lambda: sweeper.sweep(h.rt)["ingest"] == 1, timeout=30, interval=0.1, message="the sweeper to schedule the event")
    assert time.monotonic() - started < 30
    ingest.process(h.rt, [event_id], push_local=True)
    assert h.count(Message) == 1


def test_a_claim_written_since_by_another_batch_is_not_released(make_hub):
    from workers import ingest

    h = make_hub(lease_seconds=120.0)
    h.add_connector("web", "api", secret=SECRET)
    assert post(h.client, api_body(1)).status_code == 200
    event_id = _event(h).id
    claims: ingest.Claims = []
    ingest._claim(h.rt, [event_id], claims=claims)
    assert claims and claims[0][0] == [event_id]
    ingest._claim(h.rt, [event_id], takeover=True)  # another batch's lease since (a takeover)
    assert ingest.release(h.rt, claims) == 0
    assert _event(h).locked_until is not None


def test_a_drain_waiting_for_its_turn_survives_a_sentinel_failover(sentinel_cluster, tmp_path):
    """Batch 2 waits in wait_turn (a blocking pop) for batch 1, held alive by this test, when
    SENTINEL FAILOVER switches the master: it goes on waiting on the new master and stores
    its message as soon as batch 1 finishes, well within the lease."""
    from workers import jobs

    cluster = sentinel_cluster
    h = Hub(tmp_path / "hub", cluster.url(db=3), redis_sentinels=cluster.addresses, redis_sentinel_master=MASTER,
            redis_sentinel_password=SENTINEL_PASSWORD, lease_seconds=120.0, sweep_after=60.0, drain_slots=1)
    set_runtime(h.rt)
    try:
        h.add_connector("web", "api", secret=SECRET)
        q = h.rt.queues
        q.schedule("ingest", [999_999_999])  # batch 1: an id with no row, held by this test
        seq1, _ = q.pop_batch("ingest", 1, 0)
        q.claimed("ingest", seq1)
        alive = threading.Event()

        def beat() -> None:  # batch 1's worker is alive (as _Heartbeat), through the failover too
            while not alive.wait(0.3):
                try:
                    q.heartbeat("ingest", seq1)
                except Exception:  # noqa: BLE001 - the switch; the next beat reaches the new master
                    pass

        beater = threading.Thread(target=beat, daemon=True)
        beater.start()
        assert post(h.client, api_body(1)).status_code == 200  # batch 2
        failed: list[BaseException] = []

        def run() -> None:
            try:
                jobs.drain("ingest", 0)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failed.append(exc)

        drain = threading.Thread(target=run, daemon=True)
        drain.start()
        # batch 2 has claimed its row and waits for batch 1
        wait_until(lambda: q.redis.exists(q._claimed_key("ingest", seq1 + 1)), timeout=30, interval=0.05,
                   message="batch 2 to claim its row and wait for its turn")
        row = _event(h)
        assert row.locked_until is not None and h.count(Message) == 0

        cluster.failover()
        cluster.wait_master(cluster.first_replica, timeout=90)
        assert drain.is_alive(), f"the drain ended during the failover: {failed}"
        assert h.count(Message) == 0  # still waiting for batch 1
        switched = time.monotonic()
        alive.set()
        beater.join(5)
        jobs._patient(q.finish_turn, "ingest", seq1)  # batch 1 done: batch 2's turn
        wait_until(lambda: h.count(Message) == 1, timeout=30, interval=0.05, message="the message stored after the failover")
        assert time.monotonic() - switched < 30 < h.settings.lease_seconds
        drain.join(30)
        assert not failed and not drain.is_alive()
        assert _event(h).state == "processed"
    finally:
        set_runtime(None)
        h.close()
