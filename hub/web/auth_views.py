"""/login (password, then a TOTP code when the account has two-factor), /login/sso (OpenID
Connect), /logout and /account/2fa (two-factor enrolment). docs/signin.md."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import structlog
from flask import Blueprint, abort, g, make_response, redirect, render_template, request, session, url_for

from hub import audit, totp
from hub.auth import check_password
from hub.models import User, now
from hub.web import security

bp = Blueprint("web_auth", __name__, template_folder="templates", static_folder="static", static_url_path="/static/ui")
log = structlog.get_logger("omnihub.web.auth")

SECOND_STEP_SECONDS = 300  # the code must follow the password within this long
SSO_SECONDS = 600  # a sign-in at the identity provider must come back within this long
MAX_CODE_TRIES = 5  # wrong two-factor codes per account per window (security.LOGIN_WINDOW)


def _has_control(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value)


def _safe_next(target: str | None) -> str:
    if not target or _has_control(target):
        return url_for("inbox.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("inbox.index")
    return target


def _audit(actor: str, action: str, user_id: int | None = None, **details) -> None:
    details["ip"] = security.client_ip()
    with security.rt().db.session() as s:
        audit.record(s, actor=(actor or "anonymous")[:320], action=action, target_type="user",
                       target_id=str(user_id) if user_id else "", details=details)


def _signed_in(user: User, via: str, **details) -> None:
    with security.rt().db.session() as s:
        row = s.get(User, user.id)
        assert row is not None
        row.last_login_at = now()
    _audit(user.email, "user.login", user.id, method=via, **details)
    security.login(user, via=via)


def _login_page(error: str | None, status: int, email: str = "", retry_after: int | None = None):
    settings = security.rt().settings
    response = make_response(render_template("login.html", error=error, email=email, sso=settings.oidc_enabled,
                                             sso_label=settings.oidc_button_label), status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.get("/")
def root():
    return redirect(url_for("inbox.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if _has_control(request.args.get("next") or ""):
        # CR/LF in a redirect target is header injection, never a page of ours
        abort(400, description="next: control characters (CR, LF, ...) are not allowed in the redirect target")
    if request.method == "GET":
        if getattr(g, "session_principal", None) is not None:
            return redirect(_safe_next(request.args.get("next")))
        return _login_page(None, 200)
    email = (request.form.get("email") or "").strip().lower()
    password = request.form.get("password") or ""
    wait = security.login_attempt(email)  # counted before the password is checked
    if wait:
        return _login_page(f"Too many failed attempts. Try again in {max(1, wait // 60)} minute(s).", 429, email, max(1, int(wait)))
    user = security.find_user(email) if email else None
    if user is None:
        security.spend_like_a_password_check(password)  # no timing hint that the account does not exist
    ok = user is not None and user.active and check_password(user, password)
    if not ok or user is None:
        log.info("login.failed", ip=security.client_ip())
        _audit(email, "user.login_failed", user.id if user else None, method="password", reason="wrong email or password")
        return _login_page("Wrong email or password.", 401, email)
    security.login_succeeded(email)
    if user.totp_enabled_at is not None:
        # the second step: the password was right; the session is made only after the code
        next_ = request.args.get("next")
        security.logout()  # whatever session this browser had ends here (its row too)
        session[security.SESSION_PENDING_2FA] = {"uid": user.id, "stamp": security._stamp(user), "at": time.time(), "next": next_}
        security.csrf_token()
        return redirect(url_for("web_auth.login_2fa"))
    _signed_in(user, "password")
    if totp.required_for(security.rt().settings, user.role):
        return redirect(url_for("web_auth.account_2fa"))  # OMNIHUB_TOTP_REQUIRED: enrol first
    return redirect(_safe_next(request.args.get("next")))


def _pending_user() -> tuple[User, dict] | None:
    pending = session.get(security.SESSION_PENDING_2FA)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > SECOND_STEP_SECONDS:
        return None
    with security.rt().db.read() as s:
        user = s.get(User, int(pending["uid"]))
    if user is None or not user.active or user.totp_enabled_at is None or pending.get("stamp") != security._stamp(user):
        return None
    return user, pending


@bp.route("/login/2fa", methods=["GET", "POST"])
def login_2fa():
    found = _pending_user()
    if found is None:
        session.pop(security.SESSION_PENDING_2FA, None)
        return redirect(url_for("web_auth.login"))
    user, pending = found
    if request.method == "GET":
        return render_template("login_2fa.html", error=None)
    code = (request.form.get("code") or "").strip()
    if not security.rate_limit(f"2fa:{user.id}", MAX_CODE_TRIES, security.LOGIN_WINDOW):
        _audit(user.email, "user.login_failed", user.id, method="password", reason="too many two-factor codes")
        resp = make_response(render_template("login_2fa.html", error="Too many wrong codes. Try again in 15 minutes."), 429)
        resp.headers["Retry-After"] = str(security.LOGIN_WINDOW)
        return resp
    rt = security.rt()
    factor = None
    with rt.db.session() as s:
        row = s.get(User, user.id)
        assert row is not None
        digits = code.replace(" ", "")
        if digits.isdigit() and len(digits) == 6:
            factor = "totp" if totp.accept_code(s, rt.box, row, code) else None
        elif totp.use_recovery_code(s, user.id, code):
            factor = "recovery_code"
            left = totp.recovery_codes_left(s, user.id)
            audit.record(s, actor=user.email, action="user.recovery_code_used", target_type="user", target_id=str(user.id),
                           details={"left": left, "ip": security.client_ip()})
    if factor is None:
        _audit(user.email, "user.login_failed", user.id, method="password", reason="wrong or reused two-factor code")
    else:
        security.give_back(f"2fa:{user.id}")  # counted before the check (parallel guesses); only wrong codes stay counted
    if factor is None:
        return make_response(render_template("login_2fa.html", error="That code is wrong or was already used."), 401)
    next_ = pending.get("next")
    session.pop(security.SESSION_PENDING_2FA, None)
    _signed_in(user, "password", second_factor=factor)
    return redirect(_safe_next(next_))


# ------------------------------------------------------------------------------ OpenID Connect
def _redirect_uri() -> str:
    return security.rt().settings.effective_public_url + url_for("web_auth.sso_callback")


@bp.get("/login/sso")
def sso_start():
    settings = security.rt().settings
    if not settings.oidc_enabled:
        abort(404)
    from hub import oidc  # here, not at import: authlib and joserfc only where SSO is on (~10 MB per web process)

    if _has_control(request.args.get("next") or ""):
        abort(400, description="next: control characters (CR, LF, ...) are not allowed in the redirect target")
    if not security.rate_limit(f"sso:{security.client_ip()}", 30, 60):
        return _login_page("Too many sign-in attempts from here. Try again in a minute.", 429, retry_after=60)
    try:
        req = oidc.authorization_request(settings, _redirect_uri())
    except oidc.OidcError as exc:
        log.warning("sso.unavailable", error=str(exc))
        return _login_page(f"Single sign-on is unavailable: {exc}.", 502)
    session["oidc"] = {"state": req.state, "nonce": req.nonce, "verifier": req.verifier,
                       "next": request.args.get("next"), "at": time.time()}
    return redirect(req.url)


@bp.get("/login/sso/callback")
def sso_callback():
    settings = security.rt().settings
    if not settings.oidc_enabled:
        abort(404)
    from hub import oidc

    pending = session.pop("oidc", None)
    args = request.args
    if args.get("error"):
        reason = f"the identity provider refused the sign-in: {args.get('error')}" + (f" ({args['error_description']})" if args.get("error_description") else "")
        _audit("", "user.login_failed", method="oidc", reason=reason[:500])
        return _login_page(reason[:1].upper() + reason[1:] + ".", 401)
    import hmac

    if (not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > SSO_SECONDS
            or not hmac.compare_digest(str(pending.get("state", "")), args.get("state", ""))):
        _audit("", "user.login_failed", method="oidc", reason="state missing, expired or not this browser's")
        return _login_page("The single sign-on did not start in this browser or took too long. Try again.", 400)
    if not args.get("code"):
        return _login_page("The identity provider sent no authorization code. Try again.", 400)
    try:
        claims = oidc.exchange(settings, _redirect_uri(), args["code"], pending["verifier"], pending["nonce"])
        rt = security.rt()
        with rt.db.session() as s:
            user = oidc.user_for_claims(s, settings, claims)
            s.expunge(user)
    except oidc.OidcError as exc:
        log.info("sso.failed", error=str(exc), ip=security.client_ip())
        _audit("", "user.login_failed", method="oidc", reason=str(exc)[:500])
        return _login_page(f"Single sign-on failed: {exc}.", 401)
    _signed_in(user, "oidc", issuer=settings.oidc_issuer)
    return redirect(_safe_next(pending.get("next")))


@bp.post("/logout")
def logout():
    security.logout()
    return redirect(url_for("web_auth.login"))


# ------------------------------------------------------------------------------ two-factor enrolment
def _account_page(user: User, *, error: str | None = None, codes: list[str] | None = None, status: int = 200):
    rt = security.rt()
    settings = rt.settings
    qr = secret = None
    if user.totp_enabled_at is None and user.totp_secret:
        secret = totp.secret_of(rt.box, user)
        assert secret is not None
        qr = totp.qr_data_uri(totp.provisioning_uri(secret, user.email, settings.totp_issuer))
    with rt.db.read() as s:
        left = totp.recovery_codes_left(s, user.id)
    return make_response(render_template(
        "account_2fa.html", user=user, qr=qr, secret=secret, codes=codes, error=error, left=left,
        required=totp.required_for(settings, user.role), must_enrol=getattr(g, "must_enrol_2fa", False),
        password_account=bool(user.password_hash),
    ), status)


def _code_ok(user_id: int, code: str) -> tuple[bool, str | None]:
    """Check a TOTP code on the account page (rate-limited like the sign-in step)."""
    if not security.rate_limit(f"2fa:{user_id}", MAX_CODE_TRIES, security.LOGIN_WINDOW):
        return False, "Too many wrong codes. Try again in 15 minutes."
    rt = security.rt()
    with rt.db.session() as s:
        row = s.get(User, user_id)
        assert row is not None
        if totp.accept_code(s, rt.box, row, code):
            security.give_back(f"2fa:{user_id}")
            return True, None
    return False, "That code is wrong or was already used. Enter the current code from your app."


@bp.route("/account/2fa", methods=["GET", "POST"])
@security.login_required()
def account_2fa():
    rt = security.rt()
    uid = g.principal.user_id
    action = request.form.get("action") if request.method == "POST" else None
    with rt.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        if user.totp_enabled_at is None and (user.totp_secret is None or action == "restart"):
            user.totp_secret = totp.seal(rt.box, totp.new_secret())  # a new, unconfirmed secret
            user.totp_last_step = None
        s.flush()
        s.expunge(user)
    if request.method == "GET" or action == "restart":
        return _account_page(user)
    code = request.form.get("code") or ""
    ok, error = _code_ok(uid, code)
    if not ok:
        _audit(user.email, "user.2fa_failed", uid, step=action)
        return _account_page(user, error=error, status=400)
    codes = None
    with rt.db.session() as s:
        row = s.get(User, uid)
        assert row is not None
        if action == "confirm" and row.totp_enabled_at is None:
            row.totp_enabled_at = now()
            codes = totp.new_recovery_codes(s, uid)
            audit.record(s, actor=row.email, action="user.2fa_enabled", target_type="user", target_id=str(uid))
        elif action == "recovery_codes" and row.totp_enabled_at is not None:
            codes = totp.new_recovery_codes(s, uid)
            audit.record(s, actor=row.email, action="user.2fa_recovery_codes", target_type="user", target_id=str(uid))
        elif action == "disable" and row.totp_enabled_at is not None:
            if totp.required_for(rt.settings, row.role):
                s.rollback()
                return _account_page(user, error="Two-factor sign-in is required for your role here; it cannot be turned off.", status=400)
            totp.disable(s, row)
            audit.record(s, actor=row.email, action="user.2fa_disabled", target_type="user", target_id=str(uid))
            return redirect(url_for("web_auth.account_2fa"))  # off: the page offers a new key to enrol again
        s.flush()
        s.expunge(row)
    if action == "confirm" and codes:
        g.must_enrol_2fa = False
    return _account_page(row, codes=codes)
