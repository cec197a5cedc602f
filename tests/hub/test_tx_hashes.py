"""#16.3 end to end through a real worker: the transaction-id round trip (agent asks in the
inbox API, customer answers with a bare hash -> kept, a tx_hash entity, no warning, no
priority change), the ambiguous case (sealed: absent from the raw SQLite files and the
logs, revealed with one logged call), and a certain key (warning in the customer's
language, signed with OMNIHUB_DESK_NAME)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug import Response

from hub import signing
from hub.models import AuditLog, InboundEvent, Message, Reply
from normalizers.codecs import b58check_encode
from normalizers.redact import asks_for_transaction
from tests.support.hub import wait_until

SECRET = "api-secret-tx"
TX = "5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
AMBIGUOUS = "e9873d79c6d87dc0fb6a5778633389f4453213303da61f20bd67fc233aa33262"


def post(h, *, id, text, sender="ana"):
    body = json.dumps({"id": id, "from": {"id": sender, "name": sender.title()}, "text": text}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def processed(h, n):
    return h.count(InboundEvent, InboundEvent.state == "processed") == n


@pytest.fixture
def desk(make_hub, httpserver):
    h = make_hub(log_level="DEBUG", desk_name="Acme Wallet Help")
    received: list = []

    def handler(request):
        signing.verify(SECRET, request.get_data(), request.headers)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(handler)
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    h.start_worker()
    h.received = received
    return h


@pytest.mark.parametrize("prefix", ["", "0x"])
def test_transaction_id_round_trip(desk, prefix):
    h = desk
    post(h, id="m1", text="My withdrawal of 0.3 ETH never arrived")
    wait_until(lambda: processed(h, 1), message="first message")
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    before = (conv["priority"], conv["category"], conv["security_flag"])
    resp = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Sorry about that! Can you send me the transaction id?"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    wait_until(lambda: len(h.received) == 1, message="agent reply delivered")
    post(h, id="m2", text=f"{prefix}{TX}")  # a bare hash, nothing else
    wait_until(lambda: processed(h, 2), message="hash ingested")
    full = h.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()
    answer = full["messages"][-1]
    assert answer["text"] == f"{prefix}{TX}" and answer["redactions"] == [] and answer["sealed"] == []
    assert {"kind": "tx_hash", "value": f"{prefix}{TX}"}.items() <= next(e for e in answer["entities"] if e["kind"] == "tx_hash").items()
    # the conversation is about "0.3 ETH": the hash is an Ethereum one (not the format's guess, bitcoin)
    assert next(e for e in answer["entities"] if e["kind"] == "tx_hash")["chain"] == "ethereum"
    assert any(e["kind"] == "tx_hash" and e["value"] == f"{prefix}{TX}" for e in full["entities"])
    assert (full["priority"], full["category"], full["security_flag"]) == before
    assert "security-urgent" not in full["tags"]
    h.stop_all()
    assert len(h.received) == 1  # no warning went out
    assert h.count(Reply, Reply.source_ref == f"security_warning:{conv['id']}") == 0


def test_an_ambiguous_hash_is_sealed_revealable_and_the_reveal_is_logged(desk, capfd):
    h = desk
    post(h, id="a1", text=f"hi, this is what the app shows me:\n{AMBIGUOUS}\nwhat does it mean?")
    wait_until(lambda: processed(h, 1), message="ingested")
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    full = h.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()
    msg = full["messages"][0]
    assert "[sealed: hex string #1]" in msg["text"] and AMBIGUOUS not in json.dumps(full)
    assert msg["sealed"] == [{"ref": 1, "kind": "hex"}]
    assert full["priority"] != "urgent" and not full["security_flag"] and "security-urgent" not in full["tags"]
    assert h.count(Reply, Reply.source_ref == f"security_warning:{conv['id']}") == 0
    h.stop_all()
    assert h.received == []
    # the raw SQLite files (database, WAL), then after a checkpoint: the hex is nowhere
    db_path = Path(h.settings.effective_database_url.removeprefix("sqlite:///"))
    needles = [AMBIGUOUS.encode(), AMBIGUOUS.upper().encode(), bytes.fromhex(AMBIGUOUS)]
    for f in db_path.parent.glob(db_path.name + "*"):
        data = f.read_bytes()
        assert not any(n in data for n in needles), f
    h.rt.db.dispose()
    with sqlite3.connect(db_path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert not any(n in db_path.read_bytes() for n in needles)
    assert AMBIGUOUS not in h.output("worker")
    # the API reveals (what the inbox's Reveal button calls) and logs who did it
    resp = h.api("POST", f"/api/v1/messages/{msg['id']}/sealed/1/reveal")
    assert resp.status_code == 200 and resp.get_json()["value"] == AMBIGUOUS
    assert h.api("POST", f"/api/v1/messages/{msg['id']}/sealed/2/reveal").status_code == 404
    with h.rt.db.read() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "sealed.reveal")).all()
    assert len(audit) == 1 and audit[0].target_id == str(msg["id"]) and audit[0].details["ref"] == 1 and "@" in audit[0].actor
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "sealed.revealed" in logged and f"message_id={msg['id']}" in logged.replace('"message_id": ', "message_id=")
    assert AMBIGUOUS not in logged
    # the inbox says what happened to it: sealed and revealable, not removed
    from tests.web.conftest import AGENT, add_users
    from tests.web.test_audit_web import login

    add_users(h)
    agent = h.app.test_client()
    login(agent, AGENT)
    page = agent.get(f"/inbox/c/{conv['id']}").get_data(as_text=True)
    assert "Sealed (encrypted, an agent can reveal it" in page and "Removed before storage" not in page


def test_the_inbox_renders_a_reveal_button(desk):
    from hub.web.inbox import highlight_redactions

    html = str(highlight_redactions("look [sealed: hex string #1] <b>", [], 7, [{"ref": 1, "kind": "hex"}]))
    assert 'class="reveal-sealed"' in html and 'data-url="/api/v1/messages/7/sealed/1/reveal"' in html and "&lt;b&gt;" in html


def test_a_certain_key_still_warns_in_the_customers_language_signed_by_the_desk(desk):
    h = desk
    wif = b58check_encode(b"\x80" + bytes(range(1, 33)) + b"\x01")
    post(h, id="k1", text=f"Hola, no me llega mi retiro. Mi clave privada es {wif}, ¿me podéis ayudar por favor?")
    wait_until(lambda: len(h.received) == 1, message="warning sent")
    warning = h.received[0]
    assert warning["text"].startswith("Importante:") and warning["text"].rstrip().endswith("— Acme Wallet Help")
    assert warning["author"] == "Acme Wallet Help" and "omnihub" not in warning["text"].lower()
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    assert conv["priority"] == "urgent" and conv["security_flag"] is True
    with h.rt.db.read() as s:
        assert wif not in " ".join(s.scalars(select(Message.text)))


@pytest.mark.parametrize(
    "text",
    [
        "Can you send me the transaction id?",
        "Withdrawals are usually processed within 30 minutes. Could you send me the transaction hash so I can check?",
        "¿Puedes enviarme el hash de la transacción?",
        "Em pots enviar l'identificador de la transacció, si us plau?",
        "Pode enviar-me o hash da transação?",
        "Pouvez-vous m'envoyer l'identifiant de la transaction ?",
        "Können Sie mir bitte die Transaktions-ID schicken?",
        "Puoi inviarmi l'hash della transazione?",
        "Kunt u mij de transactie-ID sturen?",
        "Please paste the TXID from the explorer.",
    ],
)
def test_the_agent_asking_for_a_transaction_is_recognised_in_every_language(text):
    assert asks_for_transaction(text)


@pytest.mark.parametrize("text", ["Your transaction was confirmed, have a nice day.", "Thanks, we are looking into it.", ""])
def test_other_agent_messages_are_not_a_request(text):
    assert not asks_for_transaction(text)


def test_a_hash_answer_keeps_the_conversations_language_and_the_survey_follows_it(desk):
    """Found by a newcomer (2026-12-07): the hex of a hash read as Italian or French switched an
    English conversation, and its customer got the satisfaction survey in Italian."""
    from config import templates

    h = desk
    post(h, id="m1", text="Hello, my deposit of 0.2 ETH has not arrived yet, can you check please?")
    wait_until(lambda: processed(h, 1), message="first message")
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    assert conv["language"] == "en"
    h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Can you send me the transaction id?"})
    wait_until(lambda: len(h.received) == 1, message="agent reply delivered")
    for i, text in enumerate((TX, f"here it is {TX}", f"0x{TX}"), start=2):
        post(h, id=f"m{i}", text=text)
        wait_until(lambda i=i: processed(h, i), message=f"answer {i}")
        assert h.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["language"] == "en", text
    h.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
    wait_until(lambda: len(h.received) == 2, message="survey sent")
    survey = h.received[-1]
    assert survey["text"] == templates.render("csat_survey", "en")
    assert survey["author"] == "Acme Wallet Help"  # automatic messages go out under the desk's name
