"""A local OpenID Connect provider for tests: a small real HTTP server (Flask under werkzeug,
loopback, port 0) doing what an OpenID provider does for a confidential web client, per
OpenID Connect Core 1.0 (authorization code flow) and Discovery 1.0:

- ``GET /.well-known/openid-configuration``: the discovery document (shape as Keycloak's,
  Google's and Entra ID's: issuer, endpoints, jwks_uri, supported algorithms and client
  authentication methods);
- ``GET /jwks``: the public half of a real RSA key (2048 bits, made with ``cryptography``);
- ``GET /authorize``: checks client_id, the registered redirect_uri, response_type=code, the
  openid scope, a PKCE S256 challenge, state and nonce; then (the user having "signed in")
  redirects back with a random, single-use, short-lived code and the state;
- ``POST /token``: client authentication (client_secret_basic or client_secret_post), the
  code bound to client, redirect_uri and PKCE verifier; answers an opaque access token and an
  ID token: a real RS256 JWT signed here with ``cryptography`` (not with the library the hub
  verifies with), carrying iss, sub, aud, exp, iat, nonce, email, email_verified, name and
  whatever ``claims`` the test sets (groups, roles).

``forge`` makes the next ID token wrong in one way (another key, expired, another audience,
another issuer, alg none, HS256 keyed with the client secret, another nonce) for the
refusal tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

_KEYS: list[rsa.RSAPrivateKey] = []


def _rsa_key(n: int) -> rsa.RSAPrivateKey:
    """The n-th RSA key of this test session (made once: key generation takes ~0.1 s)."""
    while len(_KEYS) <= n:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[n]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    nums = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": _int(nums.n), "e": _int(nums.e)}


def sign_jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey | None, kid: str, alg: str = "RS256", hmac_key: bytes = b"") -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    if alg == "none":
        sig = b""
    elif alg == "HS256":
        sig = hmac.new(hmac_key, signing_input, hashlib.sha256).digest()
    else:
        assert key is not None
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64url(sig)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


FORGERIES = ("other_key", "expired", "wrong_audience", "wrong_issuer", "alg_none", "hs256_client_secret", "wrong_nonce")


class OidcIdP:
    client_id = "omnihub-sso-test"

    def __init__(self, redirect_uri: str) -> None:
        self.redirect_uri = redirect_uri
        self.client_secret = "sso-secret-" + secrets.token_hex(8)
        self.key = _rsa_key(0)
        self.kid = "test-key-1"
        #: who signs in at /authorize (the test sets it): sub, email, email_verified, name, groups…
        self.claims: dict[str, Any] = {"sub": "idp-user-1", "email": "sam@example.com", "email_verified": True, "name": "Sam SSO"}
        self.forge: str | None = None  # one of FORGERIES: the next ID token is wrong that way
        self.codes: dict[str, dict] = {}
        self.tokens_issued = 0
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # a short poll interval: shutdown() waits for it (0.5 s by default, per test)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="oidc-idp", daemon=True)

    def __enter__(self) -> OidcIdP:
        from hub import oidc

        # a new provider, maybe at the address of an earlier test's: the hub's per-process
        # discovery and JWKS caches must not hold that one's documents
        oidc.clear_caches()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def rotate_key(self) -> None:
        """A new signing key with a new key id; the JWKS lists only the new one (the old is retired)."""
        self.key, self.kid = _rsa_key(2), "test-key-2"

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The hub's OMNIHUB_OIDC_* settings for this provider."""
        return {"oidc_issuer": self.url, "oidc_client_id": self.client_id, "oidc_client_secret": self.client_secret, **extra}

    # --- the HTTP endpoints ---------------------------------------------------------------------
    def _error(self, code: str, status: int = 400, description: str = ""):
        self.refused.append(code)
        return jsonify({"error": code, "error_description": description}), status

    def _id_token(self, nonce: str) -> str:
        t = int(time.time())
        claims = {"iss": self.url, "aud": self.client_id, "iat": t, "exp": t + 300, "nonce": nonce, "auth_time": t, **self.claims}
        forge, self.forge = self.forge, None
        key, alg = self.key, "RS256"
        if forge == "other_key":
            key = _rsa_key(1)  # same kid, another key: a forged signature
        elif forge == "expired":
            claims.update(iat=t - 900, exp=t - 600)
        elif forge == "wrong_audience":
            claims["aud"] = "some-other-app"
        elif forge == "wrong_issuer":
            claims["iss"] = "https://evil.example"
        elif forge == "wrong_nonce":
            claims["nonce"] = "n-" + secrets.token_hex(8)
        elif forge == "alg_none":
            alg = "none"
        elif forge == "hs256_client_secret":
            alg = "HS256"
        return sign_jwt(claims, key, self.kid, alg, hmac_key=self.client_secret.encode())

    def _build(self) -> Flask:
        app = Flask("oidc-test-idp")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "groups"],
            })

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [public_jwk(self.key, self.kid)]})

        @app.get("/authorize")
        def authorize():
            a = request.args
            if a.get("client_id") != self.client_id:
                return self._error("invalid_client", 400, "unknown client_id")
            if a.get("redirect_uri") != self.redirect_uri:
                return self._error("invalid_request", 400, "redirect_uri is not registered")
            if a.get("response_type") != "code" or "openid" not in a.get("scope", "").split():
                return self._error("invalid_request", 400, "response_type=code and scope openid required")
            if a.get("code_challenge_method") != "S256" or len(a.get("code_challenge", "")) < 43:
                return self._error("invalid_request", 400, "PKCE S256 required")
            if not a.get("state") or not a.get("nonce"):
                return self._error("invalid_request", 400, "state and nonce required")
            code = secrets.token_urlsafe(24)
            with self._lock:
                self.codes[code] = {"challenge": a["code_challenge"], "redirect_uri": a["redirect_uri"], "nonce": a["nonce"],
                                    "exp": time.time() + 60}
            return redirect(f"{a['redirect_uri']}?{urlencode({'code': code, 'state': a['state']})}", 302)

        @app.post("/token")
        def token():
            auth = request.authorization
            if auth and auth.type == "basic":
                cid, secret = auth.username, auth.password
            else:
                cid, secret = request.form.get("client_id"), request.form.get("client_secret")
            if cid != self.client_id or not secrets.compare_digest(str(secret or ""), self.client_secret):
                return self._error("invalid_client", 401, "client authentication failed")
            f = request.form
            if f.get("grant_type") != "authorization_code":
                return self._error("unsupported_grant_type")
            with self._lock:
                entry = self.codes.pop(f.get("code", ""), None)  # single use
            if entry is None or entry["exp"] < time.time():
                return self._error("invalid_grant", 400, "unknown or used code")
            if f.get("redirect_uri") != entry["redirect_uri"]:
                return self._error("invalid_grant", 400, "redirect_uri mismatch")
            verifier = f.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(b64url(hashlib.sha256(verifier.encode()).digest()), entry["challenge"]):
                return self._error("invalid_grant", 400, "PKCE verification failed")
            self.tokens_issued += 1
            return jsonify({"access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": 300,
                            "scope": "openid email profile", "id_token": self._id_token(entry["nonce"])})

        return app
