"""Where a real email's worker time goes (P2R, #22 item 5), in-process, as CPU time (less
disturbed by other processes on a shared machine than the P2R throughput ratio).

    python -m benchmarks.p2r_profile stages [REPS]        # normalizer chain, per stage
    python -m benchmarks.p2r_profile ingest [N] [--pg]     # ingest.process on N journaled emails

``stages``: every corpus email (``benchmarks.real_mail``) through ``normalizers.email.normalize``
("mime": MIME parsing, quotes, bounces, attachments) and each pipeline step, under a
redaction context, after one warm-up pass; per stage the thread CPU time per email, the
lowest of REPS passes (default 5).

``ingest``: N corpus emails (plus 200 for warm-up) journaled as the IMAP poller does, then
``workers.ingest.process`` in batches of 200 in this process (SQLite, or PostgreSQL with
``--pg``); the process CPU per email of ``prepare`` (claim, normalize, pipeline) and of the
store transaction.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def stages(reps: int) -> dict[str, float]:
    from benchmarks import real_mail
    from normalizers import email as email_normalizer
    from normalizers import pipeline, redact

    corpus = real_mail.load()
    pipeline.warm()
    ctx = redact.Context(id_key=b"p2r-profile")
    received = datetime(2026, 1, 2, tzinfo=UTC)
    best: dict[str, float] = {}
    for _ in range(reps + 1):  # the first pass warms caches and is not counted
        spent: dict[str, float] = {}
        n = 0
        for _name, raw in corpus:
            t = time.thread_time()
            try:
                msgs = email_normalizer.normalize(raw, connector="p2r", received_at=received, extra={"folder": "INBOX", "uid": 1})
            except Exception:  # noqa: BLE001 - a broken email is quarantined by the worker, not counted here
                continue
            spent["mime"] = spent.get("mime", 0.0) + time.thread_time() - t
            n += 1
            for msg in msgs:
                with redact.context(ctx):
                    for step_name, step in pipeline.STEPS:
                        t = time.thread_time()
                        msg = step(msg)
                        spent[step_name] = spent.get(step_name, 0.0) + time.thread_time() - t
        if _ == 0:
            continue
        for k, v in spent.items():
            best[k] = min(best.get(k, float("inf")), v / n * 1000)
    return best


def ingest(n: int, pg: bool) -> dict[str, Any]:
    from benchmarks import common as c
    from benchmarks import real_mail
    from hub import journal
    from hub.embedded import EmbeddedRedis
    from hub.models import Connector
    from normalizers import pipeline
    from workers import ingest as ingesting

    spent = {"prepare": 0.0, "store": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - t
        return run

    with tempfile.TemporaryDirectory(prefix="omnihub-p2r-") as d:
        tmp = Path(d)
        server = EmbeddedRedis(tmp / "redis", persist=False).start()
        hub = c.Env(tmp / "hub", server.url, pg=pg)
        try:
            hub.add_email_connector("mail")
            with hub.rt.db.session() as s:
                conn_id = s.query(Connector.id).filter(Connector.name == "mail").scalar()
                events = real_mail.events(real_mail.load(), n + 200)
                ids: list[int] = []
                for start in range(0, len(events), 500):
                    ids += journal.record(s, hub.rt.box, conn_id, events[start:start + 500], sweep_after=3600)
            pipeline.warm()
            ingesting.process(hub.rt, ids[:200], push_local=True)  # warm-up, not counted
            prepare, store = ingesting.prepare, ingesting._store_batch
            ingesting.prepare, ingesting._store_batch = timed("prepare", prepare), timed("store", store)
            try:
                t = time.process_time()
                for start in range(200, len(ids), 200):
                    ingesting.process(hub.rt, ids[start:start + 200], push_local=True)
                total = time.process_time() - t
            finally:
                ingesting.prepare, ingesting._store_batch = prepare, store
        finally:
            hub.stop()
            server.stop()
    return {"emails": n, "cpu": total / n * 1000, "prepare": spent["prepare"] / n * 1000, "store": spent["store"] / n * 1000}


def main(argv: list[str]) -> int:
    if argv[:1] == ["stages"]:
        reps = int(argv[1]) if len(argv) > 1 else 5
        best = stages(reps)
        print(" ".join(f"{k} {v:.3f}" for k, v in best.items()), f"| total {sum(best.values()):.3f} ms per email (thread CPU, lowest of {reps})")
        return 0
    if argv[:1] == ["ingest"]:
        rest = [a for a in argv[1:] if not a.startswith("--")]
        r = ingest(int(rest[0]) if rest else 1000, "--pg" in argv)
        print(f"{'PostgreSQL' if '--pg' in argv else 'SQLite'}: {r['emails']} emails, process CPU {r['cpu']:.2f} ms per email "
              f"(prepare {r['prepare']:.2f}, store {r['store']:.2f})")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
