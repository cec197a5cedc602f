"""`omnihub run`: the one-machine mode with embedded defaults, as a newcomer starts it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from hub.embedded import free_port
from tests.support.hub import REPO, wait_until


def test_omnihub_run_starts_everything_and_takes_a_simulated_message(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update({"OMNIHUB_PORT": str(port), "OMNIHUB_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(REPO)})
    log = tmp_path / "run.log"
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=env, cwd=tmp_path,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, interval=0.3, message="omnihub run ready")
        out = log.read_text()
        assert f"omnihub is running at {base}" in out
        login = re.search(r"admin login \(first run.*\): (\S+) / (\S+)", out)
        assert login and login.group(1) == "admin@omnihub.local"
        assert "omnihub simulate demo" in out
        assert f"chat widget (demo): accepts pages from {base} only" in out and "--set widget_origins=" in out
        assert (tmp_path / "var" / "secret_key").exists() and (tmp_path / "var" / "omnihub.db").exists()

        def cli(*args):
            return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60)

        # from another terminal that does not know the port: found through VAR_DIR/web.url
        assert (tmp_path / "var" / "web.url").read_text().strip() == base
        other_terminal = {k: v for k, v in env.items() if k != "OMNIHUB_PORT"}
        sim = subprocess.run([sys.executable, "-m", "hub.cli", "simulate", "demo", "--text", "Hello, I need help", "--from", "alice"],
                             env=other_terminal, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert sim.returncode == 0 and f"POST {base}/webhooks/demo/" in sim.stdout and "-> 200" in sim.stdout, sim.stdout + sim.stderr
        token = cli("tokens", "create", "--email", "admin@omnihub.local").stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}

        def conversations():
            return httpx.get(f"{base}/api/v1/conversations", headers=headers, timeout=5).json()["items"]

        conv = wait_until(conversations, timeout=30, message="the simulated message as a conversation")[0]
        assert conv["subject"] == "Hello, I need help" and conv["customer"]["address"] == "demo:alice"
        # an agent reply on the demo connector is delivered (to the chat widget)
        r = httpx.post(f"{base}/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi Alice"}, headers=headers, timeout=5)
        assert r.status_code == 202
        wait_until(lambda: httpx.get(f"{base}/api/v1/replies/{r.json()['id']}", headers=headers, timeout=5).json()["state"] == "sent",
                   timeout=30, message="reply sent")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "omnihub stopped" in log.read_text()
    wait_until(lambda: not (tmp_path / "var" / "redis.url").exists(), timeout=10, message="embedded Redis stopped")
    assert not (tmp_path / "var" / "web.url").exists()  # a stopped instance is not found by simulate
    
