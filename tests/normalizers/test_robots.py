"""normalizers.robots and normalizers.bounces on their own (issue 18 items 3 and 4): what is a
robot, what is a person, and a customer's mail is never taken for a bounce."""

from __future__ import annotations

import pytest

from normalizers import email as email_normalizer
from normalizers import robots


@pytest.mark.parametrize(
    "address",
    ["noreply@x.example", "no-reply@x.example", "no_reply@x.example", "donotreply@x.example", "do-not-reply@x.example",
     "DoNotReply@x.example", "MAILER-DAEMON@x.example", "postmaster@x.example", "post_master@x.example",
     "users-admin@lists.x.example", "users-request@lists.x.example", "users-bounces@lists.x.example", "owner-users@lists.x.example",
     "bounce@x.example", "bounces+123@x.example", "notifications@github.example", "0100018c@email.amazonses.com",
     "abc@bounce.x.example", "mailer-daemon", "", "accounts-noreply@x.example"],
)
def test_robot_addresses(address):
    assert robots.address_reason(address)


@pytest.mark.parametrize(
    "address",
    ["john@x.example", "noah@x.example", "lisa@x.example", "listo@x.example", "norberto@x.example", "replyall@x.example",
     "support@x.example", "anna-maria@x.example", "postbox@x.example", "system.admin.person@x.example"],
)
def test_people_are_not_robots(address):
    assert robots.address_reason(address) is None


def _mail(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()


def test_a_customers_delivery_complaint_replying_to_us_is_not_a_bounce():
    raw = _mail("""From: Ann <ann@example.org>
To: support+cabc123@hub.example
Subject: Re: Delivery failure of my parcel [#abc123]
Message-ID: <a1@example.org>
In-Reply-To: <omnihub.0123456789abcdef0123456789abcdef@hub.example>""", "The courier says 550 error, user unknown?! Where is my parcel?")
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert "bounce_for" not in msg.extra and "bounce_candidates" not in msg.extra and "bounce_token" not in msg.extra


def test_a_persons_out_of_office_is_automatic_but_the_address_is_not_remembered():
    raw = _mail("""From: Bob <bob@example.org>
To: support@hub.example
Subject: Out of office: back Monday
Auto-Submitted: auto-replied
Message-ID: <o1@example.org>""")
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert msg.auto_generated
    assert not robots.shows_address_automatic(msg.auto_reason)


@pytest.mark.parametrize(
    "headers, remembered",
    [("List-Unsubscribe: <mailto:u@x.example>", True), ("Precedence: bulk", True), ("Auto-Submitted: auto-generated", True),
     ("X-Autoreply: yes", False), ("Auto-Submitted: auto-replied", False), ("X-Auto-Response-Suppress: All", False)],
)
def test_which_signs_are_remembered_on_the_identity(headers, remembered):
    raw = _mail(f"From: c@people.example\nTo: support@hub.example\nSubject: Hi\nMessage-ID: <h1@x>\n{headers}")
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert msg.auto_generated
    assert robots.shows_address_automatic(msg.auto_reason) is remembered


def test_a_delay_notice_names_no_reply_to_fail():
    raw = _mail("""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: support@hub.example
Subject: Delivery Status Notification (Delay)
Message-ID: <d1@google.example>""", "Delivery incomplete. Gmail will retry for 45 more hours.\r\n\r\nMessage-ID: <omnihub.0123456789abcdef0123456789abcdef@hub.example>\r\n")
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert msg.auto_generated and msg.bounce is not None and msg.bounce.delayed is True
    assert "bounce_for" not in msg.extra and "bounce_reason" not in msg.extra


def test_a_read_receipt_from_a_person_is_automatic_but_not_remembered():
    raw = _mail("""From: Bob <bob@example.org>
To: support@hub.example
Subject: Read: Help
Message-ID: <r1@example.org>
Content-Type: multipart/report; report-type=disposition-notification; boundary="r"
""", "--r\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--r\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--r--\r\n")
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert msg.auto_generated and msg.auto_reason == "report (disposition-notification)"
    assert not robots.shows_address_automatic(msg.auto_reason)
