"""Web login sessions and the login throttle (issue #14 item 6).

Sessions are server-side rows: a copied cookie stops working after logout, a password, role
or active-flag change, 12 h idle and 7 days after the login. The login throttle counts every
attempt before the password hash is checked, so parallel guesses cannot race it.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from hub.models import User, WebSession, now
from tests.web.conftest import ADMIN, AGENT, LiveHub, add_users, free_port


@pytest.fixture
def web(hub):
    add_users(hub)
    return hub


def csrf(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def logged_in(web, who=AGENT):
    c = web.app.test_client()
    r = c.post("/login", data={"email": who[0], "password": who[1], "csrf_token": csrf(c)})
    assert r.status_code == 302, r.status_code
    cookie = c.get_cookie("omnihub_session")
    assert cookie is not None
    return c, cookie.value


def replay(web, cookie_value: str) -> int:
    """A fresh client presenting a copied cookie: 200 when the session still works."""
    c = web.app.test_client()
    c.set_cookie("omnihub_session", cookie_value)
    return c.get("/inbox/").status_code


def user(s, email) -> User:
    return s.scalar(select(User).where(User.email == email))


def test_a_copied_cookie_dies_with_logout(web):
    c, stolen = logged_in(web)
    assert replay(web, stolen) == 200
    token = csrf(c, "/inbox/")
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    assert replay(web, stolen) == 302  # the server forgot the session; the signature alone is not enough
    assert web.count(WebSession) == 0


def test_the_session_row_holds_only_a_hash_of_the_cookie_id(web):
    _, cookie = logged_in(web)
    with web.rt.db.read() as s:
        row = s.scalars(select(WebSession)).one()
    assert re.fullmatch(r"[0-9a-f]{64}", row.id_hash)
    from flask.sessions import SecureCookieSessionInterface

    sid = SecureCookieSessionInterface().get_signing_serializer(web.app).loads(cookie)["sid"]
    assert sid not in row.id_hash and len(sid) >= 40


@pytest.mark.parametrize("change", ["password", "role", "deactivate"])
def test_a_copied_cookie_dies_with_a_credential_change(web, change):
    from hub.auth import hash_password

    _, stolen = logged_in(web)
    _, other = logged_in(web, ADMIN)
    with web.rt.db.session() as s:
        u = user(s, AGENT[0])
        if change == "password":
            u.password_hash = hash_password("a brand new password")
        elif change == "role":
            u.role = "admin"
        else:
            u.active = False
    with web.rt.db.read() as s:
        assert s.scalars(select(WebSession.user_id)).all() == [user(s, ADMIN[0]).id]  # the rows are gone
    assert replay(web, stolen) == 302
    assert replay(web, other) == 200  # other users keep theirs


def test_the_admin_console_role_change_ends_the_users_sessions(web):
    _, stolen = logged_in(web)
    admin, _ = logged_in(web, ADMIN)
    with web.rt.db.read() as s:
        uid = user(s, AGENT[0]).id
    r = admin.post("/admin/users", data={"action": "role", "user_id": uid, "role": "admin", "csrf_token": csrf(admin, "/admin/users")})
    assert r.status_code == 302
    assert replay(web, stolen) == 302


def test_sessions_expire_after_idle_time_and_absolute_lifetime(web):
    settings = web.rt.settings
    assert settings.session_idle_hours == 12 and settings.session_max_days == 7
    _, idle = logged_in(web)
    _, busy = logged_in(web, ADMIN)
    with web.rt.db.session() as s:
        rows = {r.user_id: r for r in s.scalars(select(WebSession))}
        agent_id, admin_id = user(s, AGENT[0]).id, user(s, ADMIN[0]).id
        # idle: last request 12 h 1 min ago
        rows[agent_id].last_seen_at = now() - timedelta(hours=12, minutes=1)
        # busy: seen a moment ago, but logged in 7 days and 1 minute ago
        rows[admin_id].created_at = now() - timedelta(days=7, minutes=1)
        rows[admin_id].last_seen_at = now() - timedelta(minutes=5)
    assert replay(web, idle) == 302
    assert replay(web, busy) == 302


def test_activity_keeps_a_session_alive_and_is_written_at_most_once_a_minute(web):
    _, cookie = logged_in(web)
    with web.rt.db.session() as s:
        s.execute(update(WebSession).values(last_seen_at=now() - timedelta(hours=11, minutes=59)))
    assert replay(web, cookie) == 200
    with web.rt.db.read() as s:
        seen = s.scalars(select(WebSession.last_seen_at)).one()
    assert now() - seen < timedelta(minutes=1)  # refreshed: the idle clock restarted
    assert replay(web, cookie) == 200
    with web.rt.db.read() as s:
        assert s.scalars(select(WebSession.last_seen_at)).one() == seen  # no second write within the minute


def test_the_cookie_lives_no_longer_than_the_absolute_lifetime(web):
    c = web.app.test_client()
    r = c.post("/login", data={"email": AGENT[0], "password": AGENT[1], "csrf_token": csrf(c)})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    from email.utils import parsedate_to_datetime

    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert expires - now() <= timedelta(days=7, minutes=1)


@pytest.mark.parametrize("server", ["threaded", "gunicorn"])
def test_parallel_wrong_passwords_cannot_race_the_login_throttle(make_hub, server):
    """40 truly parallel guesses over real HTTP: 429s appear and at most 5 reach the hash check.

    threaded: werkzeug's threaded server in this process; gunicorn: `omnihub web` with two
    worker processes, so the count must be atomic across processes, not only threads.
    """
    from tests.support.hub import wait_until

    port = free_port()
    hub = make_hub(public_url=f"http://127.0.0.1:{port}", web_workers=2)
    live = None
    if server == "threaded":
        live = LiveHub(hub, port)
        url = live.url
    else:
        add_users(hub)
        hub.start("web", "web", "--host", "127.0.0.1", "--port", str(port))
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return requests.get(url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or still importing
                return False

        wait_until(up, timeout=30, message="omnihub web to answer /healthz")
    try:
        s0 = requests.Session()
        html = s0.get(url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        cookies = s0.cookies.get_dict()
        barrier = threading.Barrier(40)
        codes: list[int] = []
        lock = threading.Lock()

        def guess(n: int) -> None:
            barrier.wait(10)
            r = requests.post(url + "/login", data={"email": AGENT[0], "password": f"wrong {n}", "csrf_token": token},
                              cookies=cookies, allow_redirects=False, timeout=60)
            with lock:
                codes.append(r.status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert len(codes) == 40
        assert set(codes) <= {401, 429}, codes
        assert codes.count(401) <= 5, codes  # each 401 is one argon2 check of a guess
        assert codes.count(429) >= 35, codes
    finally:
        if live is not None:
            live.stop()
        hub.stop_all()


def test_sessions_and_token_expiry_on_both_databases(make_hub, db_url):
    """The same rows and conditional updates on SQLite and PostgreSQL."""
    from hub.auth import create_token

    web = make_hub(database_url=db_url)
    add_users(web)
    c, stolen = logged_in(web)
    with web.rt.db.session() as s:
        s.execute(update(WebSession).values(last_seen_at=now() - timedelta(minutes=2)))
        token = create_token(s, AGENT[0])
    assert replay(web, stolen) == 200
    with web.rt.db.read() as s:
        assert now() - s.scalars(select(WebSession.last_seen_at)).one() < timedelta(minutes=1)
    assert c.post("/logout", data={"csrf_token": csrf(c, "/inbox/")}).status_code == 302
    assert replay(web, stolen) == 302
    assert web.api("GET", "/api/v1/tokens", token=token).get_json()["items"][0]["last_used_at"] is not None
    from hub.models import ApiToken

    with web.rt.db.session() as s:
        s.execute(update(ApiToken).values(expires_at=now() - timedelta(seconds=1)))
    assert web.api("GET", "/api/v1/tokens", token=token).status_code == 401
