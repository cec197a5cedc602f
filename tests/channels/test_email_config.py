"""email connector config: the issue's keys, secrets, and plaintext only on loopback."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import channels
from channels.email import EmailChannel, EmailConfig, is_loopback
from hub.types import AdapterConfig

BASE = {
    "imap_host": "imap.example.com",
    "username": "support@example.com",
    "password": "pw",
    "smtp_host": "smtp.example.com",
    "from_address": "support@example.com",
}


def test_registered_under_its_kind():
    assert channels.REGISTRY["email"] is EmailChannel and EmailChannel.Config is EmailConfig
    assert EmailChannel.polls and EmailChannel.supports_attachments and EmailChannel.supports_backfill


def test_keys_and_defaults():
    cfg = EmailConfig(**BASE)
    assert set(EmailConfig.model_fields) - set(AdapterConfig.model_fields) == {
        "imap_host", "imap_port", "imap_security", "username", "password", "folders", "after_ingest",
        "smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_password", "from_address", "from_name",
        # OAuth 2.0 mailboxes (#18)
        "auth", "oauth_provider", "oauth_client_id", "oauth_client_secret", "oauth_tenant", "oauth_authorize_url",
        "oauth_token_url", "oauth_scope",
    }
    assert cfg.folders == ("INBOX",) and cfg.after_ingest == "leave"
    assert cfg.imap_security == "ssl" and cfg.smtp_security == "starttls"
    assert EmailConfig.secret_fields() == {"password", "smtp_password", "oauth_client_secret"}
    assert cfg.auth == "password"
    assert "pw" not in repr(cfg) and "pw" not in str(cfg.model_dump())


@pytest.mark.parametrize("value", ["leave", "seen", "move:Archive", "move:INBOX/Done"])
def test_after_ingest_accepts(value):
    assert EmailConfig(**BASE, after_ingest=value).after_ingest == value


@pytest.mark.parametrize("value", ["delete", "move:", "MOVE:x", ""])
def test_after_ingest_refuses(value):
    with pytest.raises(ValidationError, match="leave, seen or move"):
        EmailConfig(**BASE, after_ingest=value)


def test_folders_from_a_comma_list():
    assert EmailConfig(**BASE, folders="INBOX, Support").folders == ("INBOX", "Support")
    with pytest.raises(ValidationError):
        EmailConfig(**BASE, folders=[])


@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("localhost", True), ("imap.example.com", False), ("10.0.0.1", False)])
def test_plaintext_only_on_loopback(host, ok):
    assert is_loopback(host) is ok
    if ok:
        EmailConfig(**{**BASE, "imap_host": host, "smtp_host": host}, imap_security="none", smtp_security="none")
    else:
        with pytest.raises(ValidationError, match="only allowed for loopback"):
            EmailConfig(**{**BASE, "imap_host": host}, imap_security="none")
        with pytest.raises(ValidationError, match="only allowed for loopback"):
            EmailConfig(**{**BASE, "smtp_host": host}, smtp_security="none")


def test_unknown_keys_and_bad_values_are_refused():
    with pytest.raises(ValidationError):
        EmailConfig(**BASE, imap_tls=True)
    with pytest.raises(ValidationError):
        EmailConfig(**BASE, imap_security="tls")
    with pytest.raises(ValidationError):
        EmailConfig(**{**BASE, "from_address": "not an address"})
    with pytest.raises(ValidationError):
        EmailConfig(**BASE, imap_port=70000)
