"""OAuth 2.0 for mailboxes (Google Workspace, Microsoft 365, any provider): authlib does the
protocol (authorization URL with PKCE S256, code exchange, refresh); this module keeps the
tokens and hands IMAP/SMTP an access token for SASL XOAUTH2.

Tokens live in the connector's sealed state (``ctx.vault``: encrypted at rest with the hub's
key, shared by every process) under ``oauth``: the refresh token, the current access token
and when it expires. An access token is refreshed before it expires (a tenth of its
lifetime, at most 60 s, ahead) and once more when a server refuses it.

Endpoints and scopes:
- Google: https://developers.google.com/identity/protocols/oauth2/web-server and
  https://developers.google.com/gmail/imap/xoauth2-protocol (scope ``https://mail.google.com/``;
  ``access_type=offline`` and ``prompt=consent`` so a refresh token is issued).
- Microsoft: https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
  (``https://outlook.office.com/IMAP.AccessAsUser.All``, ``https://outlook.office.com/SMTP.Send``,
  ``offline_access``; endpoints under ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/``).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 package and falls back to httpx (pinned in pyproject.toml)
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

from hub.errors import AuthError, ConfigError, RetriableDeliveryError
from hub.net import GuardedTransport, UrlRefused, check_url

VAULT_KEY = "oauth"
#: OAuth error codes meaning "these credentials will not work again": sign in again
FATAL_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_scope"}


@dataclass(frozen=True)
class Provider:
    authorize_url: str
    token_url: str
    scope: str
    authorize_params: tuple[tuple[str, str], ...] = ()


MICROSOFT_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
PROVIDERS: dict[str, Provider] = {
    "google": Provider(
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://mail.google.com/",
        (("access_type", "offline"), ("prompt", "consent")),
    ),
    "microsoft": Provider(
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        MICROSOFT_SCOPE,
    ),
}


def provider_for(config: Any) -> Provider:
    """The endpoints and scope for an email connector's configuration (custom URLs win)."""
    name = config.oauth_provider or "custom"
    base = PROVIDERS.get(name)
    tenant = config.oauth_tenant or "common"
    authorize = config.oauth_authorize_url or (base.authorize_url.format(tenant=tenant) if base else None)
    token = config.oauth_token_url or (base.token_url.format(tenant=tenant) if base else None)
    if not authorize or not token:
        raise ConfigError("oauth_provider custom needs oauth_authorize_url and oauth_token_url")
    scope = config.oauth_scope or (base.scope if base else "")
    return Provider(authorize, token, scope, base.authorize_params if base else ())


class TokenSource:
    """Access tokens for one connector; thread-safe; shared state through the vault."""

    def __init__(self, connector: str, config: Any, vault: Any, log: Any = None, destinations: dict[str, str] | None = None) -> None:
        self.connector = connector
        self.config = config
        self.vault = vault
        self.log = log
        #: where the tokens go (token endpoint, IMAP and SMTP servers): stored tokens are bound
        #: to it at sign-in and never sent elsewhere (like hub.connectors' origin binding)
        self.destinations = {"token_url": provider_for(config).token_url, **(destinations or {})}
        self._lock = threading.Lock()
        self.refreshes = 0  # refresh grants made by this instance (tests, logs)

    # --- the authlib client --------------------------------------------------------------------
    def client(self, redirect_uri: str | None = None) -> OAuth2Client:
        c = self.config
        secret = c.oauth_client_secret.get_secret_value() if c.oauth_client_secret else None
        provider = provider_for(c)
        return OAuth2Client(
            client_id=c.oauth_client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            scope=provider.scope or None,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            transport=GuardedTransport("oauth_token_url"),  # the outbound URL guard (SSRF)
            timeout=15.0,
            follow_redirects=False,
        )

    def _fail(self, exc: Exception, what: str) -> Exception:
        if isinstance(exc, OAuthError):
            code = str(exc.error or "")
            text = f"email connector {self.connector!r}: {what} was refused by the provider: {code}" + (f" ({exc.description})" if exc.description else "")
            if code in ("invalid_client", "unauthorized_client"):
                # the app's own credentials: signing in again cannot help
                return AuthError(f"{text}; check oauth_client_id and oauth_client_secret (the app registered with the provider)")
            if code in FATAL_ERRORS:
                return AuthError(f"{text}; sign in again (admin console: Connectors → {self.connector} → Sign in)")
            return RetriableDeliveryError(text)
        if isinstance(exc, UrlRefused):
            return exc
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status:  # an HTTP error from the token endpoint: the status, not the library's prose
            return RetriableDeliveryError(f"email connector {self.connector!r}: {what} failed: the token endpoint answered "
                                          f"HTTP {status}" + ("; try again later" if status >= 500 else "; check oauth_token_url"))
        return RetriableDeliveryError(f"email connector {self.connector!r}: {what} failed: {exc.__class__.__name__}: {exc}")

    # --- authorization code flow ------------------------------------------------------------------
    def authorization_url(self, redirect_uri: str) -> tuple[str, str, str]:
        """(url to send the admin to, state, PKCE code verifier)."""
        provider = provider_for(self.config)
        check_url(provider.authorize_url, key="oauth_authorize_url")  # never send a browser to a forbidden address
        verifier = generate_token(64)
        with self.client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                provider.authorize_url, state=generate_token(32), code_verifier=verifier,
                login_hint=self.config.username, **dict(provider.authorize_params),
            )
        return url, state, verifier

    def exchange(self, redirect_uri: str, code: str, verifier: str) -> dict[str, Any]:
        """Trade the authorization code for tokens and store them. Returns what was stored (no secrets)."""
        provider = provider_for(self.config)
        try:
            with self.client(redirect_uri) as client:
                token = client.fetch_token(provider.token_url, grant_type="authorization_code", code=code,
                                           code_verifier=verifier, redirect_uri=redirect_uri)
        except (OAuthError, httpx.HTTPError, UrlRefused) as exc:
            raise self._fail(exc, "the authorization code exchange") from None
        if not token.get("refresh_token"):
            raise AuthError(f"email connector {self.connector!r}: the provider issued no refresh token "
                            "(Google: consent again; Microsoft: include offline_access in the scope)")
        with self._lock:
            stored = self._store(token, previous_refresh=None)
        return {"expires_at": stored["expires_at"], "scope": token.get("scope")}

    # --- access tokens ------------------------------------------------------------------------------
    def _store(self, token: dict[str, Any], previous_refresh: str | None) -> dict[str, Any]:
        now = time.time()
        lifetime = float(token.get("expires_in") or 3600)
        record = {
            "refresh_token": token.get("refresh_token") or previous_refresh,  # Google keeps the old one
            "access_token": token["access_token"],
            "expires_at": now + lifetime,
            "lifetime": lifetime,
            "obtained_at": now,
            "bound": self.destinations,
        }
        self.vault.set(VAULT_KEY, record)
        return record

    def authorized(self) -> bool:
        return bool((self.vault.get(VAULT_KEY) or {}).get("refresh_token"))

    def access_token(self, force: bool = False) -> str:
        """A valid access token; refreshed when (nearly) expired, or always with ``force``."""
        with self._lock:
            record = self.vault.get(VAULT_KEY) or {}
            if not record.get("refresh_token"):
                raise AuthError(f"email connector {self.connector!r} (auth oauth2) is not signed in: "
                                f"open the admin console, Connectors → {self.connector} → Sign in")
            if record.get("bound") != self.destinations:
                moved = sorted(k for k in set(self.destinations) | set(record.get("bound") or {})
                               if (record.get("bound") or {}).get(k) != self.destinations.get(k))
                raise AuthError(f"email connector {self.connector!r}: {', '.join(moved)} changed since the sign-in; the stored tokens "
                                f"are not sent to a new destination: sign in again (Connectors → {self.connector} → Sign in)")
            margin = min(60.0, float(record.get("lifetime") or 3600) / 10)
            if not force and record.get("access_token") and float(record.get("expires_at") or 0) - margin > time.time():
                return record["access_token"]
            provider = provider_for(self.config)
            try:
                with self.client() as client:
                    token = client.refresh_token(provider.token_url, refresh_token=record["refresh_token"])
            except (OAuthError, httpx.HTTPError, UrlRefused) as exc:
                err = self._fail(exc, "the token refresh")
                if self.log:
                    self.log.error("oauth.refresh_failed", error=str(err))
                raise err from None
            self.refreshes += 1
            stored = self._store(token, previous_refresh=record["refresh_token"])
            if self.log:
                self.log.info("oauth.refreshed", forced=force, expires_in=round(stored["lifetime"]))
            return stored["access_token"]


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial client response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
