"""Users, password hashes (argon2) and API bearer tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, event, inspect, select, update
from sqlalchemy.orm import Session

from hub import audit
from hub.errors import ConfigError, NotFound
from hub.models import ApiToken, User, WebSession, now

ROLES = ("admin", "agent")
_hasher = PasswordHasher()
#: OMNIHUB_PASSWORD_HASH_PROFILE: argon2id parameters of new hashes (verification reads the
#: parameters stored in each hash, so hashes made under either profile verify under both)
#: (time cost, memory KiB, lanes); standard: None, argon2-cffi's defaults (RFC 9106 low-memory)
HASH_PROFILES: dict[str, tuple[int, int, int] | None] = {"standard": None, "insecure-test-only": (1, 1024, 1)}


def use_hash_profile(profile: str) -> None:
    """Hash new passwords (and the login page's dummy check) with this profile's cost; set by
    every Runtime from its settings (default ``standard``)."""
    global _hasher
    cost = HASH_PROFILES[profile]
    wanted = PasswordHasher() if cost is None else PasswordHasher(time_cost=cost[0], memory_cost=cost[1], parallelism=cost[2])
    if hash_cost(wanted) != hash_cost(_hasher):
        _hasher = wanted


def hash_cost(hasher: PasswordHasher) -> tuple[int, int, int]:
    return hasher.time_cost, hasher.memory_cost, hasher.parallelism


TOKEN_PREFIX = "omh_"
PREFIX_LEN = 12  # "omh_" + 8 random characters: enough to tell tokens apart, far too little to guess one
LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per token


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
    audit.record(s, actor="cli", action="user.create", target_type="user", target_id=str(user.id), details={"role": role})
    return user, password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(value: str | None, *, at: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``2w`` (from now) or an ISO date/time (UTC unless it names a zone); None/'' for never."""
    if not value:
        return None
    value = value.strip()
    at = at or now()
    m = re.fullmatch(r"(\d{1,5})\s*([hdw])", value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n == 0:
            raise ConfigError("--expires must be in the future (e.g. 30d)")
        return at + timedelta(hours=n) if unit == "h" else at + timedelta(days=n * (7 if unit == "w" else 1))
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--expires {value!r}: use a duration like 30d, 12h, 2w or a date like 2027-01-01") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= at:
        raise ConfigError(f"--expires {value!r} is in the past")
    return when


def create_token(s: Session, email: str, name: str = "", expires_at: datetime | None = None, actor: str | None = None) -> str:
    """A new API token for the user ``email``; audited with ``actor`` (who made it: ``cli``,
    an admin) or, without one, the user."""
    user = s.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email!r} (create one with `omnihub users create`)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), prefix=token[:PREFIX_LEN], expires_at=expires_at))
    audit.record(s, actor=actor or user.email, action="token.create", target_type="user", target_id=str(user.id),
                   details={"expires_at": expires_at.isoformat() if expires_at else None, "for": user.email})
    return token


def token_json(row: ApiToken, *, with_owner: bool = False) -> dict:
    out = {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "expired": bool(row.expires_at and row.expires_at <= now()),
    }
    if with_owner:
        out["email"] = row.user.email
    return out


def list_tokens(s: Session, *, user_id: int | None = None, email: str | None = None) -> list[ApiToken]:
    """Tokens not revoked (expired ones included, marked), oldest first; optionally one user's."""
    q = select(ApiToken).join(User, ApiToken.user_id == User.id).where(ApiToken.revoked.is_(False)).order_by(ApiToken.id)
    if user_id is not None:
        q = q.where(ApiToken.user_id == user_id)
    if email is not None:
        q = q.where(User.email == email.strip().lower())
    return list(s.scalars(q))


def revoke_token(s: Session, token_id: int, actor: str, *, user_id: int | None = None) -> ApiToken:
    """Revoke a token (only ``user_id``'s when given); NotFound for a missing, revoked or foreign one."""
    row = s.get(ApiToken, token_id)
    if row is None or row.revoked or (user_id is not None and row.user_id != user_id):
        raise NotFound(f"token {token_id} not found (see `omnihub tokens list`)")
    row.revoked = True
    audit.record(s, actor=actor, action="token.revoke", target_type="api_token", target_id=str(row.id))
    return row


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
    """The token's user, or None for an unknown, revoked or expired token or an inactive user.

    last_used_at is written at most once a minute per token (a conditional UPDATE, so parallel
    requests do not all write), not on every request.
    """
    row = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token), ApiToken.revoked.is_(False)))
    t = now()
    if row is None or not row.user.active or (row.expires_at is not None and row.expires_at <= t):
        return None
    if row.last_used_at is None or t - row.last_used_at >= LAST_USED_EVERY:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id, (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at <= t - LAST_USED_EVERY))
            .values(last_used_at=t)
            .execution_options(synchronize_session=False)
        )
    u = row.user
    return Principal(u.id, u.email, u.role, u.name)


def revoke_sessions(s: Session, user_id: int) -> None:
    """End every web login session of a user."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id).execution_options(synchronize_session=False))


@event.listens_for(Session, "before_flush")
def _end_sessions_on_credential_change(s: Session, flush_context, instances) -> None:
    """A changed password, role or active flag ends the user's web sessions, whatever changed it."""
    for obj in list(s.dirty):
        if isinstance(obj, User) and obj.id is not None:
            state = inspect(obj)
            if any(state.attrs[a].history.has_changes() for a in ("password_hash", "role", "active")):
                revoke_sessions(s, obj.id)
