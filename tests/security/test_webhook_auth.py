"""Forged, replayed and wrong-URL signatures on EVERY webhook route -> 403, nothing stored.

The routes are enumerated from the registries (every hook of every registered channel and
helpdesk kind) and the app's url_map, so a new adapter or route cannot escape the suite.
"""

from __future__ import annotations

import json
import time

import pytest

import channels
from hub.models import InboundEvent
from tests.contract.examples import EXAMPLES
from tests.security.conftest import ALL_KINDS

HOOKED = sorted(k for k, c in ALL_KINDS.items() if c.hooks)
ROUTES = [(kind, hook) for kind in HOOKED for hook in ALL_KINDS[kind].hooks]
SIMULATED = sorted(k for k, c in channels.REGISTRY.items() if c.hooks and c.simulate is not channels.base.ChannelAdapter.simulate)

# Kinds whose provider signature carries no timestamp, so "replay protection" is the
# idempotency key (a replayed request is stored once), not a time window. Every other
# simulatable kind must refuse a request signed 10 minutes ago. A new kind must be listed
# here with the reason, or refuse stale requests.
NO_REPLAY_WINDOW = {
    "twilio": "X-Twilio-Signature covers URL + params, no timestamp; MessageSid dedupes replays",
    "x": "x-twitter-webhooks-signature covers the body only; event ids dedupe replays",
    "telegram": "X-Telegram-Bot-Api-Secret-Token covers no content; update ids dedupe replays",
    "whatsapp": "X-Hub-Signature-256 covers the body only; Meta retries for 7 days; wamids dedupe replays",
    "messenger": "X-Hub-Signature-256 covers the body only; Meta retries for 7 days; message ids (mid) dedupe replays",
    "instagram": "X-Hub-Signature-256 covers the body only; Meta retries for 7 days; message ids (mid) dedupe replays",
}
WEBHOOK_RULES = {"/webhooks/<name>/<hook>"}


def events(hub) -> int:
    return hub.count(InboundEvent)


def adapter(hub, name: str):
    svc = hub.app.extensions["omnihub.connectors"]
    with hub.rt.db.read() as s:
        return svc.adapter(svc.get(s, name))


def post(hub, name: str, hook: str, headers: dict, body: bytes, query: str = ""):
    hub.app.extensions.get("omnihub.webhook_cache", {}).clear()
    return hub.client.post(f"/webhooks/{name}/{hook}{query}", data=body, headers=headers)


def test_every_webhook_route_in_the_url_map_is_covered(all_hub):
    rules = {r.rule for r in all_hub.app.url_map.iter_rules() if r.rule.startswith("/webhooks") or r.endpoint.startswith("webhooks.")}
    assert rules == WEBHOOK_RULES, f"new webhook routes {rules - WEBHOOK_RULES}: cover them in tests/security"
    assert ROUTES, "no webhook hooks registered?"
    for kind in SIMULATED:
        assert kind in NO_REPLAY_WINDOW or kind in _windowed(), kind


def test_public_widget_endpoints_refuse_connectors_without_the_widget_and_foreign_origins(all_hub):
    """The web chat widget is the one unsigned inbound route (a visitor has no secret): it is
    served only where a connector enables it, and only to the allowed origins."""
    rules = {r.rule for r in all_hub.app.url_map.iter_rules() if r.rule.startswith("/widget/")}
    if not rules:
        pytest.skip("no web chat widget in this build")
    before = events(all_hub)
    body = json.dumps({"visitor": "v" * 32, "text": "hi"}).encode()
    for name in ("api-a", "twilio-a", "no-such-connector"):  # no `widget: true`
        resp = all_hub.client.post(f"/widget/{name}/messages", data=body, headers={"Content-Type": "application/json", "Origin": "http://hub.test"})
        assert resp.status_code == 404, (name, resp.status_code)
    all_hub.add_connector("chat", "api", secret="w-secret", widget=True, widget_origins=["https://shop.example"])
    all_hub.app.extensions.get("omnihub.webhook_cache", {}).clear()
    for origin in (None, "https://evil.example", "https://shop.example.evil.test", "null"):
        headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
        resp = all_hub.client.post("/widget/chat/messages", data=body, headers=headers)
        assert resp.status_code == 403, (origin, resp.status_code)
    assert events(all_hub) == before
    ok = all_hub.client.post("/widget/chat/messages", data=body, headers={"Content-Type": "application/json", "Origin": "https://shop.example"})
    assert ok.status_code in (200, 201, 202) and events(all_hub) == before + 1


def _windowed():
    return [k for k in SIMULATED if k not in NO_REPLAY_WINDOW]


@pytest.mark.parametrize("kind, hook", ROUTES)
@pytest.mark.parametrize(
    "body, headers",
    [
        (b'{"forged": true}', {"Content-Type": "application/json"}),
        (b"From=%2B15550001111&Body=hi&MessageSid=SMforged", {"Content-Type": "application/x-www-form-urlencoded"}),
        (
            b'{"id": "forged"}',
            {
                "Content-Type": "application/json",
                "X-Omnihub-Timestamp": str(int(time.time())),
                "X-Omnihub-Signature": "sha256=" + "0" * 64,
                "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
                "X-Slack-Signature": "v0=" + "0" * 64,
                "X-Slack-Request-Timestamp": str(int(time.time())),
                "X-Twitter-Webhooks-Signature": "sha256=bm90IGEgc2lnbmF0dXJl",
                "Authorization": "Bearer forged",
            },
        ),
    ],
    ids=["unsigned-json", "unsigned-form", "garbage-signatures"],
)
def test_unsigned_or_garbage_signed_request_is_403_and_stores_nothing(all_hub, kind, hook, body, headers):
    before = events(all_hub)
    for name in (f"{kind}-a", f"{kind}-b"):
        if name.endswith("-b") and not ALL_KINDS[kind].Config.secret_fields():
            continue
        resp = post(all_hub, name, hook, headers, body)
        refused = getattr(ALL_KINDS[kind], "refused_status", 403)  # Discord's interactions contract: 401
        assert resp.status_code == refused, (name, hook, resp.status_code, resp.get_data(as_text=True)[:200])
        assert "Traceback" not in resp.get_data(as_text=True)
        if hook in ALL_KINDS[kind].get_hooks:
            # A GET challenge (X's CRC) is unsigned by the provider's design: it stores nothing and
            # answers only an HMAC of the token, never the secret itself.
            got = all_hub.client.get(f"/webhooks/{name}/{hook}?crc_token=abc", headers=headers)
            assert got.status_code in (200, 403), (name, hook, "GET", got.status_code)
            for secret in ALL_KINDS[kind].Config.secret_fields():
                value = str(EXAMPLES[kind].get(secret) or "\x00")
                assert value not in got.get_data(as_text=True)
    assert events(all_hub) == before


@pytest.mark.parametrize("kind", SIMULATED)
def test_simulated_request_is_accepted_then_every_tampering_is_refused(all_hub, kind):
    a = adapter(all_hub, f"{kind}-a")
    hook, headers, body = a.simulate("security suite hello", "+14155550123")
    # a genuine request is accepted (the test would prove nothing otherwise) ...
    before = events(all_hub)
    assert post(all_hub, f"{kind}-a", hook, headers, body).status_code == 200
    assert events(all_hub) == before + 1
    # ... replayed verbatim it is stored once
    assert post(all_hub, f"{kind}-a", hook, headers, body).status_code in (200, 403)
    assert events(all_hub) == before + 1
    base = events(all_hub)
    cases = {
        "tampered-body": (f"{kind}-a", hook, headers, body.replace(b"hello", b"HELLO"), ""),
        "appended-field": (f"{kind}-a", hook, headers, body + b"&Injected=1" if b"=" in body and not body.startswith(b"{") else body + b" ", ""),
        "other-connector": (f"{kind}-b", hook, headers, body, ""),
    }
    for other in ALL_KINDS[kind].hooks:
        if other != hook:
            cases[f"wrong-hook-{other}"] = (f"{kind}-a", other, headers, body, "")
    for case, (name, h, hdrs, b, q) in cases.items():
        resp = post(all_hub, name, h, hdrs, b, q)
        if ALL_KINDS[kind].token_auth and case in ("tampered-body", "appended-field"):
            # a shared token (Telegram's) covers no content: the unchanged update id dedupes it
            assert resp.status_code in (200, 403), (kind, case, resp.status_code)
            continue
        assert resp.status_code == 403, (kind, case, resp.status_code, resp.get_data(as_text=True)[:200])
    assert events(all_hub) == base


# Kinds whose signature covers the URL (a request signed for another URL must be refused);
# the others sign the body (+ timestamp) only, and are bound to a connector by its secret.
URL_SIGNED = {"twilio"}


@pytest.mark.parametrize("kind", SIMULATED)
def test_request_signed_for_another_public_url_is_refused_when_the_url_is_signed(all_hub, kind):
    """Wrong-URL: a request signed for https://attacker.example/... replayed to our URL."""
    import dataclasses

    a = adapter(all_hub, f"{kind}-a")
    elsewhere = type(a)(dataclasses.replace(a.ctx, public_url="https://attacker.example"))
    hook, headers, body = elsewhere.simulate("wrong url", "+14155550124")
    before = events(all_hub)
    resp = post(all_hub, f"{kind}-a", hook, headers, body)
    if kind in URL_SIGNED:
        assert resp.status_code == 403, resp.get_data(as_text=True)
        assert events(all_hub) == before
    else:
        assert resp.status_code == 200  # body-only signature; still refused by -b (other secret)
        hook, headers, body = elsewhere.simulate("wrong url 2", "+14155550126")
        assert post(all_hub, f"{kind}-b", hook, headers, body).status_code == 403


@pytest.mark.parametrize("kind", SIMULATED)
def test_request_signed_ten_minutes_ago_is_refused_or_deduplicated(all_hub, kind, monkeypatch):
    live = adapter(all_hub, f"{kind}-a")
    a = type(live)(live.ctx)  # a separate instance: its clock is moved back, the hub's is not
    past = time.time() - 600
    monkeypatch.setattr(time, "time", lambda: past)
    clock = getattr(a, "clock", None)
    if clock is not None and hasattr(clock, "now"):  # slack_sdk's Clock
        a.clock = type("PastClock", (), {"now": staticmethod(lambda: past)})()
    elif callable(clock):  # a bound time.time (X)
        a.clock = lambda: past
    hook, headers, body = a.simulate("stale hello", "+14155550125")
    monkeypatch.undo()
    before = events(all_hub)
    resp = post(all_hub, f"{kind}-a", hook, headers, body)
    if kind in NO_REPLAY_WINDOW:
        assert resp.status_code == 200
        assert post(all_hub, f"{kind}-a", hook, headers, body).status_code == 200
        assert events(all_hub) == before + 1  # replays are one event
    else:
        assert resp.status_code == 403, resp.get_data(as_text=True)
        assert events(all_hub) == before
