"""Issue 14 item 4: a local user must not get code execution through Redis.

The embedded Redis requires a generated password (an unauthenticated client is refused), and
a real `omnihub worker` runs only omnihub's own job functions: a job naming `os.makedirs` or
`subprocess.getoutput`, enqueued directly with RQ, fails with the reason and runs nothing.
"""

from __future__ import annotations

import json

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ResponseError
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from hub import signing
from hub.embedded import EmbeddedRedis
from hub.models import Message
from hub.queues import queue_name
from tests.support.hub import wait_until

SECRET = "api-channel-secret-Rd55"


def refuses_unauthenticated(port: int) -> bool:
    anon = Redis(host="127.0.0.1", port=port, socket_connect_timeout=2)
    try:
        anon.set("omnihub-anon-probe", "1")
    except (AuthenticationError, ResponseError) as exc:  # NOAUTH / HELLO without AUTH
        return "auth" in str(exc).lower()
    finally:
        anon.close()
    return False


def test_embedded_redis_refuses_a_client_without_the_password(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    try:
        assert refuses_unauthenticated(server.port)
        assert Redis.from_url(server.url).ping()  # the URL it hands out carries the password
        assert server.password not in server.safe_url
        # the password is in a 0600 config file, not on the server's command line
        cmdline = (open(f"/proc/{server.proc.pid}/cmdline", "rb").read()).decode(errors="replace")
        assert server.password not in cmdline
        conf = tmp_path / "redis" / "valkey.conf"
        assert conf.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "redis").stat().st_mode & 0o777 == 0o700
    finally:
        server.stop()
    other = EmbeddedRedis(tmp_path / "redis2", persist=False)
    assert other.password != server.password and len(other.password) >= 32


def _job_status(job: Job) -> str:
    return job.get_status(refresh=True)


def _exc_string(job: Job) -> str:
    result = job.latest_result()
    return (result.exc_string if result else "") or ""


@pytest.mark.parametrize("worker_args", [["worker"], ["worker", "--fork"]], ids=["simple", "fork"])
def test_worker_refuses_jobs_that_are_not_omnihub_functions(hub, tmp_path, worker_args):
    hub.add_connector("web", "api", secret=SECRET)
    proc = hub.start("worker", *worker_args)
    redis = Redis.from_url(hub.settings.redis_url)
    queue = Queue(queue_name(hub.settings, "default"), connection=redis, serializer=JSONSerializer)
    made_dir = tmp_path / "made-by-os-makedirs"
    touched = tmp_path / "touched-by-getoutput"
    callback_dir = tmp_path / "made-by-callback"
    imported = tmp_path / "evilmod-was-imported"
    # a module on the worker's sys.path (its working directory) whose import has an effect:
    # a refused job is never even imported
    (hub.tmp / "evilmod.py").write_text(f"open({str(imported)!r}, 'w').close()\ndef run():\n    pass\n")
    jobs = [
        queue.enqueue("evilmod.run"),
        queue.enqueue("os.makedirs", str(made_dir)),
        queue.enqueue("subprocess.getoutput", f"touch {touched}"),
        queue.enqueue("posix.system", f"touch {touched}"),
        # an omnihub function with a foreign callback is refused too: callbacks are never imported
        queue.enqueue("workers.jobs.drain", "bogus-stage", 0, on_failure=Callback("os.makedirs"), on_success=Callback("os.makedirs")),
    ]
    for job in jobs:
        wait_until(lambda job=job: _job_status(job) in (JobStatus.FAILED, JobStatus.FINISHED), timeout=30,
                   message=f"the worker to take {job.func_name}")
    for job in jobs:
        assert _job_status(job) == JobStatus.FAILED, job.func_name
        assert "JobRefused" in _exc_string(job), _exc_string(job)
    assert "is not an omnihub job function" in _exc_string(jobs[1]) and "os.makedirs" in _exc_string(jobs[1])
    assert "names callbacks" in _exc_string(jobs[4])
    assert not made_dir.exists() and not touched.exists() and not callback_dir.exists() and not imported.exists()
    wait_until(lambda: "job.refused" in hub.output("worker"), timeout=10, message="the refusal in the worker log")
    log = hub.output("worker")
    assert "os.makedirs" in log and "subprocess.getoutput" in log
    # the worker is still alive and still does omnihub's own work
    assert proc.poll() is None
    body = json.dumps({"id": "after-attack", "from": {"id": "alice", "name": "Alice"}, "text": "still works"}).encode()
    resp = hub.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200
    wait_until(lambda: hub.count(Message) == 1, timeout=30, message="a real message processed after the refused jobs")


def test_every_job_omnihub_enqueues_is_on_the_allowlist():
    """A new job function must be added to hub.jobguard.JOB_FUNCTIONS, or workers refuse it."""
    import ast
    from pathlib import Path

    from hub.jobguard import JOB_FUNCTIONS

    root = Path(__file__).resolve().parents[2]
    found = set()
    for package in ("hub", "workers", "channels", "outbound", "normalizers", "config"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                name = getattr(node.func, "attr", "") if isinstance(node, ast.Call) else ""
                position = {"enqueue": 0, "enqueue_call": 0, "enqueue_at": 1, "enqueue_in": 1}.get(name)
                if position is None:
                    continue
                funcs = [k.value for k in node.keywords if k.arg in ("f", "func")] or node.args[position:position + 1]
                for arg in funcs:
                    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), \
                        f"{path}:{node.lineno}: enqueue a job by its dotted name (a string) so the allowlist can be checked"
                    found.add(arg.value)
    assert found, "no enqueue call found: the scan is broken"
    assert found <= JOB_FUNCTIONS, f"enqueued but not allowed in hub/jobguard.py JOB_FUNCTIONS: {found - JOB_FUNCTIONS}"
