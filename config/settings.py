"""Settings from the environment, prefix ``OMNIHUB_`` (docs/settings.md)."""

from __future__ import annotations

import os
import re
import secrets
import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_MASTER_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
_HOST = re.compile(r"[A-Za-z0-9._-]{1,253}")
SENTINEL_PORT = 26379
MAX_SENTINELS = 32


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``host:port`` items separated by commas or spaces (``[v6addr]:port`` for IPv6; a
    missing port is Sentinel's 26379) -> [(host, port)]; ValueError naming a bad item."""
    out: list[tuple[str, int]] = []
    for item in filter(None, re.split(r"[\s,]+", value.strip())):
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([^:\[\]]+)(?::(\d{1,5}))?", item)
        host = m and (m.group(1) or m.group(3))
        port = int((m.group(2) or m.group(4) or SENTINEL_PORT) if m else 0)
        if not host or (m and m.group(3) and not _HOST.fullmatch(host)) or not 1 <= port <= 65535:
            raise ValueError(f"{item!r}: use host:port (e.g. 10.0.0.1:26379), comma-separated")
        if (host, port) not in out:
            out.append((host, port))
    if len(out) > MAX_SENTINELS:
        raise ValueError(f"at most {MAX_SENTINELS} sentinels")
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIHUB_", extra="ignore", frozen=True)

    var_dir: Path = Field(Path("var"), description="Where the embedded defaults keep their state.")
    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite under VAR_DIR.")
    redis_url: str = Field("", description="Redis URL; empty: start the embedded Redis (Valkey).")
    redis_sentinels: str = Field("", description="Redis Sentinel addresses, host:port separated by commas (e.g. 10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379); set with REDIS_SENTINEL_MASTER, every process finds the master through them and follows a failover. REDIS_URL then gives only the master's credentials, database and TLS (its host and port are ignored).")
    redis_sentinel_master: str = Field("", validate_default=True, description="The master's name as the sentinels monitor it (`sentinel monitor NAME ...`); required with REDIS_SENTINELS.")
    redis_sentinel_password: str = Field("", description="Password of the sentinels themselves (their `requirepass`), when they have one; the master's password goes in REDIS_URL.")
    secret_key: str = Field("", description="Key for encryption at rest and sessions; generated into VAR_DIR on first run.")
    public_url: str = Field("", description="The URL providers call and sign (default http://HOST:PORT).")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    default_helpdesk: str = Field("inbox", description="Helpdesk connector every conversation goes to.")
    desk_name: str = Field("Support", max_length=120, description="The name every automatic message is sent as (security warning, CSAT survey and thanks, acknowledgement, FAQ answer); the security warning also ends with it.")
    default_language: str = Field("en", pattern=r"^[a-z]{2}$", description="Language of automatic messages (ack, CSAT, warnings) when a conversation's language is unknown.")
    attachment_dir: Path = Field(Path(""), description="Attachment folder (default VAR_DIR/attachments).")
    max_attachment_bytes: int = Field(25 * 1024 * 1024, ge=0)
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    queue_prefix: str = Field("omnihub", pattern=r"^[A-Za-z0-9_.:-]+$")
    web_workers: int = Field(2, ge=1, le=64)
    web_threads: int = Field(32, ge=1, le=1000, description="Threads per web worker (live streams do not hold one: they are served by each web process's stream loop).")
    sse_seconds: float = Field(25.0, ge=1, le=3600, description="Lifetime of one live-stream response; the browser reconnects after it.")
    typing_seconds: float = Field(6.0, ge=1, le=60, description="How long a typing indicator (chat widget, inbox) shows after the last typing signal; browsers signal at most every 3 s while someone types, so below 3 s an indicator may blink (the tests use 1.5 s).")
    max_streams: int = Field(2000, ge=1, le=100000, description="Open live streams (inbox tabs, chat widgets) per web process; more are answered 429.")
    max_streams_per_ip: int = Field(50, ge=1, le=100000, description="Open live streams per client address and web process; more are answered 429.")
    worker_processes: int = Field(1, ge=1, le=64)
    batch_size: int = Field(200, ge=1, le=5000)
    drain_slots: int = Field(2, ge=1, le=64)
    retry_max_attempts: int = Field(8, ge=1)
    retry_base_seconds: float = Field(5.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    sweep_interval: float = Field(2.0, gt=0)
    sweep_after: float = Field(30.0, gt=0, description="Pending work older than this is re-enqueued.")
    lease_seconds: float = Field(120.0, gt=0)
    poll_lease_seconds: float = Field(30.0, ge=0.5, le=3600, description="How long a poller owns a poll (an IMAP connector's IDLE sessions, X polling, Slack Socket Mode, helpdesk polling) or a periodic job (the sweeper, timers) without renewing it: a dead poller's work is taken over by another within this time.")
    event_timeout_seconds: float = Field(10.0, ge=0.5, le=120, description="How long one event-webhook POST may take (connect, send, answer) before it counts as failed and is retried (docs/event-webhooks.md).")
    event_delivery_threads: int = Field(8, ge=0, le=64, description="Event-webhook POSTs at once per `omnihub worker` and `omnihub poll` process, on threads of their own (never in the worker's jobs: a slow receiver cannot hold up ingest); 0: this process sends none.")
    webhook_window: int = Field(300, ge=1, description="Replay window for timestamped signatures (s).")
    allow_private_urls: bool = Field(False, description="Allow outbound requests (helpdesk, callback, API base URLs, IMAP/SMTP hosts) to loopback and private addresses (on-premises helpdesks, tests). Link-local and cloud-metadata addresses are refused regardless.")
    session_idle_hours: float = Field(12.0, gt=0, description="A web login session ends after this long without a request.")
    session_max_days: float = Field(7.0, gt=0, description="A web login session ends this long after the login, however active.")
    agent_idle_seconds: float = Field(300.0, ge=30, le=86400, description="An agent whose inbox made no request for this long (closed tab, lost session) counts as offline: no automatic assignments.")
    reassign_offline_seconds: float = Field(900.0, ge=0, le=7 * 86400, description="Open conversations of an agent offline for longer than this return to their team's queue.")
    metrics_token: str = Field("", description="When set, /metrics requires `Authorization: Bearer <token>`; unset: open.")
    retention_interval: float = Field(3600.0, gt=0, description="How often the poller applies the connectors' retention policies (s); it runs under the `retention` lease, on one poller at a time (docs/retention.md).")
    connector_failing_after: float = Field(900.0, gt=0, description="A connector failing (poll, send, push) for longer than this many seconds turns red; refused credentials turn it red at once.")
    alert_webhook_url: str = Field("", description="When set, a JSON POST goes here each time a connector turns red (signed with ALERT_WEBHOOK_SECRET like the webhook backend).")
    alert_webhook_secret: str = Field("", description="Secret for X-Omnihub-Signature on alert webhooks.")
    # --- sign-in: OpenID Connect single sign-on and TOTP two-factor (docs/signin.md) ---
    oidc_issuer: str = Field("", description="OpenID Connect issuer URL (discovery at ISSUER/.well-known/openid-configuration); set with OIDC_CLIENT_ID to show 'Sign in with SSO'.")
    oidc_client_id: str = Field("", description="The client id registered with the OpenID provider.")
    oidc_client_secret: str = Field("", description="The client secret registered with the OpenID provider (confidential client).")
    oidc_scopes: str = Field("openid email profile", description="Scopes asked for at sign-in (openid is always included).")
    oidc_role_claim: str = Field("", description="ID token claim (a string or a list, e.g. groups or roles) mapped to a role by OIDC_ROLE_MAP; empty: no mapping.")
    oidc_role_map: str = Field("", description="Claim values to roles, comma-separated VALUE=admin|agent (e.g. 'support-admins=admin,support=agent'); a user with no mapped value is refused.")
    oidc_jit: bool = Field(False, description="Create a user on the first SSO sign-in (just-in-time); off: only existing users can sign in with SSO.")
    oidc_button_label: str = Field("Sign in with SSO", max_length=60, description="The SSO button's text on the login page.")
    totp_required: Literal["off", "admins", "everyone"] = Field("off", description="Two-factor (TOTP) for password sign-ins: required for nobody, admins or everyone (they enrol at their next sign-in).")
    totp_issuer: str = Field("omnihub", max_length=60, description="The name authenticator apps show for the account.")
    password_hash_profile: Literal["standard", "insecure-test-only"] = Field("standard", description="argon2id cost of password hashes: standard (argon2-cffi's defaults, RFC 9106 low-memory: 3 passes over 64 MiB); insecure-test-only (1 pass over 1 MiB: for the test suite, where every sign-in would otherwise spend a quarter of a second; never in production). A stored hash carries its own parameters, so either profile verifies both.")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        # checked with the other settings, so every process (web, worker, poll, one-shot commands)
        # names it in one line instead of failing deep inside redis-py with a traceback
        v = v.strip()
        if v and v.split("://", 1)[0].lower() not in ("redis", "rediss", "unix") or v and "://" not in v:
            raise ValueError("must be redis://[USER]:PASSWORD@HOST:6379/0 (rediss:// for TLS, unix:///path/to/socket), or empty "
                             "for the embedded Redis of `omnihub run`")
        return v

    @field_validator("redis_sentinels")
    @classmethod
    def _redis_sentinels(cls, v: str) -> str:
        return ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in parse_sentinels(v))

    @field_validator("redis_sentinel_master")
    @classmethod
    def _redis_sentinel_master(cls, v: str, info: ValidationInfo) -> str:
        v = v.strip()
        sentinels = info.data.get("redis_sentinels")
        if v and not _MASTER_NAME.fullmatch(v):
            raise ValueError("letters, digits, '.', '_' and '-' only (the name in `sentinel monitor NAME ...`)")
        if sentinels and not v:
            raise ValueError("required with OMNIHUB_REDIS_SENTINELS: the name in the sentinels' `sentinel monitor NAME ...`")
        if v and sentinels == "":
            raise ValueError("set OMNIHUB_REDIS_SENTINELS too (host:port of each sentinel, comma-separated)")
        return v

    @property
    def redis_sentinel_nodes(self) -> list[tuple[str, int]]:
        """OMNIHUB_REDIS_SENTINELS as (host, port) pairs; empty: no Sentinel, REDIS_URL names the server."""
        return parse_sentinels(self.redis_sentinels)

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (http:// only for a provider on this machine or in tests)")
        return v

    @field_validator("oidc_role_map")
    @classmethod
    def _oidc_role_map(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in v.split(","))):
            value, sep, role = part.rpartition("=")
            if not sep or not value.strip() or role.strip() not in ("admin", "agent"):
                raise ValueError(f"{part!r}: use VALUE=admin or VALUE=agent, comma-separated")
        return v

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def oidc_roles(self) -> dict[str, str]:
        """OIDC_ROLE_MAP as {claim value: role}."""
        out: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in self.oidc_role_map.split(","))):
            value, _, role = part.rpartition("=")
            out[value.strip()] = role.strip()
        return out

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'omnihub.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def effective_attachment_dir(self) -> Path:
        return self.attachment_dir if str(self.attachment_dir) not in ("", ".") else self.var_dir / "attachments"

    def with_secret_key(self) -> Settings:
        """Return settings with a secret key, generating one into VAR_DIR when unset."""
        if self.secret_key:
            return self
        path = self.var_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
        return self.model_copy(update={"secret_key": key})


def describe_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = "OMNIHUB_" + "_".join(str(p) for p in err["loc"]).upper()
        lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
    return "invalid setting: " + "; ".join(lines)


def load_settings(**overrides) -> Settings:
    """Settings from the environment; exits with a message naming the variable if invalid."""
    try:
        return Settings(**overrides).with_secret_key()
    except ValidationError as exc:
        print(describe_error(exc), file=sys.stderr)
        raise SystemExit(2) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
