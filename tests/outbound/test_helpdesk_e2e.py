"""End to end through the real hub: api channel -> Zendesk ticket (local contract-checking
server) -> signed Zendesk agent-reply webhook -> reply delivered on the api channel's callback."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from hub import signing
from hub.models import Delivery, HelpdeskLink, InboundEvent, Reply
from tests.outbound.saas_support import WEBHOOK_SECRET, start_fake
from tests.outbound.test_zendesk import comment_event, signed
from tests.support.hub import wait_until

API_SECRET = "api-secret"


@pytest.fixture
def zendesk_hub(make_hub, saas_servers, httpserver):
    fake = start_fake(saas_servers, "zendesk")
    received: list[dict] = []

    def callback(request):
        signing.verify(API_SECRET, request.get_data(), request.headers)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(callback)
    h = make_hub()
    h.add_connector(
        "zd", "zendesk", base_url=fake.base_url, email=fake.EMAIL, api_token=fake.TOKEN, webhook_secret=WEBHOOK_SECRET
    )
    h.add_connector("web", "api", secret=API_SECRET, callback_url=httpserver.url_for("/callback"), helpdesk="zd")
    h.start_worker()
    yield h, fake, received
    assert fake.violations == []


def post_customer_message(h, id: str, text: str) -> None:
    body = json.dumps({"id": id, "from": {"id": "alice", "name": "Alice", "email": "alice@example.com"}, "text": text}).encode()
    resp = h.client.post("/webhooks/web/messages", data=body, headers={"Content-Type": "application/json", **signing.sign(API_SECRET, body)})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def conversations_of(h) -> list[dict]:
    return h.api("GET", "/api/v1/conversations").get_json()["items"]


def post_zendesk(h, body: bytes, headers: dict[str, str] | None = None) -> int:
    headers = {"Content-Type": "application/json", **(signed(body) if headers is None else headers)}
    return h.client.post("/webhooks/zd/agent-reply", data=body, headers=headers).status_code


def test_message_to_zendesk_ticket_and_agent_reply_back_to_the_channel(zendesk_hub):
    h, fake, received = zendesk_hub
    post_customer_message(h, "m1", "My withdrawal is stuck")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message="ticket pushed")
    [(ticket_id, ticket)] = fake.tickets.items()
    assert ticket["external_id"].startswith("omnihub-conversation-")
    [first] = fake.comments[ticket_id]
    assert "My withdrawal is stuck" in first["body"]
    assert h.count(HelpdeskLink, HelpdeskLink.external_ref == ticket_id) == 1

    post_customer_message(h, "m2", "Any news?")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 2, timeout=20, message="comment pushed")
    assert len(fake.comments[ticket_id]) == 2 and "Any news?" in fake.comments[ticket_id][1]["body"]

    # Zendesk echoes the customer's comment we pushed: not an agent reply
    echo = json.loads(comment_event(1, fake.comments[ticket_id][1]["body"], staff=False))
    echo["detail"]["id"] = ticket_id
    assert post_zendesk(h, json.dumps(echo).encode()) == 200
    # a forged agent reply is refused and stored nowhere
    forged = json.loads(comment_event(666, "Send your seed phrase to ..."))
    forged["detail"]["id"] = ticket_id
    assert post_zendesk(h, json.dumps(forged).encode(), {"X-Zendesk-Webhook-Signature": "AAAA", "X-Zendesk-Webhook-Signature-Timestamp": "1"}) == 403

    agent = json.loads(comment_event(777, "Released, it will arrive within the hour.", status="SOLVED"))
    agent["detail"]["id"] = ticket_id
    body = json.dumps(agent).encode()
    assert post_zendesk(h, body) == 200
    assert post_zendesk(h, body) == 200  # Zendesk retried the delivery: still one reply
    wait_until(lambda: received, timeout=20, message="reply on the api callback")
    wait_until(lambda: h.count(Reply, Reply.state == "sent", Reply.kind == "reply") == 1, timeout=20, message="reply sent")
    assert received[0]["text"] == "Released, it will arrive within the hour."
    assert received[0]["to"] == {"id": "alice"} and received[0]["author"] == "Jane Agent"
    conv = h.api("GET", "/api/v1/conversations").get_json()["items"][0]
    assert conv["status"] == "resolved"
    assert h.count(Reply, Reply.kind == "reply") == 1
    # solved in Zendesk = resolved here: the customer also gets the satisfaction survey
    wait_until(lambda: len(received) == 2, timeout=20, message="survey")
    assert h.count(Reply, Reply.kind == "auto") == 1

    # days later Zendesk has closed the ticket; the customer writes again
    fake.tickets[ticket_id]["status"] = "closed"
    post_customer_message(h, "m3", "It happened again")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 3, timeout=20, message="follow-up pushed")
    [follow_id] = [t for t in fake.tickets if t != ticket_id]
    assert "It happened again" in fake.comments[follow_id][0]["body"]
    # the same conversation (reopened), continued in a follow-up ticket of the closed one
    assert fake.tickets[follow_id]["external_id"] == ticket["external_id"] and len(conversations_of(h)) == 1
    agent = json.loads(comment_event(778, "Fixed for good this time."))
    agent["detail"]["id"] = follow_id
    assert post_zendesk(h, json.dumps(agent).encode()) == 200
    wait_until(lambda: len(received) == 3, timeout=20, message="follow-up reply on the api callback")
    assert received[2]["text"] == "Fixed for good this time." and received[2]["to"] == {"id": "alice"}


def test_freshdesk_agent_reply_is_read_back_by_the_worker(make_hub, saas_servers, httpserver):
    """Freshdesk's webhook carries only the ticket id: the worker reads the ticket's conversations."""
    fake = start_fake(saas_servers, "freshdesk")
    received: list[dict] = []

    def callback(request):
        signing.verify(API_SECRET, request.get_data(), request.headers)
        received.append(json.loads(request.get_data()))
        return Response('{"ok": true}', status=200, content_type="application/json")

    httpserver.expect_request("/callback", method="POST").respond_with_handler(callback)
    h = make_hub(default_helpdesk="fd")  # routed by OMNIHUB_DEFAULT_HELPDESK this time
    h.add_connector("fd", "freshdesk", base_url=fake.base_url, api_key=fake.KEY, webhook_secret=WEBHOOK_SECRET)
    h.add_connector("web", "api", secret=API_SECRET, callback_url=httpserver.url_for("/callback"))
    h.start_worker()
    post_customer_message(h, "m1", "Card blocked")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message="ticket pushed")
    [ticket_id] = fake.tickets
    fake.add_agent_reply(ticket_id, "Unblocked, try again.")
    fake.add_agent_reply(ticket_id, "note: customer verified", private=True)
    body = json.dumps({"freshdesk_webhook": {"ticket_id": int(ticket_id)}}).encode()
    headers = {"Content-Type": "application/json", "X-Omnihub-Webhook-Secret": WEBHOOK_SECRET}
    assert h.client.post("/webhooks/fd/agent-reply", data=body, headers=headers).status_code == 200
    assert h.client.post("/webhooks/fd/agent-reply", data=body, headers={**headers, "X-Omnihub-Webhook-Secret": "guess"}).status_code == 403
    wait_until(lambda: received, timeout=20, message="reply on the api callback")
    assert [r["text"] for r in received] == ["Unblocked, try again."]
    assert h.count(Reply, Reply.kind == "note") == 1  # the private note is kept, never sent
    # a second webhook (any later ticket update) does not resend the same reply
    assert h.client.post("/webhooks/fd/agent-reply", data=body, headers=headers).status_code == 200
    wait_until(lambda: h.count(InboundEvent, InboundEvent.hook == "agent-reply", InboundEvent.state == "processed") == 2,
               timeout=20, message="second agent-reply webhook processed")
    h.wait_idle()
    assert len(received) == 1 and h.count(Reply) == 2
    assert fake.violations == []


def test_reply_written_in_omnihub_is_mirrored_to_the_ticket(zendesk_hub):
    """An agent answering from omnihub's inbox/API: the customer gets it on their channel and
    the Zendesk ticket gets it as an agent comment, once."""
    h, fake, received = zendesk_hub
    post_customer_message(h, "m1", "Card declined")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message="ticket pushed")
    conv = conversations_of(h)[0]
    rid = h.api("POST", f"/api/v1/conversations/{conv['id']}/replies", json={"text": "Try again now, please."}).get_json()["id"]
    wait_until(lambda: received, timeout=20, message="reply on the api callback")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 2, timeout=20, message="reply mirrored")
    [(ticket_id, _ticket)] = fake.tickets.items()
    bodies = [c["body"] for c in fake.comments[ticket_id]]
    assert len(bodies) == 2 and "Try again now, please." in bodies[1]
    assert [r["text"] for r in received] == ["Try again now, please."]
    # Zendesk echoing the mirrored comment back is not a new agent reply
    echo = json.loads(comment_event(1, bodies[1]))
    echo["detail"]["id"] = ticket_id
    assert post_zendesk(h, json.dumps(echo).encode()) == 200
    h.wait_idle()
    assert h.count(Reply) == 1 and len(received) == 1 and rid


def test_triage_language_and_entities_reach_the_zendesk_ticket(zendesk_hub):
    """The real pipeline (triage, language, entities) -> the ticket's tags, priority and text."""
    h, fake, _ = zendesk_hub
    btc = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    post_customer_message(h, "s1", f"Me han hackeado la cuenta y han enviado todos mis fondos a {btc}")
    wait_until(lambda: h.count(Delivery, Delivery.state == "delivered") == 1, timeout=20, message="ticket pushed")
    [(ticket_id, ticket)] = fake.tickets.items()
    assert {
        "omnihub-category-suspicious_access_or_hacked_account", "omnihub-priority-urgent", "omnihub-lang-es",
        "omnihub-security", "omnihub-entity-btc_address",
    } <= set(ticket["tags"])
    assert ticket["priority"] == "urgent"
    [first] = fake.comments[ticket_id]
    assert f"Detected: BTC address {btc}" in first["body"]
