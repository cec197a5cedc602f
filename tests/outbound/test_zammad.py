"""Zammad: tickets, articles and the X-Hub-Signature trigger webhook."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hub.errors import SignatureInvalid
from tests.outbound.saas_support import WEBHOOK_SECRET, make_backend, make_item, start_fake, webhook_request


@pytest.fixture
def zm(saas_servers):
    fake = start_fake(saas_servers, "zammad")
    yield fake, make_backend("zammad", fake.base_url, name="zm")
    assert fake.violations == []


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """Zammad: X-Hub-Signature: sha1=<hex HMAC-SHA1(token, body)>."""
    return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Zammad-Trigger": "omnihub", "X-Zammad-Delivery": "0f6c1d2e"}


def trigger(article_id: int, body: str, *, sender: str = "Agent", internal: bool = False, state: str = "open") -> bytes:
    return json.dumps({
        "ticket": {"id": 1005, "number": "77005", "title": "Withdrawal stuck", "state": state, "group": "Users"},
        "article": {"id": article_id, "ticket_id": 1005, "body": body, "content_type": "text/html", "internal": internal,
                    "sender": sender, "type": "note", "created_by": {"firstname": "Jane", "lastname": "Agent", "login": "jane"}},
    }).encode()


def test_ticket_with_inline_article_and_customer_guess(zm):
    fake, backend = zm
    res = backend.push(make_item(1))
    [art] = fake.comments[res.ticket_ref]
    assert (art["sender"], art["type"], art["internal"]) == ("Customer", "note", False)
    assert res.comment_ref == str(art["id"])
    assert "omnihub-conversation-42" in fake.tickets[res.ticket_ref]["_tags"]


def test_customers_are_hashes_zammad_finds_or_creates(zm):
    fake, backend = zm
    backend.push(make_item(1, email=None))
    backend.push(make_item(2, email=None, conversation_id=43))
    backend.push(make_item(3, conversation_id=44))
    assert sorted(fake.users) == ["ana@example.com", "omnihub-contact-7"]
    assert fake.users["omnihub-contact-7"]["mobile"] == "+15551234567"
    assert fake.users["ana@example.com"]["firstname"] == "Ana"


def test_outbound_articles_are_agent_notes(zm):
    fake, backend = zm
    ref = backend.push(make_item(1)).ticket_ref
    backend.push(make_item(2, ticket_ref=ref, direction="outbound"))
    assert fake.comments[ref][1]["sender"] == "Agent" and fake.comments[ref][1]["internal"] is False


def test_signed_agent_article_becomes_a_reply(zm):
    _, backend = zm
    body = trigger(55, "<p>Released &amp; done</p>", state="closed")
    req = webhook_request(body, signed(body))
    backend.verify("agent-reply", req)
    [event] = backend.parse("agent-reply", req)
    [reply] = backend.parse_agent_reply(event)
    assert (reply.external_id, reply.ticket_ref, reply.text) == ("55", "1005", "Released & done")
    assert reply.author_name == "Jane Agent" and reply.status == "closed" and not reply.internal


def test_internal_customer_and_echo_articles(zm):
    _, backend = zm
    [r] = backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(trigger(1, "KYC ok", internal=True)))[0])
    assert r.internal
    for body in (trigger(2, "hello?", sender="Customer"), trigger(3, "hi\n-- \nvia omnihub · sms · omnihub-message-9")):
        assert backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(body))[0]) == []


@pytest.mark.parametrize("headers", [{"X-Hub-Signature": "sha1=" + "0" * 40}, {}, {"X-Hub-Signature": "sha256=abc"}])
def test_forged_signature_is_refused(zm, headers):
    _, backend = zm
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(trigger(1, "x"), headers))


def test_tampered_body_is_refused(zm):
    _, backend = zm
    headers = signed(trigger(1, "x"))
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(trigger(1, "y"), headers))
