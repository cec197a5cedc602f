"""The browser UI: login, the agent inbox, the admin console and the web chat widget.

Server-rendered Flask + Jinja with a little vanilla JavaScript (no build step, every asset
served from ``hub/web/static``). ``init_app`` is called by ``hub.app.create_app``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, g, request

from hub.web import security

#: Pages of the UI: strict CSP, no inline script, nothing loaded from elsewhere.
from hub.web.security import CSP  # noqa: E402,F401 (re-exported)


def init_app(app: Flask) -> None:
    from hub.web import admin, auth_views, dashboard, inbox, widget
    from hub.web import models as _models  # noqa: F401  (register the conversation_reads table)
    from hub.web import oauth_admin as _oauth_admin  # noqa: F401  (OAuth sign-in routes on the admin blueprint)

    app.config["SESSION_COOKIE_NAME"] = "omnihub_session"
    # the cookie expires with the session's absolute lifetime (the row enforces idle and absolute expiry)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=app.extensions["omnihub"].settings.session_max_days)
    app.before_request(security.before_request)
    for bp in (auth_views.bp, inbox.bp, dashboard.bp, admin.bp, widget.bp):
        app.register_blueprint(bp)

    @app.context_processor
    def _globals():
        return {
            "csrf_token": security.csrf_token,
            "principal": getattr(g, "session_principal", None),
            "unhealthy_connectors": _unhealthy_for_admins,
            "my_status": _my_status,
        }

    def _my_status() -> str:
        """The signed-in agent's status for the header control (online, away, offline)."""
        from hub import assignment

        p = getattr(g, "session_principal", None)
        if p is None:
            return "offline"
        runtime = app.extensions["omnihub"]
        with runtime.db.read() as s:
            return assignment.status_of(s, p.user_id, runtime.settings.agent_idle_seconds)

    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["when"] = when

    @app.after_request
    def _ui_headers(resp):
        if resp.mimetype == "text/html" and not request.path.startswith(("/api/", "/webhooks/")):
            resp.headers.setdefault("Content-Security-Policy", CSP)
            resp.headers.setdefault("X-Frame-Options", "DENY")
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def _unhealthy_for_admins() -> list[dict]:
    """Red connectors (hub.health), for the admins' banner; nothing for agents."""
    p = getattr(g, "session_principal", None)
    if p is None or not p.is_admin:
        return []
    from hub import health

    try:
        return health.unhealthy(security.rt())
    except Exception:  # noqa: BLE001 - a banner must never break the page
        return []


def when(value) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    secs = int((datetime.now(UTC) - value).total_seconds())
    if secs < 60:
        return "just now"
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit} ago"
    return ""
