"""Login sessions, roles, CSRF tokens and login rate limits for the web UI.

CSRF: the synchronizer-token pattern. One random token per session (kept in the signed
session cookie), sent back by every form as ``csrf_token`` and by the pages' fetch() calls
as ``X-CSRF-Token``; compared in constant time. We do it here rather than with Flask-WTF's
CSRFProtect because the same check must cover the REST API when (and only when) it is
called with the session cookie instead of a bearer token, and must leave the signed
provider webhooks alone — one small function instead of an extension plus exemptions.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Callable

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

from hub.auth import Principal
from hub.models import User

SESSION_USER = "uid"
SESSION_CSRF = "csrf"
SESSION_STAMP = "stamp"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# login throttling: failures per (ip, email) and per ip, in a sliding-ish fixed window
LOGIN_WINDOW = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 30


def rt():
    return current_app.extensions["omnihub"]


def csrf_token() -> str:
    token = session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_CSRF] = token
    return token


def csrf_valid() -> bool:
    expected = session.get(SESSION_CSRF)
    given = request.headers.get("X-CSRF-Token") or (request.form.get("csrf_token") if request.form else None)
    return bool(expected and given and hmac.compare_digest(str(expected), str(given)))


def _stamp(user: User) -> str:
    """Changes when the password hash, role or active flag change: old sessions stop working."""
    return hmac.new(current_app.secret_key.encode(), f"{user.id}:{user.password_hash}:{user.role}:{user.active}".encode(), "sha256").hexdigest()[:24]


def login(user: User) -> None:
    session.clear()
    session.permanent = True
    session[SESSION_USER] = user.id
    session[SESSION_STAMP] = _stamp(user)
    csrf_token()


def logout() -> None:
    session.clear()


def load_principal() -> Principal | None:
    uid = session.get(SESSION_USER)
    if not uid:
        return None
    with rt().db.read() as s:
        user = s.get(User, uid)
    if user is None or not user.active or session.get(SESSION_STAMP) != _stamp(user):
        session.clear()
        return None
    return Principal(user.id, user.email, user.role, user.name)


def before_request() -> None:
    """Attach the session's principal; enforce CSRF on cookie-authenticated state changes."""
    path = request.path
    if path.startswith(("/webhooks/", "/widget/", "/widget.js", "/static/", "/healthz", "/readyz", "/metrics")):
        return
    bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    if path.startswith("/api/") and bearer:
        return  # token-authenticated: no cookie involved, no CSRF
    principal = load_principal()
    g.session_principal = principal
    if request.method not in SAFE_METHODS and (principal is not None or not path.startswith("/api/")):
        if not csrf_valid():
            if path.startswith("/api/"):
                from flask import jsonify

                resp = jsonify({"error": "missing or invalid CSRF token (X-CSRF-Token)"})
                resp.status_code = 403
                abort(resp)
            abort(403, description="The form has expired or the CSRF token is missing. Reload the page and try again.")


def login_required(role: str = "agent") -> Callable:
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(*args, **kwargs):
            p = getattr(g, "session_principal", None)
            if p is None:
                return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
            if role == "admin" and not p.is_admin:
                abort(403, description="This page needs the admin role.")
            g.principal = p
            return fn(*args, **kwargs)

        return view

    return deco


LOOPBACK = ("127.0.0.1", "::1")


def client_ip() -> str:
    """The client's address; behind a reverse proxy on this machine, the one it appended to X-Forwarded-For.

    Trusts the header only from loopback, as `omnihub web` trusts the proxy headers
    (gunicorn --forwarded-allow-ips 127.0.0.1). Otherwise every client behind the proxy would
    share one login-throttling bucket.
    """
    addr = request.remote_addr or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if addr in LOOPBACK and forwarded:
        return forwarded.split(",")[-1].strip() or addr
    return addr


_DUMMY_HASH: list[str] = []


def spend_like_a_password_check(password: str) -> None:
    """Verify against a throwaway hash so an unknown email costs the same time as a known one."""
    from hub.auth import _hasher

    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash(secrets.token_urlsafe(16)))
    try:
        _hasher.verify(_DUMMY_HASH[0], password)
    except Exception:  # argon2's VerifyMismatchError: expected, the hash is random
        pass


def _keys(email: str) -> tuple[str, str]:
    prefix = rt().settings.queue_prefix
    ip = client_ip()
    digest = hmac.new(b"login", email.strip().lower().encode(), "sha256").hexdigest()[:16]
    return f"{prefix}:login:fail:{ip}:{digest}", f"{prefix}:login:fail:{ip}"


def login_blocked(email: str) -> int:
    """Seconds until the next attempt is allowed (0: allowed)."""
    acct, ip = _keys(email)
    r = rt().redis
    a, i = r.get(acct), r.get(ip)
    if (a and int(a) >= MAX_FAILURES_PER_ACCOUNT) or (i and int(i) >= MAX_FAILURES_PER_IP):
        ttl = max(r.ttl(acct) if a and int(a) >= MAX_FAILURES_PER_ACCOUNT else 0, r.ttl(ip) if i and int(i) >= MAX_FAILURES_PER_IP else 0)
        return max(1, ttl)
    return 0


def login_failed(email: str) -> None:
    r = rt().redis
    pipe = r.pipeline()
    for key in _keys(email):
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW, nx=True)
    pipe.execute()


def login_succeeded(email: str) -> None:
    rt().redis.delete(_keys(email)[0])


def rate_limit(key: str, limit: int, window: int) -> bool:
    """A fixed-window counter in Redis; True while under ``limit`` hits per ``window`` seconds."""
    r = rt().redis
    full = f"{rt().settings.queue_prefix}:rl:{key}"
    pipe = r.pipeline()
    pipe.incr(full)
    pipe.expire(full, window, nx=True)
    count, _ = pipe.execute()
    return int(count) <= limit


def find_user(email: str) -> User | None:
    with rt().db.read() as s:
        return s.scalar(select(User).where(User.email == email.strip().lower()))
