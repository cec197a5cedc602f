"""Socket Mode: slack_sdk's built-in SocketModeClient against a local websocket server that
speaks the documented envelope protocol (https://docs.slack.dev/apis/events-api/using-socket-mode):
apps.connections.open -> wss url; server says ``hello``; ``events_api`` envelopes carry
``envelope_id`` + ``payload``; the app acknowledges with ``{"envelope_id": …}``."""

from __future__ import annotations

import json
import queue
import threading

import pytest

from tests.channels.test_slack import EVENTS, make
from tests.support.slack_api import SlackApi
from tests.support.slack_socket import EnvelopeServer, Sink, envelope


@pytest.fixture
def api(httpserver):
    api = SlackApi(httpserver)
    yield api
    assert api.violations == []


def run_poller(adapter, sink):
    stop = threading.Event()
    thread = threading.Thread(target=adapter.poll, args=(sink, stop), daemon=True)
    thread.start()
    return stop, thread


def test_socket_mode_journals_then_acks(api):
    message = json.loads((EVENTS / "messageExample.json").read_bytes())
    refused = json.loads((EVENTS / "messageIm.json").read_bytes())
    envelopes = [envelope("e-1", message), envelope("e-2", refused, retry_attempt=1)]
    sink = Sink(refuse={refused["event_id"]})
    with EnvelopeServer(envelopes) as ws:
        api.socket_url = f"ws://127.0.0.1:{ws.port}/link/?ticket=t-1&app_id=A0442TUPHGR"
        adapter = make({"api_base_url": api.base_url, "app_token": "xapp-test-token"})
        stop, thread = run_poller(adapter, sink)
        try:
            acked_at, ack = ws.acks.get(timeout=10)
            assert ack == {"envelope_id": "e-1"}
            with pytest.raises(queue.Empty):  # e-2 was not journaled, so it is not acked
                ws.acks.get(timeout=1.0)
        finally:
            stop.set()
            thread.join(10)
    assert not thread.is_alive()
    assert ws.paths == ["/link/?ticket=t-1&app_id=A0442TUPHGR&n=1"]
    (recorded_at, ev), = sink.records
    assert recorded_at <= acked_at  # journal first, then ack
    assert ev.external_id == message["event_id"] and ev.hook == "events" and ev.meta["socket_mode"] is True
    # the journaled payload is the event_callback itself: the same normalization path as webhooks
    (msg,) = adapter.normalize(ev)
    assert msg.external_id == f"{message['event']['channel']}:{message['event']['ts']}"
    (opened,) = api.called("apps.connections.open")  # with the app-level token (checked by the server)


def test_socket_mode_acks_non_event_envelopes_without_journaling(api):
    slash = {"envelope_id": "e-cmd", "type": "slash_commands", "accepts_response_payload": True,
             "payload": {"command": "/support", "text": "hi"}}
    sink = Sink()
    with EnvelopeServer([slash]) as ws:
        api.socket_url = f"ws://127.0.0.1:{ws.port}/link/?ticket=t-2"
        stop, thread = run_poller(make({"api_base_url": api.base_url, "app_token": "xapp-test-token"}), sink)
        try:
            _, ack = ws.acks.get(timeout=10)
        finally:
            stop.set()
            thread.join(10)
    assert ack == {"envelope_id": "e-cmd"} and sink.records == []


def test_disconnect_envelope_reconnects_with_a_new_url(api):
    message = json.loads((EVENTS / "messageExample.json").read_bytes())
    disconnect = {"type": "disconnect", "reason": "refresh_requested",
                  "debug_info": {"host": "applink-local"}}
    sink = Sink()
    with EnvelopeServer(per_connection=[[disconnect], [envelope("e-after", message)]]) as ws:
        api.socket_url = f"ws://127.0.0.1:{ws.port}/link/?ticket=t-3"
        stop, thread = run_poller(make({"api_base_url": api.base_url, "app_token": "xapp-test-token"}), sink)
        try:
            _, ack = ws.acks.get(timeout=15)
        finally:
            stop.set()
            thread.join(10)
    assert ack == {"envelope_id": "e-after"}
    assert len(api.called("apps.connections.open")) >= 2
    assert ws.paths[:2] == ["/link/?ticket=t-3&n=1", "/link/?ticket=t-3&n=2"]
    assert [ev.external_id for _, ev in sink.records] == [message["event_id"]]


def test_no_app_token_means_no_socket(api):
    adapter = make({"api_base_url": api.base_url})
    stop = threading.Event()
    stop.set()
    adapter.poll(Sink(), stop)  # returns at once, connects nowhere
    assert api.calls == []


def test_bad_app_token_is_an_auth_error(api):
    from hub.errors import AuthError

    api.app_token = "xapp-the-real-one"
    adapter = make({"api_base_url": api.base_url, "app_token": "xapp-test-token"})
    with pytest.raises(AuthError, match="connections:write"):
        adapter.poll(Sink(), threading.Event())
