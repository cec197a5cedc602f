"""One contract test parametrized over every registered adapter (STYLE.md)."""

from __future__ import annotations

import pytest

import channels
import outbound
from hub.errors import SignatureInvalid
from hub.types import CaseInsensitiveDict, ConnectorContext, WebhookRequest
from normalizers.model import NormalizedMessage
from tests.contract.examples import EXAMPLES

ALL = {**channels.REGISTRY, **outbound.REGISTRY}


def make(kind: str):
    cls = ALL[kind]
    assert kind in EXAMPLES, f"add an example config for {kind!r} to tests/contract/examples.py"
    ctx = ConnectorContext(name=f"c-{kind}", kind=kind, config=cls.Config(**EXAMPLES[kind]), public_url="https://hub.example.com")
    return cls(ctx)


def request_for(adapter, hook: str, headers: dict, body: bytes, method: str = "POST") -> WebhookRequest:
    from urllib.parse import parse_qsl

    ctype = headers.get("Content-Type", headers.get("content-type", ""))
    form = tuple(parse_qsl(body.decode())) if "x-www-form-urlencoded" in ctype else ()
    return WebhookRequest(
        method=method, url=adapter.ctx.webhook_url(hook), path=f"/webhooks/{adapter.ctx.name}/{hook}",
        headers=CaseInsensitiveDict(headers), body=body, form=form,
    )


@pytest.mark.parametrize("kind", sorted(ALL))
def test_adapter_declares_its_contract(kind):
    adapter = make(kind)
    cls = type(adapter)
    assert cls.kind == kind and cls.title
    assert isinstance(cls.hooks, tuple) and all(isinstance(h, str) for h in cls.hooks)
    for secret in cls.Config.secret_fields():
        assert secret not in repr(adapter.config) or "**********" in repr(adapter.config)


@pytest.mark.parametrize("kind", sorted(k for k in ALL if ALL[k].hooks))
def test_unsigned_and_forged_requests_are_rejected(kind):
    adapter = make(kind)
    for hook in adapter.hooks:
        with pytest.raises(SignatureInvalid):
            adapter.verify(hook, request_for(adapter, hook, {"Content-Type": "application/json"}, b'{"forged": true}'))


def _simulatable():
    out = []
    for kind, cls in sorted(channels.REGISTRY.items()):
        if cls.simulate is not channels.base.ChannelAdapter.simulate:
            out.append(kind)
    return out


@pytest.mark.parametrize("kind", _simulatable())
def test_simulated_request_verifies_parses_and_normalizes(kind):
    adapter = make(kind)
    hook, headers, body = adapter.simulate("Hello from the contract test", "customer-1")
    req = request_for(adapter, hook, headers, body)
    adapter.verify(hook, req)
    events = adapter.parse(hook, req)
    assert events, "a simulated message yields at least one event"
    msgs = [m for ev in events for m in adapter.normalize(ev)]
    assert msgs and all(isinstance(m, NormalizedMessage) for m in msgs)
    assert any("Hello from the contract test" in m.text for m in msgs)
    for m in msgs:
        assert m.connector == adapter.ctx.name and m.sent_at.tzinfo is not None and m.thread_key
        NormalizedMessage.from_dict(m.to_dict(with_content=True))  # JSON round trip
    # tampering with the body breaks the signature
    with pytest.raises(SignatureInvalid):
        adapter.verify(hook, request_for(adapter, hook, headers, body + b" "))
