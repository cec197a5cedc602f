"""PostgreSQL restarted mid-run: webhooks answer 503 (with Retry-After) while it is down, the
provider retries, and nothing acknowledged is lost. Runs on its OWN throwaway cluster
(initdb + pg_ctl as the `postgres` user, temp dir, loopback port), never the shared one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

import pytest
from sqlalchemy import select

from hub.models import InboundEvent, Message
from tests.faults.support import SECRET, api_body, post, size
from tests.support.components import require
from tests.support.hub import Hub, wait_until


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class OwnPostgres:
    def __init__(self) -> None:
        from hub.embedded import free_port

        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="omnihub-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")

    def _run(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=60)

    def init(self) -> OwnPostgres:
        self._run(_bin("initdb"), "-D", self.data, "--auth=trust", "-U", "postgres", "-E", "UTF8")
        return self

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", self.data, "-w", "-l", os.path.join(self.dir, "log"),
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}", "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", self.data, "-w", "-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        try:
            self.stop()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_pg():
    ok = bool(_bin("initdb") and _bin("pg_ctl") and shutil.which("runuser") and os.geteuid() == 0)
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        ok = False
    require(ok, "PostgreSQL server binaries (initdb, pg_ctl) and a `postgres` user", "apt-get install postgresql")
    pg = OwnPostgres().init()
    pg.start()
    yield pg
    pg.destroy()


def test_postgres_restart_503_while_down_and_nothing_acknowledged_is_lost(own_pg, tmp_path, redis_url):
    n = size(200, 2000)
    h = Hub(tmp_path / "hub", redis_url, database_url=own_pg.url, sweep_after=1.0, lease_seconds=3.0, batch_size=50)
    try:
        h.add_connector("web", "api", secret=SECRET)
        h.start_worker()
        h.start_poller()
        acked: set[str] = set()
        for i in range(n // 2):
            assert post(h.client, api_body(i)).status_code == 200
            acked.add(f"m{i}")
        h.app.extensions.get("omnihub.webhook_cache", {}).clear()
        own_pg.stop()
        refused = []
        for i in range(n // 2, n // 2 + 20):
            resp = post(h.client, api_body(i))
            assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True)[:200])
            assert resp.headers.get("Retry-After") and "Traceback" not in resp.get_data(as_text=True)
            refused.append(i)
        own_pg.start()
        for i in refused + list(range(n // 2 + 20, n)):  # the provider retries what got 503
            resp = post(h.client, api_body(i))
            if resp.status_code == 503:  # the pool may need one more try to reconnect
                resp = post(h.client, api_body(i))
            assert resp.status_code == 200
            acked.add(f"m{i}")
        wait_until(lambda: h.count(Message) == len(acked), timeout=90, interval=0.3, message="all acknowledged stored")
        with h.rt.db.read() as s:
            stored = set(s.scalars(select(Message.external_id)))
        assert stored == acked and len(acked) == n
        assert h.count(InboundEvent, InboundEvent.state != "processed") == 0
    finally:
        h.close()
