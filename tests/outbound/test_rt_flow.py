"""End to end: api channel -> RT ticket -> agent correspondence in RT -> poller -> api callback.

Real parts only: the hub's worker and poller processes, a real Redis, a real Request
Tracker (tests/support/rt.py) and a local HTTP server as the api connector's callback.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select
from werkzeug import Response

from hub import signing
from hub.models import Conversation, HelpdeskLink, Reply
from tests.support.hub import wait_until
from tests.support.rt import rt_server  # noqa: F401  (session fixture)

SECRET = "s3cret-api-key"
pytestmark = pytest.mark.slow


def test_agent_correspondence_in_rt_reaches_the_customer_channel(make_hub, rt_server, httpserver):
    received: list[dict] = []

    def callback(request):
        signing.verify(SECRET, request.get_data(), request.headers)  # raises on a bad signature
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(callback)
    h = make_hub()
    h.add_connector(
        "rt-desk", "rt", base_url=rt_server.base_url, username=rt_server.username, token=rt_server.token,
        queue=rt_server.queue, poll_interval=0.3,
    )
    h.add_connector("web", "api", secret=SECRET, callback_url=httpserver.url_for("/callback"), helpdesk="rt-desk")
    h.start_worker()
    h.start_poller()

    tag = uuid.uuid4().hex[:8]
    body = json.dumps(
        {"id": f"m-{tag}", "from": {"id": "alice", "name": "Alice", "email": "alice@example.com"}, "text": f"My withdrawal {tag} is stuck"}
    ).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)})
    assert resp.status_code == 200

    def link():
        with h.rt.db.read() as s:
            return s.scalars(select(HelpdeskLink)).first()

    ticket = wait_until(link, timeout=60, message="RT ticket pushed").external_ref
    with rt_server.agent() as rt:
        found = rt.get("tickets", params={"query": f"id = {ticket}", "fields": "Subject,Requestor"}).json()["items"]
        assert [u["id"] for u in found[0]["Requestor"]] == ["alice@example.com"]
        assert tag in found[0]["Subject"]
        assert rt.post(f"ticket/{ticket}/comment", json={"Content": "check the hot wallet", "ContentType": "text/plain"}).status_code == 201
        assert rt.post(f"ticket/{ticket}/correspond", json={"Content": "Hi Alice, your refund is on its way.", "ContentType": "text/plain"}).status_code == 201
        assert rt.put(f"ticket/{ticket}", json={"Status": "resolved"}).status_code == 200

    wait_until(lambda: received, timeout=60, message="agent reply delivered to the callback")

    def resolved():
        with h.rt.db.read() as s:
            return s.scalars(select(Conversation)).one().status == "resolved"

    wait_until(resolved, timeout=60, message="RT's resolved status mirrored")

    def replies():
        with h.rt.db.read() as s:
            return {(r.kind, r.state, r.text) for r in s.scalars(select(Reply).where(Reply.source == "helpdesk:rt-desk"))}

    # the internal comment is kept as a note and never sent
    expected = {("note", "note", "check the hot wallet"), ("reply", "sent", "Hi Alice, your refund is on its way.")}
    wait_until(lambda: replies() == expected, timeout=15, message=f"replies {expected}")
    # the agent's answer once, never the internal comment (resolving may add the hub's survey)
    agent = [(r["text"], r["author"], r["to"]) for r in received if r["author"] == "Alice Agent"]
    assert agent == [("Hi Alice, your refund is on its way.", "Alice Agent", {"id": "alice"})]
    assert "check the hot wallet" not in [r["text"] for r in received]
