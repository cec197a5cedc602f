"""Loop safety through the real email flow (issue 18 item 3): Dovecot -> poller -> worker with
acknowledgements, the FAQ bot and CSAT turned on; every automatic shape (robot addresses,
automatic headers, list mail, feedback reports, bounce subjects in other languages,
null senders) gets no mail back, while a person's mail on the same connector does."""

from __future__ import annotations

import pytest

from hub.models import Identity, InboundEvent, Reply
from tests.support.dovecot import dovecot  # noqa: F401 - fixture
from tests.support.hub import wait_until
from tests.support.mail import SmtpServer, make_mail


@pytest.fixture
def robot_hub(hub, dovecot):  # noqa: F811
    with SmtpServer() as smtp:
        hub.add_connector(
            "mail", "email", auto_ack=True, faq_bot=True,
            **dovecot.config(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_username=""),
        )
        hub.start_worker()
        hub.start_poller()
        # no pause after it: mail appended before the IDLE command is announced when IDLE starts
        wait_until(lambda: _uidvalidity(hub), timeout=20, message="IMAP session")
        yield hub, dovecot, smtp


def _uidvalidity(hub):
    from sqlalchemy import select

    from hub.models import Connector

    with hub.rt.db.read() as s:
        return (s.scalar(select(Connector.state).where(Connector.name == "mail")) or {}).get("imap:INBOX:uidvalidity")


def _raw(sender_line: str | None, subject: str, headers: dict[str, str] | None = None, body: str = "Automatic notice.\r\n",
         ctype: str = "text/plain; charset=utf-8", n: str = "x", return_path: str | None = None) -> bytes:
    lines = []
    if return_path is not None:
        lines.append(f"Return-Path: {return_path}")
    if sender_line is not None:
        lines.append(f"From: {sender_line}")
    lines += ["To: support@hub.example", f"Subject: {subject}", f"Message-ID: <robot-{n}@robots.example>",
              "Date: Sun, 22 Nov 2026 10:00:00 +0000", "MIME-Version: 1.0", f"Content-Type: {ctype}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


_ARF = (
    "--arf\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
    "--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ARF/1.0\r\nVersion: 1\r\n\r\n"
    "--arf\r\nContent-Type: message/rfc822-headers\r\n\r\nFrom: support@hub.example\r\nSubject: Re: hi\r\n\r\n"
    "--arf--\r\n"
)
_ARF_NESTED = (
    "--outer\r\nContent-Type: text/plain\r\n\r\nComplaint forwarded by your provider.\r\n"
    '--outer\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n\r\n' + _ARF +
    "--outer--\r\n"
)
_ARF_NO_PARAM = (  # a feedback report without the report-type parameter, inside multipart/mixed
    "--m\r\nContent-Type: text/plain\r\n\r\nFBL report.\r\n"
    "--m\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n"
    "--m--\r\n"
)

#: (label, raw message, robot address or None when the sender is a null sender)
SHAPES = [
    ("noreply", _raw("Shop <noreply@shop.example>", "Your order", n="1"), "noreply@shop.example"),
    ("no-reply", _raw("no-reply@accounts.example", "Security alert", n="2"), "no-reply@accounts.example"),
    ("no_reply", _raw("no_reply@bank.example", "Statement ready", n="3"), "no_reply@bank.example"),
    ("donotreply", _raw("DoNotReply@airline.example", "Booking", n="4"), "donotreply@airline.example"),
    ("mailer-daemon", _raw("MAILER-DAEMON@mx.example.net", "Notice", n="5"), "mailer-daemon@mx.example.net"),
    ("postmaster", _raw("postmaster@mx2.example.net", "Notice", n="6"), "postmaster@mx2.example.net"),
    ("post_master", _raw("post_master@mx3.example.net", "Notice", n="7"), "post_master@mx3.example.net"),
    ("-admin", _raw("users-admin@lists.example.org", "Moderation", n="8"), "users-admin@lists.example.org"),
    ("-request", _raw("users-request@lists.example.org", "Confirm", n="9"), "users-request@lists.example.org"),
    ("-bounces", _raw("users-bounces@lists.example.org", "Bounce probe", n="10"), "users-bounces@lists.example.org"),
    ("owner-", _raw("owner-users@lists.example.org", "Owner notice", n="11"), "owner-users@lists.example.org"),
    ("ses", _raw("complaints@email.amazonses.com", "Complaint", n="12"), "complaints@email.amazonses.com"),
    ("bounce@", _raw("bounce@mailer.example.com", "Bounce", n="13"), "bounce@mailer.example.com"),
    ("notifications@", _raw("GitHub <notifications@github.example>", "PR merged", n="14"), "notifications@github.example"),
    ("auto-generated", _raw("ann@people.example", "Report", {"Auto-Submitted": "auto-generated"}, n="15"), "ann@people.example"),
    ("auto-replied", _raw("bob@people.example", "Thanks for your mail", {"Auto-Submitted": "auto-replied"}, n="16"), "bob@people.example"),
    ("x-auto-response-suppress", _raw("cat@people.example", "FYI", {"X-Auto-Response-Suppress": "All"}, n="17"), "cat@people.example"),
    ("precedence bulk", _raw("dan@people.example", "News", {"Precedence": "bulk"}, n="18"), "dan@people.example"),
    ("precedence junk", _raw("eve@people.example", "News", {"Precedence": "junk"}, n="19"), "eve@people.example"),
    ("precedence list", _raw("fay@people.example", "News", {"Precedence": "list"}, n="20"), "fay@people.example"),
    ("precedence auto_reply", _raw("gus@people.example", "Away", {"Precedence": "auto_reply"}, n="21"), "gus@people.example"),
    ("list-id", _raw("hal@people.example", "Digest", {"List-Id": "<users.lists.example.org>"}, n="22"), "hal@people.example"),
    ("list-unsubscribe", _raw("ivy@people.example", "Offer", {"List-Unsubscribe": "<mailto:u@x.example>"}, n="23"), "ivy@people.example"),
    ("list-post", _raw("jon@people.example", "Thread", {"List-Post": "<mailto:users@lists.example.org>"}, n="24"), "jon@people.example"),
    ("x-autoreply", _raw("kim@people.example", "Away", {"X-Autoreply": "yes"}, n="25"), "kim@people.example"),
    ("x-autorespond", _raw("lee@people.example", "Away", {"X-Autorespond": "yes"}, n="26"), "lee@people.example"),
    ("arf", _raw("fbl@isp.example", "Complaint", body=_ARF, ctype='multipart/report; report-type=feedback-report; boundary="arf"', n="27"), "fbl@isp.example"),
    ("arf nested", _raw("abuse@isp2.example", "Complaint", body=_ARF_NESTED, ctype='multipart/mixed; boundary="outer"', n="28"), "abuse@isp2.example"),
    ("arf no param", _raw("fbl@isp3.example", "FBL", body=_ARF_NO_PARAM, ctype='multipart/mixed; boundary="m"', n="29"), "fbl@isp3.example"),
    ("jp carrier", _raw("mmm@docomo.example", "=?ISO-2022-JP?B?GyRCJWEhPCVrJSglaSE8RExDThsoQg==?=", n="30"), "mmm@docomo.example"),
    ("unzustellbar", _raw("mo@firma.example", "Unzustellbar: Ihre Anfrage", n="31"), "mo@firma.example"),
    ("non remis", _raw("ned@societe.example", "Non remis : votre message", n="32"), "ned@societe.example"),
    ("onbestelbaar", _raw("oz@bedrijf.example", "Onbestelbaar: vraag", n="33"), "oz@bedrijf.example"),
    ("entrega fallida", _raw("pia@empresa.example", "Entrega fallida: consulta", n="34"), "pia@empresa.example"),
    ("dsn subject", _raw("quin@corp.example", "Delivery Status Notification (Failure)", n="35"), "quin@corp.example"),
    ("undeliverable", _raw("ray@corp.example", "Undeliverable: Question", n="36"), "ray@corp.example"),
    ("returned mail", _raw("sue@corp.example", "Returned mail: see transcript for details", n="37"), "sue@corp.example"),
    ("return-path <>", _raw("tom@corp.example", "Notice", return_path="<>", n="38"), "tom@corp.example"),
    ("MAILER-DAEMON no domain", _raw("MAILER-DAEMON", "failure notice", n="39"), None),
    ("missing From", _raw(None, "Notice", n="40"), None),
]


def test_no_automatic_shape_is_ever_answered(robot_hub):
    hub, server, smtp = robot_hub
    assert len({s[0] for s in SHAPES}) == len(SHAPES)
    # with them, a person's mail on the same connector: it is acknowledged, so acks are really on
    server.append([raw for _label, raw, _addr in SHAPES] + [make_mail("person", sender="person@example.org", subject="Where is my refund?")])
    try:
        wait_until(lambda: any("person@example.org" in rcpts for _f, rcpts, _r in smtp.received), timeout=30, message="ack to the person")
    except AssertionError:
        print(hub.output("worker")[-6000:])
        raise
    wait_until(lambda: hub.count(InboundEvent, InboundEvent.state.in_(("processed", "ignored", "quarantined"))) == len(SHAPES) + 1,
               timeout=30, message="every message handled")
    assert hub.count(InboundEvent, InboundEvent.state == "quarantined") == 0  # null-sender mail is processed, not rejected
    wait_until(lambda: hub.count(Reply, Reply.state.in_(("pending", "sending"))) == 0, timeout=15, message="send queue drained")
    sent_to = [r for _f, rcpts, _r in smtp.received for r in rcpts]
    assert sent_to == ["person@example.org"], f"mail sent to robots: {sent_to}"
    # robot addresses (and list/bulk/report senders) are remembered as automatic on their identity
    with hub.rt.db.read() as s:
        remembered = {i.address for i in s.query(Identity).all() if (i.attrs or {}).get("automatic")}
    for label, _raw_msg, addr in SHAPES:
        if label in ("noreply", "mailer-daemon", "-request", "ses", "list-id", "precedence bulk", "arf", "arf nested"):
            assert addr in remembered, label


def test_an_address_that_showed_itself_automatic_gets_no_ack_and_no_csat(robot_hub):
    hub, server, smtp = robot_hub
    # a newsletter with List-Unsubscribe: ignored, and the address is remembered as automatic
    server.append(_raw("Vendor <updates@vendor.example>", "Our news", {"List-Unsubscribe": "<mailto:u@vendor.example>"}, n="news"))
    wait_until(lambda: hub.count(InboundEvent, InboundEvent.state == "ignored") == 1, timeout=15, message="newsletter ignored")
    # later mail from that address without any sign opens a conversation, but is not acknowledged
    server.append(make_mail("v2", sender="updates@vendor.example", subject="Invoice question"))
    server.append(make_mail("p2", sender="person2@example.org", subject="Card declined"))
    convs = wait_until(lambda: len(hub.api("GET", "/api/v1/conversations").get_json()["items"]) == 2
                       and hub.api("GET", "/api/v1/conversations").get_json()["items"], timeout=15, message="two conversations")
    wait_until(lambda: smtp.received, timeout=15, message="ack to the person")
    # both conversations are resolved with CSAT on: the survey goes to the person only
    for conv in convs:
        resp = hub.api("PATCH", f"/api/v1/conversations/{conv['id']}", json={"status": "resolved"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
    wait_until(lambda: len(smtp.received) >= 2, timeout=15, message="CSAT survey to the person")
    wait_until(lambda: hub.count(Reply, Reply.state.in_(("pending", "sending"))) == 0, timeout=15, message="send queue drained")
    sent_to = [r for _f, rcpts, _r in smtp.received for r in rcpts]
    assert sent_to == ["person2@example.org", "person2@example.org"], sent_to
    with hub.rt.db.read() as s:
        ident = s.query(Identity).filter_by(address="updates@vendor.example").one()
        assert ident.attrs["automatic"]["reason"].startswith("List-Unsubscribe")
