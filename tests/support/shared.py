"""Work done once per test run and shared by the pytest-xdist workers (e.g. a migrated
database that each worker then copies for its own server)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def once_per_run(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The directory ``<run's base temp>/<name>``, filled by ``make(dir)`` exactly once per
    run: the first worker to ask makes it under an exclusive lock, the others wait for it and
    reuse it (read-only: copy what you change). A failed ``make`` leaves nothing behind, so the
    next worker tries again. Each run has a new base temp, so nothing outlives the run."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-of-<user>/pytest-<n>/: shared by the run's workers
    target, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                try:
                    make(target)
                except BaseException:
                    shutil.rmtree(target, ignore_errors=True)
                    raise
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target
