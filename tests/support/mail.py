"""Helpers for email tests: a recording sink that dedupes like the journal, message builders,
and an aiosmtpd server that keeps what it receives."""

from __future__ import annotations

import asyncio
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from aiosmtpd.controller import Controller

from hub.types import RawEvent
from tests.support.dovecot import free_port


class RecordingSink:
    """A PollSink that keeps every offered event and, like the journal, each external id once."""

    def __init__(self) -> None:
        self.offered: list[RawEvent] = []
        self.calls = 0
        self.unique: dict[str, RawEvent] = {}
        self.first_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def record(self, events: list[RawEvent]) -> list[int]:
        with self._cond:
            self.calls += 1
            ids = []
            for e in events:
                self.offered.append(e)
                if e.external_id not in self.unique:
                    self.unique[e.external_id] = e
                    self.first_seen[e.external_id] = time.monotonic()
                ids.append(list(self.unique).index(e.external_id) + 1)
            self._cond.notify_all()
            return ids

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.unique) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


def make_mail(n: int | str, *, sender: str = "customer@example.org", subject: str | None = None, headers: dict | None = None, text: str | None = None) -> bytes:
    m = EmailMessage(policy=SMTP)
    m["From"] = f"Customer {n} <{sender}>"
    m["To"] = "support@hub.example"
    m["Subject"] = subject or f"Question {n}"
    m["Message-ID"] = f"<q{n}@example.org>"
    m["Date"] = "Sun, 22 Nov 2026 10:00:00 +0000"
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(text or f"Hello, this is question {n}.")
    return m.as_bytes()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.server.rcpt_reply:
            return self.server.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.server.hold_next:
            # hold this message open (a slow server): the test kills the sender meanwhile;
            # it is never recorded as received, as the client never saw it accepted
            self.server.hold_next = False
            self.server.held.set()
            while not self.server.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 held by the test"
        if self.server.data_reply:
            return self.server.data_reply
        self.server.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 Ok: queued"


class SmtpServer:
    """aiosmtpd on a loopback port; ``received`` holds (mail_from, rcpt_tos, raw bytes)."""

    def __init__(self, auth: tuple[str, str] | None = None, **tls) -> None:
        """``tls``: ``tls_context=`` (STARTTLS) or ``ssl_context=`` (implicit TLS) for aiosmtpd."""
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        #: hold the next DATA until ``release`` is set; ``held`` is set when it arrives
        self.hold_next = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.port = free_port()
        kwargs = {}
        if auth:
            from aiosmtpd.smtp import AuthResult

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = getattr(auth_data, "login", b"") == auth[0].encode() and getattr(auth_data, "password", b"") == auth[1].encode()
                return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

            # PLAIN only: after a refused PLAIN, smtplib retries with LOGIN, which aiosmtpd 1.4
            # answers with a challenge smtplib never completes (the session times out)
            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_exclude_mechanism": ["LOGIN"]}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs, **tls)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.controller.stop()


@pytest.fixture
def smtp_server():
    with SmtpServer() as server:
        yield server
