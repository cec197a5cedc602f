"""Login sessions, roles, CSRF tokens and login rate limits for the web UI.

Sessions are server-side: the signed cookie carries a random session id, the
``web_sessions`` table its SHA-256 (never the id itself). Logging out deletes the row, so a
copied cookie stops working; so do a password, role or active-flag change (``hub.auth``
deletes the user's rows on flush), ``OMNIHUB_SESSION_IDLE_HOURS`` without a request and
``OMNIHUB_SESSION_MAX_DAYS`` after the login.

CSRF: the synchronizer-token pattern. One random token per session (kept in the signed
session cookie), sent back by every form as ``csrf_token`` and by the pages' fetch() calls
as ``X-CSRF-Token``; compared in constant time. We do it here rather than with Flask-WTF's
CSRFProtect because the same check must cover the REST API when (and only when) it is
called with the session cookie instead of a bearer token, and must leave the signed
provider webhooks alone — one small function instead of an extension plus exemptions.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import delete, select, update

from hub.auth import Principal
from hub.clientip import LOOPBACK, client_ip  # noqa: F401 - client_ip is re-exported for the web shell
from hub.models import User, WebSession
from hub.models import now as _now

SESSION_ID = "sid"
SESSION_CSRF = "csrf"
SESSION_STAMP = "stamp"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

SEEN_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often per session

# login throttling: attempts per (ip, email), per email from anywhere and per ip, in a fixed
# window; counted atomically (INCR) BEFORE the password hash is checked, so parallel guesses
# cannot all slip through between a check and an increment
LOGIN_WINDOW = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_ATTEMPTS_PER_EMAIL = 20
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
    key = current_app.secret_key
    key_bytes = key if isinstance(key, bytes) else str(key).encode()
    return hmac.new(key_bytes, f"{user.id}:{user.password_hash}:{user.role}:{user.active}".encode(), "sha256").hexdigest()[:24]


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def now() -> datetime:
    """The clock sessions expire by (a function so tests can inject one)."""
    return _now()


SESSION_VIA = "via"  # how the session was signed in: "password" or "oidc"
SESSION_PENDING_2FA = "pending_2fa"  # right password, second factor still to come (hub.web.auth_views)

#: pages a user who must enrol in two-factor can still reach (everything else sends them to enrol)
ENROL_PATHS = ("/account/2fa", "/logout")


def login(user: User, via: str = "password") -> None:
    sid = secrets.token_urlsafe(32)
    t = now()
    settings = rt().settings
    with rt().db.session() as s:
        # the user's sessions that ran out and were never presented again: no row lingers
        s.execute(delete(WebSession).where(
            WebSession.user_id == user.id,
            (WebSession.created_at < t - timedelta(days=settings.session_max_days))
            | (WebSession.last_seen_at < t - timedelta(hours=settings.session_idle_hours)),
        ))
        s.add(WebSession(id_hash=_sid_hash(sid), user_id=user.id, created_at=t, last_seen_at=t))
    session.clear()
    session.permanent = True
    session[SESSION_ID] = sid
    session[SESSION_STAMP] = _stamp(user)
    session[SESSION_VIA] = via
    csrf_token()


def must_enrol(user: User) -> bool:
    """OMNIHUB_TOTP_REQUIRED applies to this password session and the user has no two-factor yet."""
    from hub.totp import required_for

    return session.get(SESSION_VIA, "password") == "password" and user.totp_enabled_at is None \
        and required_for(rt().settings, user.role)


def logout() -> None:
    sid = session.get(SESSION_ID)
    if sid:
        from hub.models import AgentStatus

        with rt().db.session() as s:
            row = s.scalar(select(WebSession).where(WebSession.id_hash == _sid_hash(str(sid))))
            if row is not None:
                s.delete(row)
                s.flush()
                if not s.scalar(select(WebSession.id).where(WebSession.user_id == row.user_id).limit(1)):
                    # signed out everywhere: no longer available for automatic assignment
                    s.execute(update(AgentStatus).where(AgentStatus.user_id == row.user_id, AgentStatus.status != "offline")
                              .values(status="offline", changed_at=now()))
    session.clear()


def load_principal() -> Principal | None:
    sid = session.get(SESSION_ID)
    if not sid:
        if session.get("uid"):  # a cookie from before server-side sessions: no longer honoured
            session.clear()
        return None
    h = _sid_hash(str(sid))
    with rt().db.read() as s:
        row = s.scalar(select(WebSession).where(WebSession.id_hash == h))
        user = s.get(User, row.user_id) if row is not None else None
    t = now()
    settings = rt().settings
    if (
        row is None or user is None or not user.active or session.get(SESSION_STAMP) != _stamp(user)
        or t - row.created_at > timedelta(days=settings.session_max_days)
        or t - row.last_seen_at > timedelta(hours=settings.session_idle_hours)
    ):
        if row is not None:
            with rt().db.session() as s:
                s.execute(delete(WebSession).where(WebSession.id == row.id))
        session.clear()
        return None
    if t - row.last_seen_at >= SEEN_EVERY:
        from hub import assignment

        with rt().db.session() as s:
            s.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=t))
            assignment.touch(s, user.id, t)  # an open inbox keeps an online agent online (hub.assignment)
    g.must_enrol_2fa = must_enrol(user)
    return Principal(user.id, user.email, user.role, user.name)


def before_request() -> None:
    """Attach the session's principal; enforce CSRF on cookie-authenticated state changes."""
    path = request.path
    if path.startswith(("/webhooks/", "/widget/", "/widget.js", "/static/", "/healthz", "/readyz", "/metrics")) \
            and not (path.startswith("/widget/") and path.endswith("/try")):  # the test page is for signed-in users
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
    if principal is not None and getattr(g, "must_enrol_2fa", False) and not path.startswith(ENROL_PATHS):
        # OMNIHUB_TOTP_REQUIRED: nothing but the enrolment page until two-factor is set up
        if path.startswith("/api/"):
            from flask import jsonify

            resp = jsonify({"error": "two-factor sign-in is required for your account: set it up at /account/2fa"})
            resp.status_code = 403
            abort(resp)
        abort(redirect(url_for("web_auth.account_2fa")))


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


_DUMMY_HASH: dict[tuple[int, int, int], str] = {}  # per hash cost (OMNIHUB_PASSWORD_HASH_PROFILE)


def spend_like_a_password_check(password: str) -> None:
    """Verify against a throwaway hash so an unknown email costs the same time as a known one."""
    from hub import auth

    hasher = auth._hasher
    cost = auth.hash_cost(hasher)
    if cost not in _DUMMY_HASH:
        _DUMMY_HASH[cost] = hasher.hash(secrets.token_urlsafe(16))
    try:
        hasher.verify(_DUMMY_HASH[cost], password)
    except Exception:  # argon2's VerifyMismatchError: expected, the hash is random
        pass


def _keys(email: str) -> tuple[str, str]:
    """The (ip, email) and ip failure counters. The typed email is named by a digest keyed with
    the hub's secret (hub.crypto.Box.login_digest), never in clear nor by a plain hash that a list
    of addresses would match; an erasure deletes the keys of the contact's emails (hub.erasure)."""
    prefix = rt().settings.queue_prefix
    ip = client_ip()
    digest = rt().box.login_digest(email)
    return f"{prefix}:login:fail:{ip}:{digest}", f"{prefix}:login:fail:{ip}"


def _limited_keys(email: str) -> list[tuple[str, int]]:
    prefix = rt().settings.queue_prefix
    digest = rt().box.login_digest(email)
    acct, ip = _keys(email)
    return [(acct, MAX_FAILURES_PER_ACCOUNT), (f"{prefix}:login:acct:{digest}", MAX_ATTEMPTS_PER_EMAIL), (ip, MAX_FAILURES_PER_IP)]


def login_attempt(email: str) -> int:
    """Count this attempt before the password is checked; seconds to wait when over a limit (0: go ahead).

    One MULTI/EXEC of INCR + EXPIRE NX per key: every parallel request gets its own count, so
    at most MAX_FAILURES_PER_ACCOUNT guesses per (ip, email) reach the hash check per window.
    """
    keys = _limited_keys(email)
    pipe = rt().redis.pipeline()
    for key, _ in keys:
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW, nx=True)
        pipe.ttl(key)
    res = pipe.execute()
    wait = 0
    for n, (_, limit) in enumerate(keys):
        count, ttl = int(res[3 * n]), int(res[3 * n + 2])
        if count > limit:
            wait = max(wait, ttl if ttl > 0 else LOGIN_WINDOW)
    return wait


def login_succeeded(email: str) -> None:
    """A right password: forget this (ip, email)'s failures and give back the attempt it used."""
    keys = _limited_keys(email)
    rt().redis.eval(_GIVE_BACK, 3, *(key for key, _ in keys))


# delete the (ip, email) counter; decrement the others only while they exist (never a key without a TTL)
_GIVE_BACK = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECR', KEYS[i]) end
end
return 1
"""


def rate_limit(key: str, limit: int, window: int) -> bool:
    """A fixed-window counter in Redis; True while under ``limit`` hits per ``window`` seconds."""
    r = rt().redis
    full = f"{rt().settings.queue_prefix}:rl:{key}"
    pipe = r.pipeline()
    pipe.incr(full)
    pipe.expire(full, window, nx=True)
    count, _ = pipe.execute()
    return int(count) <= limit


def give_back(key: str) -> None:
    """Undo one ``rate_limit`` hit (a right answer: only wrong ones should count); never below 0
    and never on a key that has expired (no key without a TTL)."""
    rt().redis.eval(_GIVE_ONE_BACK, 1, f"{rt().settings.queue_prefix}:rl:{key}")


_GIVE_ONE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""


def find_user(email: str) -> User | None:
    with rt().db.read() as s:
        return s.scalar(select(User).where(User.email == email.strip().lower()))


#: the Content-Security-Policy of every HTML page of the hub (no inline script or style)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
