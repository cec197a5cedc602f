"""Engine and sessions (SQLAlchemy 2). SQLite is the embedded default, PostgreSQL production."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

_READ_ONLY: ContextVar[bool] = ContextVar("omnihub_read_only", default=False)


class WriteGate:
    """Queues SQLite writers instead of letting them collide on the database lock.

    SQLite lets one writer in at a time; the others spin in its busy handler, which sleeps
    1, 2, 5, 10 ... 100 ms between tries. Under concurrent webhooks that sleeping, not the
    work, made the tail latency (benchmarks P1: p99 ~60 ms for ~1 ms of work). The gate
    hands the lock over as soon as it is free: a thread lock for this process's threads,
    then an flock on a file beside the database for the other processes (polled at most
    2 ms apart). Held from BEGIN IMMEDIATE until the connection is returned to the pool;
    like SQLite's busy_timeout, a wait longer than ``timeout`` seconds raises."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._lock = threading.Lock()
        self._fd = -1  # opened by the first writer; only the thread holding _lock touches it
        _GATES.add(self)

    def _after_fork(self) -> None:
        # The parent's thread lock may be held by a thread that does not exist here, and its
        # file descriptor shares the parent's flock: start afresh.
        self._lock = threading.Lock()
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def _timeout(self) -> OperationalError:
        return OperationalError("BEGIN IMMEDIATE", None, TimeoutError(f"database is locked (waited {self.timeout:.0f} s for {self.path})"))

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            raise self._timeout()
        try:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            delay = 0.0001
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise self._timeout() from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.002)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def __del__(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)


_GATES: weakref.WeakSet[WriteGate] = weakref.WeakSet()
#: every Database's engine: a forked child (gunicorn's workers fork from a master that imported
#: the app) never reuses a pooled connection of its parent
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _gates_after_fork() -> None:
    for g in list(_GATES):
        g._after_fork()
    for e in list(_ENGINES):
        e.dispose(close=False)  # forget the parent's connections without closing them under it


os.register_at_fork(after_in_child=_gates_after_fork)


class Base(DeclarativeBase):
    pass


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # Let us issue BEGIN ourselves (pysqlite's implicit transactions defeat IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Overwrite deleted content so a redacted secret does not linger in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        on_disk = url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:")
        gate = WriteGate(url.removeprefix("sqlite:///") + ".writelock") if on_disk else None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            if _READ_ONLY.get():
                conn.exec_driver_sql("BEGIN")
                return
            # Read-then-write transactions take the write lock up front: no SQLITE_BUSY on upgrade.
            info = conn.info if gate else {}
            if gate and not info.get("omnihub_gate"):
                gate.acquire()
                info["omnihub_gate"] = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if gate and info.pop("omnihub_gate", False):
                    gate.release()
                raise

        if gate:
            def _release(_dbapi_conn, record, *_args):  # pragma: no cover - trivial
                if record is not None and record.info.pop("omnihub_gate", False):
                    gate.release()

            # After the commit or rollback, when the connection goes back to the pool.
            event.listen(engine, "checkin", _release)
            event.listen(engine, "invalidate", _release)

        return engine
    ping_idle = kwargs.pop("ping_idle", POOL_PING_IDLE_SECONDS)
    # positional placeholders (%s) instead of psycopg's default named ones (%(name)s): psycopg
    # converts every query to PostgreSQL's $n form in Python and caches the conversion only
    # for queries of at most 50 parameters, so a batch's multi-row INSERT (SQLAlchemy's
    # insertmanyvalues: ~100 KB of SQL with names such as %(body__137)s) was scanned in full
    # each time; with %s it is about half as long. The store path of real email: 1.87-2.04 ->
    # 1.52-1.72 ms of worker CPU per email (benchmarks.p2r_profile ingest --pg, alternating)
    if make_url(url).get_backend_name() == "postgresql":
        kwargs.setdefault("paramstyle", "format")
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_idle)
    return engine


#: a pooled PostgreSQL connection idle for longer than this is pinged before it is handed out
POOL_PING_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection before use only when it sat in the pool for ``idle`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per
    transaction, about a quarter of a webhook group commit's (ping, BEGIN, INSERT, COMMIT;
    benchmarks P1-pg). A connection in steady use has just proved itself; one that sat idle
    (the server restarted, a proxy closed it) is pinged, and a dead one is replaced before
    anyone sees it (``DisconnectionError`` makes the pool connect afresh). A connection that
    dies within the window fails its statement once: SQLAlchemy then invalidates the pool, a
    webhook answers 503 (the provider retries) and a worker's job is retried."""
    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn, record):  # pragma: no cover - trivial
        if record is not None:
            record.info["omnihub_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        since = record.info.pop("omnihub_idle_since", None)
        if since is None or time.monotonic() - since <= idle:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:
            raise exc.DisconnectionError(f"pooled connection idle {time.monotonic() - since:.0f} s failed its ping: {e}") from e


class Database:
    """One engine + session factory per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        _ENGINES.add(self.engine)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self.Session()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A Core connection in one transaction, committed on exit: for hot paths that only
        insert (the webhook journal), without an ORM session's bookkeeping."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write_single(self) -> Iterator[Connection]:
        """For a write that is ONE statement (atomic by itself): on PostgreSQL a connection in
        autocommit mode, so the statement is one round trip instead of three (BEGIN, the
        statement, COMMIT; psycopg sends BEGIN on its own). Elsewhere the same as write()
        (SQLite needs BEGIN IMMEDIATE and the write gate)."""
        if self.engine.dialect.name != "postgresql":
            with self.write() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads only (on SQLite it does not take the write lock)."""
        token = _READ_ONLY.set(True)
        s = self.Session()
        try:
            yield s
        finally:
            s.close()  # ends the transaction; loaded objects stay usable (detached)
            _READ_ONLY.reset(token)

    def dispose(self) -> None:
        self.engine.dispose()
