"""The memory footprint of a whole `omnihub run` (F1): PSS summed over its process tree.

PSS (proportional set size, ``/proc/<pid>/smaps_rollup``) counts a page shared by n processes
as 1/n in each, so the sum over the tree is what the desk really costs the machine (RSS would
count every shared library page once per process). Measured twice on the same instance:
idle (every process booted, nothing to do) and after the P5 load (100 msgs/s through the
webhook, every message delivered to the inbox).

The processes see only the packages a desk's ``pip install omnihub`` installs (the development
venv's test and lint tools are hidden: ``runtime_site/sitecustomize.py`` says why and how).

Run alone: ``python -m benchmarks.bench_footprint`` (prints the figures and the per-process
breakdown; ``--dev-venv`` measures with everything the development venv holds); ``make
bench`` runs it as F1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks import common as c

#: the goal for the whole `omnihub run` (PSS, MB)
GOAL_MB = 250.0
#: its sitecustomize hides what the development venv holds beyond omnihub's runtime dependencies
RUNTIME_SITE = Path(__file__).resolve().parent / "runtime_site"


def pss_kb(pid: int) -> int:
    """PSS of one process in kB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def tree(pid: int) -> list[int]:
    """pid and every descendant, parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        try:
            todo += c.children(p)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def describe(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    words = [w for w in words if not w.startswith(("-", "/")) or w.endswith(("valkey-server", "gunicorn"))] or words
    return " ".join(Path(w).name if "/" in w else w for w in words[:4])[:60]


def footprint(pid: int) -> tuple[float, list[tuple[int, str, float]]]:
    """(total PSS in MB, [(pid, what, PSS MB)]) over the process tree of pid."""
    rows = [(p, describe(p), pss_kb(p) / 1024) for p in tree(pid)]
    return sum(r[2] for r in rows), rows


def _absent() -> frozenset[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("omnihub_runtime_site", RUNTIME_SITE / "sitecustomize.py")
    assert spec and spec.loader
    runtime_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime_site)
    return runtime_site.blocked()


class Run:
    """`omnihub run` on a temp dir (SQLite, its own embedded Redis) with an `api` connector
    ``web`` whose secret the benchmark knows."""

    def __init__(self, tmp: Path, runtime_only: bool = True) -> None:
        self.tmp = tmp
        self.port = c.free_port()
        self.var = tmp / "var"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
        self.env.update({
            "OMNIHUB_VAR_DIR": str(self.var),
            "OMNIHUB_SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "OMNIHUB_PORT": str(self.port),
            "OMNIHUB_HOST": "127.0.0.1",
            "OMNIHUB_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(c.REPO),
        })
        if runtime_only:  # as `pip install omnihub` installs it: no test or lint tools (runtime_site)
            self.env["PYTHONPATH"] = os.pathsep.join([str(RUNTIME_SITE), str(c.REPO)])
            self.env["OMNIHUB_BENCH_ABSENT"] = ",".join(sorted(_absent()))
        self.proc: subprocess.Popen | None = None
        self.rt = None

    def prepare(self) -> None:
        """Migrate and create the ``web`` connector before `omnihub run` starts (it migrates
        again, a no-op, and adds its own admin and demo connector)."""
        from config.settings import Settings
        from hub.connectors import ConnectorService, ensure_builtin
        from hub.migrate import upgrade
        from hub.runtime import Runtime

        self.var.mkdir(parents=True, exist_ok=True)
        settings = Settings(var_dir=self.var, secret_key=self.env["OMNIHUB_SECRET_KEY"], redis_url="redis://127.0.0.1:1/0",
                            log_level="WARNING")
        upgrade(settings.effective_database_url)
        rt = Runtime(settings)
        ensure_builtin(rt)
        with rt.db.session() as s:
            ConnectorService(rt).create(s, "web", "api", {"secret": c.SECRET})
        self.rt = rt

    def start(self, processes: int, timeout: float = 120.0) -> None:
        """Start `omnihub run` and wait until its tree has `processes` processes and the web
        port answers."""
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=self.env, cwd=str(self.tmp),
                                     stdout=open(self.tmp / "run.log", "ab"), stderr=subprocess.STDOUT)
        c.wait_port(self.port, timeout)
        deadline = time.monotonic() + timeout
        while len(tree(self.proc.pid)) < processes:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"omnihub run: {len(tree(self.proc.pid))} of {processes} processes; see {self.tmp / 'run.log'}")
            time.sleep(0.2)

    def settle(self, timeout: float = 60.0) -> tuple[float, list[tuple[int, str, float]]]:
        """The footprint once it stops moving: three readings 0.5 s apart within 1 MB."""
        assert self.proc
        readings: list[float] = []
        deadline = time.monotonic() + timeout
        while True:
            total, rows = footprint(self.proc.pid)
            readings.append(total)
            if len(readings) >= 3 and max(readings[-3:]) - min(readings[-3:]) < 1.0 or time.monotonic() > deadline:
                return total, rows
            time.sleep(0.5)

    def delivered(self) -> int:
        from sqlalchemy import func, select

        from hub.models import Delivery

        with self.rt.db.read() as s:
            return s.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "delivered")) or 0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                for p in reversed(tree(self.proc.pid)):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self.rt:
            self.rt.close()


def expected_processes() -> int:
    """`omnihub run` with the default settings: itself, the embedded Redis, the gunicorn master
    and its one worker, and the RQ workers (the first of them runs the poller)."""
    from config.settings import Settings

    return 1 + 1 + 1 + 1 + int(Settings.model_fields["worker_processes"].default)


def measure(tmp: Path, quick: bool = False, runtime_only: bool = True) -> dict:
    """Footprint idle and after P5's load; the per-process rows of both. ``runtime_only``:
    the processes see only omnihub's runtime dependencies, as a desk's install does
    (``runtime_site/sitecustomize.py``); else everything the development venv holds."""
    from benchmarks.common import p5_load

    run = Run(tmp, runtime_only)
    run.prepare()
    try:
        run.start(expected_processes())
        idle, idle_rows = run.settle()
        seconds = 5 if quick else 15
        total = 100 * seconds
        errors = p5_load(run.port, rate=100, seconds=seconds)
        deadline = time.monotonic() + 120
        while run.delivered() < total and time.monotonic() < deadline:
            time.sleep(0.2)
        delivered = run.delivered()
        busy, busy_rows = run.settle()
    finally:
        run.stop()
    return {"idle": idle, "idle_rows": idle_rows, "busy": busy, "busy_rows": busy_rows, "sent": total,
            "delivered": delivered, "errors": errors, "processes": len(busy_rows)}


def rows(tmp: Path, quick: bool = False) -> list[dict]:
    m = measure(tmp, quick)
    ok_load = m["errors"] == 0 and m["delivered"] >= m["sent"]
    return [{
        "id": "F1", "what": f"`omnihub run` PSS, {m['processes']} processes, idle", "value": f"{m['idle']:.0f} MB",
        "baseline": f"goal {GOAL_MB:.0f} MB", "ratio": m["idle"] / GOAL_MB, "goal": f"<= {GOAL_MB:.0f} MB (ratio to goal)",
        "ok": m["idle"] <= GOAL_MB,
    }, {
        "id": "F1", "what": f"`omnihub run` PSS after P5's load ({m['delivered']}/{m['sent']} delivered)", "value": f"{m['busy']:.0f} MB",
        "baseline": f"goal {GOAL_MB:.0f} MB", "ratio": m["busy"] / GOAL_MB, "goal": f"<= {GOAL_MB:.0f} MB (ratio to goal)",
        "ok": m["busy"] <= GOAL_MB and ok_load,
    }]


def main() -> int:
    import tempfile

    quick = "--quick" in sys.argv
    runtime_only = "--dev-venv" not in sys.argv
    with tempfile.TemporaryDirectory(prefix="omnihub-footprint-") as d:
        m = measure(Path(d), quick, runtime_only)
    print("packages: " + ("omnihub's runtime dependencies only (as `pip install omnihub`)" if runtime_only
                          else "everything in the development venv (--dev-venv)"))
    for label in ("idle", "busy"):
        print(f"{label}: {m[label]:.1f} MB PSS over {len(m[label + '_rows'])} processes")
        for pid, what, mb in m[label + "_rows"]:
            print(f"  {pid:>8}  {mb:7.1f} MB  {what}")
    print(f"sent {m['sent']}, delivered {m['delivered']}, errors {m['errors']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
