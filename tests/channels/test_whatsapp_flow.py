"""WhatsApp Cloud API through the running hub: the subscription handshake, signed deliveries
-> journal -> worker -> conversation -> agent reply over the REST API -> POST
/<version>/<phone_number_id>/messages at a local Graph API that checks the contract
(tests/support/graph_api.py) -> status webhooks -> the reply's state."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from channels.meta import graph
from hub.models import Connector, InboundEvent, Message
from tests.support import meta_samples as ms
from tests.support.graph_api import GraphApi
from tests.support.hub import wait_until

APP_SECRET = "wa-app-secret"
VERIFY = "wa-verify-token"
URL = "/webhooks/acme-wa/events"


@pytest.fixture
def api(httpserver):
    api = GraphApi(httpserver)
    yield api
    assert api.violations == []


@pytest.fixture
def wa_hub(hub, api):
    hub.add_connector("acme-wa", "whatsapp", access_token=api.token, app_secret=APP_SECRET, verify_token=VERIFY,
                      phone_number_id=ms.PHONE_NUMBER_ID, waba_id=ms.WABA_ID, api_base_url=api.base_url)
    return hub


def post(hub, payload: dict, *, secret: str = APP_SECRET, headers: dict | None = None):
    body = json.dumps(payload).encode()
    if headers is None:
        headers = {graph.SIGNATURE_HEADER: graph.sign(secret, body)}
    return hub.client.post(URL, data=body, headers={"Content-Type": "application/json", **headers})


def conversations(hub):
    return hub.api("GET", "/api/v1/conversations").get_json()["items"]


def test_round_trip_message_reply_and_delivery_statuses(wa_hub, api):
    wa_hub.start_worker()
    # Meta verifies the callback URL first
    resp = wa_hub.client.get(URL, query_string={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert resp.status_code == 200 and resp.get_data() == b"1158201444"
    assert wa_hub.client.get(URL, query_string={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}).status_code == 403

    api.media["2754859441498128"] = (b"\xff\xd8 a screenshot", "image/jpeg")
    assert post(wa_hub, ms.inbound(ms.IMAGE)).status_code == 200
    text = ms.inbound(ms.TEXT, text="My withdrawal is stuck")
    assert post(wa_hub, text).status_code == 200
    assert post(wa_hub, text).status_code == 200  # Meta retries a delivery: still one message
    (conv,) = wait_until(lambda: conversations(wa_hub), message="conversation")
    assert conv["connector"] == "acme-wa" and conv["customer"]["display_name"] == "Sheena Nelson"
    msgs = wait_until(lambda: (c := wa_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()) and len(c["messages"]) == 2
                      and c["messages"], message="both messages")
    assert wa_hub.count(Message) == 2
    (att,) = msgs[0]["attachments"]  # the customer's image, fetched through the Graph media endpoint
    assert att["stored"] and wa_hub.api("GET", att["url"]).get_data() == b"\xff\xd8 a screenshot"

    resp = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Hi Sheena, looking into it now."})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    sent = wait_until(lambda: (r := wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "sent" and r, message="sent")
    (call,) = api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")
    assert call["to"] == ms.WA_ID and call["type"] == "text" and "Hi Sheena, looking into it now." in call["text"]["body"]
    assert call["context"] == {"message_id": ms.WAMID}  # quotes the customer's message
    wamid = sent["external_id"]
    assert wamid.startswith("wamid.")

    # Meta reports delivered, then read (and retries the read): the reply follows
    assert post(wa_hub, ms.status(wamid, "delivered")).status_code == 200
    wait_until(lambda: wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "delivered", message="delivered")
    assert post(wa_hub, ms.status(wamid, "read")).status_code == 200
    assert post(wa_hub, ms.status(wamid, "read")).status_code == 200
    wait_until(lambda: wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "read", message="read")
    assert wa_hub.count(InboundEvent, InboundEvent.external_id == f"{wamid}:read") == 1

    # a reply Meta refuses later (outside the 24-hour window): failed, with Meta's reason in words
    rid = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Anything else?"}).get_json()["id"]
    sent = wait_until(lambda: (r := wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "sent" and r, message="sent")
    assert post(wa_hub, ms.status(sent["external_id"], "failed", errors=ms.RE_ENGAGEMENT)).status_code == 200
    failed = wait_until(lambda: (r := wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] == "failed" and r, message="failed")
    assert "Re-engagement required" in failed["last_error"]

    # an approved template through the REST API (what re-opens a conversation after the window)
    tpl = {"name": "order_update", "language": "en_US", "parameters": ["Sheena", "#1234"]}
    rid = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies",
                     json={"text": "Hi Sheena, your order #1234 has shipped.", "options": {"template": tpl}}).get_json()["id"]
    wait_until(lambda: wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json()["state"] == "sent", message="template sent")
    call = api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")[-1]
    assert call["type"] == "template" and call["template"]["name"] == "order_update"
    bad = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "x", "options": {"template": {"name": "Nope!"}}})
    assert bad.status_code == 400 and "template.name" in bad.get_json()["error"]

    # the access token expired: the reply fails for good with the reason, the connector turns red
    api.fail_next("/messages", 401, ms.TOKEN_EXPIRED)
    rid = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "One more thing"}).get_json()["id"]
    dead = wait_until(lambda: (r := wa_hub.api("GET", f"/api/v1/replies/{rid}").get_json())["state"] not in ("pending", "sending") and r,
                      message="reply settled")
    assert dead["state"] == "dead" and "expired or was revoked" in dead["last_error"]
    with wa_hub.rt.db.read() as s:
        assert (s.scalar(select(Connector.health).where(Connector.name == "acme-wa")) or {}).get("auth_failed")

    # STOP on WhatsApp opts the customer out, as on SMS: the next reply is refused, nothing is sent
    assert post(wa_hub, ms.inbound(ms.TEXT, wamid="wamid.STOP1", text="STOP")).status_code == 200
    customer = wait_until(lambda: (c := wa_hub.api("GET", f"/api/v1/conversations/{conv['id']}").get_json()["customer"])["opted_out"] and c,
                          message="opted out")
    assert "STOP" in customer["opt_out_reason"]
    refused = wa_hub.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Are you sure?"})
    assert refused.status_code == 409 and "opted out" in refused.get_json()["error"]
    assert len(api.called("POST", f"/v24.0/{ms.PHONE_NUMBER_ID}/messages")) == 4
    wa_hub.wait_idle(settle=0.3)
    wa_hub.kill("worker")  # all work is done and committed; a SIGTERM sometimes waits out its 10 s grace


def test_forged_and_retried_deliveries(wa_hub, api):
    batch = ms.multi(ms.inbound(ms.TEXT, wamid="wamid.BATCH1", text="first"), ms.inbound(ms.TEXT, wamid="wamid.BATCH2", text="second"))
    # forged, unsigned and signed with another app's secret: 403, stored nowhere
    assert post(wa_hub, batch, headers={graph.SIGNATURE_HEADER: "sha256=" + "ab" * 32}).status_code == 403
    assert post(wa_hub, batch, headers={}).status_code == 403
    assert post(wa_hub, batch, secret="another-app-secret").status_code == 403
    assert wa_hub.count(InboundEvent) == 0

    # one POST with two entries: two events; Meta retries the same POST: still two
    assert post(wa_hub, batch).status_code == 200
    assert post(wa_hub, batch).status_code == 200
    assert wa_hub.count(InboundEvent) == 2
    # the same message again inside a different delivery (another batch): deduplicated by its wamid
    assert post(wa_hub, ms.multi(ms.inbound(ms.TEXT, wamid="wamid.BATCH2", text="second"), ms.inbound(ms.TEXT, wamid="wamid.BATCH3", text="third"))).status_code == 200
    with wa_hub.rt.db.read() as s:
        assert sorted(s.scalars(select(InboundEvent.external_id))) == ["wamid.BATCH1", "wamid.BATCH2", "wamid.BATCH3"]


def test_a_malformed_message_is_quarantined_alone_and_its_delivery_stored(wa_hub, api):
    """Each message of a delivery is its own event: one without an id is quarantined with the
    reason, the good one next to it is stored (the POST is acknowledged, Meta does not retry)."""
    good = ms.inbound(ms.TEXT, wamid="wamid.GOODINBAD", text="my deposit is missing")
    bad = ms.inbound(ms.TEXT, wamid="wamid.X", text="no id here")
    bad["entry"][0]["changes"][0]["value"]["messages"][0].pop("id")
    assert post(wa_hub, ms.multi(good, bad)).status_code == 200
    wa_hub.start_worker()
    wait_until(lambda: wa_hub.count(InboundEvent, InboundEvent.state == "pending") == 0 and wa_hub.count(InboundEvent) == 2,
               message="both events settled")
    with wa_hub.rt.db.read() as s:
        states = {e.external_id: (e.state, e.error) for e in s.scalars(select(InboundEvent))}
        texts = list(s.scalars(select(Message.text)))
    assert states["wamid.GOODINBAD"][0] == "processed" and texts == ["my deposit is missing"]
    (quarantined,) = [v for k, v in states.items() if k.startswith("invalid:")]
    assert quarantined[0] == "quarantined" and "without an id" in quarantined[1]
