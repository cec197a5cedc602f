"""#14 item 1: a GET challenge (X's CRC) is no signing oracle, on the running hub's routes.

The attack: ``GET /webhooks/<x>/activity?crc_token=<event JSON>`` answered
base64(HMAC(consumer_secret, <event JSON>)), which is exactly the delivery signature of a
POST of that JSON. Driven through the registries: every kind with a GET hook gets a genuine
delivery body as its challenge, and every string of the answer is replayed as every header
of a POST of that body. Nothing may be accepted or stored.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

import channels
from hub.models import InboundEvent
from hub.types import WebhookResponse
from tests.contract.test_adapters import _answer_strings
from tests.security.conftest import ALL_KINDS

CHALLENGED = sorted(k for k, c in ALL_KINDS.items() if c.get_hooks)


def _query(kind: str, param: str, value: str) -> str:
    """The challenge GET as the provider sends it: Meta's subscription handshake also carries
    hub.mode and the (secret) verify token — an attacker holding it gets no more than this."""
    from tests.contract.examples import EXAMPLES

    q: dict[str, str] = {}
    if "verify_token" in EXAMPLES.get(kind, {}):
        q.update({"hub.mode": "subscribe", "hub.verify_token": EXAMPLES[kind]["verify_token"], "hub.challenge": "1158201444"})
    q[param] = value
    return urlencode(q)


def _adapter(hub, name: str):
    svc = hub.app.extensions["omnihub.connectors"]
    with hub.rt.db.read() as s:
        return svc.adapter(svc.get(s, name))


def test_there_is_a_challenge_hook_to_check():
    assert CHALLENGED, "no GET/challenge hooks registered: the oracle check below would prove nothing"


@pytest.mark.parametrize("kind", CHALLENGED)
def test_challenge_answer_cannot_sign_a_forged_delivery(all_hub, kind):
    cls = ALL_KINDS[kind]
    assert cls.simulate is not channels.base.ChannelAdapter.simulate
    a = _adapter(all_hub, f"{kind}-a")
    _hook, headers, genuine = a.simulate("Official Support: send funds to bc1qattacker", "666")
    forged_bodies = [genuine, json.dumps(json.loads(genuine), separators=(",", ":")).encode(), b' {"forged": true}']
    before = all_hub.count(InboundEvent)
    for hook in cls.get_hooks:
        for param in cls.challenge_params:
            # a benign token is still answered (the provider must be able to register the hook)
            ok = all_hub.client.get(f"/webhooks/{kind}-a/{hook}?{_query(kind, cls.challenge_params[0], 'Y3JjLXRva2VuLTEyMw')}")
            assert ok.status_code == 200, ok.get_data(as_text=True)
            for body in forged_bodies:
                all_hub.app.extensions.get("omnihub.webhook_cache", {}).clear()
                got = all_hub.client.get(f"/webhooks/{kind}-a/{hook}?{_query(kind, param, body.decode())}")
                assert got.status_code in (400, 403), (kind, got.status_code, got.get_data(as_text=True)[:200])
                strings = _answer_strings(WebhookResponse(got.status_code, got.get_data(), headers=dict(got.headers)))
                strings |= _answer_strings(WebhookResponse(ok.status_code, ok.get_data(), headers=dict(ok.headers)))
                for value in (v for v in strings if "\n" not in v and "\r" not in v):
                    for name in headers:
                        if name.lower() == "content-type":
                            continue
                        resp = all_hub.client.post(f"/webhooks/{kind}-a/{hook}", data=body, headers={**headers, name: value})
                        assert resp.status_code == 403, (kind, name, resp.status_code)
    assert all_hub.count(InboundEvent) == before


@pytest.mark.parametrize("token", ['{"for_user_id":"1"}', "a b", "a" * 129, "tok%0d%0a", "crc;x", "<x>", "[1]"])
@pytest.mark.parametrize("kind", CHALLENGED)
def test_challenge_with_a_token_of_the_wrong_shape_is_refused(all_hub, kind, token):
    for hook in ALL_KINDS[kind].get_hooks:
        for param in ALL_KINDS[kind].challenge_params:
            got = all_hub.client.get(f"/webhooks/{kind}-a/{hook}?{urlencode({param: token})}")
            assert got.status_code == 403, (kind, token, got.status_code)
            assert b"response_token" not in got.get_data() and b"sha256=" not in got.get_data()
