"""#14 item 8: a signed timestamp that does not parse never skips the replay window.

Every kind whose signature covers a timestamp is driven through the hub's real webhook route
with requests correctly signed over a malformed timestamp (``nan``, ``inf``, text, signs,
huge numbers, ...): each must be a 403 that stores nothing. The table of signers below must
cover every registered kind that declares a replay window (``signed_timestamp``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from hub import signing
from hub.errors import SignatureInvalid
from hub.models import InboundEvent
from tests.contract.examples import EXAMPLES
from tests.security.conftest import ALL_KINDS

BAD = [
    "nan", "NaN", "inf", "-inf", "infinity", "text", "1e10", "1.7e9", "-1700000000", "+{now}", " {now}", "{now} ",
    "{now}.5", "1_700_000_000", "0x65", "\u0661\u0667\u0660\u0660", "9" * 400, "99999999999999999999", "2026-13-45T99:99:99Z",
    "{iso}extra", "null",
]


def _slack(body: bytes, ts: str) -> dict:
    secret = EXAMPLES["slack"]["signing_secret"]
    mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"}


def _omnihub(secret: str):
    def sign(body: bytes, ts: str) -> dict:
        mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json", signing.TIMESTAMP_HEADER: ts, signing.SIGNATURE_HEADER: f"sha256={mac}"}
    return sign


def _zendesk(body: bytes, ts: str) -> dict:
    mac = hmac.new(EXAMPLES["zendesk"]["webhook_secret"].encode(), ts.encode() + body, hashlib.sha256).digest()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": ts}


def _discord(body: bytes, ts: str) -> dict:
    from tests.contract.examples import DISCORD_SIGNING_KEY

    return {"Content-Type": "application/json", "X-Signature-Timestamp": ts,
            "X-Signature-Ed25519": DISCORD_SIGNING_KEY.sign(ts.encode() + body).hex()}


def _body(kind: str, n: int) -> bytes:
    if kind == "slack":
        return json.dumps({"type": "event_callback", "event_id": f"Ev{n}", "team_id": "T1",
                           "event": {"type": "message", "channel": "C1", "user": "U1", "text": "pay here", "ts": "1.2"}}).encode()
    if kind == "api":
        return json.dumps({"id": f"ts-{n}", "from": {"id": "c1"}, "text": "pay here"}).encode()
    if kind == "discord":
        return json.dumps({"id": f"1{n:018d}", "type": 2, "token": "t", "version": 1, "guild_id": "1098765432109876543",
                           "channel_id": "1123456789012345678", "data": {"name": "support", "type": 1},
                           "member": {"user": {"id": "1200000000000000501", "username": "pay_here"}}}).encode()
    if kind == "webhook":
        return json.dumps({"id": f"ts-{n}", "ticket_ref": "conversation-1", "text": "pay here"}).encode()
    return json.dumps({"type": "zen:event-type:ticket.comment_added", "id": f"evt-{n}", "subject": "zen:ticket:1",
                       "detail": {"id": "1"}, "event": {"comment": {"id": str(n), "body": "pay here",
                                                                    "author": {"is_staff": True}}}}).encode()


SIGNERS = {
    "slack": ("events", _slack),
    "api": ("messages", _omnihub(EXAMPLES["api"]["secret"])),
    "webhook": ("agent-reply", _omnihub(EXAMPLES["webhook"]["secret"])),
    "zendesk": ("agent-reply", _zendesk),
    "discord": ("interactions", _discord),
}


def test_every_kind_with_a_signed_timestamp_is_covered():
    declared = {k for k, c in ALL_KINDS.items() if getattr(c, "signed_timestamp", False)}
    assert declared == set(SIGNERS), f"kinds with a replay window: {declared}; covered here: {set(SIGNERS)}"


@pytest.mark.parametrize("kind", sorted(SIGNERS))
def test_malformed_signed_timestamp_is_403_and_stores_nothing(all_hub, kind):
    hook, sign = SIGNERS[kind]
    now = int(time.time())
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    # control: a well-formed current timestamp is accepted (the test would prove nothing otherwise)
    good = _body(kind, 0)
    all_hub.app.extensions.get("omnihub.webhook_cache", {}).clear()
    ok = all_hub.client.post(f"/webhooks/{kind}-a/{hook}", data=good, headers=sign(good, str(now) if kind != "zendesk" else iso))
    assert ok.status_code == 200, ok.get_data(as_text=True)
    before = all_hub.count(InboundEvent)
    for n, bad in enumerate(BAD, start=1):
        ts = bad.format(now=now, iso=iso)
        body = _body(kind, n)
        resp = all_hub.client.post(f"/webhooks/{kind}-a/{hook}", data=body, headers=sign(body, ts))
        refused = getattr(ALL_KINDS[kind], "refused_status", 403)  # Discord's contract: 401
        assert resp.status_code == refused, (kind, ts[:40], resp.status_code, resp.get_data(as_text=True)[:200])
    assert all_hub.count(InboundEvent) == before


@pytest.mark.parametrize("template", [*BAD, "", None])  # formatted in the test: ids stay stable (parallel runs)
def test_shared_parser_refuses_anything_but_plain_unix_seconds_or_iso(template):
    raw = template.format(now=int(time.time()), iso="2026-01-01T00:00:00Z") if template else template
    with pytest.raises(SignatureInvalid):
        signing.signed_timestamp(raw, now=time.time(), window=3600, header="X-T", who="t", iso=True)


def test_shared_parser_accepts_unix_seconds_and_iso_within_the_window():
    now = time.time()
    assert signing.signed_timestamp(str(int(now)), now=now, window=300, header="X-T", who="t") == int(now)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    assert abs(signing.signed_timestamp(iso, now=now, window=300, header="X-T", who="t", iso=True) - now) < 2
    with pytest.raises(SignatureInvalid):
        signing.signed_timestamp(iso, now=now, window=300, header="X-T", who="t")  # iso not allowed here
    with pytest.raises(SignatureInvalid):
        signing.signed_timestamp(str(int(now) - 301), now=now, window=300, header="X-T", who="t")
