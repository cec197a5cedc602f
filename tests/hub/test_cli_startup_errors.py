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
