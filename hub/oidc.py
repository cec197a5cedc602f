"""OpenID Connect single sign-on for the web UI (authorization code flow with PKCE).

authlib builds the authorization request and exchanges the code (``OAuth2Client``, PKCE S256,
client authentication as the provider's discovery document allows); joserfc (authlib's JOSE
library) verifies the ID token: the signature against the provider's JWKS (asymmetric
algorithms only: never ``none``, never an HMAC keyed with something public), then ``iss``
(exactly OMNIHUB_OIDC_ISSUER), ``aud`` (our client id; ``azp`` too when there are several
audiences), ``exp``, ``iat`` and the ``nonce`` of this browser's sign-in.

Every request to the provider goes through the outbound URL guard (``hub.net``), like the
helpdesk and mailbox requests. Discovery and JWKS are cached per process for an hour; a token
signed with a key id the cached JWKS does not know fetches the JWKS again (key rotation), at
most once a minute.

Spec: https://openid.net/specs/openid-connect-core-1_0.html (3.1.3.7 ID Token Validation),
https://openid.net/specs/openid-connect-discovery-1_0.html (4.3: the issuer must match).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import AuditLog, User
from hub.net import GuardedTransport, UrlRefused, guarded_request

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 package and falls back to httpx (pinned in pyproject.toml)
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

SETTING = "oidc_issuer"  # the setting named when the URL guard refuses a provider address
CACHE_SECONDS = 3600.0
JWKS_REFETCH_AFTER = 60.0
LEEWAY = 60  # seconds of clock skew allowed on exp / iat / nbf
#: signature algorithms an ID token may use (the provider's supported list narrows it)
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
ROLE_RANK = {"agent": 1, "admin": 2}


class OidcError(Exception):
    """A sign-in that cannot go on; the message is for the person signing in (and the audit log)."""


@dataclass
class _Cached:
    at: float
    value: Any


_lock = threading.Lock()
_discovery: dict[str, _Cached] = {}
_jwks: dict[str, _Cached] = {}
_forced: dict[str, float] = {}  # when each JWKS was last fetched for an unknown key id


def clear_caches() -> None:
    with _lock:
        _discovery.clear()
        _jwks.clear()
        _forced.clear()


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        resp = guarded_request(SETTING, "GET", url, timeout=10.0, headers={"Accept": "application/json"})
    except UrlRefused as exc:
        raise OidcError(f"the identity provider's {what} address is not allowed: {exc}") from None
    except httpx.HTTPError as exc:
        raise OidcError(f"the identity provider could not be reached for its {what} ({exc.__class__.__name__})") from None
    if resp.status_code != 200:
        raise OidcError(f"the identity provider answered HTTP {resp.status_code} for its {what} ({url})")
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OidcError(f"the identity provider's {what} is not a JSON object ({url})")
    return data


def metadata(settings) -> dict[str, Any]:
    """The provider's discovery document (cached); its ``issuer`` must be OMNIHUB_OIDC_ISSUER exactly."""
    issuer = settings.oidc_issuer
    with _lock:
        hit = _discovery.get(issuer)
    if hit and time.monotonic() - hit.at < CACHE_SECONDS:
        return hit.value
    doc = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document")
    if doc.get("issuer") != issuer:
        raise OidcError(f"the discovery document names issuer {doc.get('issuer')!r}, not OMNIHUB_OIDC_ISSUER {issuer!r}")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not isinstance(doc.get(k), str)]
    if missing:
        raise OidcError(f"the identity provider's discovery document lacks {', '.join(missing)}")
    with _lock:
        _discovery[issuer] = _Cached(time.monotonic(), doc)
    return doc


def _keyset(uri: str, *, refresh: bool = False) -> KeySet:
    """The provider's keys (cached); ``refresh`` (a key id the cache does not know) fetches them
    again, at most once per JWKS_REFETCH_AFTER seconds."""
    t = time.monotonic()
    with _lock:
        hit = _jwks.get(uri)
        forced = _forced.get(uri)
        if refresh and (forced is None or t - forced >= JWKS_REFETCH_AFTER):
            _forced[uri] = t
        else:
            refresh = False
    if hit and t - hit.at < CACHE_SECONDS and not refresh:
        return hit.value
    data = _get_json(uri, "signing keys (JWKS)")
    try:
        keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise OidcError(f"the identity provider's JWKS cannot be read ({exc.__class__.__name__})") from None
    with _lock:
        _jwks[uri] = _Cached(time.monotonic(), keys)
    return keys


def _client(settings, meta: dict[str, Any], redirect_uri: str) -> OAuth2Client:
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    secret = settings.oidc_client_secret or None
    if not secret:
        method = "none"
    elif "client_secret_basic" in methods:
        method = "client_secret_basic"
    else:
        method = "client_secret_post"
    scopes = settings.oidc_scopes.split()
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return OAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=secret,
        token_endpoint_auth_method=method,
        scope=" ".join(scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        transport=GuardedTransport(SETTING),
        timeout=15.0,
        follow_redirects=False,
    )


@dataclass(frozen=True)
class AuthRequest:
    url: str
    state: str
    nonce: str
    verifier: str


def authorization_request(settings, redirect_uri: str) -> AuthRequest:
    """Where to send the browser, with a fresh state, nonce and PKCE verifier (kept by the caller)."""
    meta = metadata(settings)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    with _client(settings, meta, redirect_uri) as client:
        url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
    return AuthRequest(url, state, nonce, verifier)


def exchange(settings, redirect_uri: str, code: str, verifier: str, nonce: str) -> dict[str, Any]:
    """Trade the code for tokens at the token endpoint; the verified ID token's claims."""
    meta = metadata(settings)
    try:
        with _client(settings, meta, redirect_uri) as client:
            token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=verifier, redirect_uri=redirect_uri)
    except OAuthError as exc:
        detail = f" ({exc.description})" if exc.description else ""
        hint = "; check OMNIHUB_OIDC_CLIENT_ID and OMNIHUB_OIDC_CLIENT_SECRET" if exc.error in ("invalid_client", "unauthorized_client") else ""
        raise OidcError(f"the identity provider refused the code exchange: {exc.error}{detail}{hint}") from None
    except UrlRefused as exc:
        raise OidcError(f"the identity provider's token endpoint is not allowed: {exc}") from None
    except httpx.HTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise OidcError(f"the token endpoint answered HTTP {status}" if status else
                        f"the token endpoint could not be reached ({exc.__class__.__name__})") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError("the identity provider returned no ID token (is the openid scope allowed for this client?)")
    return verify_id_token(settings, id_token, nonce)


def _header(token: str) -> dict[str, Any]:
    import base64
    import json

    try:
        part = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, IndexError):
        raise OidcError("the ID token is not a JWT") from None
    if not isinstance(header, dict):
        raise OidcError("the ID token is not a JWT")
    return header


def verify_id_token(settings, id_token: str, nonce: str, *, now: int | None = None) -> dict[str, Any]:
    """The claims of a valid ID token for this sign-in; OidcError naming what is wrong otherwise."""
    meta = metadata(settings)
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in ASYMMETRIC if a in offered]
    if not algorithms:
        raise OidcError(f"the identity provider signs ID tokens with {', '.join(map(str, offered))}; omnihub accepts {', '.join(ASYMMETRIC)}")
    header = _header(id_token)
    if header.get("alg") not in algorithms:
        raise OidcError(f"the ID token is signed with {header.get('alg')!r}, not one of {', '.join(algorithms)}")
    keys = _keyset(meta["jwks_uri"])
    kid = header.get("kid")
    if kid and kid not in {k.kid for k in keys.keys}:
        keys = _keyset(meta["jwks_uri"], refresh=True)  # the provider may have rotated its keys
    try:
        token = jwt.decode(id_token, keys, algorithms=algorithms)
    except JoseError as exc:
        raise OidcError(f"the ID token's signature does not verify against the provider's keys ({exc.error})") from None
    claims = token.claims
    registry = JWTClaimsRegistry(
        now=now, leeway=LEEWAY,
        iss={"essential": True, "value": settings.oidc_issuer},
        aud={"essential": True, "value": settings.oidc_client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise OidcError("the ID token has expired") from None
    except MissingClaimError as exc:
        raise OidcError(f"the ID token lacks a required claim ({exc.description})") from None
    except ClaimError as exc:
        raise OidcError(f"the ID token's {exc.claim!r} claim is wrong for this hub") from None
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != settings.oidc_client_id:
        raise OidcError("the ID token names several audiences but its azp is not this hub's client id")
    if not hmac.compare_digest(str(claims.get("nonce") or ""), nonce):
        raise OidcError("the ID token's nonce does not match this sign-in (a replayed or foreign token)")
    return claims


# ------------------------------------------------------------------------------ users and roles
def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested objects (Keycloak's realm_access.roles)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def mapped_role(settings, claims: dict[str, Any]) -> str | None:
    """The role OMNIHUB_OIDC_ROLE_CLAIM + OMNIHUB_OIDC_ROLE_MAP give (the highest one); None when
    no claim is configured; OidcError when one is configured and none of its values maps."""
    if not settings.oidc_role_claim:
        return None
    raw = _claim(claims, settings.oidc_role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    mapping = settings.oidc_roles
    roles = [mapping[v] for v in values if v in mapping]
    if not roles:
        raise OidcError(f"your account at the identity provider has no omnihub role (claim {settings.oidc_role_claim!r}); "
                        "ask an admin to add you to the right group")
    return max(roles, key=lambda r: ROLE_RANK[r])


def subject_key(issuer: str, sub: str) -> str:
    """What ``users.oidc_subject`` holds: the provider's subject bound to its issuer (a subject
    of another provider configured later never matches)."""
    return hashlib.sha256(f"{issuer}\n{sub}".encode()).hexdigest()


def user_for_claims(s: Session, settings, claims: dict[str, Any]) -> User:
    """The user this ID token signs in: by subject, else by verified email (then linked), else
    created when OMNIHUB_OIDC_JIT is on. Applies the mapped role. OidcError when refused."""
    role = mapped_role(settings, claims)
    key = subject_key(settings.oidc_issuer, str(claims["sub"]))
    email = str(claims.get("email") or "").strip().lower()
    verified = claims.get("email_verified") is True or claims.get("email_verified") == "true"
    user = s.scalar(select(User).where(User.oidc_subject == key))
    if user is None and email and verified:
        user = s.scalar(select(User).where(User.email == email))
        if user is not None:
            if user.oidc_subject is not None:
                raise OidcError(f"{email} is linked to another account at the identity provider")
            user.oidc_subject = key
            s.add(AuditLog(actor="oidc", action="user.oidc_link", target_type="user", target_id=str(user.id),
                           details={"issuer": settings.oidc_issuer}))
    if user is None:
        if not settings.oidc_jit:
            raise OidcError(f"there is no omnihub account for {email or 'this identity'}; ask an admin to create one")
        if not email or not verified or "@" not in email:
            raise OidcError("the identity provider did not vouch for an email address (email, email_verified); cannot create an account")
        if s.scalar(select(User).where(User.email == email)) is not None:
            raise OidcError(f"{email} exists but is not linked to this identity")
        name = str(claims.get("name") or claims.get("preferred_username") or email.split("@")[0])[:255]
        user = User(email=email, role=role or "agent", name=name, password_hash=None, oidc_subject=key)
        s.add(user)
        s.flush()
        s.add(AuditLog(actor="oidc", action="user.create", target_type="user", target_id=str(user.id),
                       details={"role": user.role, "via": "oidc", "issuer": settings.oidc_issuer}))
    if not user.active:
        raise OidcError(f"the omnihub account {user.email} is deactivated")
    if role and user.role != role:
        s.add(AuditLog(actor="oidc", action="user.role_change", target_type="user", target_id=str(user.id),
                       details={"from": user.role, "to": role, "claim": settings.oidc_role_claim}))
        user.role = role
    s.flush()
    return user
