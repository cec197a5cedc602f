"""Omnihub's files on disk are its user's only.

The state folder (OMNIHUB_VAR_DIR) holds the SQLite database and its WAL/SHM (messages,
password hashes), the secret key, the embedded Redis URL with its password and the admin's
first password; the attachment folder holds customers' files. Every omnihub process starts
with a umask of 077 (new files 0600, new folders 0700), and at start-up the folders are
set to 0700 and what an older version left group- or world-readable in them is narrowed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _log():
    import structlog  # only when there is something to say: `omnihub run`'s supervisor never does

    return structlog.get_logger("omnihub.files")


PRIVATE = 0o077  # the group and other bits


def restrict_umask() -> None:
    """Add 077 to the process umask (keeps anything stricter already set)."""
    old = os.umask(PRIVATE)
    os.umask(old | PRIVATE)


def _narrow(path: Path) -> None:
    """Drop group/other permissions from a file or folder we own (never follows links)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.geteuid() or not st.st_mode & PRIVATE:
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~PRIVATE)
    except OSError as exc:
        _log().warning("files.chmod_failed", path=str(path), error=str(exc), fix="chmod go-rwx it by hand")


def _private_dir(path: Path) -> bool:
    """Create (0700 under the umask) or narrow a folder; False when it cannot be created
    (a read-only file system that uses PostgreSQL and S3 needs no local state)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _log().warning("files.mkdir_failed", path=str(path), error=str(exc))
        return False
    _narrow(path)
    return True


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, or None (PostgreSQL, in-memory)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def protect_state(settings) -> None:
    """VAR_DIR and the attachment folder 0700; their top-level entries and the SQLite files
    lose group/other access (folders below are unreachable through the 0700 parents)."""
    var_dir = Path(settings.var_dir)
    if _private_dir(var_dir):
        for entry in var_dir.iterdir():
            _narrow(entry)
    _private_dir(Path(settings.effective_attachment_dir))
    db = sqlite_path(settings.effective_database_url)
    if db is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            _narrow(db.with_name(db.name + suffix))
