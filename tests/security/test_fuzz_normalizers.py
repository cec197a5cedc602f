"""Hypothesis fuzzing of every normalizer: any input raises only PayloadInvalid or returns
valid messages. Reached through each registered channel adapter's ``normalize`` (which
delegates to ``normalizers/<kind>.normalize``), seeded with the adapter's own simulated
request so the mutations reach deep into the real payload shape."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import channels
import normalizers
from hub.errors import PayloadInvalid
from hub.types import CaseInsensitiveDict, ConnectorContext, RawEvent, WebhookRequest
from normalizers import pipeline
from normalizers.model import NormalizedMessage
from tests.contract.examples import EXAMPLES

KINDS = sorted(channels.REGISTRY)
SIMULATED = [k for k in KINDS if channels.REGISTRY[k].simulate is not channels.base.ChannelAdapter.simulate]

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "1e309", "2026-13-45T25:61:00Z", "+0", "whatsapp:", "\x00", "<script>", "a" * 5000]),
)
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=12), c, max_size=4)), max_leaves=12)


_PROVIDER = None


def provider_url() -> str:
    """A local stand-in for a provider API that an adapter's normalize may consult (Slack's
    users.info): it answers every call with a fast, documented "not found"."""
    global _PROVIDER
    if _PROVIDER is None:
        from tests.support.components import quick_httpserver

        _PROVIDER = quick_httpserver(host="127.0.0.1", port=0)
        _PROVIDER.expect_request(re.compile(".*")).respond_with_json({"ok": False, "error": "user_not_found"})
        _PROVIDER.start()
    return _PROVIDER.url_for("/")


def make(kind: str):
    cls = channels.REGISTRY[kind]
    values = dict(EXAMPLES[kind])
    if "api_base_url" in cls.Config.model_fields:
        values["api_base_url"] = provider_url() + ("api/" if str(values.get("api_base_url", "")).endswith("/api/") else "")
    ctx = ConnectorContext(name=f"fuzz-{kind}", kind=kind, config=cls.Config(**values), public_url="https://hub.example.com")
    return cls(ctx)


_SEEDS: dict[str, list[RawEvent]] = {}


def seed_events(kind: str) -> list[RawEvent]:
    if kind not in _SEEDS:
        _SEEDS[kind] = _seed_events(kind)
    return _SEEDS[kind]


def _seed_events(kind: str) -> list[RawEvent]:
    a = make(kind)
    if kind not in SIMULATED:
        return []
    hook, headers, body = a.simulate("fuzz seed text", "+14155550199")
    ctype = headers.get("Content-Type", "")
    form = tuple(parse_qsl(body.decode())) if "x-www-form-urlencoded" in ctype else ()
    req = WebhookRequest(method="POST", url=a.ctx.webhook_url(hook), path=f"/webhooks/{a.ctx.name}/{hook}",
                         headers=CaseInsensitiveDict(headers), body=body, form=form)
    return a.parse(hook, req)


def mutate_json(data, draw):
    """Replace, drop or retype one node anywhere in a JSON document."""
    if isinstance(data, dict) and data:
        key = draw(st.sampled_from(sorted(data)))
        action = draw(st.sampled_from(["drop", "replace", "recurse", "recurse"]))
        out = dict(data)
        if action == "drop":
            out.pop(key)
        elif action == "replace":
            out[key] = draw(json_value)
        else:
            out[key] = mutate_json(data[key], draw)
        return out
    if isinstance(data, list) and data:
        i = draw(st.integers(0, len(data) - 1))
        out = list(data)
        out[i] = mutate_json(data[i], draw) if draw(st.booleans()) else draw(json_value)
        return out
    return draw(json_value)


@st.composite
def mutated_event(draw, kind: str):
    seeds = seed_events(kind)
    hooks = list(channels.REGISTRY[kind].hooks) or ["messages"]
    if not seeds or draw(st.integers(0, 9)) == 0:
        payload = draw(st.binary(max_size=300))
        return RawEvent(external_id="fuzz-1", hook=draw(st.sampled_from(hooks)), payload=payload,
                        content_type=draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded"])))
    ev = draw(st.sampled_from(seeds))
    hook = draw(st.sampled_from([ev.hook, *hooks]))
    try:
        doc = json.loads(ev.payload)
    except ValueError:
        doc = None
    if doc is not None:
        for _ in range(draw(st.integers(1, 3))):
            doc = mutate_json(doc, draw)
        payload = json.dumps(doc).encode()
    else:
        pairs = parse_qsl(ev.payload.decode(), keep_blank_values=True)
        for _ in range(draw(st.integers(1, 3))):
            if pairs and draw(st.booleans()):
                i = draw(st.integers(0, len(pairs) - 1))
                if draw(st.booleans()):
                    pairs.pop(i)
                else:
                    pairs[i] = (pairs[i][0], draw(st.one_of(st.text(max_size=30), st.sampled_from(["", "abc", "-5", "99999999999999999999", "whatsapp:+1", "+999"]))))
            else:
                pairs.append((draw(st.sampled_from(["NumMedia", "MediaUrl0", "MediaContentType0", "Latitude", "RecordingDuration", "CallStatus", "ErrorCode", "OptOutType", "ButtonText"])), draw(st.text(max_size=20))))
        payload = urlencode(pairs).encode()
    return RawEvent(external_id=ev.external_id, hook=hook, payload=payload, content_type=ev.content_type, meta=dict(ev.meta))


def check(adapter, ev: RawEvent) -> None:
    try:
        msgs = adapter.normalize(ev)
    except PayloadInvalid:
        return
    assert isinstance(msgs, list)
    for m in msgs:
        assert isinstance(m, NormalizedMessage)
        assert m.external_id and m.sent_at.tzinfo is not None
        assert m.connector == adapter.ctx.name
        assert isinstance(m.text, str) and isinstance(m.extra, dict)
        json.dumps(m.to_dict())  # storable as JSON
        NormalizedMessage.from_dict(json.loads(json.dumps(m.to_dict(with_content=True))))
        pipeline.run(m)  # the pipeline accepts whatever a normalizer returns


def test_every_normalizer_module_belongs_to_a_registered_channel():
    mods = [m.name for m in pkgutil.iter_modules(normalizers.__path__)]
    with_normalize = [m for m in mods if hasattr(importlib.import_module(f"normalizers.{m}"), "normalize") and m not in ("pipeline", "model")]
    assert with_normalize, "no normalizers found"
    missing = [m for m in with_normalize if m not in channels.REGISTRY]
    assert not missing, f"normalizers without a registered channel (not fuzzed): {missing}"


@pytest.mark.parametrize("kind", KINDS)
def test_normalizer_survives_fuzzing(kind):
    adapter = make(kind)
    seed_events(kind)
    for ev in seed_events(kind):  # the unmutated seed normalizes to valid messages
        assert adapter.normalize(ev)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mutated_event(kind))
    def run(ev):
        check(adapter, ev)

    run()
