"""The audit log's hash chain (#21 item 4): it verifies after many actions, editing, deleting or
inserting a row in the database is detected, concurrent writers keep one chain (SQLite and
PostgreSQL), and GET /api/v1/audit filters and pages for admins only."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from hub import audit
from hub.db import Database
from hub.migrate import upgrade
from hub.models import AuditLog


@pytest.fixture
def db(db_url):
    upgrade(db_url)
    d = Database(db_url)
    yield d
    d.dispose()


def append(db: Database, n: int, actor: str = "tester", action: str = "test.action") -> None:
    for i in range(n):
        with db.session() as s:
            audit.record(s, actor, action, "thing", i, {"i": i, "note": "ünïcode ✓", "nested": {"b": 1, "a": [1.5, None]}})


def ids(db: Database) -> list[int]:
    with db.read() as s:
        return list(s.scalars(select(AuditLog.id).order_by(AuditLog.id)))


def test_the_chain_verifies_and_each_entry_links_to_the_one_before(db):
    with db.session() as s:  # several entries in one transaction chain too
        for i in range(3):
            audit.record(s, "batch", "test.batch", details={"i": i})
    append(db, 30)
    with db.read() as s:
        v = audit.verify(s)
        rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert v.ok and v.count == 33, v
    assert rows[0].prev_hash == "" and all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert v.head == rows[-1].hash and len(v.head) == 64
    assert rows[5].details == {"i": 2, "note": "ünïcode ✓", "nested": {"b": 1, "a": [1.5, None]}}


def test_editing_deleting_or_inserting_a_row_is_detected(db):
    append(db, 12)
    all_ids = ids(db)
    victim = all_ids[5]

    def verdict():
        with db.read() as s:
            return audit.verify(s)

    def sql(statement: str, **params) -> None:
        with db.engine.begin() as c:
            c.execute(text(statement), params)

    # edit: another actor on one entry
    with db.read() as s:
        original = s.get(AuditLog, victim)
        saved = (original.actor, original.details)
    sql("UPDATE audit_log SET actor = 'someone-else' WHERE id = :id", id=victim)
    v = verdict()
    assert not v.ok and v.broken_id == victim and "changed" in v.reason and v.count == 5
    sql("UPDATE audit_log SET actor = :a WHERE id = :id", a=saved[0], id=victim)
    assert verdict().ok

    # edit the details and recompute that entry's own hash: the next entry no longer links to it
    with db.session() as s:
        row = s.get(AuditLog, victim)
        row.details = {"i": 999}
        row.hash = audit.row_hash(row)
    v = verdict()
    assert not v.ok and v.broken_id == all_ids[6] and "previous-entry hash" in v.reason

    # delete an entry in the middle
    sql("DELETE FROM audit_log WHERE id = :id", id=victim)
    v = verdict()
    assert not v.ok and v.broken_id == all_ids[6]


@pytest.mark.parametrize("where", ["middle", "end"])
def test_an_inserted_or_removed_tail_entry_is_detected(db, where):
    append(db, 6)
    all_ids = ids(db)
    with db.read() as s:
        last = s.get(AuditLog, all_ids[-1])
    if where == "middle":  # an entry forged between two others (with a gap in the ids made first)
        with db.engine.begin() as c:
            c.execute(text("UPDATE audit_log SET id = id + 100 WHERE id = :id"), {"id": all_ids[-1]})
        with db.session() as s:
            forged = AuditLog(id=all_ids[-1], at=datetime.now(UTC), actor="forger", action="user.login", details={},
                              ip="", prev_hash=last.prev_hash, hash="")
            s.add(forged)
            s.flush()
            forged.hash = audit.row_hash(forged)
        with db.read() as s:
            v = audit.verify(s)
        assert not v.ok and v.broken_id == all_ids[-1] + 100  # the moved entry no longer links
    else:  # the newest entry removed: the chain itself is consistent, the head is not
        with db.engine.begin() as c:
            c.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": all_ids[-1]})
        with db.read() as s:
            v = audit.verify(s)
        assert not v.ok and v.count == 5 and "removed from the end" in v.reason


def test_concurrent_writers_keep_one_chain(db_url, db):
    """Two writers with their own engines (like two processes) append at once."""
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        other = Database(db_url)
        try:
            start.wait()
            for i in range(25):
                with other.session() as s:
                    audit.record(s, name, "test.concurrent", details={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with db.read() as s:
        v = audit.verify(s)
        actors = list(s.scalars(select(AuditLog.actor).order_by(AuditLog.id)))
    assert v.ok and v.count == 50, v
    assert actors.count("w0") == actors.count("w1") == 25


def test_cli_verify_and_export(hub):
    from click.testing import CliRunner

    from hub.cli import main
    from hub.runtime import set_runtime
    from tests.support.hub import settings_env

    def cli(*args: str):  # in-process (a subprocess costs ~2 s of imports each)
        try:
            return CliRunner().invoke(main, list(args), env=settings_env(hub.settings))
        finally:
            set_runtime(None)

    with hub.rt.db.session() as s:
        audit.record(s, "alice@example.com", "user.login", "user", 1, {"method": "password"}, ip="192.0.2.7")
        audit.record(s, "bob@example.com", "connector.update", "connector", "web", {"keys": ["x"]})
    r = cli("audit", "verify")
    assert r.exit_code == 0 and r.stdout.startswith("2 entries, chain intact"), r.output
    r = cli("audit", "export", "--since", (datetime.now(UTC) - timedelta(minutes=5)).isoformat(), "--action", "user.")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.exit_code == 0 and [x["actor"] for x in lines] == ["alice@example.com"] and lines[0]["ip"] == "192.0.2.7"
    assert cli("audit", "export", "--since", "2999-01-01").stdout == ""
    with hub.rt.db.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET action = 'user.logout' WHERE actor = 'alice@example.com'"))
    r = cli("audit", "verify")
    assert r.exit_code == 1 and "BROKEN at entry 1" in r.stderr, r.output


def test_api_lists_filters_and_pages_for_admins_only(hub):
    from hub.auth import create_token, create_user

    assert hub.token  # an admin; creating it is audited (user.create, token.create)
    with hub.rt.db.session() as s:
        create_user(s, "agent2@example.com", "agent", "agent password 123")
        agent = create_token(s, "agent2@example.com")
    assert hub.client.get("/api/v1/audit").status_code == 401
    assert hub.api("GET", "/api/v1/audit", token=agent).status_code == 403
    hub.add_connector("web", "api", secret="s3cret-value")  # connector.create
    assert hub.api("PATCH", "/api/v1/connectors/web", json={"config": {"secret": "another-secret"}}).status_code == 200

    body = hub.api("GET", "/api/v1/audit").get_json()
    actions = [e["action"] for e in body["items"]]
    assert actions[0] == "connector.update" and {"user.create", "token.create", "connector.create"} <= set(actions)
    update = body["items"][0]
    assert update["actor"] == "agent@example.com" and update["details"]["secrets_reentered"] == ["secret"]
    assert "another-secret" not in str(body) and len(update["hash"]) == 64

    only = hub.api("GET", "/api/v1/audit?actor=agent%40example.com&action=connector.").get_json()["items"]
    assert [e["action"] for e in only] == ["connector.update"]
    assert hub.api("GET", "/api/v1/audit?since=2999-01-01T00:00:00Z").get_json()["items"] == []
    assert len(hub.api("GET", "/api/v1/audit?until=2000-01-01").get_json()["items"]) == 0
    assert hub.api("GET", "/api/v1/audit?since=yesterday").status_code == 400
    for bad in ("0", "-5", "501", "ten"):  # the documented range is 1-500: outside it is a 400, not silently clamped
        r = hub.api("GET", f"/api/v1/audit?limit={bad}")
        assert r.status_code == 400 and r.get_json()["field"] == "limit", bad

    pages, before = [], None
    while True:
        page = hub.api("GET", "/api/v1/audit?limit=2" + (f"&before={before}" if before else "")).get_json()
        pages.append([e["id"] for e in page["items"]])
        before = page["next"]
        if before is None:
            break
    seen = [i for p in pages for i in p]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == len(body["items"])
    assert all(len(p) <= 2 for p in pages)


def test_the_migration_chains_entries_written_before_it(db_url):
    from alembic import command

    from hub.migrate import alembic_config

    command.upgrade(alembic_config(db_url), "0310_sso_totp")
    d = Database(db_url)
    try:
        with d.engine.begin() as c:
            for i in range(3):
                c.execute(text("INSERT INTO audit_log (at, actor, action, target_type, target_id, details) "
                               "VALUES (:at, 'old', 'user.login', 'user', :i, :d)"),
                          {"at": datetime(2026, 1, 1, 12, 0, i, 123456), "i": str(i), "d": json.dumps({"ip": "198.51.100.1", "n": i})})
        upgrade(db_url)
        append(d, 2)
        with d.read() as s:
            v = audit.verify(s)
        assert v.ok and v.count == 5, v
    finally:
        d.dispose()
