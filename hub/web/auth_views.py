"""/login and /logout."""

from __future__ import annotations

from urllib.parse import urlsplit

import structlog
from flask import Blueprint, abort, g, make_response, redirect, render_template, request, url_for

from hub.auth import check_password
from hub.models import AuditLog, User, now
from hub.web import security

bp = Blueprint("web_auth", __name__, template_folder="templates", static_folder="static", static_url_path="/static/ui")
log = structlog.get_logger("omnihub.web.auth")


def _has_control(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def _safe_next(target: str | None) -> str:
    if not target or _has_control(target):
        return url_for("inbox.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("inbox.index")
    return target


@bp.get("/")
def root():
    return redirect(url_for("inbox.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if _has_control(request.args.get("next") or ""):
        # CR/LF in a redirect target is header injection, never a page of ours
        abort(400, description="next: control characters (CR, LF, ...) are not allowed in the redirect target")
    error = None
    status = 200
    email = ""
    retry_after = None
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()
        password = request.form.get("password") or ""
        wait = security.login_attempt(email)  # counted before the password is checked
        if wait:
            error = f"Too many failed attempts. Try again in {max(1, wait // 60)} minute(s)."
            status = 429
            retry_after = max(1, int(wait))
        else:
            user = security.find_user(email) if email else None
            if user is None:
                security.spend_like_a_password_check(password)  # no timing hint that the account does not exist
            ok = user is not None and user.active and check_password(user, password)
            if not ok or user is None:
                log.info("login.failed", ip=security.client_ip())
                error = "Wrong email or password."
                status = 401
            else:
                security.login_succeeded(email)
                with security.rt().db.session() as s:
                    row = s.get(User, user.id)
                    row.last_login_at = now()
                    s.add(AuditLog(actor=user.email, action="user.login", target_type="user", target_id=str(user.id)))
                security.login(user)
                return redirect(_safe_next(request.args.get("next")))
    elif getattr(g, "session_principal", None) is not None:
        return redirect(_safe_next(request.args.get("next")))
    response = make_response(render_template("login.html", error=error, email=email), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
def logout():
    security.logout()
    return redirect(url_for("web_auth.login"))
