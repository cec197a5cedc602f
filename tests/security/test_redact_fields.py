"""#14.5: a secret in ANY customer-controlled field — display name, sender id, thread name,
a widget form field, a text attachment in UTF-16 (BOM), CSV or JSON, sent as
application/octet-stream — never reaches the database (every row of every table of a real
SQLite database, and its raw files), a helpdesk push, the customer callback or the logs,
after a real ingest through a real worker process. Plus spaced/grouped keys and cards."""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from mnemonic import Mnemonic
from sqlalchemy import select
from werkzeug import Response

from hub import signing
from hub.db import Base
from hub.models import Delivery, InboundEvent, Reply
from normalizers.codecs import b58check_encode
from normalizers.redact import redact_text
from tests.support.hub import wait_until

SECRET = "api-secret-redact-fields"
ORIGIN = "https://shop.example"
_M = Mnemonic("english")
#: one distinct, valid phrase per customer-controlled field, so a leak names its field
FIELDS = {name: _M.to_mnemonic(bytes([i * 17 + 3]) * 16) for i, name in enumerate(
    ["display_name", "sender_id", "thread", "widget_name", "utf16_txt", "csv", "json", "octet_stream", "extra_key"]
)}


def leaks(blob: str | bytes) -> list[str]:
    """Fields whose phrase (any 3 consecutive words, any case/separator) is in ``blob``."""
    data = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    flat = re.sub(r"[\W\d_]+", " ", data.lower())
    if isinstance(blob, bytes):  # UTF-16 text in a raw file: NULs between the letters
        flat += " " + re.sub(r"[\W\d_]+", " ", blob.replace(b"\x00", b"").decode("utf-8", "replace").lower())
    out = []
    for field, phrase in FIELDS.items():
        w = phrase.split()
        if any(" ".join(w[i : i + 3]) in flat for i in range(len(w) - 2)):
            out.append(field)
    return out


def dump_tables(h) -> str:
    out = io.StringIO()
    with h.rt.db.read() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                out.write(f"{table.name}: {row!r}\n")
    return out.getvalue()


def _post(h, payload: dict) -> None:
    body = json.dumps(payload).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _att(filename: str, content_type: str, data: bytes) -> dict:
    return {"filename": filename, "content_type": content_type, "data_base64": base64.b64encode(data).decode()}


def test_secrets_in_every_customer_controlled_field_never_reach_db_helpdesk_callback_or_logs(make_hub, httpserver, capfd):
    h = make_hub(log_level="DEBUG")
    pushed: list[str] = []
    called: list[str] = []
    httpserver.expect_request("/push", method="POST").respond_with_handler(
        lambda r: (pushed.append(r.get_data(as_text=True)), Response('{"ticket_id": "T1", "comment_id": "C1"}', content_type="application/json"))[1]
    )
    httpserver.expect_request("/callback", method="POST").respond_with_handler(
        lambda r: (called.append(r.get_data(as_text=True)), Response('{"ok": true}', content_type="application/json"))[1]
    )
    h.add_connector("desk", "webhook", url=httpserver.url_for("/push"), secret="desk-secret-1")
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"), helpdesk="desk",
                    widget=True, widget_origins=[ORIGIN])
    h.start_worker()
    csv = f"date,note\n2026-11-01,{FIELDS['csv'].replace(' ', ',')}\n".encode()
    _post(h, {"id": "f1", "from": {"id": "cust-1", "name": FIELDS["display_name"]}, "text": "hello, my name is above"})
    _post(h, {"id": "f2", "from": {"id": FIELDS["sender_id"]}, "text": "who am I?"})
    _post(h, {"id": "f3", "from": {"id": "cust-3"}, "thread": FIELDS["thread"], "text": "new thread"})
    _post(h, {"id": "f4", "from": {"id": "cust-4"}, "text": "my backups are attached", FIELDS["extra_key"]: "x",
              "attachments": [
                  _att("backup.txt", "text/plain", f"my words:\r\n{FIELDS['utf16_txt']}\r\n".encode("utf-16")),  # with a BOM
                  _att("export.csv", "text/csv", csv),
                  _att("wallet.json", "application/json", json.dumps({"mnemonic": FIELDS["json"]}).encode()),
                  _att("notes", "application/octet-stream", f"seed words\n{FIELDS['octet_stream']}\n".encode("cp1252")),
              ]})
    resp = h.client.post("/widget/web/messages", json={"visitor": "visitor-0123456789abcdef", "text": "hi from the widget",
                                                        "name": FIELDS["widget_name"]}, headers={"Origin": ORIGIN})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 5, timeout=30, message="all five events ingested")
    wait_until(lambda: h.count(Delivery, Delivery.state == "done") + h.count(Delivery, Delivery.state == "pushed") >= 5 or len(pushed) >= 5,
               timeout=30, message="pushed to the helpdesk")
    wait_until(lambda: h.count(Reply, Reply.state.in_(("sent", "delivered"))) >= 1, timeout=30, message="security warning sent")
    h.stop_all()
    # the helpdesk got every message, the customer got the warning: none carries a phrase
    assert len(pushed) >= 5 and called
    for body in pushed:
        assert leaks(body) == [], body[:400]
    for body in called:
        assert leaks(body) == [], body[:400]
    # 1. every row of every table
    dump = dump_tables(h)
    assert "[redacted: recovery phrase]" in dump and "redacted-recovery_phrase-" in dump
    assert leaks(dump) == []
    # 2. the raw SQLite files (database, WAL, SHM), then again after a checkpoint
    db_path = Path(h.settings.effective_database_url.removeprefix("sqlite:///"))
    for f in db_path.parent.glob(db_path.name + "*"):
        assert leaks(f.read_bytes()) == [], f
    h.rt.db.dispose()
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert leaks(db_path.read_bytes()) == []
    # 3. the stored attachment files (redacted, in their own encoding)
    from hub.models import AttachmentRow

    assert h.count(AttachmentRow, AttachmentRow.storage_key.is_not(None)) == 4  # stored, not dropped
    files = [f for f in Path(h.settings.effective_attachment_dir).rglob("*") if f.is_file()]
    assert len(files) >= 3  # content-addressed: two redacted files may be the same bytes
    for f in files:
        assert leaks(f.read_bytes()) == [], f
    # 4. logs: the worker at DEBUG, and this process (web tier)
    assert h.output("worker") and leaks(h.output("worker")) == []
    captured = capfd.readouterr()
    assert leaks(captured.out + captured.err) == []


def test_two_customers_with_secrets_in_their_ids_stay_two_identities(make_hub):
    """Redacting a sender id must not merge two customers into one identity (keyed digest)."""
    from hub.models import Identity
    from workers import ingest

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    _post(h, {"id": "a1", "from": {"id": FIELDS["sender_id"]}, "text": "one"})
    _post(h, {"id": "a2", "from": {"id": FIELDS["thread"]}, "text": "two"})
    _post(h, {"id": "a3", "from": {"id": FIELDS["sender_id"]}, "text": "one again"})
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.read() as s:
        addresses = sorted(s.scalars(select(Identity.address)))
    assert len(addresses) == 2 and all("redacted-recovery_phrase-" in a for a in addresses)
    assert leaks("\n".join(addresses)) == []


KEY = bytes(range(1, 33))


@pytest.mark.parametrize(
    "text",
    [
        " ".join(KEY.hex()[i : i + 8] for i in range(0, 64, 8)),  # 8 groups of 8
        "my key:\n" + "\n".join(KEY.hex()[i : i + 16] for i in range(0, 64, 16)),  # 4 lines of 16
        "private key 0x" + "-".join(KEY.hex()[i : i + 4] for i in range(0, 64, 4)),
        "hash " + KEY.hex(),  # a key "after a word like hash": never kept in clear
    ],
)
def test_keys_in_spaced_groups_or_after_hash_are_caught(text):
    out, found = redact_text(text)
    assert found and KEY.hex()[8:24] not in out.replace(" ", "").replace("\n", "").replace("-", "")


def test_a_wif_split_by_spaces_is_caught():
    wif = b58check_encode(b"\x80" + KEY + b"\x01")
    for sep in (" ", "\n", "-"):
        text = "here it is " + sep.join(wif[i : i + 4] for i in range(0, len(wif), 4)) + " thanks"
        out, found = redact_text(text)
        assert [r.kind for r in found] == ["private_key"] and wif[4:8] not in out, text


@pytest.mark.parametrize("text", ["card 4111.1111.1111.1111 expired", "card 4111/1111/1111/1111", "my card\n4111 1111\n1111 1111\nthanks",
                                  "amex 3782.822463.10005"])
def test_card_numbers_with_dots_slashes_or_line_breaks_are_caught(text):
    out, found = redact_text(text)
    assert [r.kind for r in found] == ["card_number"]
    assert not re.search(r"\d{4}", out)
