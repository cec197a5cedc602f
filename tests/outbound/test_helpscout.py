"""Help Scout: OAuth2, conversations and threads, X-HelpScout-Signature webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from hub.errors import SignatureInvalid
from tests.outbound.saas_support import WEBHOOK_SECRET, make_backend, make_item, start_fake, webhook_request


@pytest.fixture
def hs(saas_servers):
    fake = start_fake(saas_servers, "helpscout")
    yield fake, make_backend("helpscout", fake.base_url, name="hs")
    assert fake.violations == []


def signed(body: bytes, event: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Help Scout: X-HelpScout-Signature = base64(HMAC-SHA1(secret, body))."""
    sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()
    return {"X-HelpScout-Signature": sig, "X-HelpScout-Event": event}


def convo(thread: dict, status: str = "active") -> bytes:
    return json.dumps({
        "id": 1234, "number": 77, "subject": "Withdrawal stuck", "status": status, "mailboxId": 85,
        "_embedded": {"threads": [
            thread,
            {"id": 10, "type": "customer", "body": "my money?", "createdAt": "2026-11-22T17:00:00Z", "createdBy": {"id": 456, "type": "customer"}},
        ]},
    }).encode()


AGENT = {"id": 11, "type": "reply", "body": "<p>Released.</p>", "createdAt": "2026-11-22T18:00:00Z",
         "createdBy": {"id": 1, "type": "user", "first": "Jane", "last": "Agent"}}


def test_conversation_threads_and_imported_agent_replies(hs):
    fake, backend = hs
    res = backend.push(make_item(1))
    conv = fake.tickets[res.ticket_ref]
    assert "omnihub-conversation-42" in conv["tags"]
    backend.push(make_item(2, ticket_ref=res.ticket_ref))
    backend.push(make_item(3, ticket_ref=res.ticket_ref, direction="outbound"))
    t1, t2, t3 = fake.comments[res.ticket_ref]
    assert (t1["type"], t2["type"], t3["type"]) == ("customer", "customer", "reply")
    assert t3["imported"] is True  # Help Scout must not email what omnihub already delivered
    assert len([c for c in fake.log if c[1] == "/v2/oauth2/token"]) == 1  # token reused


def test_phone_only_customer_created_once(hs):
    fake, backend = hs
    backend.push(make_item(1, email=None))
    backend.push(make_item(2, email=None, conversation_id=43))
    [spec] = fake.customers.values()
    assert spec["phones"] == [{"type": "mobile", "value": "+15551234567"}]


def test_expired_token_is_refreshed_once(hs):
    fake, backend = hs
    backend.check()
    fake.tokens.clear()  # revoked early
    assert backend.check().ok


def test_signed_agent_reply(hs):
    _, backend = hs
    body = convo(AGENT, status="closed")
    req = webhook_request(body, signed(body, "convo.agent.reply.created"))
    backend.verify("agent-reply", req)
    [event] = backend.parse("agent-reply", req)
    [reply] = backend.parse_agent_reply(event)
    assert (reply.external_id, reply.ticket_ref, reply.text, reply.author_name) == ("11", "1234", "Released.", "Jane Agent")
    assert reply.status == "closed" and not reply.internal


def test_note_is_internal_and_echo_ignored(hs):
    _, backend = hs
    body = convo({**AGENT, "id": 12, "type": "note"})
    [note] = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(body, signed(body, "convo.note.created")))[0])
    assert note.internal
    echo = convo({**AGENT, "id": 13, "body": "<p>x</p><p>via omnihub · sms · omnihub-message-3</p>"})
    assert backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(echo, signed(echo, "convo.agent.reply.created")))[0]) == []
    other = convo(AGENT)
    assert backend.parse("agent-reply", webhook_request(other, signed(other, "convo.customer.reply.created"))) == []


def test_forged_signature_is_refused(hs):
    _, backend = hs
    body = convo(AGENT)
    for headers in (signed(body, "convo.agent.reply.created", secret="guess"), {"X-HelpScout-Event": "convo.agent.reply.created"}):
        with pytest.raises(SignatureInvalid):
            backend.verify("agent-reply", webhook_request(body, headers))
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(body + b" ", signed(body, "convo.agent.reply.created")))


def test_payload_without_embedded_threads_reads_them_from_the_api(hs):
    """A v2 conversation payload need not embed threads: the worker lists them (deduped by id)."""
    fake, backend = hs
    ref = backend.push(make_item(1)).ticket_ref
    backend.push(make_item(2, ticket_ref=ref, direction="outbound"))  # our own imported reply: an echo
    fake.comments[ref].append({**AGENT, "id": 99, "createdBy": {"type": "user", "first": "Jane", "last": "Agent"}})
    body = json.dumps({"id": int(ref), "number": 77, "status": "closed", "mailboxId": 85}).encode()
    [event] = backend.parse("agent-reply", webhook_request(body, signed(body, "convo.agent.reply.created")))
    replies = backend.parse_agent_reply(event)
    assert [(r.external_id, r.text, r.status) for r in replies] == [("99", "Released.", "closed")]
