"""The signed webhook backend: documented JSON, omnihub signature, replies signed back."""

from __future__ import annotations

import json

import pytest

from hub import signing
from hub.errors import PayloadInvalid, SignatureInvalid
from tests.outbound.saas_support import blob, make_backend, make_item, start_fake, webhook_request


@pytest.fixture
def wh(saas_servers):
    fake = start_fake(saas_servers, "webhook")
    yield fake, make_backend("webhook", fake.base_url, name="wh")
    assert fake.violations == []


def test_payload_is_the_documented_schema(wh):
    fake, backend = wh
    res = backend.push(make_item(1, attachments=(blob(),)))
    assert (res.ticket_ref, res.comment_ref) == ("T-42", "omnihub-message-1")
    payload = fake.comments["42"][0]["payload"]
    assert set(payload) == {"event", "version", "delivery_id", "conversation", "message", "contact"}
    assert payload["message"]["text"] == "My withdrawal is stuck, card ending [REDACTED:card]"
    assert payload["message"]["attachments"][0]["sha256"] and "content" not in payload["message"]["attachments"][0]
    assert payload["contact"]["identities"] == [{"medium": "sms", "channel": "sms", "address": "+15551234567", "name": "Ana Lima"}]
    assert payload["conversation"]["medium"] == payload["conversation"]["channel"] == "sms"  # channel: the deprecated alias
    assert payload["conversation"]["ticket_ref"] is None


def test_signed_agent_reply_round_trip(wh):
    _, backend = wh
    body = json.dumps({"id": "r-1", "ticket_ref": "T-42", "text": "Released", "status": "resolved", "author_name": "Jane"}).encode()
    req = webhook_request(body, signing.sign("wh-secret", body))
    backend.verify("agent-reply", req)
    [event] = backend.parse("agent-reply", req)
    [reply] = backend.parse_agent_reply(event)
    assert (reply.external_id, reply.ticket_ref, reply.text, reply.status) == ("r-1", "T-42", "Released", "resolved")
    with pytest.raises(SignatureInvalid):
        backend.verify("agent-reply", webhook_request(body, signing.sign("guess", body)))
    bad = json.dumps({"id": "r-2", "ticket_ref": "T-42", "status": "deleted"}).encode()
    with pytest.raises(PayloadInvalid):
        backend.parse_agent_reply(backend.parse("agent-reply", webhook_request(bad))[0])


def test_committed_json_schema_matches_the_models():
    """docs/webhook-schema.json is generated from the models: regenerate it when they change."""
    from pathlib import Path

    from outbound.webhook import json_schemas

    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "webhook-schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schemas())), (
        "python -c \"import json,outbound.webhook as w; open('docs/webhook-schema.json','w')"
        ".write(json.dumps(w.json_schemas(), indent=2, sort_keys=True)+'\\n')\""
    )


def test_agent_reply_schema_errors_name_the_field(wh):
    _, backend = wh
    with pytest.raises(PayloadInvalid, match="ticket_ref"):
        backend.parse("agent-reply", webhook_request(b'{"id": "r-9", "text": "x"}'))
    [event] = backend.parse("agent-reply", webhook_request(b'{"id": 17, "ticket_ref": "T-1", "text": "x"}'))
    assert event.external_id == "17" and backend.parse_agent_reply(event)[0].ticket_ref == "T-1"
