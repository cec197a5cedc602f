"""#14 item 7: a signature that covers no timestamp is accepted once, and Twilio SIDs are checked.

Twilio signs URL + the sorted parameters concatenated as key+value, so
``MessageSid=<sid>&NumMedia=0`` and ``MessageSid=<sid>NumMedia0`` (NumMedia removed) carry the
same signature. On main the second request stored a second message. Now every kind whose
signature covers no timestamp gives the hub a replay key (the signature), kept in
``webhook_replay_keys`` with the journal write: a second request with it stores nothing.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import pytest

from channels.twilio import signature as tw_sig
from hub.models import InboundEvent, WebhookReplayKey
from tests.contract.examples import EXAMPLES
from tests.security.conftest import ALL_KINDS
from tests.security.test_webhook_auth import SIMULATED, adapter, post

TOKEN = EXAMPLES["twilio"]["auth_token"]
ACCOUNT = EXAMPLES["twilio"]["account_sid"]
URL = "http://hub.test/webhooks/twilio-a/sms"  # the hub's OMNIHUB_PUBLIC_URL + path


def _signed(pairs: list[tuple[str, str]]) -> tuple[dict, bytes]:
    body = urlencode(pairs).encode()
    return {"Content-Type": tw_sig.FORM, tw_sig.SIGNATURE_HEADER: tw_sig.sign(TOKEN, URL, pairs)}, body


def _sms(sid: str, text: str) -> list[tuple[str, str]]:
    return [("AccountSid", ACCOUNT), ("Body", text), ("From", "+14155550199"), ("MessageSid", sid),
            ("NumMedia", "0"), ("NumSegments", "1"), ("To", EXAMPLES["twilio"]["phone_numbers"])]


def pending(hub) -> int:
    return hub.count(InboundEvent, InboundEvent.state != "quarantined")


def test_parameter_boundary_shift_with_the_same_signature_stores_nothing(all_hub):
    sid = "SM" + secrets.token_hex(16)
    headers, body = _signed(_sms(sid, "first"))
    before = pending(all_hub)
    assert post(all_hub, "twilio-a", "sms", headers, body).status_code == 200
    assert pending(all_hub) == before + 1
    # the attacker's copy: NumMedia folded into MessageSid's value -> the same signed string
    shifted = [(k, v) for k, v in _sms(sid, "first") if k != "NumMedia"]
    shifted = [(k, v + "NumMedia0" if k == "MessageSid" else v) for k, v in shifted]
    assert tw_sig.sign(TOKEN, URL, shifted) == headers[tw_sig.SIGNATURE_HEADER]  # the premise of the attack
    resp = post(all_hub, "twilio-a", "sms", headers, urlencode(shifted).encode())
    assert resp.status_code in (200, 400, 403), resp.status_code
    assert pending(all_hub) == before + 1, "the shifted request stored a second message"
    # and a verbatim replay is a no-op 2xx
    assert post(all_hub, "twilio-a", "sms", headers, body).status_code == 200
    assert pending(all_hub) == before + 1


@pytest.mark.parametrize(
    "name, value",
    [("MessageSid", "SMforged"), ("MessageSid", "SM" + "0" * 32 + "NumMedia0"), ("MessageSid", "CA" + "0" * 32),
     ("AccountSid", "AC123"), ("MessageSid", "SM" + "g" * 32), ("MessageSid", "sm" + "0" * 32)],
)
def test_signed_request_with_a_malformed_sid_is_400_and_stores_no_message(all_hub, name, value):
    pairs = [(k, value if k == name else v) for k, v in _sms("SM" + secrets.token_hex(16), f"sid {name}")]
    headers, body = _signed(pairs)
    before = pending(all_hub)
    resp = post(all_hub, "twilio-a", "sms", headers, body)
    assert resp.status_code == 400, (resp.status_code, resp.get_data(as_text=True)[:200])
    assert "Traceback" not in resp.get_data(as_text=True)
    assert pending(all_hub) == before


# a shared token (Telegram) covers no content: nothing to key a replay on; its update ids dedupe
@pytest.mark.parametrize("kind", sorted(k for k in SIMULATED if not ALL_KINDS[k].signed_timestamp and not ALL_KINDS[k].token_auth))
def test_every_timestampless_signature_is_accepted_once(all_hub, kind):
    a = adapter(all_hub, f"{kind}-a")
    hook, headers, body = a.simulate("replay me", "+14155550177")
    before, keys = pending(all_hub), all_hub.count(WebhookReplayKey)
    assert post(all_hub, f"{kind}-a", hook, headers, body).status_code == 200
    assert pending(all_hub) == before + 1 and all_hub.count(WebhookReplayKey) == keys + 1
    for _ in range(2):
        assert post(all_hub, f"{kind}-a", hook, headers, body).status_code == 200
    assert pending(all_hub) == before + 1 and all_hub.count(WebhookReplayKey) == keys + 1


def test_replay_keys_are_claimed_once_under_concurrency_on_sqlite_and_postgresql(tmp_path, redis_url, db_url):
    """The same signed request posted from 8 threads at once (one group commit or several):
    exactly one event and one replay key, on both databases."""
    import threading

    from tests.support.hub import Hub

    h = Hub(tmp_path / "h", redis_url, database_url=db_url)
    try:
        h.add_connector("twilio-a", "twilio", **EXAMPLES["twilio"])
        headers, body = _signed(_sms("SM" + secrets.token_hex(16), "concurrent"))
        statuses: list[int] = []
        start = threading.Barrier(8)

        def send():
            client = h.app.test_client()
            start.wait()
            statuses.append(client.post("/webhooks/twilio-a/sms", data=body, headers=headers).status_code)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert statuses == [200] * 8
        assert h.count(InboundEvent) == 1 and h.count(WebhookReplayKey) == 1
        # a different request (another signature) is still accepted
        headers2, body2 = _signed(_sms("SM" + secrets.token_hex(16), "another"))
        assert h.client.post("/webhooks/twilio-a/sms", data=body2, headers=headers2).status_code == 200
        assert h.count(InboundEvent) == 2 and h.count(WebhookReplayKey) == 2
    finally:
        h.close()
