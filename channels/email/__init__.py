"""email channel: IMAP IDLE in (one session per folder), SMTP out.

In:  ``poll`` keeps an IDLE session per folder, journals the raw RFC 822 bytes
     (``message/rfc822``, external id = Message-ID or sha256 of the bytes) and keeps a UID
     cursor per folder in the connector state. ``backfill`` re-offers history.
Out: ``send`` delivers an agent reply over SMTP with our Message-ID, the thread's
     In-Reply-To/References, and the conversation token in Reply-To and the subject.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr, field_validator, model_validator

from channels.base import ChannelAdapter
from channels.email import imap, mime, oauth, smtp
from hub.errors import AuthError, DeliveryError, PayloadInvalid, PermanentDeliveryError
from hub.net import UrlRefused, check_url
from hub.types import AdapterConfig, CheckResult, OutboundReply, PollSink, RawEvent, SendResult, StopEvent, setting
from normalizers import email as email_normalizer
from normalizers.model import NormalizedMessage

Security = Literal["ssl", "starttls", "none"]
_AFTER_INGEST = re.compile(r"^(?:leave|seen|move:.+)$")


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailConfig(AdapterConfig):
    imap_host: str = setting(
        title="IMAP server", example="imap.gmail.com", origin_of="host",
        help="Host name of the mailbox's IMAP server (Google: imap.gmail.com, Microsoft 365: outlook.office365.com).")
    imap_port: int | None = setting(
        None, title="IMAP port", example=993, section="advanced", origin_of="part",
        help="Empty: 993 with ssl, 143 otherwise.")
    imap_security: Security = setting(
        "ssl", title="IMAP security", section="advanced", origin_of="part",
        help="ssl (implicit TLS, port 993), starttls (port 143), or none (a server on this machine only).")
    username: str = setting(
        title="Username", example="support@example.com", section="credentials",
        help="The mailbox's login, usually its full address (also the account signed in with OAuth).")
    password: SecretStr | None = setting(
        None, title="Password", section="credentials", needed_for="password sign-in",
        help="With auth password: the mailbox password or an app password. Unused with auth oauth2.")
    folders: tuple[str, ...] = setting(
        ("INBOX",), title="Folders", example="INBOX, Support", section="behaviour",
        help="IMAP folders read for new mail.")
    after_ingest: str = setting(
        "leave", title="After reading a message", example="move:Processed", section="behaviour",
        help="leave it as it is, mark it seen, or move:<folder> it once it is safely stored.")
    smtp_host: str | None = setting(
        None, title="SMTP server", example="smtp.gmail.com", origin_of="host", needed_for="sending replies",
        help="Host name replies are sent through (Google: smtp.gmail.com, Microsoft 365: smtp.office365.com). Empty: replies cannot be sent.")
    smtp_port: int | None = setting(
        None, title="SMTP port", example=587, section="advanced", origin_of="part",
        help="Empty: 587 with starttls, 465 with ssl, 25 with none.")
    smtp_security: Security = setting(
        "starttls", title="SMTP security", section="advanced", origin_of="part",
        help="starttls (port 587), ssl (implicit TLS, port 465), or none (a server on this machine only).")
    smtp_username: str | None = setting(
        None, title="SMTP username", section="credentials",
        help="Empty: the IMAP username.")
    smtp_password: SecretStr | None = setting(
        None, title="SMTP password", section="credentials",
        help="Empty: the IMAP password.")
    from_address: str = setting(
        title="From address", example="support@example.com", section="addresses",
        help="The address replies are sent from; customers answer to it.")
    from_name: str = setting(
        "", title="From name", example="Acme Wallet Support", section="addresses",
        help="The display name replies are sent with.")
    # OAuth 2.0 mailboxes (docs/channels/email.md, "Google Workspace and Microsoft 365")
    auth: Literal["password", "oauth2"] = setting(
        "password", title="Sign-in method", section="credentials",
        help="password, or oauth2 for Google Workspace and Microsoft 365 (save, then press Sign in).")
    oauth_provider: Literal["google", "microsoft", "custom"] | None = setting(
        None, title="OAuth provider", section="credentials",
        help="With auth oauth2: google, microsoft, or custom (your own authorization server).")
    oauth_client_id: str | None = setting(
        None, title="OAuth client ID", example="1234567890-abc.apps.googleusercontent.com", section="credentials",
        help="With auth oauth2: the client ID of the app registered with the provider.")
    oauth_client_secret: SecretStr | None = setting(
        None, title="OAuth client secret", section="credentials",
        help="With auth oauth2: the app's client secret.")
    oauth_tenant: str | None = setting(
        None, title="Microsoft tenant", example="contoso.onmicrosoft.com", section="advanced",
        help="Microsoft: the directory (tenant) ID or domain; empty: common.")
    oauth_authorize_url: str | None = setting(
        None, title="Authorization endpoint", example="https://auth.example.com/authorize", section="advanced", origin_of="url",
        help="Custom provider: the OAuth 2.0 authorization endpoint.")
    oauth_token_url: str | None = setting(
        None, title="Token endpoint", example="https://auth.example.com/token", section="advanced", origin_of="url",
        help="Custom provider: the OAuth 2.0 token endpoint.")
    oauth_scope: str | None = setting(
        None, title="OAuth scope", section="advanced",
        help="Empty: the provider's IMAP and SMTP scopes (and offline access).")

    @field_validator("folders", mode="before")
    @classmethod
    def _folders(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [f.strip() for f in v.split(",")]
        if not v or any(not str(f).strip() for f in v):
            raise ValueError("at least one folder name, none empty")
        return tuple(v)

    @field_validator("after_ingest")
    @classmethod
    def _after_ingest(cls, v: str) -> str:
        if not _AFTER_INGEST.match(v):
            raise ValueError("must be leave, seen or move:<folder>")
        return v

    @field_validator("from_address")
    @classmethod
    def _from(cls, v: str) -> str:
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@localhost$", v or ""):
            raise ValueError("must be an address like support@example.com")
        return v.strip()

    @field_validator("imap_port", "smtp_port")
    @classmethod
    def _port(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 65535:
            raise ValueError("must be 1-65535")
        return v

    @model_validator(mode="after")
    def _auth(self) -> EmailConfig:
        if self.auth == "password":
            if self.password is None:
                raise ValueError("password is required with auth password (or set auth oauth2)")
            return self
        if not self.oauth_provider:
            raise ValueError("auth oauth2 needs oauth_provider (google, microsoft or custom)")
        if self.oauth_tenant is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$", self.oauth_tenant):
            raise ValueError("oauth_tenant must be a tenant id (GUID), a domain such as contoso.onmicrosoft.com, or common/organizations")
        if not self.oauth_client_id:
            raise ValueError("auth oauth2 needs oauth_client_id (from the app registered with the provider)")
        if self.oauth_provider == "custom" and not (self.oauth_authorize_url and self.oauth_token_url):
            raise ValueError("oauth_provider custom needs oauth_authorize_url and oauth_token_url")
        for key in ("oauth_authorize_url", "oauth_token_url"):
            url = getattr(self, key)
            if url is None:
                continue
            parsed = urlsplit(url)
            if parsed.scheme not in ("https", "http") or not parsed.hostname:
                raise ValueError(f"{key} must be an https:// URL")
            if parsed.scheme == "http" and not is_loopback(parsed.hostname):
                raise ValueError(f"{key}: http:// is only allowed for loopback hosts, not {parsed.hostname!r} (use https)")
        return self

    @model_validator(mode="after")
    def _plaintext_only_on_loopback(self) -> EmailConfig:
        if self.imap_security == "none" and not is_loopback(self.imap_host):
            raise ValueError(f"imap_security none is only allowed for loopback hosts, not {self.imap_host!r} (use ssl or starttls)")
        if self.smtp_host and self.smtp_security == "none" and not is_loopback(self.smtp_host):
            raise ValueError(f"smtp_security none is only allowed for loopback hosts, not {self.smtp_host!r} (use ssl or starttls)")
        return self


class EmailChannel(ChannelAdapter):
    kind = "email"
    title = "Email (IMAP + SMTP)"
    Config = EmailConfig
    config: EmailConfig  # the instance's validated config (ctx.config)
    hooks = ()
    max_text_length = None
    supports_attachments = True
    reopen_resolved = True
    polls = True
    supports_backfill = True
    send_is_idempotent = True  # the Message-ID is fixed per reply (mime.message_id_for)

    #: FolderWatcher class attribute overrides (tests shorten backoff)
    watcher_options: dict[str, Any] = {}

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.log = ctx.log or structlog.get_logger("omnihub.email").bind(connector=ctx.name)
        self.watchers: list[imap.FolderWatcher] = []
        self.tokens: oauth.TokenSource | None = None
        if self.config.auth == "oauth2":
            c = self.config
            destinations = {
                "imap": f"{c.imap_host.lower()}:{c.imap_port or imap.DEFAULT_PORTS[c.imap_security]}",
                "smtp": f"{c.smtp_host.lower()}:{c.smtp_port or smtp.DEFAULT_PORTS[c.smtp_security]}" if c.smtp_host else "",
            }
            self.tokens = oauth.TokenSource(ctx.name, c, ctx.vault, log=self.log, destinations=destinations)

    # --- accounts -------------------------------------------------------------------------
    def imap_account(self) -> imap.ImapAccount:
        c = self.config
        if self.tokens is not None:
            return imap.ImapAccount(c.imap_host, c.imap_port, c.imap_security, c.username, oauth2=self.tokens.access_token)
        assert c.password is not None  # auth password requires it (EmailConfig._auth)
        return imap.ImapAccount(c.imap_host, c.imap_port, c.imap_security, c.username, c.password.get_secret_value())

    def _smtp_session(self):
        c = self.config
        if not c.smtp_host:
            raise PermanentDeliveryError(f"email connector {self.ctx.name!r} has no smtp_host: set it to send replies")
        username = c.smtp_username if c.smtp_username is not None else c.username
        if self.tokens is not None:  # XOAUTH2 as the mailbox user (the token's owner)
            return smtp.connect(c.smtp_host, c.smtp_port, c.smtp_security, c.smtp_username or c.username, None, oauth2=self.tokens.access_token)
        secret = c.smtp_password if c.smtp_password is not None else c.password
        password = secret.get_secret_value() if username and secret is not None else None
        return smtp.connect(c.smtp_host, c.smtp_port, c.smtp_security, username or None, password)

    # --- inbound ---------------------------------------------------------------------------
    def parse(self, hook: str, request) -> list[RawEvent]:
        raise PayloadInvalid("email: no webhooks; mail arrives through IMAP")

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        meta = event.meta or {}
        received = meta.get("internaldate") or meta.get("received_at")  # IMAP INTERNALDATE, else journal time
        extra = {k: meta[k] for k in ("folder", "uid") if k in meta}
        [msg] = email_normalizer.normalize(
            event.payload,
            connector=self.ctx.name,
            max_attachment_bytes=self.ctx.limits.max_attachment_bytes,
            received_at=datetime.fromisoformat(received) if received else None,
            extra=extra,
        )
        if msg.sender.address == self.config.from_address.lower() and str(msg.extra.get("message_id") or "").startswith("<omnihub."):
            return []  # our own reply (e.g. a copy in a watched folder): never a customer message
        return [msg]

    def watcher(self, folder: str, sink: PollSink) -> imap.FolderWatcher:
        w = imap.FolderWatcher(self.imap_account(), folder, self.ctx.state, sink, after_ingest=self.config.after_ingest, log=self.log)
        for key, value in self.watcher_options.items():
            setattr(w, key, value)
        return w

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """One IDLE session (thread) per folder; returns once ``stop`` is set and they ended."""
        self.watchers = [self.watcher(folder, sink) for folder in self.config.folders]
        threads = [
            threading.Thread(target=w.run, args=(stop,), name=f"imap-{self.ctx.name}-{w.folder}", daemon=True)
            for w in self.watchers
        ]
        for t in threads:
            t.start()
        stop.wait()
        for t in threads:
            t.join(timeout=10)

    def backfill(self, sink: PollSink, since: date | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Offer every message of the folders (or since a date) to the journal; returns how many were new."""
        return imap.backfill(self.imap_account(), self.config.folders, sink, since=since, progress=progress)

    # --- outbound --------------------------------------------------------------------------
    def build_reply(self, reply: OutboundReply):
        return mime.build_reply(
            reply,
            connector=self.ctx.name,
            from_address=self.config.from_address,
            from_name=self.config.from_name or "",
            sanitize_html=email_normalizer.sanitize_html,
        )

    def send(self, reply: OutboundReply) -> SendResult:
        msg = self.build_reply(reply)
        client = self._smtp_session()
        try:
            refused = smtp.send(client, msg, where=f"SMTP {self.config.smtp_host}")
        finally:
            smtp.close(client)
        message_id = str(msg["Message-ID"])
        self.log.info("email.sent", reply_id=reply.id, conversation_id=reply.conversation_id, message_id=message_id)
        return SendResult(external_id=message_id, state="sent", detail={"refused": refused} if refused else {})

    # --- health ----------------------------------------------------------------------------
    def check(self) -> CheckResult:
        details: dict[str, Any] = {}
        problems: list[str] = []
        for key in ("oauth_authorize_url", "oauth_token_url"):  # the outbound URL guard, before any login
            url = getattr(self.config, key)
            if url:
                try:
                    check_url(url, key=key)
                except UrlRefused as exc:
                    problems.append(f"OAuth: {exc}")
        if problems:
            return CheckResult(False, "; ".join(problems), details)
        try:
            client = imap.connect(self.imap_account())
            try:
                details["imap_capabilities"] = imap.capabilities(client)
                for folder in self.config.folders:
                    info = client.select_folder(folder, readonly=True)
                    details.setdefault("folders", {})[folder] = {"messages": int(info.get(b"EXISTS", 0)), "uidvalidity": int(info[b"UIDVALIDITY"])}
                if "IDLE" not in details["imap_capabilities"]:
                    problems.append("IMAP server lacks IDLE")
            finally:
                imap._logout(client)
        except UrlRefused as exc:
            problems.append(f"IMAP: {exc}")
        except (AuthError, *imap.SESSION_ERRORS) as exc:
            problems.append(f"IMAP: {exc.__class__.__name__}: {exc}")
        if self.config.smtp_host:
            try:
                session = self._smtp_session()
                try:
                    details["smtp_capabilities"] = smtp.capabilities(session)
                finally:
                    smtp.close(session)
            except DeliveryError as exc:
                problems.append(f"SMTP: {exc}")
        else:
            problems.append("no smtp_host: replies cannot be sent")
        if problems:
            return CheckResult(False, "; ".join(problems), details)
        return CheckResult(
            True,
            f"IMAP {self.config.imap_host} ({len(self.config.folders)} folder(s), IDLE) and SMTP {self.config.smtp_host} logged in",
            details,
        )


__all__ = ["EmailChannel", "EmailConfig"]
