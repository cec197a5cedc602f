"""Robots are never answered: the one decision every automatic sender consults."""

from __future__ import annotations

from typing import Any

import structlog

from hub.models import Identity, now
from normalizers import robots

log = structlog.get_logger("omnihub.intel")


def automatic_reason(ident: Identity | None) -> str | None:
    """The one decision every automatic sender consults (acknowledgement, CSAT survey and
    thanks, FAQ bot, security warning; the send stage checks it again for ``kind="auto"``):
    why this identity must never get an automatic message, or None.

    An identity is automatic when its address is a robot's (no-reply, mailer-daemon,
    postmaster, list managers, SES/SNS...) or when mail from it has shown itself automatic
    (remembered in ``identity.attrs["automatic"]`` by ``remember_automatic``)."""
    if ident is None:
        return "no identity"
    remembered = (ident.attrs or {}).get("automatic")
    if remembered:
        return str(remembered.get("reason") if isinstance(remembered, dict) else remembered)
    if "@" in (ident.address or ""):  # an email address, on whichever channel it came
        return robots.address_reason(ident.address)
    return None


def automatic_sign(msg: Any) -> str | None:
    """The sign in an inbound message that shows its *address* automatic, or None."""
    reason = msg.auto_reason
    if "@" in (msg.sender.address or ""):
        reason = robots.address_reason(msg.sender.address) or reason
    return reason if robots.shows_address_automatic(reason) else None


def remember_automatic(ident: Identity, msg: Any) -> None:
    """Remember on the identity that its address has shown itself automatic (see robots)."""
    reason = automatic_sign(msg)
    if not reason:
        return
    attrs = dict(ident.attrs or {})
    if (attrs.get("automatic") or {}).get("reason") == reason:
        return
    attrs["automatic"] = {"reason": reason, "at": now().isoformat(), "message": getattr(msg, "external_id", None)}
    ident.attrs = attrs
    log.info("identity.automatic", identity_id=ident.id, reason=reason)
