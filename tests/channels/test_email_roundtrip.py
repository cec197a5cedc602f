"""End to end with the real hub: Dovecot -> poller (IDLE) -> journal -> worker -> conversation;
agent reply through the API -> SMTP (aiosmtpd) with threading headers -> the customer's
answer joins the same conversation; Outlook-rewritten In-Reply-To, forwards and bounces."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC

import pytest

from hub.models import Conversation, InboundEvent, Reply
from tests.support.dovecot import dovecot  # noqa: F401 - fixture
from tests.support.hub import wait_until
from tests.support.mail import SmtpServer, make_mail


@pytest.fixture
def mail_hub(hub, dovecot):  # noqa: F811
    with SmtpServer() as smtp:
        hub.add_connector(
            "mail",
            "email",
            **dovecot.config(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_username=""),
        )
        hub.start_worker()
        hub.start_poller()
        # the poller's first catch-up stored the folder's UIDVALIDITY: its IDLE session is up
        # (mail appended between the catch-up and the IDLE command is announced when IDLE starts)
        wait_until(lambda: _state(hub).get("imap:INBOX:uidvalidity"), timeout=20, message="IMAP session")
        yield hub, dovecot, smtp


def _state(hub) -> dict:
    from sqlalchemy import select

    from hub.models import Connector

    with hub.rt.db.read() as s:
        return dict(s.scalar(select(Connector.state).where(Connector.name == "mail")) or {})


def _conversations(hub) -> list[dict]:
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def _messages(hub, conv_id: int) -> list[dict]:
    return hub.api("GET", f"/api/v1/conversations/{conv_id}/messages").get_json()["items"]


def test_round_trip_customer_mail_agent_reply_customer_answer(mail_hub):
    hub, server, smtp = mail_hub
    # warm-up: the worker process's first job pays its imports; the latency claim is steady state
    server.append(make_mail(0, sender="warmup@example.net", subject="warm-up"))
    wait_until(lambda: _conversations(hub), timeout=15, message="warm-up conversation")
    first = make_mail(1, subject="My withdrawal is stuck", text="Hello,\n\nmy withdrawal has been pending since Monday.\n")
    appended = time.monotonic()
    server.append(first)
    wait_until(lambda: len(_conversations(hub)) == 2, timeout=10, interval=0.02, message="conversation from IMAP")
    latency = time.monotonic() - appended
    assert latency < 2.0, f"APPEND -> conversation took {latency:.2f}s"
    [conv] = [c for c in _conversations(hub) if c["subject"] == "My withdrawal is stuck"]
    assert conv["channel"] == "email"

    # the agent answers through the API; the send job delivers it over SMTP
    resp = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi! It is on its way.\n\nACME Support"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    wait_until(lambda: smtp.received, timeout=15, message="SMTP delivery")
    [(mail_from, rcpts, raw)] = smtp.received
    assert mail_from == "support@hub.example" and rcpts == ["customer@example.org"]
    ours = email.message_from_bytes(raw, policy=email.policy.default)
    wait_until(lambda: hub.count(Reply, Reply.state == "sent") == 1, timeout=10, message="reply recorded as sent")
    with hub.rt.db.read() as s:
        token = s.get(Conversation, conv["id"]).token
        reply_row = s.query(Reply).one()
        assert reply_row.external_id == ours["Message-ID"]  # stored for threading and bounces
    assert ours["In-Reply-To"] == "<q1@example.org>"
    assert "<q1@example.org>" in ours["References"].split()
    assert ours["Reply-To"].addresses[0].addr_spec == f"support+c{token}@hub.example"
    assert ours["Subject"] == f"Re: My withdrawal is stuck [#{token}]"
    assert "It is on its way." in ours.get_body(("plain",)).get_content()

    # the customer answers that reply: same conversation
    answer = make_mail(
        2,
        subject=f"Re: {ours['Subject']}",
        headers={"In-Reply-To": ours["Message-ID"], "References": f"<q1@example.org> {ours['Message-ID']}"},
        text="Thanks, it arrived!\n\nOn Sun, 22 Nov 2026 ACME Support <support@hub.example> wrote:\n> Hi! It is on its way.\n",
    )
    server.append(answer)
    wait_until(lambda: len(_messages(hub, conv["id"])) >= 2, timeout=10, message="answer joined")
    texts = [m["text"] for m in _messages(hub, conv["id"]) if m["direction"] == "inbound"]
    assert texts[-1] == "Thanks, it arrived!"  # the quote of our reply is not part of the new text
    assert len(_conversations(hub)) == 2

    # Outlook rewrote In-Reply-To/References, but the answer went to the Reply-To token address
    outlook = make_mail(
        3,
        subject=f"RE: My withdrawal is stuck [#{token}]",
        headers={"In-Reply-To": "<DB7PR01MB.outlook.local@eurprd01.prod.outlook.com>"},
        text="One more question.",
    ).replace(b"To: support@hub.example", f"To: ACME Support <support+c{token}@hub.example>".encode())
    server.append(outlook)
    wait_until(lambda: len(_messages(hub, conv["id"])) >= 3, timeout=10, message="outlook answer joined")
    assert len(_conversations(hub)) == 2

    # a forward from a new sender, without our headers or token, opens a new conversation
    server.append(make_mail(4, sender="colleague@example.net", subject=f"Fwd: Re: My withdrawal is stuck [#{token}]", text="FYI, see below."))
    wait_until(lambda: len(_conversations(hub)) == 3, timeout=10, message="forward opened a new conversation")
    assert "restarted" not in hub.output("poller") and hub.output("poller").count("poll.start") == 1


def test_bounce_marks_the_reply_failed_and_auto_replies_open_nothing(mail_hub):
    hub, server, smtp = mail_hub
    server.append(make_mail(1, subject="Help"))
    [conv] = wait_until(lambda: _conversations(hub), timeout=10, message="conversation")
    hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "On it."})
    wait_until(lambda: smtp.received, timeout=15, message="SMTP delivery")
    ours = email.message_from_bytes(smtp.received[0][2], policy=email.policy.default)
    wait_until(lambda: hub.count(Reply, Reply.state == "sent") == 1, timeout=10, message="reply sent")

    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: support@hub.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; customer@example.org\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ours['Message-ID']}\r\nSubject: {ours['Subject']}\r\n"
        "--b--\r\n"
    ).encode()
    server.append(dsn)
    server.append(make_mail("ooo", subject="Out of Office: back Monday", headers={"Auto-Submitted": "auto-replied"}))
    wait_until(lambda: hub.count(Reply, Reply.state == "failed") == 1, timeout=10, message="bounce applied")
    with hub.rt.db.read() as s:
        assert "552 5.2.2 Mailbox full" in s.query(Reply).one().last_error
    wait_until(lambda: hub.count(InboundEvent, InboundEvent.state.in_(("processed", "ignored"))) == 3, timeout=10, message="all handled")
    assert hub.count(InboundEvent, InboundEvent.state == "ignored") == 2  # auto-generated, outside any conversation
    assert len(_conversations(hub)) == 1  # neither the bounce nor the out-of-office opened one
    assert len(smtp.received) == 1  # and nothing answered them


def test_backfill_cli_journals_history_once(hub, dovecot):  # noqa: F811
    from datetime import datetime

    with dovecot.client() as c:
        c.append("INBOX", make_mail("old"), msg_time=datetime(2020, 1, 1, tzinfo=UTC))
        c.multiappend("INBOX", [make_mail(i) for i in range(5)])
    hub.add_connector("mail", "email", **dovecot.config())
    out = hub.cli("connectors", "backfill", "mail", "--since", "2025-01-01")
    assert out.returncode == 0, out.stderr
    assert "journaled 5 new messages" in out.stdout
    assert hub.count(InboundEvent) == 5
    out = hub.cli("connectors", "backfill", "mail")
    assert out.returncode == 0, out.stderr
    assert "journaled 1 new messages" in out.stdout  # the rest were already in the journal
    assert hub.count(InboundEvent) == 6


def test_connectors_check_cli_reports_both_servers(hub, dovecot):  # noqa: F811
    with SmtpServer() as smtp:
        hub.add_connector("mail", "email", **dovecot.config(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_username=""))
        out = hub.cli("connectors", "check", "mail")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK: IMAP 127.0.0.1")
    assert "imap_capabilities:" in out.stdout and "IDLE" in out.stdout and "smtp_capabilities:" in out.stdout
    assert dovecot.password not in out.stdout + out.stderr
