"""/admin: the OAuth 2.0 authorization-code flow (PKCE S256) that signs a connector in.

``POST /admin/connectors/<name>/oauth/start`` (admin, CSRF) → a same-origin page that moves
the browser on (meta refresh and a link) → the provider's consent page →
``GET /admin/oauth/callback?code&state``. The state is random, kept server-side (Redis) with
the PKCE verifier for ten minutes, usable once, and bound to the admin's user and login
session: a callback carrying a state started by another session, another admin, or after
it was used is refused. The adapter (``adapter.tokens``: authlib) exchanges the code and keeps
the tokens sealed in the connector's state.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from flask import abort, flash, g, redirect, render_template_string, request, session, url_for
from sqlalchemy import select, update

from hub import audit, health
from hub.errors import AuthError, ConfigError, DeliveryError, NotFound
from hub.models import Connector, now
from hub.web.admin import bp, log, svc
from hub.web.security import SESSION_CSRF, login_required, rt

STATE_TTL = 600


def _state_key(state: str) -> str:
    return f"{rt().settings.queue_prefix}:oauth-state:{hashlib.sha256(state.encode()).hexdigest()}"


def _session_binding() -> str:
    """A digest of this login session's random CSRF secret: the flow must end in the session it began in."""
    return hashlib.sha256(f"oauth-flow:{session.get(SESSION_CSRF, '')}".encode()).hexdigest()


def callback_url() -> str:
    return f"{rt().settings.effective_public_url.rstrip('/')}/admin/oauth/callback"


def _token_source(name: str):
    with rt().db.read() as s:
        try:
            row = svc().get(s, name)
        except NotFound:
            abort(404, description=f"no connector named {name!r}")
        try:
            adapter = svc().adapter(row)
        except ConfigError as exc:  # e.g. its configuration was edited outside omnihub
            abort(400, description=str(exc))
    tokens = getattr(adapter, "tokens", None)
    if tokens is None:
        abort(400, description=f"connector {name!r} does not use OAuth sign-in (set auth oauth2 first)")
    return row.id, tokens


@bp.post("/connectors/<name>/oauth/start")
@login_required("admin")
def oauth_start(name: str):
    _cid, tokens = _token_source(name)
    if not session.get(SESSION_CSRF):
        abort(403, description="no login session")
    try:
        url, state, verifier = tokens.authorization_url(callback_url())
    except (ConfigError, DeliveryError) as exc:  # e.g. the URL guard refused oauth_authorize_url
        flash(f"{name}: cannot start the sign-in: {exc}", "bad")
        return redirect(url_for("admin.connector_edit", name=name))
    record = {"connector": name, "user_id": g.principal.user_id, "session": _session_binding(), "verifier": verifier,
              "redirect_uri": callback_url(), "nonce": secrets.token_hex(8)}
    rt().redis.set(_state_key(state), json.dumps(record), ex=STATE_TTL, nx=True)
    log.info("oauth.start", connector=name, actor=g.principal.email)
    # Not a redirect: the pages' CSP (form-action 'self') rightly stops a form submission
    # from being redirected to another origin. A same-origin page moves the browser on.
    return render_template_string(CONTINUE_PAGE, url=url, name=name)


CONTINUE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={{ url }}">
<title>Sign in · {{ name }} · omnihub</title></head>
<body><main><p>Continuing to the provider to sign <strong>{{ name }}</strong> in…
<a id="oauth-continue" href="{{ url }}">Continue</a></p></main></body></html>
"""


@bp.get("/oauth/callback")
@login_required("admin")
def oauth_callback():
    state = request.args.get("state", "")
    raw = rt().redis.getdel(_state_key(state)) if state else None  # single use
    if raw is None:
        abort(400, description="Unknown, expired or already used sign-in state. Start the sign-in again from the connector page.")
    record = json.loads(raw)
    if record.get("user_id") != g.principal.user_id or not secrets.compare_digest(record.get("session", ""), _session_binding()):
        log.warning("oauth.state_session_mismatch", connector=record.get("connector"), actor=g.principal.email)
        abort(403, description="This sign-in was started in another session. Start it again from the connector page.")
    name = record["connector"]
    if request.args.get("error"):
        why = (request.args.get("error_description") or "").strip()[:200]  # rendered escaped
        flash(f"{name}: the provider refused the sign-in: {(request.args.get('error') or '')[:100]}" + (f" ({why})" if why else ""), "bad")
        return redirect(url_for("admin.connector_edit", name=name))
    code = request.args.get("code", "")
    if not code:
        abort(400, description="the provider returned no authorization code")
    cid, tokens = _token_source(name)
    try:
        info = tokens.exchange(record["redirect_uri"], code, record["verifier"])
    except (AuthError, DeliveryError) as exc:
        log.warning("oauth.exchange_failed", connector=name, error=str(exc))
        flash(f"{name}: sign-in failed: {exc}", "bad")
        return redirect(url_for("admin.connector_edit", name=name))
    with rt().db.session() as s:
        # a new authorization is a configuration change: poll loops restart with it
        s.execute(update(Connector).where(Connector.id == cid).values(updated_at=now()))
        audit.record(s, actor=g.principal.email, action="connector.oauth_authorized", target_type="connector", target_id=name,
                       details={"scope": info.get("scope")})
    log.info("oauth.authorized", connector=name, actor=g.principal.email)
    # signed in with the provider: now log in to the mailbox itself before saying it works
    from hub.api import run_check

    with rt().db.read() as s:
        row = s.scalar(select(Connector).where(Connector.id == cid))
    result = run_check(rt(), svc(), row, actor=g.principal.email) if row is not None else {"ok": False, "summary": "connector gone"}
    if result["ok"]:
        health.note_ok(rt(), cid)
        flash(f"{name}: signed in; the mailbox accepted the token ({result['summary']}).", "ok")
    else:
        flash(f"{name}: signed in with the provider, but the mailbox check failed: {result['summary']}", "bad")
    return redirect(url_for("admin.connector_edit", name=name))
