"""The poller process: adapters' long-running inbound loops, the sweeper, periodic timers."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import structlog
from sqlalchemy import select

from hub import health, journal
from hub.connectors import ConnectorService, adapter_class
from hub.errors import AuthError
from hub.models import Connector
from hub.runtime import Runtime
from hub.types import RawEvent
from workers import hooks
from workers.sweeper import sweep

log = structlog.get_logger("omnihub.poller")


class Sink:
    """Journals events for one connector and schedules them (PollSink)."""

    def __init__(self, rt: Runtime, connector_id: int) -> None:
        self.rt = rt
        self.connector_id = connector_id

    def record(self, events: list[RawEvent]) -> list[int]:
        with self.rt.db.session() as s:
            ids = journal.record(s, self.rt.box, self.connector_id, events, sweep_after=self.rt.settings.sweep_after)
        self.rt.queues.schedule("ingest", ids)
        return ids

    def health(self, error: str | None, *, auth: bool = False) -> None:
        """A poll session worked (``error`` None) or failed (``auth``: credentials refused)."""
        if error is None:
            health.note_ok(self.rt, self.connector_id)
        else:
            health.note_failure(self.rt, self.connector_id, error, auth=auth)


class Poller:
    def __init__(self, rt: Runtime, *, sweep_enabled: bool = True) -> None:
        self.rt = rt
        self.stop = threading.Event()
        self.svc = ConnectorService(rt)
        self.threads: dict[str, tuple[float, threading.Thread, threading.Event]] = {}
        self.sweep_enabled = sweep_enabled

    def _run_adapter(self, name: str, stamp: float, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set() and not self.stop.is_set():
            row = None
            try:
                with self.rt.db.read() as s:
                    row = s.scalar(select(Connector).where(Connector.name == name))
                if row is None:
                    return
                adapter = self.svc.adapter(row)
                log.info("poll.start", connector=name)
                adapter.poll(Sink(self.rt, row.id), stop)
                backoff = 1.0
            except Exception as exc:
                log.exception("poll.crashed", connector=name)
                if row is not None:
                    health.note_failure(self.rt, row.id, f"poll: {exc}", auth=isinstance(exc, AuthError))
                stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def reconcile(self) -> None:
        with self.rt.db.read() as s:
            rows = s.scalars(select(Connector).where(Connector.enabled.is_(True))).all()
        wanted: dict[str, float] = {}
        for row in rows:
            try:
                if not getattr(adapter_class(row.kind), "polls", False):
                    continue
                adapter = self.svc.adapter(row)  # the instance knows (e.g. Slack polls only with an app token)
            except Exception as exc:
                log.warning("poll.unavailable", connector=row.name, error=str(exc))
                continue
            if getattr(adapter, "polls", False):
                wanted[row.name] = row.updated_at.timestamp() if row.updated_at else 0.0
        for name, (stamp, thread, stop) in list(self.threads.items()):
            if wanted.get(name) != stamp or not thread.is_alive():
                stop.set()
                thread.join(timeout=10)
                del self.threads[name]
        for name, stamp in wanted.items():
            if name not in self.threads:
                stop = threading.Event()
                t = threading.Thread(target=self._run_adapter, args=(name, stamp, stop), name=f"poll-{name}", daemon=True)
                self.threads[name] = (stamp, t, stop)
                t.start()

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, lambda *_: self.stop.set())
            except ValueError:  # not the main thread (tests)
                pass
        last: dict[str, float] = {}
        next_reconcile = 0.0
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                if t >= next_reconcile:
                    self.reconcile()
                    next_reconcile = t + 5.0
                if self.sweep_enabled:
                    sweep(self.rt)
                if t - last.get("connector-health", 0.0) >= 10.0:
                    last["connector-health"] = t
                    health.sweep(self.rt)  # alert connectors that crossed OMNIHUB_CONNECTOR_FAILING_AFTER
                for name, interval, fn in hooks.PERIODIC:
                    if t - last.get(name, 0.0) >= interval:
                        last[name] = t
                        fn(self.rt)
            except Exception:
                log.exception("poller.tick_failed")
            self.stop.wait(self.rt.settings.sweep_interval)
        for _stamp, _thread, stop in self.threads.values():
            stop.set()
        for _stamp, thread, _stop in self.threads.values():
            thread.join(timeout=10)


def run(rt: Runtime, **kw: Any) -> None:
    from workers import intel

    intel.install()  # its periodic SLA tick
    Poller(rt, **kw).run()
