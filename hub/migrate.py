"""`omnihub db upgrade`: Alembic migrations, with the built-in inbox connector ensured; and
the check every process makes before it uses the tables (``schema_state``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import OmnihubError

if TYPE_CHECKING:
    from alembic.config import Config

    from hub.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"

#: what to do about a database that is not migrated (every message about it says this)
FIX = "run `omnihub db upgrade`"
#: Alembic's table of the applied revision (its default name; hub/migrations/env.py keeps it)
VERSION_TABLE = "alembic_version"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    with _quiet_alembic():  # its import announces its plugins ("setup plugin ...") at INFO
        from alembic import command

    command.upgrade(alembic_config(url), revision)


@functools.cache
def code_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of this code's migrations: read once per process, from the
    ``revision`` / ``down_revision`` assignments of the files in migrations/versions, parsed
    (``ast``), not imported: a web or worker process that only checks the schema does not load
    Alembic and every migration module (tests/hub/test_unmigrated.py compares this with
    Alembic's own ScriptDirectory)."""
    import ast

    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, expr = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, expr = node.targets[0], node.value
            else:
                continue
            if not isinstance(target, ast.Name) or target.id not in ("revision", "down_revision"):
                continue
            value = ast.literal_eval(expr)
            values = [value] if isinstance(value, str) else [v for v in (value or ()) if isinstance(v, str)]
            (revisions if target.id == "revision" else downs).update(values)
    return frozenset(revisions - downs), frozenset(revisions)


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema is (``current``: its alembic_version rows, empty when it has
    none) against what this code expects (``expected``: the migrations' heads)."""

    current: frozenset[str]
    expected: frozenset[str]
    known: frozenset[str]

    @property
    def migrated(self) -> bool:
        """True unless the database has no schema yet or one this code's migrations lead past.
        A revision this code does not know is a newer release's (its migration Job ran during a
        rolling update): the schema is ahead, which old processes work with."""
        if not self.current:
            return False
        return not any(rev in self.known and rev not in self.expected for rev in self.current)

    @property
    def revision(self) -> str:
        return ",".join(sorted(self.current)) or "none"

    @property
    def expected_revision(self) -> str:
        return ",".join(sorted(self.expected))

    def reason(self) -> str:
        """"database not migrated (revision none, code expects 0420_search_doc): run `omnihub db upgrade`"."""
        return f"database not migrated (revision {self.revision}, code expects {self.expected_revision}): {FIX}"


def schema_state(db: Database) -> SchemaState:
    """The schema's state: two light reads in one read-only transaction (does alembic_version
    exist; its rows); an error reaching the database propagates (SQLAlchemy's OperationalError)."""
    from sqlalchemy import inspect, text

    expected, known = code_revisions()
    current: frozenset[str] = frozenset()
    with db.read() as s:
        conn = s.connection()
        if inspect(conn).has_table(VERSION_TABLE):
            current = frozenset(conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    return SchemaState(current, expected, known)


class NotMigrated(OmnihubError):
    """A command that needs the tables met a database without them (or with an older schema)."""

    def __init__(self, state: SchemaState, url: str) -> None:
        self.state, self.url = state, url
        super().__init__(f"the database at {url} is not migrated (revision {state.revision}, code expects "
                         f"{state.expected_revision}): {FIX}")


def require_schema(db: Database, url_for_humans: str) -> None:
    """Raise ``NotMigrated`` (one line naming the fix) unless the schema is there."""
    state = schema_state(db)
    if not state.migrated:
        raise NotMigrated(state, url_for_humans)
