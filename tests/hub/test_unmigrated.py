"""A database that `omnihub db upgrade` has not migrated yet (processes started before the
migration Job, or a newcomer's empty PostgreSQL): /readyz answers 503 with the reason, one-shot
commands exit with one line naming the fix, the poller waits for the schema and then starts;
never a traceback. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from sqlalchemy.engine import make_url

from config.settings import Settings
from hub.migrate import code_revisions, upgrade
from hub.runtime import Runtime
from tests.support.hub import REPO, settings_env, wait_until


def _settings(tmp_path, db_url: str, redis_url: str) -> Settings:
    return Settings(var_dir=tmp_path / "var", database_url=db_url, redis_url=redis_url,
                    secret_key="test-secret-key-" + uuid.uuid4().hex, public_url="http://hub.test",
                    queue_prefix="t" + uuid.uuid4().hex[:10], sweep_interval=0.2, poll_lease_seconds=5.0, log_level="INFO")


def _head() -> str:
    return ",".join(sorted(code_revisions()[0]))


def _cli(settings: Settings, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=settings_env(settings), capture_output=True,
                          text=True, input=input, cwd=str(REPO), timeout=120)


def test_readyz_is_503_naming_the_fix_until_the_database_is_migrated(tmp_path, db_url, redis_url):
    from hub.app import create_app

    settings = _settings(tmp_path, db_url, redis_url)
    rt = Runtime(settings)
    client = create_app(settings, rt).test_client()
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503, r.get_data(as_text=True)
    body = r.get_json()
    assert body["status"] == "unavailable" and body["checks"] == {"database": "not migrated", "redis": "ok"}
    assert body["revision"] == "none" and body["expected_revision"] == _head()
    assert body["reason"] == f"database not migrated (revision none, code expects {_head()}): run `omnihub db upgrade`"
    # any other request that meets the missing tables: 503 with the same reason, not a 500
    api = client.get("/api/v1/conversations", headers={"Authorization": "Bearer oh_not-a-token"})
    assert api.status_code == 503 and api.get_json()["error"] == body["reason"]

    upgrade(db_url)
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["checks"] == {"database": "ok", "redis": "ok"} and "reason" not in r.get_json()
    rt.db.dispose()


def test_readyz_names_an_older_revision(tmp_path, redis_url):
    from hub.app import create_app

    db_url = f"sqlite:///{tmp_path / 'omnihub.db'}"
    upgrade(db_url, "0410_search_speed")
    settings = _settings(tmp_path, db_url, redis_url)
    r = create_app(settings, Runtime(settings)).test_client().get("/readyz")
    assert r.status_code == 503
    assert r.get_json()["reason"] == f"database not migrated (revision 0410_search_speed, code expects {_head()}): run `omnihub db upgrade`"


@pytest.mark.parametrize("args", [("stats",), ("users", "create", "--email", "ann@example.com", "--role", "admin", "--password-stdin"),
                                  ("tokens", "list"), ("connectors", "list")])
def test_one_shot_commands_on_an_unmigrated_database_are_one_line(tmp_path, db_url, redis_url, args):
    settings = _settings(tmp_path, db_url, redis_url)
    r = _cli(settings, *args, input="a-long-password\n")
    assert r.returncode == 1, r.stdout + r.stderr
    shown = make_url(db_url).render_as_string(hide_password=True)
    assert r.stderr.strip().splitlines() == [f"error: the database at {shown} is not migrated (revision none, code expects "
                                             f"{_head()}): run `omnihub db upgrade`"], r.stderr
    assert "Traceback" not in r.stderr


def test_one_shot_command_after_upgrade_works(tmp_path, redis_url):
    db_url = f"sqlite:///{tmp_path / 'omnihub.db'}"
    settings = _settings(tmp_path, db_url, redis_url)
    upgrade(db_url, "0410_search_speed")  # an older release's schema: named, then fixed by `db upgrade`
    r = _cli(settings, "stats")
    assert r.returncode == 1 and "(revision 0410_search_speed, code expects" in r.stderr and "Traceback" not in r.stderr
    up = _cli(settings, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    r = _cli(settings, "users", "create", "--email", "ann@example.com", "--role", "admin", "--password-stdin", input="a-long-password\n")
    assert r.returncode == 0 and "created admin ann@example.com" in r.stdout, r.stderr


@pytest.mark.parametrize("command", [("poll",), ("worker", "--poll")])
def test_poll_waits_for_the_schema_then_starts(tmp_path, db_url, redis_url, command):
    settings = _settings(tmp_path, db_url, redis_url)
    log = tmp_path / "poll.log"
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", *command], env=settings_env(settings), cwd=str(REPO),
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "poller.database_not_migrated" in log.read_text(), timeout=60, message="the not-migrated warning")
        out = log.read_text()
        assert "run `omnihub db upgrade`" in out and "revision=none" in out.replace("'", "").replace('"', "")
        assert proc.poll() is None, out  # waiting, not exiting into a restart loop
        up = _cli(settings, "db", "upgrade")
        assert up.returncode == 0, up.stderr
        wait_until(lambda: "lease.acquired" in log.read_text(), timeout=60, message="the poller polling after the upgrade")
        out = log.read_text()
        assert "poller.database_migrated" in out and "poller.started" in out
        assert out.count("poller.database_not_migrated") == 1, out
        assert "Traceback" not in out, out
    finally:
        proc.terminate()
        proc.wait(30)


def test_code_revisions_match_alembic_and_checking_imports_no_alembic(tmp_path):
    """The check reads the migrations' revision ids without importing them: what Alembic's
    ScriptDirectory says, and a process that checks the schema loads neither Alembic nor the
    migration modules (memory: the web checks on /readyz, the poller at start)."""
    import json

    from alembic.script import ScriptDirectory

    from hub.migrate import MIGRATIONS

    script = ScriptDirectory(str(MIGRATIONS))
    assert code_revisions() == (frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions()))
    db = f"sqlite:///{tmp_path / 'omnihub.db'}"
    upgrade(db)
    code = ("import json, sys; from hub.db import Database; from hub.migrate import schema_state; "
            f"assert schema_state(Database({db!r})).migrated; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not {m for m in mods if m.split(".")[0] == "alembic" or m.startswith("hub.migrations")}
