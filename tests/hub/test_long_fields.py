"""Fields longer than their columns (PostgreSQL enforces VARCHAR lengths; SQLite does not).

Real mail has them: a spam message in the shared corpus carries a 130,000-character Subject,
and on PostgreSQL its store failed ("value too long for type character varying(998)"). Every
message field stored in a sized column is fitted by the pipeline's first step: text is cut with
an ellipsis, identifiers keep their head and gain the sha256 of the whole, so the same long id
still deduplicates and threads, and two different ones stay apart.
"""

from __future__ import annotations

import base64
import json

from hub import journal, signing
from hub.models import AttachmentRow, Connector, Conversation, Identity, InboundEvent, Message
from hub.types import RawEvent
from normalizers import pipeline
from tests.support.hub import wait_until

SECRET = "long-fields-secret"


def post(h, payload: dict) -> int:
    body = json.dumps(payload).encode()
    return h.client.post("/webhooks/web/messages", data=body,
                         headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}).status_code


def test_fit_key_is_stable_unique_and_bounded():
    a, b = "x" * 5000 + "a", "x" * 5000 + "b"
    assert len(pipeline.fit_key(a)) == pipeline.KEY_MAX
    assert pipeline.fit_key(a) == pipeline.fit_key(a) != pipeline.fit_key(b)
    assert pipeline.fit_key("short") == "short"
    assert pipeline.fit_text("é" * 2000, 998) == "é" * 997 + "…"


def test_oversized_fields_are_stored_once_on_both_databases(make_hub, db_url):
    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    long_id, long_sender, long_thread = "m" * 3000, "s" * 2000, "t" * 3000
    first = {"id": long_id, "thread": long_thread, "text": "my deposit is missing",
             "from": {"id": long_sender, "name": "N" * 5000},
             "attachments": [{"filename": "f" * 3000 + ".pdf", "content_type": "application/pdf",
                              "data_base64": base64.b64encode(b"%PDF-1.4 tiny").decode()}]}
    assert post(h, first) == 200
    assert post(h, first) == 200  # the provider retries: the same long id is the same message
    second = {**first, "id": long_id + "-2", "text": "any news?", "attachments": []}
    assert post(h, second) == 200
    h.start_worker()
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "pending") == 0 and h.count(Message) == 2, timeout=60)
    h.wait_idle()
    assert h.count(Message) == 2 and h.count(Conversation) == 1 and h.count(Identity) == 1
    assert h.count(InboundEvent, InboundEvent.state == "quarantined") == 0
    with h.rt.db.read() as s:
        ident = s.query(Identity).one()
        assert len(ident.address) <= 320 and ident.display_name == "N" * 254 + "…"
        att = s.query(AttachmentRow).one()
        assert att.filename.endswith("….pdf") and len(att.filename) <= 500
        ids = sorted(m.external_id for m in s.query(Message))
        assert all(len(i) == pipeline.KEY_MAX for i in ids) and ids[0] != ids[1]


def test_a_real_130k_subject_is_stored_on_postgresql(make_hub, pg_url):
    h = make_hub(database_url=pg_url)
    h.add_connector("mail", "email", imap_host="imap.example.com", username="support@example.com", password="p",
                    smtp_host="smtp.example.com", smtp_password="s", from_address="support@example.com")
    subject = "Die heiße Zypernsonne quälte Max und Victoria " * 3000
    raw = (f"From: Max <max@example.org>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
           "Message-ID: <long-subject@example.org>\r\nDate: Tue, 07 May 2013 23:11:57 +0000\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nMeine Einzahlung ist nicht angekommen.\r\n").encode()
    with h.rt.db.session() as s:
        conn_id = s.query(Connector.id).filter(Connector.name == "mail").scalar()
        ids = journal.record(s, h.rt.box, conn_id, [RawEvent(external_id="long-subject", hook="imap", payload=raw,
                                                              content_type="message/rfc822", meta={"folder": "INBOX", "uid": 1, "uidvalidity": 1})])
    h.rt.queues.schedule("ingest", ids)
    h.start_worker()
    wait_until(lambda: h.count(Message) == 1, timeout=60, message="the long-subject mail was not stored")
    with h.rt.db.read() as s:
        conv = s.query(Conversation).one()
        assert len(conv.subject) == 998 and conv.subject.endswith("…") and conv.subject.startswith("Die heiße Zypernsonne")
        assert "Einzahlung" in s.query(Message).one().text


def test_a_timestamp_from_the_future_is_not_believed():
    from datetime import UTC, datetime, timedelta

    from normalizers.model import NormalizedMessage, Participant

    claimed = datetime.now(UTC) + timedelta(days=30)
    msg = NormalizedMessage(medium="whatsapp", connector="wa", external_id="w1", thread_key="wa:x",
                            sender=Participant(medium="whatsapp", address="whatsapp:+15550100"), sent_at=claimed, text="hi")
    out = pipeline.clean(msg)
    assert out.sent_at <= datetime.now(UTC) and out.extra["claimed_sent_at"] == claimed.isoformat()
    near = msg.replace(sent_at=datetime.now(UTC) + timedelta(minutes=2))  # clock skew is fine
    assert pipeline.clean(near).sent_at == near.sent_at


def test_malformed_list_cursors_are_a_400_not_a_500(hub):
    """A naive time or an id beyond any integer column reached the database and failed there
    (500); every cursor the hub did not make is refused up front."""
    hub.add_connector("web", "api", secret=SECRET)
    for bad in ("2026-12-05T21:47:46_1", "2026-12-05T21:47:46+00:00_99999999999999999999999", "2026-12-05_1", "garbage"):
        r = hub.api("GET", f"/api/v1/conversations?before={bad}")
        assert r.status_code == 400 and r.get_json()["field"] == "before", (bad, r.status_code)
    from hub.web.inbox import decode_cursor

    assert decode_cursor("2026-12-05T21:47:46~1", "recent") is None
    assert decode_cursor("2026-12-05T21:47:46+00:00~99999999999999999999999", "recent") is None
    assert decode_cursor("2026-12-05T21:47:46+00:00~7", "recent") is not None
