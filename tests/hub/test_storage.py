"""Storage on SQLite and PostgreSQL: migrations, journal idempotency, encryption at rest, threading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text

from hub import journal, threads
from hub.connectors import ConnectorService
from hub.migrate import upgrade
from hub.models import Connector, Contact, InboundEvent, Message
from hub.types import RawEvent
from normalizers.model import ConversationToken, NormalizedMessage, Participant
from tests.support.hub import Hub

TABLES = {
    "connectors", "contacts", "identities", "conversations", "messages", "attachments", "inbound_events",
    "deliveries", "replies", "helpdesk_links", "users", "api_tokens", "audit_log",
}


@pytest.fixture
def rt(tmp_path, db_url, redis_url):
    h = Hub(tmp_path, redis_url, database_url=db_url)
    yield h.rt
    h.close()


def test_migrations_create_every_table(rt):
    names = set(inspect(rt.db.engine).get_table_names())
    assert TABLES <= names
    with rt.db.read() as s:
        assert s.scalar(select(Connector.kind).where(Connector.name == "inbox")) == "inbox"
    # idempotent
    upgrade(rt.settings.effective_database_url)


def test_journal_record_is_idempotent_per_connector(rt):
    with rt.db.session() as s:
        a = ConnectorService(rt).create(s, "a", "api", {"secret": "x"})
        b = ConnectorService(rt).create(s, "b", "api", {"secret": "y"})
        ev = RawEvent("evt-1", "messages", b'{"secret-ish": "payload"}')
        first = journal.record(s, rt.box, a.id, [ev, ev])
        again = journal.record(s, rt.box, a.id, [ev])
        other = journal.record(s, rt.box, b.id, [ev])
    assert len(first) == 1 and again == [] and len(other) == 1
    with rt.db.read() as s:
        rows = s.scalars(select(InboundEvent)).all()
        assert len(rows) == 2
        # encrypted at rest, and opened back exactly
        assert all(b"payload" not in r.payload for r in rows)
        assert journal.open_event(rt.box, rows[0]).payload == b'{"secret-ish": "payload"}'


def test_connector_secrets_are_encrypted_and_masked(rt):
    svc = ConnectorService(rt)
    with rt.db.session() as s:
        svc.create(s, "web", "api", {"secret": "hunter2-very-secret", "callback_url": "http://x/cb"})
    with rt.db.engine.connect() as c:
        dump = " ".join(str(r) for r in c.execute(text("select * from connectors")))
    assert "hunter2-very-secret" not in dump and "http://x/cb" in dump
    with rt.db.read() as s:
        desc = svc.describe(svc.get(s, "web"))
    assert desc["config"]["secret"] != "hunter2-very-secret" and "••" in desc["config"]["secret"]
    assert desc["webhooks"]["messages"].endswith("/webhooks/web/messages")
    # secrets are write-only: an update without the secret keeps it (same destination; a
    # new host needs the secret again, tests/security/test_secret_origin.py)
    with rt.db.session() as s:
        svc.update(s, "web", {"callback_url": "http://x/other-cb"})
    with rt.db.read() as s:
        assert svc.values(svc.get(s, "web"))["secret"] == "hunter2-very-secret"


def _msg(ext, thread="t1", sender="alice", medium="api", **kw):
    return NormalizedMessage(
        medium=medium, connector="web", external_id=ext, thread_key=thread,
        sender=Participant(medium, sender, sender.title(), **kw.pop("p", {})),
        sent_at=kw.pop("sent_at", datetime.now(UTC)), text=kw.pop("text", "hi"), **kw,
    )


def test_threads_resolve_reuses_reopens_and_splits(rt):
    with rt.db.session() as s:
        conn = ConnectorService(rt).create(s, "web", "api", {"secret": "x"})
        r1 = threads.resolve(s, conn, _msg("1"))
        r2 = threads.resolve(s, conn, _msg("2"))
        assert r1.created and not r2.created and r1.conversation.id == r2.conversation.id
        r1.conversation.status = "resolved"
        r3 = threads.resolve(s, conn, _msg("3"))
        assert r3.conversation.id == r1.conversation.id and r3.reopened and r3.conversation.status == "open"
        r3.conversation.status = "resolved"
        r4 = threads.resolve(s, conn, _msg("4"), reopen_resolved=False)
        assert r4.created and r4.conversation.id != r1.conversation.id
        # idle gap: a long silence starts a new conversation
        r4.conversation.last_message_at = datetime.now(UTC) - timedelta(days=3)
        r5 = threads.resolve(s, conn, _msg("5"), idle_gap_seconds=86400)
        assert r5.created
        # auto-generated mail never opens a conversation
        assert threads.resolve(s, conn, _msg("6", thread="other", auto_generated=True)) is None


def test_threads_resolve_by_references_before_thread_key(rt):
    with rt.db.session() as s:
        conn = ConnectorService(rt).create(s, "mail", "api", {"secret": "x"})
        r1 = threads.resolve(s, conn, _msg("<a@x>", thread="subject-a"))
        s.add(Message(conversation_id=r1.conversation.id, connector_id=conn.id, external_id="<a@x>", sent_at=datetime.now(UTC)))
        s.flush()
        # a reply whose client rewrote the subject (different thread key) still joins by In-Reply-To
        r2 = threads.resolve(s, conn, _msg("<b@x>", thread="RE: other", in_reply_to="<a@x>"))
        assert r2.conversation.id == r1.conversation.id
        # a conversation token (plus-address / [#token]) joins too
        r3 = threads.resolve(s, conn, _msg("<c@x>", thread="new", conversation_token=ConversationToken(r1.conversation.token)))
        assert r3.conversation.id == r1.conversation.id


def test_identities_merge_on_a_verified_email(rt):
    with rt.db.session() as s:
        # as the email normalizer gives it: the address is the identity's own email
        mail = threads.resolve_identity(s, Participant("email", "ana@example.com", "Ana", verified_email="ana@example.com"))
        slack = threads.resolve_identity(s, Participant("slack", "U123", "ana", verified_email="Ana@Example.com"))
        unverified = threads.resolve_identity(s, Participant("api", "web:ana", "Ana", email="ana@example.com"))
        assert slack.contact_id == mail.contact_id
        assert unverified.contact_id != mail.contact_id  # an unverified claim does not merge
        assert s.scalar(select(Contact.email).where(Contact.id == mail.contact_id)) == "ana@example.com"


def test_batch_lookups_merge_on_a_verified_email_like_the_query(rt):
    """A batch's preloaded verified emails (threads.Lookups) give the same contact as the
    query they replace: the first identity with the email, one the batch created or verified
    included, and nothing for an email nobody has."""
    with rt.db.session() as s:
        old = threads.resolve_identity(s, Participant("email", "bo@example.com", "Bo", verified_email="bo@example.com"))
        plain = threads.resolve_identity(s, Participant("api", "web:cy", "Cy"))
    senders = [
        Participant("slack", "U1", "bo", verified_email="Bo@Example.com"),  # merges with the stored one
        Participant("email", "di@example.com", "Di", verified_email="di@example.com"),  # new: its own contact
        Participant("slack", "U2", "di", verified_email="di@example.com"),  # merges with the one just created
        Participant("api", "web:cy", "Cy", verified_email="cy@example.com"),  # verifies a known identity
        Participant("slack", "U3", "cy", verified_email="cy@example.com"),  # merges with it
    ]
    with rt.db.session() as s:
        lookups = threads.Lookups.preload(
            s, [(p.medium, p.address) for p in senders], [], [((p.medium, p.address), threads.verified_email(p)) for p in senders]
        )
        assert set(lookups.verified) == {"bo@example.com", "di@example.com", "cy@example.com"}  # the new senders' emails
        got = [threads.resolve_identity(s, p, lookups) for p in senders]
        assert got[0].contact_id == old.contact_id
        assert got[1].contact_id not in (old.contact_id, plain.contact_id)
        assert got[2].contact_id == got[1].contact_id
        assert got[3].id == plain.id and got[3].verified_email == "cy@example.com"
        assert got[4].contact_id == plain.contact_id


def test_message_is_unique_per_connector_and_external_id(rt):
    from sqlalchemy.exc import IntegrityError

    with rt.db.session() as s:
        conn = ConnectorService(rt).create(s, "web", "api", {"secret": "x"})
        r = threads.resolve(s, conn, _msg("1"))
        s.add(Message(conversation_id=r.conversation.id, connector_id=conn.id, external_id="same", sent_at=datetime.now(UTC)))
        s.flush()
    with pytest.raises(IntegrityError):
        with rt.db.session() as s:
            s.add(Message(conversation_id=r.conversation.id, connector_id=conn.id, external_id="same", sent_at=datetime.now(UTC)))
            s.flush()


def test_state_writes_do_not_count_as_configuration_changes(rt):
    from hub.connectors import StateStore

    svc = ConnectorService(rt)
    with rt.db.session() as s:
        row = svc.create(s, "web", "api", {"secret": "x"})
    with rt.db.read() as s:
        before = svc.get(s, "web").updated_at
    store = StateStore(rt, row.id)
    store.set("cursor", 41)
    store.set("cursor", 42)
    store.set("gone", 1)
    store.delete("gone")
    assert store.get("cursor") == 42 and store.get("gone") is None
    with rt.db.read() as s:
        row = svc.get(s, "web")
        assert row.updated_at == before and row.state == {"cursor": 42}


def test_subject_token_needs_the_same_subject(rt):
    from hub.threads import normalize_subject

    assert normalize_subject("RE: Fwd:  Card declined [#abc123]") == "card declined"
    with rt.db.session() as s:
        conn = ConnectorService(rt).create(s, "mail", "api", {"secret": "x"})
        r1 = threads.resolve(s, conn, _msg("<a@x>", thread="t-a", subject="Card declined"))
        token = r1.conversation.token
        same = threads.resolve(s, conn, _msg("<b@x>", thread="t-b", subject=f"Re: Card declined [#{token}]",
                                             conversation_token=ConversationToken(token, "subject")))
        assert same.conversation.id == r1.conversation.id
        other = threads.resolve(s, conn, _msg("<c@x>", thread="t-c", subject=f"Totally different [#{token}]",
                                              conversation_token=ConversationToken(token, "subject")))
        assert other.created and other.conversation.id != r1.conversation.id
        # a token in our Reply-To plus-address is trusted whatever the subject
        addr = threads.resolve(s, conn, _msg("<d@x>", thread="t-d", subject="new words",
                                             conversation_token=ConversationToken(token, "address")))
        assert addr.conversation.id == r1.conversation.id
