"""Users, password hashes (argon2) and API bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.errors import ConfigError, NotFound
from hub.models import ApiToken, AuditLog, User, now

ROLES = ("admin", "agent")
_hasher = PasswordHasher()
TOKEN_PREFIX = "omh_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(s: Session, email: str, role: str, password: str | None = None, name: str = "") -> tuple[User, str]:
    """Create a user; returns (user, password) — a generated one when none was given."""
    email = email.strip().lower()
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}")
    if "@" not in email:
        raise ConfigError(f"{email!r} is not an email address")
    if s.scalar(select(User).where(User.email == email)) is not None:
        raise ConfigError(f"a user with email {email!r} already exists")
    password = password or secrets.token_urlsafe(12)
    if len(password) < 8:
        raise ConfigError("password must have at least 8 characters")
    user = User(email=email, role=role, name=name or email.split("@")[0], password_hash=hash_password(password))
    s.add(user)
    s.flush()
    s.add(AuditLog(actor="cli", action="user.create", target_type="user", target_id=str(user.id), details={"role": role}))
    return user, password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(s: Session, email: str, name: str = "") -> str:
    user = s.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email!r} (create one with `omnihub users create`)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), prefix=token[:8]))
    s.add(AuditLog(actor=user.email, action="token.create", target_type="user", target_id=str(user.id)))
    return token


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    role: str
    name: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def principal_for_token(s: Session, token: str) -> Principal | None:
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked.is_(False)))
    if row is None or not row.user.active:
        return None
    row.last_used_at = now()
    u = row.user
    return Principal(u.id, u.email, u.role, u.name)
