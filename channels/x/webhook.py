"""Account Activity webhook security: the CRC challenge and the delivery signature.

GET  <webhook>?crc_token=T -> {"response_token": "sha256=" + b64(HMAC-SHA256(consumer_secret, T))}
POST deliveries carry x-twitter-webhooks-signature: "sha256=" + b64(HMAC-SHA256(consumer_secret, body)).
https://docs.x.com/x-api/webhooks/introduction (securing webhooks)
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from hub.errors import SignatureInvalid

SIGNATURE_HEADER = "x-twitter-webhooks-signature"


def _digest(secret: str, data: bytes) -> str:
    mac = hmac.new(secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode("ascii")


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The response_token X expects for a CRC challenge."""
    return _digest(consumer_secret, crc_token.encode())


def sign(consumer_secret: str, body: bytes) -> str:
    """The x-twitter-webhooks-signature value X sends with body."""
    return _digest(consumer_secret, body)


def verify_signature(consumer_secret: str | None, body: bytes, header: str | None) -> None:
    """Raise SignatureInvalid unless header is X's signature of body. Fail closed."""
    if not consumer_secret:
        raise SignatureInvalid("x: no consumer_secret configured; webhook deliveries are refused")
    if not header:
        raise SignatureInvalid(f"x: missing {SIGNATURE_HEADER} header")
    if not hmac.compare_digest(sign(consumer_secret, body).encode(), header.strip().encode()):
        raise SignatureInvalid(f"x: {SIGNATURE_HEADER} does not match the body")
