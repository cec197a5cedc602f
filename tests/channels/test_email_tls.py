"""TLS paths against real servers: IMAP implicit TLS and STARTTLS (Dovecot), SMTP implicit
TLS and STARTTLS (aiosmtpd), certificates verified against a throwaway CA."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

import pytest

from channels.email import EmailChannel
from hub.errors import PermanentDeliveryError, RetriableDeliveryError
from hub.types import ConnectorContext
from tests.channels.test_email_smtp import reply
from tests.support.dovecot import running_dovecot
from tests.support.mail import SmtpServer
from tests.support.tls import make_certs


@pytest.fixture(scope="module")
def certs():
    directory = Path(tempfile.mkdtemp(prefix="omnihub-tls-"))
    directory.chmod(0o755)
    yield make_certs(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def tls_dovecot(certs):
    with running_dovecot(tls=(certs[1], certs[2])) as server:
        yield server


@pytest.fixture
def trust(certs, monkeypatch):
    """Make the throwaway CA the one OpenSSL trusts (as a system CA would be)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs[0]))


def server_context(certs) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs[1], certs[2])
    return ctx


def channel(cfg: dict) -> EmailChannel:
    return EmailChannel(ConnectorContext(name="mail", kind="email", config=EmailChannel.Config(**cfg)))


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_and_smtp_tls_modes(tls_dovecot, certs, trust, security):
    port = tls_dovecot.imaps_port if security == "ssl" else tls_dovecot.port
    with SmtpServer(tls_context=server_context(certs)) as smtp:
        cfg = tls_dovecot.config(imap_security=security, imap_port=port, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="starttls", smtp_username="")
        result = channel(cfg).check()
    assert result.ok, result.summary
    assert "IDLE" in result.details["imap_capabilities"]
    # after STARTTLS the server no longer offers it: the session really is encrypted
    assert not any(c.startswith("STARTTLS") for c in result.details["smtp_capabilities"])


def test_an_untrusted_certificate_is_refused(tls_dovecot):
    cfg = tls_dovecot.config(imap_security="ssl", imap_port=tls_dovecot.imaps_port, smtp_host=None)
    result = channel(cfg).check()
    assert not result.ok and "CERTIFICATE_VERIFY_FAILED" in result.summary


def test_smtp_implicit_tls_and_starttls(certs, trust):
    with SmtpServer(ssl_context=server_context(certs)) as implicit:
        channel(_smtp_cfg(implicit.port, "ssl")).send(reply())
        assert len(implicit.received) == 1
    with SmtpServer(tls_context=server_context(certs), require_starttls=True) as starttls:
        channel(_smtp_cfg(starttls.port, "starttls")).send(reply())
        assert len(starttls.received) == 1
        # plaintext to a server that requires STARTTLS: a permanent error with its reason
        with pytest.raises(PermanentDeliveryError, match="530"):
            channel(_smtp_cfg(starttls.port, "none")).send(reply())


def test_smtp_untrusted_certificate_is_refused(certs):
    with SmtpServer(ssl_context=server_context(certs)) as implicit:
        with pytest.raises(RetriableDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            channel(_smtp_cfg(implicit.port, "ssl")).send(reply())
        assert implicit.received == []


def _smtp_cfg(port: int, security: str) -> dict:
    return {
        "imap_host": "127.0.0.1", "imap_port": 1, "imap_security": "none", "username": "u", "password": "p",
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": security, "smtp_username": "",
        "from_address": "support@hub.example",
    }
