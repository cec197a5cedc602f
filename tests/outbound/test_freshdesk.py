"""Freshdesk: tickets, notes, and agent replies read back after a shared-secret webhook."""

from __future__ import annotations

import json

import pytest

from hub.errors import PayloadInvalid, SignatureInvalid
from tests.outbound.saas_support import WEBHOOK_SECRET, make_backend, make_item, start_fake, webhook_request

HEADER = "X-Omnihub-Webhook-Secret"


@pytest.fixture
def fd(saas_servers):
    fake = start_fake(saas_servers, "freshdesk")
    yield fake, make_backend("freshdesk", fake.base_url, name="fd")
    assert fake.violations == []


def test_ticket_fields_and_phone_requester(fd):
    fake, backend = fd
    backend = make_backend("freshdesk", fake.base_url, channel_field="cf_channel", address_field="cf_address")
    ref = backend.push(make_item(1, email=None)).ticket_ref
    t = fake.tickets[ref]
    assert t["_requester"] == "omnihub-contact-7"
    assert {"omnihub", "omnihub-conversation-42", "omnihub-sms"} <= set(t["tags"])
    assert t["custom_fields"] == {"cf_channel": "sms", "cf_address": "+15551234567"}
    assert t["priority"] == 3  # high


def test_customer_messages_are_incoming_notes_outbound_are_public_agent_notes(fd):
    fake, backend = fd
    ref = backend.push(make_item(1)).ticket_ref
    backend.push(make_item(2, ticket_ref=ref))
    backend.push(make_item(3, ticket_ref=ref, direction="outbound", text="We are on it"))
    _, n2, n3 = fake.comments[ref]
    assert (n2["incoming"], n2["private"], n2["user_id"]) == (True, False, fake.tickets[ref]["requester_id"])
    assert (n3["incoming"], n3["private"]) == (False, False)


def test_webhook_needs_the_shared_secret_header(fd):
    _, backend = fd
    body = json.dumps({"freshdesk_webhook": {"ticket_id": 1}}).encode()
    backend.verify("agent-reply", webhook_request(body, {HEADER: WEBHOOK_SECRET}))
    for headers in ({HEADER: "guess"}, {}, {"Authorization": WEBHOOK_SECRET}):
        with pytest.raises(SignatureInvalid):
            backend.verify("agent-reply", webhook_request(body, headers))


def test_agent_replies_are_read_from_the_ticket(fd):
    fake, backend = fd
    ref = backend.push(make_item(1)).ticket_ref
    backend.push(make_item(2, ticket_ref=ref))
    backend.push(make_item(3, ticket_ref=ref, direction="outbound", text="from omnihub"))
    reply = fake.add_agent_reply(ref, "Your withdrawal was released.")
    note = fake.add_agent_reply(ref, "internal: KYC ok", private=True)
    fake.tickets[ref]["status"] = 4
    body = json.dumps({"freshdesk_webhook": {"ticket_id": int(ref)}}).encode()
    [event] = backend.parse("agent-reply", webhook_request(body, {HEADER: WEBHOOK_SECRET}))
    replies = backend.parse_agent_reply(event)
    by_id = {r.external_id: r for r in replies}
    assert by_id[str(reply["id"])].text == "Your withdrawal was released."
    assert by_id[str(reply["id"])].author_name == "Rachel" and not by_id[str(reply["id"])].internal
    assert by_id[str(note["id"])].internal is True
    [status] = [r for r in replies if r.status]
    assert status.status == "resolved" and status.ticket_ref == ref
    assert len(replies) == 3  # our pushed customer notes and our outbound echo are not agent replies


def test_webhook_without_ticket_id_is_invalid(fd):
    _, backend = fd
    with pytest.raises(PayloadInvalid):
        backend.parse("agent-reply", webhook_request(b'{"freshdesk_webhook": {}}'))
