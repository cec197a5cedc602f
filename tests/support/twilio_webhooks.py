"""Build signed Twilio webhook requests the way Twilio sends them (form POST + X-Twilio-Signature)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from channels.twilio import signature
from hub.types import CaseInsensitiveDict, WebhookRequest


def signed_request(
    url: str,
    pairs: Iterable[tuple[str, str]],
    token: str,
    *,
    sign_url: str | None = None,
    sign_pairs: Iterable[tuple[str, str]] | None = None,
) -> WebhookRequest:
    """A POST to ``url`` with ``pairs``; signed over ``sign_url``/``sign_pairs`` when given (forgeries)."""
    pairs = list(pairs)
    body = urlencode(pairs).encode()
    sig = signature.sign(token, sign_url or url, list(sign_pairs) if sign_pairs is not None else pairs)
    parts = urlsplit(url)
    return WebhookRequest(
        method="POST",
        url=url,
        path=parts.path,
        headers=CaseInsensitiveDict(
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "x"}
        ),
        body=body,
        form=tuple(pairs),
        args=tuple(parse_qsl(parts.query)),
    )


def inbound_sms(sid: str, frm: str, to: str, body: str, account_sid: str, **extra: str) -> list[tuple[str, str]]:
    """Parameters of Twilio's incoming message webhook, in the order Twilio sends them."""
    pairs = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", sid),
        ("NumMedia", extra.pop("NumMedia", "0")),
        ("ToCity", "SAN FRANCISCO"),
        ("FromZip", "94105"),
        ("SmsSid", sid),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", extra.pop("NumSegments", "1")),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", frm),
        ("ApiVersion", "2010-04-01"),
    ]
    pairs += list(extra.items())
    return pairs


def call_params(call_sid: str, frm: str, to: str, account_sid: str, status: str = "ringing", **extra: str) -> list[tuple[str, str]]:
    """Parameters of Twilio's voice webhook requests."""
    return [
        ("AccountSid", account_sid),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCountry", "US"),
        ("Caller", frm),
        ("CallerCountry", "US"),
        ("Direction", "inbound"),
        ("From", frm),
        ("FromCountry", "US"),
        ("To", to),
        ("ToCountry", "US"),
        *extra.items(),
    ]
