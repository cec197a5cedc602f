"""kill -9 a worker while it is sending a reply: the reply is never stuck in ``sending``.

Once its lease expires the sweeper (in the real poller process) makes it ``failed`` with
"outcome unknown" (visible, retryable by the agent through the API) or, for a channel whose
send is idempotent (email: the Message-ID is fixed), ``pending`` again so it is sent anew.
The provider end is real: a local HTTP callback server for the api channel, aiosmtpd for
email, each holding the first request open until the worker is dead."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hub import signing
from hub.models import Reply
from hub.states import OUTCOME_UNKNOWN
from tests.support.dovecot import dovecot  # noqa: F401 - fixture
from tests.support.hub import wait_until
from tests.support.mail import SmtpServer, make_mail

SECRET = "api-secret"


class _Callback(BaseHTTPRequestHandler):
    hold_first = True
    held = threading.Event()
    release = threading.Event()
    bodies: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.hold_first:
            cls.hold_first = False
            cls.held.set()
            cls.release.wait(60)
            return  # the sender is dead: nobody reads an answer
        signing.verify(SECRET, body, self.headers)
        cls.bodies.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


def _reply(h, reply_id: int) -> dict:
    with h.rt.db.read() as s:
        r = s.get(Reply, reply_id)
        return {"state": r.state, "last_error": r.last_error, "detail": dict(r.status_detail or {}), "external_id": r.external_id}


def test_interrupted_send_becomes_failed_outcome_unknown_and_is_retryable(make_hub):
    handler = type("Callback", (_Callback,), {"held": threading.Event(), "release": threading.Event(), "bodies": [], "hold_first": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    h = make_hub(lease_seconds=2.0, sweep_interval=0.2)
    try:
        h.add_connector("web", "api", secret=SECRET, callback_url=f"http://127.0.0.1:{server.server_port}/cb")
        h.start_worker("w0")
        body = json.dumps({"id": "m1", "from": {"id": "alice", "name": "Alice"}, "text": "Where is my deposit?"}).encode()
        assert h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}).status_code == 200
        conv = wait_until(lambda: h.api("GET", "/api/v1/conversations").get_json()["items"], timeout=20, message="conversation")[0]
        resp = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "It is credited now."})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        reply_id = resp.get_json()["id"]
        assert handler.held.wait(20), "the worker never called the provider"
        assert _reply(h, reply_id)["state"] == "sending"
        h.kill("w0")  # SIGKILL mid-call: no answer recorded, the lease left behind
        handler.release.set()
        h.start_poller()  # the sweeper
        wait_until(lambda: _reply(h, reply_id)["state"] == "failed", timeout=20, message="expired send marked failed")
        row = _reply(h, reply_id)
        assert row["last_error"] == OUTCOME_UNKNOWN and "lease_expired_at" in row["detail"]
        api_reply = h.api("GET", f"/api/v1/replies/{reply_id}").get_json()
        assert api_reply["state"] == "failed" and api_reply["last_error"] == OUTCOME_UNKNOWN
        assert handler.bodies == []  # not resent behind the agent's back
        # the agent decides: retry
        assert h.api("POST", f"/api/v1/replies/{reply_id}/retry").status_code == 202
        h.start_worker("w1")
        wait_until(lambda: _reply(h, reply_id)["state"] == "sent", timeout=20, message="retried reply sent")
        assert [b["text"] for b in handler.bodies] == ["It is credited now."]
    finally:
        handler.release.set()
        server.shutdown()


def test_interrupted_idempotent_send_goes_back_to_pending_and_is_sent_once(make_hub, dovecot):  # noqa: F811
    h = make_hub(lease_seconds=2.0, sweep_interval=0.2, sweep_after=0.5)
    with SmtpServer() as smtp:
        smtp.hold_next = True
        h.add_connector("mail", "email", **dovecot.config(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none", smtp_username=""))
        h.start_worker("w0")
        h.start_poller()
        dovecot.append(make_mail(1, subject="Withdrawal pending", text="Hello, my withdrawal is pending.\n"))
        conv = wait_until(lambda: h.api("GET", "/api/v1/conversations").get_json()["items"], timeout=30, message="conversation from IMAP")[0]
        resp = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Released, sorry for the wait."})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        reply_id = resp.get_json()["id"]
        assert smtp.held.wait(20), "the worker never reached SMTP DATA"
        h.kill("w0")
        smtp.release.set()
        wait_until(lambda: _reply(h, reply_id)["detail"].get("lease_expired_at"), timeout=20, message="lease expired")
        h.start_worker("w1")
        wait_until(lambda: _reply(h, reply_id)["state"] == "sent", timeout=30, message="idempotent reply sent again")
        [(_, rcpts, raw)] = smtp.received
        sent = email.message_from_bytes(raw, policy=email.policy.default)
        row = _reply(h, reply_id)
        assert rcpts == ["customer@example.org"] and row["external_id"] == sent["Message-ID"]
        assert row["last_error"] is None


def test_replies_claimed_but_never_tried_by_a_killed_worker_are_sent_not_failed(make_hub):
    """Two replies in one send batch; the worker is killed during the first one's provider call.
    The first is "outcome unknown" (it may have reached the customer); the second was claimed
    but never tried, so it is sent by the next worker, once, instead of failing too."""
    handler = type("Callback", (_Callback,), {"held": threading.Event(), "release": threading.Event(), "bodies": [], "hold_first": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    h = make_hub(lease_seconds=2.0, sweep_interval=0.2, sweep_after=0.5)
    try:
        h.add_connector("web", "api", secret=SECRET, callback_url=f"http://127.0.0.1:{server.server_port}/cb")
        body = json.dumps({"id": "m1", "from": {"id": "alice", "name": "Alice"}, "text": "Where is my deposit?"}).encode()
        assert h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(SECRET, body)}).status_code == 200
        h.start_worker("w0")
        conv = wait_until(lambda: h.api("GET", "/api/v1/conversations").get_json()["items"], timeout=30, message="conversation")[0]
        h.kill("w0")  # both replies are queued before a worker runs: one batch
        ids = []
        for text in ("Checking now.", "It is credited."):
            resp = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": text})
            assert resp.status_code == 202, resp.get_data(as_text=True)
            ids.append(resp.get_json()["id"])
        h.start_worker("w1")
        assert handler.held.wait(30), "the worker never called the provider"
        assert [_reply(h, i)["state"] for i in ids] == ["sending", "pending"]  # the second claimed, not tried
        h.kill("w1")
        handler.release.set()
        h.start_poller()  # the sweeper
        h.start_worker("w2")
        wait_until(lambda: [_reply(h, i)["state"] for i in ids] == ["failed", "sent"], timeout=30, message="first unknown, second sent")
        assert _reply(h, ids[0])["last_error"] == OUTCOME_UNKNOWN
        assert [b["text"] for b in handler.bodies] == ["It is credited."]  # once
    finally:
        handler.release.set()
        server.shutdown()
