"""C1: what one inbound message costs on PostgreSQL, measured in-process, and the capacity
model built on it (printed by ``make bench`` after the machine line, copied into the README).

For N messages of each kind (a web-chat message; a real email from the shared corpus), journaled
first, then taken through the whole chain (ingest: parse, redact, detect the language, triage,
thread, store; push to the inbox) by an RQ SimpleWorker in this process with ``burst=True``:

* worker CPU: ``time.process_time()`` of this process over the burst;
* PostgreSQL CPU: utime + stime of the backends serving this benchmark's database
  (``pg_stat_activity``, ``/proc/<pid>/stat``; other databases on the server are not counted);
* SQL statements: SQLAlchemy ``before_cursor_execute`` events;
* Redis commands: the server's ``total_commands_processed`` (the benchmark's own Redis);
* stored bytes: ``pg_database_size`` before and after (tables, indexes, encrypted journal).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks import common as c

#: the capacity model as a Markdown block, set by :func:`rows`
MODEL = ""
PEAK_TO_AVERAGE = 3.0  # busiest hour against the day's average (support traffic follows office hours)
WORKER_UTILISATION = 0.7
DB_UTILISATION = 0.5
RETENTION_DAYS = 365


def _ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def measure(env: c.Env, connector: str, events: list) -> dict[str, float]:
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer
    from sqlalchemy import event, func, select, text
    from sqlalchemy.engine import Engine

    import workers.jobs  # noqa: F401 - the job functions
    from hub import journal
    from hub.jobguard import OmnihubJob
    from hub.models import Connector, Delivery
    from hub.runtime import set_runtime
    from hub.states import DeliveryState

    rt = env.rt
    with rt.db.session() as s:
        conn_id = s.scalar(select(Connector.id).where(Connector.name == connector))
        ids = []
        for start in range(0, len(events), 500):
            ids += journal.record(s, rt.box, conn_id, events[start:start + 500], sweep_after=3600)
    set_runtime(rt)
    from hub.logging import configure

    configure("WARNING")
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    def backends() -> set[int]:
        with rt.db.engine.connect() as conn:
            return {int(p) for p in conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).scalars()}

    def size() -> int:
        with rt.db.engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())

    with rt.db.read() as s:
        delivered0 = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.DELIVERED))
    size0, pids0 = size(), backends()
    ticks0 = _ticks(pids0)
    redis0 = int(rt.redis.info("stats")["total_commands_processed"])
    event.listen(Engine, "before_cursor_execute", count)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        rt.queues.schedule("ingest", ids)
        worker = SimpleWorker(rt.queues.all(), connection=rt.redis, serializer=JSONSerializer, job_class=OmnihubJob)
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        set_runtime(None)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    redis_ops = int(rt.redis.info("stats")["total_commands_processed"]) - redis0 - 1
    pids = pids0 | backends()
    pg_ticks = _ticks(pids) - ticks0
    with rt.db.read() as s:
        delivered = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.DELIVERED)) - delivered0
    n = len(events)
    return {
        "n": n, "delivered": delivered, "cpu_ms": cpu / n * 1000, "wall_ms": wall / n * 1000,
        "pg_cpu_ms": pg_ticks / os.sysconf("SC_CLK_TCK") / n * 1000, "statements": statements[0] / n,
        "redis_ops": redis_ops / n, "bytes": (size() - size0) / n,
    }


def _model(chat: dict[str, float], mail: dict[str, float]) -> str:
    lines = [
        "Capacity model (from C1 on this machine; inbound messages ingested and pushed to the inbox, "
        f"peak hour = {PEAK_TO_AVERAGE:g} x the day's average, workers at {WORKER_UTILISATION:.0%} and PostgreSQL at "
        f"{DB_UTILISATION:.0%} CPU at peak, one year kept; real email is the heavier kind and sizes the table):",
        "",
        "| per message | web chat | real email |",
        "| --- | --- | --- |",
        f"| worker CPU | {chat['cpu_ms']:.2f} ms | {mail['cpu_ms']:.2f} ms |",
        f"| PostgreSQL CPU | {chat['pg_cpu_ms']:.2f} ms | {mail['pg_cpu_ms']:.2f} ms |",
        f"| SQL statements | {chat['statements']:.1f} | {mail['statements']:.1f} |",
        f"| Redis commands | {chat['redis_ops']:.1f} | {mail['redis_ops']:.1f} |",
        f"| PostgreSQL bytes stored | {chat['bytes'] / 1024:.1f} KB | {mail['bytes'] / 1024:.1f} KB |",
        f"| messages/s per worker core | {1000 / chat['cpu_ms']:,.0f} | {1000 / mail['cpu_ms']:,.0f} |",
        "",
        "| messages a day | peak msgs/s | worker cores | PostgreSQL cores | Redis ops/s at peak | PostgreSQL size after a year |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for per_day in (1_000_000, 10_000_000, 100_000_000):
        peak = per_day / 86_400 * PEAK_TO_AVERAGE
        workers = peak * mail["cpu_ms"] / 1000 / WORKER_UTILISATION
        db = peak * mail["pg_cpu_ms"] / 1000 / DB_UTILISATION
        size = per_day * RETENTION_DAYS * mail["bytes"]
        lines.append(f"| {per_day:,} | {peak:,.0f} | {max(1, round(workers + 0.5)):,} | {max(1, round(db + 0.5)):,} | "
                     f"{peak * mail['redis_ops']:,.0f} | {size / 1e12:,.1f} TB |")
    return "\n".join(lines)


def rows(tmp: Path, redis_url: str, quick: bool) -> list[dict]:
    global MODEL
    from benchmarks import real_mail
    from hub.types import RawEvent

    n = 200 if quick else 1000
    corpus = real_mail.load()
    if not corpus:
        return [{"id": "C1", "what": "capacity model", "value": "n/a", "baseline": f"no corpus at {real_mail.CORPUS}",
                 "ratio": float("nan"), "goal": "—", "ok": None}]
    env = c.Env(tmp / "c1", redis_url, pg=True)
    try:
        env.add_email_connector("mail")
        # warm-up (imports, the language and triage models, compiled queries), not measured
        measure(env, "web", [RawEvent(external_id=f"c1w-{i}", hook="messages", payload=c.signed_request(10**6 + i)[0]) for i in range(50)])
        measure(env, "mail", real_mail.events(corpus, 50, salt="warm"))
        chat = measure(env, "web", [RawEvent(external_id=f"c1-{i}", hook="messages", payload=c.signed_request(i)[0]) for i in range(n)])
        mail = measure(env, "mail", real_mail.events(corpus, n))
    finally:
        env.stop()
    MODEL = _model(chat, mail)
    out = []
    for kind, m in (("web chat", chat), ("real email", mail)):
        out.append({"id": "C1", "what": f"worker CPU per {kind} message ({m['n']} in-process, PostgreSQL)",
                    "value": f"{m['cpu_ms']:.2f} ms", "baseline": f"{m['statements']:.1f} SQL, {m['redis_ops']:.1f} Redis cmds/msg",
                    "ratio": m["cpu_ms"] / m["wall_ms"], "goal": "— (feeds the capacity model)", "ok": None})
    return out
