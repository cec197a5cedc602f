"""Start-up errors: a malformed or unreachable OMNIHUB_DATABASE_URL is one clear line and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return port


def _omnihub(tmp_path, db_url, *args):
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("tokens", "list"), ("run",)])
def test_unreachable_database_is_one_line_naming_the_variable(tmp_path, args):
    r = _omnihub(tmp_path, f"postgresql+psycopg://omnihub:s3cr3t-pw@127.0.0.1:{_closed_port()}/omnihub", *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "OMNIHUB_DATABASE_URL" in lines[0] and "fix:" in lines[0]
    assert "Traceback" not in r.stderr and "s3cr3t-pw" not in r.stderr


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_malformed_database_url_is_one_line_naming_the_variable(tmp_path, url):
    r = _omnihub(tmp_path, url, "tokens", "list")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "OMNIHUB_DATABASE_URL" in lines[0] and "fix:" in lines[0]


def _exits(args: list[str], env: dict[str, str], failure: str) -> tuple[int, str]:
    """`omnihub <args>` that must exit by itself: (return code, stderr); one that keeps running
    (the failure these tests exist for) is killed and the test fails with ``failure``."""
    p = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        _out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        _out, err = p.communicate()
        pytest.fail(f"{failure}; it said:\n{err[-2000:]}")
    return p.returncode, err


def test_port_in_use_is_one_line_and_no_restart_loop(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_HOST": "127.0.0.1", "OMNIHUB_PORT": str(port)}
    env.pop("OMNIHUB_DATABASE_URL", None)
    try:
        code, err = _exits(["run"], env, "omnihub run did not exit although the port is in use")
    finally:
        busy.close()
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"OMNIHUB_PORT={port}" in lines[0] and "fix:" in lines[0]


# ---- Redis at a worker's start ------------------------------------------------------------

def _worker_once(tmp_path, **env):
    """`omnihub worker` that must exit by itself: (return code, stderr)."""
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'omnihub.db'}", **env}
    for key in ("OMNIHUB_REDIS_SENTINELS", "OMNIHUB_REDIS_SENTINEL_MASTER", "OMNIHUB_REDIS_SENTINEL_PASSWORD"):
        env.setdefault(key, "")
    return _exits(["worker"], env, "omnihub worker did not exit on a configuration error")


def _one_error_line(rc: int, err: str, setting: str) -> str:
    assert rc != 0
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and setting in lines[0] and "fix:" in lines[0], lines[0]
    assert len(lines[0]) < 600, lines[0]
    return lines[0]


@pytest.fixture
def redis_with_password():
    """One real redis-server (password tests.support.sentinel.PASSWORD) on a free port."""
    from hub.embedded import free_port
    from tests.support.sentinel import SentinelCluster, require_binaries

    require_binaries()
    own = SentinelCluster()  # only its data-server helper
    port = free_port()
    own.start_server(port)
    yield own, port
    own.stop()


def test_worker_with_a_wrong_redis_password_exits_with_one_line(tmp_path, redis_with_password):
    _own, port = redis_with_password
    line = _one_error_line(*_worker_once(tmp_path, OMNIHUB_REDIS_URL=f"redis://:wrong-pw@127.0.0.1:{port}/0"), "OMNIHUB_REDIS_URL")
    assert "password" in line and "wrong-pw" not in line
    line = _one_error_line(*_worker_once(tmp_path, OMNIHUB_REDIS_URL=f"redis://127.0.0.1:{port}/0"), "OMNIHUB_REDIS_URL")
    assert "requires a password" in line


@pytest.mark.parametrize("command", [["worker"], ["poll"], ["web"], ["stats"]])
def test_a_malformed_redis_url_is_one_line_for_every_process(tmp_path, command):
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'omnihub.db'}",
           "OMNIHUB_REDIS_URL": "notaurl"}
    code, err = _exits(command, env, f"omnihub {command[0]} did not exit on a malformed OMNIHUB_REDIS_URL")
    assert code == 2 and "Traceback" not in err, err  # an invalid setting, like any other
    [line] = err.strip().splitlines()
    assert line.startswith("invalid setting: OMNIHUB_REDIS_URL") and "redis://" in line and "'notaurl'" in line, line


def test_worker_with_a_master_name_the_sentinels_do_not_know_exits_with_one_line(tmp_path, sentinel_cluster):
    from tests.support.sentinel import MASTER, SENTINEL_PASSWORD

    env = {"OMNIHUB_REDIS_URL": sentinel_cluster.url(), "OMNIHUB_REDIS_SENTINELS": sentinel_cluster.addresses,
           "OMNIHUB_REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD}
    line = _one_error_line(*_worker_once(tmp_path, **env, OMNIHUB_REDIS_SENTINEL_MASTER="nosuchmaster"), "OMNIHUB_REDIS_SENTINEL_MASTER")
    assert "'nosuchmaster'" in line and MASTER in line and "answered" in line  # what the sentinels monitor instead
    env.update(OMNIHUB_REDIS_SENTINEL_MASTER=MASTER, OMNIHUB_REDIS_URL="redis://sentinel-managed/0")  # no password
    line = _one_error_line(*_worker_once(tmp_path, **env), "OMNIHUB_REDIS_URL")
    assert "requires a password" in line


def test_worker_waits_for_redis_that_is_not_there_yet_then_works(tmp_path):
    """Nothing listens on the Redis port: the worker keeps running and says, in one line, which
    setting and what to do; once a redis-server listens there, it starts and stores a message.
    A poller then started, when Redis goes away under it, logs short lines, not tracebacks."""
    from hub.embedded import free_port
    from hub.models import Message
    from tests.faults.support import SECRET, api_body, post
    from tests.support.hub import Hub, wait_until
    from tests.support.sentinel import PASSWORD, SentinelCluster, require_binaries

    require_binaries()
    own = SentinelCluster()
    port = free_port()
    try:
        h = Hub(tmp_path / "hub", f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
        try:
            h.add_connector("web", "api", secret=SECRET)
            h.start_worker()
            wait_until(lambda: "worker.waiting_for_redis" in h.output("worker"), timeout=60, interval=0.1,
                       message="the worker to say it waits for Redis")
            out = h.output("worker")
            waiting = [x for x in out.splitlines() if "worker.waiting_for_redis" in x]
            assert "OMNIHUB_REDIS_URL" in waiting[0] and f"127.0.0.1:{port}" in waiting[0] and "fix:" in waiting[0]
            assert "Traceback" not in out and PASSWORD not in out and len(waiting[0]) < 600
            assert h.procs["worker"].poll() is None
            own.start_server(port)
            wait_until(lambda: "worker.redis_back" in h.output("worker"), timeout=60, interval=0.1,
                       message="the worker to see Redis answer")
            assert post(h.client, api_body(1)).status_code == 200
            wait_until(lambda: h.count(Message) == 1, timeout=60, interval=0.1, message="the message stored by the worker")
            assert h.procs["worker"].poll() is None and "Traceback" not in h.output("worker")
            # a poller that loses Redis while it runs says so in short lines, not tracebacks
            h.start_poller()
            wait_until(lambda: "lease.acquired" in h.output("poller"), timeout=60, interval=0.1, message="the poller's leases")
            own.stop()
            wait_until(lambda: "poller.tick_failed" in h.output("poller"), timeout=60, interval=0.1,
                       message="the poller's tick to meet the missing Redis")
            failed = [x for x in h.output("poller").splitlines() if "tick_failed" in x]
            assert "Traceback" not in h.output("poller") and all(len(x) < 600 and "ConnectionError" in x for x in failed), failed
        finally:
            h.close()
    finally:
        own.stop()


def test_poller_with_a_wrong_redis_password_exits_with_one_line(tmp_path, redis_with_password):
    """`omnihub poll` checks Redis before it starts, as the worker does (it used to run on,
    logging an unnamed Redis error every 5 s)."""
    _own, port = redis_with_password
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'omnihub.db'}",
           "OMNIHUB_REDIS_URL": f"redis://:wrong-pw@127.0.0.1:{port}/0",
           "OMNIHUB_REDIS_SENTINELS": "", "OMNIHUB_REDIS_SENTINEL_MASTER": ""}
    subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    line = _one_error_line(*_exits(["poll"], env, "omnihub poll did not exit on a refused password"), "OMNIHUB_REDIS_URL")
    assert "password" in line and "wrong-pw" not in line
