"""gunicorn's control socket goes to VAR_DIR, or is switched off where VAR_DIR cannot hold it
(a read-only root file system in Kubernetes: gunicorn logged an error at every start)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from config.settings import Settings
from hub.cli import control_socket_args

#: gunicorn 25.1+ has a control socket; before it there is nothing to place
HAS_SOCKET = tuple(int(x) for x in version("gunicorn").split(".")[:2]) >= (25, 1)


def _settings(var_dir) -> Settings:
    return Settings(var_dir=var_dir, secret_key="k" * 32)


def test_socket_in_a_writable_var_dir(tmp_path):
    args = control_socket_args(_settings(tmp_path / "var"))
    want = ["--control-socket", str((tmp_path / "var" / "gunicorn.ctl").resolve())] if HAS_SOCKET else []
    assert args[:2] == want


def test_no_socket_when_var_dir_is_read_only(tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits: make the directory a read-only mount
        var = tmp_path / "var"
        var.mkdir()
        code = ("from config.settings import Settings; from hub.cli import control_socket_args; "
                f"print(control_socket_args(Settings(var_dir={str(var)!r}, secret_key='k' * 32)))")
        out = subprocess.run(["unshare", "-m", "sh", "-c",
                              f"mount --bind {var} {var} && mount -o remount,bind,ro {var} && {sys.executable} -c \"{code}\""],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == ("['--no-control-socket']" if HAS_SOCKET else "[]")
    else:
        var = tmp_path / "var"
        var.mkdir(mode=0o500)
        assert control_socket_args(_settings(var)) == (["--no-control-socket"] if HAS_SOCKET else [])
