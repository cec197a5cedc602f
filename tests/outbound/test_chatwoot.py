"""Chatwoot: API-inbox conversations and the token-protected message_created webhook."""

from __future__ import annotations

import copy
import json

import pytest

from hub.errors import SignatureInvalid
from tests.outbound.saas_support import WEBHOOK_SECRET, load_json, make_backend, make_item, start_fake, webhook_request

DOC = load_json("helpdesk/helpdesk_documented_examples.json")["chatwoot_webhooks"]


@pytest.fixture
def cw(saas_servers):
    fake = start_fake(saas_servers, "chatwoot")
    yield fake, make_backend("chatwoot", fake.base_url, name="cw")
    assert fake.violations == []


def outgoing(**changes) -> bytes:
    """The documented message_created, as sent for an agent's outgoing message."""
    msg = copy.deepcopy(DOC["message_created"])
    msg.update(id=501, content="Your withdrawal was released.", message_type="outgoing",
               sender={"id": 1, "name": "John", "available_name": "John", "type": "user"})
    msg.update(changes)
    return json.dumps(msg).encode()


def test_contact_conversation_and_messages(cw):
    fake, backend = cw
    res = backend.push(make_item(1))
    conv = fake.tickets[res.ticket_ref]
    assert conv["custom_attributes"]["omnihub_conversation_id"] == "42"
    [contact] = fake.contacts.values()
    assert contact["identifier"] == "omnihub-contact-7" and contact["email"] == "ana@example.com"
    backend.push(make_item(2, ticket_ref=res.ticket_ref, direction="outbound"))
    m1, m2 = fake.comments[res.ticket_ref]
    assert (m1["message_type"], m1["source_id"], m1["private"]) == ("incoming", "omnihub-message-1", False)
    assert m2["message_type"] == "outgoing"


def test_documented_incoming_message_is_not_an_agent_reply(cw):
    _, backend = cw
    body = json.dumps(DOC["message_created"]).encode()
    req = webhook_request(body, args=(("token", WEBHOOK_SECRET),))
    backend.verify("agent-reply", req)
    [event] = backend.parse("agent-reply", req)
    assert event.external_id == "message-118"
    assert backend.parse_agent_reply(event) == []


def test_outgoing_agent_message_becomes_a_reply(cw):
    _, backend = cw
    [event] = backend.parse("agent-reply", webhook_request(outgoing()))
    [reply] = backend.parse_agent_reply(event)
    assert (reply.external_id, reply.ticket_ref, reply.text, reply.author_name) == ("501", "10", "Your withdrawal was released.", "John")
    [private] = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(outgoing(id=502, private=True)))[0])
    assert private.internal


def test_echo_of_our_pushed_message_is_ignored(cw):
    _, backend = cw
    [event] = backend.parse("agent-reply", webhook_request(outgoing(source_id="omnihub-message-3")))
    assert backend.parse_agent_reply(event) == []


def test_resolved_conversation_is_mirrored(cw):
    _, backend = cw
    body = json.dumps({"event": "conversation_status_changed", "id": 10, "status": "resolved", "timestamp": 1627063369}).encode()
    [event] = backend.parse("agent-reply", webhook_request(body))
    [reply] = backend.parse_agent_reply(event)
    assert (reply.ticket_ref, reply.status) == ("10", "resolved")


def test_other_events_are_dropped(cw):
    _, backend = cw
    assert backend.parse("agent-reply", webhook_request(json.dumps(DOC["webwidget_triggered"]).encode())) == []


@pytest.mark.parametrize("args,headers", [((), {}), ((("token", "guess"),), {}), ((), {"X-Omnihub-Webhook-Token": "guess"})])
def test_missing_or_wrong_token_is_refused(cw, args, headers):
    _, backend = cw
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(outgoing(), headers, args=args))
    backend.verify("agent-reply", webhook_request(outgoing(), {"X-Omnihub-Webhook-Token": WEBHOOK_SECRET}))


def test_known_contact_reuses_its_contact_inbox(cw):
    fake, backend = cw
    backend.push(make_item(1))
    backend.push(make_item(5, conversation_id=43))
    assert len(fake.contacts) == 1 and len(fake.tickets) == 2
    assert not [p for m, p in fake.log if p.endswith("/contact_inboxes")]


def test_contact_chatwoot_already_has_by_email_is_reused(cw):
    fake, backend = cw
    fake.contacts[1] = {"id": 1, "name": "Ana", "email": "ana@example.com", "identifier": None, "contact_inboxes": []}
    res = backend.push(make_item(1))
    assert len(fake.contacts) == 1  # no second contact (Chatwoot would refuse the email anyway)
    assert fake.tickets[res.ticket_ref]["meta"]["sender"]["id"] == 1
