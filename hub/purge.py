"""Removing stored customer data: the row deletions and anonymizations that retention
(hub.retention) and a contact's erasure (hub.erasure) share.

Everything here works inside the caller's transaction and returns the attachment storage
keys it let go; the caller removes those files once the transaction has committed
(:func:`drop_files`), and only the ones no remaining attachment row still names (the store
is content-addressed: two customers who sent the same file share one blob).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

import structlog
from sqlalchemy import column, delete, select, table, update
from sqlalchemy.orm import Session

from hub.blobs import BlobStore
from hub.models import (
    AttachmentRow,
    Conversation,
    ConversationEvent,
    Delivery,
    EventDelivery,
    EventDeliveryAttempt,
    HelpdeskLink,
    InboundEvent,
    Message,
    Reply,
    WebhookEvent,
)

log = structlog.get_logger("omnihub.purge")

#: the inbox's read markers (hub.web.models.ConversationRead; the web shell owns the model)
READS = table("conversation_reads", column("conversation_id"))

#: ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
CHUNK = 500


T = TypeVar("T")


def rowcount(result: Any) -> int:
    """Rows a DELETE/UPDATE touched (a CursorResult's rowcount; 0 when the driver cannot tell)."""
    return max(0, int(getattr(result, "rowcount", 0) or 0))


def chunks(ids: Iterable[T], size: int = CHUNK) -> Iterable[list[T]]:
    batch: list[T] = []
    for i in ids:
        batch.append(i)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _attachments(s: Session, *, message_ids: Collection[int] = (), reply_ids: Collection[int] = ()) -> tuple[int, set[str]]:
    """Delete the attachment rows of these messages/replies; (rows, storage keys)."""
    keys: set[str] = set()
    count = 0
    for col, ids in ((AttachmentRow.message_id, message_ids), (AttachmentRow.reply_id, reply_ids)):
        for part in chunks(ids):
            rows = s.execute(select(AttachmentRow.id, AttachmentRow.storage_key).where(col.in_(part))).all()
            keys |= {r.storage_key for r in rows if r.storage_key}
            if rows:
                s.execute(delete(AttachmentRow).where(AttachmentRow.id.in_([r.id for r in rows])))
                count += len(rows)
    return count, keys


def delete_messages(s: Session, message_ids: Collection[int]) -> dict[str, Any]:
    """Delete messages with their attachments, deliveries and journal rows."""
    n_att, keys = _attachments(s, message_ids=message_ids)
    events: set[int] = set()
    for part in chunks(message_ids):
        events |= {e for e in s.scalars(select(Message.event_id).where(Message.id.in_(part))) if e is not None}
        s.execute(delete(Delivery).where(Delivery.message_id.in_(part)))
        s.execute(delete(Message).where(Message.id.in_(part)))
    n_ev = delete_events(s, events)
    return {"messages": len(message_ids), "attachments": n_att, "journal": n_ev, "keys": keys}


def delete_replies(s: Session, reply_ids: Collection[int]) -> dict[str, Any]:
    n_att, keys = _attachments(s, reply_ids=reply_ids)
    for part in chunks(reply_ids):
        s.execute(delete(Reply).where(Reply.id.in_(part)))
    return {"replies": len(reply_ids), "attachments": n_att, "keys": keys}


def delete_events(s: Session, event_ids: Collection[int]) -> int:
    """Delete journal rows (first unlinking any message that still names them)."""
    n = 0
    for part in chunks(event_ids):
        s.execute(update(Message).where(Message.event_id.in_(part)).values(event_id=None))
        n += rowcount(s.execute(delete(InboundEvent).where(InboundEvent.id.in_(part))))
    return n


def delete_webhook_events(s: Session, event_ids: Collection[int]) -> int:
    """Delete outgoing event-webhook events (hub.events: their payloads copy the conversation
    and message) with their deliveries and delivery log."""
    n = 0
    for part in chunks(event_ids):
        deliveries = select(EventDelivery.id).where(EventDelivery.event_id.in_(part))
        s.execute(delete(EventDeliveryAttempt).where(EventDeliveryAttempt.delivery_id.in_(deliveries)))
        s.execute(delete(EventDelivery).where(EventDelivery.event_id.in_(part)))
        n += rowcount(s.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(part))))
    return n


def conversation_webhook_events(s: Session, conv_ids: Collection[int]) -> list[int]:
    out: list[int] = []
    for part in chunks(conv_ids):
        out += list(s.scalars(select(WebhookEvent.id).where(WebhookEvent.conversation_id.in_(part))))
    return out


def delete_conversations(s: Session, conv_ids: Collection[int]) -> dict[str, Any]:
    """Delete conversations with every message, reply, attachment, delivery, helpdesk link,
    read marker and journal row of theirs."""
    out: dict[str, Any] = {"conversations": 0, "messages": 0, "replies": 0, "attachments": 0, "journal": 0,
                           "webhook_events": 0, "keys": set()}
    for part in chunks(conv_ids):
        out["webhook_events"] += delete_webhook_events(s, conversation_webhook_events(s, part))
        msg_ids = list(s.scalars(select(Message.id).where(Message.conversation_id.in_(part))))
        reply_ids = list(s.scalars(select(Reply.id).where(Reply.conversation_id.in_(part))))
        s.execute(delete(Delivery).where(Delivery.conversation_id.in_(part)))
        m = delete_messages(s, msg_ids)
        r = delete_replies(s, reply_ids)
        s.execute(delete(HelpdeskLink).where(HelpdeskLink.conversation_id.in_(part)))
        s.execute(delete(READS).where(READS.c.conversation_id.in_(part)))
        s.execute(delete(ConversationEvent).where(ConversationEvent.conversation_id.in_(part)))
        out["conversations"] += rowcount(s.execute(delete(Conversation).where(Conversation.id.in_(part))))
        out["messages"] += m["messages"]
        out["replies"] += r["replies"]
        out["attachments"] += m["attachments"] + r["attachments"]
        out["journal"] += m["journal"]
        out["keys"] |= m["keys"] | r["keys"]
    return out


#: what an anonymized message keeps: ids, times, direction, kind, language, flags
BLANK_MESSAGE: dict[str, Any] = {
    "sender_name": "", "subject": "", "text": "", "full_text": "", "html": "", "in_reply_to": None, "redactions": [],
    "entities": [], "triage": None, "extra": {"anonymized": True}, "history": [], "event_id": None, "reactions": [],
    "referral": None,
}
BLANK_REPLY: dict[str, Any] = {"text": "", "html": "", "options": {}, "status_detail": {"anonymized": True}, "reactions": []}
BLANK_CONVERSATION: dict[str, Any] = {"subject": "", "entities": []}


def anonymize_messages(s: Session, message_ids: Collection[int]) -> dict[str, Any]:
    """Blank the content of messages (text, html, subject, sender name, entities, provider
    fields) and remove their attachments and journal rows; the rows stay for the statistics."""
    n_att, keys = _attachments(s, message_ids=message_ids)
    events: set[int] = set()
    for part in chunks(message_ids):
        events |= {e for e in s.scalars(select(Message.event_id).where(Message.id.in_(part))) if e is not None}
        s.execute(update(Message).where(Message.id.in_(part)).values(**BLANK_MESSAGE))
    return {"messages": len(message_ids), "attachments": n_att, "journal": delete_events(s, events), "keys": keys}


def anonymize_replies(s: Session, reply_ids: Collection[int]) -> dict[str, Any]:
    n_att, keys = _attachments(s, reply_ids=reply_ids)
    for part in chunks(reply_ids):
        s.execute(update(Reply).where(Reply.id.in_(part)).values(**BLANK_REPLY))
    return {"replies": len(reply_ids), "attachments": n_att, "keys": keys}


def drop_files(s: Session, store: BlobStore, keys: Iterable[str]) -> int:
    """Remove the blobs no attachment row names any more (call after the deletions committed).
    Returns how many files were removed."""
    removed = 0
    for part in chunks(sorted(set(keys))):
        still = set(s.scalars(select(AttachmentRow.storage_key).where(AttachmentRow.storage_key.in_(part))))
        for key in part:
            if key in still:
                continue
            try:
                path = store.path(key)
            except ValueError:
                log.warning("purge.bad_storage_key")
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("purge.file_not_removed", error=str(exc.strerror), fix="remove it by hand")
    return removed


#: parts of a key under which a bare word can be someone's identifier ("from": {"id": "deposit"},
#: "userId", "wa_id"); a word elsewhere (a message's text) is not taken for one
_ID_PARTS = frozenset({"id", "ids", "from", "to", "user", "username", "sender", "author", "address", "email", "phone",
                       "handle", "name", "chat", "recipient", "contact", "identity", "actor", "waid", "wa", "psid",
                       "login", "screen", "number", "msisdn", "jid", "uid"})


#: parts of a key that name a party of a message (not the message's own id)
_PARTY_PARTS = frozenset({"from", "to", "user", "username", "sender", "author", "recipient", "contact", "identity",
                          "waid", "wa", "psid", "screen", "handle", "email", "phone", "msisdn", "jid", "address",
                          "participant", "participants", "customer", "requester", "chat", "peer", "member"})


def _key_parts(key: str) -> list[str]:
    return [part.lower() for part in re.split(r"[_\-.:\s]+|(?<=[a-z])(?=[A-Z])", key) if part]


def _party_key(key: str) -> bool:
    return any(part in _PARTY_PARTS for part in _key_parts(key))


#: parts of a field that holds words, not an identifier: a sender's display name, a text
_WORDS_PARTS = frozenset({"name", "names", "title", "text", "body", "subject", "caption", "display", "label", "nickname"})


def _id_leaf(key: str) -> bool:
    """Whether a field holds an identifier (``id``, ``email``, ``From``, ``username``), not words
    (``name``, ``display_name``, ``sender_name``: a display name can be anything anyone types)."""
    parts = _key_parts(key)
    return not any(part in _WORDS_PARTS for part in parts) or any(part in ("username", "user", "screen") for part in parts)


def _id_key(key: str) -> bool:
    return any(part.lower() in _ID_PARTS for part in re.split(r"[_\-.:\s]+|(?<=[a-z])(?=[A-Z])", key) if part)


def specific(term: str) -> bool:
    """An identifier that cannot be an everyday word: an email address, a number, an id with digits."""
    return "@" in term or any(ch.isdigit() for ch in term)


class Identifiers:
    """Whether stored data names one person, by their identifiers (lower-case ``terms``:
    addresses, emails, phone numbers, provider ids) and, where asked, full ``names``.

    An identifier with a digit or an ``@`` is found anywhere as a whole token (not inside a
    longer word or number: ``rogue-1`` is not in ``rogue-10``). A bare word (a provider user id
    such as ``deposit``) is found only as a whole value under a key that holds identifiers
    (``"from": {"id": "deposit"}``, ``From=...``), never in free text, so another customer who
    writes "where is my deposit" is not taken for this one. A name is found as a whole phrase in
    a value. Dictionary keys are never searched (``{"conversations": 3}`` names no one) except
    by the specific identifiers (a cache keyed by phone number)."""

    def __init__(self, terms: Collection[str], names: Collection[str] = ()) -> None:
        self.generic = {t.lower() for t in terms if t and not specific(t)}
        self.exact = {t.lower() for t in terms if t}
        tokens = sorted({t.lower() for t in terms if t and specific(t)}, key=len, reverse=True)
        self._specific = re.compile("|".join(rf"(?<!\w){re.escape(t)}(?!\w)" for t in tokens)) if tokens else None
        phrases = sorted({" ".join(n.lower().split()) for n in names if n and n.strip()}, key=len, reverse=True)
        self._names = re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in phrases)) if phrases else None

    def __bool__(self) -> bool:
        return bool(self.generic or self._specific or self._names)

    def in_text(self, text: str) -> bool:
        """Free text (a raw email, a form body): specific identifiers and names only."""
        low = text.lower()
        return bool((self._specific and self._specific.search(low)) or (self._names and self._names.search(" ".join(low.split()))))

    def in_value(self, value: Any, key: str = "") -> bool:
        if isinstance(value, bool) or value is None:
            return False
        text = str(value).strip().lower()
        if not text:
            return False
        if text in self.generic and (not key or _id_key(key)):
            return True
        return self.in_text(text)

    def in_json(self, value: Any, key: str = "") -> bool:
        """A JSON-like value: its scalar values, and its keys by the specific identifiers."""
        if isinstance(value, dict):
            return any((self._specific is not None and self._specific.search(str(k).lower()) is not None)
                       or self.in_json(v, str(k)) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.in_json(v, key) for v in value)
        return self.in_value(value, key)

    def as_party(self, value: Any, path: tuple[str, ...] = ()) -> bool:
        """A provider payload: whether the person is one of its parties, i.e. one of the
        identifiers is the whole value of a field about a sender or recipient (``from.id``,
        ``sender.phone``, ``From``, ``to``, ``wa_id``, ``user``…). Free text, message ids and
        anything else that merely mentions the identifier do not count: a journal row of another
        customer who quotes this one's address stays theirs."""
        if isinstance(value, dict):
            return any(self.as_party(v, (*path, str(k))) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.as_party(v, path) for v in value)
        if isinstance(value, bool) or value is None or not any(_party_key(k) for k in path) or not _id_leaf(path[-1]):
            return False
        text = str(value).strip().lower()
        return text in self.exact or text.split(":", 1)[-1] in self.exact  # "whatsapp:+1415…", "mailto:…"

    def scrub(self, value: Any, key: str = "") -> tuple[Any, int]:
        """``value`` without the dict entries and list items that name the person; (new value, removed)."""
        if isinstance(value, dict):
            out, n = {}, 0
            for k, v in value.items():
                named_key = self._specific is not None and self._specific.search(str(k).lower()) is not None
                if named_key or (not isinstance(v, dict | list) and self.in_value(v, str(k))):
                    n += 1
                    continue
                out[k], m = self.scrub(v, str(k))
                n += m
            return out, n
        if isinstance(value, list):
            items, n = [], 0
            for v in value:
                if not isinstance(v, dict | list) and self.in_value(v, key):
                    n += 1
                    continue
                new, m = self.scrub(v, key)
                items.append(new)
                n += m
            return items, n
        return value, 0
