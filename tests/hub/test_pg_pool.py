"""PostgreSQL connection handling on the hot paths (hub/db.py), on a real server.

A pooled connection is pinged before use only when it sat idle (SQLAlchemy's pre-ping on
every checkout cost a round trip per webhook group commit), and a dead idle connection is
still replaced before anyone sees it; a one-statement write runs in autocommit."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from hub.db import Database, make_engine


def _terminate(pg_server, pid: int) -> None:
    with pg_server.connect() as c:
        assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True


def _backend_pid(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT pg_backend_pid()")).scalar()


def test_idle_connection_killed_by_the_server_is_replaced_before_use(pg_server, pg_url):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle=0.0)
    try:
        old = _backend_pid(engine)
        _terminate(pg_server, old)  # the server restarted, a proxy dropped it ...
        with engine.connect() as c:  # ... the checkout pings it and connects afresh: no error
            assert c.execute(text("SELECT pg_backend_pid()")).scalar() != old
    finally:
        engine.dispose()


def test_connection_in_steady_use_is_not_pinged(pg_server, pg_url):
    """Within the idle window there is no ping: a connection killed in that window fails its
    statement once (the pool is then invalidated and the next use connects afresh)."""
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle=3600.0)
    try:
        old = _backend_pid(engine)
        _terminate(pg_server, old)
        with pytest.raises(OperationalError), engine.connect() as c:
            c.execute(text("SELECT 1"))
        assert _backend_pid(engine) != old
    finally:
        engine.dispose()


def test_write_single_commits_its_statement_by_itself(pg_url):
    db = Database(pg_url)
    other = make_engine(pg_url)
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        with db.write_single() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            with other.connect() as c:  # visible before the block ends: no transaction around it
                assert c.execute(text("SELECT count(*) FROM t")).scalar() == 1
        with db.write() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            with other.connect() as c:  # write() still holds its transaction open
                assert c.execute(text("SELECT count(*) FROM t")).scalar() == 1
        with db.write() as conn:  # the pooled connection is back in transactional mode
            conn.execute(text("INSERT INTO t VALUES (3)"))
            with other.connect() as c:
                assert c.execute(text("SELECT count(*) FROM t")).scalar() == 2
    finally:
        other.dispose()
        db.dispose()
