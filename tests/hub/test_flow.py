"""The core flow end to end: signed webhook -> journal -> RQ workers -> conversation -> reply."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select
from werkzeug import Response

from hub import signing
from hub.models import Conversation, Delivery, InboundEvent, Message
from tests.support.hub import wait_until

SECRET = "s3cret-api-key"


def post_message(hub, connector="web", *, id="m1", text="Hello, I need help", sender="alice", secret=SECRET,
                 timestamp=None, extra=None, raw=None):
    body = raw if raw is not None else json.dumps(
        {"id": id, "from": {"id": sender, "name": sender.title(), "email": f"{sender}@example.com"}, "text": text, **(extra or {})}
    ).encode()
    headers = {"Content-Type": "application/json", **signing.sign(secret, body, timestamp)}
    return hub.client.post(f"/webhooks/{connector}/messages", data=body, headers=headers)


def conversations(hub):
    resp = hub.api("GET", "/api/v1/conversations")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]


@pytest.fixture
def api_hub(make_hub, db_url):
    h = make_hub(database_url=db_url)
    h.add_connector("web", "api", secret=SECRET)
    return h


def test_signed_message_becomes_a_conversation_visible_over_the_api(api_hub):
    api_hub.start_worker()
    resp = post_message(api_hub)
    assert resp.status_code == 200
    items = wait_until(lambda: conversations(api_hub), message="conversation")
    assert items[0]["subject"] == "Hello, I need help"
    assert items[0]["channel"] == "api" and items[0]["customer"]["display_name"] == "Alice"
    full = api_hub.api("GET", f"/api/v1/conversations/{items[0]['id']}").get_json()
    assert [m["text"] for m in full["messages"]] == ["Hello, I need help"]
    # pushed to the built-in inbox: the delivery is done
    wait_until(lambda: api_hub.count(Delivery, Delivery.state == "delivered") == 1, message="delivery")
    # the journal no longer holds the raw payload: only its redacted normalized form, encrypted
    with api_hub.rt.db.read() as s:
        ev = s.scalars(select(InboundEvent)).one()
        assert ev.state == "processed" and ev.redacted
        assert b"Hello" not in ev.payload


def test_duplicate_webhook_is_stored_once(api_hub):
    api_hub.start_worker()
    for _ in range(3):
        assert post_message(api_hub, id="dup-1").status_code == 200
    wait_until(lambda: api_hub.count(Message) == 1)
    api_hub.wait_idle()  # a late duplicate would be stored by now
    assert api_hub.count(InboundEvent) == 1
    assert api_hub.count(Message) == 1
    assert api_hub.count(Conversation) == 1


@pytest.mark.parametrize(
    "case",
    ["wrong-secret", "stale", "future", "tampered", "missing-headers"],
)
def test_forged_or_stale_signature_gets_403_and_stores_nothing(hub, case):
    hub.add_connector("web", "api", secret=SECRET)
    body = json.dumps({"id": "x", "from": {"id": "eve"}, "text": "hi"}).encode()
    headers = {"Content-Type": "application/json"}
    if case == "wrong-secret":
        headers.update(signing.sign("not-the-secret", body))
    elif case == "stale":
        headers.update(signing.sign(SECRET, body, int(time.time()) - 301))
    elif case == "future":
        headers.update(signing.sign(SECRET, body, int(time.time()) + 301))
    elif case == "tampered":
        headers.update(signing.sign(SECRET, body))
        body = body.replace(b"hi", b"ho")
    resp = hub.client.post("/webhooks/web/messages", data=body, headers=headers)
    assert resp.status_code == 403
    assert resp.get_json() == {"error": "signature verification failed"}
    assert hub.count(InboundEvent) == 0


def test_connector_without_secret_fails_closed(hub):
    from hub.models import Connector

    hub.add_connector("web", "api", secret="x")
    with hub.rt.db.session() as s:  # simulate a broken row: no secrets at all
        row = s.scalar(select(Connector).where(Connector.name == "web"))
        row.secrets = hub.rt.box.seal_json({})
    hub.app.extensions.get("omnihub.webhook_cache", {}).clear()
    body = b'{"id":"1","from":{"id":"a"},"text":"t"}'
    resp = hub.client.post("/webhooks/web/messages", data=body, headers=signing.sign("x", body))
    assert resp.status_code == 403
    assert hub.count(InboundEvent) == 0


@pytest.mark.parametrize(
    "raw, status, needle",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"from": {"id": "a"}, "text": "t"}', 400, "missing field id"),
        (b'{"id": "1", "text": "t"}', 400, "missing field from"),
        (b'{"id": "1", "from": {"id": "a"}}', 400, "missing field text"),
        (b'{"id": "1", "from": {"id": "a"}, "text": "t", "sent_at": "yesterday"}', 400, "sent_at"),
    ],
)
def test_bad_input_is_a_clear_400_and_is_quarantined(hub, raw, status, needle):
    hub.add_connector("web", "api", secret=SECRET)
    resp = post_message(hub, raw=raw)
    assert resp.status_code == status
    assert needle in resp.get_json()["error"]
    assert "Traceback" not in resp.get_data(as_text=True)
    # nothing is lost: the signed request is kept, quarantined with the reason
    with hub.rt.db.read() as s:
        ev = s.scalars(select(InboundEvent)).one()
        assert ev.state == "quarantined" and needle in ev.error


def test_oversize_body_unknown_connector_and_unknown_hook(make_hub):
    h = make_hub(max_body_bytes=2048)
    h.add_connector("web", "api", secret=SECRET)
    resp = post_message(h, text="x" * 5000)
    assert resp.status_code == 413 and "limit" in resp.get_json()["error"]
    assert h.client.post("/webhooks/nope/messages", data=b"{}").status_code == 404
    assert h.client.post("/webhooks/web/nope", data=b"{}").status_code == 404
    assert h.count(InboundEvent) == 0


def _callback_server(httpserver, received, fail_times=0):
    state = {"calls": 0}

    def handler(request):
        state["calls"] += 1
        signing.verify(SECRET, request.get_data(), request.headers)  # raises on a bad signature
        if state["calls"] <= fail_times:
            return Response("upstream down", status=500)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(handler)
    return state


def test_agent_reply_reaches_the_callback_signed_and_becomes_sent(make_hub, httpserver):
    h = make_hub()
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    received: list = []
    _callback_server(httpserver, received)
    h.start_worker()
    post_message(h)
    conv = wait_until(lambda: conversations(h))[0]
    resp = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi Alice, on it."})
    assert resp.status_code == 202
    reply = resp.get_json()
    assert reply["state"] == "pending"
    wait_until(lambda: h.api("GET", f"/api/v1/replies/{reply['id']}").get_json()["state"] == "sent", message="sent")
    assert received == [
        {
            "id": str(reply["id"]),
            "conversation": str(conv["id"]),
            "thread": "contact:alice",
            "to": {"id": "alice"},
            "text": "Hi Alice, on it.",
            "author": "Ada Agent",
            "sent_at": received[0]["sent_at"],
            "attachments": [],
        }
    ]
    got = h.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()
    assert got["first_response_at"] is not None


def test_callback_500_retries_then_dead_and_replay_delivers(make_hub, httpserver):
    h = make_hub(retry_max_attempts=3, retry_base_seconds=0.2)
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"))
    received: list = []
    state = _callback_server(httpserver, received, fail_times=3)
    h.start_worker()
    h.start_poller()  # the sweeper runs the retries
    post_message(h)
    conv = wait_until(lambda: conversations(h))[0]
    rid = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "answer"}).get_json()["id"]
    dead = wait_until(lambda: (r := h.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "dead" and r, timeout=20)
    assert dead["attempts"] == 3 and "HTTP 500" in dead["last_error"]
    assert state["calls"] == 3 and received == []
    # the server has recovered (its 4th answer is 200): replay from the CLI
    out = h.cli("replay", "--what", "replies")
    assert out.returncode == 0, out.stderr
    assert "replayed" in out.stdout and "1 replies" in out.stdout
    wait_until(lambda: h.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "sent")
    assert len(received) == 1 and received[0]["text"] == "answer"


def test_kill_9_worker_and_flushed_redis_lose_nothing(make_hub):
    h = make_hub(sweep_after=1.0, batch_size=20)
    h.add_connector("web", "api", secret=SECRET)
    n = 200
    for i in range(n):
        assert post_message(h, id=f"k{i}", sender=f"c{i % 17}", text=f"message {i}").status_code == 200
    h.start_worker("w1")
    wait_until(lambda: h.count(Message) > 0, message="some progress")
    h.kill("w1")  # kill -9 mid-ingest
    h.rt.redis.flushdb()  # and lose every queued job
    h.start_worker("w2")
    h.start_poller()  # the sweeper re-schedules what is still pending in SQL
    wait_until(lambda: h.count(Message) == n, timeout=40, message=f"{n} messages")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == n, timeout=40)
    with h.rt.db.read() as s:
        ids = [m for m in s.scalars(select(Message.external_id))]
    assert sorted(ids) == sorted(f"k{i}" for i in range(n))  # each exactly once
    assert h.count(InboundEvent, InboundEvent.state != "processed") == 0
    assert h.count(Conversation) == 17
