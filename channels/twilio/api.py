"""The official twilio client, pointed at Twilio or at ``api_base_url``; error translation; text splitting."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hub.errors import DeliveryError, PermanentDeliveryError, RecipientRefused, RetriableDeliveryError, error_for_status
from hub.net import check_url
from normalizers import twilio as tw

# twilio's HTTP client logs every request line at INFO; keep that out of our INFO logs.
_http_log = logging.getLogger("omnihub.channels.twilio.http")
_http_log.setLevel(logging.WARNING)

TIMEOUT = 20.0


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends Twilio API requests to ``base_url`` (a proxy or a local test server).

    A custom ``http_client`` is the SDK's documented extension point for changing how
    requests are made (https://github.com/twilio/twilio-python/blob/main/advanced-examples/custom-http-client.md);
    this one only swaps scheme/host/port (and prefixes a base path) of ``*.twilio.com`` URLs.
    """

    def __init__(self, base_url: str, timeout: float = TIMEOUT) -> None:
        super().__init__(timeout=timeout, logger=_http_log)
        self.base = urlsplit(base_url.rstrip("/"))

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not (host == "twilio.com" or host.endswith(".twilio.com")):
            return url
        return urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        target = self.rewrite(url)
        check_url(target, key="api_base_url")  # the outbound URL guard (SSRF); the SDK does not redirect
        return super().request(method, target, *args, **kwargs)


def make_client(account_sid: str, auth_token: str, api_base_url: str | None = None) -> Client:
    http = BaseUrlHttpClient(api_base_url) if api_base_url else TwilioHttpClient(timeout=TIMEOUT, logger=_http_log)
    return Client(account_sid, auth_token, http_client=http)


def translate(exc: Exception, who: str) -> DeliveryError:
    """A twilio/requests exception -> the hub's delivery error (retry or not, with the reason)."""
    if isinstance(exc, TwilioRestException):
        code = exc.code
        explanation = tw.explain_error(code) if code else ""
        message = f"{exc.msg}" + (f" (Twilio error {code}: {explanation})" if code else "")
        if code in tw.RECIPIENT_CODES and exc.status < 500 and exc.status != 429:
            return RecipientRefused(f"{who}: {message}")
        if code in tw.PERMANENT_CODES and exc.status < 500 and exc.status != 429:
            return PermanentDeliveryError(f"{who}: {message}")
        err = error_for_status(exc.status or 500, message, who=who)
        return err or RetriableDeliveryError(f"{who}: {message}")
    if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
        return RetriableDeliveryError(f"{who}: Twilio unreachable: {exc.__class__.__name__}")
    if isinstance(exc, (requests.RequestException, TwilioException)):
        return RetriableDeliveryError(f"{who}: {exc.__class__.__name__}: {exc}")
    raise exc


def text_units(text: str) -> int:
    """Length as Twilio counts body characters (UTF-16 code units: an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` units, at paragraph, line, sentence or
    word boundaries when possible. Nothing is dropped: ''.join(parts) == text."""
    if text_units(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while text_units(rest) > limit:
        # the longest prefix that fits
        lo, hi = 0, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if text_units(rest[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        window = rest[:lo]
        cut = 0
        for sep in ("\n\n", "\n", ". ", "! ", "? ", " "):
            idx = window.rfind(sep)
            if idx > lo // 2:
                cut = idx + len(sep)
                break
        if not cut:
            cut = lo
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return parts
