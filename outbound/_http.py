"""A small JSON HTTP client shared by the REST helpdesk backends.

Base URL, auth, timeouts; every failure leaves as one of ``hub.errors``: the HTTP status
goes through ``error_for_status`` (the one mapping), connection errors and timeouts become
``RetriableDeliveryError``. Every message names the connector (``who``). Request bodies
and secrets never appear in error messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from hub.errors import PermanentDeliveryError, RetriableDeliveryError, error_for_status
from hub.net import GuardedTransport

USER_AGENT = "omnihub/0.1 (+https://github.com/omnihub)"
_MESSAGE_KEYS = ("description", "error", "message", "errors", "details", "error_description", "title")


def api_message(resp: httpx.Response, limit: int = 300) -> str:
    """The API's own error text from a response (JSON error fields first), shortened."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip()[:limit] or resp.reason_phrase
    if isinstance(data, dict):
        parts = []
        for key in _MESSAGE_KEYS:
            value = data.get(key)
            if value:
                parts.append(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        if parts:
            return "; ".join(parts)[:limit]
    return json.dumps(data, separators=(",", ":"))[:limit]


class JsonClient:
    """HTTP client for one connector's API: ``client.request("POST", "/path", json=...)``.

    Every connection passes the outbound URL guard (``hub.net``); ``url_key`` names the
    connector key in its errors.
    """

    def __init__(
        self,
        base_url: str,
        *,
        who: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        url_key: str = "base_url",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.who = who
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **dict(headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=GuardedTransport(url_key),  # the outbound URL guard (SSRF), on every connection
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def set_header(self, name: str, value: str) -> None:
        self._client.headers[name] = value

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request; return the 2xx/3xx response (or one whose status is in ``accept``)
        or raise the mapped error."""
        shown = path.split("?", 1)[0]  # never echo a query string (it may carry a token)
        try:
            resp = self._client.request(
                method, path, json=json, params=params, data=data, files=files, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise RetriableDeliveryError(f"{self.who}: {method} {shown}: timed out ({exc.__class__.__name__})") from None
        except httpx.TransportError as exc:
            raise RetriableDeliveryError(f"{self.who}: {method} {shown}: {exc.__class__.__name__}: {exc}") from None
        if resp.status_code in accept:
            return resp
        err = error_for_status(
            resp.status_code,
            f"{method} {shown}: {api_message(resp)}",
            who=self.who,
            retry_after=resp.headers.get("Retry-After"),
        )
        if err:
            raise err
        if resp.is_redirect:  # an API never redirects a correct request: a login page, http->https, a wrong path
            where = resp.headers.get("Location", "").split("?", 1)[0]
            raise PermanentDeliveryError(
                f"{self.who}: {method} {shown}: redirected (HTTP {resp.status_code}) to {where or '?'}; check the base URL"
            )
        return resp

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like ``request`` but returns the decoded JSON body (None when empty)."""
        resp = self.request(method, path, **kwargs)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise PermanentDeliveryError(
                f"{self.who}: {method} {path}: answer is not JSON (HTTP {resp.status_code}); check the base URL"
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> bool:
        """DELETE ``path``: True when deleted, False when it was already gone (404/410)."""
        return self.request("DELETE", path, accept=(404, 410), **kwargs).status_code not in (404, 410)
