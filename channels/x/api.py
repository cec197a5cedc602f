"""The tweepy side of the x channel: client construction, rate-limit bookkeeping, errors.

Everything that talks to X goes through ``tweepy.Client`` (API v2). Two provider quirks
handled here:

- tweepy builds every URL on the fixed host ``https://api.twitter.com`` and exposes its
  ``requests.Session`` as ``Client.session``; ``HostSession`` is that session with a
  default timeout and, when ``api_base_url`` is set, the host swapped *before* the request
  is prepared (so an OAuth 1.0a signature covers the URL actually requested).
- Rate limits are per endpoint and per 15-minute window, announced in the
  ``x-rate-limit-remaining`` / ``x-rate-limit-reset`` (epoch seconds) response headers:
  https://docs.x.com/x-api/fundamentals/rate-limits
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from hub.errors import DeliveryError, PermanentDeliveryError, RetriableDeliveryError, error_for_status
from hub.net import check_url

# tweepy logs every request's headers (a bearer token) and response body at DEBUG:
# keep it quieter than that whatever the hub's log level is.
logging.getLogger("tweepy.client").setLevel(logging.INFO)

#: hosts tweepy (and older clients) address
X_API_HOSTS = ("https://api.twitter.com", "https://api.x.com")
DEFAULT_TIMEOUT = 30.0


class HostSession(requests.Session):
    """requests.Session with a default timeout, optionally sending X API calls to another host."""

    def __init__(self, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.base_url and isinstance(url, str):
            for host in X_API_HOSTS:
                if url.startswith(host + "/"):
                    url = self.base_url + url[len(host):]
                    break
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Every request to the configured host, and every redirect, passes the URL guard."""
        if self.base_url:
            check_url(str(request.url), key="api_base_url")
        return super().send(request, **kwargs)


def make_client(config: Any) -> tuple[tweepy.Client, bool]:
    """A tweepy Client returning raw ``requests.Response`` (headers needed), and user_auth.

    OAuth 1.0a user context (consumer + access token pairs) when all four are set;
    otherwise the bearer token, which must then be an OAuth 2.0 *user* access token
    for DMs (an app-only bearer token can read mentions only).
    """

    def secret(name: str) -> str | None:
        value = getattr(config, name, None)
        return value.get_secret_value() if value is not None else None

    oauth1 = [secret(k) for k in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")]
    client = tweepy.Client(
        bearer_token=secret("bearer_token"),
        consumer_key=oauth1[0],
        consumer_secret=oauth1[1],
        access_token=oauth1[2],
        access_token_secret=oauth1[3],
        return_type=requests.Response,
        wait_on_rate_limit=False,  # we wait ourselves, interruptibly, with an injectable clock
    )
    client.session = HostSession(config.api_base_url)
    return client, all(oauth1)


@dataclass
class Window:
    remaining: int | None = None
    reset: float | None = None
    refusals: int = 0  # consecutive 429s


#: after a 429 whose reset time is missing or already past: never retry sooner than this,
#: doubling with each consecutive refusal up to MAX_429_WAIT
MIN_429_WAIT = 5.0
MAX_429_WAIT = 900.0


class RateLimits:
    """Per-endpoint budget from the last response's x-rate-limit-* headers."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}

    def update(self, endpoint: str, headers: Mapping[str, str]) -> None:
        """Record a successful response's budget."""
        win = self.windows.setdefault(endpoint, Window())
        win.refusals = 0
        remaining, reset = headers.get("x-rate-limit-remaining"), headers.get("x-rate-limit-reset")
        win.remaining = int(remaining) if remaining is not None and str(remaining).isdigit() else None
        win.reset = float(reset) if reset is not None and str(reset).isdigit() else None

    def refused(self, endpoint: str, headers: Mapping[str, str], now: float) -> float:
        """Record a 429; return the time (epoch seconds) before which not to call again."""
        win = self.windows.setdefault(endpoint, Window())
        win.refusals += 1
        reset = headers.get("x-rate-limit-reset")
        floor = now + min(MIN_429_WAIT * 2 ** (win.refusals - 1), MAX_429_WAIT)
        win.remaining = 0
        win.reset = max(float(reset) if reset is not None and str(reset).isdigit() else 0.0, floor)
        return self.not_before(endpoint, now)

    def not_before(self, endpoint: str, now: float) -> float:
        """The earliest time to call endpoint (now when budget is left)."""
        win = self.windows.get(endpoint)
        if not win or win.remaining is None or win.remaining > 0 or win.reset is None:
            return now
        # +1 s: the window resets *at* that second; X's clock and ours are not in lockstep
        return max(now, win.reset + 1.0)


class DuplicateContent(PermanentDeliveryError):
    """X refused a post because the account just posted the same text."""


def describe(exc: tweepy.HTTPException) -> str:
    messages = "; ".join(str(m) for m in exc.api_messages if m)
    return messages or f"{exc.response.status_code} {exc.response.reason}"


_DUPLICATE_CODES = {187}
_CANNOT_DM_CODES = {150, 151, 349, 476}


def delivery_error(exc: Exception, *, who: str, clock: Callable[[], float]) -> DeliveryError:
    """Translate a tweepy / requests exception into the hub's error (at the adapter boundary)."""
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code
        text = describe(exc)
        low, codes = text.lower(), set(exc.api_codes)
        if status == 403 and (codes & _DUPLICATE_CODES or "duplicate" in low):
            return DuplicateContent(
                f"{who}: X refused the post as duplicate content (X never accepts the same text "
                f"twice in a row); reword the reply and send it again [{text}]"
            )
        if status == 403 and (codes & _CANNOT_DM_CODES or "send messages to this user" in low or "not permitted to send" in low):
            return PermanentDeliveryError(
                f"{who}: X does not let this account send a Direct Message to the customer (they "
                f"only accept DMs from accounts they follow or have blocked us); answer publicly or "
                f"ask them to DM the support account first [{text}]"
            )
        retry_after: str | float | None = exc.response.headers.get("retry-after")
        reset = exc.response.headers.get("x-rate-limit-reset")
        if reset and str(reset).isdigit():
            retry_after = max(1.0, float(reset) - clock())
        err = error_for_status(status, text, who=who, retry_after=retry_after)
        if err is not None:
            return err
        return PermanentDeliveryError(f"{who}: unexpected HTTP {status}: {text}")
    if isinstance(exc, requests.RequestException):
        return RetriableDeliveryError(f"{who}: {exc.__class__.__name__}: {exc}")
    if isinstance(exc, tweepy.TweepyException):
        return PermanentDeliveryError(f"{who}: {exc}")
    raise TypeError(f"not a provider error: {exc!r}")
