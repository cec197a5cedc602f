"""Encryption at rest (Fernet, keyed from OMNIHUB_SECRET_KEY) and secret masking."""

from __future__ import annotations

import base64
import hmac
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import ConfigError


@lru_cache(maxsize=8)
def fernet_for(secret_key: str, purpose: str = "at-rest") -> Fernet:
    if not secret_key:
        raise ConfigError("OMNIHUB_SECRET_KEY is empty: set it (or let `omnihub run` generate one)")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"omnihub", info=purpose.encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


@lru_cache(maxsize=8)
def derive_key(secret_key: str, purpose: str) -> bytes:
    """32 bytes for ``purpose`` from the hub's key (HKDF-SHA256), e.g. a MAC key."""
    if not secret_key:
        raise ConfigError("OMNIHUB_SECRET_KEY is empty: set it (or let `omnihub run` generate one)")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"omnihub", info=purpose.encode()).derive(secret_key.encode())


class Box:
    """Encrypts and decrypts bytes and JSON with the hub's key."""

    def __init__(self, secret_key: str) -> None:
        self._f = fernet_for(secret_key)
        #: key of the digest that keeps redacted identifiers unique (normalizers.redact)
        self.id_key = derive_key(secret_key, "redact-identifiers")
        #: key of the digest that names a typed sign-in email in the login limiter's Redis keys
        self._login_key = derive_key(secret_key, "login-limiter")

    def login_digest(self, email: str) -> str:
        """The sign-in limiter's name for a typed email (hub.web.security): keyed with the hub's
        secret, so a Redis key cannot be matched to an address by hashing a list of addresses."""
        return hmac.new(self._login_key, email.strip().lower().encode(), "sha256").hexdigest()[:16]

    def seal(self, data: bytes) -> bytes:
        return self._f.encrypt(data)

    def open(self, token: bytes) -> bytes:
        try:
            return self._f.decrypt(bytes(token))
        except InvalidToken:
            raise ConfigError(
                "cannot decrypt stored data: OMNIHUB_SECRET_KEY differs from the key it was written with"
            ) from None

    def seal_json(self, value: Any) -> bytes:
        return self.seal(json.dumps(value, separators=(",", ":")).encode())

    def open_json(self, token: bytes | None) -> Any:
        return json.loads(self.open(token)) if token else {}


def mask(value: str | None) -> str:
    """Show that a secret is set without revealing it: 'sk_l••••••3f'."""
    if not value:
        return ""
    if len(value) <= 8:
        return "••••••"
    return f"{value[:2]}••••••{value[-2:]}"
