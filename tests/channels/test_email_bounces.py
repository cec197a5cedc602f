"""Bounce linkage through the real email flow (issue 18 item 4): our real outgoing reply
(aiosmtpd captures it), then a bounce of each shape real servers send lands in Dovecot ->
that reply is failed with the reason; a delayed-delivery notice leaves it sent."""

from __future__ import annotations

import base64
import email
import email.policy

import pytest

from hub.models import InboundEvent, Reply
from tests.support.dovecot import dovecot  # noqa: F401 - fixture
from tests.support.hub import wait_until
from tests.support.mail import SmtpServer, make_mail


@pytest.fixture
def bounce_hub(hub, dovecot):  # noqa: F811
    with SmtpServer() as smtp:
        hub.add_connector("mail", "email", **dovecot.config(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_username=""))
        hub.start_worker()
        hub.start_poller()
        # (mail appended between the catch-up and the IDLE command is announced when IDLE starts)
        wait_until(lambda: hub.count(InboundEvent) >= 0 and _uidvalidity(hub), timeout=20, message="IMAP session")
        yield hub, dovecot, smtp


def _uidvalidity(hub):
    from sqlalchemy import select

    from hub.models import Connector

    with hub.rt.db.read() as s:
        return (s.scalar(select(Connector.state).where(Connector.name == "mail")) or {}).get("imap:INBOX:uidvalidity")


class Ours:
    def __init__(self, raw: bytes, rcpt: str) -> None:
        self.raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        m = email.message_from_bytes(raw, policy=email.policy.default)
        self.mid = str(m["Message-ID"])
        self.subject = str(m["Subject"])
        self.reply_to = m["Reply-To"].addresses[0].addr_spec
        self.rcpt = rcpt
        self.head = self.raw.split(b"\r\n\r\n", 1)[0].decode()


def _mail(headers: str, body: str) -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


def standard_dsn_headers(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: support@hub.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <b{n}@mx.example.org>
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
""", f"""--b
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {o.rcpt}
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full
--b
Content-Type: text/rfc822-headers

{o.head}
--b--
""")


def dsn_message_rfc822(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@hub.example
Subject: Delivery Status Notification (Failure)
Message-ID: <b{n}@google.example>
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="g"
""", f"""--g
Content-Type: text/plain; charset=UTF-8

Address not found

Your message wasn't delivered to {o.rcpt} because the address couldn't be found.
--g
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; {o.rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
--g
Content-Type: message/rfc822

{o.raw.decode()}
--g--
""")


def dsn_message_rfc822_headers(o: Ours, n: int) -> bytes:
    return _mail(f"""From: postmaster@outlook.example
To: support@hub.example
Subject: Undeliverable: {o.subject}
Message-ID: <b{n}@outlook.example>
Content-Type: multipart/report; report-type=delivery-status; boundary="ms"
""", f"""--ms
Content-Type: text/plain; charset=us-ascii

Delivery has failed to these recipients or groups:

{o.rcpt}
The email address you entered couldn't be found.

Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'
--ms
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB.eurprd01.prod.outlook.example

Final-recipient: RFC822; {o.rcpt}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup
--ms
Content-Type: message/rfc822-headers

{o.head}
--ms--
""")


def exim_plain(o: Ours, n: int) -> bytes:
    return _mail(f"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mail.example.net>
To: support@hub.example
Subject: Mail delivery failed: returning message to sender
Message-Id: <b{n}@mail.example.net>
X-Failed-Recipients: {o.rcpt}
Auto-Submitted: auto-replied
""", f"""This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {o.rcpt}
    SMTP error from remote mail server after RCPT TO:<{o.rcpt}>:
    550 5.1.1 <{o.rcpt}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

{o.raw.decode()}
""")


def qmail_plain(o: Ours, n: int) -> bytes:
    return _mail(f"""From: MAILER-DAEMON@qmail.example.com
To: support@hub.example
Subject: failure notice
Message-ID: <b{n}@qmail.example.com>
""", f"""Hi. This is the qmail-send program at qmail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{o.rcpt}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

{o.raw.decode()}
""")


def postfix_mixed_rfc822(o: Ours, n: int) -> bytes:
    return _mail(f"""From: MAILER-DAEMON@postfix.example (Mail Delivery System)
To: support@hub.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <b{n}@postfix.example>
Content-Type: multipart/mixed; boundary="pf"
""", f"""--pf
Content-Type: text/plain

This is the mail system at host postfix.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{o.rcpt}>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <{o.rcpt}>:
    Recipient address rejected: User unknown in virtual mailbox table
--pf
Content-Type: message/rfc822
Content-Disposition: attachment

{o.raw.decode()}
--pf--
""")


def gmail_base64_original(o: Ours, n: int) -> bytes:
    encoded = base64.encodebytes(o.raw).decode()
    return _mail(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@hub.example
Subject: Delivery Status Notification (Failure)
Message-ID: <b{n}@google.example>
Content-Type: multipart/mixed; boundary="gb"
""", f"""--gb
Content-Type: text/plain; charset=UTF-8

** Message not delivered **

There was a problem delivering your message to {o.rcpt}. The response was:

550 5.7.1 The user or domain that you are sending to (or from) has a policy that prohibited the mail that you sent.
--gb
Content-Type: message/rfc822
Content-Transfer-Encoding: base64

{encoded}
--gb--
""")


def yahoo_plain(o: Ours, n: int) -> bytes:
    quoted = "\n".join(line for line in o.head.replace("\r\n", "\n").split("\n"))
    return _mail(f"""From: MAILER-DAEMON@yahoo.example
To: support@hub.example
Subject: Failure Notice
Message-ID: <b{n}@yahoo.example>
""", f"""Sorry, we were unable to deliver your message to the following address.

<{o.rcpt}>:
554: delivery error: dd This user doesn't have a yahoo.com account ({o.rcpt}) [0] - mta1.mail.example

--- Below this line is a copy of the message.

{quoted}

On it.
""")


def o365_text_rfc822_headers(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Microsoft Outlook <postmaster@contoso.example>
To: support@hub.example
Subject: Undeliverable: {o.subject}
Message-ID: <b{n}@contoso.example>
Content-Type: multipart/mixed; boundary="o365"
X-MS-Exchange-Message-Is-Ndr:
""", f"""--o365
Content-Type: text/plain; charset=utf-8

Your message to {o.rcpt} couldn't be delivered.
{o.rcpt.split('@')[0]} wasn't found at {o.rcpt.split('@')[1]}.

Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not found'
--o365
Content-Type: text/rfc822-headers

{o.head}
--o365--
""")


def broken_boundary(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Mail Delivery System <MAILER-DAEMON@old.example>
To: support@hub.example
Subject: Returned mail: see transcript for details
Message-ID: <b{n}@old.example>
Content-Type: multipart/report; report-type=delivery-status; boundary="declared"
""", f"""--actual
Content-Type: text/plain

The original message was received but could not be delivered.
   ----- The following addresses had permanent fatal errors -----
<{o.rcpt}>
    (reason: 550 5.1.1 User unknown)
--actual
Content-Type: text/rfc822-headers

{o.head}
--actual--
""")


def missing_boundary(o: Ours, n: int) -> bytes:
    return _mail(f"""From: MAILER-DAEMON@nob.example
To: support@hub.example
Subject: Undeliverable mail
Message-ID: <b{n}@nob.example>
Content-Type: multipart/mixed
""", f"""This message could not be delivered: 550 5.1.1 mailbox unavailable

{o.head}
""")


def jp_carrier_token_only(o: Ours, n: int) -> bytes:
    # no Message-ID of ours: only the token address and subject survive
    subject = "=?ISO-2022-JP?B?" + base64.b64encode("メールエラー通知".encode("iso2022_jp")).decode() + "?="
    return _mail(f"""From: MAILER-DAEMON@docomo.example
To: support@hub.example
Subject: {subject}
Message-ID: <b{n}@docomo.example>
Content-Type: text/plain; charset=utf-8
""", f"""以下のメールアドレスへの送信に失敗しました。宛先不明です。
550 Unknown user {o.rcpt}

From: {o.reply_to}
Subject: {o.subject}
""")


def null_sender(o: Ours, n: int) -> bytes:
    return _mail(f"""Return-Path: <>
To: support@hub.example
Subject: Delivery failure
Message-ID: <b{n}@ns.example>
""", f"""Your message could not be delivered: 550 5.1.1 {o.rcpt} user unknown.

Original message headers:
Message-ID: {o.mid}
Subject: {o.subject}
""")


def delay_dsn(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: support@hub.example
Subject: Delayed Mail (still being retried)
Message-ID: <b{n}@mx.example.org>
Content-Type: multipart/report; report-type=delivery-status; boundary="d"
""", f"""--d
Content-Type: text/plain

This is the mail system at host mx.example.org.
Your message could not be delivered for 4.0 hours. It will be retried until it is 5.0 days old.
--d
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {o.rcpt}
Action: delayed
Status: 4.4.7
Diagnostic-Code: X-Postfix; connect to mx.example.org[192.0.2.1]:25: Connection timed out
--d
Content-Type: text/rfc822-headers

{o.head}
--d--
""")


def delay_plain(o: Ours, n: int) -> bytes:
    return _mail(f"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@hub.example
Subject: Delivery Status Notification (Delay)
Message-ID: <b{n}@google.example>
""", f"""** Delivery incomplete **

There was a temporary problem delivering your message to {o.rcpt}. Gmail will retry for 45 more hours.
The response was: 421 4.7.0 Try again later

{o.head}
""")


FAILED = [standard_dsn_headers, dsn_message_rfc822, dsn_message_rfc822_headers, exim_plain, qmail_plain, postfix_mixed_rfc822,
          gmail_base64_original, yahoo_plain, o365_text_rfc822_headers, broken_boundary, missing_boundary, jp_carrier_token_only,
          null_sender]
DELAYED = [delay_dsn, delay_plain]
EXPECTED_REASON = {
    "standard_dsn_headers": "552 5.2.2 Mailbox full", "dsn_message_rfc822": "5.1.1", "dsn_message_rfc822_headers": "RecipientNotFound",
    "exim_plain": "User unknown", "qmail_plain": "5.1.1", "postfix_mixed_rfc822": "User unknown", "gmail_base64_original": "550 5.7.1",
    "yahoo_plain": "554", "o365_text_rfc822_headers": "550 5.1.1", "broken_boundary": "550 5.1.1", "missing_boundary": "550 5.1.1",
    "jp_carrier_token_only": "550 Unknown user", "null_sender": "550 5.1.1",
}


def test_every_bounce_shape_fails_the_reply_it_names_and_delays_do_not(bounce_hub):
    hub, server, smtp = bounce_hub
    shapes = FAILED + DELAYED
    customers = {f.__name__: f"cust{i}@example.org" for i, f in enumerate(shapes)}
    server.append([make_mail(i, sender=customers[f.__name__], subject=f"Help {i}") for i, f in enumerate(shapes)])
    convs = wait_until(lambda: (lambda items: len(items) == len(shapes) and items)(hub.api("GET", "/api/v1/conversations?limit=100").get_json()["items"]),
                       timeout=20, message="conversations")
    for conv in convs:
        assert hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "On it."}).status_code == 202
    wait_until(lambda: len(smtp.received) == len(shapes), timeout=30, message="our replies delivered")
    wait_until(lambda: hub.count(Reply, Reply.state == "sent") == len(shapes), timeout=15, message="replies recorded as sent")
    ours = {rcpts[0]: Ours(raw, rcpts[0]) for _f, rcpts, raw in smtp.received}
    events_before = hub.count(InboundEvent)
    server.append([f(ours[customers[f.__name__]], i) for i, f in enumerate(shapes)])
    wait_until(lambda: hub.count(InboundEvent, InboundEvent.state.in_(("processed", "ignored", "quarantined"))) == events_before + len(shapes),
               timeout=30, message="bounces handled")
    with hub.rt.db.read() as s:
        by_mid = {r.external_id: r for r in s.query(Reply).all()}
        problems = []
        for f in FAILED:
            row = by_mid[ours[customers[f.__name__]].mid]
            if row.state != "failed" or EXPECTED_REASON[f.__name__] not in (row.last_error or ""):
                problems.append(f"{f.__name__}: {row.state} {row.last_error!r}")
            # an address that does not exist is a permanent failure (no Retry); a full mailbox is not
            permanent = bool((row.status_detail or {}).get("permanent"))
            if permanent != (f.__name__ not in ("standard_dsn_headers", "gmail_base64_original", "yahoo_plain")):
                problems.append(f"{f.__name__}: permanent={permanent} for {row.last_error!r}")
        for f in DELAYED:
            row = by_mid[ours[customers[f.__name__]].mid]
            if row.state != "sent":
                problems.append(f"{f.__name__} (delay) marked {row.state}: {row.last_error!r}")
    assert not problems, "\n".join(problems)
    assert hub.count(InboundEvent, InboundEvent.state == "quarantined") == 0
    assert len(smtp.received) == len(shapes)  # no bounce was answered
