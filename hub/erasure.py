"""Erasure and export of one contact's data (docs/retention.md).

``erase(rt, contact_id, actor)`` removes, in one transaction: the contact (and the contacts
merged into it), its identities, every conversation of theirs with its messages, replies,
attachments, deliveries, helpdesk links and read markers, every message the contact sent
into another conversation, the journal rows of all of these (found through the messages and
by opening the encrypted payloads of the connectors involved), the entries of connector
state that name the contact, and the content of audit entries that name it (hub.audit.redact:
the chain stays verifiable). The helpdesk tickets linked to its conversations are queued for
removal (``ticket_removals``; the poller asks each backend that supports it, with retries).
After the commit the attachment files no other attachment shares are deleted, and the
inbox's typing markers in Redis for those conversations are dropped. The ``contact.erase``
audit entry names the contact id and the counts only.

``export(rt, contact_id, out)`` writes a zip: ``contact.json`` (contact, identities,
conversations with messages and replies, and the messages the contact sent in other people's
conversations) and ``attachments/<id>-<name>`` for each stored file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any
from urllib.parse import parse_qsl

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, purge, search
from hub.errors import ConfigError, NotFound
from hub.models import (
    AuditLog,
    Connector,
    Contact,
    Conversation,
    Delivery,
    HelpdeskLink,
    Identity,
    InboundEvent,
    Message,
    Reply,
    TicketRemoval,
    User,
    WebhookEvent,
    now,
)
from hub.states import TicketRemovalState

log = structlog.get_logger("omnihub.erasure")

#: identifiers shorter than this are not searched for in journal payloads, state and audit
#: details (a short id would match everything)
MIN_TERM = 6
#: names are searched for in audit entries only, and only when at least this long (a first
#: name alone would redact other people's entries)
MIN_NAME = 8


@dataclass
class Subject:
    """Everything stored about one contact, by id, and the strings that identify it."""

    contact_ids: set[int] = field(default_factory=set)
    identity_ids: set[int] = field(default_factory=set)
    conversation_ids: set[int] = field(default_factory=set)
    message_ids: set[int] = field(default_factory=set)  # the contact's own, in other conversations too
    connector_ids: set[int] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)  # lower-case identifiers: addresses, emails, phone numbers
    names: set[str] = field(default_factory=set)  # lower-case full names (audit entries only)
    external_ids: set[str] = field(default_factory=set)  # provider ids of its messages and replies
    staff: set[str] = field(default_factory=set)  # users' sign-in addresses: never taken for the contact's
    scoped: dict[str, set[str]] = field(default_factory=dict)  # connector name -> provider ids valid on it only


def _add_name(names: set[str], value: str | None) -> None:
    value = " ".join((value or "").split()).lower()
    if len(value) >= MIN_NAME:
        names.add(value)


def _add_term(terms: set[str], value: str | None) -> None:
    value = (value or "").strip().lower()
    if len(value) >= MIN_TERM:
        terms.add(value)
    digits = re.sub(r"\D", "", value)
    if value.startswith("+") and len(digits) >= 7:  # an E.164 number also appears without its "+"
        terms.add(digits)


def find(s: Session, contact_id: int) -> Subject:
    root = s.get(Contact, contact_id)
    if root is None:
        raise NotFound(f"contact {contact_id} not found")
    if root.merged_into_id is not None:  # its identities and conversations are the other contact's now
        raise ConfigError(f"contact {contact_id} was merged into contact {root.merged_into_id}: erase or export contact "
                          f"{root.merged_into_id} (the contacts merged into it go with it)")
    sub = Subject(contact_ids={root.id}, staff=_staff(s))
    frontier = {root.id}
    while frontier:  # the contacts merged into it (and into those)
        more = set(s.scalars(select(Contact.id).where(Contact.merged_into_id.in_(frontier)))) - sub.contact_ids
        sub.contact_ids |= more
        frontier = more
    contacts = s.scalars(select(Contact).where(Contact.id.in_(sub.contact_ids))).all()
    idents = s.scalars(select(Identity).where(Identity.contact_id.in_(sub.contact_ids))).all()
    sub.identity_ids = {i.id for i in idents}
    connector_names = set(s.scalars(select(Connector.name)))
    for c in contacts:
        _add_name(sub.names, c.name)
        _add_term(sub.terms, c.email)
    for i in idents:
        for v in (i.address, i.phone, i.verified_email):
            _add_term(sub.terms, v)
        _add_name(sub.names, i.display_name)
        if ":" in i.address:  # "<connector>:<id>" (api channel), "<team>:<user>" (Slack): the id alone too
            prefix, bare = i.address.split(":", 1)
            if prefix in connector_names:  # an id on that connector only: "site:cust-jj" is not "escalations:cust-jj"
                _add_term(sub.scoped.setdefault(prefix, set()), bare)
            else:
                _add_term(sub.terms, bare)
    conv_q = select(Conversation.id, Conversation.connector_id).where(
        or_(Conversation.contact_id.in_(sub.contact_ids), Conversation.identity_id.in_(sub.identity_ids or {-1})))
    for cid, conn in s.execute(conv_q):
        sub.conversation_ids.add(cid)
        sub.connector_ids.add(conn)
    for part in purge.chunks(sorted(sub.identity_ids)):
        for mid, conn, name in s.execute(select(Message.id, Message.connector_id, Message.sender_name).where(Message.identity_id.in_(part))):
            sub.message_ids.add(mid)
            sub.connector_ids.add(conn)
            _add_name(sub.names, name)
    for part in purge.chunks(sorted(sub.conversation_ids)):
        sub.external_ids |= {e for e in s.scalars(select(Message.external_id).where(Message.conversation_id.in_(part))) if e}
        sub.external_ids |= {e for e in s.scalars(select(Reply.external_id).where(Reply.conversation_id.in_(part))) if e}
        sub.connector_ids |= set(s.scalars(select(HelpdeskLink.helpdesk_id).where(HelpdeskLink.conversation_id.in_(part))))
    for part in purge.chunks(sorted(sub.message_ids)):
        sub.external_ids |= {e for e in s.scalars(select(Message.external_id).where(Message.id.in_(part))) if e}
    return sub


def _matching_events(s: Session, box: Any, sub: Subject, batch: int = 500) -> set[int]:
    """Journal rows of the connectors involved, not linked to a stored message (those go with
    their messages), whose (decrypted) payload has the contact as a party or refers to one of
    its messages: status callbacks, edits, agent replies from a helpdesk, quarantined events,
    its own messages not processed yet. A party means one of its identifiers is the whole value
    of a sender or recipient field (``_names``); another customer's message that quotes its
    address or id, or whose own id happens to equal one, stays theirs, pending or not."""
    refs = {e.lower() for e in sub.external_ids if len(e) >= MIN_TERM}
    if not sub.connector_ids:
        return set()
    names = dict(s.execute(select(Connector.id, Connector.name).where(Connector.id.in_(sub.connector_ids))).all())
    idents = {cid: purge.Identifiers(sub.terms | sub.scoped.get(name, set())) for cid, name in names.items()}
    linked = select(Message.id).where(Message.event_id == InboundEvent.id).exists()
    found: set[int] = set()
    after = 0
    while True:
        rows = s.execute(select(InboundEvent.id, InboundEvent.connector_id, InboundEvent.external_id, InboundEvent.payload)
                         .where(InboundEvent.connector_id.in_(sub.connector_ids), InboundEvent.id > after, ~linked)
                         .order_by(InboundEvent.id).limit(batch)).all()
        if not rows:
            return found
        for row in rows:
            after = row.id
            ident = idents[row.connector_id]  # the rows are of these connectors only
            if not ident and not refs:
                continue
            try:
                plain = box.open(row.payload)
            except Exception:  # noqa: BLE001 - unreadable (another key): judged by its id only
                plain = b""
            if _names(plain, row.external_id or "", ident, refs):
                found.add(row.id)


def _refers(value: Any, refs: set[str]) -> bool:
    """Whether a JSON-like value holds one of the contact's messages' provider ids as a whole value."""
    if isinstance(value, dict):
        return any(_refers(v, refs) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_refers(v, refs) for v in value)
    return isinstance(value, str) and value.strip().lower() in refs


def _names(plain: bytes, external_id: str, ident: purge.Identifiers, refs: set[str]) -> bool:
    """Whether a journal envelope (or its provider body, kept base64-encoded: JSON, form-encoded
    or a raw email) has the person as a party or refers to one of their messages."""
    if external_id and external_id.strip().lower() in refs:
        return True
    try:
        envelope = json.loads(plain)
    except ValueError:
        return _mail_party(plain, ident)
    if not isinstance(envelope, dict):
        return ident.as_party(envelope) or _refers(envelope, refs)
    rest = {k: v for k, v in envelope.items() if k != "payload"}
    if ident.as_party(rest) or _refers(rest, refs):
        return True
    inner = envelope.get("payload")
    if not isinstance(inner, str) or not inner:
        return False
    try:
        body = base64.b64decode(inner, validate=True)
    except ValueError:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if doc is not None:
        return ident.as_party(doc) or _refers(doc, refs)
    decoded = body.decode("utf-8", "replace")
    if "=" in decoded and "\n" not in decoded.strip():  # form-encoded (Twilio): its fields by name
        pairs = parse_qsl(decoded, keep_blank_values=True)
        fields: dict[str, list[str]] = {}
        for k, v in pairs:
            fields.setdefault(k, []).append(v)
        return ident.as_party(fields) or _refers(fields, refs)
    return _mail_party(body, ident)


def _mail_party(raw: bytes, ident: purge.Identifiers) -> bool:
    """A raw email: whether one of its sender or recipient addresses is the person's."""
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    try:
        headers = BytesHeaderParser().parsebytes(raw)
    except Exception:  # noqa: BLE001 - not a mail
        return False
    values = [str(v) for name in ("from", "sender", "reply-to", "to", "cc", "return-path") for v in headers.get_all(name) or []]
    addresses = [addr for _n, addr in getaddresses(values) if addr]
    return ident.as_party({"from": addresses})


def _queue_ticket_removals(s: Session, conv_ids: set[int]) -> dict[str, int]:
    from hub.connectors import adapter_class

    out = {"tickets_queued": 0, "tickets_unsupported": 0}
    links: list[Any] = []
    for part in purge.chunks(sorted(conv_ids)):
        links += s.execute(select(HelpdeskLink.helpdesk_id, HelpdeskLink.external_ref).where(HelpdeskLink.conversation_id.in_(part))).all()
    kinds = {c.id: c.kind for c in s.scalars(select(Connector).where(Connector.id.in_({h for h, _ in links} or {-1})))}
    for helpdesk_id, ref in sorted(set(links)):
        cls = adapter_class(kinds.get(helpdesk_id, "")) if kinds.get(helpdesk_id) else None
        if cls is not None and getattr(cls, "builtin", False):
            continue  # the built-in inbox: its data is the rows deleted here
        supported = cls is not None and getattr(cls, "erases", False)
        exists = s.scalar(select(TicketRemoval.id).where(TicketRemoval.helpdesk_id == helpdesk_id, TicketRemoval.external_ref == ref))
        if exists is None:
            s.add(TicketRemoval(helpdesk_id=helpdesk_id, external_ref=str(ref)[:255], state="pending" if supported else "unsupported",
                                last_error=None if supported else "this helpdesk backend cannot delete tickets: remove it there by hand"))
        out["tickets_queued" if supported else "tickets_unsupported"] += 1
    return out


def _matching_webhook_events(s: Session, sub: Subject, batch: int = 1000) -> list[int]:
    """Outgoing event-webhook events of other conversations that carry one of the contact's
    messages (``message.id``: its message in a shared thread). Those of its own conversations
    go with them. An event of another customer's message that quotes the contact's address, or
    whose sender name or provider id happens to equal one of its identifiers, stays."""
    mine = set(sub.message_ids)
    found: list[int] = []
    after = 0
    while mine:
        rows = s.execute(select(WebhookEvent.id, WebhookEvent.payload).where(WebhookEvent.id > after)
                         .order_by(WebhookEvent.id).limit(batch)).all()
        if not rows:
            break
        after = rows[-1].id
        for r in rows:
            message = r.payload.get("message") if isinstance(r.payload, dict) else None
            if isinstance(message, dict) and message.get("id") in mine:
                found.append(r.id)
    return found


def _scrub_connector_state(s: Session, sub: Subject) -> int:
    removed = 0
    ident = purge.Identifiers(sub.terms | {e.lower() for e in sub.external_ids if len(e) >= MIN_TERM})
    if not ident:
        return 0
    for row in s.scalars(select(Connector)):
        state, n = ident.scrub(row.state or {})
        if n:
            row.state = state
            removed += n
    return removed


#: audit entries that are the record of erasures and retention runs themselves: counts and row
#: ids only, never redacted (their attestations keep the chain verifiable)
NEVER_REDACTED = frozenset({"contact.erase", "retention.run"})
#: entries about contacts: their details hold a contact's fields (name, email, attributes)
def _about_contacts(action: str) -> bool:
    return action.startswith("contact.")


def _staff(s: Session) -> set[str]:
    return {e.lower() for e in s.scalars(select(User.email)) if e}


def _audit_entries(s: Session, sub: Subject, batch: int = 1000) -> list[AuditLog]:
    """Entries about the contact: its target is one of the contacts; or, in an entry about
    contacts (``contact.*``: their fields), its details name it by an identifier
    (``purge.Identifiers``: whole values and tokens, never dictionary keys) or its full name; or
    its actor is one of its email addresses or numbers and no user's (a sign-in attempt typed
    with the customer's address); or its target id is one of its identifiers. Nothing else: an
    identifier that happens to equal an IP address, a date or a word in a staff entry names no
    one there. Staff activity stays (a customer who gave an agent's address does not name the
    agent), and the records of erasures and retention runs are never redacted."""
    ids = {str(c) for c in sub.contact_ids}
    staff = _staff(s)
    terms = sub.terms - staff  # a customer who gave an agent's address does not name the agent
    named_ident = purge.Identifiers(terms, sub.names)
    hits: list[int] = []
    after = 0
    while True:
        rows = s.execute(select(AuditLog.id, AuditLog.action, AuditLog.actor, AuditLog.target_type, AuditLog.target_id,
                                AuditLog.details).where(AuditLog.id > after).order_by(AuditLog.id).limit(batch)).all()
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            if row.action in NEVER_REDACTED or (isinstance(row.details, dict) and set(row.details) == {audit.REDACTED}):
                continue
            actor = (row.actor or "").strip().lower()
            target = (row.target_id or "").strip().lower()
            if (row.target_type == "contact" and row.target_id in ids) \
                    or (_about_contacts(row.action) and named_ident.in_json(row.details or {})) \
                    or (actor in terms and purge.specific(actor)) \
                    or (row.target_type not in ("user", "connector") and target in terms):
                hits.append(row.id)
    out: list[AuditLog] = []
    for part in purge.chunks(hits):
        out += s.scalars(select(AuditLog).where(AuditLog.id.in_(part)).order_by(AuditLog.id)).all()
    return out


def erase(rt: Any, contact_id: int, actor: str) -> dict[str, Any]:
    """Erase one contact (module docstring). Returns the counts (also in the audit entry)."""
    with rt.db.session() as s:
        sub = find(s, contact_id)
        _lock_deliveries(s, sub.conversation_ids)
        counts: dict[str, Any] = {"contacts": len(sub.contact_ids), "identities": len(sub.identity_ids)}
        event_ids = _matching_events(s, rt.box, sub)
        counts.update(_queue_ticket_removals(s, sub.conversation_ids))
        elsewhere = sorted(sub.message_ids - _ids(s, Message, sub.conversation_ids))  # its messages in others' conversations
        conv = purge.delete_conversations(s, sub.conversation_ids)
        rest = purge.delete_messages(s, elsewhere)
        keys = conv.pop("keys") | rest.pop("keys")
        counts["conversations"] = conv["conversations"]
        counts["messages"] = conv["messages"] + rest["messages"]
        counts["replies"] = conv["replies"]
        counts["attachments"] = conv["attachments"] + rest["attachments"]
        counts["journal"] = conv["journal"] + rest["journal"] + purge.delete_events(s, event_ids)
        counts["webhook_events"] = conv.get("webhook_events", 0) + purge.delete_webhook_events(s, _matching_webhook_events(s, sub))
        counts["state_entries"] = _scrub_connector_state(s, sub)
        # other rows that still point at the identities (a reply whose author was the customer?
        # none today): messages of other conversations were deleted above
        s.execute(update(Contact).where(Contact.id.in_(sub.contact_ids)).values(merged_into_id=None))
        for part in purge.chunks(sorted(sub.identity_ids)):
            s.execute(delete(Identity).where(Identity.id.in_(part)))
        for part in purge.chunks(sorted(sub.contact_ids)):
            s.execute(delete(Contact).where(Contact.id.in_(part)))
        redacted = audit.redact(s, _audit_entries(s, sub), "contact.erase", tuple((sub.terms | sub.names) - _staff(s)))
        counts["audit_entries_redacted"] = len(redacted)
        audit.record(s, actor=actor, action="contact.erase", target_type="contact", target_id=str(contact_id),
                     details={**counts, "merged_contacts": sorted(sub.contact_ids - {contact_id}), "redacted_entries": redacted,
                              # numbers only: open inbox panes learn that these conversations are gone (hub.web.streams)
                              "conversation_ids": sorted(sub.conversation_ids)})
    with rt.db.session() as s:  # SQLite FTS5 keeps deleted words until its segments merge (hub.search)
        search.purge(s)
    with rt.db.read() as s:
        counts["files"] = purge.drop_files(s, rt.blobs, keys)
    counts["redis_keys"] = _scrub_redis(rt, sub)
    done = checkpoint(rt)
    if done is not None:
        counts["wal_checkpoint"] = "done" if done else "incomplete: the SQLite write-ahead log still holds the erased rows until the next checkpoint"
    log.info("contact.erased", contact=contact_id, **{k: v for k, v in counts.items() if isinstance(v, int)})
    return counts


def _lock_deliveries(s: Session, conv_ids: set[int]) -> None:
    """PostgreSQL: hold the conversations' helpdesk deliveries before looking for their tickets.
    A push whose ticket answer is being recorded holds them too (workers.outbox): it either
    commits its link first (then it is found and queued here) or waits, finds the delivery gone
    after the commit and queues the ticket it opened for removal itself. SQLite: writers take
    turns anyway."""
    for part in purge.chunks(sorted(conv_ids)):
        s.execute(select(Delivery.id).where(Delivery.conversation_id.in_(part)).order_by(Delivery.id).with_for_update())


def checkpoint(rt: Any, wait: float = 15.0) -> bool | None:
    """SQLite: fold the write-ahead log into the database file and truncate it, so the old
    page versions (the erased rows) do not linger in the -wal file; deleted content in the file
    itself is zeroed (PRAGMA secure_delete, hub.db). True when done, False when readers kept it
    from completing for ``wait`` seconds (said in the result: the next checkpoint does it), None
    on PostgreSQL.

    On its own connection in autocommit mode: the engine's connections begin every transaction
    (BEGIN IMMEDIATE), and a checkpoint inside a transaction fails ("database table is locked")."""
    import sqlite3
    import time

    engine = rt.db.engine
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    deadline = time.monotonic() + wait
    try:
        with contextlib.closing(sqlite3.connect(engine.url.database, timeout=wait, isolation_level=None)) as raw:
            while True:
                busy, _frames, _done = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # a reader in the middle of a read: it ends in milliseconds
    except sqlite3.Error as exc:
        log.warning("erasure.checkpoint_failed", error=str(exc))
        return False
    log.warning("erasure.checkpoint_incomplete", note="a reader kept the write-ahead log busy; the next checkpoint folds it in")
    return False


def _ids(s: Session, model: Any, conv_ids: set[int]) -> set[int]:
    out: set[int] = set()
    for part in purge.chunks(sorted(conv_ids)):
        out |= set(s.scalars(select(model.id).where(model.conversation_id.in_(part))))
    return out


def _scrub_redis(rt: Any, sub: Subject) -> int:
    """The inbox's typing markers (``<prefix>:typing``: "<conversation>:<agent>") for the
    erased conversations; the sign-in limiter's counters of the contact's emails and identifiers
    (a customer who typed their address into the sign-in form: ``<prefix>:login:fail:<ip>:<digest>``
    and ``<prefix>:login:acct:<digest>``, hub.web.security); and rate-limit counters whose name
    holds one of its identifiers (``<prefix>:rl:...``). Job payloads and the stage lists carry
    row ids only."""
    removed = 0
    prefix = rt.settings.queue_prefix
    try:
        if sub.conversation_ids:
            key = f"{prefix}:typing"
            members = [m.decode() if isinstance(m, bytes) else str(m) for m in rt.redis.zrange(key, 0, -1)]
            gone = [m for m in members if m.split(":", 1)[0].isdigit() and int(m.split(":", 1)[0]) in sub.conversation_ids]
            if gone:
                rt.redis.zrem(key, *gone)
            removed += len(gone)
        removed += _scrub_redis_keys(rt, prefix, sub)
    except Exception as exc:  # noqa: BLE001 - the markers expire within seconds, the counters within 15 minutes
        log.warning("erasure.redis_unavailable", error=str(exc))
    return removed


def _login_digests(rt: Any, terms: set[str]) -> set[str]:
    import hmac

    out = set()
    for t in terms:
        out.add(rt.box.login_digest(t))
        out.add(hmac.new(b"login", t.strip().lower().encode(), "sha256").hexdigest()[:16])  # keys written before the keyed digest
    return out


def _scrub_redis_keys(rt: Any, prefix: str, sub: Subject) -> int:
    terms = {t for t in sub.terms if t and t not in sub.staff}  # a user's own sign-in counters stay
    if not terms:
        return 0
    digests = _login_digests(rt, terms)
    doomed: list[bytes | str] = []
    for key in rt.redis.scan_iter(match=f"{prefix}:login:*", count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.rsplit(":", 1)[-1] in digests:
            doomed.append(key)
    for key in rt.redis.scan_iter(match=f"{prefix}:rl:*", count=1000):
        name = (key.decode() if isinstance(key, bytes) else str(key)).lower()
        if any(t in name for t in terms):
            doomed.append(key)
    if doomed:
        rt.redis.delete(*doomed)
    return len(doomed)


# ------------------------------------------------------------------------------ export
def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: _iso(getattr(obj, c.key)) for c in obj.__table__.columns if c.key not in skip}


def _safe_name(name: str) -> str:
    name = re.sub(r"[^\w.\- ]+", "_", name or "file").strip(" .") or "file"
    return name[:100]


def export_download(rt: Any, contact_id: int, actor: str) -> tuple[Iterator[bytes], dict[str, str]]:
    """The contact's export as a download: (the zip's bytes in blocks, its headers). Spooled in
    memory up to 8 MB, then in a temporary file (0600), closed once read or on an error."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)
    try:
        export(rt, contact_id, spool, actor=actor)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def blocks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(1 << 16):
                yield block

    return blocks(), {"Content-Disposition": f'attachment; filename="contact-{contact_id}.zip"', "Cache-Control": "no-store"}


def export(rt: Any, contact_id: int, out: IO[bytes], actor: str) -> dict[str, int]:
    """Write the contact's data as a zip to ``out`` (module docstring). Returns counts."""
    counts = {"conversations": 0, "messages": 0, "replies": 0, "attachments": 0, "files": 0}
    with rt.db.read() as s:
        sub = find(s, contact_id)
        contacts = s.scalars(select(Contact).where(Contact.id.in_(sub.contact_ids)).order_by(Contact.id)).all()
        idents = s.scalars(select(Identity).where(Identity.id.in_(sub.identity_ids or {-1})).order_by(Identity.id)).all()
        doc: dict[str, Any] = {
            "exported_at": now().isoformat(), "contact_id": contact_id,
            "contacts": [_row(c) for c in contacts],
            "identities": [_row(i) for i in idents],
            "conversations": [],
        }
        files: list[tuple[str, str]] = []
        att_skip = ("storage_key",)
        msg_skip = ("event_id",)

        def attachments(owner) -> list[dict]:
            """A message's or reply's attachments as rows; their files go into the zip."""
            out = []
            for a in owner.attachments:
                ad = _row(a, att_skip)
                if a.storage_key:
                    ad["file"] = f"attachments/{a.id}-{_safe_name(a.filename)}"
                    files.append((ad["file"], a.storage_key))
                out.append(ad)
                counts["attachments"] += 1
            return out
        for part in purge.chunks(sorted(sub.conversation_ids)):
            for conv in s.scalars(select(Conversation).where(Conversation.id.in_(part)).order_by(Conversation.id)):
                item = _row(conv, ("token",))
                msgs = s.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)).all()
                replies = s.scalars(select(Reply).where(Reply.conversation_id == conv.id, Reply.kind != "note").order_by(Reply.id)).all()
                item["messages"] = []
                for m in msgs:
                    md = _row(m, msg_skip)
                    md["attachments"] = attachments(m)
                    item["messages"].append(md)
                item["replies"] = []
                for r in replies:
                    rd = _row(r, ("options", "status_detail", "locked_until"))
                    rd["attachments"] = attachments(r)
                    item["replies"].append(rd)
                counts["conversations"] += 1
                counts["messages"] += len(msgs)
                counts["replies"] += len(replies)
                doc["conversations"].append(item)
        # what the contact wrote in other people's conversations (a group chat, a shared email
        # thread, a conversation merged into another contact's): its own messages only
        doc["messages_in_other_conversations"] = []
        elsewhere = sorted(sub.message_ids - _ids(s, Message, sub.conversation_ids))
        for part in purge.chunks(elsewhere):
            for m in s.scalars(select(Message).where(Message.id.in_(part)).order_by(Message.id)):
                md = _row(m, msg_skip)
                md["attachments"] = attachments(m)
                doc["messages_in_other_conversations"].append(md)
                counts["messages"] += 1
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("contact.json", json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        for name, key in files:
            try:
                path = rt.blobs.path(key)
                with path.open("rb") as src, z.open(name, "w") as dst:
                    while chunk := src.read(1 << 16):
                        dst.write(chunk)
                counts["files"] += 1
            except (OSError, ValueError) as exc:
                log.warning("contact.export_file_missing", attachment=name, error=str(exc))
    with rt.db.session() as s:
        audit.record(s, actor=actor, action="contact.export", target_type="contact", target_id=str(contact_id), details=dict(counts))
    return counts


# ------------------------------------------------------------------- ticket removals
#: retries of a ticket removal: 1 min, 2 min, 4 min ... capped at 6 h; dead after this many
REMOVAL_ATTEMPTS = 12


def process_removals(rt: Any, limit: int = 100) -> dict[str, int]:
    """Ask the helpdesks to delete the tickets queued by erasures (run by the poller under
    the ``retention`` lease). Returns {"done": n, "retry": n, "dead": n}."""
    from hub.connectors import ConnectorService
    from hub.errors import PermanentDeliveryError, RetriableDeliveryError

    out = {"done": 0, "retry": 0, "dead": 0}
    t = now()
    with rt.db.read() as s:
        rows = s.execute(select(TicketRemoval.id, TicketRemoval.helpdesk_id, TicketRemoval.external_ref, TicketRemoval.attempts)
                         .where(TicketRemoval.state == TicketRemovalState.PENDING, TicketRemoval.next_attempt_at <= t)
                         .order_by(TicketRemoval.id).limit(limit)).all()
        connectors = {c.id: c for c in s.scalars(select(Connector).where(Connector.id.in_({r.helpdesk_id for r in rows} or {-1})))}
        for c in connectors.values():
            s.expunge(c)
    svc = ConnectorService(rt)
    for r in rows:
        error, state = None, "done"
        try:
            conn = connectors.get(r.helpdesk_id)
            if conn is None:
                raise PermanentDeliveryError("the helpdesk connector no longer exists")
            svc.adapter(conn).erase_ticket(r.external_ref)
        except RetriableDeliveryError as exc:
            error, state = str(exc)[:2000], "pending"
        except Exception as exc:  # noqa: BLE001 - permanent (or a bug): retried a few times, then dead
            error, state = f"{exc.__class__.__name__}: {exc}"[:2000], "pending"
        attempts = r.attempts + 1
        if state == "pending" and attempts >= REMOVAL_ATTEMPTS:
            state = "dead"
        with rt.db.session() as s:
            row = s.get(TicketRemoval, r.id)
            if row is None:
                continue
            row.attempts, row.last_error, row.state = attempts, error, state
            if state == "done":
                row.done_at = now()
            else:
                row.next_attempt_at = now() + timedelta(seconds=min(6 * 3600, 60 * 2 ** (attempts - 1)))
        out["done" if state == "done" else "dead" if state == "dead" else "retry"] += 1
        if error:
            log.warning("ticket_removal.failed", removal=r.id, attempts=attempts, state=state, error=error)
    return out


def removal_json(row: TicketRemoval, helpdesk: str) -> dict[str, Any]:
    return {"id": row.id, "helpdesk": helpdesk, "external_ref": row.external_ref, "state": row.state, "attempts": row.attempts,
            "last_error": row.last_error, "created_at": _iso(row.created_at), "done_at": _iso(row.done_at)}

