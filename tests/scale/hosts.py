"""Simulated hosts for the multi-host proof: each host is one process group (its own session)
with an `omnihub web`, an `omnihub worker` and an `omnihub poll`, its own var dir and web port,
against the one PostgreSQL and the one Redis every host shares (and one shared attachment
folder, as docs/deployment.md asks of real hosts). Killing a host is ``kill -9`` of its process
group: web, worker and poller die at the same instant, with no cleanup.

Network namespaces joined by veth pairs would be closer to real machines, but the shared
PostgreSQL and Redis of the test machine listen on the main namespace's loopback, which a
separate namespace cannot reach without routing the host's own services; process groups with
their own var dirs and ports are what this machine allows.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.dovecot import free_port
from tests.support.hub import Hub, settings_env


class Host:
    def __init__(self, name: str, hub: Hub, root: Path, attachments: Path) -> None:
        self.name = name
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **settings_env(hub.settings),
            "OMNIHUB_VAR_DIR": str(self.dir / "var"),
            "OMNIHUB_ATTACHMENT_DIR": str(attachments),
            "OMNIHUB_HOST": "127.0.0.1",
            "OMNIHUB_PORT": str(self.port),
            "OMNIHUB_WEB_WORKERS": "1",
        }
        self.leader: subprocess.Popen
        self.pgid: int | None = None
        self.dead = False

    def start(self) -> None:
        """One session (and process group) per host: a shell leads it and starts the three roles."""
        py = shlex.quote(sys.executable)
        roles = " ".join(f"{py} -m hub.cli {args} >>{role}.log 2>&1 &" for role, args in (("web", "web"), ("worker", "worker"), ("poller", "poll")))
        self.leader = subprocess.Popen(["/bin/sh", "-c", f"{roles} wait"], env=self.env, cwd=str(self.dir), start_new_session=True)
        self.pgid = self.leader.pid

    def pids(self) -> set[int]:
        """Every process of the host's group (the roles, gunicorn's worker)."""
        out = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.pgid and fields[0] != "Z":
                out.add(int(stat.parent.name))
        return out

    def up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9 of the whole process group: the host is gone, mid-whatever."""
        assert self.pgid is not None
        os.killpg(self.pgid, signal.SIGKILL)
        self.dead = True
        self.leader.wait(10)

    def stop(self, grace: float = 3.0) -> None:
        if self.dead or self.pgid is None:
            return
        try:
            os.killpg(self.pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.leader.wait(10)
        self.dead = True

    def log(self, role: str) -> str:
        path = self.dir / f"{role}.log"
        return path.read_text(errors="replace") if path.exists() else ""
