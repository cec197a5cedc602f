"""A customer's reply is never read as a bounce of our message (fresh-eyes finding, #18).

Real replies quote our address in the attribution line ("On … ACME Support
<support+c…@example.com> wrote:") and carry In-Reply-To/References to our Message-ID; their
text may say "550 EUR", "05.12.26", "iOS 15.1.2" or even "address not found". Before the fix
each of these failed our reply as "bounced" and hid the customer's message as automatic."""

from __future__ import annotations

import pytest

from normalizers import email as email_normalizer

OURS = "<omnihub.22cd926f5a4f16a7b82ac22e5daa6ff2@example.com>"
TOKEN = "support+c84ad01ad1a38@example.com"


def reply(body: str, attribution: str, frm: str = "Maria Lopez <maria.lopez@gmail.com>") -> bytes:
    return (
        f"From: {frm}\r\nTo: ACME Support <{TOKEN}>\r\nSubject: Re: Question about my account [#84ad01ad1a38]\r\n"
        f"Date: Sat, 5 Dec 2026 12:05:00 +0100\r\nMessage-ID: <CAGmail{abs(hash(body))}@mail.gmail.com>\r\n"
        f"In-Reply-To: {OURS}\r\nReferences: {OURS}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        f"{body}\r\n\r\n{attribution}\r\n> How would you rate the help you received? Reply with a number from 1 to 5.\r\n"
    ).encode()


GMAIL = f"On Sat, Dec 5, 2026 at 11:41 AM ACME Support <{TOKEN}> wrote:"
WEBDE = f"Am 05.12.26, 11:36 schrieb ACME Support <{TOKEN}>:"


@pytest.mark.parametrize("body,attribution", [
    ("Sorry, it is not solved: I deposited 550 EUR and still see nothing.", GMAIL),
    ("5\r\n\r\nGesendet mit der WEB.DE Mail App", WEBDE),
    ("The app still crashes on iOS 15.1.2, version 5.2.1 of your app.", GMAIL),
    ("When I try to send to my new wallet the app says address not found. Permanent error?", GMAIL),
])
def test_a_customer_reply_quoting_our_address_is_no_bounce(body, attribution):
    [msg] = email_normalizer.normalize(reply(body, attribution), connector="mail")
    assert msg.bounce is None
    assert not msg.auto_generated


def test_a_real_bounce_with_the_original_headers_is_still_one():
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: <" + TOKEN + ">\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nDate: Sat, 5 Dec 2026 12:06:00 +0100\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
        "This is the mail system at host mx.example.net.\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n<maria@example.org>: host mx.example.org said: 550 5.1.1 User unknown\r\n\r\n"
        "--- original headers ---\r\nMessage-ID: " + OURS + "\r\nFrom: ACME Support <" + TOKEN + ">\r\n"
    ).encode()
    [msg] = email_normalizer.normalize(raw, connector="mail")
    assert msg.bounce is not None and OURS in msg.bounce.candidates and "550 5.1.1" in msg.bounce.reason
