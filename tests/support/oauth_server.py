"""A local OAuth 2.0 authorization server for tests, plus Dovecot and aiosmtpd that accept
SASL XOAUTH2 by introspecting tokens against it.

The server is a small real HTTP server (Flask under werkzeug, loopback, port 0) that does
what Google's and Microsoft's endpoints do for a confidential web client:
- ``GET /authorize``: checks client_id, the registered redirect_uri, response_type=code and a
  PKCE S256 challenge, then (consent given by ``consent_user``) redirects back with a random,
  single-use, short-lived code and the state;
- ``POST /token``: client authentication (client_secret_post or client_secret_basic),
  ``authorization_code`` (code bound to client, redirect_uri and the PKCE verifier) and
  ``refresh_token`` grants; random opaque tokens, access tokens live ``access_lifetime`` s;
- ``POST /introspect`` (RFC 7662): ``{"active": true, "username": ...}`` for a live access
  token, ``{"active": false}`` otherwise. Dovecot's oauth2 passdb and the SMTP server use it.
``revoke_refresh_tokens()`` plays the user or admin revoking the app's access.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.support.dovecot import Dovecot, free_port, require_dovecot


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class OAuthServer:
    client_id = "omnihub-test-client"
    client_secret = "test-client-secret-" + secrets.token_hex(8)

    def __init__(self, redirect_uri: str, consent_user: str, access_lifetime: float = 3600.0) -> None:
        self.redirect_uri = redirect_uri
        self.consent_user = consent_user
        self.access_lifetime = access_lifetime
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}
        self.refresh: dict[str, dict] = {}
        self.grants: list[str] = []  # grant types served, in order (tests)
        self.refused: list[str] = []  # errors answered (tests)
        self.introspections = 0
        self.inactive_introspections = 0  # tokens presented that were no longer (or never) valid
        self._lock = threading.Lock()
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="oauth-server", daemon=True)

    # --- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> OAuthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self._thread.join(5)

    # --- test controls ----------------------------------------------------------------------
    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.refresh.clear()

    def revoke_access_tokens(self) -> None:
        """Access tokens stop working before their stated expiry (a password change, an admin action)."""
        with self._lock:
            self.access.clear()

    def active(self, token: str, user: str | None = None) -> bool:
        with self._lock:
            info = self.access.get(token)
        return bool(info and info["exp"] > time.time() and (user is None or info["user"] == user))

    # --- the HTTP endpoints -----------------------------------------------------------------------
    def _error(self, code: str, status: int = 400, description: str = ""):
        self.refused.append(code)
        return jsonify({"error": code, "error_description": description}), status

    def _client_ok(self) -> bool:
        auth = request.authorization
        if auth and auth.type == "basic":
            cid, secret = auth.username, auth.password
        else:
            cid, secret = request.form.get("client_id"), request.form.get("client_secret")
        return cid == self.client_id and secrets.compare_digest(str(secret or ""), self.client_secret)

    def _issue(self, user: str, scope: str, refresh_token: str | None = None) -> dict:
        access = secrets.token_urlsafe(32)
        with self._lock:
            self.access[access] = {"user": user, "exp": time.time() + self.access_lifetime, "scope": scope}
            if refresh_token is None:
                refresh_token = secrets.token_urlsafe(32)
                self.refresh[refresh_token] = {"user": user, "scope": scope}
        return {"access_token": access, "token_type": "Bearer", "expires_in": int(self.access_lifetime) or 1,
                "refresh_token": refresh_token, "scope": scope}

    def _build(self) -> Flask:
        app = Flask("oauth-test-server")

        @app.get("/authorize")
        def authorize():
            a = request.args
            if a.get("client_id") != self.client_id:
                return self._error("invalid_client", 400, "unknown client_id")
            if a.get("redirect_uri") != self.redirect_uri:
                return self._error("invalid_request", 400, "redirect_uri is not registered")
            if a.get("response_type") != "code":
                return self._error("unsupported_response_type")
            if a.get("code_challenge_method") != "S256" or len(a.get("code_challenge", "")) < 43:
                return self._error("invalid_request", 400, "PKCE S256 required")
            code = secrets.token_urlsafe(24)
            with self._lock:
                self.codes[code] = {"challenge": a["code_challenge"], "redirect_uri": a["redirect_uri"], "user": self.consent_user,
                                    "scope": a.get("scope", ""), "exp": time.time() + 60}
            return redirect(f"{a['redirect_uri']}?{urlencode({'code': code, 'state': a.get('state', '')})}", 302)

        @app.post("/token")
        def token():
            if not self._client_ok():
                return self._error("invalid_client", 401, "client authentication failed")
            f = request.form
            grant = f.get("grant_type")
            self.grants.append(str(grant))
            if grant == "authorization_code":
                with self._lock:
                    entry = self.codes.pop(f.get("code", ""), None)  # single use
                if entry is None or entry["exp"] < time.time():
                    return self._error("invalid_grant", 400, "unknown or used code")
                if f.get("redirect_uri") != entry["redirect_uri"]:
                    return self._error("invalid_grant", 400, "redirect_uri mismatch")
                verifier = f.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if not verifier or not secrets.compare_digest(digest, entry["challenge"]):
                    return self._error("invalid_grant", 400, "PKCE verification failed")
                return jsonify(self._issue(entry["user"], entry["scope"]))
            if grant == "refresh_token":
                rt = f.get("refresh_token", "")
                with self._lock:
                    entry = self.refresh.get(rt)
                if entry is None:
                    return self._error("invalid_grant", 400, "refresh token revoked or unknown")
                return jsonify(self._issue(entry["user"], entry["scope"], refresh_token=rt))
            return self._error("unsupported_grant_type")

        @app.post("/introspect")
        def introspect():
            self.introspections += 1
            token = request.form.get("token", "")
            with self._lock:
                info = self.access.get(token)
            if not info or info["exp"] <= time.time():
                self.inactive_introspections += 1
                return jsonify({"active": False})
            return jsonify({"active": True, "username": info["user"], "exp": int(info["exp"]), "scope": info["scope"],
                            "client_id": self.client_id, "token_type": "Bearer"})

        return app

    def connector_config(self) -> dict:
        """The email connector's OAuth keys for this server (provider custom)."""
        return {
            "auth": "oauth2",
            "oauth_provider": "custom",
            "oauth_client_id": self.client_id,
            "oauth_client_secret": self.client_secret,
            "oauth_authorize_url": f"{self.url}/authorize",
            "oauth_token_url": f"{self.url}/token",
        }


# ------------------------------------------------------------------------------ Dovecot + XOAUTH2
OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}/introspect
username_attribute = username
active_attribute = active
active_value = true
"""


class OAuthDovecot(Dovecot):
    """Dovecot whose users log in with XOAUTH2/OAUTHBEARER through the oauth2 passdb (token
    introspection against the local OAuth server); the password passdb stays for PLAIN/LOGIN
    only (tests append mail with it), so a password is never accepted as a token."""

    def __init__(self, directory: Path, introspection_base: str) -> None:
        super().__init__(directory)
        (self.dir / "oauth2.conf.ext").write_text(OAUTH2_EXT.format(url=introspection_base))
        conf = (self.dir / "dovecot.conf").read_text()
        conf = conf.replace("auth_mechanisms = plain login\n", "auth_mechanisms = plain login xoauth2 oauthbearer\n", 1)
        conf = conf.replace("  driver = passwd-file\n", "  driver = passwd-file\n  mechanisms = plain login\n", 1)
        # no auth penalty after a refused token (it delays the next AUTH from 127.0.0.1 by seconds)
        conf = conf.replace("service anvil {\n", "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n", 1)
        conf += f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {self.dir}/oauth2.conf.ext\n}}\n"
        (self.dir / "dovecot.conf").write_text(conf)


@contextmanager
def running_oauth_dovecot(introspection_base: str):
    require_dovecot()
    directory = Path(tempfile.mkdtemp(prefix="omnihub-dovecot-oauth-"))
    try:
        server = OAuthDovecot(directory, introspection_base)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------------------ SMTP + XOAUTH2
class _XOAuth2Handler:
    def __init__(self, server: OAuthSmtpServer) -> None:
        self.server = server

    async def auth_XOAUTH2(self, smtp, args):
        blob = base64.b64decode(args[1]) if len(args) > 1 else await smtp.challenge_auth("")
        fields = dict(p.split("=", 1) for p in blob.decode().split("\x01") if "=" in p)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        if await asyncio.to_thread(self.server.introspect, user, token):
            self.server.logins.append(user)
            return AuthResult(success=True, auth_data=user)
        self.server.refusals += 1
        await smtp.challenge_auth('{"status":"401","schemes":"bearer"}')  # the client answers ""
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        self.server.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 Ok: queued"


class OAuthSmtpServer:
    """aiosmtpd offering AUTH XOAUTH2 only, checked by RFC 7662 introspection; mail needs AUTH."""

    def __init__(self, introspection_base: str) -> None:
        self.introspect_url = f"{introspection_base}/introspect"
        self.received: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []
        self.refusals = 0
        self.port = free_port()
        self.controller = Controller(_XOAuth2Handler(self), hostname="127.0.0.1", port=self.port, auth_require_tls=False,
                                     auth_exclude_mechanism=["LOGIN", "PLAIN"])

    def introspect(self, user: str, token: str) -> bool:
        resp = httpx.post(self.introspect_url, data={"token": token}, timeout=5)
        info = resp.json()
        return bool(info.get("active")) and info.get("username") == user

    def __enter__(self) -> OAuthSmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
