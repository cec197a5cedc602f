"""Issue 14 items 10 and 4: omnihub's files are its user's only, secrets stay off the command
line, and `omnihub run` keeps the embedded Redis password out of the banner and the logs.

Everything here runs the real CLI as a subprocess (with a permissive umask 022, as a login
shell has) and checks the modes on disk afterwards."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from redis import Redis

from hub.connectors import ConnectorService
from hub.embedded import free_port
from tests.security.test_local_redis import refuses_unauthenticated
from tests.support.hub import REPO, wait_until


def _umask_022() -> None:
    os.umask(0o022)


def _env(var: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIHUB_")}
    env.update({"OMNIHUB_VAR_DIR": str(var), "PYTHONPATH": str(REPO), **extra})
    return env


def _omnihub(cwd: Path, env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          input=input, timeout=120, preexec_fn=_umask_022)


def _open_to_others(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that group or others can access."""
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.S_IMODE(path.stat().st_mode):o}")
    return found


def test_db_upgrade_leaves_the_var_dir_private_and_narrows_what_an_older_version_left(tmp_path):
    var = tmp_path / "var"
    env = _env(var)
    out = _omnihub(tmp_path, env, "db", "upgrade")
    assert out.returncode == 0, out.stderr
    assert (var / "omnihub.db").exists() and (var / "secret_key").exists()
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert _open_to_others(var) == []
    # what an older omnihub left world-readable is narrowed at the next start
    for path in [var, *var.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    out = _omnihub(tmp_path, env, "db", "upgrade")
    assert out.returncode == 0, out.stderr
    assert _open_to_others(var) == []
    assert stat.S_IMODE((var / "omnihub.db").stat().st_mode) == 0o600


def test_a_sqlite_database_outside_the_var_dir_is_private_too(tmp_path):
    db = tmp_path / "elsewhere" / "hub.db"
    db.parent.mkdir()
    out = _omnihub(tmp_path, _env(tmp_path / "var", OMNIHUB_DATABASE_URL=f"sqlite:///{db}"), "db", "upgrade")
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_omnihub_run_files_are_private_and_the_redis_password_is_never_shown(tmp_path):
    port = free_port()
    var = tmp_path / "var"
    env = _env(var, OMNIHUB_PORT=str(port))
    log = tmp_path / "run.log"
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], env=env, cwd=tmp_path, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_umask_022)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=90, interval=0.3, message="omnihub run ready")
        # a message through the whole flow: the web, worker and poller processes write the
        # database (WAL and SHM) and the attachment folder exists
        sim = _omnihub(tmp_path, env, "simulate", "demo", "--text", "hello", "--from", "alice")
        assert sim.returncode == 0, sim.stdout + sim.stderr
        wait_until(lambda: (var / "omnihub.db-wal").exists() and (var / "omnihub.db-shm").exists(), timeout=30,
                   message="SQLite WAL and SHM files")
        redis_url = (var / "redis.url").read_text().strip()
        password = re.fullmatch(r"redis://:([^@]+)@127\.0\.0\.1:(\d+)/0", redis_url)
        assert password, "the embedded Redis URL carries a generated password"
        secret, redis_port = password.group(1), int(password.group(2))
        assert len(secret) >= 32
        assert refuses_unauthenticated(redis_port)
        assert Redis.from_url(redis_url).ping()
        assert stat.S_IMODE(var.stat().st_mode) == 0o700
        assert (var / "attachments").is_dir()
        assert _open_to_others(var) == [], "every file under VAR_DIR is 0600, every folder 0700"
        banner = log.read_text()
        assert "omnihub is running at" in banner and "redis://:***@127.0.0.1" in banner
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "omnihub stopped" in text
    assert secret not in text, "the Redis password reached the banner or a log"
    for path in var.rglob("*.log"):
        assert secret not in path.read_text(errors="replace"), path


# --------------------------------------------------------------------------- secrets
def _secret(hub, name: str, key: str) -> str:
    svc = ConnectorService(hub.rt)
    with hub.rt.db.read() as s:
        return svc.values(svc.get(s, name))[key]


def test_set_secret_reads_stdin_and_the_environment_never_the_command_line(hub):
    out = hub.cli("connectors", "add", "api", "--name", "from-stdin", "--set-secret", "secret", input="stdin-secret-Kd81\n")
    assert out.returncode == 0, out.stderr
    assert _secret(hub, "from-stdin", "secret") == "stdin-secret-Kd81"
    assert "stdin-secret-Kd81" not in out.stdout + out.stderr and "warning" not in out.stderr

    out = hub.cli("connectors", "add", "api", "--name", "from-env", "--set-secret", "secret=env:SITE_SECRET",
                  env={"SITE_SECRET": "env-secret-Jq22"})
    assert out.returncode == 0, out.stderr
    assert _secret(hub, "from-env", "secret") == "env-secret-Jq22"

    out = hub.cli("connectors", "set", "from-env", "--set-secret", "secret", input="rotated-secret-Pw90\n")
    assert out.returncode == 0, out.stderr
    assert _secret(hub, "from-env", "secret") == "rotated-secret-Pw90"

    # two secret keys from stdin: one line each, in order (twilio: auth_token is secret)
    from tests.contract.examples import EXAMPLES

    plain = [f"{k}={v}" for k, v in EXAMPLES["twilio"].items() if k != "auth_token" and isinstance(v, str)]
    args = ["connectors", "add", "twilio", "--name", "tw"]
    for pair in plain:
        args += ["--set", pair]
    out = hub.cli(*args, "--set-secret", "auth_token", input="twilio-token-Ab12\n")
    assert out.returncode == 0, out.stderr
    assert _secret(hub, "tw", "auth_token") == "twilio-token-Ab12"

    # a literal value is refused (it would be on the command line), as are missing sources
    bad = hub.cli("connectors", "add", "api", "--name", "literal", "--set-secret", "secret=oops-on-the-command-line")
    assert bad.returncode == 1 and "KEY=env:VAR" in bad.stderr and "oops-on-the-command-line" not in bad.stderr
    bad = hub.cli("connectors", "add", "api", "--name", "noenv", "--set-secret", "secret=env:NOT_SET_ANYWHERE")
    assert bad.returncode == 1 and "NOT_SET_ANYWHERE is not set" in bad.stderr
    bad = hub.cli("connectors", "add", "api", "--name", "nostdin", "--set-secret", "secret", input="")
    assert bad.returncode == 1 and "stdin ended" in bad.stderr
    assert hub.cli("connectors", "show", "literal").returncode == 1


def test_set_with_a_secret_key_still_works_and_warns(hub):
    out = hub.cli("connectors", "add", "api", "--name", "scripted", "--set", "secret=cli-secret-Zz19", "--set", "widget=true")
    assert out.returncode == 0, out.stderr
    assert _secret(hub, "scripted", "secret") == "cli-secret-Zz19"
    assert "warning: --set secret=... puts a secret on the command line" in out.stderr and "--set-secret secret" in out.stderr
    assert "cli-secret-Zz19" not in out.stderr
    out = hub.cli("connectors", "set", "scripted", "--set", "widget=false")
    assert out.returncode == 0 and "warning" not in out.stderr  # not a secret: no warning


def test_set_secret_asks_with_a_hidden_prompt_on_a_terminal(hub):
    from tests.support.hub import settings_env

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "connectors", "add", "api", "--name", "typed", "--set-secret", "secret"],
                            env=settings_env(hub.settings), cwd=hub.tmp, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)  # no controlling terminal: getpass uses the pty on stdin
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"input hidden" not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 1024)
        os.write(master, b"typed-secret-Vv33\n")
        assert proc.wait(60) == 0
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"typed-secret-Vv33" not in seen, "the typed secret was echoed"
    assert b"added api connector 'typed'" in seen
    assert _secret(hub, "typed", "secret") == "typed-secret-Vv33"
