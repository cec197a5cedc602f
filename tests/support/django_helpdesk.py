"""A real django-helpdesk (PyPI) served by gunicorn on a loopback port, once per session.

The tiny project in tests/support/djhelpdesk/ (SQLite, DRF TokenAuthentication) is migrated
once per run (tests/support/shared.py; each xdist worker's server gets a copy of that database); users `omnihub` (superuser, the backend's token) and `agent` (staff, the
human answering tickets) get DRF tokens, and a queue is created. django-helpdesk sends
mail synchronously, so an aiosmtpd sink in this process receives it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.components import require
from tests.support.shared import once_per_run

PROJECT = Path(__file__).resolve().parent  # holds the djhelpdesk package


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DjangoHelpdeskServer:
    base_url: str
    token: str
    agent_token: str
    queue: int
    mail: list = field(default_factory=list)  # envelopes received by the SMTP sink

    def agent(self) -> httpx.Client:
        """An HTTP client acting as the staff user `agent`."""
        return httpx.Client(base_url=f"{self.base_url}/api/", headers={"Authorization": f"Token {self.agent_token}"}, timeout=30)


class _Sink:
    def __init__(self, mail: list) -> None:
        self.mail = mail

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.mail.append(envelope)
        return "250 OK"


@pytest.fixture(scope="session")
def django_helpdesk_server(tmp_path_factory) -> DjangoHelpdeskServer:
    try:
        import helpdesk  # noqa: F401
        import rest_framework  # noqa: F401
        from aiosmtpd.controller import Controller
    except ImportError as exc:
        require(False, "django-helpdesk test server", f"install the test extra ({exc})")
    data = tmp_path_factory.mktemp("djhelpdesk")
    mail: list = []
    smtp = Controller(_Sink(mail), hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "DJANGO_SETTINGS_MODULE": "djhelpdesk.settings",
        "DJH_DATA": str(data),
        "DJH_SMTP_PORT": str(smtp.port),
    }

    def bootstrap(template: Path) -> None:
        """Migrate and create the users, tokens and queue once per run (~6 s): every worker's
        server then starts from a copy of this database."""
        boot = subprocess.run(
            [sys.executable, str(PROJECT / "djhelpdesk" / "bootstrap.py")], env={**env, "DJH_DATA": str(template)},
            capture_output=True, text=True, timeout=180,
        )
        if boot.returncode != 0:
            raise RuntimeError(f"django-helpdesk bootstrap failed: {boot.stderr[-3000:]}")
        (template / "info.json").write_text(boot.stdout.strip().splitlines()[-1])

    try:
        template = once_per_run(tmp_path_factory, "djhelpdesk-template", bootstrap)
    except BaseException:
        smtp.stop()
        raise
    shutil.copytree(template, data, dirs_exist_ok=True)
    info = json.loads((data / "info.json").read_text())
    log = open(data / "gunicorn.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "djhelpdesk.wsgi:application"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = DjangoHelpdeskServer(
        base_url=f"http://127.0.0.1:{port}", token=info["token"], agent_token=info["agent_token"], queue=info["queue"], mail=mail
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(data / 'gunicorn.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.base_url}/api/tickets/", headers={"Authorization": f"Token {server.token}"}, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("django-helpdesk did not answer within 60 s")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        smtp.stop()
