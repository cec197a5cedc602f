"""Real Redis Sentinel for tests: two redis-server processes (a master and its replica) and
three sentinels, on free loopback ports in a temp dir (Debian `redis-server`; the sentinels
are `redis-sentinel`, or `redis-server --sentinel` when only the server package is there).

Skips when the binaries are missing, unless OMNIHUB_REQUIRE_ALL=1 (then the test fails).
Timings follow /work/shared/RUNBOOK.md: down-after 2000 ms (1000 ms made sentinels flag the
new master down again after some failovers), failover-timeout 5000 ms, no diskless-sync delay.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis

from hub.embedded import free_port
from tests.support.components import require

SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
SENTINEL = shutil.which("redis-sentinel")
MASTER = "mymaster"
PASSWORD = "data-secret"  # the data servers' requirepass / masterauth
SENTINEL_PASSWORD = "sentinel-secret"  # the sentinels' own requirepass

SENTINEL_CONF = """\
port {port}
bind 127.0.0.1
dir {dir}
requirepass {sentinel_password}
sentinel sentinel-pass {sentinel_password}
sentinel monitor {master} 127.0.0.1 {master_port} 2
sentinel auth-pass {master} {password}
sentinel down-after-milliseconds {master} 2000
sentinel failover-timeout {master} 5000
sentinel parallel-syncs {master} 1
"""


def require_binaries() -> None:
    require(bool(SERVER), "redis-server (Redis Sentinel tests)", "apt-get install redis-server redis-sentinel (.ci/install-system-packages)")


def _wait(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # a process still starting
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


class SentinelCluster:
    """A master, a replica and three sentinels. ``data[port]``: the data servers' processes."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="omnihub-sentinel-", dir="/tmp"))
        self.data: dict[int, subprocess.Popen] = {}
        self.sentinels: dict[int, subprocess.Popen] = {}
        self.first_master = free_port()
        self.first_replica = free_port()

    # ---- processes -------------------------------------------------------------------
    def start_server(self, port: int, replica_of: int | None = None) -> None:
        d = self.dir / f"data-{port}"  # own dir: a replica writes dump.rdb despite --save ''
        d.mkdir(exist_ok=True)
        args = [SERVER or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--repl-diskless-sync-delay", "0", "--dir", str(d), "--requirepass", PASSWORD, "--masterauth", PASSWORD,
                "--logfile", str(d / "redis.log")]
        if replica_of:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.data[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: self.client(port).ping(), 10, f"redis-server on {port}")

    def start_sentinel(self) -> int:
        port = free_port()
        conf = self.dir / f"sentinel-{port}.conf"  # each its own: a sentinel rewrites its file
        conf.write_text(SENTINEL_CONF.format(port=port, dir=self.dir, master=MASTER, master_port=self.first_master,
                                             password=PASSWORD, sentinel_password=SENTINEL_PASSWORD))
        args = [SENTINEL, str(conf)] if SENTINEL else [SERVER or "redis-server", str(conf), "--sentinel"]
        log = open(self.dir / f"sentinel-{port}.log", "ab")
        self.sentinels[port] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        return port

    def start(self, timeout: float = 30.0) -> SentinelCluster:
        self.start_server(self.first_master)
        self.start_server(self.first_replica, replica_of=self.first_master)
        for _ in range(3):
            self.start_sentinel()
        self.wait_ready(self.first_master, timeout)
        return self

    def kill(self, port: int) -> None:
        """kill -9 a data server: no shutdown, no last words to its replica."""
        proc = self.data.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.data.values()]:
            if proc.poll() is None:
                proc.kill()
        for proc in [*self.sentinels.values(), *self.data.values()]:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.sentinels.clear()
        self.data.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients and state -----------------------------------------------------------
    def client(self, port: int, db: int = 0) -> Redis:
        return Redis(host="127.0.0.1", port=port, db=db, password=PASSWORD, socket_timeout=1, socket_connect_timeout=1)

    def sentinel(self, port: int) -> Redis:
        return Redis(host="127.0.0.1", port=port, password=SENTINEL_PASSWORD, socket_timeout=1, socket_connect_timeout=1,
                     decode_responses=True)

    @property
    def addresses(self) -> str:
        """OMNIHUB_REDIS_SENTINELS for this cluster."""
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinels)

    def url(self, db: int = 0) -> str:
        """OMNIHUB_REDIS_URL for this cluster: the data servers' password and a database (the
        host is a placeholder: with Sentinel it is not used)."""
        return f"redis://:{PASSWORD}@sentinel-managed/{db}"

    def named_master(self, sentinel_port: int) -> int | None:
        with self.sentinel(sentinel_port) as s:
            addr = s.sentinel_get_master_addr_by_name(MASTER)
        return int(addr[1]) if addr else None

    def all_name(self, port: int) -> bool:
        """Every sentinel names ``port`` as the master, and that server says it is one."""
        if not all(self.named_master(p) == port for p in self.sentinels):
            return False
        with self.client(port) as c:
            return c.info("replication")["role"] == "master"

    def wait_ready(self, master: int, timeout: float = 30.0) -> None:
        """Every sentinel names ``master``, knows the two others and one live replica that is
        in sync (so a failover has somewhere to go and loses nothing already replicated)."""

        def ready() -> bool:
            if not self.all_name(master):
                return False
            for p in self.sentinels:
                with self.sentinel(p) as s:
                    m = s.sentinel_master(MASTER)
                    replicas = [r for r in s.sentinel_slaves(MASTER) if not (r["is_sdown"] or r["is_odown"])]
                if m["num-other-sentinels"] < 2 or len(replicas) < 1:
                    return False
            with self.client(master) as c:
                info = c.info("replication")
            return info.get("connected_slaves", 0) >= 1 and info.get("slave0", {}).get("state") == "online"

        _wait(ready, timeout, f"Sentinel ready with master {master}")

    def failover(self) -> None:
        """SENTINEL FAILOVER: promote the replica now, as for a planned switch."""
        port = next(iter(self.sentinels))
        with self.sentinel(port) as s:
            s.execute_command("SENTINEL", "FAILOVER", MASTER)

    def wait_master(self, port: int, timeout: float = 30.0) -> None:
        try:
            _wait(lambda: self.all_name(port), timeout, f"every sentinel to name {port} the master")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe()}") from None

    def describe(self) -> str:
        """What each sentinel believes, and the tail of its log: for a failure message."""
        lines = []
        for p in self.sentinels:
            try:
                with self.sentinel(p) as s:
                    m = s.sentinel_master(MASTER)
                lines.append(f"sentinel {p}: master {m.get('ip')}:{m.get('port')} flags={m.get('flags')} "
                             f"epoch={m.get('config-epoch')} failover-state={m.get('failover-state')}")
            except Exception as exc:  # noqa: BLE001 - a diagnostic, whatever the sentinel says
                lines.append(f"sentinel {p}: {exc!r}")
            log = self.dir / f"sentinel-{p}.log"
            if log.exists():
                lines += ["  " + x for x in log.read_text(errors="replace").splitlines()[-25:]]
        return "\n".join(lines)
