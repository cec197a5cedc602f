"""x channel: tweepy's Client against a local X API v2 replaying recorded responses.

Every request is checked (method, path, query, OAuth 1.0a signature recomputed, JSON
body) by tests/support/x_server.py; a failed check is re-raised at teardown.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

import channels
from channels.x import XChannel, XConfig
from channels.x import webhook as x_webhook
from channels.x.adapter import POINTER_ASK, POINTER_SENT
from channels.x.text import post_length, split_thread
from hub.errors import AuthError, PayloadInvalid, PermanentDeliveryError, RetriableDeliveryError, SignatureInvalid
from hub.types import CaseInsensitiveDict, ConnectorContext, MemoryState, OutboundReply, WebhookRequest
from normalizers.model import Participant
from tests.support import x_corpus as xc
from tests.support.x_server import CREDS, XApi

NOW = 1_700_000_000.0


class FakeClock:
    """Injected clock: sleeping advances time, nothing really waits."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ListSink:
    def __init__(self) -> None:
        self.events = []

    def record(self, events):
        start = len(self.events)
        self.events.extend(events)
        return list(range(start, len(self.events)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def x_api(httpserver, clock):
    api = XApi(httpserver, clock)
    yield api
    httpserver.check()  # re-raise any contract check that failed inside the server
    assert not httpserver.ordered_handlers, f"expected requests never made: {httpserver.ordered_handlers}"


def make_adapter(api: XApi, clock: FakeClock, state: MemoryState | None = None, **cfg) -> XChannel:
    config = XConfig(
        **{k: SecretStr(v) for k, v in api.creds.items()},
        **{"user_id": xc.TWITTER, "api_base_url": api.base_url, **cfg},
    )
    adapter = XChannel(ConnectorContext(name="x-support", kind="x", config=config, state=state if state is not None else MemoryState()))
    adapter.clock = clock
    adapter.sleep = clock.sleep
    return adapter


def mentions_path(user_id: str = xc.TWITTER) -> str:
    return f"/2/users/{user_id}/mentions"


MENTION_FIELDS = {
    "expansions": ["author_id", "referenced_tweets.id", "attachments.media_keys"],
    "tweet.fields": ["conversation_id", "entities", "attachments", "created_at", "author_id", "referenced_tweets"],
    "user.fields": ["username", "name"],
}
DM_FIELDS = {
    "dm_event.fields": ["dm_conversation_id", "sender_id", "created_at", "attachments", "text"],
    "expansions": ["sender_id", "attachments.media_keys"],
}
EMPTY = {"meta": {"result_count": 0}}  # recorded: GET /2/dm_events with nothing new


def page(name: str, authors: list[str], **kw) -> dict:
    return xc.with_requested_fields(xc.body(name), kind="tweet", authors=authors, **kw)


def dm_page(name: str) -> dict:
    return xc.with_requested_fields(xc.body(name), kind="dm_event", authors=[xc.ME_TWEEPYDEV])


# --- config and registry ---------------------------------------------------------------------
def test_registered_with_secret_fields():
    assert channels.REGISTRY["x"] is XChannel
    assert XConfig.secret_fields() == {"bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    assert XConfig(user_id="1", bearer_token="t").public_mentions == "move_to_dm"


@pytest.mark.parametrize(
    "cfg, problem",
    [
        ({"user_id": "1"}, "consumer_key"),
        ({"user_id": "1", "consumer_key": "a", "consumer_secret": "b"}, "missing: access_token, access_token_secret"),
        ({"user_id": "@support", "bearer_token": "t"}, "user_id"),
        ({"user_id": "1", "bearer_token": "t", "public_mentions": "shout"}, "public_mentions"),
        ({"user_id": "1", "bearer_token": "t", "poll_interval": 0.1}, "poll_interval"),
        ({"user_id": "1", "bearer_token": "t", "api_base_url": "ftp://x/"}, "api_base_url"),
    ],
)
def test_config_refuses(cfg, problem):
    with pytest.raises(ValidationError, match=problem):
        XConfig(**cfg)


# --- check -----------------------------------------------------------------------------------
def test_check_calls_get_me(x_api, clock):
    access = xc.recorded_headers("test_client_get_me.yaml")["x-access-level"]
    x_api.expect("GET", "/2/users/me", response=xc.body("test_client_get_me.00"), headers={"x-access-level": access})
    result = make_adapter(x_api, clock, user_id=xc.ME_TWEEPYDEV).check()
    assert result.ok, result.summary
    assert "@TweepyDev" in result.summary
    assert result.details["access_level"] == "read-write-directmessages"
    assert result.details["webhook"].endswith("/webhooks/x-support/activity")


def test_check_flags_an_app_without_dm_permission(x_api, clock):
    access = xc.recorded_headers("test_client_get_users_mentions.yaml")["x-access-level"]  # "read"
    x_api.expect("GET", "/2/users/me", response=xc.body("test_client_get_me.00"), headers={"x-access-level": access})
    result = make_adapter(x_api, clock, user_id=xc.ME_TWEEPYDEV).check()
    assert not result.ok and "Direct message" in result.summary


def test_check_reports_wrong_user_id_and_bad_credentials(x_api, clock):
    x_api.expect("GET", "/2/users/me", response=xc.body("test_client_get_me.00"))
    wrong = make_adapter(x_api, clock, user_id="42").check()
    assert not wrong.ok and "not user_id 42" in wrong.summary
    x_api.expect("GET", "/2/users/me", status=401, response={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
    bad = make_adapter(x_api, clock, user_id="42").check()
    assert not bad.ok and "credentials" in bad.summary


def test_tweepy_debug_logs_stay_off():
    import logging

    # tweepy would log the Authorization header and response bodies at DEBUG
    assert logging.getLogger("tweepy.client").getEffectiveLevel() >= logging.INFO


def test_oauth2_user_token_goes_as_bearer(httpserver, clock):
    api = XApi(httpserver, clock, bearer="oauth2-user-token")
    api.expect("GET", "/2/users/me", response=xc.body("test_client_get_me.00"))
    config = XConfig(user_id=xc.ME_TWEEPYDEV, bearer_token="oauth2-user-token", api_base_url=api.base_url)
    adapter = XChannel(ConnectorContext(name="x", kind="x", config=config))
    assert adapter.check().ok
    httpserver.check()


# --- polling: mentions -----------------------------------------------------------------------
def test_mentions_pages_become_messages_and_since_id_survives_restart(x_api, clock):
    """Recorded pages: newer (asyncclient) -> older (client) -> end; then a restart."""
    state = MemoryState()
    customers = [xc.TWITTERDEV, xc.ME_TWEEPYDEV]
    p1 = page("test_asyncclient_get_users_mentions.00", customers)
    p2 = page("test_client_get_users_mentions.00", customers)
    x_api.expect("GET", mentions_path(), response=p1, fields=MENTION_FIELDS, args={"since_id": None, "pagination_token": None})
    x_api.expect("GET", mentions_path(), response=p2, args={"pagination_token": p1["meta"]["next_token"], "since_id": None})
    x_api.expect("GET", mentions_path(), response=EMPTY, args={"pagination_token": p2["meta"]["next_token"]})

    sink = ListSink()
    adapter = make_adapter(x_api, clock, state)
    assert adapter.poller().mentions(sink) == 12
    ids = [e.external_id for e in sink.events]
    # X answers newest first; the pass is journaled oldest first (the order they were written)
    assert ids == [f"tweet:{t['id']}" for t in sorted(p1["data"] + p2["data"], key=lambda t: int(t["id"]))]
    assert state["mentions.since_id"] == p1["meta"]["newest_id"] == "1578522401263919106"
    assert not state.get("mentions.pending")

    messages = [m for e in sink.events for m in adapter.normalize(e)]
    assert len(messages) == 12
    first = messages[-1]
    assert first.thread_key == "tweet:1578522401263919106"
    assert first.sender.address == xc.TWITTERDEV and first.sender.name == "Twitter Dev"
    assert first.sender.extra == {"username": "TwitterDev"}
    assert first.text == "What why?" and first.full_text.startswith("@GerardDalbon")
    # created_at: decoded from the snowflake id, seconds before the recording (Date: 23:07:41)
    recorded_at = datetime(2022, 10, 7, 23, 7, 41, tzinfo=UTC)
    assert timedelta(0) < recorded_at - first.sent_at < timedelta(minutes=1)

    # restart: a new adapter with the same state asks only for what is newer
    x_api.expect("GET", mentions_path(), response=EMPTY, args={"since_id": "1578522401263919106", "pagination_token": None})
    again = ListSink()
    assert make_adapter(x_api, clock, state).poller().mentions(again) == 0
    assert again.events == []


def test_interrupted_pagination_resumes_without_repeats(x_api, clock):
    state = MemoryState({"mentions.since_id": "1578500000000000000"})
    p1 = page("test_asyncclient_get_users_mentions.00", [xc.TWITTERDEV])
    p2 = page("test_client_get_users_mentions.00", [xc.TWITTERDEV])
    x_api.expect("GET", mentions_path(), response=p1, args={"since_id": "1578500000000000000"})
    x_api.expect("GET", mentions_path(), status=503, response={"title": "Service Unavailable", "detail": "Service Unavailable", "status": 503})
    sink = ListSink()
    with pytest.raises(RetriableDeliveryError):
        make_adapter(x_api, clock, state).poller().mentions(sink)
    assert sink.events == []  # an incomplete pass records nothing (it would be out of order)
    assert state["mentions.since_id"] == "1578500000000000000"  # not advanced: pass incomplete
    assert not state.get("mentions.pending")

    # the restarted poller reads the pass again from the same since_id, then advances the mark
    x_api.expect("GET", mentions_path(), response=p1, args={"since_id": "1578500000000000000", "pagination_token": None})
    x_api.expect("GET", mentions_path(), response=p2, args={"since_id": "1578500000000000000", "pagination_token": p1["meta"]["next_token"]})
    x_api.expect("GET", mentions_path(), response=EMPTY, args={"pagination_token": p2["meta"]["next_token"]})
    make_adapter(x_api, clock, state).poller().mentions(sink)
    ids = [e.external_id for e in sink.events]
    assert len(ids) == len(set(ids)) == 12
    assert [int(i.split(":")[1]) for i in ids] == sorted(int(i.split(":")[1]) for i in ids)  # oldest first
    assert state["mentions.since_id"] == "1578522401263919106"
    assert not state.get("mentions.pending")


def test_recorded_page_without_requested_fields_is_journaled_then_refused_by_normalizer(x_api, clock):
    raw = xc.body("test_client_get_users_mentions.00")
    raw["meta"].pop("next_token")
    x_api.expect("GET", mentions_path(), response=raw)
    sink = ListSink()
    adapter = make_adapter(x_api, clock)
    adapter.poller().mentions(sink)
    assert len(sink.events) == 10  # nothing is lost: the journal keeps what X sent
    with pytest.raises(PayloadInvalid, match="expansions=author_id"):
        adapter.normalize(sink.events[0])


# --- polling: DM events ----------------------------------------------------------------------
def test_dm_events_pages_and_newest_id_cursor(x_api, clock):
    """Recorded DM events (TweepyDev -> the support account), newest page first."""
    state = MemoryState()
    support = xc.DM_PEER
    p1 = dm_page("test_asyncclient_manage_and_lookup_direct_messages.04")
    p2 = dm_page("test_manage_and_lookup_direct_messages.04")
    x_api.expect("GET", mentions_path(support), response=EMPTY)
    x_api.expect("GET", "/2/dm_events", response=p1, fields=DM_FIELDS, args={"event_types": "MessageCreate", "pagination_token": None})
    x_api.expect("GET", "/2/dm_events", response=p2, args={"pagination_token": p1["meta"]["next_token"]})
    x_api.expect("GET", "/2/dm_events", response=xc.body("test_manage_and_lookup_direct_messages.03"), args={"pagination_token": p2["meta"]["next_token"]})

    sink = ListSink()
    adapter = make_adapter(x_api, clock, state, user_id=support)
    assert adapter.poll_once(sink) == 4
    # newest first from X, journaled oldest first
    assert [e.external_id for e in sink.events] == [f"dm:{e['id']}" for e in sorted(p1["data"] + p2["data"], key=lambda e: int(e["id"]))]
    assert state["dm.newest_id"] == "1585823814956482567"

    msgs = [m for e in sink.events for m in adapter.normalize(e)]
    assert [m.text for m in msgs] == ["Testing 1", "Testing 2", "Testing 1", "Testing 2"]
    assert {m.thread_key for m in msgs} == {f"dm:{xc.DM_CONVERSATION}"}
    assert msgs[0].sender == Participant("x", xc.ME_TWEEPYDEV, "Tweepy Testing", extra={"username": "TweepyDev"})
    assert msgs[0].extra["public"] is False

    # restart: the first page holds only known events -> nothing recorded, no page 2
    x_api.expect("GET", mentions_path(support), response=EMPTY)
    x_api.expect("GET", "/2/dm_events", response=p1, args={"pagination_token": None})
    again = ListSink()
    assert make_adapter(x_api, clock, state, user_id=support).poll_once(again) == 0
    assert again.events == []


def test_own_dms_are_journaled_but_not_normalized(x_api, clock):
    x_api.expect("GET", "/2/dm_events", response=dm_page("test_manage_and_lookup_direct_messages.04") | {"meta": {"result_count": 2}})
    sink = ListSink()
    adapter = make_adapter(x_api, clock, user_id=xc.ME_TWEEPYDEV)  # TweepyDev sent them
    adapter.poller().dm_events(sink)
    assert len(sink.events) == 2
    assert [adapter.normalize(e) for e in sink.events] == [[], []]


# --- rate limits ----------------------------------------------------------------------------
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


def run_poll(adapter: XApi, clock: FakeClock, sleeps: int) -> None:
    """adapter.poll() until it has slept ``sleeps`` times (time only moves by sleeping)."""
    stop = threading.Event()

    def sleep(seconds):
        clock.sleep(seconds)
        if len(clock.sleeps) >= sleeps:
            stop.set()

    adapter.sleep = sleep
    adapter.poll(ListSink(), stop)


def test_429_waits_until_reset_while_dms_keep_flowing(x_api, clock):
    reset = int(NOW + 120)
    x_api.expect("GET", mentions_path(), status=429, response=TOO_MANY,
                 headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    x_api.expect("GET", "/2/dm_events", response=EMPTY)  # not blocked by the mentions limit
    x_api.expect("GET", "/2/dm_events", response=EMPTY)  # poll_interval later
    x_api.expect("GET", mentions_path(), response=page("test_asyncclient_get_users_mentions.00", [xc.TWITTERDEV]) | {"meta": {"result_count": 2, "newest_id": "1578522401263919106"}})
    adapter = make_adapter(x_api, clock, poll_interval=100)
    run_poll(adapter, clock, sleeps=3)
    assert [c.path for c in x_api.calls] == [mentions_path(), "/2/dm_events", "/2/dm_events", mentions_path()]
    assert x_api.calls[3].at == reset + 1  # retried only once the window had reset
    assert clock.sleeps[:2] == [pytest.approx(100), pytest.approx(21)]
    assert adapter.ctx.state["mentions.since_id"] == "1578522401263919106"


def test_exhausted_window_pauses_pagination_and_reads_the_pass_again_after_it(x_api, clock):
    """A pass cut by the rate window records nothing (its events would be journaled newest
    first); after the window it is read again from its first page, then recorded oldest first."""
    p1 = page("test_asyncclient_get_users_mentions.00", [xc.TWITTERDEV])
    x_api.expect("GET", mentions_path(), response=p1, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 60))})
    x_api.expect("GET", "/2/dm_events", response=EMPTY)
    x_api.expect("GET", mentions_path(), response=p1, args={"pagination_token": None})
    x_api.expect("GET", mentions_path(), response=EMPTY, args={"pagination_token": p1["meta"]["next_token"]})
    adapter = make_adapter(x_api, clock, poll_interval=300)
    run_poll(adapter, clock, sleeps=2)
    assert clock.sleeps[0] == pytest.approx(61)
    assert x_api.calls[2].at >= NOW + 60
    assert adapter.ctx.state["mentions.since_id"] == p1["meta"]["newest_id"]


def test_poll_loop_never_spins_on_429_without_reset(x_api, clock):
    """429s without a reset header: the endpoint backs off 5, 10, 20 ... s; DMs keep their pace."""
    x_api.expect("GET", mentions_path(), status=429, response=TOO_MANY,
                 headers={"x-rate-limit-reset": None, "x-rate-limit-remaining": None}, always=True)
    x_api.expect("GET", "/2/dm_events", response=EMPTY, always=True)
    run_poll(make_adapter(x_api, clock, poll_interval=30), clock, sleeps=40)
    assert min(clock.sleeps) >= 1.0
    at = [c.at for c in x_api.calls if c.path == mentions_path()]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    assert gaps[:4] == [6, 11, 21, 41]  # MIN_429_WAIT doubling (+1 s margin)
    assert gaps == sorted(gaps) and max(gaps) <= 901
    dm_at = [c.at for c in x_api.calls if c.path == "/2/dm_events"]
    assert all(b - a == 30 for a, b in zip(dm_at, dm_at[1:], strict=False))
    assert len(x_api.calls) < 60  # about 20 minutes of simulated time


class HealthSink(ListSink):
    """The poller's sink keeps connector health (workers.poller.Sink.health): the notes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[tuple[str | None, bool]] = []

    def health(self, error, *, auth=False):
        self.notes.append((error, auth))


def test_refused_credentials_are_reported_to_the_health_notes(x_api, clock):
    """A 401 on one endpoint is an auth failure note (the connector turns red), not only a log
    line; the other endpoint working does not clear it."""
    x_api.expect("GET", mentions_path(), status=401, always=True,
                 response={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
    x_api.expect("GET", "/2/dm_events", response=EMPTY, always=True)
    adapter = make_adapter(x_api, clock, poll_interval=30)
    stop = threading.Event()
    sink = HealthSink()

    def sleep(seconds):
        clock.sleep(seconds)
        if len(clock.sleeps) >= 5:
            stop.set()

    adapter.sleep = sleep
    adapter.poll(sink, stop)
    assert sink.notes and all(auth and error.startswith("X mentions: ") for error, auth in sink.notes), sink.notes


# --- webhook: CRC and signature --------------------------------------------------------------
def request(method: str, body: bytes = b"", headers: dict | None = None, args: tuple = ()) -> WebhookRequest:
    return WebhookRequest(
        method=method, url="https://hub.example/webhooks/x-support/activity", path="/webhooks/x-support/activity",
        headers=CaseInsensitiveDict(headers or {}), body=body, args=args,
    )


def webhook_adapter(secret: str | None = "secret", user_id: str = "4337869213") -> XChannel:
    creds = {**CREDS, "consumer_secret": secret} if secret else {}
    cfg = XConfig(user_id=user_id, **({k: SecretStr(v) for k, v in creds.items()} or {"bearer_token": "t"}))
    return XChannel(ConnectorContext(name="x-support", kind="x", config=cfg))


def test_crc_answers_the_documented_regression_vector():
    vec = xc.crc_vector()
    adapter = webhook_adapter(vec["consumer_secret"])
    req = request("GET", args=(("crc_token", vec["crc_token"]),))
    adapter.verify("activity", req)
    assert adapter.parse("activity", req) == []
    resp = adapter.ack("activity", req, [])
    assert resp.status == 200
    assert json.loads(resp.body) == {"response_token": vec["response_token"]}
    assert x_webhook.crc_response_token("secret", "crc") == "sha256=Y6yc1NZ4/vXJenfyjCYSgIF8Mzg4x90pHGQAPEDvi94="


@pytest.mark.parametrize(
    "secret, method, args",
    [(None, "GET", (("crc_token", "crc"),)), ("secret", "GET", ()), ("secret", "GET", (("crc_token", ""),))],
)
def test_crc_fails_closed(secret, method, args):
    adapter = webhook_adapter(secret)
    with pytest.raises(SignatureInvalid):
        adapter.verify("activity", request(method, args=args))
    assert adapter.ack("activity", request(method, args=args), []).status == 403


def test_signed_documented_dm_delivery_is_parsed_and_normalized():
    body = json.dumps(xc.activity("direct_message_events")).encode()
    adapter = webhook_adapter("secret")
    req = request("POST", body, {"X-Twitter-Webhooks-Signature": x_webhook.sign("secret", body)})
    adapter.verify("activity", req)
    events = adapter.parse("activity", req)
    assert [e.external_id for e in events] == ["dm:954491830116155396"]
    [msg] = adapter.normalize(events[0])
    assert msg.text == "Hello World!"
    assert msg.sender == Participant("x", "3001969357", "Jordan Brinks", extra={"username": "furiouscamper"})
    assert msg.thread_key == "dm:3001969357-4337869213"
    assert adapter.ack("activity", req, events).status == 200


@pytest.mark.parametrize(
    "mutate",
    [
        lambda body, sig: (body + b" ", sig),  # tampered body
        lambda body, sig: (body, None),  # no signature
        lambda body, sig: (body, x_webhook.sign("other-secret", body)),  # wrong secret
        lambda body, sig: (body, sig.replace("sha256=", "sha1=")),
    ],
)
def test_bad_signatures_are_refused(mutate):
    body = json.dumps(xc.activity("direct_message_events")).encode()
    body, sig = mutate(body, x_webhook.sign("secret", body))
    with pytest.raises(SignatureInvalid):
        webhook_adapter("secret").verify("activity", request("POST", body, {"x-twitter-webhooks-signature": sig} if sig else {}))


def test_post_without_consumer_secret_fails_closed():
    body = json.dumps(xc.activity("direct_message_events")).encode()
    with pytest.raises(SignatureInvalid, match="consumer_secret"):
        webhook_adapter(None).verify("activity", request("POST", body, {"x-twitter-webhooks-signature": x_webhook.sign("", body)}))


@pytest.mark.parametrize("kind", ["direct_message_indicate_typing_events", "direct_message_mark_read_events", "user_event_revoke"])
def test_non_message_activity_yields_nothing(kind):
    body = json.dumps(xc.activity(kind)).encode()
    adapter = webhook_adapter("secret")
    assert adapter.parse("activity", request("POST", body)) == []


def test_delivery_for_another_account_is_dropped():
    body = json.dumps(xc.activity("direct_message_events")).encode()
    assert webhook_adapter("secret", user_id="1").parse("activity", request("POST", body)) == []


def test_simulate_builds_a_delivery_the_adapter_accepts():
    adapter = webhook_adapter("secret")
    hook, headers, body = adapter.simulate("my wallet shows 0", "3001969357", name="Jordan", username="furiouscamper")
    req = request("POST", body, headers)
    adapter.verify(hook, req)
    [event] = adapter.parse(hook, req)
    [msg] = adapter.normalize(event)
    assert (msg.text, msg.sender.address, msg.sender.name) == ("my wallet shows 0", "3001969357", "Jordan")
    assert msg.thread_key == "dm:3001969357-4337869213"


# --- sending ---------------------------------------------------------------------------------
def reply(thread_key: str, text: str, *, to: str = xc.DM_PEER, in_reply_to: str | None = None, rid: int = 7, **options) -> OutboundReply:
    return OutboundReply(
        id=rid, conversation_id=3, connector="x-support", to=Participant("x", to), thread_key=thread_key,
        text=text, in_reply_to=in_reply_to, options=options,
    )


def test_dm_reply_posts_to_the_conversation(x_api, clock):
    rec = xc.recorded("test_manage_and_lookup_direct_messages.01")
    x_api.expect(
        "POST", f"/2/dm_conversations/{xc.DM_CONVERSATION}/messages", status=201,
        json_body=json.loads(rec["request_body"]), response=rec["response_body"],
    )
    result = make_adapter(x_api, clock, user_id=xc.ME_TWEEPYDEV).send(reply(f"dm:{xc.DM_CONVERSATION}", "Testing 2"))
    assert result.external_id == "dm:1585800613752881156"
    assert result.detail["dm_conversation_id"] == xc.DM_CONVERSATION


def test_dm_reply_without_conversation_goes_to_participant(x_api, clock):
    rec = xc.recorded("test_manage_and_lookup_direct_messages.00")
    x_api.expect("POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=201, json_body={"text": "Testing 1"}, response=rec["response_body"])
    assert make_adapter(x_api, clock).send(reply("dm:", "Testing 1")).external_id == "dm:1585800613253812228"


def test_public_reply_within_280(x_api, clock):
    rec = xc.recorded("test_client_create_and_delete_tweet.00")
    x_api.expect("POST", "/2/tweets", status=201, json_body={"text": "Test Tweet", "reply": {"in_reply_to_tweet_id": "1578516220231397376"}}, response=rec["response_body"])
    adapter = make_adapter(x_api, clock, public_mentions="reply_publicly")
    result = adapter.send(reply("tweet:1578516220231397376", "Test Tweet", in_reply_to="tweet:1578516220231397376"))
    assert result.external_id == "tweet:1456012973835788293" and result.parts == ()


def test_long_public_reply_is_refused_unless_threaded(x_api, clock):
    adapter = make_adapter(x_api, clock, public_mentions="reply_publicly")
    text = "We are looking into the delayed withdrawal and will update you here. " * 6
    with pytest.raises(PermanentDeliveryError, match=r"\d+ characters .* allows 280.*thread"):
        adapter.send(reply("tweet:1578516220231397376", text))
    assert x_api.calls == []  # nothing was posted

    first = xc.body("test_client_create_and_delete_tweet.00")
    x_api.expect("POST", "/2/tweets", status=201, response=first)
    x_api.expect("POST", "/2/tweets", status=201, response={"data": {"id": "1456012973835788294", "text": "..."}})
    result = adapter.send(reply("tweet:1578516220231397376", text, thread=True))
    posted = [c.json for c in x_api.calls]
    assert posted[0]["reply"] == {"in_reply_to_tweet_id": "1578516220231397376"}
    assert posted[1]["reply"] == {"in_reply_to_tweet_id": first["data"]["id"]}
    assert all(post_length(p["text"]) <= 280 for p in posted)
    assert posted[0]["text"].endswith("(1/2)") and posted[1]["text"].endswith("(2/2)")
    assert result.parts == ("tweet:1456012973835788294",)


def test_move_to_dm_first_answer_points_to_dm_publicly(x_api, clock):
    dm = xc.recorded("test_manage_and_lookup_direct_messages.00")["response_body"]
    x_api.expect("POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=201, json_body={"text": "Please confirm the withdrawal id."}, response=dm)
    x_api.expect(
        "POST", "/2/tweets", status=201, json_body={"text": POINTER_SENT, "reply": {"in_reply_to_tweet_id": "1578516295611748353"}},
        response=xc.body("test_client_create_and_delete_tweet.00"),
    )
    state = MemoryState()
    adapter = make_adapter(x_api, clock, state)
    mention = "tweet:1578516295611748353"
    result = adapter.send(reply(mention, "Please confirm the withdrawal id.", in_reply_to=mention))
    assert result.external_id == "dm:1585800613253812228"
    assert result.parts == ("tweet:1456012973835788293",)
    assert result.detail["moved_to_dm"] is True
    assert state["moved_to_dm.1578516295611748353"] == "1456012973835788293"
    assert "reply.7" not in state  # per-reply progress cleared once fully sent

    # the next answer in the same public conversation goes by DM only
    x_api.expect("POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=201, json_body={"text": "Thanks, fixed."}, response=dm)
    assert make_adapter(x_api, clock, state).send(reply(mention, "Thanks, fixed.", in_reply_to=mention, rid=8)).parts == ()
    assert len(x_api.calls) == 3


def test_move_to_dm_when_customer_refuses_dms(x_api, clock):
    x_api.expect(
        "POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=403,
        response={"errors": [{"code": 349, "message": "You cannot send messages to this user."}]},
    )
    x_api.expect("POST", "/2/tweets", status=201, json_body={"text": POINTER_ASK, "reply": {"in_reply_to_tweet_id": "1578516295611748353"}}, response=xc.body("test_client_create_and_delete_tweet.00"))
    with pytest.raises(PermanentDeliveryError, match="does not let this account send a Direct Message.*asked the customer to DM us"):
        make_adapter(x_api, clock).send(reply("tweet:1578516295611748353", "hello"))
    assert "password" in POINTER_ASK and "account details" in POINTER_ASK  # warns, never asks


def test_move_to_dm_pointer_already_posted_elsewhere_still_delivers(x_api, clock):
    """Another worker posted the pointer (our state had not seen it): X says duplicate."""
    dm = xc.recorded("test_manage_and_lookup_direct_messages.00")["response_body"]
    x_api.expect("POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=201, response=dm)
    x_api.expect("POST", "/2/tweets", status=403, response={"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403})
    state = MemoryState()
    result = make_adapter(x_api, clock, state).send(reply("tweet:1578516295611748353", "hi"))
    assert result.external_id == "dm:1585800613253812228" and result.parts == ()
    assert state["moved_to_dm.1578516295611748353"] == "duplicate"


def test_move_to_dm_retry_does_not_send_the_dm_twice(x_api, clock):
    dm = xc.recorded("test_manage_and_lookup_direct_messages.00")["response_body"]
    x_api.expect("POST", f"/2/dm_conversations/with/{xc.DM_PEER}/messages", status=201, response=dm)
    x_api.expect("POST", "/2/tweets", status=503, response={"title": "Service Unavailable", "status": 503, "detail": "Service Unavailable"})
    state = MemoryState()
    with pytest.raises(RetriableDeliveryError):
        make_adapter(x_api, clock, state).send(reply("tweet:1578516295611748353", "hi"))
    x_api.expect("POST", "/2/tweets", status=201, response=xc.body("test_client_create_and_delete_tweet.00"))
    result = make_adapter(x_api, clock, state).send(reply("tweet:1578516295611748353", "hi"))
    assert result.external_id == "dm:1585800613253812228"
    assert [c.path for c in x_api.calls].count(f"/2/dm_conversations/with/{xc.DM_PEER}/messages") == 1


@pytest.mark.parametrize(
    "status, body, headers, error, match",
    [
        # the v2 answer quoted in akrherz/iembot#163
        (403, {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403}, {}, PermanentDeliveryError, "duplicate content"),
        (429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}, {"x-rate-limit-reset": str(int(NOW + 300)), "x-rate-limit-remaining": "0"}, RetriableDeliveryError, "429"),
        (503, {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503}, {}, RetriableDeliveryError, "503"),
        (401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, {}, AuthError, "credentials"),
    ],
)
def test_send_errors_are_translated(x_api, clock, status, body, headers, error, match):
    x_api.expect("POST", "/2/tweets", status=status, response=body, headers=headers)
    adapter = make_adapter(x_api, clock, public_mentions="reply_publicly")
    with pytest.raises(error, match=match) as info:
        adapter.send(reply("tweet:1578516220231397376", "same text again"))
    assert error is AuthError or not isinstance(info.value, AuthError)  # 403 duplicate is not a credentials problem
    if status == 429:
        assert info.value.retry_after == pytest.approx(300)


def test_validate_reply_refuses_early(x_api, clock):
    long_text = "word " * 70  # 350 characters
    publicly = make_adapter(x_api, clock, public_mentions="reply_publicly")
    with pytest.raises(PayloadInvalid, match="allows 280"):
        publicly.validate_reply(long_text, {}, thread_key="tweet:1578516220231397376")
    publicly.validate_reply(long_text, {"thread": True}, thread_key="tweet:1578516220231397376")
    publicly.validate_reply(long_text, {}, thread_key=f"dm:{xc.DM_CONVERSATION}")  # a DM allows 10,000
    make_adapter(x_api, clock).validate_reply(long_text, {}, thread_key="tweet:1")  # move_to_dm: goes by DM
    with pytest.raises(PayloadInvalid, match="10000"):
        publicly.validate_reply("x" * 10001, {})


def test_media_is_fetched_only_from_x_hosts(x_api, clock):
    from normalizers.model import Attachment

    adapter = make_adapter(x_api, clock)
    with pytest.raises(PayloadInvalid, match="not a provider media host"):
        adapter.fetch_attachment(Attachment("a.jpg", url=f"{x_api.base_url}/secret.jpg"), 1000)


def test_unroutable_thread_is_permanent(x_api, clock):
    with pytest.raises(PermanentDeliveryError, match="cannot route"):
        make_adapter(x_api, clock).send(reply("slack:C1", "hi"))


# --- character counting ----------------------------------------------------------------------
def test_post_length_weights():
    assert post_length("a" * 280) == 280
    assert post_length("日本") == 4
    assert post_length("🙂") == 2
    assert post_length("see https://example.com/" + "x" * 100) == 4 + 23


def test_split_thread_keeps_every_word_within_limit():
    text = " ".join(f"word{i}" for i in range(200))
    parts = split_thread(text)
    assert all(post_length(p) <= 280 for p in parts)
    joined = " ".join(p.rsplit(" (", 1)[0] for p in parts)
    assert joined == text
