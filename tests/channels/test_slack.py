"""channels/slack: signature checks, Events API parse/ack, and slack_sdk's WebClient against a
local server that checks the Web API contract (tests/support/slack_api.py)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC

import pytest
from pydantic import ValidationError

from channels import REGISTRY
from channels.slack import SlackChannel, SlackConfig
from channels.slack.web import escape_mrkdwn, sign, split_text, split_thread_key
from hub.errors import (
    AuthError,
    PayloadInvalid,
    PermanentDeliveryError,
    RetriableDeliveryError,
    SignatureInvalid,
)
from hub.net import TooLarge
from hub.types import (
    BlobRef,
    CaseInsensitiveDict,
    ConnectorContext,
    MemoryState,
    OutboundReply,
    WebhookRequest,
)
from normalizers.model import Attachment, Participant
from tests.support.corpus import CORPUS
from tests.support.slack_api import SlackApi, golden

SIGNING = json.loads((CORPUS / "slack" / "slack_request_signing_example.json").read_text())
EVENTS = CORPUS / "slack" / "slack-web-haskell" / "tests" / "golden" / "SlackWebhookEvent"
CHALLENGE = CORPUS / "slack" / "slack-python-slack-events-api" / "tests" / "data" / "url_challenge.json"
SECRET = "test-signing-secret"


class FixedClock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


OFFLINE = "http://127.0.0.1:9/api/"  # nothing listens: a stray Web API call fails fast, never leaves the machine


def make(config: dict | None = None, *, clock=None, state=None) -> SlackChannel:
    cfg = SlackConfig(**{"bot_token": "xoxb-test-token", "signing_secret": SECRET, "api_base_url": OFFLINE, **(config or {})})
    ctx = ConnectorContext(name="acme-slack", kind="slack", config=cfg, state=state if state is not None else MemoryState())
    return SlackChannel(ctx, clock=clock)


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url="https://hub.example/webhooks/acme-slack/events", path="/webhooks/acme-slack/events",
        headers=CaseInsensitiveDict(headers), body=body,
    )


@pytest.fixture
def api(httpserver):
    api = SlackApi(httpserver)
    yield api
    assert api.violations == []


@pytest.fixture
def adapter(api):
    return make({"api_base_url": api.base_url})


def reply(thread_key: str, text: str = "Hello from support", **kw) -> OutboundReply:
    return OutboundReply(
        id=7, conversation_id=3, connector="acme-slack", to=Participant("slack", "U043H11ES4V"),
        thread_key=thread_key, text=text, **kw,
    )


# --- registry and config -----------------------------------------------------------------


def test_registered_with_capabilities():
    assert REGISTRY["slack"] is SlackChannel
    assert SlackChannel.hooks == ("events",)
    assert SlackConfig.secret_fields() == {"bot_token", "signing_secret", "app_token"}
    # threads reopen; DMs split after resolution or a day of silence
    from datetime import datetime

    from hub.types import ConnectorContext
    from normalizers.model import NormalizedMessage, Participant

    adapter = SlackChannel(ConnectorContext("s", "slack", SlackConfig(bot_token="xoxb-1", signing_secret="s")))

    def msg(**extra):
        return NormalizedMessage(medium="slack", connector="s", external_id="x", thread_key="k",
                                 sender=Participant("slack", "U1"), sent_at=datetime.now(UTC), extra=extra)

    assert adapter.thread_policy(msg(channel="C1", channel_type="channel")) == (True, None)
    dm_reopen, dm_gap = adapter.thread_policy(msg(channel="D1", channel_type="im"))
    assert dm_reopen is False and dm_gap.total_seconds() == 86400
    assert adapter.thread_policy(msg(channel="D2"))[0] is False


def test_config_keys_and_validation():
    cfg = SlackConfig(bot_token="xoxb-1", signing_secret="s", channels="C012AB3CD, Shared,dm")
    assert cfg.channels == ("C012AB3CD", "shared", "dm")
    with pytest.raises(ValidationError, match="unknown channels entry '#support'"):
        SlackConfig(bot_token="xoxb-1", channels=["#support"])
    assert "xoxb-1" not in repr(cfg)
    with pytest.raises(ValidationError, match="xoxb"):
        SlackConfig(bot_token="xoxp-user-token", signing_secret="s")
    with pytest.raises(ValidationError, match="xapp"):
        SlackConfig(bot_token="xoxb-1", app_token="xoxb-2")
    with pytest.raises(ValidationError, match="unknown channels entry 'general'"):
        SlackConfig(bot_token="xoxb-1", channels=["general"])
    with pytest.raises(ValidationError):
        SlackConfig(bot_token="xoxb-1", webhook_url="x")  # extra keys refused
    assert make().polls is False and make({"app_token": "xapp-1"}).polls is True


# --- verify ------------------------------------------------------------------------------


def published(clock_offset: int = 0, body: str | None = None) -> tuple[SlackChannel, WebhookRequest]:
    a = make({"signing_secret": SIGNING["signing_secret"]}, clock=FixedClock(SIGNING["clock_now_for_valid_test"] + clock_offset))
    return a, request((body or SIGNING["raw_body"]).encode(), SIGNING["headers"])


def test_published_signing_vector_passes():
    a, req = published()
    a.verify("events", req)


def test_published_vector_within_window_passes():
    a, req = published(clock_offset=299)
    a.verify("events", req)


def test_tampered_body_refused():
    a, req = published(body=SIGNING["negative_cases"]["body_plus_dashes"]["raw_body"])
    with pytest.raises(SignatureInvalid, match="does not match"):
        a.verify("events", req)


def test_stale_request_refused():
    a, req = published(clock_offset=301)
    with pytest.raises(SignatureInvalid, match="stale"):
        a.verify("events", req)
    a = make({"signing_secret": SIGNING["signing_secret"]})  # the real clock: years later
    with pytest.raises(SignatureInvalid, match="stale"):
        a.verify("events", request(SIGNING["raw_body"].encode(), SIGNING["headers"]))


def test_future_timestamp_refused():
    a, req = published(clock_offset=-400)
    with pytest.raises(SignatureInvalid):
        a.verify("events", req)


@pytest.mark.parametrize("drop", ["X-Slack-Signature", "X-Slack-Request-Timestamp"])
def test_missing_headers_refused(drop):
    a, _ = published()
    headers = {k: v for k, v in SIGNING["headers"].items() if k != drop}
    with pytest.raises(SignatureInvalid):
        a.verify("events", request(SIGNING["raw_body"].encode(), headers))


def test_no_signing_secret_fails_closed():
    a = make({"signing_secret": None}, clock=FixedClock(SIGNING["clock_now_for_valid_test"]))
    with pytest.raises(SignatureInvalid, match="no signing_secret"):
        a.verify("events", request(SIGNING["raw_body"].encode(), SIGNING["headers"]))


def test_simulate_is_correctly_signed_and_normalizes(api):
    a = make({"api_base_url": api.base_url})
    hook, headers, body = a.simulate("my wallet is stuck", "U0CUSTOMER", channel="C0SUPPORT1", thread_ts="1700000000.000100", name="Cas")
    req = request(body, headers)
    a.verify(hook, req)
    (ev,) = a.parse(hook, req)
    (msg,) = a.normalize(ev)
    assert msg.text == "my wallet is stuck" and msg.sender.address == "U0CUSTOMER"
    assert msg.thread_key == "C0SUPPORT1:1700000000.000100" and msg.sender.name == "Cas"
    # defaults fit the connector's selection, so the simulated message is not filtered out
    for channels in (["shared"], ["C012AB3CD"], ["all", "dm"]):
        b = make({"channels": channels, "api_base_url": api.base_url})
        hook, headers, body = b.simulate("hi", "U0CUSTOMER")
        assert len(b.normalize(b.parse(hook, request(body, headers))[0])) == 1
    with pytest.raises(SignatureInvalid):
        a.verify(hook, request(body + b" ", headers))


# --- parse / ack -------------------------------------------------------------------------


def signed(a: SlackChannel, body: bytes, extra: dict | None = None) -> WebhookRequest:
    return request(body, {**sign(SECRET, body), "Content-Type": "application/json", **(extra or {})})


def test_url_verification_answers_challenge_and_journals_nothing():
    a = make()
    body = CHALLENGE.read_bytes()
    req = signed(a, body)
    a.verify("events", req)
    assert a.parse("events", req) == []
    resp = a.ack("events", req, [])
    assert resp.status == 200 and json.loads(resp.body) == {"challenge": "valid_challenge_token"}


def test_event_callback_is_one_raw_event_keyed_by_event_id():
    a = make()
    body = (EVENTS / "messageExample.json").read_bytes()
    (ev,) = a.parse("events", signed(a, body))
    assert ev.external_id == json.loads(body)["event_id"] and ev.payload == body and ev.hook == "events"
    retry = signed(a, body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    (again,) = a.parse("events", retry)
    assert again.external_id == ev.external_id  # the journal dedupes the provider retry
    assert again.meta["retry_num"] == "1" and again.meta["retry_reason"] == "http_timeout"
    assert a.ack("events", retry, [again]).status == 200


def test_parse_and_ack_are_fast_and_offline():
    a = make()  # api_base_url: nothing listens, so any call would fail
    body = (EVENTS / "message_file_share.json").read_bytes()
    start = time.perf_counter()
    for _ in range(200):
        req = signed(a, body)
        a.verify("events", req)
        a.ack("events", req, a.parse("events", req))
    assert (time.perf_counter() - start) / 200 < 0.01


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.name)
def test_every_real_callback_parses(path):
    a = make()
    (ev,) = a.parse("events", signed(a, path.read_bytes()))
    assert ev.external_id.startswith("Ev")


def test_masked_shapes_parse():
    a = make()
    masked = CORPUS / "slack" / "slack-java-sdk-json-logs" / "json-logs" / "samples" / "events"
    ids = set()
    for path in sorted(masked.glob("*.json")):
        events = a.parse("events", signed(a, path.read_bytes()))
        assert len(events) == 1  # event_id is masked: a content hash stands in
        ids.add(events[0].external_id)
        assert a.normalize(events[0]) == []
    assert len(ids) == 96


def test_unsupported_bodies_are_payload_invalid():
    a = make()
    for body in (b"not json", b'{"type": "something_else"}', SIGNING["raw_body"].encode()):
        with pytest.raises(PayloadInvalid):
            a.parse("events", signed(a, body))
    with pytest.raises(PayloadInvalid):
        a.parse("commands", signed(a, b"{}"))
    assert a.parse("events", signed(a, b'{"type": "app_rate_limited", "minute_rate_limited": 1518467820}')) == []


# --- normalize with users.info / files.info ------------------------------------------------


def test_normalize_resolves_user_and_caches(api, adapter):
    env = json.loads((EVENTS / "messageExample.json").read_bytes())
    env["event"]["user"] = "U023BECGF"  # alice in the recorded users list
    body = json.dumps(env).encode()
    (ev,) = adapter.parse("events", signed(adapter, body))
    (msg,) = adapter.normalize(ev)
    assert msg.sender.name == "alice" and msg.sender.verified_email == "alice@example.com"
    assert adapter.ctx.state.get("slack:user:U023BECGF")["email"] == "alice@example.com"
    adapter.normalize(ev)
    assert [a["user"] for a in api.called("users.info")] == ["U023BECGF"]  # second time: cache


def test_normalize_degrades_when_user_unknown(api, adapter):
    (ev,) = adapter.parse("events", signed(adapter, (EVENTS / "messageExample.json").read_bytes()))
    (msg,) = adapter.normalize(ev)
    assert msg.sender.address == "U043H11ES4V" and msg.sender.name == "U043H11ES4V"
    assert api.called("users.info")  # asked, got user_not_found, did not fail the message


def test_ignored_events_make_no_api_calls(api, adapter):
    (ev,) = adapter.parse("events", signed(adapter, (EVENTS / "joinChannel.json").read_bytes()))
    assert adapter.normalize(ev) == []
    assert api.calls == []


def test_slack_connect_file_resolved_with_files_info(api, adapter):
    (ev,) = adapter.parse("events", signed(adapter, (EVENTS / "message_file_share_slack_connect.json").read_bytes()))
    (msg,) = adapter.normalize(ev)
    assert [a["file"] for a in api.called("files.info")] == ["F12345678"]
    assert msg.attachments[0].url == golden("FileObject/real.json")["url_private_download"]


# --- fetch_attachment --------------------------------------------------------------------


def test_fetch_attachment_with_bot_token(httpserver, adapter):
    httpserver.expect_request("/files-pri/T1-F1/download/a.txt", headers={"Authorization": "Bearer xoxb-test-token"}).respond_with_data(
        b"hug a kitten", content_type="text/plain"
    )
    att = Attachment(filename="a.txt", content_type="text/plain", url=httpserver.url_for("/files-pri/T1-F1/download/a.txt"))
    assert adapter.fetch_attachment(att, max_bytes=100) == b"hug a kitten"
    with pytest.raises(TooLarge):
        adapter.fetch_attachment(att, max_bytes=5)


def test_fetch_attachment_refuses_other_hosts(adapter):
    for url in ("https://evil.example/files-pri/x", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
        with pytest.raises(PayloadInvalid, match="refused"):
            adapter.fetch_attachment(Attachment(filename="x", url=url), max_bytes=100)


def test_fetch_attachment_detects_sign_in_page(httpserver, adapter):
    httpserver.expect_request("/files-pri/T1-F2/download/b.png").respond_with_data(b"<html>sign in</html>", content_type="text/html")
    att = Attachment(filename="b.png", content_type="image/png", url=httpserver.url_for("/files-pri/T1-F2/download/b.png"))
    with pytest.raises(PayloadInvalid, match="files:read"):
        adapter.fetch_attachment(att, max_bytes=1000)


# --- send --------------------------------------------------------------------------------


def test_send_into_thread_with_username(api, adapter):
    result = adapter.send(reply("C043YJGBY49:1663966382.046509", "See <here> & there", author_name="Dana (Support)"))
    (call,) = api.called("chat.postMessage")
    assert call["channel"] == "C043YJGBY49" and call["thread_ts"] == "1663966382.046509"
    assert call["username"] == "Dana (Support)"
    assert call["text"] == "See &lt;here&gt; &amp; there"  # no accidental links or @channel
    assert result.external_id.startswith("C043YJGBY49:") and result.state == "sent"
    assert result.detail["thread_ts"] == "1663966382.046509"


def test_send_without_customize_scope_prefixes_agent_name(api, adapter):
    api.scopes = "chat:write,users:read,channels:read,channels:history"
    adapter.send(reply("C043YJGBY49:1663966382.046509", author_name="Dana"))
    (call,) = api.called("chat.postMessage")
    assert "username" not in call and call["text"] == "*Dana*: Hello from support"
    adapter.send(reply("C043YJGBY49:1663966382.046509", author_name="Dana"))
    assert len(api.called("auth.test")) == 1  # scopes cached


def test_send_to_dm_posts_top_level(api, adapter):
    adapter.send(reply("D0442US94JD", author_name="Dana"))
    (call,) = api.called("chat.postMessage")
    assert call["channel"] == "D0442US94JD" and "thread_ts" not in call


def test_send_files_with_files_upload_v2(api, adapter):
    blob = BlobRef("receipt.pdf", "application/pdf", 9, "0" * 64, loader=lambda: b"%PDF-1.4\n")
    result = adapter.send(reply("C043YJGBY49:1663966382.046509", "here you go", author_name="Dana", attachments=(blob,)))
    assert [m for m, _ in api.calls] == [
        "auth.test", "chat.postMessage", "files.getUploadURLExternal", "files.completeUploadExternal",
    ]
    (complete,) = api.called("files.completeUploadExternal")
    assert complete["channel_id"] == "C043YJGBY49" and complete["thread_ts"] == "1663966382.046509"
    (file_id,) = result.parts
    assert api.uploads[file_id] == b"%PDF-1.4\n"
    assert json.loads(complete["files"])[0]["title"] == "receipt.pdf"


def test_send_files_only_carries_author_in_comment(api, adapter):
    blob = BlobRef("a.png", "image/png", 3, "0" * 64, loader=lambda: b"png")
    result = adapter.send(reply("C043YJGBY49:1663966382.046509", "", author_name="Dana", attachments=(blob,)))
    assert api.called("chat.postMessage") == []
    (complete,) = api.called("files.completeUploadExternal")
    assert complete["initial_comment"] == "*Dana*"
    assert result.external_id == f"C043YJGBY49:file:{result.parts[0]}"


def test_long_reply_is_split_into_posts_in_the_thread(api, adapter, monkeypatch):
    monkeypatch.setattr("channels.slack.adapter.TEXT_CHUNK", 50)
    text = " ".join(f"word{i}" for i in range(30))  # ~200 characters
    result = adapter.send(reply("C043YJGBY49:1663966382.046509", text, author_name="Dana"))
    calls = api.called("chat.postMessage")
    assert len(calls) >= 4 and all(len(c["text"]) <= 50 for c in calls)
    assert all(c["thread_ts"] == "1663966382.046509" for c in calls)
    assert " ".join(c["text"] for c in calls).split() == text.split()
    assert len(result.parts) == len(calls) - 1 and result.external_id not in result.parts


def test_split_text_keeps_entities_whole():
    assert split_text("a" * 10, 4) == ["aaaa", "aaaa", "aa"]
    parts = split_text("xx&amp;yy&lt;z", 6)
    assert "".join(parts) == "xx&amp;yy&lt;z"
    assert all(re.fullmatch(r"([^&]|&(amp|lt|gt);)*", p) for p in parts), parts
    assert split_text("one two three", 8) == ["one two", "three"]


def test_partial_failure_is_not_posted_twice_on_retry(api, adapter):
    blob = BlobRef("receipt.pdf", "application/pdf", 9, "0" * 64, loader=lambda: b"%PDF-1.4\n")
    out = reply("C043YJGBY49:1663966382.046509", "here you go", author_name="Dana", attachments=(blob,))
    api.fail_next("files.getUploadURLExternal", 503, {"ok": False, "error": "service_unavailable"})
    with pytest.raises(RetriableDeliveryError, match=r"already in Slack: 1 of 1 text parts"):
        adapter.send(out)
    result = adapter.send(out)  # the retry uploads the files only
    assert len(api.called("chat.postMessage")) == 1
    assert len(api.called("files.completeUploadExternal")) == 1 and result.parts
    assert adapter.ctx.state.get(f"slack:reply:{out.id}") is None


@pytest.mark.parametrize(
    "status, body, headers, error, match",
    [
        (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}, RetriableDeliveryError, "429"),
        (200, {"ok": False, "error": "ratelimited"}, {}, RetriableDeliveryError, "ratelimited"),
        (503, {"ok": False, "error": "service_unavailable"}, {}, RetriableDeliveryError, "503"),
        (500, {"ok": False, "error": "fatal_error"}, {}, RetriableDeliveryError, "500"),
        (200, {"ok": False, "error": "internal_error"}, {}, RetriableDeliveryError, "internal_error"),
        (200, {"ok": False, "error": "channel_not_found"}, {}, PermanentDeliveryError, "no longer exists"),
        (200, {"ok": False, "error": "not_in_channel"}, {}, PermanentDeliveryError, "/invite"),
        (200, {"ok": False, "error": "is_archived"}, {}, PermanentDeliveryError, "archived"),
        (200, {"ok": False, "error": "msg_too_long"}, {}, PermanentDeliveryError, "too long"),
        (200, {"ok": False, "error": "invalid_auth"}, {}, AuthError, "invalid"),
        (200, {"ok": False, "error": "token_revoked"}, {}, AuthError, "reinstall"),
        (200, {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "users:read"}, {}, AuthError, "needed: chat:write"),
        (200, {"ok": False, "error": "something_new"}, {}, PermanentDeliveryError, "something_new"),
    ],
)
def test_send_errors_mapped(api, adapter, status, body, headers, error, match):
    api.fail_next("chat.postMessage", status, body, headers)
    with pytest.raises(error, match=match) as info:
        adapter.send(reply("C043YJGBY49:1663966382.046509", author_name="Dana"))
    if error is RetriableDeliveryError and headers.get("Retry-After"):
        assert info.value.retry_after == 30
    if error is PermanentDeliveryError:
        assert not isinstance(info.value, RetriableDeliveryError)


def test_send_nothing_is_permanent(api, adapter):
    with pytest.raises(PermanentDeliveryError, match="neither text nor files"):
        adapter.send(reply("C043YJGBY49:1663966382.046509", "  "))
    assert api.called("chat.postMessage") == []


def test_send_unreachable_is_retriable():
    a = make()
    a.ctx.state.set("slack:scopes", {"scopes": ["chat:write"], "fetched": time.time()})
    with pytest.raises(RetriableDeliveryError, match="unreachable"):
        a.send(reply("C043YJGBY49:1663966382.046509"))


def test_thread_keys():
    assert split_thread_key("C012AB3CD:1700000000.000100") == ("C012AB3CD", "1700000000.000100")
    assert split_thread_key("D0442US94JD") == ("D0442US94JD", None)
    for bad in ("", ":1.2", "C1:notats", "contact:42"):
        with pytest.raises(PermanentDeliveryError):
            split_thread_key(bad)
    assert escape_mrkdwn("<!channel> a&b") == "&lt;!channel&gt; a&amp;b"


# --- check -------------------------------------------------------------------------------


def test_check_ok(api, adapter):
    result = adapter.check()
    assert result.ok, result.summary
    assert "Subarachnoid Workspace" in result.summary
    assert result.details["bot_user_id"] == "U0442US8QGH"
    assert result.details["conversations"] == {"member_of": 1, "shared": 0, "dms": 0}
    assert api.called("conversations.list")[0]["types"] == "public_channel,private_channel,im,mpim"


def test_check_names_missing_scopes(api, adapter):
    api.scopes = "chat:write,channels:read,channels:history"
    result = adapter.check()
    assert not result.ok
    assert "users:read" in result.summary and "im:history" in result.summary
    assert set(result.details["missing_scopes"]) == {"users:read", "im:history", "im:read", "groups:history"}
    assert "chat:write.customize" in result.details["optional_missing_scopes"]


def test_check_reports_missing_scope_error_from_conversations_list(api, adapter):
    api.fail_next("conversations.list", 200, {"ok": False, "error": "missing_scope", "needed": "groups:read", "provided": "chat:write"})
    result = adapter.check()
    assert not result.ok and "groups:read" in result.summary


def test_check_configured_channel_not_joined(api):
    a = make({"api_base_url": api.base_url, "channels": ["C043YJGBY49", "C0000000000"]})
    result = a.check()
    assert not result.ok and "C0000000000" in result.summary and "/invite" in result.summary


def test_check_bad_token(api):
    api.bot_token = "xoxb-other"
    result = make({"api_base_url": api.base_url}).check()
    assert not result.ok and "invalid_auth" in result.summary


class BrokenState(dict):
    def set(self, key, value):
        raise OSError("database is locked")


def test_state_write_failure_does_not_fail_ingest(api):
    a = make({"api_base_url": api.base_url}, state=BrokenState())
    env = json.loads((EVENTS / "messageExample.json").read_bytes())
    env["event"]["user"] = "U023BECGF"
    (ev,) = a.parse("events", signed(a, json.dumps(env).encode()))
    (msg,) = a.normalize(ev)
    assert msg.sender.name == "alice"
