"""`omnihub web` with several workers loads the app once in gunicorn's master (``--preload``)
and forks the workers from it: each worker still opens its own database connections and the
journal takes concurrent webhooks from both."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from hub import signing
from hub.embedded import free_port
from hub.models import InboundEvent
from tests.support.hub import wait_until

SECRET = "s3cret-api-key"


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def test_preloaded_web_workers_take_concurrent_webhooks(hub):
    hub.add_connector("site", "api", secret=SECRET)
    port = free_port()
    proc = hub.start("web", "web", "--workers", "2", env={"OMNIHUB_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _up(f"{base}/healthz"), timeout=60, message="the web process answering")
    assert b"--preload" in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    wait_until(lambda: len(_children(proc.pid)) == 2, timeout=30, message="two gunicorn workers")

    def post(i: int) -> int:
        body = json.dumps({"id": f"m{i}", "from": {"id": f"c{i % 5}"}, "text": f"message {i}"}).encode()
        headers = {"Content-Type": "application/json", **signing.sign(SECRET, body)}
        with httpx.Client(timeout=30) as c:
            return c.post(f"{base}/webhooks/site/messages", content=body, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(post, range(60)))
    assert codes == [200] * 60
    assert hub.count(InboundEvent) == 60


def test_one_web_worker_is_not_preloaded(hub):
    port = free_port()
    proc = hub.start("web", "web", "--workers", "1", env={"OMNIHUB_PORT": str(port)})
    wait_until(lambda: _up(f"http://127.0.0.1:{port}/healthz"), timeout=60, message="the web process answering")
    assert b"--preload" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
