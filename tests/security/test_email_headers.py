"""Email header injection: customer- or agent-controlled values with CR/LF never add headers
or recipients to a reply sent through the real email adapter to a real SMTP server (aiosmtpd).
Refusing to send (a delivery error with a reason) is acceptable; injecting is not."""

from __future__ import annotations

import pytest

pytest.importorskip("aiosmtpd")

from hub.errors import OmnihubError  # noqa: E402
from hub.types import OutboundReply  # noqa: E402
from normalizers.model import Participant  # noqa: E402
from tests.channels.test_email_smtp import channel, reply  # noqa: E402
from tests.support.mail import SmtpServer  # noqa: E402

INJECT = "\r\nBcc: victim@evil.test\r\nX-Injected: yes"
CASES = {
    "subject": {"subject": "Withdrawal" + INJECT},
    "author": {"author_name": "Ada" + INJECT},
    "in_reply_to": {"in_reply_to": "<q2@example.org>" + INJECT},
    "references": {"references": ("<q1@example.org>" + INJECT,)},
    "recipient_name": {"to": Participant(medium="email", address="customer@example.org", name="Carla" + INJECT)},
    "recipient_address": {"to": Participant(medium="email", address="customer@example.org" + INJECT, name="Carla")},
    "token": {"conversation_extra": {"token": "7f3a9c01b2de" + INJECT}},
    "lf_only": {"subject": "Withdrawal\nBcc: victim@evil.test"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_header_injection_never_reaches_the_wire(case):
    with SmtpServer() as server:
        r: OutboundReply = reply(**CASES[case])
        try:
            channel(server.port).send(r)
        except OmnihubError as exc:  # refused with a reason (a bare ValueError would be a crash), nothing sent
            assert not server.received, exc
            return
        [(mail_from, rcpts, raw)] = server.received
    assert rcpts == ["customer@example.org"], rcpts
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    assert not any(line.lower().startswith((b"bcc:", b"x-injected:")) for line in lines), head.decode(errors="replace")
