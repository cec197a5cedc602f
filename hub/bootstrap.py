"""`omnihub run`: everything on one machine with embedded defaults.

The process that supervises the others stays small: the settings, the migrations and the
first-run setup run in a short-lived child (`omnihub run-setup`, ``setup`` below), so the
supervisor imports neither pydantic nor SQLAlchemy nor an adapter; every process it starts
imports only what its own work needs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import click

DEMO_CONNECTOR = "demo"
ADMIN_EMAIL = "admin@omnihub.local"


def first_run_setup(rt) -> dict[str, str]:
    """Create the first admin and a demo api connector. Returns what to tell the user."""
    from sqlalchemy import func, select

    from hub.auth import create_user
    from hub.connectors import ConnectorService
    from hub.models import Connector, User

    told: dict[str, str] = {}
    with rt.db.session() as s:
        if s.scalar(select(func.count()).select_from(User)) == 0:
            _user, password = create_user(s, ADMIN_EMAIL, "admin", name="Admin")
            told["admin"] = f"{ADMIN_EMAIL} / {password}"
            cred = rt.settings.var_dir / "admin-credentials.txt"
            fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"{ADMIN_EMAIL}\n{password}\n")
        if s.scalar(select(Connector).where(Connector.name == DEMO_CONNECTOR)) is None:
            # the demo connector also serves the chat widget, so agent replies have somewhere to go
            ConnectorService(rt).create(
                s, DEMO_CONNECTOR, "api", {"secret": secrets.token_urlsafe(24), "widget": True}, actor="bootstrap"
            )
    return told


def safe_url(url: str) -> str:
    """A URL with any password masked, for the banner."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def _check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the web port is taken (instead of a web restart loop)."""
    import socket

    from hub.errors import OmnihubError

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise OmnihubError(f"OMNIHUB_HOST={host!r} cannot be resolved ({exc}); fix: set OMNIHUB_HOST to a local address such as 127.0.0.1") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the web server does: TIME_WAIT is no conflict
        try:
            s.bind(addr)
        except OSError as exc:
            raise OmnihubError(
                f"OMNIHUB_PORT={port}: cannot listen on {host}:{port} ({exc.strerror}); "
                "fix: stop the process using it or set OMNIHUB_PORT (or --port) to a free port"
            ) from None


def setup(host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """The one-shot part of `omnihub run` (in the `run-setup` child): the settings, private
    state files, a free web port, migrations, the built-in inbox, the first admin and the demo
    connector. Returns what the supervisor needs (the secret key included: it goes back over
    a pipe, into the children's environments only)."""
    from config.settings import load_settings
    from hub.connectors import ensure_builtin
    from hub.files import protect_state
    from hub.logging import configure
    from hub.migrate import upgrade
    from hub.runtime import Runtime

    overrides: dict[str, Any] = {}
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    settings = load_settings(**overrides)
    protect_state(settings)  # before the database and Redis files are created
    configure(settings.log_level, settings.log_format)
    _check_port_free(settings.host, settings.port)
    upgrade(settings.effective_database_url)
    rt = Runtime(settings)  # no Redis needed for this
    try:
        ensure_builtin(rt)
        told: dict[str, Any] = first_run_setup(rt)
    finally:
        rt.close()
    told.update({
        "database": safe_url(settings.effective_database_url),
        "embedded_redis": not settings.redis_url and not settings.redis_sentinels,
        "safe_redis_url": safe_url(settings.redis_url or ""),
        "secret_key": settings.secret_key,
        "host": settings.host,
        "port": settings.port,
        "var_dir": str(settings.var_dir),
        "public_url": settings.effective_public_url,
        "worker_processes": settings.worker_processes,
        # one machine, one small desk: one web process (its threads serve the requests) unless
        # OMNIHUB_WEB_WORKERS says otherwise; `omnihub web` alone keeps the setting's default
        "web_workers": settings.web_workers if "web_workers" in settings.model_fields_set else 1,
    })
    return told


def run_all(host: str | None = None, port: int | None = None) -> None:
    from pathlib import Path

    from hub.embedded import EmbeddedRedis

    # settings, migrations and the first-run setup in a child: their imports never weigh on
    # this process; its errors are its own one line on stderr
    args = [sys.executable, "-m", "hub.cli", "run-setup"] + (["--host", host] if host else []) + (["--port", str(port)] if port else [])
    done = subprocess.run(args, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    told: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    var_dir = Path(told["var_dir"])
    env = dict(os.environ)
    env.update({
        "OMNIHUB_SECRET_KEY": told["secret_key"],
        "OMNIHUB_HOST": told["host"],
        "OMNIHUB_PORT": str(told["port"]),
        "OMNIHUB_VAR_DIR": str(var_dir),
    })
    redis_proc = None
    marker = var_dir / "redis.url"
    if told["embedded_redis"]:
        redis_proc = EmbeddedRedis(var_dir / "redis", persist=True).start()
        env["OMNIHUB_REDIS_URL"] = redis_proc.url
        # the URL holds the password: 0600, like secret_key (other CLI commands read it)
        marker.unlink(missing_ok=True)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(redis_proc.url + "\n")

    cli = [sys.executable, "-m", "hub.cli"]
    specs = {
        "web": cli + ["web", "--workers", str(told["web_workers"])],
        # the first worker also runs the poller: one Python process fewer on a small machine
        **{f"worker{i + 1}": cli + ["worker"] + (["--poll"] if i == 0 else []) for i in range(int(told["worker_processes"]))},
    }
    procs: dict[str, subprocess.Popen] = {}
    restarts: dict[str, float] = {}
    stopping = False

    def start(name: str) -> None:
        procs[name] = subprocess.Popen(specs[name], env=env)

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name in specs:
        start(name)
    # where this instance listens, for `omnihub simulate` (and scripts) in another terminal
    local_host = "127.0.0.1" if told["host"] in ("0.0.0.0", "::", "") else told["host"]
    local_host = f"[{local_host}]" if ":" in local_host else local_host
    web_url = var_dir / "web.url"
    web_url.write_text(f"http://{local_host}:{told['port']}\n")

    url = told["public_url"]
    lines = [
        "",
        f"omnihub is running at {url}",
        f"  inbox: {url}/inbox   admin: {url}/admin   API: {url}/api/v1/openapi.json",
        f"  database: {told['database']}",
        f"  redis: {redis_proc.safe_url + ' (embedded, password in ' + str(marker) + ')' if redis_proc else told['safe_redis_url']}",
    ]
    if "admin" in told:
        lines.append(f"  admin login (first run, also in {var_dir}/admin-credentials.txt): {told['admin']}")
    else:
        lines.append(f"  admin login: see {var_dir}/admin-credentials.txt (created on the first run)")
    lines += [
        "  send a test message (in another terminal):",
        f"    .venv/bin/omnihub simulate {DEMO_CONNECTOR} --text 'Hello, I need help' --from alice",
        "  then see it: open the inbox, or",
        f"    curl -H \"Authorization: Bearer $(.venv/bin/omnihub tokens create --email {ADMIN_EMAIL})\" {url}/api/v1/conversations",
        f"  chat widget ({DEMO_CONNECTOR}): accepts pages from {url} only; to embed it on your own site:",
        f"    .venv/bin/omnihub connectors set {DEMO_CONNECTOR} --set widget_origins=https://www.your-site.example",
        "  stop with Ctrl-C",
        "",
    ]
    click.echo("\n".join(lines))
    try:
        while not stopping:
            time.sleep(0.5)
            for name, p in list(procs.items()):
                if p.poll() is not None and not stopping:
                    last = restarts.get(name, 0.0)
                    if time.monotonic() - last < 5:
                        time.sleep(2)
                    click.echo(f"{name} exited with {p.returncode}; restarting", err=True)
                    restarts[name] = time.monotonic()
                    start(name)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        if redis_proc:
            redis_proc.stop()
            marker.unlink(missing_ok=True)
        web_url.unlink(missing_ok=True)
        click.echo("omnihub stopped")
