"""JSON views of stored objects (shared by the REST API, the inbox and the CLI)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import sla
from hub.models import AttachmentRow, Connector, Contact, Conversation, ConversationEvent, Identity, Message, Reply, Team, User


def _iso(v) -> str | None:
    return v.isoformat() if v else None


def attachment_json(a: AttachmentRow) -> dict[str, Any]:
    return {
        "id": a.id,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "inline": a.inline,
        "content_id": a.content_id,
        "stored": bool(a.storage_key),
        "placeholder_reason": a.placeholder_reason,
        "url": f"/api/v1/attachments/{a.id}" if a.storage_key else None,
    }


def identity_json(i: Identity) -> dict[str, Any]:
    return {
        "id": i.id,
        "medium": i.medium,
        "channel": i.medium,  # deprecated name of "medium"
        "address": i.address,
        "phone": i.phone,
        "display_name": i.display_name,
        "username": (i.attrs or {}).get("username"),
        "verified_email": i.verified_email,
        "opted_out": i.opted_out,
        "opt_out_reason": i.opt_out_reason,
    }


def contact_json(s: Session, c: Contact, with_conversations: bool = False) -> dict[str, Any]:
    idents = s.scalars(select(Identity).where(Identity.contact_id == c.id).order_by(Identity.id)).all()
    out = {
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "language": c.language,
        "language_confirmed": bool((c.attrs or {}).get("language_confirmed")),
        # what routing rules' contact conditions look at (docs/teams.md#contact-attributes)
        "attributes": {k: v for k, v in (c.attrs or {}).items() if k not in ("language_confirmed",)},
        "merged_into": c.merged_into_id,
        "identities": [identity_json(i) for i in idents],
    }
    if with_conversations:
        convs = s.scalars(select(Conversation).where(Conversation.contact_id == c.id).order_by(Conversation.id.desc()).limit(50)).all()
        out["conversations"] = [
            {"id": v.id, "subject": v.subject, "status": v.status, "last_message_at": _iso(v.last_message_at)} for v in convs
        ]
    return out


def _reactions(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{k: r.get(k) for k in ("by", "name", "emoji", "at")} for r in rows or [] if isinstance(r, dict) and r.get("emoji")]


def message_json(m: Message, attachments: list[AttachmentRow] | None = None) -> dict[str, Any]:
    return {
        "id": m.id,
        "conversation_id": m.conversation_id,
        "external_id": m.external_id,
        "direction": m.direction,
        "kind": m.kind,
        "sender_name": m.sender_name,
        "identity_id": m.identity_id,
        "sent_at": _iso(m.sent_at),
        "received_at": _iso(m.received_at),
        "subject": m.subject,
        "text": "" if m.deleted else m.text,
        "html": "" if m.deleted else m.html,
        "language": m.language,
        # the detector's confidence (0-1) in ``language``; below 0.5 the language is left unknown (null)
        "language_confidence": (m.extra or {}).get("language_confidence"),
        "auto_generated": m.auto_generated,
        "deleted": m.deleted,
        "edited": bool(m.history),
        # the earlier texts, oldest first: [{"at", "kind" ("edit" / "delete"), "text"}] (the text it had before that change)
        "history": [{"at": h.get("at"), "kind": h.get("kind"), "text": h.get("text") or ""}
                    for h in (m.history or []) if isinstance(h, dict)],
        # emoji reactions to this message: [{"by", "name", "emoji", "at"}], one per person
        "reactions": _reactions(m.reactions),
        # the ad, link or story that brought the customer ({"source", "url", "headline", "label", ...}) or None
        "referral": m.referral,
        "redactions": m.redactions or [],
        # sealed values: refs only (POST /api/v1/messages/<id>/sealed/<ref>/reveal decrypts one)
        "sealed": [{"ref": int(k), "kind": v.get("kind")} for k, v in sorted(((m.extra or {}).get("sealed") or {}).items()) if isinstance(v, dict)],
        "entities": m.entities or [],
        "triage": m.triage,
        "attachments": [attachment_json(a) for a in (attachments if attachments is not None else m.attachments)],
    }


def reply_json(r: Reply) -> dict[str, Any]:
    return {
        "id": r.id,
        "conversation_id": r.conversation_id,
        "kind": r.kind,
        "author_name": r.author_name,
        "text": r.text,
        "state": r.state,
        "attempts": r.attempts,
        "last_error": r.last_error,
        "external_id": r.external_id,
        "source": r.source,
        "created_at": _iso(r.created_at),
        "sent_at": _iso(r.sent_at),
        "status_history": (r.status_detail or {}).get("history", []),
        # why sending again cannot help (opted out, automatic address, refused by the provider), or None
        "permanent": (r.status_detail or {}).get("permanent"),
        # the customer's emoji reactions to this reply
        "reactions": _reactions(r.reactions),
        "attachments": [attachment_json(a) for a in r.attachments],
    }


def _team_name(s: Session, team_id: int | None) -> str | None:
    if team_id is None:
        return None
    team = s.get(Team, team_id)
    return team.name if team else None


def prime(s: Session, convs: list[Conversation]) -> list[Any]:
    """Load the identities, connectors and assignees of a page of conversations in three
    queries, so conversation_json finds them in the session instead of one query each.
    Keep the returned list while rendering (the session holds its objects weakly)."""
    kept: list[Any] = []
    for model, ids in ((Identity, {c.identity_id for c in convs}), (Connector, {c.connector_id for c in convs}),
                       (User, {c.assignee_id for c in convs if c.assignee_id})):
        if ids:
            kept += s.scalars(select(model).where(model.id.in_(ids))).all()
    return kept


def conversation_json(s: Session, c: Conversation, *, full: bool = False) -> dict[str, Any]:
    ident = s.get(Identity, c.identity_id)
    connector = s.get(Connector, c.connector_id)
    assignee = s.get(User, c.assignee_id) if c.assignee_id else None
    live = sla.states(c)
    out = {
        "id": c.id,
        "subject": c.subject,
        "status": c.status,
        "priority": c.priority,
        "category": c.category,
        "language": c.language,
        "language_confirmed": bool((c.extra or {}).get("language_confirmed")),
        "security_flag": c.security_flag,
        "tags": c.tags or [],
        "medium": ident.medium if ident else None,
        "channel": ident.medium if ident else None,  # deprecated name of "medium"
        "connector": connector.name if connector else None,
        "connector_kind": connector.kind if connector else None,
        "contact_id": c.contact_id,
        "customer": identity_json(ident) if ident else None,
        "assignee": assignee.email if assignee else None,
        "team": _team_name(s, c.team_id),
        "queued_at": _iso(c.queued_at),
        "entities": c.entities or [],
        "sla": {**(c.sla or {}), **({k: v for k, v in live.items() if k != "overall"} if c.sla else {})},
        "sla_state": live["overall"],
        "first_response_at": _iso(c.first_response_at),
        "resolved_at": _iso(c.resolved_at),
        "snoozed_until": _iso(c.snoozed_until),
        "last_message_at": _iso(c.last_message_at),
        "created_at": _iso(c.created_at),
    }
    if full:
        msgs = s.scalars(select(Message).where(Message.conversation_id == c.id).order_by(Message.sent_at, Message.id)).all()
        replies = s.scalars(select(Reply).where(Reply.conversation_id == c.id).order_by(Reply.id)).all()
        out["messages"] = [message_json(m) for m in msgs]
        out["replies"] = [reply_json(r) for r in replies]
        # routing and assignment changes, as the inbox timeline shows them (hub.assignment)
        out["events"] = [{"id": e.id, "at": _iso(e.at), "kind": e.kind, "actor": e.actor, "details": e.details or {}}
                         for e in s.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == c.id)
                                            .order_by(ConversationEvent.id).limit(500))]
        out["contact"] = contact_json(s, s.get_one(Contact, c.contact_id), with_conversations=True)
    return out
