"""x channel end to end on a running hub (real Redis, worker and poller processes).

DM in (polled by the poller process from a local X API v2 replaying recorded responses)
-> journal -> conversation -> agent reply over the REST API -> the send job posts
POST /2/dm_conversations/<id>/messages at the local server (OAuth 1.0a checked).
Also the Account Activity webhook through the core's route: CRC GET and signed POST.
"""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select
from werkzeug import Request, Response

from channels.x import webhook as x_webhook
from hub.models import Connector, InboundEvent
from tests.support import x_corpus as xc
from tests.support.hub import wait_until
from tests.support.x_server import CREDS, verify_oauth1

SUPPORT = xc.DM_PEER  # the recorded DMs went from TweepyDev to this account


class LocalX:
    """Answers the poller forever (it polls repeatedly), checking every request."""

    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.errors: list[str] = []
        self.sent: list[dict] = []
        self.lock = threading.Lock()
        dm_page = xc.with_requested_fields(
            xc.body("test_manage_and_lookup_direct_messages.04"), kind="dm_event", authors=[xc.ME_TWEEPYDEV]
        )
        dm_page["meta"].pop("next_token")
        headers = {"x-rate-limit-remaining": "299", "x-rate-limit-reset": "9999999999"}

        def checked(expect_query: dict[str, str], answer: dict, status: int = 200):
            def handler(request: Request) -> Response:
                try:
                    verify_oauth1(request, CREDS["consumer_secret"], CREDS["access_token_secret"], CREDS["consumer_key"], CREDS["access_token"])
                    for k, v in expect_query.items():
                        assert v in request.args.get(k, "").split(","), f"{request.path}: {k} lacks {v}"
                    if request.method == "POST":
                        assert request.mimetype == "application/json"
                        with self.lock:
                            self.sent.append({"path": request.path, "json": request.get_json()})
                except AssertionError as exc:
                    with self.lock:
                        self.errors.append(str(exc))
                    return Response(json.dumps({"title": "Bad Request", "detail": str(exc)}), status=400, content_type="application/json")
                return Response(json.dumps(answer), status=status, headers=headers, content_type="application/json")

            return handler

        httpserver.expect_request(f"/2/users/{SUPPORT}/mentions", method="GET").respond_with_handler(
            checked({"expansions": "author_id", "tweet.fields": "conversation_id"}, {"meta": {"result_count": 0}})
        )
        httpserver.expect_request("/2/dm_events", method="GET").respond_with_handler(
            checked({"dm_event.fields": "dm_conversation_id", "expansions": "sender_id"}, dm_page)
        )
        httpserver.expect_request(f"/2/dm_conversations/{xc.DM_CONVERSATION}/messages", method="POST").respond_with_handler(
            checked({}, xc.body("test_manage_and_lookup_direct_messages.01"), status=201)
        )


@pytest.fixture
def x_hub(hub, httpserver):
    local = LocalX(httpserver)
    hub.add_connector(
        "x-support", "x", **CREDS, user_id=SUPPORT, api_base_url=httpserver.url_for("/").rstrip("/"), poll_interval=5
    )
    yield hub, local
    assert local.errors == []


def conversations(hub):
    resp = hub.api("GET", "/api/v1/conversations")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["items"]


def test_dm_polled_in_then_agent_reply_goes_out_as_dm(x_hub):
    hub, local = x_hub
    hub.start_worker()
    hub.start_poller()
    conv = wait_until(lambda: conversations(hub), timeout=30, message="conversation from the polled DMs")[0]
    assert conv["channel"] == "x"
    assert conv["customer"]["display_name"] == "Tweepy Testing"
    full = wait_until(
        lambda: (c := hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()) and len(c["messages"]) == 2 and c,
        message="both DMs",
    )
    assert sorted(m["text"] for m in full["messages"]) == ["Testing 1", "Testing 2"]
    with hub.rt.db.read() as s:
        state = s.scalar(select(Connector).where(Connector.name == "x-support")).state
    assert state["dm.newest_id"] == "1585800613752881156"  # the cursor is persisted by the hub

    resp = hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi! Which wallet address is affected?"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    reply = wait_until(
        lambda: (r := hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] in ("sent", "dead", "failed") and r,
        timeout=30,
        message="reply sent",
    )
    assert reply["state"] == "sent", reply
    assert reply["external_id"] == "dm:1585800613752881156"
    assert local.sent == [
        {"path": f"/2/dm_conversations/{xc.DM_CONVERSATION}/messages", "json": {"text": "Hi! Which wallet address is affected?"}}
    ]
    # repeated polls of the same page did not duplicate anything
    assert hub.count(InboundEvent) == 2


def test_account_activity_webhook_through_the_core_route(hub):
    hub.add_connector("x-push", "x", **{**CREDS, "consumer_secret": "secret"}, user_id="4337869213")
    vec = xc.crc_vector()
    crc = hub.client.get(f"/webhooks/x-push/activity?crc_token={vec['crc_token']}")
    assert crc.status_code == 200 and crc.get_json() == {"response_token": vec["response_token"]}
    assert hub.client.get("/webhooks/x-push/activity").status_code == 403  # no crc_token

    body = json.dumps(xc.activity("direct_message_events")).encode()
    forged = hub.client.post("/webhooks/x-push/activity", data=body, headers={"x-twitter-webhooks-signature": x_webhook.sign("nope", body)})
    assert forged.status_code == 403
    assert hub.count(InboundEvent) == 0

    hub.start_worker()
    ok = hub.client.post(
        "/webhooks/x-push/activity", data=body,
        headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": x_webhook.sign("secret", body)},
    )
    assert ok.status_code == 200
    conv = wait_until(lambda: conversations(hub), message="conversation from the webhook")[0]
    assert conv["customer"]["display_name"] == "Jordan Brinks"
    full = hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()
    assert [m["text"] for m in full["messages"]] == ["Hello World!"]


def test_connector_check_over_the_api_and_secrets_stay_masked(hub, httpserver):
    access = xc.recorded_headers("test_client_get_me.yaml")["x-access-level"]

    def me(request: Request) -> Response:
        verify_oauth1(request, CREDS["consumer_secret"], CREDS["access_token_secret"], CREDS["consumer_key"], CREDS["access_token"])
        return Response(json.dumps(xc.body("test_client_get_me.00")), headers={"x-access-level": access}, content_type="application/json")

    httpserver.expect_request("/2/users/me", method="GET").respond_with_handler(me)
    hub.add_connector("x-me", "x", **CREDS, user_id=xc.ME_TWEEPYDEV, api_base_url=httpserver.url_for("/").rstrip("/"))
    resp = hub.api("POST", "/api/v1/connectors/x-me/check")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["ok"] is True and "@TweepyDev" in resp.get_json()["summary"]
    shown = hub.api("GET", "/api/v1/connectors/x-me").get_data(as_text=True)
    for secret in CREDS.values():
        assert secret not in shown
    httpserver.check()
