"""The discord channel adapter (see channels/discord/__init__.py for the overview)."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import SecretStr, field_validator

from channels.base import ChannelAdapter, split_text
from channels.discord.gateway import Gateway
from channels.discord.rest import DEFAULT_API, DiscordRest
from hub import signing
from hub.errors import (
    AuthError,
    PayloadInvalid,
    PermanentDeliveryError,
    RetriableDeliveryError,
    SignatureInvalid,
)
from hub.net import UrlRefused, check_url, fetch_limited
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
from normalizers import discord as dn
from normalizers.model import Attachment, NormalizedMessage

#: "content: up to 2000 characters" (https://discord.com/developers/docs/resources/message#create-message)
TEXT_LIMIT = 2000
#: interactions must be verified and answered; Discord signs a timestamp
REPLAY_WINDOW = 300
CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
COMMAND = "support"
BUTTON = "omnihub_contact_support"
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT = 1, 2, 3
PRIVATE_THREAD = 12
EPHEMERAL = 1 << 6
SNOWFLAKE = re.compile(r"^\d{15,21}$")
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
#: the Gateway session (id, resume URL, last journaled sequence), so a restarted poller resumes
SESSION_KEY = "discord:gateway_session"


def _ids(value: Any) -> Any:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return value


def _snowflakes(value: tuple[str, ...], key: str) -> tuple[str, ...]:
    bad = [v for v in value if not SNOWFLAKE.match(v)]
    if bad:
        raise ValueError(f"{key}: {', '.join(bad)} is not a Discord id (turn on Developer Mode, then right-click → Copy ID)")
    return tuple(value)


class DiscordConfig(AdapterConfig):
    bot_token: SecretStr = setting(
        title="Bot token", example="MTIzNDU2Nzg5MDEyMzQ1Njc4.GxYz…",
        help="Discord Developer Portal → your application → Bot → Reset Token. Turn on the Message Content intent there too.")
    application_id: str | None = setting(
        None, title="Application ID", example="1187654321098765432", needed_for="the Contact support command",
        help="Developer Portal → General Information → Application ID.")
    public_key: str | None = setting(
        None, title="Public key", example="e3b0c442…(64 hex characters)", needed_for="the interactions webhook",
        help="Developer Portal → General Information → Public Key: verifies the Contact support command's calls.")
    guild_ids: tuple[str, ...] = setting(
        (), title="Servers", example="1098765432109876543", section="addresses",
        help="IDs of the servers (guilds) to serve, comma-separated; empty: every server the bot is in.")
    support_channel_ids: tuple[str, ...] = setting(
        (), title="Support channels", example="1123456789012345678", section="addresses",
        help="Text or forum channels whose threads are support conversations (one thread = one conversation); "
             "the Contact support command opens private threads in the first one.")
    dms: bool = setting(True, title="Direct messages", help="Answer direct messages to the bot.")
    api_base_url: str | None = setting(
        None, title="API base URL", example=DEFAULT_API, section="advanced", origin_of="url",
        help="Another Discord REST API host (a proxy or a local test server).")
    gateway_url: str | None = setting(
        None, title="Gateway URL", example="wss://gateway.discord.gg", section="advanced", origin_of="url",
        help="The Gateway websocket to connect to; empty: the one Discord names (GET /gateway/bot).")

    @field_validator("guild_ids", "support_channel_ids", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _ids(value)

    @field_validator("guild_ids")
    @classmethod
    def _guilds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _snowflakes(value, "guild_ids")

    @field_validator("support_channel_ids")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _snowflakes(value, "support_channel_ids")

    @field_validator("application_id")
    @classmethod
    def _app(cls, value: str | None) -> str | None:
        if value and not SNOWFLAKE.match(value.strip()):
            raise ValueError("application_id must be the numeric Application ID from the Developer Portal")
        return value.strip() if value else None

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value and not HEX64.match(value.strip()):
            raise ValueError("public_key must be the 64 hexadecimal characters of the Developer Portal's Public Key")
        return value.strip().lower() if value else None

    @field_validator("gateway_url")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("wss", "ws"):
            raise ValueError("gateway_url must be a wss:// (or ws:// for a local test server) URL")
        return value or None


class DiscordChannel(ChannelAdapter):
    kind = "discord"
    title = "Discord (DMs and support threads)"
    Config = DiscordConfig
    config: DiscordConfig
    hooks = ("interactions",)
    signed_timestamp = True  # Ed25519 over timestamp + body
    refused_status = 401  # Discord's interactions endpoint contract
    max_text_length = TEXT_LIMIT
    splits_long_text = True
    supports_attachments = True
    reopen_resolved = True
    idle_gap = None
    dm_idle_gap = timedelta(hours=24)
    polls = True

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.polls = bool(self.config.dms or self.config.support_channel_ids)
        self._rest: DiscordRest | None = None
        self._channels: dict[str, dict[str, Any]] = {}
        self.gateway: Gateway | None = None
        self.log = ctx.log or structlog.get_logger("omnihub.channels.discord").bind(connector=ctx.name)

    @property
    def who(self) -> str:
        return f"discord connector {self.ctx.name!r}"

    def rest(self) -> DiscordRest:
        if self._rest is None:
            self._rest = DiscordRest(self.config.bot_token.get_secret_value(), self.config.api_base_url, who=self.who)
        return self._rest

    def thread_policy(self, msg: NormalizedMessage) -> tuple[bool, timedelta | None]:
        if msg.thread_key.startswith("dm:"):
            return False, self.dm_idle_gap
        return True, None

    def _filters(self) -> dict[str, Any]:
        return {"support_channel_ids": self.config.support_channel_ids, "dms": self.config.dms, "guild_ids": self.config.guild_ids}

    # --- interactions webhook -----------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        """Ed25519 over X-Signature-Timestamp + body with public_key, 5-minute window. Fail closed."""
        if not self.config.public_key:
            raise SignatureInvalid(f"{self.who}: no public_key configured; refusing unsigned interactions")
        signature = request.headers.get("X-Signature-Ed25519") or ""
        timestamp = request.headers.get("X-Signature-Timestamp") or ""
        signing.signed_timestamp(timestamp, now=time.time(), window=REPLAY_WINDOW, header="X-Signature-Timestamp", who=self.who)
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.config.public_key))
            key.verify(bytes.fromhex(signature), timestamp.encode() + request.body)
        except (ValueError, InvalidSignature):
            raise SignatureInvalid(f"{self.who}: X-Signature-Ed25519 does not verify") from None

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "interactions":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /interactions)")
        try:
            data = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PayloadInvalid(f"{self.who}: interaction is not JSON: {exc}") from None
        if not isinstance(data, dict) or "type" not in data:
            raise PayloadInvalid(f"{self.who}: not an interaction (no type)")
        if self._wants_support(data):
            return [RawEvent(external_id=f"interaction:{data.get('id')}", hook="interactions", payload=request.body,
                             meta={"interaction": data.get("type")})]
        return []

    @staticmethod
    def _wants_support(data: dict[str, Any]) -> bool:
        inner: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
        return (data.get("type") == APPLICATION_COMMAND and inner.get("name") == COMMAND) or (
            data.get("type") == MESSAGE_COMPONENT and inner.get("custom_id") == BUTTON)

    def ack(self, hook: str, request: WebhookRequest, events: list[RawEvent]) -> WebhookResponse:
        try:
            data = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            data = {}
        if isinstance(data, dict) and data.get("type") == PING:
            return WebhookResponse(200, json.dumps({"type": 1}), "application/json")
        text = ("Thanks — we are opening a private support thread for you; it appears in the channel list in a moment."
                if events or (isinstance(data, dict) and self._wants_support(data))
                else "This command is not handled by the support bot.")
        return WebhookResponse(200, json.dumps({"type": 4, "data": {"content": text, "flags": EPHEMERAL}}), "application/json")

    # --- gateway (poller) -----------------------------------------------------------------
    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        if not self.polls:
            stop.wait()
            return
        url = self.config.gateway_url or (self.rest().request("GET", "/gateway/bot") or {}).get("url")
        if not url:
            raise RetriableDeliveryError(f"{self.who}: Discord named no Gateway URL")
        note = getattr(sink, "health", None)

        def on_dispatch(t: str, d: dict[str, Any]) -> bool:
            self._learn_channels(t, d)
            if t == "READY" and callable(note):
                note(None)
            if t not in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
                return False
            envelope = {"t": t, "d": d, "channel": self.channel(str(d.get("channel_id")), d.get("guild_id"))}
            if dn.ignore_reason(envelope, **self._filters()):
                return False  # server chatter, bots: never journaled
            sink.record([RawEvent(external_id=self._event_id(t, d), hook="gateway",
                                  payload=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode(),
                                  meta={"source": "gateway", "dispatch": t})])
            return True

        def checkpoint(session: dict[str, Any]) -> None:
            self._remember(SESSION_KEY, session or None)

        self.gateway = Gateway(str(url), self.config.bot_token.get_secret_value(), on_dispatch=on_dispatch, stop=stop,
                               log=self.log, who=self.who, resume=self.ctx.state.get(SESSION_KEY) or None, checkpoint=checkpoint)
        self.gateway.run()

    @staticmethod
    def _event_id(t: str, d: dict[str, Any]) -> str:
        if t == "MESSAGE_UPDATE":
            return f"update:{d.get('id')}:{d.get('edited_timestamp') or ''}"
        if t == "MESSAGE_DELETE":
            return f"delete:{d.get('id')}"
        return f"message:{d.get('id')}"

    def _learn_channels(self, t: str, d: dict[str, Any]) -> None:
        if t == "GUILD_CREATE":
            for ch in [*(d.get("channels") or ()), *(d.get("threads") or ())]:
                if isinstance(ch, dict):
                    self._remember_channel({**ch, "guild_id": ch.get("guild_id") or d.get("id")})
        elif t in ("THREAD_CREATE", "THREAD_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE"):
            self._remember_channel(d)
        elif t == "THREAD_LIST_SYNC":
            for ch in d.get("threads") or ():
                if isinstance(ch, dict):
                    self._remember_channel(ch)

    def _remember_channel(self, ch: dict[str, Any]) -> None:
        if ch.get("id"):
            self._channels[str(ch["id"])] = {k: ch.get(k) for k in ("id", "type", "parent_id", "guild_id", "name")}

    def channel(self, channel_id: str, guild_id: Any = None) -> dict[str, Any] | None:
        """A channel's type and parent: learned from the Gateway, else GET /channels/{id} (servers only)."""
        if channel_id in self._channels:
            return self._channels[channel_id]
        if not guild_id:
            return {"id": channel_id, "type": dn.DM}
        try:
            ch = self.rest().request("GET", f"/channels/{channel_id}")
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            self.log.warning("discord.channel_lookup_failed", channel=channel_id, error=str(exc))
            return None
        if isinstance(ch, dict):
            self._remember_channel(ch)
        return self._channels.get(channel_id)

    # --- normalize (worker) ---------------------------------------------------------------
    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        try:
            if event.hook == "interactions":
                return self._support_thread(json.loads(event.payload))
            return dn.normalize(dn.load(event.payload), connector=self.ctx.name, **self._filters())
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise PayloadInvalid(f"discord: malformed event: {exc.__class__.__name__}: {exc}") from None

    def _support_thread(self, inter: dict[str, Any]) -> list[NormalizedMessage]:
        """Open (once) a private thread for the customer who asked, add them, greet them there."""
        member: dict[str, Any] = inter["member"] if isinstance(inter.get("member"), dict) else {}
        user = member.get("user") or inter.get("user") or {}
        uid = str(user.get("id") or "")
        if not uid:
            raise PayloadInvalid(f"{self.who}: interaction without a user")
        key = f"discord:interaction:{inter.get('id')}"
        mine = f"discord:support_thread:{uid}"
        thread_id = self.ctx.state.get(key)
        reused = False
        if not thread_id and self.ctx.state.get(mine):
            # the customer already has a private thread: point them at it instead of opening
            # another (six /support in a second must not open six threads and conversations)
            thread_id, reused = str(self.ctx.state.get(mine)), True
            self.ctx.state.set(key, thread_id)
            self._link_thread(inter, thread_id)
        if not thread_id:
            parent = str(inter.get("channel_id") or "")
            if parent not in self.config.support_channel_ids:
                if not self.config.support_channel_ids:
                    raise PayloadInvalid(f"{self.who}: the Contact support command needs support_channel_ids (where private threads open)")
                parent = self.config.support_channel_ids[0]
            name = dn.display_name(user, member)
            thread = self.rest().request("POST", f"/channels/{parent}/threads", json_body={
                "name": f"Support – {name}"[:100], "type": PRIVATE_THREAD, "invitable": False, "auto_archive_duration": 10080})
            thread_id = str(thread["id"])
            self.ctx.state.set(key, thread_id)  # a retried job reuses the thread
            self.ctx.state.set(mine, thread_id)
            self._remember_channel({**thread, "parent_id": thread.get("parent_id") or parent})
            self.rest().request("PUT", f"/channels/{thread_id}/thread-members/{uid}")
            self.rest().request("POST", f"/channels/{thread_id}/messages", json_body={
                "content": f"<@{uid}> this private thread is where our support team answers you. Tell us what happened — "
                           "we will never ask for your recovery phrase or private keys.",
                "allowed_mentions": {"users": [uid]}})
            self._link_thread(inter, thread_id)
        if reused:
            return []  # the conversation of that thread goes on
        return [dn.interaction_message(inter, connector=self.ctx.name, thread_id=str(thread_id))]

    def _link_thread(self, inter: dict[str, Any], thread_id: str) -> None:
        """Turn the ephemeral "opening a thread…" answer into a link to the thread."""
        if not (self.config.application_id and inter.get("token")):
            return
        try:
            self.rest().request("PATCH", f"/webhooks/{self.config.application_id}/{inter['token']}/messages/@original",
                                json_body={"content": f"Your private support thread: <#{thread_id}>"}, auth=False)
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:  # the 15-minute token expired: the thread stands
            self.log.warning("discord.interaction_followup_failed", error=str(exc))

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """Discord CDN attachments (signed URLs, no token needed), from Discord's hosts only."""
        if not attachment.url:
            raise PayloadInvalid(f"{self.who}: attachment {attachment.filename!r} has no URL")
        if attachment.size and attachment.size > max_bytes:
            raise PayloadInvalid(f"{self.who}: {attachment.filename!r} is {attachment.size} bytes, over the {max_bytes}-byte limit")
        hosts = list(CDN_HOSTS)
        if self.config.api_base_url:
            parts = urlsplit(self.config.api_base_url)
            hosts.append(f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or "")
        data, _ctype = fetch_limited(attachment.url, allowed_hosts=hosts, max_bytes=max_bytes, who=f"{self.who}: ")
        return data

    # --- outbound ------------------------------------------------------------------------
    def send(self, reply: OutboundReply) -> SendResult:
        """Create message(s) in the DM channel or thread: 2,000-character parts, then the files."""
        scope, _, channel = (reply.thread_key or "").partition(":")
        if scope not in ("dm", "thread") or not channel.isdigit():
            raise PermanentDeliveryError(f"{self.who}: thread key {reply.thread_key!r} is not dm:<id> or thread:<id>")
        author = (reply.author_name or "").strip()
        label = f"**{author}**\n" if author else ""
        text = (reply.text or "").strip()
        if not text and not reply.attachments:
            raise PermanentDeliveryError(f"{self.who}: the reply has neither text nor files")
        chunks = split_text(text, TEXT_LIMIT - len(label)) if text else []
        key = f"discord:reply:{reply.id}"
        progress = dict(self.ctx.state.get(key) or {})
        sent: list[str] = list(progress.get("ids") or [])
        quote = None
        head, _, msg_id = (reply.in_reply_to or "").partition(":")
        if head == channel and msg_id.isdigit():
            quote = msg_id
        steps: list[tuple[dict[str, Any], list[tuple[str, bytes, str]] | None]] = []
        for i, chunk in enumerate(chunks):
            steps.append(({"content": (label if i == 0 else "") + chunk}, None))
        if reply.attachments:
            uploads = [(b.filename or "file", b.read(), b.content_type or "application/octet-stream") for b in reply.attachments]
            body: dict[str, Any] = {"attachments": [{"id": i, "filename": f[0]} for i, f in enumerate(uploads)]}
            if not chunks and label:
                body["content"] = label.strip()
            steps.append((body, uploads))
        try:
            for step, files in steps[len(sent):]:
                payload = {**step, "allowed_mentions": {"parse": []}}
                if quote and not sent:
                    payload["message_reference"] = {"message_id": quote, "fail_if_not_exists": False}
                result = self.rest().request("POST", f"/channels/{channel}/messages", json_body=payload, files=files)
                sent.append(f"{channel}:{result['id']}")
        except (RetriableDeliveryError, PermanentDeliveryError) as exc:
            if sent:
                self._remember(key, {"ids": sent})
                exc.args = (f"{exc.args[0]} (already in Discord: {len(sent)} of {len(steps)} parts)",)
            raise
        if progress:
            self._remember(key, None)
        return SendResult(external_id=sent[0], state="sent", detail={"channel_id": channel}, parts=tuple(sent[1:]))

    def _remember(self, key: str, value: Any) -> None:
        try:
            self.ctx.state.set(key, value)
        except Exception as exc:  # noqa: BLE001 - progress bookkeeping; logged, not raised
            self.log.warning("discord.state_write_failed", key=key, error=str(exc))

    # --- admin ---------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """The bot user, the application (Message Content intent), each support channel, and the
        Contact support command registered in each server."""
        rest = self.rest()
        if self.config.gateway_url:
            try:
                check_url(self.config.gateway_url, key="gateway_url")
            except UrlRefused as exc:
                return CheckResult(False, str(exc))
        try:
            me = rest.request("GET", "/users/@me")
        except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
            return CheckResult(False, str(exc))
        name = me.get("username") or me.get("id")
        details: dict[str, Any] = {"bot_id": me.get("id"), "username": name, "dms": self.config.dms,
                                   "interactions_url": self.ctx.webhook_url("interactions")}
        problems: list[str] = []
        try:
            app = rest.request("GET", "/applications/@me") or {}
            flags = int(app.get("flags") or 0)
            if not flags & ((1 << 18) | (1 << 19)):
                problems.append("the Message Content intent is off, so message texts arrive empty: turn on Bot → Privileged "
                                "Gateway Intents → Message Content Intent in the Discord Developer Portal")
            if self.config.application_id and str(app.get("id")) != self.config.application_id:
                problems.append(f"application_id is {self.config.application_id} but the token belongs to application {app.get('id')}")
        except (PermanentDeliveryError, RetriableDeliveryError) as exc:
            problems.append(f"cannot read the application: {exc}")
        channels = []
        for cid in self.config.support_channel_ids:
            try:
                ch = rest.request("GET", f"/channels/{cid}") or {}
                channels.append({"id": cid, "name": ch.get("name"), "type": ch.get("type")})
                if ch.get("type") not in (0, 15):
                    problems.append(f"support channel {cid} is not a text or forum channel")
                elif self.config.guild_ids and str(ch.get("guild_id")) not in self.config.guild_ids:
                    problems.append(f"support channel {cid} is in a server not listed in guild_ids")
            except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
                problems.append(f"support channel {cid}: {exc}")
        details["support_channels"] = channels
        url = details["interactions_url"]
        if self.config.public_key and not url.startswith("https://"):
            problems.append(f"Discord only calls an https Interactions Endpoint URL and OMNIHUB_PUBLIC_URL gives {url}: "
                            "set OMNIHUB_PUBLIC_URL to the hub's https address")
        if self.config.application_id and self.config.public_key:
            registered = []
            for gid in self.config.guild_ids:
                try:
                    rest.request("POST", f"/applications/{self.config.application_id}/guilds/{gid}/commands", json_body={
                        "name": COMMAND, "type": 1, "description": "Contact our support team in a private thread"})
                    registered.append(gid)
                except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
                    problems.append(f"cannot register /{COMMAND} in server {gid}: {exc}")
            details["command_registered_in"] = registered
        if problems:
            return CheckResult(False, f"{name}: " + "; ".join(problems), details)
        summary = f"connected as {name}; " + ("direct messages on" if self.config.dms else "direct messages off")
        if channels:
            summary += "; support threads in " + ", ".join(f"#{c['name'] or c['id']}" for c in channels)
        if self.config.public_key:
            summary += f"; set the Interactions Endpoint URL to {details['interactions_url']}"
        else:
            summary += "; the /support command is off (set public_key and application_id to turn it on)"
        return CheckResult(True, summary, details)

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()

