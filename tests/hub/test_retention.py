"""#21.5 retention policies on SQLite and PostgreSQL: the dry run counts exactly what the run
then changes; delete removes old conversations, messages, attachments (files too) and
journal rows; anonymize keeps the rows with their content blanked; newer data and other
connectors are untouched; the poller applies the policies under the `retention` lease."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from hub import retention, signing
from hub.models import AttachmentRow, AuditLog, Connector, Conversation, InboundEvent, Message, Reply, RetentionPolicy, now
from hub.states import EventState
from tests.support.hub import Hub, wait_until

SECRET = "api-secret-retention"


def _hub(tmp_path, redis_url, database_url=None):
    h = Hub(tmp_path, redis_url, database_url=database_url)
    h.add_connector("web", "api", secret=SECRET)
    h.add_connector("other", "api", secret=SECRET)
    return h


@pytest.fixture
def hub(tmp_path, db_url, redis_url):
    h = _hub(tmp_path, redis_url, db_url)
    yield h
    h.close()


@pytest.fixture
def sqlite_hub(tmp_path, redis_url):
    """The CLI and the poller's lease do not depend on the database: SQLite only."""
    h = _hub(tmp_path, redis_url)
    yield h
    h.close()


def _post(hub: Hub, connector: str, msg_id: str, sender: str, text: str, data: bytes | None = None) -> None:
    payload: dict = {"id": msg_id, "from": {"id": sender, "name": sender.title()}, "text": text}
    if data is not None:
        payload["attachments"] = [{"filename": f"{msg_id}.bin", "data_base64": base64.b64encode(data).decode()}]
    body = json.dumps(payload).encode()
    resp = hub.client.post(f"/webhooks/{connector}/messages", data=body,
                           headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.data


def _ingest(hub: Hub) -> None:
    from workers import ingest

    with hub.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id).where(InboundEvent.state == EventState.PENDING)))
    ingest.process(hub.rt, ids)


def _age(hub: Hub, sender: str, days: int) -> None:
    """Make everything of this sender's conversations ``days`` old."""
    when = now() - timedelta(days=days)
    with hub.rt.db.session() as s:
        convs = list(s.scalars(select(Conversation.id).where(Conversation.thread_key.like(f"%contact:{sender}"))))
        msgs = list(s.scalars(select(Message.id).where(Message.conversation_id.in_(convs))))
        events = [e for e in s.scalars(select(Message.event_id).where(Message.id.in_(msgs))) if e]
        s.execute(update(Conversation).where(Conversation.id.in_(convs)).values(last_message_at=when, created_at=when))
        s.execute(update(Message).where(Message.id.in_(msgs)).values(received_at=when, sent_at=when))
        s.execute(update(Reply).where(Reply.conversation_id.in_(convs)).values(created_at=when))
        s.execute(update(InboundEvent).where(InboundEvent.id.in_(events)).values(received_at=when))


def seed(hub: Hub) -> None:
    """web: 'old' (100 days, a file and a finished reply), 'mixed' (an old message and a
    new one in one resolved conversation), 'new' (today); other: 'far' (100 days, another
    connector)."""
    _post(hub, "web", "old-1", "old", "old text alpha", b"OLD-FILE" * 10)
    _post(hub, "web", "old-2", "old", "old text beta")
    _post(hub, "web", "mix-1", "mixed", "mixed old text")
    _post(hub, "web", "new-1", "new", "new text", b"NEW-FILE" * 10)
    _post(hub, "other", "far-1", "far", "far text", b"FAR-FILE" * 10)
    _ingest(hub)
    with hub.rt.db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.thread_key.like("%contact:old")))
        s.add(Reply(conversation_id=conv.id, connector_id=conv.connector_id, text="old agent answer", state="sent", kind="reply"))
    _age(hub, "old", 100)
    _age(hub, "mixed", 100)
    _age(hub, "far", 100)
    _post(hub, "web", "mix-2", "mixed", "mixed new text")  # the conversation is active again today
    _ingest(hub)
    with hub.rt.db.session() as s:  # and resolved: its old message may go on its own (an open one keeps its thread)
        s.execute(update(Conversation).where(Conversation.thread_key.like("%contact:mixed")).values(status="resolved"))


def _files(hub: Hub) -> set[bytes]:
    root = Path(hub.settings.effective_attachment_dir)
    return {p.read_bytes()[:8] for p in root.rglob("*") if p.is_file()}


def test_delete_policy_dry_run_then_run(hub):
    seed(hub)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    dry = retention.run_all(hub.rt, dry_run=True)
    assert set(dry) == {"web"}
    want = {"conversations": 1, "messages": 3, "replies": 1, "attachments": 1, "journal": 3}
    assert {k: dry["web"][k] for k in want} == want, dry
    assert hub.count(Message) == 6  # the dry run changed nothing
    done = retention.run_all(hub.rt)["web"]
    assert {k: done[k] for k in want} == want and done["files"] == 1
    with hub.rt.db.read() as s:
        texts = set(s.scalars(select(Message.text)))
        assert texts == {"mixed new text", "new text", "far text"}
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.scalar(select(func.count()).select_from(AttachmentRow)) == 2
        assert s.scalar(select(func.count()).select_from(Conversation)) == 3
        policy = s.scalars(select(RetentionPolicy)).one()
        assert policy.last_run_at is not None and policy.last_result["messages"] == 3
        run = s.scalars(select(AuditLog).where(AuditLog.action == "retention.run")).one()
        assert run.target_id == "web" and run.details["messages"] == 3
    assert _files(hub) == {b"NEW-FILE", b"FAR-FILE"}
    # nothing left to do
    again = retention.run_all(hub.rt, dry_run=True)["web"]
    assert all(again[k] == 0 for k in (*retention.COUNT_KEYS,)), again


def test_anonymize_policy_keeps_rows_and_blanks_their_content(hub):
    seed(hub)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "anonymize", actor="cli")
    dry = retention.run_all(hub.rt, dry_run=True)["web"]
    want = {"conversations": 1, "messages": 3, "replies": 1, "attachments": 1, "journal": 3}
    assert {k: dry[k] for k in want} == want, dry
    done = retention.run_all(hub.rt)["web"]
    assert {k: done[k] for k in want} == want
    with hub.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 6  # rows kept
        texts = sorted(s.scalars(select(Message.text)))
        assert texts == ["", "", "", "far text", "mixed new text", "new text"]
        assert set(s.scalars(select(Message.sender_name).where(Message.text == ""))) == {""}
        assert s.scalar(select(Reply.text)) == ""
        assert s.scalar(select(func.count()).select_from(AttachmentRow)) == 2
    assert _files(hub) == {b"NEW-FILE", b"FAR-FILE"}
    again = retention.run_all(hub.rt, dry_run=True)["web"]
    assert all(again[k] == 0 for k in retention.COUNT_KEYS), again


def test_policies_are_validated_audited_and_removable(hub):
    with hub.rt.db.session() as s:
        with pytest.raises(Exception, match="days"):
            retention.set_policy(s, "web", 0, "delete", actor="cli")
        with pytest.raises(Exception, match="action"):
            retention.set_policy(s, "web", 5, "shred", actor="cli")
        with pytest.raises(Exception, match="not found"):
            retention.set_policy(s, "nope", 5, "delete", actor="cli")
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 5, "delete", actor="cli")
        retention.set_policy(s, "web", 9, "anonymize", actor="cli")
    with hub.rt.db.session() as s:
        assert retention.remove_policy(s, "web", actor="cli") is True
    with hub.rt.db.read() as s:
        entries = s.scalars(select(AuditLog).where(AuditLog.action == "retention.policy").order_by(AuditLog.id)).all()
        assert [e.details.get("days") for e in entries] == [5, 9, None]
        assert entries[1].details["before"] == {"days": 5, "action": "delete"} and entries[2].details["removed"] is True


def test_cli_dry_run_and_run(sqlite_hub):
    hub = sqlite_hub
    seed(hub)
    r = hub.cli("retention", "set", "web", "--days", "30")
    assert r.returncode == 0 and "web: delete after 30 days" in r.stdout
    dry = hub.cli("retention", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "web (delete before" in dry.stdout and "would change 1 conversations, 3 messages, 1 replies, 1 attachments, 3 journal" in dry.stdout
    assert hub.count(Message) == 6
    ran = hub.cli("retention", "run")
    assert ran.returncode == 0 and "changed 1 conversations, 3 messages" in ran.stdout, ran.stdout
    listed = hub.cli("retention", "list")
    assert "web: delete after 30 days; last run 20" in listed.stdout and "3 messages" in listed.stdout


def test_poller_applies_policies_under_the_retention_lease(sqlite_hub):
    hub = sqlite_hub
    from hub import leases

    seed(hub)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    hub.start_poller("p1")
    hub.start_poller("p2")
    wait_until(lambda: hub.count(AuditLog, AuditLog.action == "retention.run"), timeout=30, message="retention applied")
    assert hub.count(Message, Message.connector_id == _cid(hub, "web")) == 2
    holders = [h for h in leases.holders(hub.rt.redis, hub.settings.queue_prefix) if h["name"] == "retention"]
    assert len(holders) == 1  # one poller owns it
    with hub.rt.db.read() as s:
        runs = s.scalars(select(AuditLog).where(AuditLog.action == "retention.run")).all()
    assert [(r.actor, r.details["messages"]) for r in runs] == [("poller", 3)]  # applied once, by one poller


def _cid(hub: Hub, name: str) -> int:
    with hub.rt.db.read() as s:
        return s.scalar(select(Connector.id).where(Connector.name == name))


def _search(hub: Hub, q: str) -> list[str]:
    resp = hub.api("GET", f"/api/v1/conversations?q={q}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return sorted(c["subject"] for c in resp.get_json()["items"])


@pytest.mark.parametrize("action", ["delete", "anonymize"])
def test_a_conversation_that_stays_loses_the_subject_its_old_first_message_gave_it(hub, action):
    """#21.5 fresh eyes: the 'mixed' conversation keeps a new message, but its subject was
    its first (old) message's words, and stayed — shown in the inbox and found by search."""
    seed(hub)
    assert _search(hub, "old") == ["mixed old text", "old text alpha"]
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, action, actor="cli")
    dry = retention.run_all(hub.rt, dry_run=True)["web"]
    assert dry["subjects"] == 1 and dry["conversations"] == 1, dry
    done = retention.run_all(hub.rt)["web"]
    assert done["subjects"] == 1 and done["conversations"] == 1, done
    with hub.rt.db.read() as s:
        subjects = dict(s.execute(select(Conversation.thread_key, Conversation.subject)).all())
    assert subjects["web:contact:mixed"] == "" and subjects["web:contact:new"] == "new text"
    assert subjects["other:contact:far"] == "far text"  # another connector's policy (none) decides for it
    # the search index lost the words too ("old" alone would still find the contact named Old)
    assert _search(hub, "alpha") == [] and _search(hub, "old text") == [] and _search(hub, "mixed old") == []
    assert _search(hub, "mixed") == [""]  # found by its remaining message
    if hub.rt.db.engine.dialect.name == "sqlite":  # FTS5 keeps removed words until a merge: the run merged
        from sqlalchemy import text

        with hub.rt.db.read() as s:
            for table in ("conversations_fts", "messages_fts"):
                rows = s.execute(text(f"SELECT count(*) FROM {table} WHERE {table} MATCH 'alpha'")).scalar()
                assert rows == 0, table
    again = retention.run_all(hub.rt, dry_run=True)["web"]
    assert all(again[k] == 0 for k in retention.COUNT_KEYS), again


def test_an_empty_run_keeps_the_last_run_that_changed_something_visible(sqlite_hub):
    """#21.5 fresh eyes: the hourly run that found nothing overwrote what the policy last did."""
    hub = sqlite_hub
    seed(hub)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    retention.run_all(hub.rt)
    with hub.rt.db.read() as s:
        [first] = retention.list_policies(s)
    assert first["last_change_at"] == first["last_run_at"] and first["last_change"]["messages"] == 3
    assert "_last_change" not in first["last_result"] and first["last_result"]["messages"] == 3
    retention.run_all(hub.rt)  # nothing left to do
    with hub.rt.db.read() as s:
        [second] = retention.list_policies(s)
    assert second["last_run_at"] > first["last_run_at"] and not any(second["last_result"].values())
    assert second["last_change_at"] == first["last_change_at"] and second["last_change"] == first["last_change"]
    got = hub.api("GET", "/api/v1/retention").get_json()
    item = got[0] if isinstance(got, list) else got["items"][0]
    assert item["last_change"]["messages"] == 3 and item["last_change_at"] == first["last_change_at"]
    listed = hub.cli("retention", "list")
    assert f"last change {first['last_change_at']} (1 conversations, 3 messages, 1 replies" in listed.stdout, listed.stdout


@pytest.mark.parametrize("action", ["delete", "anonymize"])
def test_only_conversations_idle_since_the_cutoff_by_the_hubs_clock_are_due(hub, action):
    """#21.5 fresh eyes (HIGH): a customer's message with an old ``sent_at`` was deleted
    seconds after it arrived, urgent and unread; a conversation an agent had just answered
    went with the answer, because the customer's last message was older than the cutoff.
    A conversation is due only when nothing happened in it since the cutoff by the hub's own
    clock, and an open conversation keeps its whole thread."""
    _post(hub, "web", "back-1", "backdated", "someone is draining my wallet right now")
    payload = {"id": "back-2", "from": {"id": "backdated2", "name": "Back Dated"}, "text": "old import text",
               "sent_at": "2020-01-01T00:00:00Z"}
    body = json.dumps(payload).encode()
    assert hub.client.post("/webhooks/web/messages", data=body,
                           headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}).status_code == 200
    _post(hub, "web", "work-1", "working", "customer question from weeks ago")
    _post(hub, "web", "open-1", "openold", "open old question")
    _ingest(hub)
    _age(hub, "working", 47)
    _age(hub, "openold", 47)
    _post(hub, "web", "open-2", "openold", "open new follow-up")  # still open, active today
    _ingest(hub)
    with hub.rt.db.session() as s:  # an agent answers the 47-day-old question today
        conv = s.scalar(select(Conversation).where(Conversation.thread_key.like("%contact:working")))
        s.add(Reply(conversation_id=conv.id, connector_id=conv.connector_id, text="on it today", state="sent", kind="reply"))
        s.execute(update(Message).where(Message.external_id == "back-1").values(sent_at=now() - timedelta(days=400)))
        retention.set_policy(s, "web", 30, action, actor="cli")
    dry = retention.run_all(hub.rt, dry_run=True)["web"]
    assert all(dry[k] == 0 for k in ("conversations", "messages", "replies", "subjects")), dry
    retention.run_all(hub.rt)
    with hub.rt.db.read() as s:
        texts = set(s.scalars(select(Message.text)))
        replies = set(s.scalars(select(Reply.text)))
    assert {"someone is draining my wallet right now", "old import text", "customer question from weeks ago",
            "open old question", "open new follow-up"} <= texts, texts
    assert replies == {"on it today"}
    # once the agent's answer is 31 days old too, the whole conversation is due
    with hub.rt.db.session() as s:
        s.execute(update(Reply).values(created_at=now() - timedelta(days=31)))
    done = retention.run_all(hub.rt)["web"]
    assert done["conversations"] == 1 and done["replies"] == 1, done


def test_a_run_leaves_no_removed_text_in_the_sqlite_write_ahead_log(sqlite_hub):
    """#21.5 fresh eyes: after a retention run the main SQLite file was clean but the removed
    text was still in ``omnihub.db-wal`` (erasure checkpointed it, retention did not)."""
    from sqlalchemy.engine import make_url

    hub = sqlite_hub
    seed(hub)
    db_file = make_url(hub.settings.effective_database_url).database
    wal = Path(db_file + "-wal")
    assert wal.exists() and b"old text alpha" in wal.read_bytes() + Path(db_file).read_bytes()
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    done = retention.run_all(hub.rt)["web"]
    assert done["conversations"] == 1 and "wal_checkpoint_pending" not in done, done
    for path in (wal, Path(db_file)):  # while the hub still holds its connections
        raw = path.read_bytes() if path.exists() else b""
        assert b"old text alpha" not in raw and b"old agent answer" not in raw, path


def test_a_conversation_an_agent_claimed_since_the_cutoff_is_not_due(hub):
    """#21.5 fresh eyes: an agent took a 47-day-old conversation today (no reply yet) and the
    policy deleted it under them; its timeline (the claim) is activity too."""
    _post(hub, "web", "claim-1", "claimed", "still waiting for my refund")
    _post(hub, "web", "idle-1", "idle", "nobody touched this")
    _ingest(hub)
    _age(hub, "claimed", 47)
    _age(hub, "idle", 47)
    with hub.rt.db.read() as s:
        conv = s.scalar(select(Conversation.id).where(Conversation.thread_key.like("%contact:claimed")))
    r = hub.api("PATCH", f"/api/v1/conversations/{conv}", json={"assignee": "me"})
    assert r.status_code == 200, r.get_data(as_text=True)
    with hub.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "delete", actor="cli")
    done = retention.run_all(hub.rt)["web"]
    assert done["conversations"] == 1, done
    with hub.rt.db.read() as s:
        assert set(s.scalars(select(Message.text))) == {"still waiting for my refund"}
