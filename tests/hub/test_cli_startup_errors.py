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


def test_port_in_use_is_one_line_and_no_restart_loop(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    env = {**os.environ, "OMNIHUB_VAR_DIR": str(tmp_path), "OMNIHUB_HOST": "127.0.0.1", "OMNIHUB_PORT": str(port)}
    env.pop("OMNIHUB_DATABASE_URL", None)
    p = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        _out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)  # it kept running: the failure this test exists for
        p.communicate()
        pytest.fail("omnihub run did not exit although the port is in use")
    finally:
        busy.close()
    assert p.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"OMNIHUB_PORT={port}" in lines[0] and "fix:" in lines[0]
