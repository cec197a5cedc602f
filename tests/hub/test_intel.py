"""Support intelligence in the running hub: secrets never stored/pushed/logged, the security
warning, SLA timers on a frozen clock, the CSAT round trip and the FAQ bot."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from werkzeug import Response

from hub import signing
from hub.db import Base
from hub.models import Conversation, InboundEvent, Reply
from hub.types import AdapterConfig, CheckResult, PushItem, PushResult
from outbound.base import HelpdeskBackend
from tests.support.hub import wait_until

SECRET = "s3cret-api-key"
PHRASE = "kingdom drive afford damp once skill film lady double section sleep cradle"
NUMBERED = "\n".join(f"{i}. {w.capitalize()}" for i, w in enumerate(PHRASE.split(), 1))


def post(hub, *, id, text, sender="alice", connector="web"):
    body = json.dumps({"id": id, "from": {"id": sender, "name": sender.title()}, "text": text}).encode()
    resp = hub.client.post(f"/webhooks/{connector}/messages", data=body,
                           headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def conv_json(hub, conv_id=None):
    if conv_id is None:
        items = hub.api("GET", "/api/v1/conversations").get_json()["items"]
        return items[0] if items else None
    return hub.api("GET", f"/api/v1/conversations/{conv_id}").get_json()


def web_desk(make_hub, httpserver, **settings):
    """A hub with a ``web`` api connector whose replies reach ``httpserver``'s /callback, and a
    started worker: ``(hub, received)``, the replies' JSON bodies in order."""
    h = make_hub(**settings)
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    received: list = []
    callback(httpserver, received)
    h.start_worker()
    return h, received


def callback(httpserver, received):
    def handler(request):
        signing.verify(SECRET, request.get_data(), request.headers)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(handler)


def leaks(blob: str | bytes) -> list[str]:
    """Every 3-word window of the phrase (any case, any separator) found in ``blob``."""
    data = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    flat = re.sub(r"[\W\d_]+", " ", data.lower())
    words = PHRASE.split()
    return [" ".join(words[i : i + 3]) for i in range(len(words) - 2) if " ".join(words[i : i + 3]) in flat]


def dump_tables(hub) -> str:
    out = io.StringIO()
    with hub.rt.db.read() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                out.write(f"{table.name}: {row!r}\n")
    return out.getvalue()


def test_recovery_phrase_never_reaches_the_database_a_log_line_or_the_customer_channel(make_hub, httpserver):
    h = make_hub(log_level="DEBUG")
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    received: list = []
    callback(httpserver, received)
    h.start_worker()
    post(h, id="s1", text=f"Hi, my wallet is empty. These are my words:\n{NUMBERED}\nplease help")
    post(h, id="s2", text=f"again: {PHRASE.upper()}")  # a second paste: still one warning
    wait_until(lambda: len(received) >= 1, message="security warning sent")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 2)
    conv = conv_json(h)
    assert conv["security_flag"] is True and conv["priority"] == "urgent" and "security-urgent" in conv["tags"]
    full = conv_json(h, conv["id"])
    assert all("[redacted: recovery phrase]" in m["text"] for m in full["messages"])
    assert full["messages"][0]["redactions"] == [{"kind": "recovery_phrase", "marker": "[redacted: recovery phrase]", "count": 1}]
    # exactly one warning, in English, on the customer's channel, with no secret in it
    h.stop_all()
    assert len(received) == 1
    assert "never ask for your recovery phrase" in received[0]["text"].lower() and not leaks(json.dumps(received))
    # 1. the database: every row of every table, then the raw SQLite files (incl. WAL)
    assert leaks(dump_tables(h)) == []
    db_path = Path(h.settings.effective_database_url.removeprefix("sqlite:///"))
    files = list(db_path.parent.glob(db_path.name + "*"))
    assert db_path in files
    for f in files:  # the database, its WAL and shared memory, as written
        assert leaks(f.read_bytes()) == [], f
    h.rt.db.dispose()
    with sqlite3.connect(db_path) as raw:  # fold the WAL into the main file, and look again
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert leaks(db_path.read_bytes()) == []
    # 2. logs: the worker ran at DEBUG; nothing of the phrase in its output
    assert h.output("worker") and leaks(h.output("worker")) == []


def test_the_log_processor_is_installed(capsys):
    import structlog

    from hub.logging import configure

    configure("DEBUG", "json")
    try:
        structlog.get_logger("t").info("debug.body", body=f"words: {PHRASE}", nested={"k": ["pwd: Hunter2!x"]})
        try:
            raise ValueError(f"could not parse {PHRASE}")
        except ValueError:
            structlog.get_logger("t").exception("parse.failed")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    assert "debug.body" in err and "parse.failed" in err and "ValueError" in err
    assert leaks(err) == [] and "Hunter2" not in err
    assert "[redacted: recovery phrase]" in err


def test_library_records_are_json_and_redacted_in_json_mode(capsys):
    """RQ's and other libraries' stdlib log records follow OMNIHUB_LOG_FORMAT=json too."""
    import json
    import logging

    import structlog

    from hub.logging import configure

    configure("INFO", "json")
    try:
        logging.getLogger("rq.worker").warning("Worker w1: could not connect to Redis instance: %s retrying in 2 seconds",
                                               "Error 111")
        logging.getLogger("some.lib").warning("got %s", f"words: {PHRASE}")
        lines = [json.loads(x) for x in capsys.readouterr().err.strip().splitlines()]
    finally:
        structlog.reset_defaults()
        configure("INFO", "console")
    assert [x["logger"] for x in lines] == ["rq.worker", "some.lib"] and all(x["level"] == "warning" for x in lines)
    assert "could not connect to Redis" in lines[0]["event"] and "timestamp" in lines[0]
    assert leaks(json.dumps(lines)) == [] and "[redacted: recovery phrase]" in lines[1]["event"]


class RecordingHelpdesk(HelpdeskBackend):
    """A helpdesk that POSTs each PushItem as JSON to a local HTTP server (test only)."""

    kind = "recording"
    title = "Recording helpdesk (tests)"

    class Config(AdapterConfig):
        url: str = ""

    def push(self, item: PushItem) -> PushResult:
        data = {k: v for k, v in dataclasses.asdict(item).items() if k != "attachments"}
        resp = httpx.post(self.config.url, content=json.dumps(data, default=str), headers={"Content-Type": "application/json"})
        resp.raise_for_status()
        return PushResult(ticket_ref=str(item.conversation.id), comment_ref=str(item.message_id))

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")


def test_recovery_phrase_never_reaches_a_helpdesk_request(make_hub, httpserver, monkeypatch):
    import outbound
    from workers import ingest, outbox

    monkeypatch.setitem(outbound.REGISTRY, "recording", RecordingHelpdesk)
    h = make_hub()
    h.add_connector("desk", "recording", url=httpserver.url_for("/push"))
    h.add_connector("web", "api", secret=SECRET, helpdesk="desk")
    pushed: list = []
    httpserver.expect_request("/push", method="POST").respond_with_handler(
        lambda r: (pushed.append(r.get_data(as_text=True)), Response("{}", content_type="application/json"))[1]
    )
    post(h, id="p1", text=f"my seed: {PHRASE} and my key 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
    with h.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id)))
    # the job bodies, run here so the test's registry (with the recording helpdesk) applies
    result = ingest.process(h.rt, ids)
    outbox.push(h.rt, result.push)
    assert len(pushed) == 1
    assert leaks(pushed[0]) == [] and "4a5e1e4b" not in pushed[0]
    body = json.loads(pushed[0])
    assert "[redacted: recovery phrase]" in body["text"] and "[redacted: private key]" in body["text"]
    assert body["conversation"]["priority"] == "urgent"


def test_sla_timers_on_a_frozen_clock(make_hub, db_url):
    from workers import ingest
    from workers.intel import sla_tick

    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="h1", text="Me han hackeado la cuenta y han robado mis fondos", sender="bob")
    post(h, id="q1", text="¿Cuál es vuestro horario de atención?", sender="carol")
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    convs = {c["customer"]["display_name"]: c for c in h.api("GET", "/api/v1/conversations").get_json()["items"]}
    hacked, question = convs["Bob"], convs["Carol"]
    assert (hacked["category"], hacked["priority"], hacked["language"]) == ("suspicious_access_or_hacked_account", "urgent", "es")
    start = datetime.fromisoformat(hacked["sla"]["started_at"])
    assert datetime.fromisoformat(hacked["sla"]["first_response_due"]) == start + timedelta(minutes=15)
    assert datetime.fromisoformat(hacked["sla"]["resolution_due"]) == start + timedelta(hours=3)
    assert datetime.fromisoformat(question["sla"]["first_response_due"]) == datetime.fromisoformat(question["sla"]["started_at"]) + timedelta(hours=1)

    def at(conv_id, when):
        """What the one SLA computation (hub.sla) says, and what the timer stored, at ``when``."""
        from hub import sla
        from hub.models import Conversation

        sla_tick(h.rt, at=when)
        with h.rt.db.read() as s:
            c = s.get(Conversation, conv_id)
            return sla.states(c, when), dict(c.sla), list(c.tags or [])

    live, stored, tags = at(hacked["id"], start + timedelta(minutes=5))
    assert live["first_response"] == stored["first_response"] == "ok"
    live, stored, tags = at(hacked["id"], start + timedelta(minutes=12))
    assert live["first_response"] == stored["first_response"] == "at_risk" and "sla-at-risk" in tags
    live, stored, tags = at(hacked["id"], start + timedelta(minutes=16))
    assert live["first_response"] == stored["first_response"] == "breached" and live["overall"] == "breached"
    assert "sla-breached" in tags and "sla-at-risk" not in tags
    listed = h.api("GET", "/api/v1/conversations?tag=sla-breached").get_json()["items"]
    assert [c["id"] for c in listed] == [hacked["id"]]
    assert h.api("GET", "/api/v1/conversations?tag=sla-at-risk").get_json()["items"] == []
    live_q, stored_q, _ = at(question["id"], start + timedelta(minutes=16))
    assert live_q["first_response"] == stored_q["first_response"] == "ok"  # 16 of 60 minutes
    assert stored["resolution"] == "ok"
    # an agent raises the question to urgent: 15 minutes from the same start
    h.api("PATCH", f"/api/v1/conversations/{question['id']}", json={"priority": "urgent"})
    q = conv_json(h, question["id"])["sla"]
    assert datetime.fromisoformat(q["first_response_due"]) == datetime.fromisoformat(q["started_at"]) + timedelta(minutes=15)


def test_csat_round_trip_in_the_customers_language(make_hub, httpserver):
    h, received = web_desk(make_hub, httpserver)
    post(h, id="c1", text="El meu saldo apareix duplicat a l'aplicació des d'ahir", sender="dana")
    conv = wait_until(lambda: conv_json(h), message="conversation")
    assert conv["language"] == "ca"
    resp = h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    assert resp.status_code == 200
    wait_until(lambda: len(received) == 1, message="survey sent")
    assert received[0]["text"].startswith("Com valoraries l'ajuda")
    post(h, id="c2", text="molt bé!", sender="dana")
    wait_until(lambda: len(received) == 2, message="thanks sent")
    assert received[1]["text"] == "Gràcies per la teva valoració!"
    got = conv_json(h, conv["id"])
    assert got["status"] == "resolved"  # a rating does not reopen it
    with h.rt.db.read() as s:
        c = s.get(Conversation, conv["id"])
        assert c.extra["csat"]["score"] == 5
    # resolving again does not ask twice
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "open"})
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    assert h.count(Reply, Reply.source_ref == f"csat:{conv['id']}") == 1


def test_csat_is_never_sent_to_an_opted_out_customer(make_hub):
    from hub.models import Identity
    from workers import ingest

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="o1", text="What are your opening hours?", sender="erin")
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.session() as s:
        s.scalars(select(Identity)).one().opted_out = True
    conv = conv_json(h)
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    assert h.count(Reply) == 0


def test_faq_bot_answers_only_where_enabled_and_hands_off(make_hub, httpserver):
    h = make_hub()
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"), faq_bot=True)
    h.add_connector("plain", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    received: list = []
    callback(httpserver, received)
    h.start_worker()
    post(h, id="f1", text="How long does a SEPA withdrawal take to arrive?", sender="fay")
    post(h, id="f2", text="How long does a SEPA withdrawal take to arrive?", sender="gus", connector="plain")
    post(h, id="f3", text="What fees do you charge? I want to talk to a human", sender="hal")
    wait_until(lambda: h.count(InboundEvent, InboundEvent.state == "processed") == 3)
    wait_until(lambda: len(received) == 1, message="faq answer")
    assert received[0]["to"] == {"id": "fay"}
    assert "1 to 2 business days" in received[0]["text"] and "reply \"agent\"" in received[0]["text"]
    with h.rt.db.read() as s:
        by_sender = {c.identity.display_name: c.extra.get("faq") for c in s.scalars(select(Conversation))}
    assert by_sender["Fay"]["action"] == "answer" and by_sender["Fay"]["article"] == "bank-transfer-times"
    assert by_sender["Gus"] is None  # off by default
    assert by_sender["Hal"]["action"] == "handoff" and by_sender["Hal"]["reason"] == "wants_human"


def test_stats_endpoint(make_hub, db_url):
    from hub.models import now
    from workers import ingest
    from workers.intel import sla_tick

    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="a1", text="Me han hackeado la cuenta", sender="ann")
    post(h, id="a2", text="My balance shows twice the amount I actually have", sender="ben")
    post(h, id="a3", text="La meva transferència està pendent i no es confirma", sender="cat")
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.session() as s:
        convs = {c.identity.display_name: c for c in s.scalars(select(Conversation))}
        t0 = convs["Ann"].created_at
        convs["Ann"].first_response_at = t0 + timedelta(minutes=10)  # within 15 min: met
        convs["Ann"].status, convs["Ann"].resolved_at = "resolved", t0 + timedelta(hours=2)
        convs["Ann"].extra = {**convs["Ann"].extra, "csat": {"asked_at": now().isoformat(), "score": 5}}
        convs["Ben"].first_response_at = convs["Ben"].created_at + timedelta(minutes=90)  # over 60: breached
        convs["Ben"].extra = {"csat": {"asked_at": now().isoformat(), "score": 2}}
    sla_tick(h.rt)
    resp = h.api("GET", "/api/v1/stats")
    assert resp.status_code == 200
    st = resp.get_json()
    assert st["conversations"] == 3 and st["security_flagged"] == 1
    assert st["volume"]["by_channel"] == {"api": 3}
    assert st["volume"]["by_language"] == {"es": 1, "en": 1, "ca": 1}
    assert st["volume"]["by_category"] == {"suspicious_access_or_hacked_account": 1, "duplicated_balance": 1,
                                           "transaction_not_processed": 1}
    assert st["first_response"]["count"] == 2 and st["first_response"]["median_minutes"] == 50.0
    assert st["resolution"] == {"count": 1, "avg_minutes": 120.0, "median_minutes": 120.0, "p90_minutes": 120.0}
    assert st["csat"]["responses"] == 2 and st["csat"]["average"] == 3.5 and st["csat"]["distribution"]["5"] == 1
    assert st["sla"]["first_response"]["met"] == 1 and st["sla"]["first_response"]["breached"] == 1
    assert st["sla"]["first_response"]["compliance"] == 0.5
    assert st["sla"]["resolution"]["met"] == 1  # hacked account resolved in 2 h of 3
    assert h.api("GET", "/api/v1/stats?since=yesterday").status_code == 400
    future = h.api("GET", "/api/v1/stats?since=2999-01-01T00:00:00Z").get_json()
    assert future["conversations"] == 0
    assert "/api/v1/stats" in h.client.get("/api/v1/openapi.json").get_json()["paths"]


def _simulatable_channels() -> list[str]:
    import channels
    from channels.base import ChannelAdapter

    return sorted(k for k, cls in channels.REGISTRY.items() if cls.simulate is not ChannelAdapter.simulate)


@pytest.mark.parametrize("kind", _simulatable_channels())
def test_every_channels_inbound_path_keeps_the_phrase_out_of_the_database(make_hub, kind):
    """Each registered channel's own signed request (its ``simulate``) carrying a pasted phrase."""
    from hub.connectors import ConnectorService
    from hub.models import Connector
    from tests.contract.examples import EXAMPLES
    from workers import ingest

    h = make_hub()
    h.add_connector("chan", kind, **EXAMPLES[kind])
    with h.rt.db.read() as s:
        adapter = ConnectorService(h.rt).adapter(s.scalar(select(Connector).where(Connector.name == "chan")))
    hook, headers, body = adapter.simulate(f"help, my recovery phrase is {PHRASE}", "customer-1")
    resp = h.client.post(f"/webhooks/chan/{hook}", data=body, headers=dict(headers))
    assert resp.status_code < 300, resp.get_data(as_text=True)
    with h.rt.db.read() as s:
        ids = list(s.scalars(select(InboundEvent.id)))
    ingest.process(h.rt, ids)
    assert h.count(InboundEvent, InboundEvent.state == "processed") == len(ids) >= 1
    dump = dump_tables(h)
    assert "[redacted: recovery phrase]" in dump and leaks(dump) == []
    db_path = Path(h.settings.effective_database_url.removeprefix("sqlite:///"))
    for f in db_path.parent.glob(db_path.name + "*"):
        assert leaks(f.read_bytes()) == [], f
    # the warning is queued in a shape this channel can send (e.g. a thread on X)
    with h.rt.db.read() as s:
        conv = s.scalars(select(Conversation)).one()
        warning = s.scalars(select(Reply).where(Reply.source_ref == f"security_warning:{conv.id}")).one()
        assert conv.security_flag and conv.priority == "urgent" and warning.state == "pending"
        adapter.validate_reply(warning.text, warning.options, thread_key=conv.thread_key)


def test_a_text_attachment_with_the_phrase_is_stored_redacted(make_hub):
    import base64

    from hub.models import AttachmentRow
    from workers import ingest

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    body = json.dumps({"id": "att1", "from": {"id": "ivy"}, "text": "my backup is attached",
                       "attachments": [{"filename": "seed.txt", "content_type": "text/plain",
                                        "data_base64": base64.b64encode(f"words:\n{NUMBERED}\n".encode()).decode()}]}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.read() as s:
        att = s.scalars(select(AttachmentRow)).one()
        stored = h.rt.blobs.get(att.storage_key)
        conv = s.scalars(select(Conversation)).one()
    assert stored == b"words:\n1. [redacted: recovery phrase]\n"
    assert conv.security_flag and conv.priority == "urgent"
    for f in Path(h.settings.effective_attachment_dir).rglob("*"):
        if f.is_file():
            assert leaks(f.read_bytes()) == [], f
    assert leaks(dump_tables(h)) == []


def test_auto_ack_in_the_customers_language_once_and_only_where_enabled(make_hub):
    from workers import ingest

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET, auto_ack=True)
    h.add_connector("plain", "api", secret=SECRET)
    post(h, id="k1", text="Hallo, meine Auszahlung ist seit gestern nicht angekommen", sender="jan")
    post(h, id="k2", text="Und das Geld fehlt immer noch auf meinem Konto", sender="jan")
    post(h, id="k3", text="Hello, my withdrawal has not arrived since yesterday", sender="kim", connector="plain")
    post(h, id="k4", text=f"Hello, here are my words {PHRASE}", sender="lou")  # gets the warning, not an ack
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id).order_by(InboundEvent.id))))
    with h.rt.db.read() as s:
        autos = {(r.source_ref.split(":")[0], s.get(Conversation, r.conversation_id).identity.display_name): r.text
                 for r in s.scalars(select(Reply).where(Reply.kind == "auto"))}
    assert set(autos) == {("ack", "Jan"), ("security_warning", "Lou")}
    assert autos[("ack", "Jan")].startswith("Danke für Ihre Nachricht")


def test_the_poller_runs_the_sla_timer(make_hub):
    from workers import ingest

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="t1", text="My account was hacked!", sender="mia")
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.session() as s:  # the conversation started 20 minutes ago: 15-minute target missed
        conv = s.scalars(select(Conversation)).one()
        started = datetime.fromisoformat(conv.sla["started_at"]) - timedelta(minutes=20)
        conv.sla = {**conv.sla, "started_at": started.isoformat(),
                    "first_response_due": (started + timedelta(minutes=15)).isoformat(), "first_response": "ok"}
        conv_id = conv.id
    h.start_poller()
    got = wait_until(lambda: "sla-breached" in (c := conv_json(h, conv_id))["tags"] and c, timeout=20, message="sla tick")
    assert got["sla"]["first_response"] == "breached" and got["sla"]["resolution"] == "ok"


def test_failure_reasons_stored_on_the_journal_are_redacted(make_hub):
    from workers.ingest import _fail

    h = make_hub()
    row = InboundEvent(attempts=0)
    _fail(h.rt, row, f"ValueError: could not parse {PHRASE!r}", True, None)
    assert row.state == "quarantined" and "[redacted: recovery phrase]" in row.error and leaks(row.error) == []


def test_auto_replies_take_the_shape_the_channel_accepts(make_hub):
    from hub.errors import PayloadInvalid
    from workers import ingest
    from workers.intel import _auto_reply

    class PostLimited:  # the validate_reply contract of channels.base.ChannelAdapter
        def __init__(self, allow_thread: bool) -> None:
            self.allow_thread = allow_thread

        def validate_reply(self, text, options, thread_key=None):
            if len(text) > 280 and not (options.get("thread") and self.allow_thread):
                raise PayloadInvalid("too long")

    h = make_hub()
    h.add_connector("web", "api", secret=SECRET)
    post(h, id="v1", text="hello", sender="nia")
    with h.rt.db.read() as s:
        ingest.process(h.rt, list(s.scalars(select(InboundEvent.id))))
    with h.rt.db.session() as s:
        conv = s.scalars(select(Conversation)).one()
        long_text = "x" * 400
        assert _auto_reply(s, conv, "a", "short", PostLimited(False)).options == {"auto": True}
        assert _auto_reply(s, conv, "b", long_text, PostLimited(True)).options == {"thread": True, "auto": True}
        assert _auto_reply(s, conv, "c", long_text, PostLimited(False)) is None
        assert _auto_reply(s, conv, "a", "short", PostLimited(False)) is None  # once per (conversation, what)
