"""The audit log: append-only and tamper-evident (docs/security.md, "Audit log").

Every entry is written through :func:`record`. It carries the SHA-256 of the entry before it
(``prev_hash``) and its own ``hash`` over a canonical JSON of (previous hash, id, time, actor,
action, target, details, client address), so editing, deleting or inserting a row breaks the
chain and :func:`verify` (``omnihub audit verify``) names the first entry where it breaks.

Appends are serialized: the one ``audit_head`` row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction already holds the database's write lock,
``BEGIN IMMEDIATE`` in hub.db) until the caller's transaction ends, so two writers cannot
both extend the same entry. The head also remembers the last entry, so removing entries from
the end of the chain is noticed too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.models import AuditHead, AuditLog, Conversation, now

HEAD_ID = 1

#: the actions written today (docs/security.md lists when); offered by the admin page's filter
ACTIONS = (
    "user.login", "user.login_failed", "user.recovery_code_used", "user.2fa_enabled", "user.2fa_disabled",
    "user.2fa_recovery_codes", "user.2fa_failed", "user.reset_2fa", "user.create", "user.oidc_link", "user.role_change",
    "user.role", "user.activate", "user.deactivate", "user.set_password", "token.create", "token.revoke",
    "connector.create", "connector.update", "connector.delete", "connector.check", "connector.oauth_authorized",
    "dead_letters.replay", "contact.merge", "contact.update", "conversation.update", "conversation.view",
    "reply.create", "reply.retry", "sealed.reveal", "audit.export", "contact.erase", "contact.export",
    "retention.policy", "retention.run",
    "event_subscription.create", "event_subscription.update", "event_subscription.delete", "event_delivery.replay",
)

#: the details of an entry whose content an erasure removed (:func:`redact`)
REDACTED = "_redacted"


def canonical(value: Any) -> str:
    """The one JSON spelling hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, entry_id: int, at: datetime, actor: str, action: str, target_type: str,
               target_id: str, details: Any, ip: str) -> str:
    doc = {"prev": prev_hash, "id": int(entry_id), "at": _time(at), "actor": actor, "action": action,
           "target_type": target_type, "target_id": target_id, "details": details if details is not None else {},
           "ip": ip or ""}
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


def row_hash(row: AuditLog) -> str:
    return entry_hash(row.prev_hash or "", row.id, row.at, row.actor or "", row.action or "", row.target_type or "",
                      row.target_id or "", row.details, row.ip or "")


def _request_ip() -> str:
    from hub.clientip import client_ip

    try:
        return client_ip() or ""
    except Exception:  # noqa: BLE001 - the address is a detail; never fail the audited action for it
        return ""


def _lock_head(s: Session) -> AuditHead:
    """The head row, locked until the caller's transaction ends."""
    q = select(AuditHead).where(AuditHead.id == HEAD_ID).execution_options(populate_existing=True)
    if s.get_bind().dialect.name != "sqlite":
        q = q.with_for_update()
    head = s.scalar(q)
    if head is None:  # a database created without the migration's head row
        try:
            with s.begin_nested():
                s.add(AuditHead(id=HEAD_ID, last_id=0, hash="", count=0))
        except IntegrityError:
            pass  # another writer created it first
        head = s.scalar(q)
        assert head is not None
    return head


def record(s: Session, actor: str, action: str, target_type: str = "", target_id: Any = "",
           details: dict[str, Any] | None = None, ip: str | None = None) -> AuditLog:
    """Append one entry to the audit chain inside the caller's transaction (it commits with it)."""
    clean = json.loads(canonical(details or {}))  # stored exactly as hashed
    head = _lock_head(s)
    row = AuditLog(at=now(), actor=(actor or "anonymous")[:320], action=action[:64], target_type=(target_type or "")[:32],
                   target_id=str(target_id if target_id is not None else "")[:64], details=clean,
                   ip=(_request_ip() if ip is None else ip)[:64], prev_hash=head.hash or "", hash="")
    s.add(row)
    s.flush()  # assigns the id, which the hash covers
    row.hash = row_hash(row)
    head.last_id, head.hash, head.count = row.id, row.hash, (head.count or 0) + 1
    s.flush()
    return row


#: one ``conversation.view`` entry per agent and conversation within this window (a timeline
#: refreshing itself is not a new view)
VIEW_WINDOW = timedelta(minutes=10)


def record_view(s: Session, actor: str, conversation_id: int, via: str) -> bool:
    """Audit an agent opening a security-flagged conversation (``conversation.view``); other
    conversations are not audited. Returns whether an entry was written."""
    if not s.scalar(select(Conversation.security_flag).where(Conversation.id == conversation_id)):
        return False
    recent = s.scalar(select(AuditLog.id).where(
        AuditLog.action == "conversation.view", AuditLog.target_type == "conversation",
        AuditLog.target_id == str(conversation_id), AuditLog.actor == actor, AuditLog.at >= now() - VIEW_WINDOW).limit(1))
    if recent is not None:
        return False
    record(s, actor, "conversation.view", "conversation", conversation_id, {"via": via, "security_flag": True})
    return True


@dataclass
class Verdict:
    ok: bool
    count: int
    head: str  # the last entry's hash: keep it elsewhere to detect a rewritten chain later
    broken_id: int | None = None
    reason: str = ""


def iter_entries(s: Session, batch: int = 1000) -> Iterator[AuditLog]:
    """Every entry in chain order, read in batches (keyset on id: no OFFSET, bounded memory)."""
    after = 0
    while True:
        rows = s.scalars(select(AuditLog).where(AuditLog.id > after).order_by(AuditLog.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id
        s.expunge_all()


def is_redacted(row: AuditLog) -> bool:
    return isinstance(row.details, dict) and set(row.details) == {REDACTED}


def redact(s: Session, rows: list[AuditLog], reason: str, terms: tuple[str, ...] = ()) -> dict[str, str]:
    """Remove the content of entries that name an erased contact (hub.erasure).

    The hash chain covers every entry's content, so an entry cannot simply be rewritten: its
    stored ``hash`` (and so every link after it) stays as it was, its details are replaced by a
    marker, its actor too when it is one of ``terms`` (lower-case), and its target id when it
    holds one: a target id that names no one (a contact's or conversation's number, a date
    range) stays, so the entry still says what was exported or merged. The caller records the entry ids with their hashes
    in the ``contact.erase`` entry it appends next. :func:`verify` accepts a redacted entry only
    when a later entry of the chain vouches for exactly that id and hash: removing content is
    visible and attested; changing it otherwise still breaks the chain.
    Returns {entry id: its hash} for the attesting entry."""
    out: dict[str, str] = {}
    for row in rows:
        if is_redacted(row):
            continue
        if (row.actor or "").strip().lower() in terms:  # a sign-in attempt typed with the customer's address
            row.actor = "redacted"
        if any(term in (row.target_id or "").lower() for term in terms):
            row.target_id = ""
        row.details = {REDACTED: reason}
        out[str(row.id)] = row.hash
    s.flush()
    return out


def verify(s: Session) -> Verdict:
    prev, count, last_id = "", 0, 0
    unattested: dict[int, str] = {}  # redacted entries waiting for the later entry that vouches for them
    for row in iter_entries(s):
        if (row.prev_hash or "") != prev:
            return Verdict(False, count, prev, row.id, "its previous-entry hash does not match the entry before it "
                           "(an entry was removed or inserted before it, or it was changed)")
        if is_redacted(row):
            unattested[row.id] = row.hash
        elif row_hash(row) != row.hash:
            return Verdict(False, count, prev, row.id, "its content does not match its hash (the entry was changed)")
        elif row.action == "contact.erase" and isinstance(row.details, dict):
            for key, h in (row.details.get("redacted_entries") or {}).items():
                if str(key).isdigit() and unattested.get(int(key)) == h:
                    del unattested[int(key)]
        prev, count, last_id = row.hash, count + 1, row.id
    if unattested:
        first = min(unattested)
        return Verdict(False, count, prev, first, "its content was removed but no later contact.erase entry vouches for it")
    head = s.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_id or 0, head.hash or "") != (last_id, prev):
        return Verdict(False, count, prev, head.last_id or None,
                       f"the chain ends at entry {last_id or 'none'} but the last entry appended was {head.last_id} "
                       "(entries were removed from the end, or the head was changed)")
    return Verdict(True, count, prev)


def entry_json(row: AuditLog) -> dict[str, Any]:
    return {"id": row.id, "at": _time(row.at), "actor": row.actor, "action": row.action, "target_type": row.target_type,
            "target_id": row.target_id, "details": row.details or {}, "ip": row.ip or "", "prev_hash": row.prev_hash,
            "hash": row.hash}


def query(actor: str = "", action: str = "", since: datetime | None = None, until: datetime | None = None,
          after: int | None = None, before: int | None = None):
    """A filtered select of entries (newest first when ``before`` pages backwards, else by id)."""
    q = select(AuditLog)
    if actor:
        q = q.where(AuditLog.actor == actor)
    if action:
        # "user." matches every user.* action; otherwise the exact action
        q = q.where(AuditLog.action.startswith(action, autoescape=True) if action.endswith(".") else AuditLog.action == action)
    if since is not None:
        q = q.where(AuditLog.at >= since)
    if until is not None:
        q = q.where(AuditLog.at < until)
    if after is not None:
        q = q.where(AuditLog.id > after)
    if before is not None:
        q = q.where(AuditLog.id < before)
    return q
