"""The batched hot paths (benchmarks P1/P2/P5): group commit of webhook journal writes, one
Redis call to schedule, the SQLite write gate, batch lookups in ingest and the built-in
inbox pushed inside the ingest transaction. Real SQLite/PostgreSQL, real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from hub import journal
from hub.db import Database, WriteGate
from hub.models import (
    Connector,
    Contact,
    Conversation,
    Delivery,
    Identity,
    InboundEvent,
    Message,
)
from hub.queues import BEAT_GRACE, Turn
from hub.types import RawEvent
from tests.support.hub import Hub


@pytest.fixture
def rt(tmp_path, db_url, redis_url):
    h = Hub(tmp_path, redis_url, database_url=db_url)
    h.add_connector("web", "api", secret="s")
    yield h.rt
    h.close()


def _connector_id(rt, name: str = "web") -> int:
    with rt.db.read() as s:
        return s.scalar(select(Connector.id).where(Connector.name == name))


def _event(ext: str, sender: str = "alice", text: str = "hello") -> RawEvent:
    body = json.dumps({"id": ext, "from": {"id": sender}, "text": text}).encode()
    return RawEvent(external_id=ext, hook="messages", payload=body)


def _run_threads(target, args: list[tuple], timeout: float = 30) -> None:
    threads = [threading.Thread(target=target, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def _slow_first_insert(rt, seconds: float) -> None:
    """Hold the first journal INSERT so that every other thread queues behind its leader."""
    fired = threading.Event()

    def before(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO inbound_events") and not fired.is_set():
            fired.set()
            time.sleep(seconds)

    event.listen(rt.db.engine, "before_cursor_execute", before)


def test_intake_group_commits_concurrent_webhooks_exactly_once(rt):
    cid = _connector_id(rt)
    intake = journal.Intake(rt)
    commits = []
    event.listen(rt.db.engine, "commit", lambda conn: commits.append(1))
    _slow_first_insert(rt, 0.3)
    n = 16
    results: dict[int, list[int]] = {}
    start = threading.Barrier(n)

    def submit(i: int) -> None:
        # thread i and i + 8 share one event (a provider retry racing the original)
        events = [_event(f"own-{i}-{k}") for k in range(3)] + [_event(f"shared-{i % 8}")]
        start.wait()
        if i:
            time.sleep(0.05)  # thread 0 leads; the others arrive while it writes
        results[i] = intake.submit(cid, events)

    _run_threads(submit, [(i,) for i in range(n)])
    assert len(results) == n
    with rt.db.read() as s:
        rows = dict(s.execute(select(InboundEvent.id, InboundEvent.external_id)).all())
    assert len(rows) == n * 3 + 8  # every event once, each shared one once
    got = [i for ids in results.values() for i in ids]
    assert sorted(got) == sorted(rows)  # every new id went to exactly one request
    for i in range(8):  # the shared event's id went to one of its two requests
        owners = [j for j in (i, i + 8) if any(rows[x] == f"shared-{i}" for x in results[j])]
        assert len(owners) == 1
    # grouped: far fewer commits than requests (the first alone, the 15 others together)
    assert len(commits) <= 3, len(commits)
    # and scheduled: every id is on the ingest list, in one or two Redis calls; a shared
    # event's retry may add a second copy when it is answered before the original's group
    # scheduled it (Intake schedules a retried event that is still pending; harmless)
    pending = [int(x) for x in rt.queues.redis.lrange(rt.queues.pending_key("ingest"), 0, -1)]
    assert sorted(set(pending)) == sorted(rows)
    assert all(rows[i].startswith("shared-") for i in pending if pending.count(i) > 1)


def test_intake_database_error_reaches_every_request_of_the_group(tmp_path, redis_url):
    h = Hub(tmp_path, redis_url)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        intake = journal.Intake(h.rt)
        with h.rt.db.write() as conn:
            conn.exec_driver_sql("ALTER TABLE inbound_events RENAME TO inbound_events_gone")
        errors: list[BaseException] = []

        def submit(i: int) -> None:
            try:
                intake.submit(cid, [_event(f"e{i}")])
            except OperationalError as exc:
                errors.append(exc)

        _run_threads(submit, [(i,) for i in range(6)])
        assert len(errors) == 6  # nobody is told "stored" (the webhook answers 503)
        assert _pending(h.rt) == []
    finally:
        h.close()


def _pending(rt) -> list[bytes]:
    return rt.queues.redis.lrange(rt.queues.pending_key("ingest"), 0, -1)


def test_schedule_appends_in_order_and_claims_free_drain_slots_only(tmp_path, redis_url):
    h = Hub(tmp_path, redis_url)
    try:
        q = h.rt.queues
        inbound = q.by_name["inbound"]
        ids = list(range(1, 2501))  # three script calls (chunks of 1,000)
        q.schedule("ingest", ids)
        assert [int(x) for x in q.redis.lrange(q.pending_key("ingest"), 0, -1)] == ids
        slots = h.rt.settings.drain_slots
        assert inbound.count == slots  # one drain job per slot claimed, never more
        for n in range(slots):
            assert 0 < q.redis.ttl(q.slot_key("ingest", n)) <= q.slot_ttl
        q.schedule("ingest", [9999])  # every slot held by a drain: appended, no new job
        assert inbound.count == slots
        assert int(q.redis.lindex(q.pending_key("ingest"), -1)) == 9999
        q.release_slot("ingest", 0)
        q.schedule("ingest", [10000])
        assert inbound.count == slots + 1
        with pytest.raises(ValueError):
            q.schedule("nope", [1])
    finally:
        h.close()


def test_sqlite_write_gate_queues_writers_and_times_out_clearly(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(40):
                with db.write() as conn:
                    conn.exec_driver_sql(f"INSERT INTO t VALUES ({k * 1000 + i})")
        except BaseException as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    _run_threads(writer, [(k,) for k in range(6)], timeout=60)
    assert errors == []
    with db.read() as s:
        assert s.connection().exec_driver_sql("SELECT count(*) FROM t").scalar() == 240
    db.dispose()
    # another process holds the gate: a writer here waits, then fails naming the database
    lock = str(tmp_path / "g.db") + ".writelock"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import fcntl, os, time; fd = os.open({lock!r}, os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(5)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        gate = WriteGate(lock, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked.*g.db"):
            gate.acquire()
        assert 0.4 < time.monotonic() - started < 3
    finally:
        holder.kill()
        holder.wait()
    gate.acquire()  # free again once the other process is gone
    gate.release()


def test_one_batch_from_many_new_senders_threads_each_once(rt):
    """The batch lookups (identities, threads, stored ids) see what the batch itself wrote."""
    from workers import ingest

    cid = _connector_id(rt)
    events = [_event(f"m{i}", sender=f"cust{i % 5}", text=f"question number {i} about my withdrawal") for i in range(20)]
    events.append(_event("m3"))  # a duplicate inside the batch
    with rt.db.session() as s:
        ids = journal.record(s, rt.box, cid, events)
    result = ingest.process(rt, ids, push_local=True)
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 20
        assert s.scalar(select(func.count()).select_from(Identity)) == 5
        assert s.scalar(select(func.count()).select_from(Contact)) == 5
        convs = s.execute(select(Conversation.thread_key, func.count()).group_by(Conversation.thread_key)).all()
        assert len(convs) == 5 and all(n == 1 for _k, n in convs)
        # the built-in inbox was pushed inside the ingest transaction: nothing left to queue
        states = s.scalars(select(Delivery.state)).all()
        assert states == ["delivered"] * 20 and result.push == []
    # a second batch for the same senders joins their conversations
    with rt.db.session() as s:
        more = journal.record(s, rt.box, cid, [_event(f"n{i}", sender=f"cust{i}") for i in range(5)])
    ingest.process(rt, more, push_local=True)
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 5
        per_conv = s.execute(select(Message.conversation_id, func.count()).group_by(Message.conversation_id)).all()
        assert sorted(n for _c, n in per_conv) == [5] * 5


def _statements(rt) -> list[str]:
    seen: list[str] = []
    event.listen(rt.db.engine, "before_cursor_execute", lambda _c, _cur, statement, *_a: seen.append(statement))
    return seen


def test_a_batch_is_stored_without_a_savepoint_per_event(rt):
    """With no event subscription a batch is stored in its transaction without a savepoint
    per event (the only savepoint is the local push's), and a new customer's contact,
    identity and conversation are written in one flush, never read back."""
    from workers import ingest

    cid = _connector_id(rt)
    with rt.db.session() as s:
        ids = journal.record(s, rt.box, cid, [_event(f"s{i}", sender=f"new{i}") for i in range(10)])
    seen = _statements(rt)
    ingest.process(rt, ids, push_local=True)
    assert sum(st.startswith("SAVEPOINT") for st in seen) == 1
    assert not [st for st in seen if st.startswith("SELECT contacts") and "contacts.id = " in st]  # no contact read back one by one
    with rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 10
        assert s.scalar(select(func.count()).select_from(Contact)) == 10
        assert s.scalars(select(InboundEvent.state).distinct()).all() == ["processed"]
        assert s.scalars(select(Delivery.state).distinct()).all() == ["delivered"]


def test_an_event_that_fails_in_a_batch_fails_alone(rt):
    """An event whose storing raises rolls back the batch stored together; the batch is
    stored again one savepoint per event: the others are stored once, the failing one
    is left for a retry with the error, as before."""
    from workers import hooks, ingest

    def boom(ev):
        if ev.normalized.text == "boom":
            raise RuntimeError("hook failed")

    cid = _connector_id(rt)
    with rt.db.session() as s:
        ids = journal.record(s, rt.box, cid, [_event(f"f{i}", sender=f"cust{i % 3}", text="boom" if i == 4 else f"message {i}") for i in range(8)])
    seen = _statements(rt)
    hooks.AFTER_INGEST.append(boom)
    try:
        ingest.process(rt, ids, push_local=True)
    finally:
        hooks.AFTER_INGEST.remove(boom)
    assert sum(st.startswith("SAVEPOINT") for st in seen) == 8 + 1  # per event, then the local push
    with rt.db.read() as s:
        assert sorted(s.scalars(select(Message.external_id))) == sorted(f"f{i}" for i in range(8) if i != 4)
        assert s.scalar(select(func.count()).select_from(Contact)) == 3
        failed = s.scalar(select(InboundEvent).where(InboundEvent.external_id == "f4"))
        assert failed.state == "pending" and failed.attempts == 1 and "hook failed" in failed.error
        others = s.scalars(select(InboundEvent).where(InboundEvent.external_id != "f4")).all()
        assert {e.state for e in others} == {"processed"} and {e.attempts for e in others} == {0}
        assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")) == 7


def test_ingest_leaves_external_helpdesk_deliveries_to_the_push_queue(tmp_path, redis_url):
    from workers import ingest

    h = Hub(tmp_path, redis_url)
    try:
        h.add_connector("hd", "webhook", url="http://127.0.0.1:9/hook", secret="hd-secret")
        h.add_connector("web", "api", secret="s")  # default helpdesk: the built-in inbox
        h.add_connector("vip", "api", secret="s", helpdesk="hd")
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, _connector_id(h.rt, "web"), [_event("a1"), _event("a2")])
            ids += journal.record(s, h.rt.box, _connector_id(h.rt, "vip"), [_event("b1", sender="bob")])
        result = ingest.process(h.rt, ids, push_local=True)
        with h.rt.db.read() as s:
            rows = {m: (st, hd) for m, st, hd in s.execute(
                select(Message.external_id, Delivery.state, Connector.name)
                .join(Delivery, Delivery.message_id == Message.id).join(Connector, Connector.id == Delivery.helpdesk_id)
            )}
            external = s.scalar(select(Delivery.id).join(Connector, Connector.id == Delivery.helpdesk_id).where(Connector.name == "hd"))
        assert rows == {"a1": ("delivered", "inbox"), "a2": ("delivered", "inbox"), "b1": ("pending", "hd")}
        assert result.push == [external]  # not claimed: the push queue works it outside any transaction
    finally:
        h.close()


def test_postgres_claims_skip_rows_another_worker_is_claiming(make_hub, pg_url):
    """Two workers claiming at the same instant never take the same journal row (SELECT … FOR
    UPDATE, waited for) or delivery (… SKIP LOCKED); SQLite needs no clause: its writers are
    serialized."""
    from workers import ingest, outbox

    # lock_timeout: without SKIP LOCKED the claim would wait on the other session's lock;
    # the test then fails after 5 s instead of hanging
    sep = "&" if "?" in pg_url else "?"
    h = make_hub(database_url=f"{pg_url}{sep}options=-c%20lock_timeout%3D5000")
    h.add_connector("web", "api", secret="s")
    with h.rt.db.session() as s:
        ids = journal.record(s, h.rt.box, _connector_id(h.rt), [_event("a"), _event("b", sender="bob")])
    other = h.rt.db.Session()  # another worker, in the middle of its claim transaction
    try:
        mine = other.get_one(InboundEvent, ids[0], with_for_update=True)
        mine.locked_until = datetime.now(UTC) + timedelta(minutes=5)
        other.flush()
        # journal rows are waited for, not skipped (a skipped event would be stored after the
        # later messages of its conversation), then checked again: the other claimed it
        got: list = []
        claim = threading.Thread(target=lambda: got.extend(ingest._claim(h.rt, ids)))
        claim.start()
        claim.join(1.0)
        assert claim.is_alive()
        other.commit()
        claim.join(10)
        assert [c[0] for c in got] == [ids[1]]
    finally:
        other.rollback()
        other.close()
    assert ingest._claim(h.rt, ids) == []  # both leased by now
    with h.rt.db.session() as s:  # leases over: store both, leave the deliveries pending
        s.execute(InboundEvent.__table__.update().values(locked_until=None))
    result = ingest.process(h.rt, ids)
    assert len(result.push) == 2
    other = h.rt.db.Session()
    try:
        other.execute(select(Delivery.id).where(Delivery.id == result.push[1]).with_for_update())
        outbox.push(h.rt, result.push)
    finally:
        other.rollback()
        other.close()
    with h.rt.db.read() as s:
        states = dict(s.execute(select(Delivery.id, Delivery.state)).all())
    assert states == {result.push[0]: "delivered", result.push[1]: "pending"}
    outbox.push(h.rt, result.push)
    with h.rt.db.read() as s:
        assert set(s.scalars(select(Delivery.state))) == {"delivered"}


def test_batches_are_numbered_and_wait_for_the_one_before(tmp_path, redis_url):
    h = Hub(tmp_path, redis_url)
    try:
        q = h.rt.queues
        q.schedule("ingest", list(range(1, 8)))
        first = q.pop_batch("ingest", 3, 0)
        second = q.pop_batch("ingest", 3, 0)
        assert first == (first[0], [1, 2, 3]) and second == (first[0] + 1, [4, 5, 6])
        # the second waits while the first is running (its heartbeat), and goes as soon as it finishes
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(0.1):
                q.heartbeat("ingest", first[0])

        threading.Thread(target=beat, daemon=True).start()
        threading.Timer(BEAT_GRACE + 0.5, lambda: (stop.set(), q.finish_turn("ingest", first[0]))).start()
        started = time.monotonic()
        assert q.wait_turn("ingest", second[0]) == Turn(True, [])
        assert BEAT_GRACE + 0.4 < time.monotonic() - started < BEAT_GRACE + 3  # alive longer than its first grace
        # a batch whose predecessor's worker died (no heartbeat) is neither waited for nor
        # skipped: it gets the dead batch's ids, to store them first, and keeps them as its own
        third = q.pop_batch("ingest", 3, 0)
        q.redis.zadd(q._inflight_key("ingest"), {str(second[0]): 0})  # its beats stopped long ago
        started = time.monotonic()
        assert q.wait_turn("ingest", third[0]) == Turn(True, [4, 5, 6])
        assert time.monotonic() - started < 1
        assert q.redis.get(q._batch_prefix("ingest") + str(third[0])) == b"4,5,6,7"
        # and when that one dies too, the next takes both over
        q.schedule("ingest", [8])
        fourth = q.pop_batch("ingest", 3, 0)
        q.redis.zadd(q._inflight_key("ingest"), {str(third[0]): 0})
        assert q.wait_turn("ingest", fourth[0]) == Turn(True, [4, 5, 6, 7])
        # one whose predecessor is alive but outlives the timeout goes ahead, out of order
        q.schedule("ingest", [9])
        fifth = q.pop_batch("ingest", 3, 0)
        q.heartbeat("ingest", fourth[0])
        assert q.wait_turn("ingest", fifth[0], timeout=0.3) == Turn(False, [])
        assert q.pop_batch("ingest", 3, 0) == (0, [])  # empty: no number used
    finally:
        h.close()


def test_a_waiting_batch_is_waited_for_and_order_wait_counts_once_it_stores(tmp_path, redis_url, monkeypatch):
    """A chain of waiting batches does not time out all at once: the next batch counts
    ORDER_WAIT only from when the one before it got its turn (is storing)."""
    from hub import queues

    monkeypatch.setattr(queues, "ORDER_WAIT", 0.6)
    h = Hub(tmp_path, redis_url)
    try:
        q = h.rt.queues
        q.schedule("ingest", [1, 2])
        first, second = q.pop_batch("ingest", 1, 0), q.pop_batch("ingest", 1, 0)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(0.1):
                q.heartbeat("ingest", first[0])

        threading.Thread(target=beat, daemon=True).start()
        # the first is alive and still waiting for its own turn for 1.5 s (> ORDER_WAIT), then stores
        threading.Timer(1.5, q._storing, args=("ingest", first[0])).start()
        started = time.monotonic()
        assert q.wait_turn("ingest", second[0], timeout=10) == Turn(False, [])
        assert 1.5 + 0.5 < time.monotonic() - started < 1.5 + 2.5  # ORDER_WAIT after it began storing
        stop.set()
    finally:
        h.close()


def test_a_dead_workers_batch_is_stored_before_the_next_one(tmp_path, redis_url, pg_url):
    """Batch 1 was claimed by a worker that died (its rows leased, no heartbeat); batch 2,
    with later messages of the same conversation, stores batch 1's first, then its own."""
    from workers import ingest

    h = Hub(tmp_path, redis_url, database_url=pg_url, lease_seconds=600)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, cid, [_event(f"m{i}", text=f"part {i} of my question") for i in range(6)])
        q = h.rt.queues
        q.schedule("ingest", ids)
        seq1, batch1 = q.pop_batch("ingest", 3, 0)
        seq2, batch2 = q.pop_batch("ingest", 3, 1)
        ingest._claim(h.rt, batch1)  # the dead worker's claim: leased for 10 minutes
        assert ingest.prepare(h.rt, batch1) == []  # nobody else may claim them (lease)
        q.redis.zadd(q._inflight_key("ingest"), {str(seq1): 0})  # then it was killed: no heartbeat
        out = ingest.process(h.rt, batch2, push_local=True, wait_turn=lambda: q.wait_turn("ingest", seq2))
        with h.rt.db.read() as s:
            stored = [e for (e,) in s.execute(select(Message.external_id).order_by(Message.id))]
            delivered = [e for (e,) in s.execute(select(Message.external_id).join(Delivery, Delivery.message_id == Message.id).order_by(Delivery.id))]
        assert stored == delivered == [f"m{i}" for i in range(6)]
        assert len(out.push) + h.count(Delivery, Delivery.state == "delivered") == 6
    finally:
        h.close()


def test_a_deadlocked_batch_is_stored_again_in_place(tmp_path, redis_url, pg_url, monkeypatch):
    """A transient database error (here a real PostgreSQL deadlock error raised in the batch's
    transaction) runs the batch again before its turn ends, instead of leaving its events to
    the sweeper behind later batches."""
    from sqlalchemy import text

    from workers import ingest

    h = Hub(tmp_path, redis_url, database_url=pg_url)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, cid, [_event(f"m{i}", text=f"part {i}") for i in range(3)])
        real = ingest.store_messages
        calls = {"n": 0}

        def deadlocking(s, *args, **kw):
            calls["n"] += 1
            if calls["n"] == 2:  # the second message of the first run: PostgreSQL says 40P01
                s.execute(text("DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$"))
            return real(s, *args, **kw)

        monkeypatch.setattr(ingest, "store_messages", deadlocking)
        ingest.process(h.rt, ids)
        with h.rt.db.read() as s:
            stored = [e for (e,) in s.execute(select(Message.external_id).order_by(Message.id))]
            states = set(s.scalars(select(InboundEvent.state)))
        assert stored == ["m0", "m1", "m2"] and states == {"processed"}
        assert calls["n"] == 5  # 2 in the run that deadlocked, 3 in the one that stored
    finally:
        h.close()


def test_two_workers_store_one_conversation_in_arrival_order(tmp_path, redis_url):
    """Batch 2 finishes preparing first, but stores only after batch 1: the conversation's
    messages get ids (and so push order) in the order they arrived."""
    from workers import ingest

    h = Hub(tmp_path, redis_url)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, cid, [_event(f"m{i}", text=f"part {i} of my question") for i in range(6)])
        q = h.rt.queues
        q.schedule("ingest", ids)
        seq1, batch1 = q.pop_batch("ingest", 3, 0)
        seq2, batch2 = q.pop_batch("ingest", 3, 1)

        def worker(seq: int, batch: list[int], delay: float) -> None:
            def turn() -> bool:
                time.sleep(delay)  # a slow prepare (e.g. an attachment download) for batch 1
                return q.wait_turn("ingest", seq)  # batch 1 is alive (heartbeat) while it prepares

            try:
                ingest.process(h.rt, batch, push_local=True, wait_turn=turn)
            finally:
                q.finish_turn("ingest", seq)

        _run_threads(worker, [(seq1, batch1, 0.5), (seq2, batch2, 0.0)])
        with h.rt.db.read() as s:
            stored = [e for (e,) in s.execute(select(Message.external_id).order_by(Message.id))]
            delivered = [e for (e,) in s.execute(select(Message.external_id).join(Delivery, Delivery.message_id == Message.id).order_by(Delivery.id))]
        assert stored == [f"m{i}" for i in range(6)]
        assert delivered == stored
    finally:
        h.close()


def test_send_batch_costs_a_fixed_number_of_queries(tmp_path, redis_url, httpserver):
    """Claiming a batch of replies loads what it needs with one query per table, whatever its
    size; recording each reply right after its own call costs a few queries per reply."""
    from hub import signing
    from hub.models import Reply
    from tests.support.hub import wait_until
    from workers import outbox

    httpserver.expect_request("/cb", method="POST").respond_with_json({"ok": True})
    h = Hub(tmp_path, redis_url)
    try:
        h.add_connector("web", "api", secret="s", callback_url=httpserver.url_for("/cb"))
        h.start_worker()
        for i in range(10):
            body = json.dumps({"id": f"m{i}", "from": {"id": f"c{i}"}, "text": f"question {i}"}).encode()
            assert h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign("s", body)}).status_code == 200
        convs = wait_until(lambda: (lambda items: items if len(items) == 10 else None)(h.api("GET", "/api/v1/conversations").get_json()["items"]),
                           timeout=30, message="10 conversations")
        h.wait_idle()
        h.stop_all()  # the test sends in this process
        ids = []
        for c in convs:
            resp = h.api("POST", f"/api/v1/conversations/{c['id']}/replies", json={"text": f"answer to {c['id']}"})
            assert resp.status_code == 202
            ids.append(resp.get_json()["id"])
        selects: list[str] = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                selects.append(statement)

        event.listen(h.rt.db.engine, "before_cursor_execute", count)
        outbox.send(h.rt, ids[:2])
        small = len(selects)
        selects.clear()
        outbox.send(h.rt, ids[2:])
        large = len(selects)
        event.remove(h.rt.db.engine, "before_cursor_execute", count)
        assert h.count(Reply, Reply.state == "sent") == 10
        # the claim costs the same whatever the batch's size; each reply is then recorded on its
        # own, right after its call (its lease covers its own call only), at a fixed cost
        per_reply, rest = divmod(large - small, 6)
        assert rest == 0 and per_reply <= 5, f"a batch of 8 ran {large} SELECTs, a batch of 2 ran {small}"
        assert small - 2 * per_reply <= 10, (small, per_reply)
    finally:
        h.close()


def test_a_claim_waits_for_a_row_the_sweeper_holds_instead_of_skipping_it(tmp_path, redis_url, pg_url):
    """PostgreSQL: while the sweeper holds an event's row (its reschedule transaction), an
    ingest claim of the batch waits for it and claims it, instead of skipping it; a skipped
    event was stored later, after the later messages of its conversation."""
    from sqlalchemy import text

    from workers import ingest, sweeper

    h = Hub(tmp_path, redis_url, database_url=pg_url)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, cid, [_event(f"m{i}", text=f"part {i}") for i in range(3)])
            s.execute(text("UPDATE inbound_events SET next_attempt_at = now() - interval '1 minute'"))  # due for the sweeper
        holder = h.rt.db.engine.connect()
        tx = holder.begin()
        holder.execute(text("SELECT id FROM inbound_events WHERE id = :id FOR UPDATE"), {"id": ids[1]})  # as the sweeper does
        got: list = []
        claim = threading.Thread(target=lambda: got.extend(ingest._claim(h.rt, ids)))
        claim.start()
        claim.join(1.0)
        assert claim.is_alive()  # waiting for the row, not done without it
        # and the sweeper never waits for a worker: the rows held (by the claim and by the
        # holder) are left for its next tick, the free one is rescheduled at once
        started = time.monotonic()
        assert sweeper.sweep(h.rt)["ingest"] == 1
        assert time.monotonic() - started < 5
        tx.rollback()
        holder.close()
        claim.join(10)
        assert [event_id for event_id, *_ in got] == ids
    finally:
        h.close()


def test_batches_claim_in_the_order_they_left_the_list(tmp_path, redis_url):
    """A later batch holding the sweeper's second copy of an id waits for the batch before it
    to claim: the id is claimed (and stored) with its original batch, not after later messages."""
    from workers import ingest

    h = Hub(tmp_path, redis_url)
    try:
        h.add_connector("web", "api", secret="s")
        cid = _connector_id(h.rt)
        with h.rt.db.session() as s:
            ids = journal.record(s, h.rt.box, cid, [_event(f"m{i}", text=f"part {i}") for i in range(4)])
        q = h.rt.queues
        q.schedule("ingest", ids[:3])
        q.schedule("ingest", [ids[3], ids[1]])  # m1 again: the sweeper's copy
        seq1, batch1 = q.pop_batch("ingest", 3, 0)
        seq2, batch2 = q.pop_batch("ingest", 3, 1)
        assert batch2 == [ids[3], ids[1]]

        def turn(seq: int) -> tuple:
            return (lambda: q.wait_claim("ingest", seq)), (lambda: q.claimed("ingest", seq))

        later: list = []
        second = threading.Thread(target=lambda: later.extend(ingest.prepare(h.rt, batch2, claim_turn=turn(seq2))))
        second.start()
        second.join(0.5)
        assert second.is_alive()  # waits for batch 1 to claim
        first = ingest.prepare(h.rt, batch1, claim_turn=turn(seq1))
        second.join(10)
        assert [p.event_id for p in first] == ids[:3]
        assert [p.event_id for p in later] == [ids[3]]
    finally:
        h.close()


def test_the_sweeper_leaves_a_backlog_in_the_list_and_reschedules_only_lost_ids(rt):
    """A backlog older than OMNIHUB_SWEEP_AFTER is still in the stage's list: the sweeper
    must not put a second copy of each id at its end every tick (the list would grow by up
    to its limit per tick under a long backlog). Ids no longer in the list (Redis lost them)
    are scheduled again, and a list cut short mid-way loses only what it lost."""
    from sqlalchemy import update

    from workers import sweeper

    cid = _connector_id(rt)
    with rt.db.session() as s:
        ids = journal.record(s, rt.box, cid, [_event(f"b{i}", text=f"part {i}") for i in range(30)])
    q = rt.queues
    key = q.pending_key("ingest")
    rt.redis.delete(key)
    q.schedule("ingest", ids)  # no worker runs: the whole batch waits in the list

    def make_due() -> None:
        with rt.db.session() as s:
            s.execute(update(InboundEvent).where(InboundEvent.id.in_(ids)).values(next_attempt_at=datetime.now(UTC) - timedelta(minutes=1)))

    make_due()
    assert sweeper.sweep(rt)["ingest"] == 0
    assert [int(v) for v in rt.redis.lrange(key, 0, -1)] == ids  # no second copies
    # read in small chunks too: an id found in any chunk counts as waiting
    assert q.waiting("ingest", ids, chunk=7) == set(ids)
    # Redis lost the first 12 (a failover's partial loss): those, and only those, are scheduled again
    rt.redis.ltrim(key, 12, -1)
    make_due()
    assert sweeper.sweep(rt)["ingest"] == 12
    assert sorted(int(v) for v in rt.redis.lrange(key, 0, -1)) == sorted(ids)
    assert rt.redis.llen(key) == 30
    # the list lost entirely: everything due is scheduled again
    rt.redis.delete(key)
    make_due()
    assert sweeper.sweep(rt)["ingest"] == 30
    assert [int(v) for v in rt.redis.lrange(key, 0, -1)] == ids


def test_a_retried_request_schedules_its_event_when_the_first_host_died_before_scheduling_it(rt):
    """A host journals a webhook's events and dies (kill -9) between the commit and the Redis
    call; the provider retries on another host, whose request is a duplicate. The event must
    be scheduled then, before that retry is answered: left to the sweeper it was stored after
    the messages the provider sent next (tests/scale/test_three_hosts.py, out of order)."""
    cid = _connector_id(rt)
    key = rt.queues.pending_key("ingest")
    intake = journal.Intake(rt)
    with rt.db.session() as s:  # journaled and committed, never scheduled
        [first] = journal.record(s, rt.box, cid, [_event("r1", text="part 1")])
    rt.redis.delete(key)
    assert intake.submit(cid, [_event("r1", text="part 1")]) == []  # the retry: nothing new
    assert [int(v) for v in rt.redis.lrange(key, 0, -1)] == [first]
    # the same with a signature's replay key (a retry is then a duplicate of the whole request)
    rt.redis.delete(key)
    assert len(ids := intake.submit(cid, [_event("r2", text="part 2")], replay="digest-r2")) == 1
    rt.redis.delete(key)  # the first host's Redis call never happened
    assert intake.submit(cid, [_event("r2", text="part 2")], replay="digest-r2") == []
    assert [int(v) for v in rt.redis.lrange(key, 0, -1)] == ids
    # the retried event goes before the new ones of the same group
    rt.redis.delete(key)
    got = intake.submit(cid, [_event("r1", text="part 1"), _event("r3", text="part 3")])
    assert [int(v) for v in rt.redis.lrange(key, 0, -1)] == [first, *got]
    # an event a worker holds (leased) or has stored is not scheduled again
    from sqlalchemy import update

    with rt.db.session() as s:
        s.execute(update(InboundEvent).where(InboundEvent.id == first).values(locked_until=datetime.now(UTC) + timedelta(minutes=1)))
        s.execute(update(InboundEvent).where(InboundEvent.id == ids[0]).values(state="processed"))
    rt.redis.delete(key)
    assert intake.submit(cid, [_event("r1", text="part 1"), _event("r2", text="part 2")]) == []
    assert rt.redis.llen(key) == 0
