"""`omnihub worker --poll`: one process that works the queues and runs the poller on a thread
(what `omnihub run` starts, one process fewer on a small machine)."""

from __future__ import annotations

import json
import signal
import time

from hub import signing
from hub.models import Delivery
from tests.support.hub import wait_until

SECRET = "s3cret-api-key"


def _leases(hub) -> list[dict]:
    resp = hub.api("GET", "/api/v1/stats/queues")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["leases"]


def _pid_of(owner: str) -> int:
    return int(owner.split(":")[-2])


def test_a_worker_with_poll_holds_the_leases_works_the_queues_and_gives_the_leases_back(make_hub):
    hub = make_hub(poll_lease_seconds=3, sweep_interval=0.2)
    hub.add_connector("web", "api", secret=SECRET)
    proc = hub.start("worker", "worker", "--poll")

    # the poller on the worker's thread takes the periodic jobs' leases (the sweeper among them)
    # the same periodic jobs as `omnihub poll`: the sweeper, the SLA timer and the teams' assignment timer
    want = {"sweeper", "timer:sla", "timer:assignment"}
    held = wait_until(lambda: (rows := [row for row in _leases(hub) if _pid_of(row["owner"]) == proc.pid])
                      and want <= {row["name"] for row in rows} and rows, timeout=60,
                      message="the sweeper and timer leases held by the worker's poller")
    assert want <= {row["name"] for row in held}, held

    # and the same process works the queues: a message is stored and pushed to the inbox
    body = json.dumps({"id": "m1", "from": {"id": "alice"}, "text": "Hello, I need help"}).encode()
    resp = hub.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    wait_until(lambda: hub.count(Delivery, Delivery.state == "delivered") == 1, timeout=60, message="the message delivered")

    # SIGTERM: the poller gives its leases back at once (nobody waits for them to expire) and
    # the worker stops
    proc.send_signal(signal.SIGTERM)
    wait_until(lambda: not [row for row in _leases(hub) if _pid_of(row["owner"]) == proc.pid], timeout=30,
               message="the leases given back")
    assert proc.wait(15) == 0
    assert "poller.crashed" not in hub.output("worker") and "worker.restarting" not in hub.output("worker")
    stopped = [x for x in hub.output("worker").splitlines() if "poller.stopped" in x]  # and says so
    assert len(stopped) == 1 and "sweeper" in stopped[0] and "leases_released" in stopped[0], stopped


def test_poll_cannot_be_combined_with_fork(hub):
    out = hub.cli("worker", "--poll", "--fork")
    assert out.returncode == 2
    assert "--poll" in out.stderr and "--fork" in out.stderr


def test_an_idle_worker_stops_at_once_on_sigterm(hub):
    """A SIGTERM to a worker waiting for jobs ended RQ's loop the way a lost Redis does, so
    `omnihub worker` started a new loop and kept running (a supervisor's stop waited for its
    SIGKILL); and RQ's teardown could wait up to a minute for its
    pub/sub listener. Now the worker exits with 0 at once, right after a job."""
    hub.add_connector("web", "api", secret=SECRET)
    for n in range(3):  # the pub/sub wait was a race: one stop in a few
        proc = hub.start_worker(f"worker{n}")
        body = json.dumps({"id": f"m{n}", "from": {"id": "alice"}, "text": "Hello"}).encode()
        resp = hub.client.post("/webhooks/web/messages", data=body,
                               headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
        assert resp.status_code == 200
        wait_until(lambda n=n: hub.count(Delivery, Delivery.state == "delivered") == n + 1, timeout=60, message=f"m{n} delivered")
        hub.wait_idle()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, hub.output(f"worker{n}")
        assert time.monotonic() - started < 5, f"the worker took {time.monotonic() - started:.1f} s to stop"
        assert "worker.restarting" not in hub.output(f"worker{n}")
        hub.procs.pop(f"worker{n}")
