"""The poller process: adapters' long-running inbound loops, the sweeper, periodic timers."""

from __future__ import annotations

import random
import signal
import threading
import time
from typing import Any

import structlog
from redis import exceptions as redis_exc
from redis.exceptions import RedisError
from sqlalchemy import select

from hub import health, journal, leases
from hub.connectors import ConnectorService, adapter_class
from hub.errors import AuthError
from hub.models import Connector
from hub.redisconn import short_error
from hub.runtime import Runtime
from hub.types import RawEvent
from workers import hooks
from workers.sweeper import sweep

log = structlog.get_logger("omnihub.poller")

#: Redis unreachable or read-only (a failover): logged as one short line, not a traceback
_REDIS_DOWN = (redis_exc.ConnectionError, redis_exc.TimeoutError, redis_exc.ReadOnlyError, ConnectionError, TimeoutError)


class Sink:
    """Journals events for one connector and schedules them (PollSink)."""

    def __init__(self, rt: Runtime, connector_id: int, stop: threading.Event | None = None) -> None:
        self.rt = rt
        self.connector_id = connector_id
        self.stop = stop  # a poll told to stop no longer speaks for the connector's health

    def record(self, events: list[RawEvent]) -> list[int]:
        with self.rt.db.session() as s:
            ids = journal.record(s, self.rt.box, self.connector_id, events, sweep_after=self.rt.settings.sweep_after)
        self.rt.queues.schedule("ingest", ids)
        return ids

    def health(self, error: str | None, *, auth: bool = False) -> None:
        """A poll session worked (``error`` None) or failed (``auth``: credentials refused)."""
        if self.stop is not None and self.stop.is_set():
            return  # whoever stopped the poll says why (Poller.stop_notes)
        if error is None:
            health.note_ok(self.rt, self.connector_id)
        else:
            health.note_failure(self.rt, self.connector_id, error, auth=auth)


#: lease names: one per polling connector, one per periodic job
POLL = "poll:"
SWEEPER = "sweeper"
CONNECTOR_HEALTH = "connector-health"
#: retention policies and the helpdesk ticket removals of erasures (hub.retention, hub.erasure)
RETENTION = "retention"
#: how often queued ticket removals are looked at (s)
REMOVALS_EVERY = 10.0
TIMER = "timer:"
#: how a poller's own note on a connector it had to stop begins (cleared when a poller owns it again)
STOPPED_NOTE = "poll stopped: this poller cannot reach its lease store"


class Poller:
    """Runs the polls and periodic jobs whose lease it holds (``hub.leases``).

    A lease thread renews the held leases every quarter of OMNIHUB_POLL_LEASE_SECONDS, takes
    free ones up to this poller's share (ceil(leases / live pollers)), gives back what is over
    its share while others are alive, and starts or stops a poll thread per connector lease.
    A lease it fails to renew is stopped at once; when Redis cannot be reached at all, every
    poll and job stops (fail closed: nothing runs that this poller cannot prove it owns).
    The main thread runs the sweeper, the connector-health sweep and hooks.PERIODIC timers,
    each only while holding its lease. Poll threads resume from the connector's cursor (IMAP
    UID, X since_id, ...) kept in the database, so a takeover leaves no gap; the journal's
    unique provider ids keep a message polled twice from being stored twice.
    """

    def __init__(self, rt: Runtime, *, sweep_enabled: bool = True, owner: str | None = None) -> None:
        self.rt = rt
        self.stop = threading.Event()
        self.svc = ConnectorService(rt)
        self.threads: dict[str, tuple[float, threading.Thread, threading.Event]] = {}
        self.stopping: dict[str, threading.Thread] = {}
        #: why a poll was stopped, written on its connector by the poll thread as its last word
        #: (a write it had in flight when told to stop must not bury the note)
        self.stop_notes: dict[threading.Event, tuple[int, str]] = {}
        self.sweep_enabled = sweep_enabled
        self.ttl = rt.settings.poll_lease_seconds
        self.owner = owner or leases.owner_id()
        self.leases = leases.Leases(leases.client(rt.redis_url, self.ttl, rt.settings), rt.settings.queue_prefix, self.owner, self.ttl)
        self.held: frozenset[str] = frozenset()  # rebound, never mutated: the main thread reads it
        self.shedding: set[str] = set()  # held, to be given back once their poll thread ended
        self.wanted: dict[str, tuple[int, float]] = {}  # polling connector -> (id, config stamp)
        self.lease_error: str | None = None
        self.renewed_at = 0.0  # monotonic start of the last renewal that answered

    # ---- poll threads ----------------------------------------------------------------
    def _run_adapter(self, name: str, stamp: float, stop: threading.Event) -> None:
        try:
            self._poll_until_stopped(name, stop)
        finally:
            note = self.stop_notes.pop(stop, None)
            if note is not None:
                try:
                    health.note_failure(self.rt, note[0], note[1], auth=False)
                except Exception:
                    log.exception("poller.health_note_failed", connector=name)

    def _poll_until_stopped(self, name: str, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set() and not self.stop.is_set():
            row = None
            try:
                with self.rt.db.read() as s:
                    row = s.scalar(select(Connector).where(Connector.name == name))
                if row is None:
                    return
                adapter = self.svc.adapter(row)
                log.info("poll.start", connector=name, owner=self.owner)
                if not stop.is_set():
                    health.clear_failure(self.rt, row.id, STOPPED_NOTE)  # this poll runs again
                adapter.poll(Sink(self.rt, row.id, stop), stop)
                backoff = 1.0
            except Exception as exc:
                log.exception("poll.crashed", connector=name)
                if row is not None and not stop.is_set():
                    health.note_failure(self.rt, row.id, f"poll: {exc}", auth=isinstance(exc, AuthError))
                stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def _wanted_polls(self) -> dict[str, tuple[int, float]]:
        with self.rt.db.read() as s:
            rows = s.scalars(select(Connector).where(Connector.enabled.is_(True))).all()
        wanted: dict[str, tuple[int, float]] = {}
        for row in rows:
            try:
                if not getattr(adapter_class(row.kind), "polls", False):
                    continue
                adapter = self.svc.adapter(row)  # the instance knows (e.g. Slack polls only with an app token)
            except Exception as exc:
                log.warning("poll.unavailable", connector=row.name, error=str(exc))
                continue
            if getattr(adapter, "polls", False):
                wanted[row.name] = (row.id, row.updated_at.timestamp() if row.updated_at else 0.0)
        return wanted

    def job_names(self) -> list[str]:
        names = [SWEEPER] if self.sweep_enabled else []
        return [*names, CONNECTOR_HEALTH, RETENTION, *(TIMER + name for name, _interval, _fn in hooks.PERIODIC)]

    def _stop_thread(self, name: str, note: str | None = None) -> None:
        _stamp, thread, stop = self.threads.pop(name)
        if note is not None and name in self.wanted:
            self.stop_notes[stop] = (self.wanted[name][0], note)
        stop.set()
        self.stopping[name] = thread

    def _sync_threads(self) -> None:
        """Start a poll thread for each held connector lease; stop the others (without
        waiting: a thread that takes long to end must not delay the renewals)."""
        for name, thread in list(self.stopping.items()):
            if not thread.is_alive():
                del self.stopping[name]
        for name, (stamp, thread, _stop) in list(self.threads.items()):
            lease = POLL + name
            if lease not in self.held or lease in self.shedding or name not in self.wanted \
                    or self.wanted[name][1] != stamp or not thread.is_alive():
                self._stop_thread(name)
        for name, (_cid, stamp) in self.wanted.items():
            lease = POLL + name
            if lease in self.held and lease not in self.shedding and name not in self.threads and name not in self.stopping:
                stop = threading.Event()
                t = threading.Thread(target=self._run_adapter, args=(name, stamp, stop), name=f"poll-{name}", daemon=True)
                self.threads[name] = (stamp, t, stop)
                t.start()
        # give back what is being shed once its poll thread has ended (no two owners at once)
        done = {n for n in self.shedding if not (n.startswith(POLL) and n[len(POLL):] in {*self.threads, *self.stopping})}
        if done:
            self.leases.release(done)
            for n in sorted(done):
                log.info("lease.released", lease=n, owner=self.owner)
            self.held = self.held - done
            self.shedding -= done

    def _fail_closed(self, exc: Exception) -> None:
        """Redis cannot be reached: this poller cannot prove it owns anything. Stop it all."""
        error = short_error(exc)  # one line: not the ~1 KB of sentinel reprs of a MasterNotFoundError
        held, self.held, self.shedding = self.held, frozenset(), set()
        note = f"{STOPPED_NOTE} (Redis): {error}"
        for name in list(self.threads):  # the poll thread says it as its last word (Poller.stop_notes)
            self._stop_thread(name, note if POLL + name in held else None)
        if self.lease_error is None:
            log.error("poller.lease_store_unavailable", error=error, owner=self.owner, stopped=sorted(held),
                      detail="polls and timers stay stopped until Redis answers again")
            for name in held:  # and said at once on the connector
                if name.startswith(POLL) and name[len(POLL):] in self.wanted:
                    try:
                        health.note_failure(self.rt, self.wanted[name[len(POLL):]][0], note, auth=False)
                    except Exception:
                        log.exception("poller.health_note_failed")
        self.lease_error = error

    def refresh(self) -> None:
        """Re-read which connectors poll (the database); kept apart from the lease thread so
        that a slow database never delays a renewal."""
        try:
            self.wanted = self._wanted_polls()
        except Exception:  # the database is down: keep the last known list
            log.exception("poll.reconcile_failed")

    def reconcile(self, *, refresh: bool = True) -> None:
        """One lease tick: renew, heartbeat, shed, acquire, then start/stop poll threads.
        Only Redis calls here (``refresh=False``): the database is read by ``refresh``."""
        if refresh:
            self.refresh()
        names = [POLL + n for n in self.wanted] + self.job_names()
        try:
            asked = time.monotonic()
            kept = self.leases.renew(sorted(self.held))
            self.renewed_at = asked
            for n in sorted(self.held - kept):
                log.warning("lease.lost", lease=n, owner=self.owner)
            self.held = frozenset(kept)
            self.shedding &= kept
            self._sync_threads()  # a lost poll stops now, before anything else
            live = self.leases.heartbeat()
            if self.lease_error is not None:
                log.info("poller.lease_store_back", owner=self.owner)
                self.lease_error = None
            unwanted = self.held - set(names)
            share = -(-len(names) // max(1, len(live)))
            excess = len(self.held - unwanted - self.shedding) - share
            if excess > 0 and len(live) > 1:  # others are alive: give them the work over our share
                self.shedding |= set(sorted(self.held - unwanted - self.shedding, reverse=True)[:excess])
            self.shedding |= unwanted
            room = share - len(self.held - self.shedding)
            if room > 0:
                # not a connector whose old poll thread here is still ending
                free = [n for n in names if n not in self.held and not (n.startswith(POLL) and n[len(POLL):] in self.stopping)]
                random.shuffle(free)
                got = self.leases.acquire(free, room)
                for n in sorted(got):
                    log.info("lease.acquired", lease=n, owner=self.owner)
                self.held = self.held | got
            self._sync_threads()
        except RedisError as exc:
            self._fail_closed(exc)

    def _lease_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.reconcile(refresh=False)
            except _REDIS_DOWN as exc:  # the store is away: one short line, the lease loop says when it is back
                log.error("poller.lease_tick_failed", error=short_error(exc))
            except Exception:
                log.exception("poller.lease_tick_failed")
            self.stop.wait(self.ttl * leases.TICK)

    def _shutdown(self) -> None:
        for name in list(self.threads):
            self._stop_thread(name)
        for thread in self.stopping.values():
            thread.join(timeout=10)
        try:  # hand the work over now rather than after the lease time
            self.leases.release(self.held)
            self.leases.leave()
        except RedisError as exc:
            log.warning("poller.stopped", owner=self.owner, leases_released=False, error=short_error(exc),
                        note="Redis did not answer: the leases end by themselves after OMNIHUB_POLL_LEASE_SECONDS")
        else:
            log.info("poller.stopped", owner=self.owner, leases_released=sorted(self.held))
        self.held = frozenset()

    def _retention(self, t: float, last: dict[str, float]) -> None:
        """Under the ``retention`` lease: queued helpdesk ticket removals every few seconds,
        the retention policies every OMNIHUB_RETENTION_INTERVAL (the first run at once)."""
        from hub import erasure, retention

        if t - last.get("removals", -REMOVALS_EVERY) >= REMOVALS_EVERY:
            last["removals"] = t
            erasure.process_removals(self.rt)
        if RETENTION not in last or t - last[RETENTION] >= self.rt.settings.retention_interval:
            last[RETENTION] = t
            try:
                retention.run_all(self.rt, actor="poller", keep_going=lambda: RETENTION in self.held and not self.stop.is_set())
            except retention.Stopped:
                log.warning("retention.interrupted", owner=self.owner, detail="lease lost or stopping; the next run goes on")

    def _wait_for_schema(self) -> bool:
        """Wait until the database has this code's schema (processes may start before the
        migration Job: docs/deployment.md): one warning naming the fix, then a check every
        SCHEMA_BACKOFF seconds (doubling, capped), silent until the schema is there (a
        migration under way moves the revision on: not news). False when asked to stop meanwhile."""
        from sqlalchemy.engine import make_url

        from hub.migrate import FIX, schema_state

        delay, warned = SCHEMA_BACKOFF[0], False
        while not self.stop.is_set():
            state = schema_state(self.rt.db)
            if state.migrated:
                if warned:
                    log.info("poller.database_migrated", revision=state.revision)
                return True
            if not warned:
                warned = True
                url = make_url(self.rt.settings.effective_database_url).render_as_string(hide_password=True)  # not hub.bootstrap's: workers sit below the shell
                log.warning("poller.database_not_migrated", database=url, revision=state.revision,
                            expected=state.expected_revision, fix=FIX, note="waiting for the schema before polling")
            self.stop.wait(delay)
            delay = min(delay * 2, SCHEMA_BACKOFF[1])
        return False

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, lambda *_: self.stop.set())
            except ValueError:  # not the main thread (tests)
                pass
        if not self._wait_for_schema():
            return
        log.info("poller.started", owner=self.owner, lease_seconds=self.ttl)
        self.refresh()
        tick = self.ttl * leases.TICK
        next_refresh = time.monotonic() + tick
        lease_thread = threading.Thread(target=self._lease_loop, name="poll-leases", daemon=True)
        lease_thread.start()
        last: dict[str, float] = {}
        overdue = False
        while not self.stop.is_set():
            t = time.monotonic()
            if t >= next_refresh:
                self.refresh()
                next_refresh = t + min(5.0, tick)
            held = self.held
            if held and t - self.renewed_at > self.ttl * leases.LIFE:
                # the lease thread is stuck (the leases may already be someone else's): stop
                if not overdue:
                    log.error("poller.renewal_overdue", owner=self.owner, seconds=round(t - self.renewed_at, 1))
                overdue, held = True, frozenset()
                for _stamp, _thread, stop in list(self.threads.values()):
                    stop.set()
            else:
                overdue = False
            try:
                if SWEEPER in held:
                    sweep(self.rt)
                if CONNECTOR_HEALTH in held and t - last.get(CONNECTOR_HEALTH, 0.0) >= 10.0:
                    last[CONNECTOR_HEALTH] = t
                    health.sweep(self.rt)  # alert connectors that crossed OMNIHUB_CONNECTOR_FAILING_AFTER
                if RETENTION in held:
                    self._retention(t, last)
                for name, interval, fn in hooks.PERIODIC:
                    if TIMER + name in held and t - last.get(TIMER + name, 0.0) >= interval:
                        last[TIMER + name] = t
                        fn(self.rt)
            except _REDIS_DOWN as exc:  # Redis away (failover, restart): one short line, not a traceback
                log.error("poller.tick_failed", error=short_error(exc))
            except Exception:
                log.exception("poller.tick_failed")
            self.stop.wait(min(self.rt.settings.sweep_interval, tick))
        lease_thread.join(timeout=self.ttl)
        self._shutdown()


#: seconds between checks of a database that is not migrated yet (doubling up to the second)
SCHEMA_BACKOFF = (0.5, 10.0)


def install_timers() -> None:
    """The poller's own timers (idempotent): the assignment sweep (hub.assignment.sweep)."""
    from hub import assignment

    if not any(name == "assignment" for name, _i, _f in hooks.PERIODIC):
        hooks.PERIODIC.append(("assignment", assignment.SWEEP_INTERVAL, assignment.sweep))


def run(rt: Runtime, **kw: Any) -> None:
    from workers import intel

    intel.install()  # its periodic SLA tick
    install_timers()
    Poller(rt, **kw).run()
