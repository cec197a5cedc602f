"""TOTP two-factor sign-in for password accounts: enrolment with a QR code, the second step,
recovery codes spent once, replayed codes refused, attempts limited, enforcement by role."""

from __future__ import annotations

import base64
import html
import re
import time

import pyotp
import pytest
from sqlalchemy import select

from hub.models import AuditLog, RecoveryCode, User
from tests.web.conftest import ADMIN, AGENT, add_users
from tests.web.test_web_unit import csrf, do_login


@pytest.fixture
def web(hub):
    add_users(hub)
    return hub


def enrol(client) -> tuple[pyotp.TOTP, list[str]]:
    """Open the account page, read the key, confirm it with the current code: (totp, recovery codes)."""
    page = client.get("/account/2fa").get_data(as_text=True)
    qr = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert qr and b"<svg" in base64.b64decode(qr.group(1))
    secret = re.search(r'<code id="totp-secret" class="key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    totp = pyotp.TOTP(secret)
    token = csrf(client, "/account/2fa")
    r = client.post("/account/2fa", data={"csrf_token": token, "action": "confirm", "code": "000000" if totp.now() != "000000" else "111111"})
    assert r.status_code == 400 and "wrong" in r.get_data(as_text=True)
    r = client.post("/account/2fa", data={"csrf_token": token, "action": "confirm", "code": totp.now()})
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "shown only now" in body, body
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", body)
    assert len(codes) == 10 and len(set(codes)) == 10
    return totp, codes


def second_step(client, who, code: str):
    """Password, then the code: the response to the code."""
    r = do_login(client, who)
    assert r.status_code == 302 and r.headers["Location"] == "/login/2fa"
    assert client.get("/inbox/").status_code == 302  # no session between the two steps
    return client.post("/login/2fa", data={"csrf_token": csrf(client, "/login/2fa"), "code": code})


def logout(client) -> None:
    client.post("/logout", data={"csrf_token": csrf(client, "/inbox/")})


def actions(hub) -> list[str]:
    with hub.rt.db.read() as s:
        return list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_enrol_sign_in_recovery_code_once_and_replay_refused(web):
    c = web.app.test_client()
    assert do_login(c, AGENT).headers["Location"] == "/inbox/"
    totp, codes = enrol(c)
    with web.rt.db.read() as s:
        user = s.scalar(select(User).where(User.email == AGENT[0]))
        stored = list(s.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert user.totp_enabled_at is not None and totp.secret.encode() not in user.totp_secret  # sealed at rest
    assert len(stored) == 10 and not set(stored) & {c.replace("-", "") for c in codes}  # hashed
    logout(c)

    # the next step's code (accepted for clock drift); the enrolment's own code is spent already
    code = totp.at(time.time() + 30)
    r = second_step(c, AGENT, code)
    assert r.status_code == 302 and r.headers["Location"] == "/inbox/"
    assert c.get("/inbox/").status_code == 200
    logout(c)

    r = second_step(c, AGENT, code)  # the same code again: replayed
    assert r.status_code == 401 and "already used" in r.get_data(as_text=True)
    assert c.get("/inbox/").status_code == 302

    # a recovery code works once (typed in capitals, without the dash)
    r = c.post("/login/2fa", data={"csrf_token": csrf(c, "/login/2fa"), "code": codes[3].replace("-", "").upper()})
    assert r.status_code == 302 and c.get("/inbox/").status_code == 200
    assert "left: <strong id=\"codes-left\">9</strong>" in c.get("/account/2fa").get_data(as_text=True)
    logout(c)
    r = second_step(c, AGENT, codes[3])
    assert r.status_code == 401 and c.get("/inbox/").status_code == 302

    log = actions(web)
    assert log.count("user.2fa_enabled") == 1 and log.count("user.recovery_code_used") == 1
    assert log.count("user.login") == 3 and log.count("user.login_failed") == 2
    with web.rt.db.read() as s:
        last = s.scalars(select(AuditLog).where(AuditLog.action == "user.login").order_by(AuditLog.id.desc())).first()
    assert last.details["second_factor"] == "recovery_code" and last.details["method"] == "password"


def test_wrong_codes_are_limited_per_account(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    totp, _ = enrol(c)  # one wrong code spent during enrolment
    logout(c)
    for _ in range(4):
        assert second_step(c, AGENT, "123456" if totp.now() != "123456" else "654321").status_code == 401
    r = c.post("/login/2fa", data={"csrf_token": csrf(c, "/login/2fa"), "code": totp.at(time.time() + 30)})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # even the right code waits now
    assert c.get("/inbox/").status_code == 302
    assert do_login(web.app.test_client(), ADMIN).headers["Location"] == "/inbox/"  # another account is not held up


def test_required_for_admins_sends_them_to_enrol_first(make_hub):
    hub = make_hub(totp_required="admins")
    add_users(hub)
    agent = hub.app.test_client()
    assert do_login(agent, AGENT).headers["Location"] == "/inbox/"
    assert agent.get("/inbox/").status_code == 200  # agents are not asked

    admin = hub.app.test_client()
    r = do_login(admin, ADMIN)
    assert r.headers["Location"] == "/account/2fa"
    r = admin.get("/admin/connectors")
    assert r.status_code == 302 and r.headers["Location"] == "/account/2fa"
    r = admin.get("/api/v1/conversations")  # the API with the session cookie is held back too
    assert r.status_code == 403 and "/account/2fa" in r.get_json()["error"]
    assert "required for your account" in admin.get("/account/2fa").get_data(as_text=True)
    totp, _ = enrol(admin)
    assert admin.get("/admin/connectors").status_code == 200
    page = html.unescape(admin.get("/account/2fa").get_data(as_text=True))
    assert "Turn two-factor off" not in page  # enforced: no way to turn it off

    # and it cannot be turned off by posting the form anyway
    r = admin.post("/account/2fa", data={"csrf_token": csrf(admin, "/account/2fa"), "action": "disable", "code": totp.at(time.time() + 30)})
    assert r.status_code == 400 and "cannot be turned off" in r.get_data(as_text=True)


def test_turning_two_factor_off_needs_a_code_and_the_user_can_sign_in_with_the_password_alone(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    totp, _ = enrol(c)
    r = c.post("/account/2fa", data={"csrf_token": csrf(c, "/account/2fa"), "action": "disable", "code": totp.at(time.time() + 30)})
    assert r.status_code == 302 and "Scan this QR code" in c.get("/account/2fa").get_data(as_text=True)
    logout(c)
    assert do_login(c, AGENT).headers["Location"] == "/inbox/"
    with web.rt.db.read() as s:
        assert s.scalar(select(RecoveryCode.id)) is None
    assert "user.2fa_disabled" in actions(web)


def test_an_admin_or_the_cli_resets_a_lost_two_factor(web):
    c = web.app.test_client()
    do_login(c, AGENT)
    enrol(c)
    logout(c)
    admin = web.app.test_client()
    do_login(admin, ADMIN)
    page = admin.get("/admin/users").get_data(as_text=True)
    assert f'aria-label="Reset two-factor of {AGENT[0]}"' in page
    with web.rt.db.read() as s:
        uid = s.scalar(select(User.id).where(User.email == AGENT[0]))
    r = admin.post("/admin/users", data={"csrf_token": csrf(admin, "/admin/users"), "user_id": uid, "action": "reset_2fa"})
    assert r.status_code == 302
    # #21 fresh eyes: an admin's own Reset took their second factor off with the session cookie alone
    admin_totp, _ = enrol(admin)
    with web.rt.db.read() as s:
        admin_id = s.scalar(select(User.id).where(User.email == ADMIN[0]))
    r = admin.post("/admin/users", data={"csrf_token": csrf(admin, "/admin/users"), "user_id": admin_id, "action": "reset_2fa"})
    assert r.status_code == 400 and "account page" in r.get_data(as_text=True)
    with web.rt.db.read() as s:
        assert s.scalar(select(User.totp_enabled_at).where(User.id == admin_id)) is not None
    assert do_login(c, AGENT).headers["Location"] == "/inbox/"  # the password alone again
    assert "user.reset_2fa" in actions(web)

    enrol(c)
    done = web.cli("users", "reset-2fa", "--email", AGENT[0])
    assert done.returncode == 0 and f"two-factor sign-in reset for {AGENT[0]}" in done.stdout, done.stdout + done.stderr
    with web.rt.db.read() as s:
        assert s.scalar(select(User.totp_enabled_at).where(User.id == uid)) is None


def test_which_roles_must_use_two_factor():
    from types import SimpleNamespace

    from hub.totp import required_for

    table = {(value, role): required_for(SimpleNamespace(totp_required=value), role)
             for value in ("off", "admins", "everyone") for role in ("admin", "agent")}
    assert table == {("off", "admin"): False, ("off", "agent"): False, ("admins", "admin"): True,
                     ("admins", "agent"): False, ("everyone", "admin"): True, ("everyone", "agent"): True}
