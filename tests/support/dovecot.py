"""A real Dovecot IMAP server (Debian ``dovecot-imapd``) for tests, on a loopback port.

Throwaway config in a temp dir: no TLS, passwd-file users, Maildir. Skips when the binary
is missing, unless OMNIHUB_REQUIRE_ALL=1 (then the test fails).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.support.components import require

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)

CONFIG = """\
base_dir = {run}
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
{chroot}}}
service anvil {{
{chroot}}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_dovecot() -> str:
    """The dovecot binary; skips the test (fails it under OMNIHUB_REQUIRE_ALL=1) without it."""
    require(bool(DOVECOT), "Dovecot", "apt-get install -y dovecot-imapd")
    return DOVECOT


class Dovecot:
    user = "alice"
    password = "s3cret-pw"

    def __init__(self, directory: Path, extra_config: str = "", tls: tuple[Path, Path] | None = None) -> None:
        """``tls``: (certificate, key) PEM files: then STARTTLS on the imap port and an imaps port."""
        self.binary = require_dovecot()
        self.dir = directory
        self.dir.chmod(0o755)
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        root = os.geteuid() == 0
        for sub in ("state", "mail"):
            (self.dir / sub).mkdir(exist_ok=True)
            (self.dir / sub).chmod(0o755)  # whatever the process umask (omnihub's CLI sets 077)
        # unix socket paths are limited to 107 bytes: a test's own directory (deeper under
        # pytest-xdist's popen-gwN/) can be too long for auth sockets, so they live in /tmp
        self.run_dir = Path(tempfile.mkdtemp(prefix="dc-"))
        self.run_dir.chmod(0o755)
        (self.dir / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        (self.dir / "users").chmod(0o644)  # read by Dovecot's auth process, not root
        if root:
            shutil.chown(self.dir / "mail", "nobody", "nogroup")
            uid, gid, login_user, internal_user, chroot = "nobody", "nogroup", "dovenull", "dovecot", ""
        else:
            import grp
            import pwd

            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            uid, gid, login_user, internal_user, chroot = me, group, me, me, "  chroot =\n"
        (self.dir / "dovecot.conf").write_text(
            CONFIG.format(
                d=self.dir, run=self.run_dir, port=self.port, imaps_port=self.imaps_port, uid=uid, gid=gid, login_user=login_user,
                internal_user=internal_user, chroot=chroot,
                ssl=f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}" if tls else "ssl = no",
            )
            + extra_config
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.dir / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() ends the imap children too
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.proc.stderr.read().decode(errors='replace')} {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                    if s.recv(64).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            pgid = os.getpgid(self.proc.pid)
            os.killpg(pgid, signal.SIGTERM)  # the group we created for this server only
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def client(self) -> IMAPClient:
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=30)
        c.login(self.user, self.password)
        return c

    def append(self, raw: bytes | list[bytes], folder: str = "INBOX") -> None:
        with self.client() as c:
            if not c.folder_exists(folder):
                c.create_folder(folder)
            for item in raw if isinstance(raw, list) else [raw]:
                c.append(folder, item)

    def config(self, **overrides) -> dict:
        """Connector config for this server (plain IMAP on loopback)."""
        cfg = {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_security": "none",
            "username": self.user,
            "password": self.password,
            "from_address": "support@hub.example",
            "from_name": "ACME Support",
        }
        cfg.update(overrides)
        return cfg


@contextmanager
def running_dovecot(extra_config: str = "", tls: tuple[Path, Path] | None = None):
    # not tmp_path: pytest's base temp dir is 0700 and Dovecot's unprivileged auth and mail
    # processes must traverse to the passwd-file and the Maildir
    require_dovecot()
    directory = Path(tempfile.mkdtemp(prefix="omnihub-dovecot-"))
    try:
        server = Dovecot(directory, extra_config, tls)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def dovecot():
    with running_dovecot() as server:
        yield server
