"""API tokens can be listed, revoked and expire (issue #14 item 6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.models import ApiToken, now


@pytest.fixture
def two(hub):
    """An admin token (hub.token) and an agent's token."""
    from hub.auth import create_token, create_user

    admin = hub.token
    with hub.rt.db.session() as s:
        create_user(s, "alan@example.com", "agent", "staple battery horse")
        agent = create_token(s, "alan@example.com", "laptop")
    return admin, agent


def token_id(hub, token: str) -> int:
    from hub.auth import token_hash

    with hub.rt.db.read() as s:
        return s.scalar(select(ApiToken.id).where(ApiToken.token_hash == token_hash(token)))


def test_agents_list_their_own_tokens_admins_all(hub, two):
    admin, agent = two
    r = hub.api("GET", "/api/v1/tokens", token=agent)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [i["id"] for i in items] == [token_id(hub, agent)]
    item = items[0]
    assert item["prefix"] == agent[:12] and item["name"] == "laptop" and item["expires_at"] is None
    assert {"id", "prefix", "created_at", "last_used_at", "expires_at"} <= set(item)
    assert "email" not in item and "token_hash" not in item
    assert agent not in r.get_data(as_text=True) and agent[12:20] not in r.get_data(as_text=True)

    items = hub.api("GET", "/api/v1/tokens", token=admin).get_json()["items"]
    assert {i["email"] for i in items} == {"agent@example.com", "alan@example.com"}


def test_delete_revokes_own_token_only_and_admins_any(hub, two):
    admin, agent = two
    admin_id, agent_id = token_id(hub, admin), token_id(hub, agent)
    assert hub.api("DELETE", f"/api/v1/tokens/{admin_id}", token=agent).status_code == 404  # not yours: as if absent
    assert hub.api("DELETE", "/api/v1/tokens/999999", token=agent).status_code == 404
    assert hub.api("GET", "/api/v1/conversations", token=admin).status_code == 200
    assert hub.api("DELETE", f"/api/v1/tokens/{agent_id}", token=admin).status_code == 204
    assert hub.api("GET", "/api/v1/conversations", token=agent).status_code == 401
    assert hub.api("DELETE", f"/api/v1/tokens/{agent_id}", token=admin).status_code == 404  # already revoked
    assert agent_id not in [i["id"] for i in hub.api("GET", "/api/v1/tokens", token=admin).get_json()["items"]]
    # an agent revoking its own
    from hub.auth import create_token

    with hub.rt.db.session() as s:
        second = create_token(s, "alan@example.com")
    assert hub.api("DELETE", f"/api/v1/tokens/{token_id(hub, second)}", token=second).status_code == 204
    assert hub.api("GET", "/api/v1/tokens", token=second).status_code == 401


def test_expired_tokens_stop_working(hub, two):
    _, agent = two
    assert hub.api("GET", "/api/v1/conversations", token=agent).status_code == 200
    with hub.rt.db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id(hub, agent)).values(expires_at=now() - timedelta(seconds=1)))
    assert hub.api("GET", "/api/v1/conversations", token=agent).status_code == 401
    with hub.rt.db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id(hub, agent)).values(expires_at=now() + timedelta(minutes=5)))
    assert hub.api("GET", "/api/v1/conversations", token=agent).status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(hub, two):
    _, agent = two
    tid = token_id(hub, agent)

    def last_used():
        with hub.rt.db.read() as s:
            return s.get(ApiToken, tid).last_used_at

    assert last_used() is None
    hub.api("GET", "/api/v1/tokens", token=agent)
    first = last_used()
    assert first is not None and now() - first < timedelta(seconds=30)
    hub.api("GET", "/api/v1/tokens", token=agent)
    assert last_used() == first  # no write per request
    with hub.rt.db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == tid).values(last_used_at=now() - timedelta(minutes=2)))
    hub.api("GET", "/api/v1/tokens", token=agent)
    assert now() - last_used() < timedelta(seconds=30)


def test_cli_create_with_expiry_list_and_revoke(hub):
    from hub.auth import create_user

    with hub.rt.db.session() as s:
        create_user(s, "alan@example.com", "agent", "staple battery horse")
    r = hub.cli("tokens", "create", "--email", "alan@example.com", "--name", "ci", "--expires", "30d")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert re.fullmatch(r"omh_[A-Za-z0-9_-]{43}", token)  # only the token on stdout
    tid = token_id(hub, token)
    with hub.rt.db.read() as s:
        expires = s.get(ApiToken, tid).expires_at
    assert timedelta(days=29, hours=23) < expires - now() <= timedelta(days=30)
    r = hub.cli("tokens", "create", "--email", "alan@example.com", "--expires", "2000-01-01")
    assert r.returncode != 0 and "--expires" in r.stderr and "past" in r.stderr
    r = hub.cli("tokens", "create", "--email", "alan@example.com", "--expires", "soon")
    assert r.returncode != 0 and "30d" in r.stderr

    _ = hub.token  # a second user's token
    r = hub.cli("tokens", "list", "--email", "alan@example.com")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and token[:12] in lines[0] and str(tid) in lines[0] and token[12:] not in r.stdout
    assert len(hub.cli("tokens", "list").stdout.strip().splitlines()) == 2

    assert hub.api("GET", "/api/v1/tokens", token=token).status_code == 200
    r = hub.cli("tokens", "revoke", str(tid))
    assert r.returncode == 0, r.stderr
    assert hub.api("GET", "/api/v1/tokens", token=token).status_code == 401
    r = hub.cli("tokens", "revoke", str(tid))
    assert r.returncode != 0 and "not found" in r.stderr
    assert hub.cli("tokens", "list", "--email", "alan@example.com").stdout.strip() == ""


def test_admin_console_lists_and_revokes_tokens_with_csrf(hub):
    from hub.auth import create_token
    from tests.security.test_sessions import csrf, logged_in
    from tests.web.conftest import ADMIN, AGENT, add_users

    add_users(hub)
    with hub.rt.db.session() as s:
        agent_tok = create_token(s, AGENT[0])
    c, _ = logged_in(hub, ADMIN)
    html = c.get("/admin/tokens").get_data(as_text=True)
    assert agent_tok[:12] in html and AGENT[0] in html and agent_tok[12:] not in html
    tid = token_id(hub, agent_tok)
    assert c.post("/admin/tokens", data={"action": "revoke", "token_id": tid}).status_code == 403  # no CSRF token
    assert hub.api("GET", "/api/v1/tokens", token=agent_tok).status_code == 200
    r = c.post("/admin/tokens", data={"action": "revoke", "token_id": tid, "csrf_token": csrf(c, "/admin/tokens")})
    assert r.status_code == 302
    assert hub.api("GET", "/api/v1/tokens", token=agent_tok).status_code == 401
    agent_client, _ = logged_in(hub, AGENT)
    assert agent_client.get("/admin/tokens").status_code == 403  # admins only


def test_token_routes_are_in_the_openapi_document(hub):
    doc = hub.client.get("/api/v1/openapi.json").get_json()
    assert "get" in doc["paths"]["/api/v1/tokens"]
    assert "delete" in doc["paths"]["/api/v1/tokens/{token_id}"]
