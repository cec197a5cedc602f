"""Slack through the running hub: signed Events API request -> journal -> worker process ->
conversation -> agent reply over the REST API -> chat.postMessage with thread_ts at a local
Web API that checks the contract (tests/support/slack_api.py)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from channels.slack.web import sign
from hub.models import InboundEvent, Message
from tests.support.corpus import CORPUS
from tests.support.hub import wait_until
from tests.support.slack_api import SlackApi
from tests.support.slack_socket import EnvelopeServer, envelope

SECRET = "slack-signing-secret"
EVENTS = CORPUS / "slack" / "slack-web-haskell" / "tests" / "golden" / "SlackWebhookEvent"
CHANNEL = "C043YJGBY49"


@pytest.fixture
def api(httpserver):
    api = SlackApi(httpserver)
    yield api
    assert api.violations == []


@pytest.fixture
def slack_hub(hub, api):
    hub.add_connector("acme-slack", "slack", bot_token=api.bot_token, signing_secret=SECRET, api_base_url=api.base_url)
    return hub


def event(ts: str, *, event_id: str, text: str = "My withdrawal is stuck", user: str = "U023BECGF", thread_ts: str | None = None) -> dict:
    """A real captured message callback, re-dated to now (the hub's idle gap is measured from now)."""
    env = json.loads((EVENTS / "messageExample.json").read_bytes())
    env["event_id"] = event_id
    env["event_time"] = int(float(ts))
    env["event"].update(ts=ts, event_ts=ts, text=text, user=user, channel=CHANNEL)
    env["event"].pop("blocks", None)
    if thread_ts:
        env["event"]["thread_ts"] = thread_ts
    return env


def post(hub, body: bytes, headers: dict | None = None, **extra_headers):
    headers = headers if headers is not None else {**sign(SECRET, body), "Content-Type": "application/json"}
    return hub.client.post("/webhooks/acme-slack/events", data=body, headers={**headers, **extra_headers})


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def now_ts(offset: float = 0.0) -> str:
    return f"{time.time() + offset:.6f}"


def test_round_trip_thread_message_to_agent_reply(slack_hub, api):
    slack_hub.start_worker()
    parent_ts = now_ts(-60)
    first = json.dumps(event(parent_ts, event_id="Ev0RT00001")).encode()
    assert post(slack_hub, first).status_code == 200
    # the customer follows up inside the thread: same conversation
    reply_body = json.dumps(event(now_ts(-30), event_id="Ev0RT00002", text="Any news? tx 0xabc", thread_ts=parent_ts)).encode()
    assert post(slack_hub, reply_body).status_code == 200

    (conv,) = wait_until(lambda: conversations(slack_hub), message="conversation")
    full = wait_until(
        lambda: (c := slack_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()) and len(c["messages"]) == 2 and c,
        message="both messages",
    )
    assert conv["channel"] == "slack" and conv["connector"] == "acme-slack"
    assert conv["customer"]["display_name"] == "alice"  # users.info, resolved in the worker
    assert [m["external_id"] for m in full["messages"]] == [f"{CHANNEL}:{parent_ts}", f"{CHANNEL}:{json.loads(reply_body)['event']['ts']}"]
    assert api.called("users.info")

    resp = slack_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi Alice, checking <now> & soon."})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    sent = wait_until(
        lambda: (r := slack_hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "sent" and r, message="reply sent"
    )
    (post_call,) = api.called("chat.postMessage")
    assert post_call["channel"] == CHANNEL
    assert post_call["thread_ts"] == parent_ts  # into the customer's thread
    assert post_call["username"] == "Ada Agent"  # the agent's name shown (chat:write.customize granted)
    assert post_call["text"] == "Hi Alice, checking &lt;now&gt; &amp; soon."
    assert sent["external_id"].startswith(f"{CHANNEL}:")

    # Slack echoes our own post back as a bot message event: ignored, no loop
    echo = event(sent["external_id"].split(":", 1)[1], event_id="Ev0RT00003", text=post_call["text"], user="U0442US8QGH", thread_ts=parent_ts)
    echo["event"]["bot_id"] = "B0439P161B9"
    assert post(slack_hub, json.dumps(echo).encode()).status_code == 200
    wait_until(lambda: slack_hub.count(InboundEvent, InboundEvent.state == "ignored") == 1, message="echo ignored")
    assert slack_hub.count(Message) == 2


def test_url_verification_retries_edits_and_forgeries_through_the_webhook(slack_hub, api):
    challenge = (CORPUS / "slack" / "slack-python-slack-events-api" / "tests" / "data" / "url_challenge.json").read_bytes()
    resp = post(slack_hub, challenge)
    assert resp.status_code == 200 and resp.get_json() == {"challenge": "valid_challenge_token"}
    assert slack_hub.count(InboundEvent) == 0

    ts = now_ts(-10)
    body = json.dumps(event(ts, event_id="Ev0RETRY01", text="hello")).encode()
    started = time.perf_counter()
    assert post(slack_hub, body).status_code == 200
    assert time.perf_counter() - started < 1.0  # acknowledged well within Slack's 3 s
    # Slack retries the same event (X-Slack-Retry-Num): journaled once
    assert post(slack_hub, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
    assert slack_hub.count(InboundEvent) == 1

    # forged and stale requests: 403, stored nowhere
    forged = body.replace(b"hello", b"hullo")
    assert post(slack_hub, forged, {**sign(SECRET, body), "Content-Type": "application/json"}).status_code == 403
    assert post(slack_hub, body, {**sign(SECRET, body, int(time.time()) - 301), "Content-Type": "application/json"}).status_code == 403
    assert post(slack_hub, body, {"Content-Type": "application/json"}).status_code == 403
    assert slack_hub.count(InboundEvent) == 1

    slack_hub.start_worker()
    wait_until(lambda: slack_hub.count(Message) == 1, message="message stored")
    edit = json.loads((EVENTS / "messageChange.json").read_bytes())
    edit["event_id"] = "Ev0EDIT001"
    edit["event"]["channel"] = CHANNEL
    edit["event"]["message"].update(ts=ts, user="U023BECGF", text="hello, *edited*", edited={"user": "U023BECGF", "ts": now_ts()})
    edit["event"]["previous_message"].update(ts=ts, text="hello")
    assert post(slack_hub, json.dumps(edit).encode()).status_code == 200

    def text() -> str:
        with slack_hub.rt.db.read() as s:
            return s.scalar(select(Message.text).where(Message.external_id == f"{CHANNEL}:{ts}"))

    wait_until(lambda: text() == "hello, edited", message="edit applied")
    with slack_hub.rt.db.read() as s:
        msg = s.scalar(select(Message).where(Message.external_id == f"{CHANNEL}:{ts}"))
        assert msg.history[0]["text"] == "hello" and msg.history[0]["kind"] == "edit"


def test_file_share_downloaded_with_bot_token_within_limits(make_hub, api, httpserver):
    h = make_hub(max_attachment_bytes=64)
    h.add_connector("acme-slack", "slack", bot_token=api.bot_token, signing_secret=SECRET, api_base_url=api.base_url)
    auth = {"Authorization": f"Bearer {api.bot_token}"}
    httpserver.expect_request("/files-pri/T043DB835ML-F1/download/note.txt", headers=auth).respond_with_data(
        b"hug a kitten", content_type="text/plain"
    )
    httpserver.expect_request("/files-pri/T043DB835ML-F2/download/big.bin", headers=auth).respond_with_data(
        b"x" * 1000, content_type="application/octet-stream"
    )
    env = json.loads((EVENTS / "message_file_share.json").read_bytes())
    ts = now_ts(-5)
    env["event"].update(ts=ts, event_ts=ts, user="U023BECGF")
    real = dict(env["event"]["files"][0])
    env["event"]["files"] = [
        {**real, "id": "F1", "name": "note.txt", "url_private_download": httpserver.url_for("/files-pri/T043DB835ML-F1/download/note.txt")},
        {**real, "id": "F2", "name": "big.bin", "mimetype": "application/octet-stream", "size": 1000,
         "url_private_download": httpserver.url_for("/files-pri/T043DB835ML-F2/download/big.bin")},
    ]
    h.start_worker()
    assert post(h, json.dumps(env).encode()).status_code == 200
    (conv,) = wait_until(lambda: conversations(h), message="conversation")
    (msg,) = h.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["messages"]
    atts = {a["filename"]: a for a in msg["attachments"]}
    assert atts["note.txt"]["stored"] and atts["note.txt"]["size"] == 12 and not atts["note.txt"]["placeholder_reason"]
    assert h.api("GET", atts["note.txt"]["url"]).get_data() == b"hug a kitten"
    assert not atts["big.bin"]["stored"]
    assert "64-byte limit" in atts["big.bin"]["placeholder_reason"]  # kept, visibly, with the reason
    assert msg["text"] == "message message message"


def test_socket_mode_in_the_poller_process(hub, api):
    env = event(now_ts(-5), event_id="Ev0SOCKET1", text="hello over a socket")
    with EnvelopeServer([envelope("env-1", env)]) as ws:
        api.socket_url = f"ws://127.0.0.1:{ws.port}/link/?ticket=poller"
        hub.add_connector("acme-slack", "slack", bot_token=api.bot_token, signing_secret=SECRET,
                          app_token=api.app_token, api_base_url=api.base_url)
        hub.start_poller()
        hub.start_worker()
        _, ack = ws.acks.get(timeout=20)
        assert ack == {"envelope_id": "env-1"}
        (conv,) = wait_until(lambda: conversations(hub), message="conversation from Socket Mode")
        hub.kill("poller")  # SIGKILL: the event is journaled and acknowledged already
    assert conv["customer"]["display_name"] == "alice"
    with hub.rt.db.read() as s:
        (row,) = s.scalars(select(InboundEvent)).all()
        assert row.external_id == "Ev0SOCKET1" and row.state == "processed"


def test_cli_connectors_check_names_missing_scopes(hub, api):
    hub.add_connector("acme-slack", "slack", bot_token=api.bot_token, signing_secret=SECRET, channels="shared,dm",
                      api_base_url=api.base_url)
    api.scopes = "chat:write,channels:read,channels:history,users:read"  # the OK path: tests/channels/test_slack.py
    bad = hub.cli("connectors", "check", "acme-slack")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.startswith("FAILED: Subarachnoid Workspace: missing scopes: ")
    assert "im:history (receive direct messages), im:read (list direct messages)" in bad.stdout
    assert api.bot_token not in bad.stdout + bad.stderr
    assert [m for m, _ in api.calls] == ["auth.test", "conversations.list"]


def test_dm_after_resolution_starts_a_new_conversation(slack_hub, api):
    slack_hub.start_worker()
    dm = json.loads((EVENTS / "messageIm.json").read_bytes())
    dm["event"].update(ts=now_ts(-20), event_ts=now_ts(-20), user="U023BECGF", text="first question")
    dm["event_id"] = "Ev0DM00001"
    dm["event"].pop("blocks", None)
    assert post(slack_hub, json.dumps(dm).encode()).status_code == 200
    (first,) = wait_until(lambda: conversations(slack_hub), message="DM conversation")
    later = json.loads(json.dumps(dm))
    later["event"].update(ts=now_ts(-10), event_ts=now_ts(-10), text="and another thing")
    later["event_id"] = "Ev0DM00002"
    assert post(slack_hub, json.dumps(later).encode()).status_code == 200
    wait_until(lambda: slack_hub.count(Message) == 2, message="second DM")
    assert [c["id"] for c in conversations(slack_hub)] == [first["id"]]  # same DM, still open: same conversation

    assert slack_hub.api("PATCH", f"/api/v1/conversations/{first['id']}", json={"status": "resolved"}).status_code == 200
    again = json.loads(json.dumps(dm))
    again["event"].update(ts=now_ts(), event_ts=now_ts(), text="new problem")
    again["event_id"] = "Ev0DM00003"
    assert post(slack_hub, json.dumps(again).encode()).status_code == 200
    items = wait_until(lambda: len(conversations(slack_hub)) == 2 and conversations(slack_hub), message="new conversation")
    assert {c["status"] for c in items} == {"resolved", "open"}
    new = next(c for c in items if c["id"] != first["id"])
    assert new["subject"] == "new problem"
    # the reply to the new conversation goes to the DM, top level
    rid = slack_hub.api("POST", f"/api/v1/conversations/{new['id']}/replies", json={"text": "on it"}).get_json()["id"]
    wait_until(lambda: slack_hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "sent", message="sent")
    # (resolving the first conversation also sent its satisfaction survey to the DM)
    (call,) = [c for c in api.called("chat.postMessage") if "on it" in c.get("text", "")]
    assert call["channel"] == "D0442US94JD" and "thread_ts" not in call
