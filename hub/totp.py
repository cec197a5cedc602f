"""TOTP two-factor sign-in for password accounts (RFC 6238 through pyotp) and recovery codes.

- Enrolment: a random base32 secret is sealed into ``users.totp_secret`` (Fernet, the hub's
  key) and shown as a QR code (segno, SVG) and as text; it becomes active only when the user
  confirms it with a code (``totp_enabled_at``).
- A code is accepted for the current 30-second step or one step either side (clock drift), and
  only for a step later than the last one accepted (``totp_last_step``, advanced by a
  conditional UPDATE): a code seen once, or an older one, is refused, also by a second process
  racing the first.
- Ten recovery codes are made at enrolment, shown once, stored as SHA-256 digests (they are 50
  random bits each, so a slow hash adds nothing); each works once (a conditional UPDATE of
  ``used_at``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import time

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub.models import RecoveryCode, User, now

RECOVERY_CODES = 10
DRIFT_STEPS = 1  # accept the previous and the next 30-second step too
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a sheet of paper


def new_secret() -> str:
    return pyotp.random_base32()


def seal(box, secret: str) -> bytes:
    return box.seal(secret.encode())


def secret_of(box, user: User) -> str | None:
    return box.open(user.totp_secret).decode() if user.totp_secret else None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The URI as a QR code: an SVG ``data:`` URI (the pages' CSP allows ``img-src data:``)."""
    import segno  # here: only the enrolment page draws one

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=4, dark="#000", light="#fff", xmldecl=False, svgns=True)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step ``code`` belongs to (current one, or one either side), or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    t = time.time() if at is None else at
    found = None
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        when = t + offset * totp.interval
        if hmac.compare_digest(totp.at(when), code):  # all steps compared: no timing hint which one
            found = totp.timecode(_dt(when))
    return found


def _dt(ts: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


def accept_code(s: Session, box, user: User, code: str, at: float | None = None) -> bool:
    """True when ``code`` is right and its step was never used before (then it never will be again)."""
    secret = secret_of(box, user)
    step = matching_step(secret, code, at) if secret else None
    if step is None:
        return False
    res = s.execute(
        update(User)
        .where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1  # type: ignore[attr-defined]


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_recovery(code).encode()).hexdigest()


def normalize_recovery(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def new_recovery_codes(s: Session, user_id: int) -> list[str]:
    """Replace a user's recovery codes with RECOVERY_CODES new ones; returns them (shown once)."""
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id).execution_options(synchronize_session=False))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        s.add(RecoveryCode(user_id=user_id, code_hash=code_hash(raw)))
    return codes


def use_recovery_code(s: Session, user_id: int, code: str) -> bool:
    """Spend a recovery code: True once for each of the user's codes, False after."""
    if len(normalize_recovery(code)) != 10:
        return False
    res = s.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.code_hash == code_hash(code), RecoveryCode.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1  # type: ignore[attr-defined]


def recovery_codes_left(s: Session, user_id: int) -> int:
    return len(list(s.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)))))


def required_for(settings, role: str) -> bool:
    """Whether OMNIHUB_TOTP_REQUIRED makes two-factor mandatory for a password sign-in of ``role``."""
    return settings.totp_required == "everyone" or (settings.totp_required == "admins" and role == "admin")


def disable(s: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id).execution_options(synchronize_session=False))
