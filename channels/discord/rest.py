"""A small Discord REST client (https://discord.com/developers/docs/reference) with the
documented rate limits: per-route buckets from the X-RateLimit-* headers, and 429s
waited out from ``retry_after`` (https://discord.com/developers/docs/topics/rate-limits).

discord.py (the maintained library) is asyncio from top to bottom and would pull the whole
client into every worker; the few routes the hub needs are plain HTTPS + JSON.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from hub.errors import (
    AuthError,
    PermanentDeliveryError,
    RecipientRefused,
    RetriableDeliveryError,
)
from hub.net import UrlRefused, guarded_client

DEFAULT_API = "https://discord.com/api/v10"
#: a 429 or an empty bucket asking for less than this is waited out in the call itself;
#: longer waits become a retriable error (the outbox retries after ``retry_after``)
MAX_INLINE_WAIT = 10.0
#: JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json)
REFUSED = {
    10003: "the thread or DM no longer exists",
    10013: "the customer's Discord account no longer exists",
    50001: "the bot can no longer see this channel: check its permissions",
    50007: "the customer does not accept direct messages from the bot (their privacy settings, or they left the server)",
    50083: "the thread is archived",
    160005: "the thread is locked",
}
_MAJOR = re.compile(r"^/(channels|guilds|webhooks)/(\d+)")


def route_key(method: str, path: str) -> str:
    """The rate-limit route: method + path with ids replaced, except the major parameter."""
    major = _MAJOR.match(path)
    head = major.group(0) if major else ""
    rest = re.sub(r"/\d+", "/:id", path[len(head):])
    return f"{method} {head}{rest}"


class DiscordRest:
    def __init__(self, token: str, base_url: str | None, *, who: str, timeout: float = 15.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = (base_url or DEFAULT_API).rstrip("/")
        self.token = token
        self.who = who
        self.timeout = timeout
        self.sleep = sleep
        self._client: httpx.Client | None = None
        self._buckets: dict[str, str] = {}  # route -> bucket id
        self._resets: dict[str, tuple[int, float]] = {}  # bucket or route -> (remaining, reset at)
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = guarded_client("api_base_url", timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _wait_for_bucket(self, route: str) -> None:
        with self._lock:
            key = self._buckets.get(route, route)
            remaining, reset_at = self._resets.get(key, (1, 0.0))
        wait = reset_at - time.monotonic()
        if remaining <= 0 and wait > 0:
            if wait > MAX_INLINE_WAIT:
                raise RetriableDeliveryError(f"{self.who}: Discord rate limit for {route}: next call in {wait:.0f} s", retry_after=wait)
            self.sleep(wait)

    def _note_limits(self, route: str, headers: httpx.Headers) -> None:
        bucket = headers.get("X-RateLimit-Bucket")
        remaining = headers.get("X-RateLimit-Remaining")
        reset_after = headers.get("X-RateLimit-Reset-After")
        if remaining is None or reset_after is None:
            return
        try:
            values = (int(remaining), time.monotonic() + float(reset_after))
        except ValueError:
            return
        with self._lock:
            if bucket:
                self._buckets[route] = bucket
            self._resets[bucket or route] = values

    def request(self, method: str, path: str, *, json_body: Any = None, files: list[tuple[str, bytes, str]] | None = None,
                headers: Mapping[str, str] | None = None, auth: bool = True) -> Any:
        """One API call (waiting out short rate limits); its JSON or the hub error."""
        route = route_key(method, path)
        url = f"{self.base}{path}"
        hdrs = {"User-Agent": "DiscordBot (https://github.com/omnihub/omnihub, 1.0) omnihub", **(headers or {})}
        if auth:
            hdrs["Authorization"] = f"Bot {self.token}"
        for _attempt in range(4):
            self._wait_for_bucket(route)
            try:
                if files:
                    multipart = [(f"files[{i}]", (name, data, ctype)) for i, (name, data, ctype) in enumerate(files)]
                    form = {"payload_json": json.dumps(json_body or {})}
                    resp = self._http().request(method, url, data=form, files=multipart, headers=hdrs)
                else:
                    resp = self._http().request(method, url, json=json_body, headers=hdrs)
            except UrlRefused:
                raise
            except httpx.TimeoutException:
                raise RetriableDeliveryError(f"{self.who}: {route}: Discord did not answer in time") from None
            except httpx.HTTPError as exc:
                raise RetriableDeliveryError(f"{self.who}: {route}: Discord unreachable ({exc.__class__.__name__})") from None
            self._note_limits(route, resp.headers)
            if resp.status_code == 429:
                try:
                    body = resp.json()
                except ValueError:
                    body = {}
                retry_after = float(body.get("retry_after") or resp.headers.get("Retry-After") or 1.0)
                if retry_after > MAX_INLINE_WAIT:
                    scope = "global " if body.get("global") else ""
                    raise RetriableDeliveryError(f"{self.who}: {route}: Discord {scope}rate limit, retry in {retry_after:.0f} s",
                                                 retry_after=retry_after)
                self.sleep(retry_after)
                continue
            return self._result(route, resp)
        raise RetriableDeliveryError(f"{self.who}: {route}: still rate limited after three waits", retry_after=5.0)

    def _result(self, route: str, resp: httpx.Response) -> Any:
        if resp.status_code == 204:
            return None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code < 400:
            return body
        data = body if isinstance(body, dict) else {}
        code, message = data.get("code"), str(data.get("message") or resp.reason_phrase)
        prefix = f"{self.who}: {route}"
        if resp.status_code >= 500:
            raise RetriableDeliveryError(f"{prefix}: Discord error {resp.status_code}: {message}")
        if resp.status_code == 401:
            raise AuthError(f"{prefix}: the bot token was refused ({message}): reset it in the Discord Developer Portal "
                            "(Bot → Reset Token) and paste it into bot_token")
        if isinstance(code, int) and code in REFUSED:
            raise RecipientRefused(f"{prefix}: {REFUSED[code]} (Discord {code}: {message})")
        if resp.status_code == 403:
            raise PermanentDeliveryError(f"{prefix}: the bot lacks a permission here ({message}): give its role Send Messages, "
                                         "Send Messages in Threads, Create Private Threads and Attach Files")
        raise PermanentDeliveryError(f"{prefix}: Discord refused it ({resp.status_code} {code or ''}: {message})")
