"""Zendesk: tickets, comments and the signed agent-reply webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from hub.errors import RetriableDeliveryError, SignatureInvalid
from tests.outbound.saas_support import WEBHOOK_SECRET, make_backend, make_item, start_fake, webhook_request


@pytest.fixture
def zd(saas_servers):
    fake = start_fake(saas_servers, "zendesk")
    yield fake, make_backend("zendesk", fake.base_url, name="zd")
    assert fake.violations == []


def signed(body: bytes, secret: str = WEBHOOK_SECRET, ts: str | None = None) -> dict[str, str]:
    """The documented algorithm: base64(HMAC-SHA256(secret, timestamp + body))."""
    ts = ts or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    return {"X-Zendesk-Webhook-Signature": sig, "X-Zendesk-Webhook-Signature-Timestamp": ts}


def comment_event(comment_id: int, body: str, *, staff: bool = True, public: bool = True, status: str = "OPEN") -> bytes:
    """Shaped like the documented zen:event-type:ticket.comment_added webhook payload."""
    return json.dumps({
        "account_id": 22129848,
        "detail": {"id": "1002", "status": status, "requester_id": "5001", "subject": "Withdrawal stuck", "external_id": "omnihub-conversation-42"},
        "event": {"comment": {"id": str(comment_id), "body": body, "is_public": public,
                              "author": {"id": "9000", "is_staff": staff, "name": "Jane Agent"}}},
        "id": f"evt-{comment_id}",
        "subject": "zen:ticket:1002",
        "time": "2026-11-22T18:00:00Z",
        "type": "zen:event-type:ticket.comment_added",
        "zendesk_event_version": "2022-11-06",
    }).encode()


def test_ticket_maps_requester_tags_and_fields(zd):
    fake, backend = zd
    backend = make_backend("zendesk", fake.base_url, channel_field_id=11, address_field_id=12, group_id=5)
    res = backend.push(make_item(1))
    t = fake.tickets[res.ticket_ref]
    assert t["external_id"] == "omnihub-conversation-42"
    assert {"omnihub", "omnihub_sms"} <= set(t["tags"]) and t["group_id"] == 5
    assert {"id": 12, "value": "+15551234567"} in t["custom_fields"]
    assert res.comment_ref == str(fake.comments[res.ticket_ref][0]["id"])
    assert "[REDACTED:card]" in fake.comments[res.ticket_ref][0]["body"]


def test_phone_only_contact_becomes_an_end_user_keyed_by_our_id(zd):
    fake, backend = zd
    backend.push(make_item(1, email=None))
    backend.push(make_item(5, email=None, conversation_id=43))
    users = [u for u in fake.users.values() if u.get("external_id") == "omnihub-contact-7"]
    assert len(users) == 1 and users[0]["phone"] == "+15551234567"
    assert {t["requester_id"] for t in fake.tickets.values()} == {users[0]["id"]}


def test_customer_comments_are_authored_by_the_requester_agent_replies_by_us(zd):
    fake, backend = zd
    ref = backend.push(make_item(1)).ticket_ref
    backend.push(make_item(2, ticket_ref=ref))
    backend.push(make_item(3, ticket_ref=ref, direction="outbound", text="We are on it"))
    c1, c2, c3 = fake.comments[ref]
    assert c2["author_id"] == fake.tickets[ref]["requester_id"] and c2["public"] is True
    assert c3["author_id"] == 9000 and c3["public"] is True


def test_signed_agent_comment_becomes_an_agent_reply(zd):
    _, backend = zd
    body = comment_event(777, "Your withdrawal was released.", status="SOLVED")
    req = webhook_request(body, signed(body))
    backend.verify("agent-reply", req)
    [event] = backend.parse("agent-reply", req)
    assert event.external_id == "comment-777"
    [reply] = backend.parse_agent_reply(event)
    assert (reply.external_id, reply.ticket_ref, reply.text) == ("777", "1002", "Your withdrawal was released.")
    assert reply.author_name == "Jane Agent" and reply.internal is False and reply.status == "resolved"


def test_internal_note_is_internal_and_echoes_are_ignored(zd):
    _, backend = zd
    note = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(comment_event(1, "check KYC", public=False)))[0])
    assert note[0].internal is True
    customer = comment_event(2, "hello?", staff=False)
    assert backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(customer))[0]) == []
    echo = comment_event(3, "We are on it\n\n-- \nvia omnihub · sms · omnihub-message-3")
    assert backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(echo))[0]) == []


def test_status_change_is_mirrored(zd):
    _, backend = zd
    body = json.dumps({"type": "zen:event-type:ticket.status_changed", "id": "e1", "subject": "zen:ticket:1002",
                       "detail": {"id": "1002", "status": "CLOSED"}, "event": {"current": "CLOSED", "previous": "SOLVED"}}).encode()
    [reply] = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(body))[0])
    assert (reply.ticket_ref, reply.status, reply.text) == ("1002", "closed", "")


@pytest.mark.parametrize("tamper", ["body", "secret", "timestamp", "missing", "stale"])
def test_forged_or_stale_webhooks_are_refused(zd, tamper):
    _, backend = zd
    body = comment_event(777, "pay me")
    headers = signed(body)
    if tamper == "body":
        body = body.replace(b"pay me", b"pay us")
    elif tamper == "secret":
        headers = signed(body, secret="guess")
    elif tamper == "timestamp":
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = "2026-11-22T18:00:01Z"
    elif tamper == "missing":
        headers.pop("X-Zendesk-Webhook-Signature")
    elif tamper == "stale":
        headers = signed(body, ts="2020-01-01T00:00:00Z")
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(body, headers))


def test_idempotency_key_covers_a_create_the_lookup_missed(zd):
    fake, backend = zd
    fake.fail(500, "after")
    with pytest.raises(RetriableDeliveryError):
        backend.push(make_item(1))
    fake.hide_from_lookup = 1  # a concurrent worker, or the lookup racing the create
    again = backend.push(make_item(1))
    assert len(fake.tickets) == 1 and again.ticket_ref in fake.tickets
    assert fake.comment_count(1) == 1


def test_closed_ticket_continues_in_one_follow_up(zd):
    fake, backend = zd
    ref = backend.push(make_item(1)).ticket_ref
    fake.tickets[ref]["status"] = "closed"  # solved tickets close after a few days
    fake.fail(500, "after")
    with pytest.raises(RetriableDeliveryError):
        backend.push(make_item(2, ticket_ref=ref, text="I'm back"))
    follow = backend.push(make_item(2, ticket_ref=ref, text="I'm back"))  # the retry
    follow_id = follow.data["ticket"]
    assert follow.ticket_ref == ref and follow_id != ref and len(fake.tickets) == 2
    assert fake.tickets[follow_id]["external_id"] == fake.tickets[ref]["external_id"]
    assert fake.comment_count(2) == 1 and str(fake.comments[follow_id][0]["id"]) == follow.comment_ref
    third = backend.push(make_item(3, ticket_ref=ref, text="hello?"))  # the core still holds the old ref
    assert (third.ticket_ref, third.data["ticket"]) == (ref, follow_id) and len(fake.tickets) == 2
    assert fake.comment_count(3) == 1
    # an agent answers on the follow-up: the reply belongs to the conversation linked to `ref`
    body = json.loads(comment_event(888, "Welcome back"))
    body["detail"]["id"] = follow_id
    [reply] = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(json.dumps(body).encode()))[0])
    assert reply.ticket_ref == ref
