"""The per-conversation search document (migration 0420_search_doc, PostgreSQL): a search
finds a conversation by its subject, contact and identity as it did through their own
indexes, and the document stays in step with every way those change (an identity's new
display name on ingest, a contact edit, a merge, retention's blanked subjects, an erasure),
leaving no trace of what was removed. Run on SQLite too: the answers must be the same there
(where FTS5 answers from the rows' own indexes)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text, update

from hub import erasure, retention, search, signing
from hub.migrate import alembic_config
from hub.models import Contact, Conversation, Identity, InboundEvent, Message, now
from hub.states import EventState
from tests.hub.test_search_fts import SECRET, _add, _api_ids, _inbox_ids
from tests.support.hub import Hub


@pytest.fixture
def desk(tmp_path, db_url, redis_url):
    h = Hub(tmp_path, redis_url, database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    yield h
    h.close()


def _pg(h) -> bool:
    return h.rt.db.engine.dialect.name == "postgresql"


def _in_step(h) -> None:
    """PostgreSQL: every conversation's document is what its subject, contact and identity
    make now (nothing stale, nothing left over)."""
    if not _pg(h):
        return
    with h.rt.db.read() as s:
        stale = s.scalar(text("SELECT count(*) FROM conversations "
                              "WHERE search_doc IS DISTINCT FROM omnihub_search_doc(search_tsv, contact_id, identity_id)"))
        empty = s.scalar(text("SELECT count(*) FROM conversations WHERE search_doc IS NULL"))
    assert stale == 0 and empty == 0


def _documents(h) -> str:
    """Every lexeme of every conversation's document (PostgreSQL), '' on SQLite."""
    if not _pg(h):
        return ""
    with h.rt.db.read() as s:
        return " ".join(s.scalars(text("SELECT search_doc::text FROM conversations")))


def _both(h, q) -> list[int]:
    ids = _api_ids(h, q)
    assert _inbox_ids(h, q) == ids, q
    return ids


def _ingest(h) -> None:
    from workers import ingest

    with h.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id).where(InboundEvent.state == EventState.PENDING)))
    ingest.process(h.rt, ids)


def _post(h, mid: str, sender: str, name: str, text_: str) -> None:
    body = json.dumps({"id": mid, "from": {"id": sender, "name": name}, "text": text_}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_a_phrase_never_runs_from_one_field_into_the_next(desk):
    """The document holds the subject, the contact and the identity with a gap between
    them: "please.dora" (a phrase) is not the end of the subject and the start of the name."""
    dora = _add(desk, "dora", name="Dora Explorer", email="dx@example.com", address="+15550100199",
                subject="Refund please", texts=["my parcel never arrived"])
    assert _both(desk, "please.dora") == []
    assert _both(desk, "refund.please") == [dora] == _both(desk, "dora.explorer") == _both(desk, "please dora")
    assert _both(desk, "explorer 15550100199") == [dora]  # name and identity address: two fields, two words
    _in_step(desk)


def test_the_identity_name_a_message_brings_is_searchable_at_once(desk):
    """Ingest updates the identity's display name when the sender's name changes: the
    conversation is then found by the new name, and no longer by the old one."""
    _post(desk, "n1", "sender-7", "Ana", "where is my parcel")
    _ingest(desk)
    [cid] = _both(desk, "parcel")
    _post(desk, "n2", "sender-7", "Anastasia Kowalczyk", "still waiting for the parcel")
    _ingest(desk)
    assert _both(desk, "kowalczyk parcel") == [cid] == _both(desk, "anastasia.kowalczyk")
    _in_step(desk)


def test_contact_and_identity_edits_and_a_merge_keep_the_document_in_step(desk):
    keep = _add(desk, "keep", name="", email="quill@example.org", subject="Card", texts=["blocked card"])
    other = _add(desk, "other", name="Bartholomew Zephyrine", email=None, subject="Login", texts=["no code"])
    with desk.rt.db.session() as s:
        c = s.get(Contact, s.get(Conversation, keep).contact_id)
        c.email = "wren@example.org"  # a contact edit
        i = s.get(Identity, s.get(Conversation, keep).identity_id)
        i.address, i.display_name = "wren-handle", "Wren Calloway"  # an identity edit
    assert _both(desk, "quill") == [] and "quill" not in _documents(desk)
    assert _both(desk, "wren") == [keep] == _both(desk, "calloway card") == _both(desk, "wren.handle")
    _in_step(desk)
    with desk.rt.db.read() as s:
        keep_contact = s.get(Conversation, keep).contact_id
        other_contact = s.get(Conversation, other).contact_id
    resp = desk.api("POST", f"/api/v1/contacts/{keep_contact}/merge", json={"other_id": other_contact})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    # the merge moved the other conversation to the kept contact, which took the other's name
    assert _both(desk, "bartholomew") == sorted([keep, other])
    assert _both(desk, "wren@example") == sorted([keep, other])  # the kept contact's email, on both
    assert _both(desk, "wren.handle") == [keep]  # an identity stays its conversation's own
    _in_step(desk)


def test_retention_blanks_the_subject_in_the_document_too(desk):
    long_ago = now() - timedelta(days=100)
    old = _add(desk, "old", name="Odile", subject="Xylophonic invoice", texts=["hello"], at=long_ago)
    new = _add(desk, "new", name="Nadia", subject="Xylophonic refund", texts=["hello"])
    with desk.rt.db.session() as s:  # idle for 100 days by every clock retention may read
        s.execute(update(Conversation).where(Conversation.id == old).values(created_at=long_ago, last_message_at=long_ago))
        s.execute(update(Message).where(Message.conversation_id == old).values(received_at=long_ago, sent_at=long_ago))
    assert _both(desk, "xylophonic") == sorted([old, new])
    with desk.rt.db.session() as s:
        retention.set_policy(s, "web", 30, "anonymize", actor="test")
    done = retention.run_all(desk.rt)["web"]
    assert done["conversations"] == 1
    assert _both(desk, "xylophonic") == [new] and _both(desk, "invoice") == []
    assert _both(desk, "odile") == [old]  # the contact stays (anonymize keeps the rows)
    assert "invoic" not in _documents(desk)
    _in_step(desk)


def test_an_erasure_leaves_no_trace_in_the_documents(desk):
    gone = _add(desk, "gone", name="Quentin Zyxwvutsrq", email="qz@vanishing.example", address="+15559876543",
                subject="Wallet", texts=["my problem"])
    stays = _add(desk, "stays", name="Stella", subject="Wallet", texts=["another problem"])
    assert _both(desk, "zyxwvutsrq wallet") == [gone] and _both(desk, "vanishing") == [gone]
    with desk.rt.db.read() as s:
        contact = s.get(Conversation, gone).contact_id
    erasure.erase(desk.rt, contact, actor="test")
    assert _both(desk, "zyxwvutsrq") == [] == _both(desk, "vanishing") == _both(desk, "15559876543")
    assert _both(desk, "wallet") == [stays]
    docs = _documents(desk)
    for word in ("zyxwvutsrq", "quentin", "vanishing", "15559876543", "qz"):
        assert word not in docs, word
    _in_step(desk)


def test_the_migration_fills_the_document_of_existing_conversations(desk, db_url):
    """Conversations written before 0420_search_doc get their document when it is applied
    (PostgreSQL), and a search finds them by name as before (both databases)."""
    from alembic import command

    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0410_search_speed")
    cid = _add(desk, "before", name="Ysolde Marchetti", email="ym@example.it", subject="Fattura", texts=["ciao"])
    if _pg(desk):
        with desk.rt.db.read() as s:
            assert "search_doc" not in {c["name"] for c in inspect(s.get_bind()).get_columns("conversations")}
    command.upgrade(cfg, "head")
    desk.rt.db.engine.dispose()  # the columns changed under the pool
    assert _both(desk, "ysolde marchetti") == [cid] == _both(desk, "marchetti fattura")
    _in_step(desk)


@pytest.mark.parametrize("plan", ["chosen", "walk", "collect"])
def test_words_split_between_the_document_and_the_messages(desk, monkeypatch, plan):
    """Every plan answers alike when some words are only in the document and others only
    in messages (a full name whose first name a customer wrote in a message, say)."""
    if plan == "walk":
        monkeypatch.setattr(search, "WALK_ABOVE", -1)
    elif plan == "collect":
        monkeypatch.setattr(search, "WALK_ABOVE", 10**9)
        monkeypatch.setattr(search, "DOC_COLLECT", 10**12)
    a = _add(desk, "a", name="Ulrike", email="u@example.de", subject="Konto", texts=["sincerely, Vandersloot"])
    b = _add(desk, "b", name="Ulrike Vandersloot", subject="Konto", texts=["hallo"])
    c = _add(desk, "c", name="Vandersloot", subject="Karte", texts=["regards ulrike"])
    d = _add(desk, "d", name="Ulrike", subject="Karte", texts=["nothing here"])
    cases = {
        "ulrike vandersloot": sorted([a, b, c]),  # doc+message, doc+doc, message+doc
        "vandersloot konto": sorted([a, b]),
        "ulrike karte": sorted([c, d]),
        "ulrike vandersloot karte": [c],
        "ulrike.vandersloot": [b],  # a phrase stays inside one field
        "regards vandersloot": [c],
        "sincerely regards": [],
    }
    for q, want in cases.items():
        assert _both(desk, q) == want, (plan, q)
