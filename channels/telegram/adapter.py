"""The telegram channel adapter (see channels/telegram/__init__.py for the overview)."""

from __future__ import annotations

import hmac
import html as htmllib
import json
import re
import secrets
import time
from datetime import timedelta
from typing import Any, Literal

import structlog
from pydantic import SecretStr, field_validator

from channels.base import ChannelAdapter, split_text
from channels.telegram.api import DEFAULT_BASE_URL, BotApi
from hub.errors import (
    AuthError,
    ConfigError,
    PayloadInvalid,
    PermanentDeliveryError,
    RetriableDeliveryError,
    SignatureInvalid,
)
from hub.types import (
    AdapterConfig,
    CheckResult,
    OutboundReply,
    PollSink,
    RawEvent,
    SendResult,
    StopEvent,
    WebhookRequest,
    setting,
)
from normalizers import telegram as tg
from normalizers.model import Attachment, NormalizedMessage

#: sendMessage: "1-4096 characters after entities parsing" (https://core.telegram.org/bots/api#sendmessage)
TEXT_LIMIT = 4096
#: captions: 0-1024 characters after entities parsing
CAPTION_LIMIT = 1024
#: getFile: "bots can download files of up to 20MB in size" (https://core.telegram.org/bots/api#getfile)
DOWNLOAD_LIMIT = 20 * 1024 * 1024
#: sendPhoto: "The photo must be at most 10 MB in size"; anything else goes as a document
PHOTO_LIMIT = 10 * 1024 * 1024
TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
OFFSET_KEY = "telegram:offset"
BOT_KEY = "telegram:bot"


class TelegramConfig(AdapterConfig):
    bot_token: SecretStr = setting(
        title="Bot token", example="123456789:AAE…",
        help="The token @BotFather gave when you created the bot (/newbot, or /token to see it again).")
    secret_token: SecretStr | None = setting(
        None, title="Webhook secret token", example="a long random string", needed_for="webhook mode",
        help="Telegram sends it with every webhook call and omnihub refuses calls without it. 1-256 characters "
             "A-Z, a-z, 0-9, _ and -. Needed in webhook mode.")
    mode: Literal["webhook", "polling"] = setting(
        "webhook", title="Mode",
        help="webhook: Telegram calls omnihub (needs an https OMNIHUB_PUBLIC_URL; Check registers it). "
             "polling: the poller asks Telegram for updates (no public URL needed).")
    chats: Literal["private", "private_and_groups"] = setting(
        "private", title="Chats",
        help="private: only direct chats with the bot. private_and_groups: also groups the bot is in, but only "
             "messages that @mention the bot, use its commands or reply to it (these arrive even with the bot's privacy mode on).")
    api_base_url: str | None = setting(
        None, title="Bot API base URL", example=DEFAULT_BASE_URL, section="advanced", origin_of="url",
        help="Another Bot API server (a self-hosted telegram-bot-api or a local test server).")
    poll_timeout: int = setting(
        20, title="Long-poll timeout (seconds)", section="advanced", ge=1, le=50,
        help="Polling mode: how long one getUpdates call waits for new messages.")

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not TOKEN.match(value.get_secret_value().strip()):
            raise ValueError("bot_token must be the token from @BotFather, like 123456789:AAE… (the bot's id in digits, a colon, "
                             "then 30 or more letters, digits, - and _)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("secret_token")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("secret_token may hold only A-Z, a-z, 0-9, _ and - (1 to 256 characters)")
        return value


def split_thread_key(thread_key: str) -> tuple[str, int | None]:
    """``<chat>`` (private), ``<chat>:<user>`` or ``<chat>:<user>:t<topic>`` -> (chat id, topic)."""
    parts = (thread_key or "").split(":")
    chat = parts[0]
    if not re.fullmatch(r"-?\d+", chat):
        raise PermanentDeliveryError(f"telegram: thread key {thread_key!r} does not start with a chat id")
    topic = next((int(p[1:]) for p in parts[1:] if p.startswith("t") and p[1:].isdigit()), None)
    return chat, topic


class TelegramChannel(ChannelAdapter):
    kind = "telegram"
    title = "Telegram (bot chats)"
    Config = TelegramConfig
    config: TelegramConfig
    hooks = ("updates",)
    token_auth = True  # the secret token covers no content; updates deduplicate by update_id
    max_text_length = TEXT_LIMIT
    splits_long_text = True
    supports_attachments = True
    # a private chat has no threads: a new conversation after a day of silence or a resolution
    reopen_resolved = False
    idle_gap = timedelta(hours=24)
    polls = True  # the class may poll; an instance does in polling mode (see __init__)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.polls = self.config.mode == "polling"
        self._api: BotApi | None = None
        self.log = ctx.log or structlog.get_logger("omnihub.channels.telegram").bind(connector=ctx.name)

    @property
    def who(self) -> str:
        return f"telegram connector {self.ctx.name!r}"

    def api(self) -> BotApi:
        if self._api is None:
            self._api = BotApi(self.config.bot_token.get_secret_value(), self.config.api_base_url, who=self.who)
        return self._api

    def bot(self) -> dict[str, Any]:
        """getMe (id, username), cached in the connector state: needed to see @mentions in groups."""
        cached = self.ctx.state.get(BOT_KEY)
        if isinstance(cached, dict) and cached.get("id") and time.time() - cached.get("fetched", 0) < 24 * 3600:
            return cached
        me = self.api().call("getMe")
        info = {"id": me.get("id"), "username": me.get("username") or "", "name": me.get("first_name") or "",
                "can_read_all_group_messages": bool(me.get("can_read_all_group_messages")), "fetched": time.time()}
        try:
            self.ctx.state.set(BOT_KEY, info)
        except Exception as exc:  # noqa: BLE001 - a cache; never fails the work
            self.log.warning("telegram.state_write_failed", error=str(exc))
        return info

    # --- inbound -------------------------------------------------------------------------
    def verify(self, hook: str, request: WebhookRequest) -> None:
        """X-Telegram-Bot-Api-Secret-Token against secret_token, in constant time. Fail closed."""
        if self.config.mode != "webhook":
            raise SignatureInvalid(f"{self.who}: the connector is in polling mode; webhook calls are refused")
        if self.config.secret_token is None or not self.config.secret_token.get_secret_value():
            raise SignatureInvalid(f"{self.who}: no secret_token configured; refusing unauthenticated updates")
        sent = request.headers.get(SECRET_HEADER) or ""
        if not hmac.compare_digest(sent.encode(), self.config.secret_token.get_secret_value().encode()):
            raise SignatureInvalid(f"{self.who}: {SECRET_HEADER} is missing or does not match secret_token")

    def parse(self, hook: str, request: WebhookRequest) -> list[RawEvent]:
        if hook != "updates":
            raise PayloadInvalid(f"{self.who}: unknown hook {hook!r} (use /updates)")
        return [self.event(tg.load(request.body), request.body)]

    def event(self, update: dict[str, Any], body: bytes | None = None, source: str = "webhook") -> RawEvent:
        raw = body if body is not None else json.dumps(update, separators=(",", ":"), ensure_ascii=False).encode()
        return RawEvent(external_id=f"update:{update['update_id']}", hook="updates", payload=raw,
                        meta={"source": source, "update_type": next((k for k in update if k != "update_id"), "")})

    def normalize(self, event: RawEvent) -> list[NormalizedMessage]:
        try:
            update = tg.load(event.payload)
            kind, msg = tg.message_of(update)
            bot: dict[str, Any] = {}
            if kind and (msg.get("chat") or {}).get("type") in tg.GROUP_TYPES and self.config.chats == "private_and_groups":
                bot = self.bot()  # only groups need to know who the bot is
            return tg.normalize(update, connector=self.ctx.name, bot=bot, chats=self.config.chats)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            raise PayloadInvalid(f"telegram: malformed update: {exc.__class__.__name__}: {exc}") from None

    def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """getFile, then the file from the Bot API's file host (the configured API host only)."""
        url = attachment.url or ""
        if not url.startswith("tg-file:"):
            raise PayloadInvalid(f"{self.who}: attachment {attachment.filename!r} is not a Telegram file")
        limit = min(max_bytes, DOWNLOAD_LIMIT)
        if attachment.size and attachment.size > limit:
            why = "Telegram lets bots download files up to 20 MB" if attachment.size > DOWNLOAD_LIMIT else f"over the {max_bytes}-byte attachment limit"
            raise PayloadInvalid(f"{self.who}: {attachment.filename!r} is {attachment.size} bytes: {why}")
        info = self.api().call("getFile", {"file_id": url[len("tg-file:"):]})
        path = (info or {}).get("file_path")
        if not path:
            raise PayloadInvalid(f"{self.who}: Telegram gave no file path for {attachment.filename!r} (too big to download?)")
        return self.api().download(str(path), limit)

    def poll(self, sink: PollSink, stop: StopEvent) -> None:
        """Polling mode: getUpdates long polling; the offset is stored once the updates are journaled."""
        if self.config.mode != "polling":
            stop.wait()
            return
        api = self.api()
        note = getattr(sink, "health", None)
        webhook = api.call("getWebhookInfo") or {}
        if webhook.get("url"):  # getUpdates refuses to work while a webhook is set
            api.call("deleteWebhook", {"drop_pending_updates": False})
            self.log.info("telegram.webhook_removed_for_polling")
        backoff = 1.0
        while not stop.is_set():
            offset = self.ctx.state.get(OFFSET_KEY)
            try:
                updates = api.call(
                    "getUpdates",
                    {"offset": offset, "timeout": self.config.poll_timeout, "allowed_updates": list(tg.ALLOWED_UPDATES)},
                    timeout=self.config.poll_timeout + 15,
                )
            except AuthError:
                raise
            except (RetriableDeliveryError, PermanentDeliveryError) as exc:
                self.log.warning("telegram.get_updates_failed", error=str(exc))
                if callable(note):
                    note(f"getUpdates: {exc}")
                stop.wait(getattr(exc, "retry_after", None) or backoff)
                backoff = min(backoff * 2, 60.0)
                continue
            backoff = 1.0
            if callable(note):
                note(None)
            updates = [u for u in updates or () if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            if not updates:
                continue
            sink.record([self.event(u, source="poll") for u in updates])
            # only now: a crash before this line fetches the same updates again, and the
            # journal (unique update ids) stores each once
            self.ctx.state.set(OFFSET_KEY, max(u["update_id"] for u in updates) + 1)

    # --- outbound ------------------------------------------------------------------------
    def send(self, reply: OutboundReply) -> SendResult:
        """sendMessage in parts (HTML, escaped), then each file; parts already sent survive a retry."""
        chat, topic = split_thread_key(reply.thread_key)
        author = (reply.author_name or "").strip()
        label = f"<b>{htmllib.escape(author)}</b>\n" if author else ""
        text = (reply.text or "").strip()
        if not text and not reply.attachments:
            raise PermanentDeliveryError(f"{self.who}: the reply has neither text nor files")
        chunks = split_text(text, TEXT_LIMIT - len(author) - 1) if text else []
        key = f"telegram:reply:{reply.id}"
        progress = dict(self.ctx.state.get(key) or {})
        sent: list[str] = list(progress.get("ids") or [])
        quote = self._quoted(reply.in_reply_to, chat)
        steps: list[tuple[str, dict[str, Any], Any]] = []
        for i, chunk in enumerate(chunks):
            body = htmllib.escape(chunk, quote=False)
            steps.append(("sendMessage", {"text": (label if i == 0 else "") + body, "parse_mode": "HTML",
                                          "link_preview_options": {"is_disabled": True}}, None))
        for blob in reply.attachments:
            data = blob.read()
            image = (blob.content_type or "").startswith("image/") and blob.content_type != "image/svg+xml" and len(data) <= PHOTO_LIMIT
            method, field = ("sendPhoto", "photo") if image else ("sendDocument", "document")
            params: dict[str, Any] = {}
            if not chunks and label:
                params.update(caption=label.strip(), parse_mode="HTML")
            steps.append((method, params, (field, (blob.filename or field, data, blob.content_type or "application/octet-stream"))))
        try:
            for method, params, upload in steps[len(sent):]:
                params = {"chat_id": chat, **params}
                if topic:
                    params["message_thread_id"] = topic
                if quote and not sent:
                    params["reply_parameters"] = {"message_id": quote, "allow_sending_without_reply": True}
                files = {upload[0]: upload[1]} if upload else None
                result = self.api().call(method, params, files=files)
                sent.append(f"{chat}:{result['message_id']}")
        except (RetriableDeliveryError, PermanentDeliveryError) as exc:
            if sent:
                self._remember(key, {"ids": sent})
                exc.args = (f"{exc.args[0]} (already in Telegram: {len(sent)} of {len(steps)} parts)",)
            raise
        if progress:
            self._remember(key, None)
        return SendResult(external_id=sent[0], state="sent", detail={"chat_id": chat, "parts_sent": len(sent)}, parts=tuple(sent[1:]))

    def _quoted(self, in_reply_to: str | None, chat: str) -> int | None:
        """The customer's message to quote: ``<chat>:<message id>`` of this chat only."""
        head, _, tail = (in_reply_to or "").partition(":")
        if head == chat and tail.isdigit():
            return int(tail)
        return None

    def _remember(self, key: str, value: Any) -> None:
        try:
            self.ctx.state.set(key, value)
        except Exception as exc:  # noqa: BLE001 - progress bookkeeping; logged, not raised
            self.log.warning("telegram.state_write_failed", key=key, error=str(exc))

    # --- admin ---------------------------------------------------------------------------
    def check(self) -> CheckResult:
        """getMe; in webhook mode setWebhook (secret token, allowed updates); in polling mode getWebhookInfo."""
        api = self.api()
        try:
            me = api.call("getMe")
        except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
            return CheckResult(False, str(exc))
        name = f"@{me.get('username')}"
        details: dict[str, Any] = {"bot_id": me.get("id"), "username": me.get("username"), "mode": self.config.mode,
                                   "chats": self.config.chats}
        problems: list[str] = []
        if self.config.chats == "private_and_groups" and not me.get("can_read_all_group_messages"):
            details["privacy_mode"] = True  # fine: mentions and replies to the bot still arrive
        if self.config.mode == "webhook":
            url = self.ctx.webhook_url("updates")
            details["webhook_url"] = url
            if self.config.secret_token is None:
                problems.append("set secret_token (webhook mode refuses calls without it), or switch mode to polling")
            elif not url.startswith("https://"):
                problems.append(f"Telegram only calls https URLs and OMNIHUB_PUBLIC_URL gives {url}: "
                                "set OMNIHUB_PUBLIC_URL to the hub's https address, or switch mode to polling")
            else:
                try:
                    api.call("setWebhook", {"url": url, "secret_token": self.config.secret_token.get_secret_value(),
                                            "allowed_updates": list(tg.ALLOWED_UPDATES), "max_connections": 40})
                    info = api.call("getWebhookInfo") or {}
                    details["pending_update_count"] = info.get("pending_update_count")
                    if info.get("last_error_message"):
                        details["last_error"] = info.get("last_error_message")
                except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
                    problems.append(f"setWebhook failed: {exc}")
        else:
            try:
                info = api.call("getWebhookInfo") or {}
                if info.get("url"):
                    details["webhook_to_remove"] = info["url"]
            except (AuthError, PermanentDeliveryError, RetriableDeliveryError) as exc:
                problems.append(str(exc))
        if problems:
            return CheckResult(False, f"{name}: " + "; ".join(problems), details)
        if self.config.mode == "webhook":
            summary = f"connected as {name}; Telegram delivers updates to {details['webhook_url']}"
        else:
            summary = f"connected as {name}; the poller fetches updates (getUpdates)"
            if details.get("webhook_to_remove"):
                summary += "; the bot's webhook will be removed when polling starts"
        return CheckResult(True, summary, details)

    # --- tools ---------------------------------------------------------------------------
    def simulate(self, text: str, sender_id: str, **options: Any) -> tuple[str, dict[str, str], bytes]:
        """A webhook Update carrying one private-chat message from sender_id, with the secret token."""
        if self.config.secret_token is None:
            raise ConfigError(f"{self.who}: set secret_token to simulate webhook updates")
        uid = int(sender_id) if str(sender_id).lstrip("-").isdigit() else 10_000 + secrets.randbelow(10**6)
        name = options.get("name") or "Simulated Customer"
        first, _, last = name.partition(" ")
        user = {"id": uid, "is_bot": False, "first_name": first, "language_code": options.get("language") or "en"}
        if last:
            user["last_name"] = last
        update = {
            "update_id": options.get("update_id") or int(time.time() * 1000) % 2_000_000_000,
            "message": {
                "message_id": options.get("message_id") or int(time.time() * 1000) % 1_000_000_000,
                "from": user,
                "chat": {"id": uid, "type": "private", "first_name": first, **({"last_name": last} if last else {})},
                "date": int(time.time()),
                "text": text,
            },
        }
        body = json.dumps(update).encode()
        return "updates", {"Content-Type": "application/json", SECRET_HEADER: self.config.secret_token.get_secret_value()}, body
