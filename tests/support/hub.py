"""A real hub for tests: migrated database, real Redis, real worker and poller processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.settings import Settings
from hub.runtime import Runtime, set_runtime

REPO = Path(__file__).resolve().parents[2]


def settings_env(settings: Settings) -> dict[str, str]:
    """The OMNIHUB_* environment that reproduces ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_") or k in ("OMNIHUB_REQUIRE_ALL", "OMNIHUB_CORPUS")}
    for name, value in settings.model_dump().items():
        env[f"OMNIHUB_{name.upper()}"] = str(value)
    env["PYTHONPATH"] = str(REPO)
    return env


_TEMPLATES: dict[str, str] = {}  # backend -> a database migrated to head once in this process


def migrate(url: str) -> None:
    """Bring a test's new database to the head revision. Migrating from nothing takes ~0.4 s
    on SQLite and ~1 s on PostgreSQL, once per hub; so a new database is instead a copy of one
    migrated once per test process: the SQLite file through SQLite's backup API, a PostgreSQL
    database through ``CREATE DATABASE ... TEMPLATE``. A database that already exists, holds
    tables, has other sessions or was not made by the
    ``pg_url`` fixture (``omnihub_t_*``) is migrated as usual (``OMNIHUB_TEST_TEMPLATES=0``: always)."""
    from sqlalchemy.engine import make_url

    from hub.migrate import upgrade

    u = make_url(url)
    if os.environ.get("OMNIHUB_TEST_TEMPLATES", "1") != "0":
        backend = u.get_backend_name()
        if backend == "sqlite" and u.database and u.database != ":memory:" and not Path(u.database).exists():
            _copy_sqlite(_template("sqlite", url), u.database)
            return
        if backend == "postgresql" and (u.database or "").startswith("omnihub_t_") \
                and _replace_empty_pg(u, _template("postgresql", url)):  # only the pg_url fixture's own databases
            return
    upgrade(url)


def _template(backend: str, like: str) -> str:
    import atexit
    import tempfile

    from sqlalchemy.engine import make_url

    from hub.migrate import upgrade

    if backend not in _TEMPLATES:
        if backend == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="omnihub-template-")) / "template.db"
            upgrade(f"sqlite:///{path}")
            _TEMPLATES[backend] = str(path)
        else:
            name = f"omnihub_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = make_url(like).set(database="postgres")
            _pg_admin(admin, f'CREATE DATABASE "{name}"')
            upgrade(make_url(like).set(database=name).render_as_string(hide_password=False))
            _TEMPLATES[backend] = name
            atexit.register(_pg_admin, admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return _TEMPLATES[backend]


def _copy_sqlite(template: str, dest: str) -> None:
    import sqlite3

    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(template), sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _pg_admin(admin, *statements: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            for statement in statements:
                c.execute(text(statement))
    finally:
        engine.dispose()


def _replace_empty_pg(u, template: str) -> bool:
    """Recreate the empty database ``u`` from ``template``; False (nothing done) unless it is
    empty and nobody else is connected to it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(u)
    try:
        with engine.connect() as c:
            tables = c.scalar(text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = 'public'"))
            others = c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()"))
    finally:
        engine.dispose()
    if tables or others:
        return False
    _pg_admin(u.set(database="postgres"), f'DROP DATABASE "{u.database}"',
              f'CREATE DATABASE "{u.database}" TEMPLATE "{template}"')
    return True


class Hub:
    """Settings + runtime + Flask app for one test, and its worker/poller processes."""

    def __init__(self, tmp: Path, redis_url: str, database_url: str | None = None, **overrides: Any) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        values = dict(
            var_dir=tmp / "var",
            database_url=database_url or f"sqlite:///{tmp / 'omnihub.db'}",
            redis_url=redis_url,
            secret_key="test-secret-key-" + uuid.uuid4().hex,
            public_url="http://hub.test",
            queue_prefix="t" + uuid.uuid4().hex[:10],
            retry_base_seconds=0.2,
            retry_max_seconds=2.0,
            retry_max_attempts=3,
            sweep_interval=0.2,
            sweep_after=2.0,
            lease_seconds=10.0,
            # a poller notices a connector added or changed (a sign-in, a new config), and takes
            # over a killed poller's work, within this (the default 30 s made tests wait up to
            # 12.5 s and 22.5 s for it); renewals every 1.25 s, a Redis call's timeout 1 s
            poll_lease_seconds=5.0,
            log_level="INFO",
        )
        values.update(overrides)
        self.settings = Settings(**values)
        from hub.connectors import ensure_builtin

        migrate(self.settings.effective_database_url)
        self.rt = Runtime(self.settings)
        ensure_builtin(self.rt)
        from hub.app import create_app

        self.app = create_app(self.settings, self.rt)
        self.client = self.app.test_client()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.tmp = tmp
        self._token: str | None = None

    # ---- processes -----------------------------------------------------------------
    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            env={**settings_env(self.settings), **(env or {})},
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            cwd=str(self.tmp),
        )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        return self.start(name, "worker")

    def start_poller(self, name: str = "poller") -> subprocess.Popen:
        return self.start(name, "poll")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(10)

    def stop_all(self, grace: float = 3.0) -> None:
        """Stop every process: SIGTERM, then SIGKILL after ``grace`` seconds (a worker in the
        middle of a batch, or a poller joining its threads, would hold a test's teardown for
        its whole shutdown time; tests of graceful shutdown stop processes themselves)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()

    def output(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace") if name in self.logs else ""

    def cli(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env={**settings_env(self.settings), **(env or {})},
            capture_output=True,
            text=True,
            input=input,
            cwd=str(self.tmp),
            timeout=60,
        )

    # ---- data ----------------------------------------------------------------------
    def add_connector(self, name: str, kind: str, **config: Any) -> None:
        from hub.connectors import ConnectorService

        with self.rt.db.session() as s:
            ConnectorService(self.rt).create(s, name, kind, config)

    @property
    def token(self) -> str:
        if self._token is None:
            from hub.auth import create_token, create_user

            with self.rt.db.session() as s:
                create_user(s, "agent@example.com", "admin", "correct horse battery", "Ada Agent")
                self._token = create_token(s, "agent@example.com")
        return self._token

    def api(self, method: str, path: str, json: Any = None, token: str | None = None):
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.client.open(path, method=method, json=json, headers=headers)

    def count(self, model, *where) -> int:
        from sqlalchemy import func, select

        with self.rt.db.read() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where))

    def busy(self) -> dict[str, int]:
        """What is still in flight: queued or running jobs, ids waiting in a stage's list, held
        drain slots, and rows pending or leased in SQL. Empty when the hub is idle."""
        from sqlalchemy import func, select

        from hub.models import Delivery, EventDelivery, InboundEvent, Reply
        from hub.queues import STAGES
        from hub.states import DeliveryState, EventState, ReplyState

        q = self.rt.queues
        out: dict[str, int] = {}
        for queue in q.all():
            out[f"queue {queue.name}"] = queue.count  # a running drain holds its slot (below)
        for stage in STAGES:
            out[f"list {stage}"] = int(q.redis.llen(q.pending_key(stage)))
        out["drain slots"] = sum(1 for _ in q.redis.scan_iter(f"{q.prefix}:drain:*"))
        with self.rt.db.read() as s:
            out["events pending"] = s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == EventState.PENDING))
            out["deliveries pending"] = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.PENDING))
            out["event deliveries pending"] = s.scalar(
                select(func.count()).select_from(EventDelivery).where(EventDelivery.state == DeliveryState.PENDING))
            out["replies pending/sending"] = s.scalar(
                select(func.count()).select_from(Reply).where(Reply.state.in_((ReplyState.PENDING, ReplyState.SENDING))))
        return {k: v for k, v in out.items() if v}

    def wait_idle(self, timeout: float = 30.0, settle: float = 0.3) -> None:
        """Barrier: wait until nothing is queued, running, pending or leased, and it stays so
        for ``settle`` seconds; a late duplicate in the making is therefore still counted by
        the assertions that follow. Fails naming what is still busy."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        busy: dict[str, int] = {}
        while time.monotonic() < deadline:
            busy = self.busy()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.05)
        raise AssertionError(f"hub not idle after {timeout}s: {busy}")

    def close(self) -> None:
        self.stop_all()
        set_runtime(None)
        self.rt.close()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate} (last: {last!r})")
