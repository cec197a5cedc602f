"""A real Request Tracker 5 (Debian request-tracker5 + rt5-db-sqlite) on a loopback port.

One server per test session (per xdist worker). Once per run (prepare_rt,
tests/support/shared.py) the packaged SQLite database is copied, an `agent` user (SuperUser)
is added and auth tokens are made for `root` (omnihub's user) and `agent` (the human
answering tickets); each server copies that database into its temp dir, RT is pointed at it
with RT_SITE_CONFIG_DIR (nothing under /etc is changed) and `rt-server` is started. Needs
root: the packaged database is readable by root/www-data only."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.components import require
from tests.support.shared import once_per_run

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_LIB = Path("/usr/share/request-tracker5/lib")
RT_DB = Path("/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb")
RT_ETC = Path("/etc/request-tracker5/RT_SiteConfig.d")

SETUP_PL = r"""
use strict; use warnings;
use lib '%(lib)s';
use RT; RT::LoadConfig(); RT::Init();
my $agent = RT::User->new(RT->SystemUser);
my ($ok, $msg) = $agent->Create(Name => 'agent', RealName => 'Alice Agent',
    EmailAddress => 'agent@omnihub.test', Privileged => 1, Password => 'agent-password-1');
die "agent: $msg" unless $ok;
($ok, $msg) = $agent->PrincipalObj->GrantRight(Right => 'SuperUser', Object => RT->System);
die "grant: $msg" unless $ok;
# customers write by email (rt-mailgate), as in the usual RT set-up
my $everyone = RT::Group->new(RT->SystemUser); $everyone->LoadSystemInternalGroup('Everyone');
for my $right ('CreateTicket', 'ReplyToTicket') {
    ($ok, $msg) = $everyone->PrincipalObj->GrantRight(Right => $right, Object => RT->System);
    die "grant $right: $msg" unless $ok;
}
my $root = RT::User->new(RT->SystemUser); $root->Load('root');
($ok, $msg) = $root->SetPassword('omnihub-root-1');
die "root password: $msg" unless $ok;
for my $name ('root', 'agent') {
    my $cu = RT::CurrentUser->new(RT->SystemUser); $cu->Load($name);
    my ($id, $m, $auth) = RT::AuthToken->new($cu)->Create(Owner => $cu->Id, Description => 'omnihub tests');
    die "token $name: $m" unless $id;
    print "$name $auth\n";
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RTServer:
    base_url: str
    username: str  # omnihub's RT user
    password: str
    token: str
    agent_token: str
    queue: str
    dir: Path
    mailgate: str = "rt-mailgate"  # rt5-clients: how mail reaches RT (customers answering by email)

    def agent(self) -> httpx.Client:
        """An HTTP client acting as the human agent `agent` (REST2)."""
        return httpx.Client(
            base_url=f"{self.base_url}/REST/2.0/",
            headers={"Authorization": f"token {self.agent_token}"},
            timeout=30,
        )


def _unavailable() -> str | None:
    if not RT_SERVER.exists():
        return "Request Tracker not installed (apt-get install request-tracker5 rt5-db-sqlite)"
    if not RT_DB.exists() or not os.access(RT_DB, os.R_OK):
        return f"RT's SQLite database {RT_DB} missing or unreadable (needs root and rt5-db-sqlite)"
    if shutil.which("perl") is None:
        return "perl missing"
    return None


def _site_config(conf: Path, port: int, workdir: Path) -> None:
    conf.mkdir()
    for pm in sorted(RT_ETC.glob("*.pm")):
        shutil.copy(pm, conf / pm.name)
    for d in ("mason", "session"):
        (workdir / d).mkdir(exist_ok=True)
    # RUNBOOK traps: the default WebPath /rt makes REST2 redirect to the login page
    (conf / "99-omnihub-test.pm").write_text(
        "\n".join(
            [
                "Set($rtname, 'omnihub-test');",
                "Set($WebPath, '');",
                "Set($WebDomain, '127.0.0.1');",
                f"Set($WebPort, {port});",
                f"Set($WebBaseURL, 'http://127.0.0.1:{port}');",
                f"Set($DatabaseName, '{workdir / 'rtdb'}');",
                "Set($MailCommand, 'mbox');",
                "Set($LogToSyslog, undef);",
                "Set($LogToSTDERR, 'warning');",
                f"Set($MasonDataDir, '{workdir / 'mason'}');",
                f"Set($MasonSessionDir, '{workdir / 'session'}');",
                "1;",
                "",
            ]
        )
    )


def prepare_rt(template: Path) -> None:
    """The packaged database with the users, rights and tokens of SETUP_PL (~3 s of Perl):
    made once per run (tests/support/shared.py), copied by each server."""
    shutil.copy(RT_DB, template / "rtdb")
    _site_config(template / "RT_SiteConfig.d", free_port(), template)
    env = {**os.environ, "RT_SITE_CONFIG_DIR": str(template / "RT_SiteConfig.d")}
    out = subprocess.run(
        ["perl", "-e", SETUP_PL % {"lib": RT_LIB}], env=env, capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(f"RT set-up failed: {out.stderr[-2000:]}")
    (template / "tokens").write_text(out.stdout)


def start_rt(workdir: Path, template: Path) -> tuple[RTServer, subprocess.Popen]:
    port = free_port()
    conf = workdir / "RT_SiteConfig.d"
    shutil.copy(template / "rtdb", workdir / "rtdb")
    _site_config(conf, port, workdir)
    env = {**os.environ, "RT_SITE_CONFIG_DIR": str(conf)}
    tokens = dict(line.split(" ", 1) for line in (template / "tokens").read_text().split("\n") if line.strip())
    log = open(workdir / "rt-server.log", "wb")
    proc = subprocess.Popen(
        [str(RT_SERVER), "--host", "127.0.0.1", "--port", str(port), "--max-workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    server = RTServer(
        base_url=f"http://127.0.0.1:{port}",
        username="root",
        password="omnihub-root-1",
        token=tokens["root"].strip(),
        agent_token=tokens["agent"].strip(),
        queue="General",
        dir=workdir,
        mailgate=shutil.which("rt-mailgate") or shutil.which("rt-mailgate-5") or "rt-mailgate",
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"rt-server exited: {(workdir / 'rt-server.log').read_text()[-2000:]}")
        try:
            r = httpx.get(f"{server.base_url}/REST/2.0/queues/all", headers={"Authorization": f"token {server.token}"}, timeout=5)
            if r.status_code == 200:
                return server, proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("rt-server did not answer within 60 s")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def rt_server(tmp_path_factory) -> RTServer:
    reason = _unavailable()
    if reason:
        require(False, "Request Tracker", reason)
    template = once_per_run(tmp_path_factory, "rt-template", prepare_rt)
    server, proc = start_rt(tmp_path_factory.mktemp("rt"), template)
    yield server
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
