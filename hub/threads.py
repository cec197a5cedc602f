"""threads.resolve: contact identity + conversation for a normalized message."""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Connector, Contact, Conversation, Identity, Message, Reply, now
from hub.states import ConversationStatus
from normalizers.model import NormalizedMessage, Participant

OPEN_STATES = (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED)


@dataclass
class Resolution:
    conversation: Conversation
    identity: Identity
    created: bool
    reopened: bool = False


class _Missing(enum.Enum):
    MISSING = "missing"


#: Marks a key a batch looked up and found absent (a new identity or thread).
MISSING: Final = _Missing.MISSING


@dataclass
class Lookups:
    """Identities and threads a batch loaded with one query per table (instead of one per
    message), shared by every ``resolve`` in the same transaction. Keys absent from the maps
    were not preloaded and are queried as usual; rows the batch creates are added as it goes.
    Discard it when the transaction (or a savepoint) rolls back."""

    identities: dict[tuple[str, str], Identity | Literal[_Missing.MISSING]] = field(default_factory=dict)
    threads: dict[tuple[int, str], Conversation | Literal[_Missing.MISSING]] = field(default_factory=dict)
    #: The first identity (lowest id) with each verified email the batch's senders have: a
    #: new identity with that email joins its contact (``resolve_identity``).
    verified: dict[str, Identity | Literal[_Missing.MISSING]] = field(default_factory=dict)
    #: Held so they stay in the session's (weak-referencing) identity map for later lookups
    #: (the contacts the batch creates too: a new conversation reads its contact's language).
    contacts: list[Contact] = field(default_factory=list)
    #: The batch's References / In-Reply-To ids: (connector id, provider id) -> (rank, the
    #: conversation) of the stored message with that id (rank: its id; the batch's own messages
    #: rank after every stored one, in order), or MISSING. ``reply_refs``: the same for our replies.
    refs: dict[tuple[int, str], tuple[int, Conversation] | Literal[_Missing.MISSING]] = field(default_factory=dict)
    reply_refs: dict[tuple[int, str], tuple[int, Conversation] | Literal[_Missing.MISSING]] = field(default_factory=dict)
    #: the conversations ``refs`` name, held so they stay in the (weak-referencing) identity map
    _conversations: list[Conversation] = field(default_factory=list)
    _batch_rank: int = 1 << 62

    def note_message(self, connector_id: int, external_id: str | None, conv: Conversation) -> None:
        """A message the batch stored: later messages naming its id thread into ``conv``."""
        if external_id:
            self._batch_rank += 1
            self.refs[(connector_id, external_id)] = (self._batch_rank, conv)

    def by_references(self, connector_id: int, refs: list[str]) -> Conversation | None | Literal[_Missing.MISSING]:
        """The conversation of the newest message (else reply) named by ``refs``; None when
        none is; MISSING when a ref was not preloaded (then the caller queries)."""
        keys = [(connector_id, r) for r in refs]
        if not all(k in self.refs and k in self.reply_refs for k in keys):
            return MISSING
        for table in (self.refs, self.reply_refs):
            hits = [h for h in (table[k] for k in keys) if h is not MISSING]
            if hits:
                return max(hits, key=lambda h: h[0])[1]
        return None

    def note_verified(self, ident: Identity) -> None:
        """``ident`` has a verified email now (created, or verified by this message): it is the
        first identity with that email unless an older one is known."""
        email = ident.verified_email
        if email is None or email not in self.verified:
            return
        known = self.verified[email]
        if known is MISSING or (ident.id is not None and known.id is not None and ident.id < known.id):
            self.verified[email] = ident

    @classmethod
    def preload(
        cls,
        s: Session,
        senders: Iterable[tuple[str, str]],
        thread_keys: Iterable[tuple[int, str]],
        verified: Iterable[tuple[tuple[str, str], str | None]] = (),
        refs: Iterable[tuple[int, str]] = (),
    ) -> Lookups:
        """``verified``: (medium, address) and verified email of each sender that has one;
        ``refs``: (connector id, provider id) of each message's References / In-Reply-To."""
        out = cls()
        refs_by_connector: dict[int, set[str]] = {}
        for connector_id, ref in refs:
            if ref:
                refs_by_connector.setdefault(connector_id, set()).add(ref)
                out.refs[(connector_id, ref)] = out.reply_refs[(connector_id, ref)] = MISSING
        conv_ids: dict[tuple[str, tuple[int, str]], tuple[int, int]] = {}
        for connector_id, ids in refs_by_connector.items():
            for kind, model in (("m", Message), ("r", Reply)):
                for row_id, ext, conv_id in s.execute(
                    select(model.id, model.external_id, model.conversation_id).where(model.connector_id == connector_id, model.external_id.in_(ids))
                ):
                    if ext is None:
                        continue
                    ref_key = (connector_id, ext)
                    if (kind, ref_key) not in conv_ids or row_id > conv_ids[(kind, ref_key)][0]:
                        conv_ids[(kind, ref_key)] = (row_id, conv_id)
        if conv_ids:
            out._conversations = list(s.scalars(select(Conversation).where(Conversation.id.in_({c for _r, c in conv_ids.values()}))))
            by_id = {c.id: c for c in out._conversations}
            for (kind, ref_key), (row_id, conv_id) in conv_ids.items():
                if conv_id in by_id:
                    (out.refs if kind == "m" else out.reply_refs)[ref_key] = (row_id, by_id[conv_id])
        by_medium: dict[str, set[str]] = {}
        for medium, address in senders:
            if medium is None or address is None:
                continue  # looked up one by one (SQL NULL semantics)
            by_medium.setdefault(medium, set()).add(address)
            out.identities[(medium, address)] = MISSING
        for medium, addresses in by_medium.items():
            for ident in s.scalars(select(Identity).where(Identity.medium == medium, Identity.address.in_(addresses))):
                out.identities[(ident.medium, ident.address)] = ident
        by_connector: dict[int, set[str]] = {}
        for connector_id, key in thread_keys:
            if key is None:
                continue
            by_connector.setdefault(connector_id, set()).add(key)
            out.threads[(connector_id, key)] = MISSING
        for connector_id, keys in by_connector.items():
            rows = s.scalars(
                select(Conversation).where(Conversation.connector_id == connector_id, Conversation.thread_key.in_(keys)).order_by(Conversation.id)
            )
            for conv in rows:  # ascending: the newest conversation of a thread key wins
                out.threads[(connector_id, conv.thread_key)] = conv
        # Only the emails of senders without an identity: a known sender never looks it up.
        emails = {e for key, e in verified if e and out.identities.get(key) is MISSING}
        if emails:
            out.verified = dict.fromkeys(emails, MISSING)
            for ident in s.scalars(select(Identity).where(Identity.verified_email.in_(emails)).order_by(Identity.id.desc())):
                out.verified[ident.verified_email or ""] = ident  # descending: the lowest id wins
        if out.identities or out.verified:
            # The contacts too, so follow_merges and contact lookups hit the identity map.
            contact_ids = {i.contact_id for i in out.identities.values() if i is not MISSING}
            contact_ids |= {i.contact_id for i in out.verified.values() if i is not MISSING}
            if contact_ids:
                out.contacts = list(s.scalars(select(Contact).where(Contact.id.in_(contact_ids))))
        return out


def verified_email(p: Participant) -> str | None:
    """The email an identity is vouched for: set by the normalizer (a Slack profile, or the
    address itself for the email medium)."""
    return p.verified_email.lower() if p.verified_email else None


def resolve_identity(s: Session, p: Participant, lookups: Lookups | None = None, *, flush: bool = True) -> Identity:
    """Find or create the identity (and its contact); merge on a verified email. A new
    identity and contact are flushed (ids assigned) unless ``flush`` is False: then they are
    pending, linked by relationships, and written by the caller's next flush."""
    key = (p.medium, p.address)
    hit = lookups.identities.get(key) if lookups else None
    if hit is None:
        ident = s.scalar(select(Identity).where(Identity.medium == p.medium, Identity.address == p.address))
    else:
        ident = None if hit is MISSING else hit
    verified = verified_email(p)
    if ident is None:
        contact = None
        if verified:
            # The same verified email on another channel is the same customer.
            known = lookups.verified.get(verified) if lookups else None
            if known is None:
                other = s.scalar(
                    select(Identity)
                    .where(Identity.verified_email == verified)  # email identities store their address here
                    .order_by(Identity.id)
                    .limit(1)
                )
            else:
                other = None if known is MISSING else known
            contact = s.get(Contact, other.contact_id) if other else None
        new_contact = contact is None
        if contact is None:
            contact = Contact(
                name=p.name or "",
                email=verified or p.email,
                attrs={},
            )
            s.add(contact)
        ident = Identity(
            # a new contact by relationship (one flush writes both rows); a known one by id
            **({"contact": contact} if new_contact else {"contact_id": contact.id}),
            medium=p.medium,
            address=p.address,
            phone=p.phone,
            display_name=p.name or "",
            verified_email=verified,
            attrs=_attrs(p),
        )
        s.add(ident)
        if flush or not new_contact:
            s.flush()
        if lookups is not None:
            lookups.identities[key] = ident
            lookups.contacts.append(contact)
            lookups.note_verified(ident)
        return ident
    if p.name and p.name != ident.display_name:
        ident.display_name = p.name
    attrs = _attrs(p)
    if attrs and any((ident.attrs or {}).get(k) != v for k, v in attrs.items()):
        ident.attrs = {**(ident.attrs or {}), **attrs}  # a new username, say
    if verified and not ident.verified_email:
        ident.verified_email = verified
        if lookups is not None:
            lookups.note_verified(ident)
    return ident


def _written(s: Session, identity: Identity) -> None:
    """A new identity (and contact) left pending by ``resolve_identity(flush=False)`` gets its id."""
    if identity.id is None:
        s.flush()


def _attrs(p: Participant) -> dict[str, Any]:
    """Participant details kept on the identity (shown to agents)."""
    return {"username": p.username} if p.username else {}


def follow_merges(s: Session, contact_id: int) -> int:
    seen = set()
    while contact_id not in seen:
        seen.add(contact_id)
        c = s.get(Contact, contact_id)
        if c is None or c.merged_into_id is None:
            return contact_id
        contact_id = c.merged_into_id
    return contact_id


def reference_ids(msg: NormalizedMessage) -> list[str]:
    """The provider ids ``msg`` names as the messages it answers: In-Reply-To, then References."""
    return [r for r in ([msg.in_reply_to] if msg.in_reply_to else []) + list(msg.references) if r]


def _by_references(s: Session, connector_id: int, msg: NormalizedMessage, lookups: Lookups | None = None) -> Conversation | None:
    refs = reference_ids(msg)
    if not refs:
        return None
    if lookups is not None:
        hit = lookups.by_references(connector_id, refs)
        if hit is not MISSING:
            return hit
    conv_id = s.scalar(
        select(Message.conversation_id)
        .where(Message.connector_id == connector_id, Message.external_id.in_(refs))
        .order_by(Message.id.desc())
        .limit(1)
    )
    if conv_id is None:
        conv_id = s.scalar(
            select(Reply.conversation_id)
            .where(Reply.connector_id == connector_id, Reply.external_id.in_(refs))
            .order_by(Reply.id.desc())
            .limit(1)
        )
    return s.get(Conversation, conv_id) if conv_id else None


_SUBJECT_NOISE = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|rv|tr|antw|r)\s*(\[\d+\])?\s*:\s*)+", re.I)
_TOKEN_TAG = re.compile(r"\[#[^\]]*\]")


def normalize_subject(subject: str) -> str:
    """A subject without reply/forward prefixes, conversation tags and spacing differences."""
    text = _TOKEN_TAG.sub(" ", subject or "")
    text = _SUBJECT_NOISE.sub("", text)
    return " ".join(text.lower().split())


def same_subject(ours: str, theirs: str) -> bool:
    a, b = normalize_subject(ours), normalize_subject(theirs)
    return not a or a == b or a in b or b in a


def resolve(
    s: Session,
    connector: Connector,
    msg: NormalizedMessage,
    *,
    reopen_resolved: bool = True,
    idle_gap_seconds: float | None = None,
    at: datetime | None = None,
    lookups: Lookups | None = None,
    flush: bool = True,
) -> Resolution | None:
    """The conversation this message belongs to (created when needed).

    Order: References / In-Reply-To against stored ids (ours included), then a conversation
    token, then the thread key. Auto-generated messages never open a conversation (None).
    With ``flush=False`` a new conversation, identity and contact are left pending (no ids
    yet): the caller links its rows to them by relationship and writes the batch in one flush.
    """
    at = at or now()
    # a new customer's contact and identity are written with their new conversation (one flush)
    identity = resolve_identity(s, msg.sender, lookups, flush=False)
    conv = _by_references(s, connector.id, msg, lookups)
    strong = conv is not None
    token = msg.conversation_token
    if conv is None and token is not None:
        conv = s.scalar(select(Conversation).where(Conversation.token == token.token, Conversation.connector_id == connector.id))
        if conv is not None and token.source == "subject" and not same_subject(conv.subject, msg.subject):
            conv = None  # a token pasted into an unrelated subject is not enough on its own
        strong = conv is not None
    if conv is None:
        hit = lookups.threads.get((connector.id, msg.thread_key)) if lookups else None
        if hit is None:
            conv = s.scalar(
                select(Conversation)
                .where(Conversation.connector_id == connector.id, Conversation.thread_key == msg.thread_key)
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        else:
            conv = None if hit is MISSING else hit
    reopened = False
    if conv is not None:
        usable = conv.status != ConversationStatus.CLOSED
        if usable and conv.status == ConversationStatus.RESOLVED and not (reopen_resolved or strong):
            usable = False
        if usable and idle_gap_seconds and not strong and conv.last_message_at:
            usable = (at - conv.last_message_at).total_seconds() <= idle_gap_seconds
        if usable:
            if not msg.auto_generated and msg.direction == "inbound" and conv.status in (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED, ConversationStatus.PENDING):
                reopened = conv.status == ConversationStatus.RESOLVED
                conv.status = ConversationStatus.OPEN
                conv.snoozed_until = None
            if flush:
                _written(s, identity)
            return Resolution(conv, identity, created=False, reopened=reopened)
    if msg.auto_generated:
        if flush:
            _written(s, identity)
        return None
    subject = msg.subject or (msg.text.strip().splitlines()[0][:120] if msg.text.strip() else "")
    if identity.id is None:  # new, with a new contact (pending): not merged into anyone
        people: dict[str, Any] = {"contact": identity.contact, "identity": identity}
    else:
        # by relationship: the new conversation may stay pending (flush=False) and a pending
        # object's many-to-one is not loaded from its foreign key (its contact's language is read)
        people = {"contact": s.get_one(Contact, follow_merges(s, identity.contact_id)), "identity": identity}
    conv = Conversation(
        connector_id=connector.id,
        **people,
        thread_key=msg.thread_key,
        token=secrets.token_hex(6),
        subject=subject,
        status=ConversationStatus.OPEN,
        priority="normal",
        # set, not left to the column default: a conversation flagged right after (a
        # security-critical message) then has the same INSERT columns as the others, and a
        # batch's new conversations go out as one multi-row INSERT instead of one per run
        security_flag=False,
        tags=[],
        entities=[],
        sla={},
        extra={},
        last_message_at=msg.sent_at,
    )
    s.add(conv)
    if flush:
        s.flush()
    if lookups is not None:
        lookups.threads[(connector.id, msg.thread_key)] = conv
    return Resolution(conv, identity, created=True)
