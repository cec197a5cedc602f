"""slack channel: customer conversations in Slack Connect / workspace channels and DMs.

In:  the Events API at POST /webhooks/<connector>/events (v0 signature, 5-minute window),
     or Socket Mode in the poller when ``app_token`` is set. Both journal the same
     ``event_callback`` envelope; one normalization path (``normalizers/slack.py``).
Out: chat.postMessage into the conversation's thread (``thread_ts``), files with
     files_upload_v2; Slack error codes mapped to retriable / permanent errors.

Everything goes through slack_sdk (WebClient, SignatureVerifier, the built-in
SocketModeClient); ``api_base_url`` points the WebClient at a local test server.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr, field_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.signature import Clock, SignatureVerifier

from channels.base import ChannelAdapter
from channels.slack.web import (
    CHANNEL_ID,
    delivery_error,
    escape_mrkdwn,
    scopes_from_headers,
    sign,
    split_text,
    split_thread_key,
)
from hub import signing
from hub.errors import (
    AuthError,
    ConfigError,
    PayloadInvalid,
    PermanentDeliveryError,
    RetriableDeliveryError,
    SignatureInvalid,
)
from hub.net import check_url, fetch_limited
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
from normalizers import slack as slack_normalizer
from normalizers.model import Attachment, NormalizedMessage

#: chat.postMessage truncates text past 40,000 characters
#: (https://docs.slack.dev/reference/methods/chat.postMessage#truncating): split below that,
#: leaving room for the agent-name prefix
TEXT_CHUNK = 39000
#: how long a users.info / auth.test answer is trusted (seconds)
CACHE_TTL = 24 * 3600
#: the Events API retries a request not answered with 2xx within 3 s; the v0 signature
#: timestamp must be within 5 minutes (https://docs.slack.dev/authentication/verifying-requests-from-slack)
REPLAY_WINDOW = 300
FILE_HOSTS = ("files.slack.com",)
#: where files.slack.com may redirect a download (followed without the token)
FILE_REDIRECT_HOSTS = ("*.slack.com", "*.slack-edge.com", "slack-files.com")

#: scopes the connector cannot work without, and what each one is for
REQUIRED_SCOPES = {
    "chat:write": "send agent replies",
    "users:read": "resolve customer names",
    "channels:read": "list channels (check)",
    "channels:history": "receive messages from public channels",
}
SELECTION_SCOPES = {
    "dm": {"im:history": "receive direct messages", "im:read": "list direct messages"},
    "all": {"groups:history": "receive messages from private channels"},
}
OPTIONAL_SCOPES = {
    "users:read.email": "customer emails are not resolved, so Slack identities do not merge with email ones",
    "files:read": "customer files cannot be downloaded",
    "files:write": "agent attachments cannot be sent",
    "chat:write.customize": "agent names are shown as a text prefix instead of the message's author name",
    "app_mentions:read": "@mentions of the bot in channels it is not in are not received",
}


class SlackConfig(AdapterConfig):
    bot_token: SecretStr = setting(
        title="Bot token", example="xoxb-…",
        help="The app's Bot User OAuth Token (OAuth & Permissions → xoxb-…).")
    signing_secret: SecretStr | None = setting(
        None, title="Signing secret", needed_for="the Events API webhook",
        help="Basic Information → App Credentials. Needed for the Events API webhook (not with Socket Mode).")
    app_token: SecretStr | None = setting(
        None, title="App-level token (Socket Mode)", example="xapp-…",
        help="An app-level token with connections:write: events arrive over Socket Mode, no public URL needed.")
    channels: tuple[str, ...] = setting(
        ("all", "dm"), title="Channels", example="C0123456789", section="addresses",
        help="Channel IDs to listen in, or all (every channel the bot is in), shared (Slack Connect), dm (direct messages).")
    api_base_url: str | None = setting(
        None, title="API base URL", example="https://slack.com/api/", section="advanced", origin_of="url",
        help="Another Web API host (a proxy or a local test server).")

    @field_validator("channels", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("channels")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("channels must name at least one channel id, or all / shared / dm")
        out = []
        for v in value:
            if v.lower() in slack_normalizer.SELECTORS:
                out.append(v.lower())
            elif CHANNEL_ID.match(v):
                out.append(v)
            else:
                raise ValueError(f"unknown channels entry {v!r}: use channel ids (C…, G…, D…) or all / shared / dm")
        return tuple(out)

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("bot_token must be the app's Bot User OAuth Token (xoxb-…)")
        return value

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("app_token must be an app-level token (xapp-…) with connections:write")
        return value


class SlackChannel(ChannelAdapter):
    kind = "slack"
    title = "Slack (channels, Slack Connect, DMs)"
    Config = SlackConfig
    config: SlackConfig  # the instance's validated config (ctx.config)
    hooks = ("events",)
    signed_timestamp = True  # v0 signature over "v0:<timestamp>:<body>"
    # one post; longer replies are split into several (see TEXT_CHUNK)
    max_text_length = TEXT_CHUNK
    supports_attachments = True
    # A channel thread is one conversation and reopens when the customer writes in it again.
    # A DM has no threads, so its thread_key is the DM channel and a new conversation starts
    # after a day of silence or once resolved (see thread_policy).
    reopen_resolved = True
    idle_gap = None
    dm_idle_gap = timedelta(hours=24)
    polls = True
    splits_long_text = True

    def __init__(self, ctx, *, clock: Clock | None = None) -> None:
        super().__init__(ctx)
        self.clock = clock or Clock()
        self.polls = self.config.app_token is not None  # instance view: Socket Mode only with an app token
        self._client: WebClient | None = None
        self._memory: dict[str, tuple[float, dict[str, Any]]] = {}  # key -> (fetched, value)
        self.log = ctx.log or structlog.get_logger("omnihub.channels.slack").bind(connector=ctx.name)

    def thread_policy(self, msg):
        extra = msg.extra or {}
        ctype, channel = extra.get("channel_type"), str(extra.get("channel") or "")
        if ctype in slack_normalizer.DIRECT_TYPES or (not ctype and channel.startswith("D")):
            return False, self.dm_idle_gap
        return True, None

    # --- plumbing ------------------------------------------------------------------------
    @property
    def who(self) -> str:
        return f"slack connector {self.ctx.name!r}"

    def web_client(self) -> WebClient:
        """slack_sdk WebClient with the bot token; base_url = api_base_url when set (tests).

        A configured api_base_url passes the outbound URL guard before every use."""
        if self.config.api_base_url:
            check_url(self.config.api_base_url, key="api_base_url")
        if self._client is None:
            kwargs: dict[str, Any] = {"token": self.config.bot_token.get_secret_value(), "timeout": 15}
            if self.config.api_base_url:
                kwargs["base_url"] = self.config.api_base_url.rstrip("/") + "/"
            self._client = WebClient(**kwargs)
        return self._client

    def _api(self, method: str, **kwargs: Any) -> Any:
        """Call a Web API method, translating slack_sdk errors into hub errors."""
        try:
            return getattr(self.web_client(), method)(**kwargs)
        except SlackApiError as exc:
            raise delivery_error(exc, who=self.who) from None
        except (SlackRequestError, SlackClientError, URLError, TimeoutError, OSError) as exc:
            raise RetriableDeliveryError(f"{self.who}: Slack unreachable: {exc.__class__.__name__}: {exc}") from None

    def _cached(self, key: str) -> dict[str, Any] | None:
        """A cached Web API answer younger than CACHE_TTL: this process's memory first, then the
        connector state shared by every process (one database read)."""
        hit = self._memory.get(key)
        if hit and time.time() - hit[0] < CACHE_TTL:
            return hit[1]
        stored = self.ctx.state.get(key)
        if isinstance(stored, dict) and time.time() - stored.get("fetched", 0) < CACHE_TTL:
            self._memory[key] = (stored["fetched"], stored)
            return stored
        return None

    def _remember(self, key: str, value: Any) -> None:
        """Write connector state (caches, send progress); a failed write never fails the work."""
        try:
            self.ctx.state.set(key, value)
        except Exception as exc:  # noqa: BLE001 - the store is the hub's (a database); logged, not raised
            self.log.warning("slack.state_write_failed", key=key, error=f"{exc.__class__.__name__}: {exc}")

    # --- inbound -------------------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        """v0 HMAC signature with a 5-minute replay window (slack_sdk SignatureVerifier)."""
        if self.config.signing_secret is None or not self.config.signing_secret.get_secret_value():
            raise SignatureInvalid(f"{self.who}: no signing_secret configured; refusing unsigned events")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not timestamp or not signature:
            raise SignatureInvalid(f"{self.who}: missing X-Slack-Request-Timestamp / X-Slack-Signature")
        signing.signed_timestamp(timestamp, now=self.clock.now(), window=REPLAY_WINDOW, header="X-Slack-Request-Timestamp", who=self.who)
        verifier = SignatureVerifier(self.config.signing_secret.get_secret_value(), clock=self.clock)
        if not verifier.is_valid(body=request.body, timestamp=timestamp, signature=signature):
            raise SignatureInvalid(f"{self.who}: X-Slack-Signature does not match")

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "events":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /events)")
        meta = {}
        if request.headers.get("X-Slack-Retry-Num"):
            meta = {
                "retry_num": request.headers.get("X-Slack-Retry-Num"),
                "retry_reason": request.headers.get("X-Slack-Retry-Reason") or "",
            }
        return self.events_from_body(request.body, meta=meta)

    def events_from_body(self, body: bytes, *, meta: dict[str, Any] | None = None) -> list[RawEvent]:
        """One event_callback -> one RawEvent keyed by event_id (provider retries dedupe)."""
        data = slack_normalizer.load(body)
        kind = data.get("type")
        if kind == "url_verification":
            if not isinstance(data.get("challenge"), str):
                raise PayloadInvalid(f"{self.who}: url_verification without a challenge")
            return []
        if kind == "app_rate_limited":
            # Slack stopped delivering events for a minute (over 30,000 per hour)
            self.log.warning("slack.events_rate_limited")
            return []
        event = data.get("event")
        if not isinstance(event, dict):
            raise PayloadInvalid(f"{self.who}: unsupported Events API request type {kind!r}")
        event_id = data.get("event_id") or ""
        if not event_id:
            # every real event_callback carries event_id; fall back to a content hash so a
            # retried identical body still deduplicates
            event_id = "sha256:" + hashlib.sha256(body).hexdigest()
        return [
            RawEvent(
                external_id=event_id,
                hook="events",
                payload=body,
                content_type="application/json",
                meta={"event_type": event.get("type") or "", **(meta or {})},
            )
        ]

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        if not events:
            try:
                data = json.loads(request.body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = {}
            if isinstance(data, dict) and data.get("type") == "url_verification":
                return WebhookResponse(200, json.dumps({"challenge": data.get("challenge", "")}), "application/json")
        return WebhookResponse(200, b"", "text/plain")

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        """Resolve users (cached in ctx.state) and Slack Connect files, then normalize (pure)."""
        try:
            return self._normalize(event)
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # A field of the wrong JSON type (found by fuzzing): malformed, not our bug ->
            # quarantined with the reason instead of retried as a crash.
            raise PayloadInvalid(f"slack: malformed event: {exc.__class__.__name__}: {exc}") from None

    def _normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        envelope = slack_normalizer.load(event.payload)
        selection = self.config.channels
        if slack_normalizer.ignore_reason(envelope, selection):
            return []
        users = {uid: info for uid in sorted(slack_normalizer.user_ids(envelope)) if (info := self.user_info(uid))}
        files = {}
        for fid in slack_normalizer.files_needing_info(envelope):
            try:
                files[fid] = self._api("files_info", file=fid)["file"]
            except (PermanentDeliveryError, RetriableDeliveryError) as exc:
                self.log.warning("slack.files_info_failed", file=fid, error=str(exc))
        return slack_normalizer.normalize(
            envelope, connector=self.ctx.name, selection=selection, users=users, files=files
        )

    def user_info(self, user_id: str) -> dict[str, Any] | None:
        """users.info -> {"name", "email", "team", "is_bot"}, cached in ctx.state for a day."""
        key = f"slack:user:{user_id}"
        cached = self._cached(key)
        if cached is not None:
            return cached
        try:
            user = self._api("users_info", user=user_id)["user"]
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            # never block ingestion on a name: the id stands in, and the next message retries
            self.log.warning("slack.users_info_failed", user=user_id, error=str(exc))
            stale = self._memory.get(key)
            return stale[1] if stale else None
        profile = user.get("profile") or {}
        info = {
            "name": profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id,
            "real_name": profile.get("real_name") or user.get("real_name") or "",
            "email": (profile.get("email") or "").lower(),
            "team": user.get("team_id") or profile.get("team") or "",
            "is_bot": bool(user.get("is_bot")),
            "fetched": time.time(),
        }
        self._remember(key, info)
        self._memory[key] = (float(info["fetched"]), info)
        return info

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Download a Slack file with the bot token, only from files.slack.com (+ the test server)."""
        if not attachment.url:
            raise PayloadInvalid(f"{self.who}: attachment {attachment.filename!r} has no URL")
        hosts = list(FILE_HOSTS)
        if self.config.api_base_url:
            parts = urlsplit(self.config.api_base_url)
            hosts.append(f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or "")
        data, ctype = fetch_limited(
            attachment.url,
            allowed_hosts=hosts,
            max_bytes=max_bytes,
            headers={"Authorization": f"Bearer {self.config.bot_token.get_secret_value()}"},
            follow_redirects_to=FILE_REDIRECT_HOSTS,
            who=f"{self.who}: ",
        )
        # Without files:read Slack answers 200 with its HTML sign-in page instead of the file.
        if ctype.startswith("text/html") and not attachment.content_type.startswith("text/html"):
            raise PayloadInvalid(f"{self.who}: Slack returned a sign-in page for {attachment.filename!r}: the bot token needs files:read")
        return data

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """Socket Mode (when app_token is set): journal each events_api envelope, then ack it."""
        if self.config.app_token is None:
            stop.wait()
            return
        from channels.slack.socket_mode import run_socket_mode

        run_socket_mode(self, sink, stop)

    # --- outbound ------------------------------------------------------------------------
    def send(self, reply: OutboundReply) -> SendResult:
        """chat.postMessage into the thread (long text in several posts), then files_upload_v2.

        When a later step fails after earlier ones were delivered, the delivered parts are
        remembered in the connector state (shared by every worker) so the retry does not post
        them twice, and the error says what already reached Slack.
        """
        channel, thread_ts = split_thread_key(reply.thread_key)
        author = (reply.author_name or "").strip()
        body = escape_mrkdwn(reply.text or "")
        if not body.strip() and not reply.attachments:
            raise PermanentDeliveryError(f"{self.who}: the reply has neither text nor files")
        customize = bool(author) and "chat:write.customize" in self.scopes()
        label = f"*{escape_mrkdwn(author)}*" if author else ""
        chunks = split_text(body, TEXT_CHUNK) if body.strip() else []
        if label and not customize and chunks:
            chunks[0] = f"{label}: {chunks[0]}"
        key = f"slack:reply:{reply.id}"
        progress = dict(self.ctx.state.get(key) or {})
        posted: list[str] = list(progress.get("ts") or [])
        file_ids: list[str] = list(progress.get("files") or [])
        try:
            for chunk in chunks[len(posted):]:
                kwargs: dict[str, Any] = {"channel": channel, "text": chunk, "unfurl_links": False}
                if thread_ts:
                    kwargs["thread_ts"] = thread_ts
                if customize:
                    kwargs["username"] = author
                posted.append(self._api("chat_postMessage", **kwargs)["ts"])
            if reply.attachments and not file_ids:
                uploads = [{"file": b.read(), "filename": b.filename, "title": b.filename} for b in reply.attachments]
                kwargs = {"channel": channel, "file_uploads": uploads}
                if thread_ts:
                    kwargs["thread_ts"] = thread_ts
                if not chunks and label:  # files only: the author line goes with them
                    kwargs["initial_comment"] = label
                resp = self._api("files_upload_v2", **kwargs)
                file_ids = [f["id"] for f in resp.get("files") or () if f.get("id")]
        except (RetriableDeliveryError, PermanentDeliveryError) as exc:
            if posted or file_ids:
                self._remember(key, {"ts": posted, "files": file_ids})
                exc.args = (f"{exc.args[0]} (already in Slack: {len(posted)} of {len(chunks)} text parts"
                            f"{', the files' if file_ids else ''})",)
            raise
        if progress:
            self._remember(key, None)
        if posted:
            external_id = f"{channel}:{posted[0]}"
        else:
            external_id = f"{channel}:file:{file_ids[0]}" if file_ids else f"{channel}:reply:{reply.id}"
        parts = tuple(f"{channel}:{ts}" for ts in posted[1:]) + tuple(file_ids)
        return SendResult(
            external_id=external_id,
            state="sent",
            detail={"channel": channel, "thread_ts": thread_ts, "files": file_ids, "username": customize},
            parts=parts,
        )

    def scopes(self) -> set[str]:
        """The bot token's scopes (auth.test's x-oauth-scopes header), cached in ctx.state."""
        cached = self._cached("slack:scopes")
        if cached is not None:
            return set(cached.get("scopes") or ())
        resp = self._api("auth_test")
        scopes = scopes_from_headers(resp.headers)
        self._remember_scopes(scopes)
        return scopes

    def _remember_scopes(self, scopes: set[str]) -> None:
        fetched = time.time()
        value = {"scopes": sorted(scopes), "fetched": fetched}
        self._remember("slack:scopes", value)
        self._memory["slack:scopes"] = (fetched, value)

    # --- admin ---------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """auth.test + conversations.list; names any missing scope."""
        try:
            auth = self._api("auth_test")
        except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
            return CheckResult(False, str(exc))
        scopes = scopes_from_headers(auth.headers)
        self._remember_scopes(scopes)
        required = dict(REQUIRED_SCOPES)
        for sel in self.config.channels:
            required.update(SELECTION_SCOPES.get(sel, {}))
        if any(c.startswith("G") or (c.startswith("C") and c not in slack_normalizer.SELECTORS) for c in self.config.channels):
            required.setdefault("groups:history", "receive messages from private channels")
        missing = {s: why for s, why in required.items() if scopes and s not in scopes}
        optional_missing = {s: why for s, why in OPTIONAL_SCOPES.items() if scopes and s not in scopes}
        details: dict[str, Any] = {
            "team": auth.get("team"),
            "team_id": auth.get("team_id"),
            "bot_user_id": auth.get("user_id"),
            "bot_id": auth.get("bot_id"),
            "scopes": sorted(scopes),
            "missing_scopes": missing,
            "optional_missing_scopes": optional_missing,
        }
        types = ["public_channel"]
        if "groups:read" in scopes:
            types.append("private_channel")
        if "im:read" in scopes:
            types.append("im")
        if "mpim:read" in scopes:
            types.append("mpim")
        try:
            convs = self._list_conversations(",".join(types))
        except AuthError as exc:
            needed = getattr(exc, "needed", None)
            if needed:
                missing.update({s: "list conversations (check)" for s in needed.split(",")})
            details["conversations_error"] = str(exc)
            convs = []
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            details["conversations_error"] = str(exc)
            convs = []
        member = [c for c in convs if c.get("is_member") or c.get("is_im")]
        details["conversations"] = {
            "member_of": len([c for c in member if not c.get("is_im")]),
            "shared": len([c for c in member if c.get("is_ext_shared")]),
            "dms": len([c for c in member if c.get("is_im")]),
        }
        ids = [c for c in self.config.channels if c not in slack_normalizer.SELECTORS]
        known = {c.get("id"): c for c in convs}
        not_member = [c for c in ids if not (known.get(c) or {}).get("is_member") and not c.startswith("D")]
        if not_member and convs:
            details["not_member_of"] = not_member
        problems = []
        if missing:
            problems.append("missing scopes: " + ", ".join(f"{s} ({why})" for s, why in sorted(missing.items())))
        if "conversations_error" in details and not missing:
            problems.append(details["conversations_error"])
        if details.get("not_member_of"):
            problems.append("bot is not in: " + ", ".join(details["not_member_of"]) + " (invite it with /invite)")
        if problems:
            return CheckResult(False, f"{auth.get('team')}: " + "; ".join(problems), details)
        summary = f"connected to {auth.get('team')} as <@{auth.get('user_id')}>; in {details['conversations']['member_of']} channels"
        if optional_missing:
            summary += "; optional scopes missing: " + ", ".join(sorted(optional_missing))
        return CheckResult(True, summary, details)

    def _list_conversations(self, types: str, max_pages: int = 10) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        for _ in range(max_pages):
            kwargs: dict[str, Any] = {"types": types, "exclude_archived": True, "limit": 200}
            if cursor:
                kwargs["cursor"] = cursor
            resp = self._api("conversations_list", **kwargs)
            out.extend(resp.get("channels") or ())
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return out

    # --- tools ---------------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        """A correctly signed event_callback carrying one message from sender_id."""
        if self.config.signing_secret is None:
            raise ConfigError(f"{self.who}: set signing_secret to simulate signed events")
        now = int(self.clock.now())
        ts = options.get("ts") or f"{time.time():.6f}"
        selection = self.config.channels
        ids = [c for c in selection if c not in slack_normalizer.SELECTORS and not c.startswith("D")]
        channel = options.get("channel") or (ids[0] if ids else "C0SIMULATED")
        shared = options.get("shared", "shared" in selection and "all" not in selection and not ids)
        event: dict[str, Any] = {
            "type": "message",
            "user": sender_id,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel": channel,
            "channel_type": options.get("channel_type") or ("im" if channel.startswith("D") else "channel"),
            "team": options.get("team") or "T0SIMULATED",
        }
        if options.get("thread_ts"):
            event["thread_ts"] = options["thread_ts"]
        if options.get("name"):  # Slack includes user_profile on some message events
            event["user_profile"] = {"display_name": options["name"], "real_name": options["name"]}
        body = json.dumps(
            {
                "token": "simulated",
                "team_id": options.get("team") or "T0SIMULATED",
                "api_app_id": "A0SIMULATED",
                "event": event,
                "type": "event_callback",
                "event_id": options.get("event_id") or f"EvSIM{time.time_ns()}",
                "event_time": now,
                "authorizations": [
                    {"team_id": options.get("team") or "T0SIMULATED", "user_id": options.get("bot_user_id") or "U0SIMBOT", "is_bot": True}
                ],
                "is_ext_shared_channel": bool(shared),
            }
        ).encode()
        headers = {"Content-Type": "application/json", **sign(self.config.signing_secret.get_secret_value(), body, now)}
        return "events", headers, body
