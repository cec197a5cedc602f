"""Authorization matrix over EVERY /api/v1 route, enumerated from the app's url_map."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from hub.auth import create_token, create_user
from hub.models import ApiToken
from tests.support.hub import Hub

# docs/inbox.md: agents may use everything except connector, dead-letter and audit-log administration.
ADMIN_PREFIXES = ("/api/v1/connectors", "/api/v1/connector-kinds", "/api/v1/dead-letters", "/api/v1/audit",
                  "/api/v1/event-subscriptions", "/api/v1/event-deliveries", "/api/v1/routing-rules",
                  "/api/v1/retention", "/api/v1/ticket-removals")
# docs/teams.md: agents list teams and agents and set their own status; changing teams is for admins
ADMIN_ROUTES = {("POST", "/api/v1/teams"), ("PATCH", "/api/v1/teams/<int:team_id>"), ("DELETE", "/api/v1/teams/<int:team_id>")}
#: admin-only routes under a prefix agents may use
ADMIN_RULES = {"/api/v1/contacts/<int:contact_id>/erase", "/api/v1/contacts/<int:contact_id>/export"}
PUBLIC = {"/api/v1/openapi.json"}


@pytest.fixture(scope="module")
def authz_hub(tmp_path_factory, redis_url):
    h = Hub(tmp_path_factory.mktemp("authz"), redis_url)
    tokens = {}
    with h.rt.db.session() as s:
        create_user(s, "admin@example.com", "admin", "correct horse battery", "Ada Admin")
        create_user(s, "agent@example.com", "agent", "correct horse battery", "Alan Agent")
        tokens["admin"] = create_token(s, "admin@example.com")
        tokens["agent"] = create_token(s, "agent@example.com")
        tokens["revoked"] = create_token(s, "agent@example.com")
    with h.rt.db.session() as s:
        from hub.auth import token_hash

        s.execute(update(ApiToken).where(ApiToken.token_hash == token_hash(tokens["revoked"])).values(revoked=True))
    h.tokens = tokens
    yield h
    h.close()


def api_routes(app) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule))
    return sorted(out)


def concrete(rule: str) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: "999999" if "int:" in m.group(0) else "no-such-thing", rule)


def _routes():

    # enumerate at collection time from a throwaway app (no Redis needed to build the url_map)
    from flask import Flask

    from hub import api

    app = Flask("enumerate")
    app.register_blueprint(api.bp)
    return api_routes(app)


ROUTES = _routes()


def test_the_matrix_covers_every_api_route_of_the_real_app(authz_hub):
    assert api_routes(authz_hub.app) == ROUTES, "routes registered outside hub.api.bp: add them to this matrix"
    assert len(ROUTES) >= 15


@pytest.mark.parametrize("method, rule", ROUTES)
def test_authorization_matrix(authz_hub, method, rule):
    h = authz_hub
    path = concrete(rule)
    body = {} if method in ("POST", "PATCH", "PUT") else None

    def call(token: str | None, raw_header: str | None = None):
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if raw_header:
            headers["Authorization"] = raw_header
        return h.client.open(path, method=method, json=body, headers=headers)

    results = {
        "anonymous": call(None),
        "garbage": call("not-a-token"),
        "basic": call(None, "Basic YWRtaW5AZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"),
        "revoked": call(h.tokens["revoked"]),
        "agent": call(h.tokens["agent"]),
        "admin": call(h.tokens["admin"]),
    }
    for who, resp in results.items():
        assert resp.status_code < 500, (who, method, path, resp.status_code, resp.get_data(as_text=True)[:300])
    if rule in PUBLIC:
        assert all(r.status_code == 200 for r in results.values())
        return
    for who in ("anonymous", "garbage", "basic", "revoked"):
        assert results[who].status_code == 401, (who, method, path, results[who].status_code)
        assert results[who].is_json and "error" in results[who].get_json()
    assert results["admin"].status_code not in (401, 403), (method, path, results["admin"].get_data(as_text=True)[:300])
    if rule.startswith(ADMIN_PREFIXES) or (method, rule) in ADMIN_ROUTES or rule in ADMIN_RULES:
        assert results["agent"].status_code == 403, (method, path, results["agent"].status_code)
    else:
        assert results["agent"].status_code not in (401, 403), (method, path, results["agent"].status_code)
