"""The x channel adapter: config, webhook (Account Activity), polling, sending, check."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any, Literal

import requests
import structlog
import tweepy
from oauthlib.oauth1 import Client as OAuth1Signer
from pydantic import SecretStr, model_validator

from channels.base import ChannelAdapter
from channels.x import webhook
from channels.x.api import DuplicateContent, delivery_error, make_client
from channels.x.poller import Poller, RateLimited
from channels.x.text import MAX_POST, post_length, split_thread
from hub.errors import AuthError, DeliveryError, PayloadInvalid, PermanentDeliveryError, SignatureInvalid
from hub.net import fetch_limited
from hub.types import (
    AdapterConfig,
    CheckResult,
    OutboundReply,
    PollSink,
    RawEvent,
    SendResult,
    StopEvent,
    WebhookRequest,
    WebhookResponse,
    setting,
)
from normalizers import x as x_normalizer
from normalizers.model import Attachment, NormalizedMessage

_OAUTH1 = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
MEDIA_HOSTS = ("pbs.twimg.com", "video.twimg.com", "ton.twitter.com")

#: the one public answer to a mention in move_to_dm mode (never asks for details in public)
POINTER_SENT = (
    "Thanks for reaching out. We have sent you a Direct Message so we can help you privately. "
    "We will never ask for your password or recovery phrase."
)
POINTER_ASK = (
    "Thanks for reaching out. Please send us a Direct Message so we can help you privately. "
    "Never share account details, passwords or recovery phrases in public."
)


class XConfig(AdapterConfig):
    """An X account: OAuth 1.0a user keys (or an OAuth 2.0 user token as bearer_token)."""

    bearer_token: SecretStr | None = setting(
        None, title="OAuth 2.0 user token",
        help="An OAuth 2.0 user access token of the support account (instead of the four OAuth 1.0a keys below).")
    consumer_key: SecretStr | None = setting(
        None, title="API key (consumer key)", help="OAuth 1.0a: the app's API key (developer portal → Keys and tokens).")
    consumer_secret: SecretStr | None = setting(
        None, title="API key secret", help="OAuth 1.0a: the app's API key secret. Also signs the Account Activity webhooks.")
    access_token: SecretStr | None = setting(
        None, title="Access token", help="OAuth 1.0a: the support account's access token (generated for the account, read + write + DM).")
    access_token_secret: SecretStr | None = setting(
        None, title="Access token secret", help="OAuth 1.0a: the support account's access token secret.")
    user_id: str = setting(
        title="Support account ID", example="1234567890", section="addresses", pattern=r"^\d+$",
        help="The numeric user ID of the support account (not its @handle).")
    poll_interval: float = setting(
        60.0, title="Poll interval (seconds)", section="behaviour", ge=5, le=3600,
        help="Seconds between polls for mentions and DMs when no webhook delivers them (5–3600).")
    public_mentions: Literal["reply_publicly", "move_to_dm"] = setting(
        "move_to_dm", title="Public mentions", section="behaviour",
        help="move_to_dm: answer a public mention by inviting the customer to a DM (account details stay private); "
             "reply_publicly: answer in the thread.")
    api_base_url: str | None = setting(
        None, title="API base URL", example="https://api.x.com", section="advanced", origin_of="url", pattern=r"^https?://[^/?#]+/?$",
        help="Another API host (a proxy or a local test server).")

    @model_validator(mode="after")
    def _credentials(self) -> XConfig:
        have = [k for k in _OAUTH1 if getattr(self, k) is not None]
        if have and len(have) < len(_OAUTH1):
            missing = ", ".join(k for k in _OAUTH1 if k not in have)
            raise ValueError(f"OAuth 1.0a needs all four keys; missing: {missing}")
        if not have and self.bearer_token is None:
            raise ValueError("set consumer_key/consumer_secret/access_token/access_token_secret (or an OAuth 2.0 user token as bearer_token)")
        return self


class XChannel(ChannelAdapter):
    kind = "x"
    title = "X (Twitter)"
    Config = XConfig
    config: XConfig  # the instance's validated config (ctx.config)
    hooks = ("activity",)
    get_hooks = ("activity",)  # the CRC challenge is a GET
    challenge_params = ("crc_token",)
    max_text_length = 10000  # a DM; public replies are checked against 280 in send()
    supports_attachments = False
    reopen_resolved = False
    polls = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        #: injectable for tests: the wall clock, and sleep(seconds) used instead of stop.wait
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] | None = None
        self._client: tweepy.Client | None = None
        self._user_auth = False
        self.log = ctx.log or structlog.get_logger("omnihub.channels.x").bind(connector=ctx.name)

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            self._client, self._user_auth = make_client(self.config)
        return self._client

    @property
    def who(self) -> str:
        return f"x connector {self.ctx.name!r}"

    def _secret(self, name: str) -> str | None:
        value = getattr(self.config, name)
        return value.get_secret_value() if value is not None else None

    # --- webhook (Account Activity API, optional push mode) ----------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        if hook != "activity":
            raise SignatureInvalid(f"x: unknown hook {hook!r}")
        secret = self._secret("consumer_secret")
        if request.method.upper() == "GET":
            # The CRC challenge is unsigned; answering it needs the secret (fail closed).
            if not secret:
                raise SignatureInvalid("x: no consumer_secret configured; cannot answer the CRC")
            tokens = [v for k, v in request.args if k == "crc_token"]
            if len(tokens) != 1 or request.body:
                raise SignatureInvalid("x: a CRC is a GET with exactly one crc_token and no body")
            webhook.check_crc_token(tokens[0])
            return
        webhook.verify_signature(secret, request.body, request.headers.get(webhook.SIGNATURE_HEADER))

    def replay_key(self, hook: str, request: WebhookRequest) -> bytes | None:
        # the signature covers the body only (no timestamp)
        return (request.headers.get(webhook.SIGNATURE_HEADER) or "").strip().encode() or None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if request.method.upper() == "GET":
            return []
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadInvalid(f"x: activity body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise PayloadInvalid("x: activity body must be a JSON object")
        for_user = str(body.get("for_user_id") or "")
        if for_user and for_user != self.config.user_id:
            self.log.warning("x.activity_other_user", for_user_id=for_user)
            return []
        return [
            RawEvent(
                external_id=eid,
                hook=hook,
                payload=json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode(),
                meta={"source": "activity"},
            )
            for eid, env in x_normalizer.split_activity(body)
        ]

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        if request.method.upper() == "GET":
            token = dict(request.args).get("crc_token") or ""
            secret = self._secret("consumer_secret") or ""
            if not token or not secret or not webhook.CRC_TOKEN.fullmatch(token):
                # verify() refuses these first; never answer without both, never for another shape
                return WebhookResponse(403, b'{"error":"crc refused"}')
            body = json.dumps({"response_token": webhook.crc_response_token(secret, token)})
            return WebhookResponse(200, body.encode())
        return WebhookResponse(200, b"")

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        return x_normalizer.normalize(event.payload, connector=self.ctx.name)

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        if not attachment.url:
            raise PayloadInvalid("x: attachment has no url")
        headers = None
        if attachment.url.startswith("https://ton.twitter.com/") and self._secret("access_token"):
            # DM media lives on ton.twitter.com behind OAuth 1.0a user auth
            signer = OAuth1Signer(
                self._secret("consumer_key"),
                client_secret=self._secret("consumer_secret"),
                resource_owner_key=self._secret("access_token"),
                resource_owner_secret=self._secret("access_token_secret"),
            )
            _uri, headers, _body = signer.sign(attachment.url, "GET")
        elif attachment.url.startswith("https://ton.twitter.com/") and self._secret("bearer_token"):
            headers = {"Authorization": f"Bearer {self._secret('bearer_token')}"}
        data, _ctype = fetch_limited(
            attachment.url,
            allowed_hosts=MEDIA_HOSTS,
            max_bytes=max_bytes,
            headers=headers,
            follow_redirects_to=("*.twimg.com",),
            who=f"{self.who}: ",
        )
        return data

    # --- polling -----------------------------------------------------------------------------
    def _wait(self, seconds: float, stop: StopEvent) -> bool:
        """Wait seconds (interruptible); True when stop is set."""
        if self.sleep is not None:
            self.sleep(seconds)
            return stop.is_set()
        return stop.wait(seconds)

    def poller(self) -> Poller:
        client = self.client
        return Poller(
            client,
            user_id=self.config.user_id,
            user_auth=self._user_auth,
            state=self.ctx.state,
            clock=self.clock,
            who=self.who,
            log=self.log,
        )

    def poll_once(self, sink: PollSink, poller: Poller | None = None) -> int:
        """One pass: mentions, then DM events. Raises the first provider error after both ran."""
        poller = poller or self.poller()
        recorded, first_error = 0, None
        for step in (poller.mentions, poller.dm_events):
            try:
                recorded += step(sink)
            except DeliveryError as exc:
                first_error = first_error or exc
        if first_error:
            raise first_error
        return recorded

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """Poll mentions and DM events, each on its own schedule.

        An endpoint whose rate-limit window is used up (or that answered 429) waits until
        its reset while the other keeps polling; a failing endpoint backs off (2x, 4x ...
        poll_interval, at most 15 min). Every wait is interruptible by ``stop``.
        """
        poller = self.poller()  # one Poller: rate-limit windows survive between passes
        steps = {"mentions": poller.mentions, "dm_events": poller.dm_events}
        due = dict.fromkeys(steps, 0.0)
        failures = dict.fromkeys(steps, 0)
        noted_ok = False
        interval = self.config.poll_interval
        while not stop.is_set():
            for name, step in steps.items():
                if due[name] > self.clock() or stop.is_set():
                    continue
                try:
                    step(sink)
                    failures[name] = 0
                    if not noted_ok and not any(failures.values()):  # every endpoint works (again)
                        _note_health(sink, None)
                        noted_ok = True
                    due[name] = self.clock() + interval
                except RateLimited as exc:
                    self.log.info("x.rate_limited", endpoint=name, seconds=round(exc.until - self.clock(), 1))
                    due[name] = exc.until
                except DeliveryError as exc:
                    failures[name] += 1
                    self.log.warning("x.poll_failed", endpoint=name, failures=failures[name], error=str(exc))
                    # refused credentials make the connector red at once (hub.health); others after a while
                    _note_health(sink, f"X {name}: {exc}", auth=isinstance(exc, AuthError))
                    noted_ok = False
                    due[name] = self.clock() + min(interval * 2 ** min(failures[name], 6), 900.0)
            # never a tight loop: at least one second between rounds
            if self._wait(max(1.0, min(due.values()) - self.clock()), stop):
                return

    # --- sending -----------------------------------------------------------------------------
    def _api(self, what: str, fn: Callable[..., requests.Response], **params: Any) -> dict[str, Any]:
        try:
            return fn(**params).json()
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise delivery_error(exc, who=f"{self.who} {what}", clock=self.clock) from None

    def _dm(self, text: str, *, dm_conversation_id: str | None = None, participant_id: str | None = None) -> dict[str, Any]:
        client = self.client
        body = self._api(
            "create_direct_message",
            client.create_direct_message,
            dm_conversation_id=dm_conversation_id,
            participant_id=participant_id,
            text=text,
            user_auth=self._user_auth,
        )
        return body["data"]

    def _post_thread(self, progress_key: str, parts: list[str], in_reply_to: str) -> list[str]:
        """Post parts as a chain of replies; resumes after the parts a failed try already posted."""
        client = self.client
        progress = dict(self.ctx.state.get(progress_key) or {})
        posted: list[str] = list(progress.get("posted") or [])
        for part in parts[len(posted):]:
            body = self._api(
                "create_tweet",
                client.create_tweet,
                text=part,
                in_reply_to_tweet_id=posted[-1] if posted else in_reply_to,
                user_auth=self._user_auth,
            )
            posted.append(str(body["data"]["id"]))
            self.ctx.state.set(progress_key, {**progress, "posted": posted})
        return posted

    def composer_limits(self, medium: str, thread_key: str) -> dict[str, Any]:
        """What the inbox composer shows: 280 characters for a public reply, the DM limit otherwise."""
        public = thread_key.startswith("tweet:") and self.config.public_mentions == "reply_publicly"
        return {"max_length": MAX_POST if public else self.max_text_length, "public": public}

    def validate_reply(self, text: str, options: dict[str, Any], thread_key: str | None = None) -> None:
        """Refuse early what send() would refuse: a public reply over 280 characters unthreaded.

        ``thread_key`` (the conversation's) is needed to know a public thread from a DM;
        without it only the DM limit is checked here and send() checks the rest.
        """
        super().validate_reply(text, options)
        public = (thread_key or "").startswith("tweet:") and self.config.public_mentions == "reply_publicly"
        if public and not options.get("thread"):
            length = post_length(text.strip())
            if length > MAX_POST:
                raise PayloadInvalid(
                    f"a public reply on X allows {MAX_POST} characters as X counts them; this one has "
                    f"{length}: shorten it or send it as a thread (option thread=true)"
                )

    def send(self, reply: OutboundReply) -> SendResult:
        text = reply.text.strip()
        if not text:
            raise PermanentDeliveryError(f"{self.who}: empty reply (attachments are not sent on X yet)")
        kind, _, key = reply.thread_key.partition(":")
        if kind == "dm":
            if key:
                data = self._dm(text, dm_conversation_id=key)
            else:
                data = self._dm(text, participant_id=reply.to.address)
            return SendResult(f"dm:{data['dm_event_id']}", detail={"dm_conversation_id": data.get("dm_conversation_id")})
        if kind != "tweet" or not key:
            raise PermanentDeliveryError(f"{self.who}: cannot route a reply to thread {reply.thread_key!r}")
        target = reply.in_reply_to.split(":", 1)[1] if reply.in_reply_to and reply.in_reply_to.startswith("tweet:") else key
        if self.config.public_mentions == "move_to_dm":
            return self._move_to_dm(reply, text, conversation=key, target=target)
        length = post_length(text)
        if length > MAX_POST and not reply.options.get("thread"):
            raise PermanentDeliveryError(
                f"{self.who}: the reply is {length} characters as X counts them; a public reply "
                f"allows {MAX_POST}. Shorten it, or send it as a thread (reply option thread=true)."
            )
        posted = self._post_thread(f"reply.{reply.id}", split_thread(text), target)
        self.ctx.state.set(f"reply.{reply.id}", None)  # fully sent: the progress is no longer needed
        return SendResult(f"tweet:{posted[0]}", parts=tuple(f"tweet:{t}" for t in posted[1:]))

    def _move_to_dm(self, reply: OutboundReply, text: str, *, conversation: str, target: str) -> SendResult:
        """The agent's text goes by DM; the first answer in a public thread says so, publicly."""
        state = self.ctx.state
        progress_key = f"reply.{reply.id}"
        progress = dict(state.get(progress_key) or {})
        dm_error: PermanentDeliveryError | None = None
        if not progress.get("dm"):
            try:
                data = self._dm(text, participant_id=reply.to.address)
                progress.update(dm=str(data["dm_event_id"]), dm_conversation_id=data.get("dm_conversation_id"))
                state.set(progress_key, progress)
            except PermanentDeliveryError as exc:
                dm_error = exc
        pointed_key = f"moved_to_dm.{conversation}"
        pointer = state.get(pointed_key)
        ours = None
        if not pointer or (state.get(progress_key) or {}).get("posted"):
            # first public answer in this conversation (or a retry of the reply that posted it)
            try:
                ours = self._post_thread(progress_key, [POINTER_ASK if dm_error else POINTER_SENT], target)[0]
                state.set(pointed_key, ours)
            except DuplicateContent:
                # the same fixed text is already there (posted by another worker whose state
                # we had not seen yet): the customer has the pointer, the DM is what counts
                self.log.info("x.pointer_already_posted", conversation=conversation)
                state.set(pointed_key, "duplicate")
        if dm_error:
            raise PermanentDeliveryError(f"{dm_error} (a public reply asked the customer to DM us)")
        state.set(progress_key, None)  # fully sent: the progress is no longer needed
        return SendResult(
            f"dm:{progress['dm']}",
            parts=(f"tweet:{ours}",) if ours else (),
            detail={"moved_to_dm": True, "dm_conversation_id": progress.get("dm_conversation_id")},
        )

    # --- tools -------------------------------------------------------------------------------
    def check(self) -> CheckResult:
        client = self.client
        try:
            resp = client.get_me(user_auth=self._user_auth, user_fields=["name", "username"])
        except (tweepy.TweepyException, requests.RequestException) as exc:
            return CheckResult(False, str(delivery_error(exc, who=f"{self.who} get_me", clock=self.clock)))
        me = resp.json().get("data") or {}
        # OAuth 1.0a answers say what the app may do: DMs need "read-write-directmessages"
        access = resp.headers.get("x-access-level")
        details = {
            "user_id": me.get("id"),
            "username": me.get("username"),
            "auth": "oauth1 user context" if self._user_auth else "bearer token",
            "access_level": access,
            "webhook": self.ctx.webhook_url("activity") if self.config.consumer_secret else "disabled (no consumer_secret)",
        }
        if str(me.get("id")) != self.config.user_id:
            return CheckResult(
                False,
                f"the credentials belong to @{me.get('username')} (id {me.get('id')}), not user_id "
                f"{self.config.user_id}: fix user_id or the tokens",
                details,
            )
        if access and "directmessages" not in access:
            return CheckResult(
                False,
                f"authenticated as @{me.get('username')}, but the app's access level is {access!r}: give the "
                "X app 'Read and write and Direct message' permission and regenerate the access token",
                details,
            )
        return CheckResult(True, f"authenticated as @{me.get('username')} (id {me.get('id')})", details)

    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        """A signed Account Activity DM delivery from sender_id to the support account."""
        secret = self._secret("consumer_secret")
        if not secret:
            raise PermanentDeliveryError(f"{self.who}: simulate needs consumer_secret (it signs the webhook)")
        now_ms = int(self.clock() * 1000)
        event_id = options.get("id") or str(((now_ms - 1288834974657) << 22) | random.getrandbits(22))
        me = self.config.user_id
        body = {
            "for_user_id": me,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event_id,
                    "created_timestamp": str(now_ms),
                    "message_create": {
                        "target": {"recipient_id": me},
                        "sender_id": sender_id,
                        "message_data": {"text": text, "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}},
                    },
                }
            ],
            "users": {
                sender_id: {
                    "id": sender_id,
                    "name": options.get("name") or f"user {sender_id}",
                    "screen_name": options.get("username") or f"user{sender_id}",
                }
            },
        }
        raw = json.dumps(body).encode()
        return "activity", {"Content-Type": "application/json", webhook.SIGNATURE_HEADER: webhook.sign(secret, raw)}, raw



def _note_health(sink: PollSink, error: str | None, auth: bool = False) -> None:
    """Tell the sink (when it keeps connector health: the poller's) that polling worked or failed."""
    note = getattr(sink, "health", None)
    if note is not None:
        note(error, auth=auth)

__all__ = ["XChannel", "XConfig"]
