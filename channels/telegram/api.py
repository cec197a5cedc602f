"""A small Telegram Bot API client (https://core.telegram.org/bots/api).

Telegram publishes no official Python SDK; the Bot API is plain HTTPS + JSON, so this is a
thin client over the hub's guarded httpx client (the URL guard runs on every connection).
The bot token is part of every URL, so no error raised here ever contains a URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from hub.errors import (
    AuthError,
    PermanentDeliveryError,
    RecipientOptedOut,
    RecipientRefused,
    RetriableDeliveryError,
)
from hub.net import UrlRefused, check_url, guarded_client

DEFAULT_BASE_URL = "https://api.telegram.org"

#: Bot API error descriptions (lower case, as Telegram words them) -> plain words for the agent
BLOCKED = "bot was blocked by the user"
REFUSED = {
    "user is deactivated": "the customer deleted their Telegram account",
    "bot was kicked from the group chat": "the bot was removed from this group: add it back to answer here",
    "bot was kicked from the supergroup chat": "the bot was removed from this group: add it back to answer here",
    "bot is not a member of the supergroup chat": "the bot is no longer in this group: add it back to answer here",
    "bot can't initiate conversation with a user": "the customer has never started the bot, so it cannot write to them first",
    "chat not found": "the chat no longer exists or the bot cannot see it",
    "have no rights to send a message": "the bot may not post in this group: give it permission to send messages",
}


def api_error(status: int, data: Mapping[str, Any], *, who: str, method: str) -> Exception:
    """The hub error for a Bot API answer with ``"ok": false``."""
    code = int(data.get("error_code") or status or 0)
    description = str(data.get("description") or f"HTTP {status}")
    params: Mapping[str, Any] = data["parameters"] if isinstance(data.get("parameters"), dict) else {}
    lowered = description.lower()
    prefix = f"{who}: {method}"
    if code == 429:
        retry_after = params.get("retry_after")
        return RetriableDeliveryError(f"{prefix}: Telegram rate limit ({description})",
                                      retry_after=float(retry_after) if isinstance(retry_after, (int, float)) else None)
    if code >= 500 or code == 0:
        return RetriableDeliveryError(f"{prefix}: Telegram error {code}: {description}")
    if code == 401 or (code == 404 and method == "getMe"):
        return AuthError(f"{prefix}: the bot token was refused ({description}): copy the current token from @BotFather into bot_token")
    if BLOCKED in lowered:
        return RecipientOptedOut(f"{prefix}: the customer blocked the bot, so Telegram refuses messages to them until they "
                                 "restart it; the contact is marked opted out")
    for needle, words in REFUSED.items():
        if needle in lowered:
            return RecipientRefused(f"{prefix}: {words} (Telegram: {description})")
    if code == 409:
        return RetriableDeliveryError(f"{prefix}: {description} (another process or a webhook is reading this bot's updates)")
    if params.get("migrate_to_chat_id"):
        return PermanentDeliveryError(f"{prefix}: the group became a supergroup with id {params['migrate_to_chat_id']}; "
                                      "the customer's next message there starts a new conversation")
    return PermanentDeliveryError(f"{prefix}: Telegram refused it ({code}: {description})")


class BotApi:
    def __init__(self, token: str, base_url: str | None, *, who: str, timeout: float = 15.0) -> None:
        self.base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.token = token
        self.who = who
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = guarded_client("api_base_url", timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def call(self, method: str, params: Mapping[str, Any] | None = None, *,
             files: Mapping[str, tuple[str, bytes, str]] | None = None, timeout: float | None = None) -> Any:
        """Call one method; its ``result`` or the hub error for its failure."""
        url = f"{self.base}/bot{self.token}/{method}"
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            if files:
                form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in clean.items()}
                resp = self._http().post(url, data=form, files=dict(files), timeout=timeout or self.timeout)
            else:
                resp = self._http().post(url, json=clean, timeout=timeout or self.timeout)
        except UrlRefused:
            raise
        except httpx.TimeoutException:
            raise RetriableDeliveryError(f"{self.who}: {method}: Telegram did not answer in time") from None
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"{self.who}: {method}: Telegram unreachable ({exc.__class__.__name__})") from None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if resp.status_code >= 400 or not data.get("ok"):
            if not data and resp.status_code < 400:
                raise RetriableDeliveryError(f"{self.who}: {method}: Telegram answered HTTP {resp.status_code} without JSON")
            raise api_error(resp.status_code, data, who=self.who, method=method)
        return data.get("result")

    def download(self, file_path: str, max_bytes: int) -> bytes:
        """GET /file/bot<token>/<file_path>, refusing more than max_bytes."""
        from hub.errors import PayloadInvalid

        url = f"{self.base}/file/bot{self.token}/{file_path.lstrip('/')}"
        check_url(url, key="api_base_url")
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http().stream("GET", url) as resp:
                if resp.status_code >= 400:
                    raise api_error(resp.status_code, {"error_code": resp.status_code, "description": "file download failed"},
                                    who=self.who, method="file")
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadInvalid(f"{self.who}: the file is larger than the {max_bytes}-byte attachment limit")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"{self.who}: file download failed ({exc.__class__.__name__})") from None
        return b"".join(chunks)
