"""email channel outbound against a real aiosmtpd server, and check() against Dovecot + aiosmtpd."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from channels.email import EmailChannel
from hub.errors import AuthError, PermanentDeliveryError, RetriableDeliveryError
from hub.types import BlobRef, ConnectorContext, MemoryState, OutboundReply
from normalizers import email as email_normalizer
from normalizers.model import Participant
from tests.support.dovecot import dovecot, free_port  # noqa: F401 - fixture
from tests.support.mail import SmtpServer, make_mail, smtp_server  # noqa: F401 - fixture


def config(port: int, **overrides) -> dict:
    cfg = {
        "imap_host": "127.0.0.1",
        "imap_port": 1,
        "imap_security": "none",
        "username": "support",
        "password": "imap-pw",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_username": "",
        "from_address": "support@hub.example",
        "from_name": "ACME Support",
    }
    cfg.update(overrides)
    return cfg


def channel(port: int, **overrides) -> EmailChannel:
    cfg = EmailChannel.Config(**config(port, **overrides))
    return EmailChannel(ConnectorContext(name="mail", kind="email", config=cfg, state=MemoryState()))


TOKEN = "7f3a9c01b2de"


def reply(**overrides) -> OutboundReply:
    data = dict(
        id=7,
        conversation_id=42,
        connector="mail",
        to=Participant(medium="email", address="customer@example.org", name="Carla Customer"),
        thread_key="mail:<q1@example.org>",
        text="Hi Carla,\n\nyour withdrawal is on its way.\n\nACME",
        subject="Withdrawal stuck",
        in_reply_to="<q2@example.org>",
        references=("<q1@example.org>", "<omnihub.0a1b2c3d4e5f60718293a4b5c6d7e8f9@hub.example>"),
        attachments=(BlobRef("receipt.pdf", "application/pdf", 9, "x", loader=lambda: b"%PDF-1.4\n"),),
        conversation_extra={"token": TOKEN},
    )
    data.update(overrides)
    return OutboundReply(**data)


def received(server: SmtpServer) -> email.message.EmailMessage:
    [(mail_from, rcpts, raw)] = server.received
    assert mail_from == "support@hub.example" and rcpts == ["customer@example.org"]
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_reply_has_threading_headers_token_and_parts(smtp_server):
    result = channel(smtp_server.port).send(reply())
    msg = received(smtp_server)
    assert result.external_id == msg["Message-ID"]
    assert re.fullmatch(r"<omnihub\.[0-9a-f]{32}@hub\.example>", msg["Message-ID"])  # no internal ids
    assert msg["In-Reply-To"] == "<q2@example.org>"
    assert msg["References"].split() == ["<q1@example.org>", "<omnihub.0a1b2c3d4e5f60718293a4b5c6d7e8f9@hub.example>", "<q2@example.org>"]
    assert msg["Reply-To"].addresses[0].addr_spec == f"support+c{TOKEN}@hub.example"
    assert msg["Subject"] == f"Re: Withdrawal stuck [#{TOKEN}]"
    assert msg["From"].addresses[0].display_name == "ACME Support"
    assert msg["To"].addresses[0].addr_spec == "customer@example.org"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf",
    ]
    assert "your withdrawal is on its way." in msg.get_body(("plain",)).get_content()
    assert "<p>Hi Carla,</p>" in msg.get_body(("html",)).get_content()
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "receipt.pdf" and att.get_content() == b"%PDF-1.4\n"


def test_automatic_replies_say_so(smtp_server):
    channel(smtp_server.port).send(reply(options={"auto": True}))
    channel(smtp_server.port).send(reply())
    auto, human = (email.message_from_bytes(raw, policy=email.policy.default) for _, _, raw in smtp_server.received)
    assert auto["Auto-Submitted"] == "auto-replied" and human["Auto-Submitted"] is None
    assert human["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    # and our own automatic reply, were it to come back, is recognised as automatic
    assert email_normalizer.normalize(smtp_server.received[0][2], connector="mail")[0].auto_generated


def test_the_same_reply_retried_keeps_its_message_id(smtp_server):
    ch = channel(smtp_server.port)
    assert ch.send(reply()).external_id == ch.send(reply()).external_id
    assert ch.send(reply(id=8)).external_id != ch.send(reply()).external_id
    # another database (same reply id, another conversation token): another id
    assert ch.send(reply(conversation_extra={"token": "0123456789ab"})).external_id != ch.send(reply()).external_id


def test_customer_answer_to_our_reply_threads_back(smtp_server):
    """Our Message-ID in In-Reply-To, or (Outlook rewrote it) the token in To and subject."""
    sent = channel(smtp_server.port).send(reply())
    ours = received(smtp_server)
    answer = make_mail("answer", subject=f"RE: {ours['Subject']}", headers={"In-Reply-To": sent.external_id, "References": ours["References"] + " " + sent.external_id})
    msg = email_normalizer.normalize(answer, connector="mail")[0]
    assert msg.in_reply_to == sent.external_id and sent.external_id in msg.references
    assert msg.thread_key == "mail:<q1@example.org>"
    assert msg.conversation_token.token == TOKEN
    rewritten = make_mail("outlook", subject=f"RE: Withdrawal stuck [#{TOKEN}]", headers={"In-Reply-To": "<LOCAL.outlook.id@outlook.com>"}).replace(
        b"To: support@hub.example", f"To: ACME Support <support+c{TOKEN}@hub.example>".encode()
    )
    msg = email_normalizer.normalize(rewritten, connector="mail")[0]
    assert msg.conversation_token.token == TOKEN and msg.conversation_token.source == "address"


def test_token_falls_back_to_the_conversation_id_and_refuses_unsafe_tokens(smtp_server):
    channel(smtp_server.port).send(reply(conversation_extra={}))
    assert received(smtp_server)["Subject"] == "Re: Withdrawal stuck [#42]"
    with pytest.raises(PermanentDeliveryError, match="token"):
        channel(smtp_server.port).send(reply(conversation_extra={"token": "a@b>"}))


def test_header_injection_through_name_and_subject_is_impossible(smtp_server):
    evil = reply(
        to=Participant(medium="email", address="customer@example.org", name="Carla\r\nBcc: thief@evil.example"),
        subject="Hello\r\nBcc: thief@evil.example\r\n\r\nfake body",
    )
    channel(smtp_server.port, from_name="ACME\nX-Evil: 1").send(evil)
    msg = received(smtp_server)  # asserts the only envelope recipient is the customer
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in msg["Subject"] and "Bcc: thief@evil.example" in msg["Subject"]


@pytest.mark.parametrize("address", ["customer@example.org\r\nBcc: x@evil.example", "not-an-address", "a@b@c", ""])
def test_invalid_recipient_is_a_permanent_error(smtp_server, address):
    with pytest.raises(PermanentDeliveryError, match="invalid recipient"):
        channel(smtp_server.port).send(reply(to=Participant(medium="email", address=address)))
    assert smtp_server.received == []


def test_5xx_is_permanent_with_the_servers_reason(smtp_server):
    smtp_server.rcpt_reply = "550 5.1.1 <customer@example.org>: Recipient address rejected: User unknown"
    with pytest.raises(PermanentDeliveryError, match="User unknown") as info:
        channel(smtp_server.port).send(reply())
    assert not isinstance(info.value, RetriableDeliveryError)


def test_4xx_is_retriable(smtp_server):
    smtp_server.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    with pytest.raises(RetriableDeliveryError, match="451 4.3.0"):
        channel(smtp_server.port).send(reply())


def test_connection_refused_is_retriable():
    with pytest.raises(RetriableDeliveryError, match="SMTP 127.0.0.1"):
        channel(free_port()).send(reply())


def test_starttls_against_a_server_without_it_is_a_config_problem(smtp_server):
    with pytest.raises(PermanentDeliveryError, match="smtp_security"):
        channel(smtp_server.port, smtp_security="starttls").send(reply())


def test_smtp_auth():
    with SmtpServer(auth=("agent", "smtp-pw")) as server:
        channel(server.port, smtp_username="agent", smtp_password="smtp-pw").send(reply())
        assert len(server.received) == 1
        with pytest.raises(AuthError, match="login refused: 535"):
            channel(server.port, smtp_username="agent", smtp_password="nope").send(reply())


def test_no_smtp_host_is_permanent():
    with pytest.raises(PermanentDeliveryError, match="no smtp_host"):
        channel(25, smtp_host=None).send(reply())


def test_check_logs_in_to_both_and_reports_capabilities(dovecot):
    with SmtpServer(auth=("agent", "smtp-pw")) as server:
        cfg = EmailChannel.Config(**dovecot.config(smtp_host="127.0.0.1", smtp_port=server.port, smtp_security="none", smtp_username="agent", smtp_password="smtp-pw"))
        result = EmailChannel(ConnectorContext(name="mail", kind="email", config=cfg)).check()
    assert result.ok, result.summary
    assert "IDLE" in result.details["imap_capabilities"] and "UIDPLUS" in result.details["imap_capabilities"]
    assert any(c.startswith("AUTH") for c in result.details["smtp_capabilities"])
    assert result.details["folders"]["INBOX"]["messages"] == 0


def test_our_own_reply_in_a_watched_folder_is_ignored(smtp_server):
    ch = channel(smtp_server.port)
    ch.send(reply())
    [(_, _, raw)] = smtp_server.received
    from hub.types import RawEvent

    assert ch.normalize(RawEvent(external_id="x", hook="imap", payload=raw, content_type="message/rfc822")) == []



def test_in_reply_to_survives_our_own_later_messages_in_the_thread(smtp_server):
    """After our acknowledgement (or an earlier reply) the customer's latest message is still
    the parent: In-Reply-To names it and it ends References (fresh-eyes finding, #18)."""
    ack = "<omnihub.0a1b2c3d4e5f60718293a4b5c6d7e8f9@hub.example>"
    channel(smtp_server.port).send(reply(in_reply_to="<q1@example.org>", references=("<q1@example.org>", ack), attachments=()))
    msg = received(smtp_server)
    assert msg["In-Reply-To"] == "<q1@example.org>"
    assert msg["References"].split() == [ack, "<q1@example.org>"]
