"""Account Activity webhook security: the CRC challenge and the delivery signature.

GET  <webhook>?crc_token=T -> {"response_token": "sha256=" + b64(HMAC-SHA256(consumer_secret, T))}
POST deliveries carry x-twitter-webhooks-signature: "sha256=" + b64(HMAC-SHA256(consumer_secret, body)).
https://docs.x.com/x-api/webhooks/introduction (securing webhooks)

Both are the same MAC under the same key, and X documents no signature on the CRC GET, so
an unauthenticated CRC would be a signing oracle: the answer for crc_token=<event JSON> is
the delivery signature of a POST of that JSON. The two message sets are kept disjoint: a
crc_token is a short opaque token (URL-safe base64 characters, bounded length, never a
brace), and a delivery body must be a JSON object (its first byte is "{").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from hub.errors import SignatureInvalid

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
#: what X sends as crc_token: an opaque base64 / base64url token (a few dozen characters)
CRC_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=]{1,128}")


def check_crc_token(token: str | None) -> str:
    """The crc_token, or SignatureInvalid when it is not the short opaque token X sends."""
    if not token:
        raise SignatureInvalid("x: GET without crc_token")
    if not CRC_TOKEN.fullmatch(token):
        raise SignatureInvalid("x: crc_token is not an opaque token (at most 128 base64 characters); refused")
    return token


def _digest(secret: str, data: bytes) -> str:
    mac = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode("ascii")


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The response_token X expects for a CRC challenge (only ever for a checked token)."""
    return _digest(consumer_secret, check_crc_token(crc_token).encode())


def sign(consumer_secret: str, body: bytes) -> str:
    """The x-twitter-webhooks-signature value X sends with body."""
    return _digest(consumer_secret, body)


def verify_signature(consumer_secret: str | None, body: bytes, header: str | None) -> None:
    """Raise SignatureInvalid unless header is X's signature of body. Fail closed."""
    if not consumer_secret:
        raise SignatureInvalid("x: no consumer_secret configured; webhook deliveries are refused")
    if not header:
        raise SignatureInvalid(f"x: missing {SIGNATURE_HEADER} header")
    if not body.lstrip(b" \t\r\n").startswith(b"{"):
        # a delivery is a JSON object; anything else could be a CRC token's MAC
        raise SignatureInvalid("x: a delivery body must be a JSON object")
    if not hmac.compare_digest(sign(consumer_secret, body).encode(), header.strip().encode()):
        raise SignatureInvalid(f"x: {SIGNATURE_HEADER} does not match the body")
