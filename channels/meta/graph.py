"""Meta Graph API: the client, the webhook signature and the subscription handshake.

Webhooks (https://developers.facebook.com/docs/graph-api/webhooks/getting-started):
* GET ``?hub.mode=subscribe&hub.verify_token=<ours>&hub.challenge=<n>`` when the callback URL
  is saved in the App Dashboard: answer the challenge only when the verify token matches.
* POST deliveries carry ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed
  with the app secret>``. Meta retries a delivery that is not answered 200 for up to 7 days,
  so every event is deduplicated by its Meta id.

Errors (https://developers.facebook.com/docs/graph-api/guides/error-handling): every failed
call answers ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", ...}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from hub.errors import (
    AuthError,
    DeliveryError,
    PayloadInvalid,
    PermanentDeliveryError,
    RecipientRefused,
    RetriableDeliveryError,
    SignatureInvalid,
    WindowClosed,
    parse_retry_after,
)
from hub.net import fetch_limited, guarded_request

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v24.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: what Meta sends as hub.challenge: a short opaque token (digits in practice); anything else
#: (markup, a JSON body) is refused, so the echo can never be turned into anything else
CHALLENGE = re.compile(r"[A-Za-z0-9_\-.]{1,128}")
VERSION = re.compile(r"^v\d{1,3}\.\d{1,2}$")
GRAPH_ID = re.compile(r"^\d{1,32}$")

#: Graph error codes that a later attempt may get past (throttling, outages)
#: https://developers.facebook.com/docs/graph-api/guides/error-handling#errorcodes and
#: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
RETRIABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
#: codes that mean the token is expired, revoked or lacks a permission: connector health red
AUTH_CODES = frozenset({0, 3, 10, 102, 190}) | frozenset(range(200, 300))
#: codes about the recipient (cannot be reached this way, whatever we send)
RECIPIENT_CODES = frozenset({131026, 131050, 551, 2018001})

#: failures that sending the same message again cannot fix -> what the agent can do instead
#: (shown in the inbox in place of "Retry"). 131047 / 2018278 / 2534022: the messaging window
#: is closed; 131026: WhatsApp cannot deliver to this number at all.
WINDOW_CODES = frozenset({131047, 2018278, 2534022})
ADVICE: dict[int, str] = {
    131047: "the 24-hour window closed (the customer last wrote more than 24 hours ago): send an approved "
            "WhatsApp message template instead; free text is possible again once the customer replies",
    131026: "WhatsApp cannot deliver to this number (not on WhatsApp, latest terms not accepted, or an old app "
            "version): reach the customer on another channel",
    131050: "the customer stopped marketing messages from this business: only service replies reach them",
    2018278: "outside Messenger's messaging window (the customer last wrote more than 24 hours ago and the HUMAN_AGENT "
             "tag does not apply): wait for the customer to write again, or send an approved message template",
    2534022: "outside the messaging window (the customer last wrote more than 24 hours ago): wait for the customer "
             "to write again, or send an approved message template",
}


def advice(code: Any, subcode: Any = None) -> str:
    """What to do instead of retrying, for a Meta error that a retry cannot fix ('' for others)."""
    for c in (subcode, code):
        try:
            num = int(c)
        except (TypeError, ValueError):
            continue
        if num in ADVICE:
            return ADVICE[num]
    return ""


#: Meta error codes -> what the agent or admin should know (the human explanation of a
#: failed reply). Sources: the WhatsApp Cloud API error codes page and the Messenger
#: Send API error codes (https://developers.facebook.com/docs/messenger-platform/error-codes).
EXPLANATIONS: dict[int, str] = {
    0: "Meta could not authenticate the request: check the connector's access token.",
    3: "The app lacks the capability for this call (check the app's permissions and review status).",
    4: "The app hit Meta's rate limit: retrying later.",
    10: "Permission denied: the token lacks a permission this call needs.",
    80007: "The WhatsApp Business Account hit its rate limit: retrying later.",
    100: "Meta refused a parameter of the request.",
    190: "The access token has expired or was revoked: generate a new token and update the connector.",
    368: "The sender is temporarily blocked by Meta for policy violations.",
    551: "This person isn't available right now (Messenger): the message cannot be delivered.",
    130429: "The phone number hit its message throughput limit: retrying later.",
    130472: "The customer's number is part of a Meta experiment and did not receive this marketing message.",
    131000: "Meta reported an unknown error: retrying later.",
    131005: "Access denied: the token lacks permission to send from this number.",
    131008: "A required parameter is missing.",
    131009: "A parameter value is not valid.",
    131016: "WhatsApp is temporarily unavailable: retrying later.",
    131021: "The recipient is the business number itself.",
    131026: "Message undeliverable: the number is not on WhatsApp, has not accepted the latest terms, or uses an old WhatsApp version.",
    131031: "The WhatsApp Business Account is locked or restricted.",
    131042: "A payment problem on the WhatsApp Business Account (check its payment method).",
    131045: "The sending phone number is not registered with the Cloud API.",
    131047: "Re-engagement required: more than 24 hours have passed since the customer last wrote, so only an approved template can be sent.",
    131048: "Spam rate limit: too many of this number's messages were blocked or reported; retrying later.",
    131049: "Meta chose not to deliver this marketing message (per-user marketing limit).",
    131050: "The customer has stopped marketing messages from this business.",
    131051: "WhatsApp does not support this message type.",
    131052: "The customer's media could not be downloaded.",
    131053: "The media could not be uploaded (unsupported type or too large).",
    131056: "Too many messages to this customer in a short time (pair rate limit): retrying later.",
    132000: "The template's parameters do not match the number it expects.",
    132001: "The template does not exist in this language or is not approved.",
    132015: "The template is paused because of low quality.",
    133004: "WhatsApp is temporarily unavailable: retrying later.",
    133010: "The phone number is not registered with the Cloud API.",
    2018001: "No Messenger user with this id (the person may have deleted their account or blocked the page).",
    2018108: "The person cannot receive messages from this page right now.",
    2018278: "Outside the messaging window: the customer last wrote more than 24 hours ago.",
    2534022: "Outside the messaging window: the customer last wrote more than 24 hours ago.",
}


def explain(code: int | str | None, detail: str = "") -> str:
    """A sentence an agent understands for a Meta error code ('' for none)."""
    if code in (None, ""):
        return detail
    try:
        num = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"Meta error {code}" + (f": {detail}" if detail else ".")
    text = EXPLANATIONS.get(num)
    if text is None:
        return f"Meta error {num}" + (f": {detail}" if detail else ".")
    return text


# ------------------------------------------------------------------ webhook security
def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends with body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str | None, body: bytes, header: str | None, *, who: str = "meta") -> None:
    """Raise SignatureInvalid unless header is Meta's signature of body. Fail closed."""
    if not app_secret:
        raise SignatureInvalid(f"{who}: no app_secret configured; webhook deliveries are refused")
    if not header:
        raise SignatureInvalid(f"{who}: missing {SIGNATURE_HEADER} header")
    if not body.lstrip(b" \t\r\n").startswith(b"{"):
        raise SignatureInvalid(f"{who}: a delivery body must be a JSON object")
    if not hmac.compare_digest(sign(app_secret, body).encode(), header.strip().lower().encode()):
        raise SignatureInvalid(f"{who}: {SIGNATURE_HEADER} does not match the body")


def verify_subscription(verify_token: str | None, args: Mapping[str, str], *, who: str = "meta") -> str:
    """The hub.challenge to echo for a valid subscription handshake, else SignatureInvalid.

    The verify token is compared in constant time; the challenge is echoed only after."""
    if not verify_token:
        raise SignatureInvalid(f"{who}: no verify_token configured; the subscription handshake is refused")
    if args.get("hub.mode") != "subscribe":
        raise SignatureInvalid(f"{who}: GET without hub.mode=subscribe")
    given = args.get("hub.verify_token") or ""
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        raise SignatureInvalid(f"{who}: hub.verify_token does not match")
    challenge = args.get("hub.challenge") or ""
    if not CHALLENGE.fullmatch(challenge):
        raise SignatureInvalid(f"{who}: hub.challenge is not a short opaque token")
    return challenge


# ------------------------------------------------------------------ errors
def error_of(resp: httpx.Response, *, who: str) -> DeliveryError:
    """The hub error for a failed Graph call (HTTP status + Meta's error object)."""
    try:
        data = resp.json()
    except ValueError:
        data = {}
    err = data.get("error") if isinstance(data, dict) else None
    err = err if isinstance(err, dict) else {}
    code = err.get("code")
    sub = err.get("error_subcode")
    message = str(err.get("message") or resp.text[:200] or f"HTTP {resp.status_code}")
    details = (err.get("error_data") or {}).get("details") if isinstance(err.get("error_data"), dict) else None
    known = EXPLANATIONS.get(int(sub)) if isinstance(sub, int) and sub in EXPLANATIONS else None
    human = known or (explain(code) if isinstance(code, int) and code in EXPLANATIONS else "")
    text = f"{who}: HTTP {resp.status_code}: {message}" + (f" (code {code}" + (f"/{sub}" if sub else "") + ")" if code is not None else "")
    if details and details not in text:
        text += f": {details}"
    if human:
        text += f" — {human}"
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    if resp.status_code == 429 or resp.status_code >= 500 or code in RETRIABLE_CODES:
        exc: DeliveryError = RetriableDeliveryError(text, retry_after=retry_after)
    elif code in WINDOW_CODES or sub in WINDOW_CODES:
        # before the auth codes: Messenger answers a message outside the window with code 10
        # (permission) and subcode 2018278, which is no fault of the token
        exc = WindowClosed(text, advice(code, sub))
    elif code in AUTH_CODES or resp.status_code == 401:
        exc = AuthError(text)
    elif code in RECIPIENT_CODES or sub in RECIPIENT_CODES:
        exc = RecipientRefused(text)  # no retry can reach this person
        exc.advice = advice(code, sub) or None
    else:
        exc = PermanentDeliveryError(text)
    exc.meta_code = code  # type: ignore[attr-defined]
    return exc


# ------------------------------------------------------------------ the client
class GraphClient:
    """Versioned Graph API calls with a bearer token through the outbound URL guard."""

    def __init__(self, base_url: str, version: str, token: str, *, who: str, timeout: float = 15.0) -> None:
        self.base_url = (base_url or DEFAULT_API_BASE).rstrip("/")
        self.version = version
        self.token = token
        self.who = who
        self.timeout = timeout

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.version}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                data: Mapping[str, Any] | None = None, files: Any = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            resp = guarded_request("api_base_url", method, self.url(path), params=params, json=json, data=data,
                                   files=files, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise RetriableDeliveryError(f"{self.who}: Graph API unreachable: {exc.__class__.__name__}: {exc}") from None
        if resp.status_code >= 400:
            raise error_of(resp, who=self.who)
        try:
            body = resp.json()
        except ValueError:
            raise RetriableDeliveryError(f"{self.who}: Graph API answered HTTP {resp.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise PermanentDeliveryError(f"{self.who}: Graph API answered {type(body).__name__}, not an object")
        return body

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("POST", path, json=body)

    def media_hosts(self, provider_hosts: Iterable[str]) -> list[str]:
        """Hosts media may be downloaded from: the provider's CDN plus the configured API host
        (a proxy or a local test server)."""
        parts = urlsplit(self.base_url)
        own = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        return [*provider_hosts, own]

    def download(self, url: str, *, max_bytes: int, provider_hosts: Iterable[str], with_token: bool = True) -> tuple[bytes, str]:
        """Fetch a media URL (only from provider_hosts or the API host), at most max_bytes."""
        return fetch_limited(
            url,
            allowed_hosts=self.media_hosts(provider_hosts),
            max_bytes=max_bytes,
            headers={"Authorization": f"Bearer {self.token}"} if with_token else None,
            who=f"{self.who}: ",
        )


def need_id(value: str, key: str) -> str:
    """A Graph object id (digits) from a config value, or ValueError naming the key."""
    v = (value or "").strip()
    if not GRAPH_ID.match(v):
        raise ValueError(f"{key} must be the numeric Graph API id (digits only)")
    return v


def need_version(value: str) -> str:
    v = (value or "").strip()
    if not VERSION.match(v):
        raise ValueError("api_version must look like v24.0")
    return v


def payload_error(who: str, problem: str) -> PayloadInvalid:
    return PayloadInvalid(f"{who}: {problem}")
