"""Support intelligence wired into the hub: security warning, SLA timers, CSAT, FAQ bot.

Registered on import (``workers/__init__.py`` imports this module) into the extension
points of ``workers.hooks``:

* ``AFTER_INGEST`` (inside the ingest transaction, for every stored inbound message that
  is not auto-generated): the once-per-conversation security warning in the customer's
  language when a recovery phrase or private key was pasted (+ conversation flagged
  security-urgent); SLA deadlines on the conversation; a CSAT answer; the FAQ bot.
* ``AFTER_UPDATE`` (the REST API's PATCH, helpdesk status changes): new SLA deadlines when
  an agent changes priority or category; the CSAT survey when a conversation is resolved.
* ``PERIODIC`` (the poller): ``sla_tick`` marks at-risk and breached conversations.

Automatic messages are ``Reply`` rows with ``kind="auto"`` and a unique
``(source="auto", source_ref="<what>:<conversation>")``, so a retried ingest never sends
one twice; they go out through the normal send stage (which refuses opted-out customers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import structlog
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from config import sla as sla_config
from config import templates
from hub import events
from hub.models import Conversation, Identity, Reply, now
from hub.runtime import Runtime
from hub.sla import policy  # the one policy of this process (also read by hub.sla)
from hub.states import CONVERSATION_DONE, ConversationStatus, ReplyState
from normalizers.csat import parse_csat
from normalizers.faq import FaqIndex, decide
from normalizers.language import default_language
from workers import hooks

log = structlog.get_logger("omnihub.intel")

#: Only secrets that are certainly secrets warn the customer and raise priority; an
#: ``ambiguous_key`` (a 64-hex string that may be a transaction hash) is sealed, silently.
SECURITY_REDACTIONS = frozenset({"recovery_phrase", "private_key", "extended_private_key"})
_DESK_DEFAULT = "Support"
OPEN_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED)
SLA_INTERVAL = 30.0
CSAT_WINDOW = timedelta(days=7)
SLA_TAGS = ("sla-at-risk", "sla-breached")




@lru_cache(maxsize=1)
def faq_index() -> FaqIndex:
    from config.faq import load_articles

    return FaqIndex(load_articles())


from workers.automatic import automatic_reason  # noqa: E402


def _auto_reply(s: Session, conv: Conversation, what: str, text: str, adapter: Any = None, author: str | None = None) -> Reply | None:
    """An automatic reply, at most one per (conversation, what), shaped for the channel.

    The channel's ``validate_reply`` decides: a text too long for one post (a public reply
    on X) goes as a thread; one that cannot be sent at all is skipped, with a log line.
    """
    from hub.errors import PayloadInvalid

    robot = automatic_reason(s.get(Identity, conv.identity_id))
    if robot:
        log.info("auto_reply.robot", conversation_id=conv.id, what=what.split(":")[0], reason=robot)
        return None
    ref = f"{what}:{conv.id}"
    exists = s.scalar(select(Reply.id).where(Reply.conversation_id == conv.id, Reply.source == "auto", Reply.source_ref == ref))
    if exists is not None:
        return None
    options: dict[str, Any] = {}
    if adapter is not None and hasattr(adapter, "validate_reply"):
        for candidate in ({}, {"thread": True}):
            try:
                adapter.validate_reply(text, candidate, thread_key=conv.thread_key)
            except PayloadInvalid as exc:
                reason = str(exc)
                continue
            options = candidate
            break
        else:
            log.warning("auto_reply.skipped", conversation_id=conv.id, what=what.split(":")[0], reason=reason)
            return None
    reply = Reply(
        conversation_id=conv.id, connector_id=conv.connector_id, author_name=author or _DESK_DEFAULT, kind="auto", text=text,
        options={**options, "auto": True}, state=ReplyState.PENDING, source="auto", source_ref=ref, status_detail={},
    )
    s.add(reply)
    s.flush()
    return reply


def _desk(settings: Any) -> str:
    """The name automatic messages go out under (setting ``desk_name``)."""
    return getattr(settings, "desk_name", None) or _DESK_DEFAULT


def known_language(conv: Conversation, message_language: str | None = None) -> str | None:
    """The customer's language in ``conv`` as far as the hub knows it: the conversation's when an
    agent confirmed it, else its contact's when an agent confirmed that (also when set on the
    contact after the conversation began: the survey follows it), else the conversation's
    detected one, else the message's (None: unknown)."""
    if (conv.extra or {}).get("language_confirmed") and conv.language:
        return str(conv.language)
    contact = conv.contact
    if contact is not None and contact.language and (contact.attrs or {}).get("language_confirmed"):
        return str(contact.language)
    return conv.language or message_language


def reply_language(conv: Conversation, settings: Any, message_language: str | None = None) -> str:
    """The language of an automatic message in ``conv``: ``known_language``, else the desk's default."""
    return known_language(conv, message_language) or default_language(settings)


def _adapter_for(rt: Runtime, s: Session, conv: Conversation) -> Any:
    from hub.models import Connector
    from workers.services import service

    return service(rt).adapter(s.get_one(Connector, conv.connector_id))


def _extra(conv: Conversation) -> dict[str, Any]:
    return dict(conv.extra or {})


# ------------------------------------------------------------------ security warning
def security_warning(ev: hooks.IngestEvent) -> None:
    """A pasted recovery phrase / private key: flag security-urgent, warn once, in their language."""
    kinds = {r.kind for r in ev.normalized.redactions}
    if not kinds & SECURITY_REDACTIONS:
        return
    conv = ev.conversation
    conv.security_flag = True
    conv.priority = "urgent"
    conv.tags = sorted(set(conv.tags or []) | {"security-urgent"})
    lang = reply_language(conv, ev.runtime.settings, ev.normalized.language)
    desk = _desk(ev.runtime.settings)
    reply = _auto_reply(ev.session, conv, "security_warning", templates.render("security_warning", lang, desk=desk), ev.adapter, author=desk)
    if reply is not None:
        extra = _extra(conv)
        extra["security_warning"] = {"reply_id": reply.id, "language": templates.pick_language("security_warning", lang),
                                     "at": now().isoformat(), "kinds": sorted(kinds & SECURITY_REDACTIONS)}
        conv.extra = extra
        ev.send_reply_ids.append(reply.id)
        log.warning("security.secret_pasted", conversation_id=conv.id, kinds=sorted(kinds & SECURITY_REDACTIONS))


# ---------------------------------------------------------------------------- SLA
def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def sla_for(conv: Conversation, start: datetime) -> dict[str, Any]:
    """The SLA block stored on a conversation (``conversation.sla``, shown in the API)."""
    d = sla_config.deadlines(policy(), start, conv.category, conv.priority)
    return {
        "category": conv.category, "priority": conv.priority, "started_at": start.isoformat(),
        "first_response_due": _iso(d.first_response_due), "resolution_due": _iso(d.resolution_due),
        "resolution_goal": _iso(d.resolution_goal), "first_response": "ok" if d.first_response_due else "none",
        "resolution": "ok" if d.resolution_due else "none",
    }


def sla_start(ev: hooks.IngestEvent) -> None:
    """Start (new or reopened conversation) or re-target (category/priority changed) the SLA."""
    conv = ev.conversation
    current = dict(conv.sla or {})
    start_at = min(ev.normalized.sent_at, now())
    if ev.created or ev.reopened or not current:
        conv.sla = evaluate(conv, sla_for(conv, start_at), now())
    elif (current.get("category"), current.get("priority")) != (conv.category, conv.priority):
        started = datetime.fromisoformat(current["started_at"])
        conv.sla = evaluate(conv, sla_for(conv, started), now())


def evaluate(conv: Conversation, block: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The SLA block with first_response / resolution states computed at ``at``."""
    out = dict(block)
    if not out.get("started_at"):
        return out
    done = conv.resolved_at if conv.status in CONVERSATION_DONE else None
    live = sla_config.live_states(out, conv.first_response_at, done, at, policy().at_risk_fraction)
    out["first_response"], out["resolution"] = live["first_response"], live["resolution"]
    return out


def sla_tick(rt: Runtime, at: datetime | None = None) -> int:
    """Recompute SLA states of open (and just-resolved) conversations; tag at-risk/breached."""
    at = at or now()
    changed = 0
    with rt.db.session() as s:
        rows = s.scalars(
            select(Conversation).where(
                (Conversation.status.in_(OPEN_STATUSES)) | (Conversation.resolved_at >= at - timedelta(days=2))
            ).order_by(Conversation.id).limit(20000)
        ).all()
        for conv in rows:
            if not conv.sla:
                continue
            block = evaluate(conv, conv.sla, at)
            states = {block.get("first_response"), block.get("resolution")}
            tags = set(conv.tags or []) - set(SLA_TAGS)
            if "breached" in states:
                tags.add("sla-breached")
            elif "at_risk" in states:
                tags.add("sla-at-risk")
            if block != conv.sla or tags != set(conv.tags or []):
                conv.sla = block
                conv.tags = sorted(tags)
                changed += 1
    if changed:
        log.info("sla.tick", changed=changed)
    return changed


# --------------------------------------------------------------------------- CSAT
def csat_on_resolve(s: Session, rt: Runtime, conv: Conversation, changes: dict[str, Any]) -> list[int]:
    """Resolved: the one-question survey on the customer's channel (not to opted-out ones).

    Returns the reply id for the caller to schedule after its commit."""
    if changes.get("status") not in CONVERSATION_DONE:
        return []
    ident = s.get(Identity, conv.identity_id)
    if ident is None or ident.opted_out or automatic_reason(ident):
        return []
    extra = _extra(conv)
    if extra.get("csat", {}).get("asked_at"):
        return []
    reply = _auto_reply(s, conv, "csat", templates.render("csat_survey", reply_language(conv, rt.settings), desk=_desk(rt.settings)),
                        _adapter_for(rt, s, conv), author=_desk(rt.settings))
    if reply is None:
        return []
    extra["csat"] = {"asked_at": now().isoformat(), "reply_id": reply.id}
    conv.extra = extra
    return [reply.id]


def sla_on_update(s: Session, rt: Runtime, conv: Conversation, changes: dict[str, Any]) -> list[int]:
    """An agent changed priority or category: re-target the deadlines (same start)."""
    if not ({"priority", "category"} & set(changes)) or not conv.sla or not conv.sla.get("started_at"):
        return []
    started = datetime.fromisoformat(conv.sla["started_at"])
    conv.sla = evaluate(conv, sla_for(conv, started), now())
    return []


def _csat_sees_pending(s: Session) -> bool:
    """Whether a change the session has not written yet could change which conversations
    ``_pending_csat``'s query finds: a conversation added or deleted, or one given another
    identity. The rows it finds that the session holds are the session's objects, with their
    unwritten changes, either way; so when nothing of that is pending the autoflush before
    the query (which writes the whole batch's rows so far) changes no answer and is skipped
    (as ``workers.ingest._bounce_sees_pending``); otherwise it runs as always."""
    if any(isinstance(obj, Conversation) for obj in (*s.new, *s.deleted)):
        return True
    return any(isinstance(obj, Conversation) and inspect(obj).attrs.identity_id.history.has_changes() for obj in s.dirty)


def _pending_csat(s: Session, ev: hooks.IngestEvent) -> Conversation | None:
    """The conversation (this one, or the identity's last resolved one) awaiting a rating."""
    query = (
        select(Conversation).where(Conversation.identity_id == ev.conversation.identity_id, Conversation.id != ev.conversation.id)
        .order_by(Conversation.id.desc()).limit(3)
    )
    if _csat_sees_pending(s):
        found = list(s.scalars(query))
    else:
        with s.no_autoflush:
            found = list(s.scalars(query))
    candidates = [ev.conversation] + found
    for conv in candidates:
        csat = (conv.extra or {}).get("csat", {})
        if csat.get("asked_at") and "score" not in csat and now() - datetime.fromisoformat(csat["asked_at"]) < CSAT_WINDOW:
            return conv
    return None


def csat_answer(ev: hooks.IngestEvent) -> bool:
    """A survey answer: store the score, thank the customer, keep the conversation resolved."""
    s = ev.session
    score = parse_csat(ev.normalized.text)  # cheap, and most messages are not a rating
    if score is None:
        return False
    target = _pending_csat(s, ev)
    if target is None:
        return False
    extra = _extra(target)
    extra["csat"] = {**extra["csat"], "score": score, "answered_at": now().isoformat(), "message_id": ev.message.id}
    target.extra = extra
    events.emit(s, "csat.received", target, score=score, message_id=ev.message.id, answered_at=extra["csat"]["answered_at"])
    if ev.conversation.id == target.id and ev.reopened:
        target.status = ConversationStatus.RESOLVED  # a rating does not reopen the conversation
        target.resolved_at = datetime.fromisoformat(extra["csat"]["asked_at"])
    elif ev.conversation.id != target.id and ev.created:
        ev.conversation.status = ConversationStatus.RESOLVED  # the rating arrived as a new thread (SMS pairs, DMs)
        ev.conversation.resolved_at = now()
    desk = _desk(ev.runtime.settings)
    thanks = _auto_reply(s, target, "csat_thanks", templates.render("csat_thanks", reply_language(target, ev.runtime.settings), desk=desk), ev.adapter,
                         author=desk)
    if thanks is not None:
        ev.send_reply_ids.append(thanks.id)
    return True


# ------------------------------------------------------------------------- FAQ bot
def faq_bot(ev: hooks.IngestEvent) -> None:
    """Per connector (``faq_bot: true``): answer confident FAQ matches, hand off the rest."""
    if not getattr(ev.adapter.config, "faq_bot", False):
        return
    conv = ev.conversation
    extra = _extra(conv)
    if extra.get("faq", {}).get("handoff"):
        return  # once a person is involved, the bot stays quiet
    lang_msg = ev.normalized.replace(language=known_language(conv, ev.normalized.language))
    decision = decide(lang_msg, faq_index())  # FAQ answers follow the conversation's language
    record = {"action": decision.action, "reason": decision.reason, "confidence": decision.confidence,
              "article": decision.article["id"] if decision.article else None, "message_id": ev.message.id}
    if decision.action == "answer" and decision.article is not None:
        lang = decision.article["language"]
        text = f"{decision.article['title']}\n\n{decision.article['body']}\n\n{templates.render('faq_handoff_hint', lang)}"
        reply = _auto_reply(ev.session, conv, f"faq:{ev.message.id}", text, ev.adapter, author=_desk(ev.runtime.settings))
        if reply is not None:
            ev.send_reply_ids.append(reply.id)
            record["reply_id"] = reply.id
    else:
        record["handoff"] = True
    extra["faq"] = record
    conv.extra = extra


def _robot_message(ev: hooks.IngestEvent) -> bool:
    """A message with an automatic sign is never answered (it is normally not even given to
    the hooks; this holds when a channel marks the sign without ``auto_generated``)."""
    return bool(ev.normalized.auto_generated or ev.normalized.auto_reason)


def auto_ack(ev: hooks.IngestEvent) -> None:
    """Per connector (``auto_ack: true``): acknowledge a new conversation in the customer's
    language, unless another automatic answer (security warning, FAQ) already went out."""
    if not getattr(ev.adapter.config, "auto_ack", False) or not ev.created or ev.send_reply_ids:
        return
    conv = ev.conversation
    desk = _desk(ev.runtime.settings)
    reply = _auto_reply(ev.session, conv, "ack", templates.render("auto_ack", reply_language(conv, ev.runtime.settings, ev.normalized.language), ref=conv.id,
                                                                  desk=desk), ev.adapter, author=desk)
    if reply is not None:
        ev.send_reply_ids.append(reply.id)


def after_ingest(ev: hooks.IngestEvent) -> None:
    """The intelligence hooks in order: security first, then CSAT, SLA, FAQ bot, ack."""
    if _robot_message(ev):
        return
    security_warning(ev)
    if csat_answer(ev):
        return
    sla_start(ev)
    faq_bot(ev)
    auto_ack(ev)


def install() -> None:
    """Register the hooks once per process."""
    if after_ingest not in hooks.AFTER_INGEST:
        hooks.AFTER_INGEST.append(after_ingest)
    for fn in (sla_on_update, csat_on_resolve):
        if fn not in hooks.AFTER_UPDATE:
            hooks.AFTER_UPDATE.append(fn)
    if not any(name == "sla" for name, _i, _f in hooks.PERIODIC):
        hooks.PERIODIC.append(("sla", SLA_INTERVAL, sla_tick))

