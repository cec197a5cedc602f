"""Credentials that stop working are loud, for any connector (issue #18 item 2): a helpdesk
that refuses our credentials turns red at once, one that keeps failing turns red after
OMNIHUB_CONNECTOR_FAILING_AFTER; admin page, inbox banner, /readyz detail and the
omnihub_connector_healthy gauge show it; the others keep working. Real hub, worker, Redis,
SQLite and local HTTP helpdesks."""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest
from sqlalchemy import select
from werkzeug import Response

from hub import health, signing
from hub.models import Connector, Delivery

API_SECRET = "api-secret"
ADMIN = ("admin@example.com", "correct horse battery staple")


def _post(h, connector: str, id: str, text: str) -> None:
    body = json.dumps({"id": id, "from": {"id": "alice", "name": "Alice", "email": "alice@example.com"}, "text": text}).encode()
    resp = h.client.post(f"/webhooks/{connector}/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(API_SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def _gauge(h, name: str, kind: str) -> str | None:
    text = h.client.get("/metrics").get_data(as_text=True)
    m = re.search(r'omnihub_connector_healthy\{connector="' + re.escape(name) + r'",kind="' + re.escape(kind) + r'"\} (\S+)', text)
    return m.group(1) if m else None


def _health(h, name: str) -> dict:
    with h.rt.db.read() as s:
        return dict(s.scalar(select(Connector.health).where(Connector.name == name)) or {})


@pytest.fixture
def desk_hub(make_hub, httpserver):
    httpserver.expect_request("/refuses", method="POST").respond_with_response(Response('{"error":"bad token"}', status=401, content_type="application/json"))
    httpserver.expect_request("/down", method="POST").respond_with_response(Response("maintenance", status=503))
    h = make_hub(connector_failing_after=1.5, retry_max_attempts=20, retry_base_seconds=0.3, retry_max_seconds=0.5)
    h.add_connector("locked", "webhook", url=httpserver.url_for("/refuses"), secret="s1")
    h.add_connector("flaky", "webhook", url=httpserver.url_for("/down"), secret="s2")
    h.add_connector("web1", "api", secret=API_SECRET, helpdesk="locked")
    h.add_connector("web2", "api", secret=API_SECRET, helpdesk="flaky")
    h.add_connector("web3", "api", secret=API_SECRET)  # the built-in inbox: must keep working
    from hub.auth import create_user

    with h.rt.db.session() as s:
        create_user(s, ADMIN[0], "admin", ADMIN[1], "Ada Admin")
    h.start_worker()
    yield h


def test_refused_credentials_red_at_once_failures_red_after_threshold_others_unaffected(desk_hub):
    h = desk_hub
    _post(h, "web1", "m1", "to the helpdesk that refuses us")
    _post(h, "web2", "m2", "to the helpdesk that is down")
    _post(h, "web3", "m3", "to the inbox")
    # the inbox delivery goes through although two helpdesks fail
    from tests.support.hub import wait_until

    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message="inbox delivery")
    wait_until(lambda: _health(h, "locked").get("auth_failed"), timeout=20, message="auth failure noted")
    assert "401" in _health(h, "locked")["last_error"]
    assert _gauge(h, "locked", "webhook") == "0.0"
    # a retriable failure is noted; it is not red until it lasts past the threshold
    wait_until(lambda: _health(h, "flaky").get("failing_since"), timeout=20, message="failure noted")
    assert not _health(h, "flaky").get("auth_failed")
    # past the threshold: red, with the reason
    wait_until(lambda: _gauge(h, "flaky", "webhook") == "0.0", timeout=20, message="flaky red after the threshold")
    ready = h.client.get("/readyz")
    assert ready.status_code == 200
    detail = ready.get_json()["connectors"]
    assert detail["locked"]["healthy"] is False and detail["locked"]["reason"].startswith("cannot authenticate")
    assert detail["flaky"]["healthy"] is False and detail["flaky"]["reason"].startswith("failing since")
    assert detail["inbox"]["healthy"] is True and detail["web3"]["healthy"] is True
    assert _gauge(h, "inbox", "inbox") == "1.0"

    # admins see it in the inbox and on the connectors page
    client = h.app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1], "csrf_token": token}).status_code == 302
    page = client.get("/inbox").get_data(as_text=True)
    banner = page.split('id="connector-health-banner"')[1].split("</div>")[0]
    assert "2 connectors need attention" in banner and "/admin/connectors/locked" in banner and "/admin/connectors/flaky" in banner
    assert "web3" not in banner and "/admin/connectors/inbox" not in banner
    assert client.get("/admin/connectors").get_data(as_text=True).count("✘ red") == 2
    listed = h.cli("connectors", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "RED: cannot authenticate" in lines["locked"] and "RED: failing since" in lines["flaky"]
    assert "RED" not in lines["web3"] and "RED" not in lines["inbox"]


def test_notes_alert_once_per_episode_and_success_clears_it(make_hub, db_url, httpserver):
    """On SQLite and PostgreSQL: a red episode alerts once (claimed in the row), success ends it."""
    alerts = []
    httpserver.expect_request("/alert", method="POST").respond_with_handler(lambda r: alerts.append(r.get_data()) or Response("ok"))
    hub = make_hub(database_url=db_url, alert_webhook_url=httpserver.url_for("/alert"))
    with hub.rt.db.read() as s:
        cid = s.scalar(select(Connector.id).where(Connector.name == "inbox"))
    health.note_failure(hub.rt, cid, "push: HTTP 401: nope", auth=True)
    assert health.evaluate(_health(hub, "inbox"), 900)[0] is False
    health.sweep(hub.rt)
    health.sweep(hub.rt)
    health.note_failure(hub.rt, cid, "push: HTTP 401: still nope", auth=True)
    health.sweep(hub.rt)
    assert len(alerts) == 1 and json.loads(alerts[0])["connector"] == "inbox"
    health.note_ok(hub.rt, cid)
    h = _health(hub, "inbox")
    assert health.evaluate(h, 900) == (True, "ok") and "recovered_at" in h and "auth_failed" not in h and "alerted_at" not in h
    health.note_failure(hub.rt, cid, "push: HTTP 403: again", auth=True)  # a new episode: a new alert
    health.sweep(hub.rt)
    assert len(alerts) == 2


def test_evaluate_threshold():
    from datetime import datetime, timedelta

    now = datetime(2026, 12, 5, tzinfo=UTC)
    since = (now - timedelta(seconds=100)).isoformat()
    assert health.evaluate({"failing_since": since, "last_error": "x"}, 101, now) == (True, "ok")
    assert health.evaluate({"failing_since": since, "last_error": "x"}, 100, now)[0] is False
    assert health.evaluate({}, 1, now) == (True, "ok")
    assert health.evaluate({"auth_failed": True, "last_error": "401"}, 10_000, now) == (False, "cannot authenticate: 401")
