"""#21.5 erasure and export of a contact, proved on SQLite and PostgreSQL: after
`omnihub contacts erase`, a full dump of the database (sqlite3 .dump / pg_dump), every file
of the attachment store and every Redis key of the hub hold none of the contact's
identifiers, texts or attachment bytes; the audit chain still verifies."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url

from channels.twilio import signature
from hub import audit
from hub.models import (
    AuditLog,
    Connector,
    Contact,
    Conversation,
    ConversationEvent,
    HelpdeskLink,
    Identity,
    InboundEvent,
    Message,
    TicketRemoval,
    WebhookEvent,
)
from hub.states import EventState
from tests.support.hub import Hub
from tests.support.twilio_webhooks import inbound_sms

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
OUR = "+14155550100"
API_SECRET = "api-secret-erasure"

PHONE = "+14155550177"
EMAIL = "erin.erasable@example.org"
NAME = "Erin Erasable"
API_ID = "erin-user-4242"
SMS_TEXT = "my wallet zebra-quokka-7731 was drained"
API_TEXT = "please look at marmalade-sunflower-4420 in the statement"
REPLY_TEXT = "Looking into the marmalade transfer now"
FILE_BYTES = b"%PDF-1.4\nERIN-PRIVATE-STATEMENT-8d1f3a\n" + bytes(range(256)) * 4
KEEP_NAME, KEEP_TEXT, KEEP_BYTES = "Kim Keeper", "keeper text lemon-otter-9911", b"KEEPER-FILE-2b7c" * 8

#: what must be gone everywhere (lower-case comparisons)
TRACES = [PHONE, PHONE.lstrip("+"), EMAIL, NAME, "Erin", "Erasable", API_ID, "zebra-quokka-7731", "marmalade-sunflower-4420",
          "marmalade transfer", "ERIN-PRIVATE-STATEMENT-8d1f3a"]


@pytest.fixture
def hub(tmp_path, db_url, redis_url):
    h = Hub(tmp_path, redis_url, database_url=db_url)
    yield h
    h.close()


def _sms(hub: Hub, sid: str, frm: str, body: str) -> None:
    pairs = inbound_sms(sid, frm, OUR, body, ACCOUNT_SID)
    url = f"{hub.settings.effective_public_url.rstrip('/')}/webhooks/phone/sms"
    resp = hub.client.post("/webhooks/phone/sms", data=urlencode(pairs),
                           headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature.sign(TOKEN, url, pairs)})
    assert resp.status_code == 200, resp.data


def _api(hub: Hub, msg_id: str, sender: dict, text_: str, data: bytes, filename: str) -> None:
    from hub import signing

    body = json.dumps({"id": msg_id, "from": sender, "text": text_,
                       "attachments": [{"filename": filename, "content_type": "application/pdf",
                                        "data_base64": base64.b64encode(data).decode()}]}).encode()
    resp = hub.client.post("/webhooks/web/messages", data=body,
                           headers={"Content-Type": "application/json", **signing.sign(API_SECRET, body)})
    assert resp.status_code == 200, resp.data


def _ingest(hub: Hub) -> None:
    from workers import ingest

    with hub.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id).where(InboundEvent.state == EventState.PENDING)))
    ingest.process(hub.rt, ids)


def _contact_of(hub: Hub, address_like: str) -> int:
    with hub.rt.db.read() as s:
        return s.scalar(select(Identity.contact_id).where(Identity.address.like(f"%{address_like}%")))


def seed(hub: Hub) -> dict:
    """Erin writes by SMS and through the API channel (with a file); the two contacts are
    merged; an agent replies; her conversation is linked to a Zendesk ticket; an audit entry
    and a connector's state name her. Kim, another customer, must survive all of it."""
    hub.add_connector("phone", "twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN, phone_numbers=OUR, api_base_url="http://127.0.0.1:9")
    hub.add_connector("web", "api", secret=API_SECRET)
    hub.add_connector("zd", "zendesk", base_url="http://127.0.0.1:9", email="agent@example.com", api_token="zd-token")
    # an event-webhook subscription: the hub copies each new conversation and message into webhook_events
    sub = hub.api("POST", "/api/v1/event-subscriptions",
                  {"url": "http://127.0.0.1:9/hook", "events": ["conversation.created", "message.created"]})
    assert sub.status_code in (200, 201), sub.data
    _sms(hub, "SM" + "a" * 32, PHONE, SMS_TEXT)
    _api(hub, "erin-msg-1", {"id": API_ID, "name": NAME, "email": EMAIL}, API_TEXT, FILE_BYTES, "statement.pdf")
    _api(hub, "kim-msg-1", {"id": "kim-7", "name": KEEP_NAME, "email": "kim@example.net"}, KEEP_TEXT, KEEP_BYTES, "kim.pdf")
    _ingest(hub)
    erin_api, erin_sms = _contact_of(hub, API_ID), _contact_of(hub, PHONE)
    assert erin_api and erin_sms and erin_api != erin_sms
    assert hub.api("POST", f"/api/v1/contacts/{erin_api}/merge", json={"other_id": erin_sms}).status_code == 200
    with hub.rt.db.read() as s:
        convs = list(s.scalars(select(Conversation.id).where(Conversation.contact_id == erin_api).order_by(Conversation.id)))
        zd = s.scalar(select(Connector.id).where(Connector.name == "zd"))
    assert len(convs) == 2
    r = hub.api("POST", f"/api/v1/conversations/{convs[1]}/replies", json={"text": REPLY_TEXT, "internal": True})
    assert r.status_code in (200, 201, 202), r.data
    with hub.rt.db.session() as s:
        s.add(HelpdeskLink(conversation_id=convs[1], helpdesk_id=zd, external_ref="31337", data={}))
        audit.record(s, actor="cli", action="contact.update", target_type="contact", target_id=str(erin_api),
                     details={"note": f"customer {EMAIL} called from {PHONE}"})
        phone = s.scalar(select(Connector).where(Connector.name == "phone"))
        phone.state = {**(phone.state or {}), "lookup_cache": {PHONE: {"carrier": "x"}}, "kept": "yes"}
    hub.rt.redis.zadd(f"{hub.settings.queue_prefix}:typing", {f"{convs[1]}:agent@example.com": 9e12})
    return {"contact": erin_api, "merged": erin_sms, "convs": convs}


# ------------------------------------------------------------------------------ dumps
def dump_database(url: str, dest: Path) -> bytes:
    """The whole database as SQL text: the real sqlite3 / pg_dump when installed, else every
    row of every table through SQLAlchemy."""
    u = make_url(url)
    if u.drivername.startswith("sqlite") and shutil.which("sqlite3"):
        out = subprocess.run(["sqlite3", u.database, ".dump"], capture_output=True, check=True, timeout=120).stdout
    elif u.drivername.startswith("postgresql") and shutil.which("pg_dump"):
        libpq = u.set(drivername="postgresql").render_as_string(hide_password=False)
        proc = subprocess.run(["pg_dump", "--no-owner", libpq], capture_output=True, timeout=120)
        if proc.returncode != 0 and b"version mismatch" in proc.stderr:
            out = _sql_export(url)
        else:
            assert proc.returncode == 0, proc.stderr
            out = proc.stdout
    else:
        out = _sql_export(url)
    dest.write_bytes(out)
    return out


def _sql_export(url: str) -> bytes:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    lines = []
    with engine.connect() as c:
        for table in inspect(engine).get_table_names():
            for row in c.execute(text(f'SELECT * FROM "{table}"')):
                lines.append(f"{table}: {tuple(row)!r}")
    engine.dispose()
    return "\n".join(lines).encode()


def store_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def redis_dump(hub: Hub) -> bytes:
    r = hub.rt.redis
    out = []
    for key in r.scan_iter(f"{hub.settings.queue_prefix}*"):
        kind = r.type(key).decode()
        value = {"string": lambda k: r.get(k), "list": lambda k: r.lrange(k, 0, -1), "set": lambda k: r.smembers(k),
                 "zset": lambda k: r.zrange(k, 0, -1), "hash": lambda k: r.hgetall(k)}.get(kind, lambda k: b"")(key)
        out.append(key + b" " + repr(value).encode())
    return b"\n".join(out)


def traces(blob: bytes) -> list[str]:
    low = blob.lower()
    found = [t for t in TRACES if t.lower().encode() in low]
    found += ["attachment bytes"] if FILE_BYTES in blob or base64.b64encode(FILE_BYTES) in blob else []
    return found


# ------------------------------------------------------------------------------ tests
def test_erasure_leaves_no_trace_in_the_database_dump_the_store_or_redis(hub, tmp_path):
    ids = seed(hub)
    store = Path(hub.settings.effective_attachment_dir)
    before = dump_database(hub.settings.effective_database_url, tmp_path / "before.sql")
    # the dump does see the data before (the proof would be empty otherwise)
    assert {NAME, EMAIL, "zebra-quokka-7731", "marmalade transfer"} <= set(traces(before)), traces(before)
    with hub.rt.db.read() as s:
        assert any("zebra-quokka-7731" in json.dumps(p) for p in s.scalars(select(WebhookEvent.payload)))
    assert any(b == FILE_BYTES for b in store_bytes(store).values())
    with hub.rt.db.session() as s:  # a timeline entry, as routing writes one (teams.md): it goes with its conversation
        s.add(ConversationEvent(conversation_id=ids["convs"][0], kind="routed", details={"team": "Tier 1"}))

    res = hub.cli("contacts", "erase", str(ids["contact"]), "--yes")
    assert res.returncode == 0, res.stderr
    assert f"erased contact {ids['contact']}" in res.stdout and "queued for removal" in res.stdout

    after = dump_database(hub.settings.effective_database_url, tmp_path / "after.sql")
    assert traces(after) == [], f"left in the database dump: {traces(after)}"
    db_file = make_url(hub.settings.effective_database_url).database
    if db_file and hub.rt.db.engine.dialect.name == "sqlite":  # the raw file and its WAL too (secure_delete, checkpoint)
        # the checkpoint is the erasure's own, done while the hub's pool still holds its connections
        assert Path(db_file + "-wal").exists() is False or Path(db_file + "-wal").stat().st_size == 0 or traces(Path(db_file + "-wal").read_bytes()) == []
        hub.rt.db.engine.dispose()
        for suffix in ("", "-wal"):
            raw = Path(db_file + suffix).read_bytes() if Path(db_file + suffix).exists() else b""
            assert traces(raw) == [], f"left in the SQLite file{suffix}: {traces(raw)}"
    files = store_bytes(store)
    assert [n for n, b in files.items() if traces(b)] == [], "left in the attachment store"
    assert traces(redis_dump(hub)) == [], "left in Redis"
    # the other customer is untouched, file included
    assert KEEP_NAME.encode() in after and KEEP_TEXT.encode() in after
    assert any(b == KEEP_BYTES for b in files.values())
    with hub.rt.db.read() as s:
        assert s.get(Contact, ids["contact"]) is None and s.get(Contact, ids["merged"]) is None
        assert s.scalar(select(func.count()).select_from(Conversation).where(Conversation.id.in_(ids["convs"]))) == 0
        assert s.scalar(select(func.count()).select_from(ConversationEvent)) == 0
        removal = s.scalars(select(TicketRemoval)).one()
        assert (removal.external_ref, removal.state) == ("31337", "pending")
        phone = s.scalar(select(Connector).where(Connector.name == "phone"))
        assert phone.state.get("kept") == "yes" and "lookup_cache" in phone.state and phone.state["lookup_cache"] == {}
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "contact.erase")).one()
        assert entry.target_id == str(ids["contact"]) and entry.actor == "cli"
        assert entry.details["messages"] == 2 and entry.details["attachments"] == 1 and entry.details["audit_entries_redacted"] >= 1
        assert entry.details["webhook_events"] >= 2
        assert any("lemon-otter-9911" in json.dumps(p) for p in s.scalars(select(WebhookEvent.payload)))  # Kim's stay
    # the chain still verifies: the redacted entry is vouched for by the erase entry
    v = hub.cli("audit", "verify")
    assert v.returncode == 0, v.stderr


def test_a_redacted_audit_entry_without_its_attestation_breaks_the_chain(hub):
    with hub.rt.db.session() as s:
        row = audit.record(s, actor="cli", action="contact.update", target_type="contact", target_id="5", details={"x": EMAIL})
        audit.record(s, actor="cli", action="user.create", target_type="user", target_id="1")
        audit.redact(s, [row], "contact.erase")  # no contact.erase entry vouches for it
    with hub.rt.db.read() as s:
        v = audit.verify(s)
    assert not v.ok and v.broken_id == row.id and "vouches" in v.reason


def test_export_writes_json_and_the_attachment_files(hub, tmp_path):
    ids = seed(hub)
    out = tmp_path / "erin.zip"
    res = hub.cli("contacts", "export", str(ids["contact"]), "-o", str(out))
    assert res.returncode == 0, res.stderr
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("contact.json"))
        files = {n: z.read(n) for n in z.namelist() if n.startswith("attachments/")}
    assert {c["id"] for c in doc["contacts"]} == {ids["contact"], ids["merged"]}
    assert {i["address"] for i in doc["identities"]} >= {PHONE, f"web:{API_ID}"}
    texts = [m["text"] for c in doc["conversations"] for m in c["messages"]]
    assert SMS_TEXT in texts and API_TEXT in texts
    assert KEEP_TEXT not in json.dumps(doc)
    atts = [a for c in doc["conversations"] for m in c["messages"] for a in m["attachments"]]
    assert len(atts) == 1 and "storage_key" not in atts[0]
    assert files == {atts[0]["file"]: FILE_BYTES}
    # the API answers the same zip, admins only; both are audited
    r = hub.api("GET", f"/api/v1/contacts/{ids['contact']}/export")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        assert json.loads(z.read("contact.json"))["contact_id"] == ids["contact"]
    with hub.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "contact.export")) == 2


def test_api_erase_is_admin_only_and_wants_the_id_repeated(hub):
    from hub.auth import create_token, create_user

    ids = seed(hub)
    with hub.rt.db.session() as s:
        create_user(s, "alan@example.com", "agent", "staple battery horse", "Alan Agent")
        agent = create_token(s, "alan@example.com")
    path = f"/api/v1/contacts/{ids['contact']}"
    assert hub.api("POST", f"{path}/erase", json={"confirm": ids["contact"]}, token=agent).status_code == 403
    assert hub.api("GET", f"{path}/export", token=agent).status_code == 403
    assert hub.api("PUT", "/api/v1/retention/web", json={"days": 5}, token=agent).status_code == 403
    assert hub.client.post(f"{path}/erase", json={"confirm": ids["contact"]}).status_code == 401
    wrong = hub.api("POST", f"{path}/erase", json={"confirm": ids["merged"]})
    assert wrong.status_code == 400 and wrong.get_json()["field"] == "confirm"
    for loose in (True, str(ids["contact"]), float(ids["contact"])):  # only the id itself, as a number
        assert hub.api("POST", f"{path}/erase", json={"confirm": loose}).status_code == 400, loose
    # the id of a contact merged into another: refused, naming the one to erase
    merged = hub.api("POST", f"/api/v1/contacts/{ids['merged']}/erase", json={"confirm": ids["merged"]})
    assert merged.status_code == 400 and f"merged into contact {ids['contact']}" in merged.get_json()["error"]
    assert hub.count(Contact, Contact.id == ids["contact"]) == 1
    r = hub.api("POST", f"{path}/erase", json={"confirm": ids["contact"]})
    assert r.status_code == 200 and r.get_json()["erased"] == ids["contact"] and r.get_json()["messages"] == 2
    assert hub.api("POST", f"{path}/erase", json={"confirm": ids["contact"]}).status_code == 404
    removals = hub.api("GET", "/api/v1/ticket-removals").get_json()["items"]
    assert [(i["helpdesk"], i["external_ref"], i["state"]) for i in removals] == [("zd", "31337", "pending")]
    # retention over the API: set, dry run (the default), remove
    assert hub.api("PUT", "/api/v1/retention/web", json={"days": 30, "action": "anonymize"}).get_json()["action"] == "anonymize"
    assert hub.api("PUT", "/api/v1/retention/web", json={"days": 0}).status_code == 400
    assert hub.api("PUT", "/api/v1/retention/nope", json={"days": 3}).status_code == 404
    dry = hub.api("POST", "/api/v1/retention/run", json={}).get_json()
    assert dry["dry_run"] is True and dry["connectors"]["web"]["messages"] == 0
    assert hub.api("DELETE", "/api/v1/retention/web").status_code == 204
    assert hub.api("GET", "/api/v1/retention").get_json()["items"] == []


def test_a_file_another_customer_also_sent_stays_until_both_are_erased(hub):
    hub.add_connector("web", "api", secret=API_SECRET)
    shared = b"SAME-BYTES-FOR-TWO" * 20
    _api(hub, "a-1", {"id": "ann-1", "name": "Ann Adams"}, "from ann", shared, "same.bin")
    _api(hub, "b-1", {"id": "bob-1", "name": "Bob Brown"}, "from bob", shared, "same.bin")
    _ingest(hub)
    store = Path(hub.settings.effective_attachment_dir)
    assert list(store_bytes(store).values()) == [shared]  # content-addressed: one blob
    from hub import erasure

    assert erasure.erase(hub.rt, _contact_of(hub, "ann-1"), actor="cli")["files"] == 0
    assert list(store_bytes(store).values()) == [shared]  # still Bob's
    assert erasure.erase(hub.rt, _contact_of(hub, "bob-1"), actor="cli")["files"] == 1
    assert store_bytes(store) == {}


def test_ids_of_erased_rows_are_never_handed_out_again(hub):
    """SQLite gives a new row max(id) + 1 unless the table is AUTOINCREMENT (0390_sqlite_ids):
    erasing the newest customer must not give the next one the same contact, conversation and
    message ids (the signed webhook's Idempotency-Key repeats, audit entries point at the wrong
    person, a later erasure redacted the first one's entry). PostgreSQL sequences never go back."""
    hub.add_connector("web", "api", secret=API_SECRET)
    _api(hub, "first-1", {"id": "wanda", "name": "Wanda Newest"}, "my deposit", b"%PDF-1 w", "w.pdf")
    _ingest(hub)
    with hub.rt.db.read() as s:
        old = {"contact": s.scalar(select(func.max(Contact.id))), "conv": s.scalar(select(func.max(Conversation.id))),
               "msg": s.scalar(select(func.max(Message.id)))}
    assert hub.cli("contacts", "erase", str(old["contact"]), "--yes").returncode == 0
    _api(hub, "second-1", {"id": "xena", "name": "Xena Next"}, "my withdrawal", b"%PDF-1 x", "x.pdf")
    _ingest(hub)
    with hub.rt.db.read() as s:
        new = {"contact": s.scalar(select(func.max(Contact.id))), "conv": s.scalar(select(func.max(Conversation.id))),
               "msg": s.scalar(select(func.max(Message.id)))}
    assert all(new[k] > old[k] for k in old), (old, new)
    # and erasing the new customer leaves the first erasure's own audit entry alone: the chain verifies
    assert hub.cli("contacts", "erase", str(new["contact"]), "--yes").returncode == 0
    v = hub.cli("audit", "verify")
    assert v.returncode == 0, v.stderr


def test_the_write_ahead_log_is_checkpointed_while_the_hub_holds_connections(hub):
    """The erasure's checkpoint ran inside the engine's transaction (BEGIN IMMEDIATE) and always
    failed with "database table is locked", leaving the erased rows in the -wal file."""
    from hub import erasure

    with hub.rt.db.read() as s:  # afterwards the pool holds the connection, as a running hub does
        s.scalar(select(func.count()).select_from(Contact))
    assert erasure.checkpoint(hub.rt, wait=5) is (None if hub.rt.db.engine.dialect.name != "sqlite" else True)


def test_export_includes_what_the_contact_wrote_in_other_peoples_conversations(hub, tmp_path):
    """#21.5 fresh eyes: the export held the contact's own conversations only; a message it
    wrote in a conversation of another contact (a group chat, a shared thread) was missing.
    It is in ``messages_in_other_conversations`` now, without the other people's messages."""
    from datetime import UTC, datetime

    ids = seed(hub)
    with hub.rt.db.session() as s:
        kim_conv = s.scalar(select(Conversation).where(Conversation.contact_id == _contact_of(hub, "kim-7")))
        erin_ident = s.scalar(select(Identity.id).where(Identity.address == f"web:{API_ID}"))
        s.add(Message(conversation_id=kim_conv.id, connector_id=kim_conv.connector_id, external_id="erin-in-kims-thread",
                      identity_id=erin_ident, direction="inbound", kind="message", sender_name=NAME,
                      sent_at=datetime.now(UTC), text="erin here too: walrus-lantern-5150", full_text="erin here too: walrus-lantern-5150",
                      html="", redactions=[], entities=[], extra={}, history=[]))
        kim_conv_id = kim_conv.id
    out = tmp_path / "erin.zip"
    res = hub.cli("contacts", "export", str(ids["contact"]), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "3 messages" in res.stdout, res.stdout
    with zipfile.ZipFile(out) as z:
        doc = json.loads(z.read("contact.json"))
    [other] = doc["messages_in_other_conversations"]
    assert other["text"] == "erin here too: walrus-lantern-5150" and other["conversation_id"] == kim_conv_id
    assert kim_conv_id not in {c["id"] for c in doc["conversations"]}
    assert KEEP_TEXT not in json.dumps(doc)  # Kim's own message in that conversation is not Erin's data


def test_sign_in_failure_counters_name_no_one_and_go_with_an_erasure(hub):
    """#21.5 fresh eyes: a customer who typed their email into the sign-in form left a Redis key
    named by HMAC("login", email) — a fixed key, so hashing a list of addresses finds them —
    and the erasure left it. Now the digest is keyed with the hub's secret and the erasure
    deletes the contact's counters; another address's counter stays."""
    import hashlib
    import hmac
    import re as re_

    ids = seed(hub)
    client = hub.app.test_client()
    for who in (EMAIL, "someone.else@example.net"):
        page = client.get("/login").get_data(as_text=True)
        token = re_.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"email": who, "password": "wrong-password", "csrf_token": token}).status_code == 401

    def login_keys() -> list[str]:
        return sorted(k.decode() for k in hub.rt.redis.scan_iter(match=f"{hub.settings.queue_prefix}:login:*"))

    def plain(email: str) -> str:
        return hmac.new(b"login", email.encode(), hashlib.sha256).hexdigest()[:16]

    keys = login_keys()
    mine, other = hub.rt.box.login_digest(EMAIL), hub.rt.box.login_digest("someone.else@example.net")
    assert any(k.endswith(mine) for k in keys) and any(k.endswith(other) for k in keys)
    assert not any(plain(EMAIL) in k or EMAIL in k for k in keys), keys  # nothing a list of addresses would match
    from hub import erasure

    erasure.erase(hub.rt, ids["contact"], actor="cli")
    keys = login_keys()
    assert not any(k.endswith(mine) for k in keys), keys
    assert any(k.endswith(other) for k in keys)  # not the erased contact's
    # the redis dump holds none of the contact's identifiers either
    assert traces(redis_dump(hub)) == []


def test_erasure_keeps_the_target_ids_of_export_and_merge_entries(hub, tmp_path):
    """#21 fresh eyes: erasure blanked the target ids of the contact's export and merge audit
    entries, so the log no longer said which contact was exported or merged. Only personal
    data goes: the details (and a target or actor that holds a name, email or phone) are
    removed, numeric target ids stay, and `omnihub audit verify` still passes."""
    from hub import erasure

    ids = seed(hub)
    with open(tmp_path / "erin.zip", "wb") as out:
        erasure.export(hub.rt, ids["contact"], out, actor="cli")
    with hub.rt.db.session() as s:  # an entry whose target is personal: it goes
        audit.record(s, actor="cli", action="contact.lookup", target_type="contact", target_id=EMAIL, details={"found": True})
    with hub.rt.db.read() as s:
        before = {a.id: (a.action, a.target_type, a.target_id) for a in s.scalars(select(AuditLog))}
    assert any(act == "contact.merge" and tid == str(ids["contact"]) for act, _t, tid in before.values())
    assert any(act == "contact.export" and tid == str(ids["contact"]) for act, _t, tid in before.values())

    res = hub.cli("contacts", "erase", str(ids["contact"]), "--yes")
    assert res.returncode == 0, res.stderr
    with hub.rt.db.read() as s:
        erase_entry = s.scalars(select(AuditLog).where(AuditLog.action == "contact.erase")).one()
        redacted = {int(k) for k in erase_entry.details["redacted_entries"]}
        rows = {a.id: a for a in s.scalars(select(AuditLog).where(AuditLog.id.in_(redacted)))}
    by_action = {}
    for row in rows.values():
        by_action.setdefault(row.action, []).append(row)
    for action in ("contact.merge", "contact.export", "contact.update"):
        assert by_action.get(action), (action, sorted(by_action))
        for row in by_action[action]:
            assert row.target_type == "contact" and row.target_id == before[row.id][2] and row.target_id.isdigit(), row.target_id
            assert row.details == {audit.REDACTED: "contact.erase"}  # the details (personal) are gone
    [lookup] = by_action["contact.lookup"]
    assert lookup.target_id == ""  # an email is personal data
    dumped = json.dumps([[r.actor, r.target_id, r.details] for r in rows.values()])
    assert EMAIL not in dumped and NAME not in dumped and PHONE not in dumped
    v = hub.cli("audit", "verify")
    assert v.returncode == 0, v.stdout + v.stderr


def _api_text(hub: Hub, msg_id: str, sender: dict, text_: str, connector: str = "web") -> None:
    from hub import signing

    body = json.dumps({"id": msg_id, "from": sender, "text": text_}).encode()
    resp = hub.client.post(f"/webhooks/{connector}/messages", data=body,
                           headers={"Content-Type": "application/json", **signing.sign(API_SECRET, body)})
    assert resp.status_code == 200, resp.data


def test_an_erasure_touches_only_what_names_the_contact_not_staff_records_or_other_customers(hub):
    """#21.5 fresh eyes (HIGH): an erasure matched identifiers as substrings of everything.
    A customer who gave an agent's sign-in address as their email redacted that agent's audit
    trail; one named "password" redacted every password sign-in; one named "conversations"
    redacted the earlier erasures' own entries (their counts have that key), after which
    `omnihub audit verify` reported the chain broken; one whose provider id is "deposit" took
    with it the journal rows, and the not yet processed messages, of every other customer who
    wrote "deposit". Now only what names the contact goes."""
    from hub import auth, erasure

    hub.add_connector("web", "api", secret=API_SECRET)
    with hub.rt.db.session() as s:
        agent, _ = auth.create_user(s, "agent@x.test", "agent", password="correct horse battery 9")
        audit.record(s, actor="agent@x.test", action="user.login", target_type="user", target_id=str(agent.id),
                     details={"method": "password", "ip": "10.0.0.7"})
        audit.record(s, actor="agent@x.test", action="export", target_type="conversations", target_id="2026-01-01..2026-02-01",
                     details={"format": "csv", "status": "open"})
    _api_text(hub, "rogue-msg-1", {"id": "rogue-77", "name": "password", "email": "agent@x.test"}, "please delete all my data")
    _api_text(hub, "dee-msg-1", {"id": "deposit", "name": "conversations"}, "erase me please")
    for n in range(3):
        _api_text(hub, f"other-msg-{n}", {"id": f"other-{n}", "name": f"Other Customer {n}"}, f"where is my deposit number {n}")
    _ingest(hub)
    # two more customers' messages are acknowledged but not yet processed when the erasure runs
    for n in range(2):
        _api_text(hub, f"pending-msg-{n}", {"id": f"pending-{n}", "name": f"Paula Pending {n}"}, "refund my deposit")
    rogue, dee = _contact_of(hub, "rogue-77"), _contact_of(hub, ":deposit")
    assert rogue and dee and rogue != dee
    with hub.rt.db.read() as s:
        staff_before = [(r.id, r.actor, r.details) for r in s.scalars(select(AuditLog).where(AuditLog.actor == "agent@x.test"))]
        journal_before = s.scalar(select(func.count()).select_from(InboundEvent))
    assert len(staff_before) == 2

    first = erasure.erase(hub.rt, rogue, actor="cli")
    with hub.rt.db.read() as s:
        staff_after = [(r.id, r.actor, r.details) for r in s.scalars(select(AuditLog).where(AuditLog.actor == "agent@x.test"))]
    assert staff_after == staff_before, "the agent's own audit trail was redacted by a customer's erasure"
    assert first["journal"] == 1, first

    second = erasure.erase(hub.rt, dee, actor="cli")
    assert second["journal"] == 1, second  # its own message's row, not the others' "deposit"
    with hub.rt.db.read() as s:
        erases = s.scalars(select(AuditLog).where(AuditLog.action == "contact.erase").order_by(AuditLog.id)).all()
        assert [e.target_id for e in erases] == [str(rogue), str(dee)]
        assert erases[0].details.get("conversations") == 1, erases[0].details  # the first erasure's record is intact
        assert s.scalar(select(func.count()).select_from(InboundEvent)) == journal_before - 2
        pending = s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == EventState.PENDING))
    assert pending == 2
    v = hub.cli("audit", "verify")
    assert v.returncode == 0, v.stdout + v.stderr
    _ingest(hub)  # the other customers' pending messages are stored after all
    with hub.rt.db.read() as s:
        texts = sorted(s.scalars(select(Message.text)))
    assert texts.count("refund my deposit") == 2 and sum("where is my deposit" in t for t in texts) == 3, texts
    assert "erase me please" not in texts and "please delete all my data" not in texts


def test_an_erasure_leaves_messages_that_merely_mention_the_contact_and_staff_entries_with_equal_values(hub):
    """#21.5 fresh eyes, second round (HIGH): an identifier found as a token anywhere still took
    other customers' pending messages that quoted it ("my friend bob-77 recommended you", a
    message whose own id was "conversations"), and a customer whose id was "127.0.0.1" or
    "2026-12-06" redacted every staff sign-in (their ip) and every export (their dates). A
    customer's erasure also cleared a staff member's sign-in lockout when it shared their address."""
    from hub import auth, erasure

    hub.add_connector("web", "api", secret=API_SECRET)
    with hub.rt.db.session() as s:
        auth.create_user(s, "alice@corp.example", "agent", password="correct horse battery 7")
        audit.record(s, actor="alice@corp.example", action="user.login", target_type="user", target_id="1",
                     details={"method": "password", "ip": "127.0.0.1"})
        audit.record(s, actor="alice@corp.example", action="export", target_type="conversations",
                     target_id="2026-12-06..2026-12-06", details={"format": "csv", "from": "2026-12-06", "to": "2026-12-06"})
    _api_text(hub, "bob-msg-1", {"id": "bob-77", "name": "Bob Bobson", "email": "bob@cust.example"}, "my order")
    _api_text(hub, "ip-msg-1", {"id": "127.0.0.1", "name": "Loopy"}, "hi")
    _api_text(hub, "day-msg-1", {"id": "2026-12-06", "name": "Daisy"}, "hello")
    _api_text(hub, "alice-cust-1", {"id": "alice-c", "name": "Alice Customer", "email": "alice@corp.example"}, "me again")
    _ingest(hub)
    # pending when the erasures run: others who quote the erased customers
    _api_text(hub, "carol-msg-1", {"id": "carol-88", "name": "Carol"}, "my friend bob-77 recommended you, cc bob@cust.example")
    _api_text(hub, "conversations", {"id": "pete-1", "name": "Pete"}, "my message id is a word")
    _api_text(hub, "rita-127.0.0.1-x", {"id": "rita-5", "name": "Rita"}, "from 127.0.0.1 on 2026-12-06")
    # alice (staff) is locked out after failed sign-ins: her counters are hers, not the customer's
    client = hub.app.test_client()
    import re as re_

    for _ in range(2):
        page = client.get("/login").get_data(as_text=True)
        token = re_.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"email": "alice@corp.example", "password": "wrong-password", "csrf_token": token})
    digest = hub.rt.box.login_digest("alice@corp.example")

    def alice_keys() -> list:
        return [k for k in hub.rt.redis.scan_iter(match=f"{hub.settings.queue_prefix}:login:*") if k.decode().endswith(digest)]

    assert alice_keys()
    with hub.rt.db.read() as s:
        staff_before = [(r.id, r.actor, r.target_id, r.details) for r in s.scalars(select(AuditLog).where(AuditLog.actor == "alice@corp.example"))]
    for who in ("bob-77", ":127.0.0.1", ":2026-12-06", "alice-c"):
        counts = erasure.erase(hub.rt, _contact_of(hub, who), actor="cli")
        assert counts["journal"] == 1, (who, counts)  # its own message's row only
    with hub.rt.db.read() as s:
        staff_after = [(r.id, r.actor, r.target_id, r.details) for r in s.scalars(select(AuditLog).where(AuditLog.actor == "alice@corp.example"))]
        pending = s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == EventState.PENDING))
    assert staff_after == staff_before
    assert pending == 3
    assert alice_keys(), "a customer's erasure cleared a staff member's sign-in counters"
    assert hub.cli("audit", "verify").returncode == 0
    _ingest(hub)
    with hub.rt.db.read() as s:
        texts = set(s.scalars(select(Message.text)))
    assert {"my friend bob-77 recommended you, cc bob@cust.example", "my message id is a word", "from 127.0.0.1 on 2026-12-06"} <= texts


def test_a_display_name_another_connectors_id_or_a_quoting_event_do_not_name_the_contact(hub):
    """#21.5 fresh eyes, third round: another customer's pending message was deleted when its
    sender's display name was the erased contact's email or id, or when its sender id equalled
    the contact's id on another connector (``site:cust-jj`` is not ``escalations:cust-jj``); and
    other customers' event-webhook events were deleted when their text quoted the contact."""
    from hub import erasure

    hub.add_connector("web", "api", secret=API_SECRET)
    hub.add_connector("esc", "api", secret=API_SECRET)
    sub = hub.api("POST", "/api/v1/event-subscriptions", {"url": "http://127.0.0.1:9/hook", "events": ["message.created"]})
    assert sub.status_code in (200, 201), sub.data
    _api_text(hub, "mia-1", {"id": "cust-mia", "name": "Mia Long", "email": "mia@example.com"}, "mia here")
    _api_text(hub, "bob-1", {"id": "cust-bob", "name": "Bob"}, "my sister is mia@example.com, ask cust-mia")
    _ingest(hub)
    _api_text(hub, "nora-p1", {"id": "cust-nora", "name": "mia@example.com", "email": "nora@example.net"}, "nora pending")
    _api_text(hub, "olga-p1", {"id": "cust-olga", "name": "cust-mia"}, "olga pending")
    _api_text(hub, "kay-p1", {"id": "cust-mia", "name": "Kay Kim"}, "kay pending on another connector", connector="esc")
    mia = _contact_of(hub, "web:cust-mia")
    with hub.rt.db.read() as s:
        bob_events = [r.id for r in s.scalars(select(WebhookEvent)) if "my sister" in json.dumps(r.payload)]
    assert bob_events
    counts = erasure.erase(hub.rt, mia, actor="cli")
    assert counts["journal"] == 1, counts
    with hub.rt.db.read() as s:
        assert s.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == EventState.PENDING)) == 3
        assert [r.id for r in s.scalars(select(WebhookEvent)) if "my sister" in json.dumps(r.payload)] == bob_events
    _ingest(hub)
    with hub.rt.db.read() as s:
        texts = set(s.scalars(select(Message.text)))
    assert {"nora pending", "olga pending", "kay pending on another connector"} <= texts and "mia here" not in texts
