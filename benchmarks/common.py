"""Shared machinery: an embedded Redis, a migrated hub in a temp dir, gunicorn, load."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"
GUNICORN_ARGS = ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--timeout", "60", "--access-logfile", "/dev/null"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_rq_workers(redis, queue_name: str, procs: list[subprocess.Popen], timeout: float = 120.0, what: str = "worker") -> float:
    """Block until each of ``procs`` runs an RQ worker that is registered on ``queue_name`` and
    idle (RQ registers a worker when its loop starts, after whatever the process does at boot,
    and marks it idle when it waits for a job): a timed run started then has no boot inside it.
    Returns the seconds waited; raises when a process exits or ``timeout`` passes first."""
    from rq import Queue, Worker

    t0 = time.monotonic()
    want = {p.pid for p in procs}
    ready: set[int] = set()
    while True:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what} process {p.pid} exited with {p.returncode} before its RQ worker was ready")
        ready = {w.pid for w in Worker.all(queue=Queue(queue_name, connection=redis)) if w.pid in want and w.get_state() == "idle"}
        if ready >= want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{len(ready)} of {len(want)} {what} processes registered idle on RQ queue {queue_name!r} after {timeout:.0f} s")
        time.sleep(0.05)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


PG_ADMIN_URL = os.environ.get("OMNIHUB_BENCH_PG_URL", os.environ.get("OMNIHUB_TEST_DATABASE_URL",
                                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))


def pg_available() -> str | None:
    """None when PostgreSQL answers at ``PG_ADMIN_URL``, else why not (one line)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return None
    except Exception as exc:  # any driver or network error: the PostgreSQL lines are skipped, saying why
        return f"{PG_ADMIN_URL.split('@')[-1]}: {exc.__class__.__name__}"
    finally:
        engine.dispose()


def pg_create() -> str:
    """A new, empty PostgreSQL database (dropped by :func:`pg_drop`); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = "omnihub_bench_" + uuid.uuid4().hex[:10]
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def pg_drop(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    engine.dispose()


@dataclass
class Env:
    """A migrated omnihub in a temp dir (SQLite, or a new PostgreSQL database when ``pg``),
    sharing one Redis, plus its processes."""

    tmp: Path
    redis_url: str
    pg: bool = False
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        from config.settings import Settings
        from hub.connectors import ConnectorService, ensure_builtin
        from hub.migrate import upgrade
        from hub.runtime import Runtime

        self.tmp.mkdir(parents=True, exist_ok=True)
        self.pg_url = pg_create() if self.pg else None
        self.settings = Settings(
            var_dir=self.tmp / "var",
            database_url=self.pg_url or f"sqlite:///{self.tmp / 'omnihub.db'}",
            redis_url=self.redis_url,
            secret_key="bench-" + uuid.uuid4().hex,
            public_url="http://127.0.0.1",
            queue_prefix="b" + uuid.uuid4().hex[:8],
            log_level="WARNING",
        )
        upgrade(self.settings.effective_database_url)
        self.rt = Runtime(self.settings)
        ensure_builtin(self.rt)
        with self.rt.db.session() as s:
            ConnectorService(self.rt).create(s, "web", "api", {"secret": SECRET})

    def add_email_connector(self, name: str) -> None:
        """An email connector whose mailbox is never polled (P2R journals its mail directly)."""
        from hub.connectors import ConnectorService

        with self.rt.db.session() as s:
            ConnectorService(self.rt).create(s, name, "email", {
                "imap_host": "imap.example.com", "username": "support@example.com", "password": "bench-imap",
                "smtp_host": "smtp.example.com", "smtp_password": "bench-smtp", "from_address": "support@example.com",
            })

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
        for name, value in self.settings.model_dump().items():
            env[f"OMNIHUB_{name.upper()}"] = str(value)
        env["PYTHONPATH"] = str(REPO)
        return env

    def spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        p = subprocess.Popen(args, env=self.env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.tmp))
        self.procs.append(p)
        return p

    def web(self, port: int) -> subprocess.Popen:
        p = self.spawn([sys.executable, "-m", "gunicorn", "hub.wsgi:app", "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS], "web")
        wait_port(port)
        return p

    def worker(self, name: str = "worker") -> subprocess.Popen:
        return self.spawn([sys.executable, "-m", "hub.cli", "worker"], name)

    def wait_workers(self, procs: list[subprocess.Popen], timeout: float = 120.0) -> float:
        """Block until ``procs`` (``worker()`` processes) have booted (models warmed) and wait
        for jobs; see ``wait_rq_workers``."""
        return wait_rq_workers(self.rt.redis, self.rt.queues.all()[0].name, procs, timeout, what=f"omnihub worker (logs in {self.tmp})")

    def poller(self) -> subprocess.Popen:
        return self.spawn([sys.executable, "-m", "hub.cli", "poll"], "poller")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
        self.rt.close()
        if self.pg_url:
            pg_drop(self.pg_url)
            self.pg_url = None


def bare_web(tmp: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-m", "gunicorn", "benchmarks.noop:bare", "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS],
                         env=env, stdout=open(tmp / "bare.log", "ab"), stderr=subprocess.STDOUT, cwd=str(tmp))
    wait_port(port)
    return p


def signed_request(i: int, sent_at: datetime | None = None, sender: str | None = None) -> tuple[bytes, dict[str, str]]:
    from hub import signing

    payload = {"id": f"b{i}-{uuid.uuid4().hex[:6]}", "from": {"id": sender or f"c{i % 50}"}, "text": f"benchmark message {i}"}
    if sent_at:
        payload["sent_at"] = sent_at.isoformat()
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", **signing.sign(SECRET, body)}


def load(port: int, requests: list[tuple[bytes, dict[str, str]]], threads: int = 8) -> tuple[float, list[float], int]:
    """POST every request as fast as `threads` clients can; (req/s, latencies in s, errors)."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    url = f"http://127.0.0.1:{port}/webhooks/web/messages"

    def run(chunk):
        mine = []
        with httpx.Client(timeout=10) as c:
            for body, headers in chunk:
                t = time.perf_counter()
                r = c.post(url, content=body, headers=headers)
                mine.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    ts = [threading.Thread(target=run, args=(requests[k::threads],)) for k in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return len(requests) / (time.perf_counter() - start), latencies, errors[0]


def p5_load(port: int, rate: int = 100, seconds: int = 15, senders: int = 4) -> int:
    """P5's load: `rate` signed webhook messages a second for `seconds`, stamped with their send
    time, from `senders` clients; returns the number of non-200 answers."""
    import httpx

    total = rate * seconds
    errors = [0]

    def sender(offset: int, step: int) -> None:
        with httpx.Client(timeout=10) as cl:
            t0 = time.perf_counter()
            for k in range(offset, total, step):
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body, headers = signed_request(100_000 + k, sent_at=now(), sender=f"e2e{k % 40}")
                if cl.post(f"http://127.0.0.1:{port}/webhooks/web/messages", content=body, headers=headers).status_code != 200:
                    errors[0] += 1

    ts = [threading.Thread(target=sender, args=(k, senders)) for k in range(senders)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors[0]


def now() -> datetime:
    return datetime.now(UTC)


class HeldStreams:
    """Server-sent-event streams opened from raw sockets and held open (own event loop)."""

    def __init__(self, port: int) -> None:
        import asyncio
        import threading

        self.port = port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.writers: list = []

    def open(self, paths: list[str], headers: dict[str, str], timeout: float = 30.0) -> int:
        """Open every path at once; the number that answered 200 with a first event."""
        import asyncio

        async def one(path: str) -> bool:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writers.append(writer)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{head}\r\n".encode())
            status = int((await reader.readuntil(b"\r\n\r\n")).split()[1])
            if status == 200:
                await reader.readuntil(b"\n\n")
            return status == 200

        async def run() -> int:
            done = await asyncio.gather(*(asyncio.wait_for(one(p), timeout) for p in paths), return_exceptions=True)
            return sum(1 for d in done if d is True)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout + 30)

    def close(self) -> None:
        import asyncio

        async def run() -> None:
            for w in self.writers:
                w.close()

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
