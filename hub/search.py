"""One conversation search, shared by the inbox (`/inbox?q=`) and the REST API (`GET /api/v1/conversations?q=`).

A term matches a conversation when it occurs (case-insensitively) in the subject, in any message
text, in the customer's identity address or display name, or in the contact's name or email. A
term that looks like a phone number ("+1 (555) 010-0199") also matches on its digits alone, so the
way an agent types a number does not matter against the E.164 addresses stored for SMS/WhatsApp.
"""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.sql.elements import ColumnElement

from hub.models import Contact, Conversation, Identity, Message

_PHONE = re.compile(r"^\+?[\d\s().\-/]{4,}$")


def _like(term: str) -> str:
    # the term is data, not a pattern: escape LIKE wildcards
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conversation_search(term: str) -> ColumnElement[bool]:
    """SQL condition on Conversation for the free-text search `term`."""
    term = term.strip()
    likes = [_like(term)]
    if _PHONE.match(term):
        digits = re.sub(r"\D", "", term)
        if len(digits) >= 4:
            likes.append(_like(digits))
    conds = []
    for like in likes:
        idents = select(Identity.id).where(
            or_(Identity.address.ilike(like, escape="\\"), Identity.display_name.ilike(like, escape="\\"))
        )
        contacts = select(Contact.id).where(or_(Contact.name.ilike(like, escape="\\"), Contact.email.ilike(like, escape="\\")))
        contact_idents = select(Identity.id).where(Identity.contact_id.in_(contacts))
        msgs = select(Message.conversation_id).where(Message.text.ilike(like, escape="\\"))
        conds += [
            Conversation.subject.ilike(like, escape="\\"),
            Conversation.id.in_(msgs),
            Conversation.identity_id.in_(idents),
            Conversation.identity_id.in_(contact_idents),
        ]
    return or_(*conds)
