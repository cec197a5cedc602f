"""One contract test parametrized over every registered adapter (STYLE.md)."""

from __future__ import annotations

import dataclasses

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
    if adapter.token_auth:
        # a shared token covers no content: without the token's header the request is refused
        with pytest.raises(SignatureInvalid):
            adapter.verify(hook, request_for(adapter, hook, {"Content-Type": "application/json"}, body))
    else:
        # tampering with the body breaks the signature
        with pytest.raises(SignatureInvalid):
            adapter.verify(hook, request_for(adapter, hook, headers, body + b" "))


# --- challenge oracles (#14 item 1) ---------------------------------------------------------
def _answer_strings(resp) -> set[str]:
    """Every string an attacker could lift from a challenge answer (body values and headers),
    with common re-encodings (prefix stripped, base64 <-> hex)."""
    import base64
    import binascii
    import json as _json

    body = resp.body if isinstance(resp.body, (bytes, bytearray)) else str(resp.body).encode()
    found: set[str] = {body.decode("latin-1")}

    def walk(v):
        if isinstance(v, str):
            found.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    try:
        walk(_json.loads(body))
    except ValueError:
        pass
    found.update(str(v) for v in (resp.headers or {}).values())
    for s in list(found):
        bare = s.split("=", 1)[1] if "=" in s[:8] else s  # "sha256=…", "v0=…"
        found.add(bare)
        try:
            raw = base64.b64decode(bare, validate=True)
            found.update({raw.hex(), "sha256=" + raw.hex(), "v0=" + raw.hex(), "sha1=" + raw.hex()})
        except (binascii.Error, ValueError):
            pass
    return {s for s in found if s}


CHALLENGED = sorted(k for k in ALL if ALL[k].get_hooks)


@pytest.mark.parametrize("kind", CHALLENGED)
def test_a_challenge_answer_never_verifies_as_a_delivery_signature(kind):
    """No unauthenticated request makes the adapter MAC attacker-chosen bytes that would then
    verify as a delivery: for every GET/challenge hook, feed the challenge a genuine delivery
    body (and a benign token) and try every string of the answer as every header of a POST."""
    adapter = make(kind)
    cls = type(adapter)
    assert cls.challenge_params, f"{kind}: a GET hook must declare its challenge_params"
    assert cls.simulate is not channels.base.ChannelAdapter.simulate, f"{kind}: a GET hook needs simulate() for this check"
    _hook, sim_headers, sim_body = adapter.simulate("challenge oracle", "customer-1")
    bodies = [sim_body, b'{"forged":true}', b"crc", b"abc123"]
    for hook in cls.get_hooks:
        for param in cls.challenge_params:
            for payload in bodies:
                from urllib.parse import urlencode

                base = request_for(adapter, hook, {}, b"", method="GET")
                query = urlencode({param: payload.decode()})
                get = dataclasses.replace(base, url=f"{base.url}?{query}", args=((param, payload.decode()),))
                try:
                    adapter.verify(hook, get)
                except SignatureInvalid:
                    answer = adapter.ack(hook, get, [])
                    assert answer.status >= 400, f"{kind}: a refused challenge must not be answered"
                    continue
                answer = adapter.ack(hook, get, [])
                for value in _answer_strings(answer):
                    for name in sim_headers:
                        if name.lower() == "content-type":
                            continue
                        forged = {**sim_headers, name: value}
                        with pytest.raises(SignatureInvalid):
                            adapter.verify(hook, request_for(adapter, hook, forged, payload))


HOOKED = sorted(k for k in ALL if ALL[k].hooks)


@pytest.mark.parametrize("kind", HOOKED)
def test_every_webhook_declares_its_replay_protection(kind):
    """A signed timestamp (replay window), a replay key (the signature, when it covers no
    timestamp), or a bare shared token: exactly one, declared as data (#14 items 7, 8)."""
    cls = ALL[kind]
    keyed = any("replay_key" in vars(c) for c in cls.__mro__[:-1] if c.__module__.split(".")[0] in ("channels", "outbound") and c.__name__ not in ("ChannelAdapter", "HelpdeskBackend"))
    assert [bool(cls.signed_timestamp), keyed, bool(cls.token_auth)].count(True) == 1, (
        f"{kind}: declare signed_timestamp, implement replay_key() or declare token_auth"
    )
    if keyed and kind in _simulatable():
        adapter = make(kind)
        hook, headers, body = adapter.simulate("replay", "customer-1")
        assert adapter.replay_key(hook, request_for(adapter, hook, headers, body))


# ------------------------------------------------------------------ the contract in code
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

from channels.base import ChannelAdapter  # noqa: E402
from outbound.base import HelpdeskBackend  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORE = ("hub", "workers")
#: expressions that hold a NormalizedMessage or a Participant in the core
MESSAGE_NAMES = {"msg", "message", "normalized", "ev.normalized", "p", "participant", "sender", "msg.sender"}


def _core_files():
    for pkg in CORE:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text())


def test_the_core_never_reads_a_key_of_a_message_extra():
    """``NormalizedMessage.extra`` / ``Participant.extra`` are adapter-private: the core may
    store them whole but reads only typed fields."""
    offenders = []
    for path, tree in _core_files():
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "extra":
                target = node.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop", "setdefault")
                  and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "extra"):
                target = node.func.value
            elif isinstance(node, ast.BoolOp):  # (msg.extra or {}).get(...)
                continue
            if target is not None and ast.unparse(target.value) in MESSAGE_NAMES:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and isinstance(node.func.value, ast.BoolOp) and any(
                        isinstance(v, ast.Attribute) and v.attr == "extra" and ast.unparse(v.value) in MESSAGE_NAMES
                        for v in node.func.value.values)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert offenders == []


DECLARED = set(dir(ChannelAdapter)) | set(dir(HelpdeskBackend))


def _adapter_exprs(node: ast.AST) -> bool:
    """An expression that is an adapter instance or class in the core's vocabulary."""
    text = ast.unparse(node)
    calls = ("adapter_class(", "svc.adapter(", "_svc().adapter(", "service(rt).adapter(")
    return text in ("adapter", "backend", "helpdesk_adapter") or (
        isinstance(node, ast.Call) and text.startswith(calls))


def test_the_core_uses_only_declared_adapter_attributes():
    """What the core asks of an adapter is declared, with a default, on the base classes."""
    used = set()
    for path, tree in _core_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _adapter_exprs(node.value):
                used.add((node.attr, f"{path.relative_to(ROOT)}:{node.lineno}"))
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and len(node.args) >= 2 and _adapter_exprs(node.args[0]) and isinstance(node.args[1], ast.Constant)):
                used.add((node.args[1].value, f"{path.relative_to(ROOT)}:{node.lineno}"))
    assert used, "the scan found no adapter use at all: its vocabulary is out of date"
    undeclared = sorted(f"{where}: {attr}" for attr, where in used if attr not in DECLARED and attr not in ("config", "ctx", "log"))
    assert undeclared == []


@pytest.mark.parametrize("kind", sorted(set(channels.REGISTRY) | set(outbound.REGISTRY)))
def test_registered_adapter_satisfies_its_base_class(kind):
    cls = channels.REGISTRY.get(kind) or outbound.REGISTRY[kind]
    base = ChannelAdapter if kind in channels.REGISTRY else HelpdeskBackend
    assert issubclass(cls, base) and cls.kind == kind and cls.title
    # capabilities keep the declared type (a flag stays a bool, a limit an int or None)
    for name, default in vars(base).items():
        if name.startswith("_") or callable(default) or isinstance(default, (classmethod, staticmethod, property)):
            continue
        value = getattr(cls, name)
        if isinstance(default, bool):
            assert isinstance(value, bool), f"{kind}.{name} must be a bool"
        elif isinstance(default, tuple):
            assert isinstance(value, tuple), f"{kind}.{name} must be a tuple"
    # a capability flag promises its method
    if getattr(cls, "supports_backfill", False):
        assert cls.backfill is not ChannelAdapter.backfill
    if base is HelpdeskBackend and cls.polls:
        assert cls.poll_once is not HelpdeskBackend.poll_once


# ------------------------------------------------------------ keys as admins read them
GENERATED_LOOKING = ("Api ", "Url", "Sid", "Faq", "Imap", "Smtp", "Oauth", " Id", "Mb", "Rt ", "Ig ", "Waba")


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_key_has_a_human_label_help_and_a_section(kind):
    """The admin form and the documentation read these from the schema: a key without its own
    title would show a generated "Api Base Url" again."""
    from hub.types import SECTIONS

    cls = ALL[kind].Config
    schema = cls.model_json_schema()
    for name, info in cls.model_fields.items():
        assert info.title, f"{kind}.{name}: declare it with hub.types.setting(title=...)"
        assert info.description and len(info.description) >= 12, f"{kind}.{name}: help text missing"
        assert not any(bit in info.title for bit in GENERATED_LOOKING), f"{kind}.{name}: {info.title!r} reads generated"
        prop = schema["properties"][name]
        assert prop.get("section", "behaviour") in SECTIONS, f"{kind}.{name}: unknown section {prop.get('section')!r}"
        if "examples" in prop:
            cls_example = prop["examples"][0]
            assert cls_example not in (None, ""), f"{kind}.{name}: empty example"
