"""REST API under /api/v1 (bearer tokens), documented at /api/v1/openapi.json."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

import structlog
from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import String, cast, func, or_, select

from hub import assignment, audit, auth, checks, exports, replay, routing, subscriptions
from hub.connectors import NAME_PATTERN, ConnectorService, OriginChangeRequiresSecrets, adapter_class, all_kinds, is_channel
from hub.errors import ConfigError, NotFound, PayloadInvalid
from hub.events import EVENT_TYPES
from hub.media import file_response
from hub.models import (
    AttachmentRow,
    AuditLog,
    Connector,
    Contact,
    Conversation,
    EventDelivery,
    Identity,
    Message,
    Reply,
    RoutingRule,
    Team,
    TeamMember,
    User,
    now,
)
from hub.openapi import MAX_ID, Spec
from hub.states import CONVERSATION_DONE, REPLY_RETRYABLE, ConversationStatus, ReplyState
from hub.views import contact_json, conversation_json, message_json, prime, reply_json

log = structlog.get_logger("omnihub.api")

bp = Blueprint("api", __name__, url_prefix="/api/v1")
spec = Spec("omnihub API", "1")

STATUSES = tuple(ConversationStatus)
PRIORITIES = ("low", "normal", "high", "urgent")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def rt():
    return current_app.extensions["omnihub"]


def _authenticate(role: str | None) -> None:
    if role is None:
        return
    header = request.headers.get("Authorization", "")
    principal = None
    if header.startswith("Bearer "):
        with rt().db.session() as s:
            principal = auth.principal_for_token(s, header[7:].strip())
    if principal is None:
        principal = getattr(g, "session_principal", None)  # set by the web UI's login session
    if principal is None:
        raise ApiError(401, "missing or invalid bearer token")
    if role == "admin" and not principal.is_admin:
        raise ApiError(403, "admin role required")
    g.principal = principal


def route(rule: str, method: str, *, summary: str, role: str | None = "agent", body: type[BaseModel] | None = None,
          query: dict[str, dict[str, Any]] | None = None, responses: dict[int, str] | None = None, tag: str = "api",
          required: tuple[str, ...] = (), media_type: str = "application/json"):
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**kwargs):
            _authenticate(role)
            for key, value in kwargs.items():  # an id past 64 bits is no row (and would overflow the driver)
                if isinstance(value, int) and value > MAX_ID:
                    raise ApiError(404, f"{key} {value} not found")
            if body is not None:
                data = request.get_json(silent=True)
                if not isinstance(data, dict):
                    raise ApiError(400, "body must be a JSON object")
                try:
                    kwargs["data"] = body.model_validate(data)
                except ValidationError as exc:
                    e = exc.errors()[0]
                    where = ".".join(str(p) for p in e["loc"]) or "body"
                    raise ApiError(400, f"{where}: {e['msg']}", field=where) from None
            return fn(**kwargs)

        view.__name__ = f"{fn.__name__}_{method.lower()}"
        bp.add_url_rule(rule, view.__name__, view, methods=[method])
        spec.add("/api/v1" + rule, method, summary=summary, role=role, body=body, query=query, responses=responses, tag=tag,
                 required=required, media_type=media_type)
        return fn

    return deco


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify({"error": exc.message, **exc.extra}), exc.status


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return jsonify({"error": str(exc)}), 404


@bp.errorhandler(ConfigError)
def _config_error(exc: ConfigError):
    return jsonify({"error": str(exc)}), 400


@bp.errorhandler(OriginChangeRequiresSecrets)
def _origin_change(exc: OriginChangeRequiresSecrets):
    return jsonify({"error": str(exc), "reenter": exc.keys}), 409


# ------------------------------------------------------------------ bodies
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _language_code(value: Any) -> Any:
    """"EN" -> "en", "pt-BR" / "pt_BR" -> "pt" (the hub's languages have no regions)."""
    return re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0] if isinstance(value, str) and value.strip() else value


LanguageCode = Annotated[Literal["en", "es", "ca", "pt", "fr", "de", "it", "nl"], BeforeValidator(_language_code)]


def _category(value: Any) -> Any:
    """A triage category, in the hub's spelling ("Scam or phishing report" -> scam_or_phishing_report);
    anything else is refused, naming the categories."""
    from normalizers.triage import CATEGORIES

    if not isinstance(value, str):
        return value
    code = re.sub(r"[\s-]+", "_", value.strip().lower())
    if code not in CATEGORIES or code == "command":
        raise ValueError(f"unknown category {value!r}; one of: {', '.join(c for c in CATEGORIES if c != 'command')}")
    return code


CategoryName = Annotated[str, AfterValidator(_category)]


class ConversationPatch(Strict):
    status: Literal["open", "pending", "snoozed", "resolved", "closed"] | None = None
    assignee: str | None = Field(None, description="user email, 'me', or '' to unassign (back to the team's queue)")
    if_assignee: str | None = Field(None, max_length=320, description=(
        "the assignee the client saw (email, 'me', or '' for nobody): the change is made only if that is still the "
        "assignee, else 409 naming who has it. Without it, 'assignee': 'me' claims the conversation only if it is "
        "unassigned (or already yours)"))
    team: str | None = Field(None, max_length=64, description="team name: put the conversation in that team's queue; '' for no team")
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    category: CategoryName | None = Field(None, description="a triage category (any case, spaces for underscores); the security "
                                                           "flag follows it unless a key or phrase was pasted (tag security-urgent) or security_flag is sent too")
    security_flag: bool | None = Field(None, description="set or clear the security flag (an agent's reading of a false alarm)")
    tags: list[str] | None = None
    snoozed_until: datetime | None = None
    language: LanguageCode | None = Field(
        None, description="confirm the conversation's language (wins over detection; any case, a region is dropped: "
                          "'pt-BR' is pt); null: back to detection")


class ContactPatch(Strict):
    language: LanguageCode | None = Field(
        None, description="confirm the contact's language (any case, a region is dropped): their conversations whose "
                          "language no agent confirmed, and new ones, take it; null: back to detection")
    attributes: dict[routing.AttrName, routing.Value | None] | None = Field(
        None, max_length=20, description="contact attributes for routing rules' `contact` conditions (e.g. {\"plan\": \"vip\"}); "
                                         "merged into the contact's, null removes one")


class AttachmentIn(Strict):
    # no control characters (CR/LF would inject headers when the file is downloaded)
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    # a malformed type is stored and served as application/octet-stream (hub.media.essence)
    content_type: str = Field("application/octet-stream", max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")
    data_base64: str


class ReplyIn(Strict):
    text: str = Field(min_length=1, max_length=100_000)
    internal: bool = Field(False, description="an internal note: stored, never sent")
    options: dict[str, Any] = Field(default_factory=dict, description="channel options, e.g. {\"thread\": true} on X")
    attachments: list[AttachmentIn] = Field(default_factory=list)


class MergeIn(Strict):
    other_id: int = Field(ge=1, le=MAX_ID, description="the contact merged INTO this one")


class ConnectorIn(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: str = Field(description="a connector kind from GET /api/v1/connector-kinds")
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class ConnectorPatch(Strict):
    config: dict[str, Any] = Field(default_factory=dict, description="keys to change; null removes; secrets write-only")
    enabled: bool | None = None


class ReplayIn(Strict):
    what: Literal["deliveries", "replies", "events", "event_deliveries", "all"] = "all"
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    connector: str | None = None


def _get(s, model, obj_id: int, label: str, *, when=lambda row: True):
    """The row, or a 404 naming what was not found."""
    row = s.get(model, obj_id)
    if row is None or not when(row):
        raise ApiError(404, f"{label} {obj_id} not found")
    return row


def _conv(s, conv_id: int) -> Conversation:
    return _get(s, Conversation, conv_id, "conversation")


def _audit(s, action: str, target_type: str, target_id: Any, **details: Any) -> None:
    audit.record(s, actor=g.principal.email, action=action, target_type=target_type, target_id=str(target_id), details=details)


# ------------------------------------------------------------ conversations
@route(
    "/conversations",
    "GET",
    summary="List conversations (newest activity first) with filters",
    query={
        "status": {"type": "string", "enum": [*STATUSES, "all"], "description": "one status, or 'all' (the default: every status)"},
        "medium": {"type": "string", "description": "how the customer wrote: sms, whatsapp, voice, email, slack, x, api"},
        "channel": {"type": "string", "description": "deprecated name of medium"},
        "connector": {"type": "string"},
        "assignee": {"type": "string", "description": "email, 'me' or 'none'"},
        "team": {"type": "string", "description": "a team's name (any case; an unknown name is a 400), 'mine' (the teams you "
                 "belong to) or 'none' (no team)"},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "category": {"type": "string"},
        "language": {"type": "string", "description": "a language code (any case), or 'unknown' (none detected)"},
        "security": {"type": "boolean"},
        "tag": {"type": "string", "description": "has this tag, e.g. sla-breached, sla-at-risk, security-urgent"},
        "q": {"type": "string", "maxLength": 200, "description": "full-text search of names, emails, phone numbers, subjects and message text "
              "(same search as the inbox; words match by prefix, all must occur); each item then carries `highlight`, "
              "escaped HTML with the matching words in <mark> (`highlight_contact`: the contact field that matched), `total` counts "
              "up to 200 (`total_capped` past that) and `q_shortened` says whether words past the 8th were left out"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "before": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT[0-9:.+-]+_\d+$", "description": "cursor from a previous page's `next`"},
    },
)
def list_conversations():
    a = request.args
    try:
        limit = min(200, max(1, int(a.get("limit", 50))))
    except ValueError:
        raise ApiError(400, "limit must be an integer", field="limit") from None
    if len(a.get("q") or "") > 200:
        raise ApiError(400, "q: at most 200 characters", field="q")
    with rt().db.read() as s:
        q = select(Conversation)
        status, priority = a.get("status") or "", a.get("priority") or ""
        if status and status != "all":
            q = q.where(Conversation.status.in_(status.split(",")))
        if priority:
            q = q.where(Conversation.priority.in_(priority.split(",")))
        if a.get("category"):
            q = q.where(Conversation.category == a["category"])
        if a.get("language"):
            code = a["language"].strip().lower()
            q = q.where(Conversation.language.is_(None) if code == "unknown" else Conversation.language == code)  # stored lower-case
        if a.get("security") in ("1", "true"):
            q = q.where(Conversation.security_flag.is_(True))
        if a.get("tag"):
            # tags is a JSON list; its text form is portable across SQLite and PostgreSQL
            q = q.where(cast(Conversation.tags, String).like(f'%{json.dumps(a["tag"])}%'))
        medium = a.get("medium") or a.get("channel")
        if medium:
            q = q.join(Identity, Identity.id == Conversation.identity_id).where(Identity.medium == medium)
        if a.get("connector"):
            from hub.models import Connector

            q = q.join(Connector, Connector.id == Conversation.connector_id).where(Connector.name == a["connector"])
        if a.get("assignee"):
            who = a["assignee"]
            if who == "none":
                q = q.where(Conversation.assignee_id.is_(None))
            else:
                uid = g.principal.user_id if who == "me" else s.scalar(select(User.id).where(User.email == who.lower()))
                q = q.where(Conversation.assignee_id == (uid or -1))
        if a.get("team"):
            try:
                q = q.where(assignment.team_filter(s, a["team"], g.principal.user_id, strict=True))
            except LookupError:
                raise ApiError(400, f"team: no team named {a['team']!r} (a team's name in any case, 'mine' or 'none')",
                               field="team") from None
        if a.get("q"):
            from hub.search import conversation_search

            q = q.where(conversation_search(a["q"], s))
        if a.get("before"):
            try:
                # a "+" of the UTC offset arrives as a space when a client did not URL-encode the cursor
                ts, cid = a["before"].replace(" ", "+").rsplit("_", 1)
                when, before_id = datetime.fromisoformat(ts), int(cid)
                if when.tzinfo is None or not 0 <= before_id <= MAX_ID:  # not a cursor the hub made
                    raise ValueError(a["before"])
                q = q.where(or_(Conversation.last_message_at < when, (Conversation.last_message_at == when) & (Conversation.id < before_id)))
            except ValueError:
                raise ApiError(400, "before: invalid cursor", field="before") from None
        total, capped = None, False
        order = (Conversation.last_message_at.desc(), Conversation.id.desc())
        if not a.get("before") and a.get("q"):
            from hub.search import COUNT_CAP

            # a search's first page: one pass in the list order gives the count, capped at
            # COUNT_CAP + 1 (a common word must not count them all), and the page by primary key
            ids = list(s.scalars(q.with_only_columns(Conversation.id).order_by(*order).limit(max(COUNT_CAP, limit) + 1)))
            page = ids[: limit + 1]
            found = {c.id: c for c in s.scalars(select(Conversation).where(Conversation.id.in_(page)))} if page else {}
            rows = [found[i] for i in page if i in found]
            total = min(len(ids), COUNT_CAP + 1)
            capped = total > COUNT_CAP
        else:
            if not a.get("before"):  # exact, over every filter: on the first page only (it costs a count)
                total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.scalars(q.order_by(*order).limit(limit + 1)).all()
        kept = prime(s, list(rows[:limit]))  # noqa: F841  (held while the items are built)
        items = [conversation_json(s, c) for c in rows[:limit]]
        if a.get("q"):
            from hub.search import contact_highlights, highlights

            ids = [c["id"] for c in items]
            contacts = contact_highlights(s, ids, a["q"])
            marked = highlights(s, ids, a["q"], contacts=contacts)
            for item in items:
                item["highlight"] = str(marked[item["id"]]) if item["id"] in marked else None
                hc = contacts.get(item["id"])
                item["highlight_contact"] = {"field": hc["field"], "html": str(hc["html"])} if hc else None
        nxt = f"{rows[limit - 1].last_message_at.isoformat()}_{rows[limit - 1].id}" if len(rows) > limit else None
    body: dict[str, Any] = {"items": items, "next": nxt}
    if total is not None:
        body["total"] = total
        if a.get("q"):
            body["total_capped"] = capped
    if a.get("q"):
        from hub.search import parse

        # only the first MAX_WORDS words (of at most MAX_PARTS parts) are searched: say so
        body["q_shortened"] = parse(a["q"]).shortened
    return jsonify(body)


@route("/conversations/<int:conv_id>", "GET", summary="A conversation with its messages, replies and contact")
def get_conversation(conv_id: int):
    with rt().db.read() as s:
        conv = _conv(s, conv_id)
        body = conversation_json(s, conv, full=True)
    if conv.security_flag:  # who read a security-sensitive conversation is audited
        _viewed(conv_id)
    return jsonify(body)


def _viewed(conv_id: int | None) -> None:
    """Audit a read of a security-flagged conversation's content through the API, whichever
    route read it (``conversation.view``, once per agent and conversation in a window)."""
    if conv_id is not None:
        with rt().db.session() as s:
            audit.record_view(s, g.principal.email, conv_id, via="api")


def _names_caller(assignee: str | None) -> bool:
    """``assignee`` names the caller: ``'me'`` or their own email (any case, spaces around)."""
    value = (assignee or "").strip().lower()
    return bool(value) and (value == "me" or value == (g.principal.email or "").strip().lower())


def _claim(s, c: Conversation, data: ConversationPatch, changes: dict[str, Any]) -> None:
    """Make an assignment change atomic: the conversation's row is held only if its assignee is
    still the one the client saw (``if_assignee``; for ``'me'`` without it: nobody, or the caller),
    so of two agents taking it at the same moment one wins and the other gets a 409 naming who
    has it (hub.assignment.lock_assignee)."""
    if "assignee" not in changes and data.if_assignee is None:
        return
    me = g.principal.user_id
    try:
        if data.if_assignee is not None:
            seen = data.if_assignee.strip().lower()
            if seen in ("", "none"):
                expected = None
            else:
                expected = me if seen == "me" else s.scalar(select(User.id).where(User.email == seen))
                if expected is None:
                    raise ApiError(400, f"if_assignee: no user with email {data.if_assignee!r}", field="if_assignee")
            if expected != c.assignee_id:
                raise assignment.Conflict(c.id, assignment.holder_of(s, c.id))
        elif _names_caller(data.assignee) and c.assignee_id not in (None, me):
            # "me" and the caller's own email (any case) are one claim: never a silent take-over
            raise assignment.Conflict(c.id, assignment.holder_of(s, c.id))
        assignment.lock_assignee(s, c, c.assignee_id)
    except assignment.Conflict as exc:
        raise ApiError(409, f"{exc}: nothing was changed", field="assignee", assignee=exc.holder) from None


@route("/conversations/<int:conv_id>", "PATCH", summary="Change status, assignee, priority, category, tags, snooze or language", body=ConversationPatch,
       responses={200: "OK", 409: "The assignee is no longer the one the client saw (if_assignee), or 'me' claimed a conversation "
                                  "someone else has: `assignee` names who has it"})
def patch_conversation(conv_id: int, data: ConversationPatch):
    with rt().db.session() as s:
        c = _conv(s, conv_id)
        changes = data.model_dump(exclude_unset=True)
        _claim(s, c, data, changes)
        if "status" in changes and data.status:
            c.status = data.status
            c.resolved_at = now() if data.status in CONVERSATION_DONE else None
            if data.status != ConversationStatus.SNOOZED:
                c.snoozed_until = None
        teams_before = {c.team_id}
        if "team" in changes:
            team = None
            if data.team and data.team.strip():
                team = assignment.team_named(s, data.team)
                if team is None:
                    raise ApiError(400, f"team: no team named {data.team!r}", field="team")
            assignment.move_to_team(s, c, team, g.principal.email)
        if "assignee" in changes:
            if not data.assignee:
                uid = None
            else:
                email = g.principal.email if _names_caller(data.assignee) else data.assignee.strip().lower()
                uid = s.scalar(select(User.id).where(User.email == email, User.active.is_(True)))
                if uid is None:
                    raise ApiError(400, f"assignee: no user with email {data.assignee!r}", field="assignee")
            assignment.changed(s, c, uid, g.principal.email)
        if data.priority:
            c.priority = data.priority
        if "category" in changes:
            c.category = data.category
            if "security_flag" not in changes and data.category:
                from normalizers.triage import SECURITY_CATEGORIES

                # the agent's reading of the conversation: a false "scam report" corrected to a UI
                # error is no security matter, unless a key or phrase was pasted into it
                if data.category in SECURITY_CATEGORIES:
                    c.security_flag = True
                elif "security-urgent" not in (c.tags or []):
                    c.security_flag = False
        if "security_flag" in changes and data.security_flag is not None:
            c.security_flag = data.security_flag
        if data.tags is not None:
            c.tags = sorted(set(data.tags))
        if "snoozed_until" in changes:
            c.snoozed_until = data.snoozed_until
            if data.snoozed_until:
                c.status = ConversationStatus.SNOOZED
        if "language" in changes:
            set_language(c, data.language, s)
        changes.pop("if_assignee", None)
        _audit(s, "conversation.update", "conversation", c.id, **{k: str(v) for k, v in changes.items()})
        s.flush()
        from workers import hooks, intel

        intel.install()
        to_send: list[int] = []
        for hook in hooks.AFTER_UPDATE:
            to_send += hook(s, rt(), c, changes) or []
        body = conversation_json(s, c)
        # capacity freed (resolved, closed, reassigned) or a new arrival in a queue: assign after the commit
        touched = {*teams_before, c.team_id} if {"status", "assignee", "team", "snoozed_until"} & changes.keys() else set()
    rt().queues.schedule("send", to_send)
    if touched:
        assignment.assign_teams(rt(), touched)
    return jsonify(body)


@route("/conversations/<int:conv_id>/messages", "GET", summary="The messages of a conversation, oldest first")
def list_messages(conv_id: int):
    with rt().db.read() as s:
        flagged = _conv(s, conv_id).security_flag
        msgs = s.scalars(select(Message).where(Message.conversation_id == conv_id).order_by(Message.sent_at, Message.id)).all()
        body = {"items": [message_json(m) for m in msgs]}
    if flagged:
        _viewed(conv_id)
    return jsonify(body)


@route("/messages/<int:message_id>", "GET", summary="One message")
def get_message(message_id: int):
    with rt().db.read() as s:
        m = _get(s, Message, message_id, "message")
        body, conv_id = message_json(m), m.conversation_id
    _viewed(conv_id)
    return jsonify(body)


@route(
    "/messages/<int:message_id>/sealed/<int:ref>/reveal",
    "POST",
    summary="Reveal a sealed value of a message (a 64-hex string that may be a key or a transaction hash); logged",
    responses={200: "The value", 404: "No such message or sealed value"},
)
def reveal_sealed(message_id: int, ref: int):
    """Decrypt one sealed value for the agent who clicked. Every reveal is written to the
    audit log and logged (user, message, ref — never the value)."""
    with rt().db.session() as s:
        m = _get(s, Message, message_id, "message")
        item = ((m.extra or {}).get("sealed") or {}).get(str(ref))
        if not isinstance(item, dict) or not item.get("token"):
            raise ApiError(404, f"sealed value #{ref} of message {message_id} not found")
        value = rt().box.open(item["token"].encode("ascii")).decode("utf-8")
        _audit(s, "sealed.reveal", "message", m.id, ref=ref, conversation=m.conversation_id, kind=item.get("kind", ""))
    log.warning("sealed.revealed", user=g.principal.email, message_id=message_id, conversation_id=m.conversation_id, ref=ref)
    return jsonify({"message_id": message_id, "ref": ref, "kind": item.get("kind"), "value": value})


@route("/attachments/<int:attachment_id>", "GET", summary="Download an attachment", responses={200: "The file", 404: "Not found or not stored"})
def get_attachment(attachment_id: int):
    with rt().db.read() as s:
        a = _get(s, AttachmentRow, attachment_id, "stored attachment", when=lambda row: bool(row.storage_key))
        if a.message_id is not None:
            conv_id = s.scalar(select(Message.conversation_id).where(Message.id == a.message_id))
        else:
            conv_id = s.scalar(select(Reply.conversation_id).where(Reply.id == a.reply_id)) if a.reply_id is not None else None
        path, ctype, name = rt().blobs.path(a.storage_key), a.content_type, a.filename
    _viewed(conv_id)
    # only passive image types inline; everything else a download (hub.media.SAFE_INLINE)
    return file_response(path, ctype, name, keep_type=False)


@route(
    "/conversations/<int:conv_id>/replies",
    "POST",
    summary="Reply to the customer on their channel (or add an internal note)",
    body=ReplyIn,
    responses={202: "Accepted: the reply is queued", 404: "Conversation not found"},
)
def create_reply(conv_id: int, data: ReplyIn):
    runtime = rt()
    with runtime.db.session() as s:
        c = _conv(s, conv_id)
        conn = s.get(Connector, c.connector_id)
        if not data.internal:
            ident = s.get(Identity, c.identity_id)
            if ident is not None and ident.opted_out:
                raise ApiError(409, f"the customer opted out of messages on this channel ({ident.opt_out_reason or 'STOP'}); "
                                    "nothing can be sent until they opt back in (e.g. by texting START) — add an internal note, "
                                    "or reach them on another channel", field="text")
            adapter = _svc().adapter(conn)
            try:
                adapter.validate_reply(data.text, data.options, thread_key=c.thread_key)
            except PayloadInvalid as exc:
                raise ApiError(400, f"text: {exc}", field="text") from None
            if data.attachments and not adapter.supports_attachments:
                raise ApiError(400, f"attachments: {adapter.title or adapter.kind} replies cannot carry files; "
                                    "send a link instead, or add the file to an internal note", field="attachments")
        r = Reply(
            conversation_id=c.id,
            connector_id=c.connector_id,
            author_id=g.principal.user_id,
            author_name=g.principal.name,
            kind="note" if data.internal else "reply",
            text=data.text,
            options=data.options,
            state=ReplyState.NOTE if data.internal else ReplyState.PENDING,
            source="api",
            status_detail={},
        )
        s.add(r)
        s.flush()
        for att in data.attachments:
            try:
                content = base64.b64decode(att.data_base64, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, f"attachments: {att.filename!r} is not valid base64", field="attachments") from None
            if len(content) > runtime.settings.max_attachment_bytes:
                raise ApiError(413, f"attachments: {att.filename!r} is over the {runtime.settings.max_attachment_bytes}-byte limit")
            key, digest = runtime.blobs.put(content)
            s.add(AttachmentRow(reply_id=r.id, filename=att.filename, content_type=att.content_type, size=len(content), sha256=digest, storage_key=key))
        _audit(s, "reply.create", "conversation", c.id, reply=r.id, internal=data.internal)
        reply_id, state = r.id, r.state
    if state == ReplyState.PENDING:
        runtime.queues.schedule("send", [reply_id])
    return jsonify({"id": reply_id, "state": state, "url": f"/api/v1/replies/{reply_id}"}), 202


@route("/replies/<int:reply_id>", "GET", summary="A reply and its delivery state")
def get_reply(reply_id: int):
    with rt().db.read() as s:
        r = _get(s, Reply, reply_id, "reply")
        body, conv_id = reply_json(r), r.conversation_id
    _viewed(conv_id)
    return jsonify(body)


@route("/replies/<int:reply_id>/retry", "POST", summary="Send a failed or dead reply again", responses={202: "Queued again", 409: "Not in a failed state"})
def retry_reply(reply_id: int):
    runtime = rt()
    with runtime.db.session() as s:
        r = _get(s, Reply, reply_id, "reply")
        if r.state not in REPLY_RETRYABLE:
            raise ApiError(409, f"reply {reply_id} is {r.state}; only failed or dead replies can be retried")
        conv = s.get(Conversation, r.conversation_id)
        ident = s.get(Identity, conv.identity_id) if conv else None
        if ident is not None and ident.opted_out:
            raise ApiError(409, f"reply {reply_id} cannot be sent: the customer opted out ({ident.opt_out_reason or 'STOP'}) "
                                "and must opt back in first")
        permanent = (r.status_detail or {}).get("permanent")
        if permanent and not (request.get_json(silent=True) or {}).get("force"):
            raise ApiError(409, f"reply {reply_id} was not retried: {permanent} (send {{\"force\": true}} to send it again anyway)")
        replay.reset(r)
        _audit(s, "reply.retry", "reply", r.id)
    runtime.queues.schedule("send", [reply_id])
    return jsonify({"id": reply_id, "state": ReplyState.PENDING}), 202


# ----------------------------------------------------------------- contacts
@route("/contacts/<int:contact_id>", "GET", summary="A contact with identities and conversations")
def get_contact(contact_id: int):
    with rt().db.read() as s:
        return jsonify(contact_json(s, _get(s, Contact, contact_id, "contact"), with_conversations=True))


def set_language(target: Conversation | Contact, language: str | None, s: Any) -> None:
    """Confirm a conversation's or contact's language, or with None go back to detection: the
    conversation takes its contact's confirmed language, else its customer's latest detected one;
    the contact its latest detected one."""
    field = "extra" if isinstance(target, Conversation) else "attrs"
    bag = dict(getattr(target, field) or {})
    if language:
        target.language = language
        bag["language_confirmed"] = True
    else:
        bag.pop("language_confirmed", None)
        target.language = _detected_language(s, target) or target.language
    setattr(target, field, bag)


def _detected_language(s: Any, target: Conversation | Contact) -> str | None:
    if isinstance(target, Conversation):
        contact = s.get(Contact, target.contact_id)
        if contact is not None and contact.language and (contact.attrs or {}).get("language_confirmed"):
            return str(contact.language)
        where = Message.conversation_id == target.id
    else:
        where = Message.conversation_id.in_(select(Conversation.id).where(Conversation.contact_id == target.id))
    return s.scalar(select(Message.language).where(where, Message.direction == "inbound", Message.language.is_not(None))
                    .order_by(Message.sent_at.desc(), Message.id.desc()).limit(1))


@route("/contacts/<int:contact_id>", "PATCH", summary="Change a contact (confirm its language, set its attributes)", body=ContactPatch)
def patch_contact(contact_id: int, data: ContactPatch):
    with rt().db.session() as s:
        contact = _get(s, Contact, contact_id, "contact")
        changes = data.model_dump(exclude_unset=True)
        if "language" in changes:
            set_language(contact, data.language, s)
            s.flush()
            # their conversations whose language no agent confirmed follow: the confirmed language
            # (survey, thanks use it from now on), or back to what was detected in each
            for conv in s.scalars(select(Conversation).where(Conversation.contact_id == contact.id)):
                if not (conv.extra or {}).get("language_confirmed"):
                    conv.language = data.language or _detected_language(s, conv) or conv.language
        if data.attributes:
            bag = dict(contact.attrs or {})
            for key, value in data.attributes.items():
                if key in routing.INTERNAL_ATTRS or key in routing.DERIVED_ATTRS:
                    raise ApiError(400, f"attributes.{key}: reserved (email_domain is the domain of the contact's email)",
                                   field=f"attributes.{key}")
                if value is None:
                    bag.pop(key, None)
                else:
                    bag[key] = value
            if len([k for k in bag if k not in routing.INTERNAL_ATTRS]) > 50:
                raise ApiError(400, "attributes: at most 50 per contact", field="attributes")
            contact.attrs = bag
        _audit(s, "contact.update", "contact", contact.id, **{k: str(v) for k, v in changes.items()})
        s.flush()
        return jsonify(contact_json(s, contact, with_conversations=True))


@route("/contacts/<int:contact_id>/merge", "POST", summary="Merge another contact into this one", body=MergeIn)
def merge_contact(contact_id: int, data: MergeIn):
    with rt().db.session() as s:
        keep, other = s.get(Contact, contact_id), s.get(Contact, data.other_id)
        if keep is None or other is None:
            raise ApiError(404, "contact not found")
        if keep.id == other.id:
            raise ApiError(400, "other_id: cannot merge a contact into itself", field="other_id")
        from sqlalchemy import update

        s.execute(update(Identity).where(Identity.contact_id == other.id).values(contact_id=keep.id))
        s.execute(update(Conversation).where(Conversation.contact_id == other.id).values(contact_id=keep.id))
        other.merged_into_id = keep.id
        keep.email = keep.email or other.email
        keep.name = keep.name or other.name
        _audit(s, "contact.merge", "contact", keep.id, merged=other.id)
        s.flush()
        return jsonify(contact_json(s, keep, with_conversations=True))


class EraseIn(Strict):
    # strict: true, 1.0 and "1" are not the id 1 (an erasure cannot be undone)
    model_config = ConfigDict(extra="forbid", strict=True)
    confirm: int = Field(ge=1, le=MAX_ID, description="the contact id again: erasure cannot be undone")


@route("/contacts/<int:contact_id>/erase", "POST", role="admin", body=EraseIn, tag="privacy",
       summary="Erase a contact for good: identities, conversations, messages, replies, attachment files, journal rows, "
               "helpdesk links (tickets queued for removal where the backend supports it)",
       responses={200: "The counts of what was removed", 400: "confirm does not repeat the id", 404: "No such contact"})
def erase_contact(contact_id: int, data: EraseIn):
    from hub import erasure

    if data.confirm != contact_id:
        raise ApiError(400, "confirm: repeat the contact id to erase it", field="confirm")
    counts = erasure.erase(rt(), contact_id, actor=g.principal.email)
    log.info("contact.erase", user=g.principal.email, contact=contact_id)
    return jsonify({"erased": contact_id, **{k: v for k, v in counts.items() if isinstance(v, int)}})


@route("/contacts/<int:contact_id>/export", "GET", role="admin", tag="privacy", media_type="application/zip",
       summary="A contact's data as a zip: contact.json (contact, identities, conversations, messages, replies) and attachments/",
       responses={200: "The zip, as an attachment", 404: "No such contact"})
def export_contact(contact_id: int):
    from hub import erasure

    body, headers = erasure.export_download(rt(), contact_id, actor=g.principal.email)
    return Response(body, mimetype="application/zip", headers=headers)


@route("/ticket-removals", "GET", role="admin", tag="privacy", summary="Helpdesk ticket removals asked for by erasures")
def list_ticket_removals():
    from hub.erasure import removal_json
    from hub.models import TicketRemoval

    with rt().db.read() as s:
        rows = s.execute(select(TicketRemoval, Connector.name).join(Connector, Connector.id == TicketRemoval.helpdesk_id)
                         .order_by(TicketRemoval.id.desc()).limit(500)).all()
        return jsonify({"items": [removal_json(r, name) for r, name in rows]})


# ---------------------------------------------------------------- retention
class RetentionIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)  # {"days": true} is not one day
    days: int = Field(ge=1, le=36500, description="keep this many days")
    action: Literal["delete", "anonymize"] = Field("delete", description="delete old rows, or keep them with their content blanked")


class RetentionRunIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)  # {"dry_run": "false"} is not a real run
    dry_run: bool = Field(True, description="only count what would change (the default)")
    connector: str | None = Field(None, pattern=NAME_PATTERN, description="only this connector's policy")


@route("/retention", "GET", role="admin", tag="privacy", summary="Retention policies per connector, with their last run and their last run that changed something")
def list_retention():
    from hub import retention

    with rt().db.read() as s:
        return jsonify({"items": retention.list_policies(s)})


@route("/retention/<name>", "PUT", role="admin", tag="privacy", body=RetentionIn,
       summary="Set a connector's retention policy", responses={200: "The policy", 404: "No such connector"})
def put_retention(name: str, data: RetentionIn):
    from hub import retention

    with rt().db.session() as s:
        return jsonify(retention.set_policy(s, name, data.days, data.action, actor=g.principal.email))


@route("/retention/<name>", "DELETE", role="admin", tag="privacy", summary="Remove a connector's retention policy",
       responses={204: "Removed (or there was none)", 404: "No such connector"})
def delete_retention(name: str):
    from hub import retention

    with rt().db.session() as s:
        retention.remove_policy(s, name, actor=g.principal.email)
    return no_content()


@route("/retention/run", "POST", role="admin", tag="privacy", body=RetentionRunIn,
       summary="Apply the retention policies now, or (dry_run, the default) count what they would change",
       responses={200: "Counts per connector", 404: "No such connector"})
def run_retention(data: RetentionRunIn):
    from hub import retention

    out = retention.run_all(rt(), dry_run=data.dry_run, connector=data.connector, actor=g.principal.email)
    return jsonify({"dry_run": data.dry_run, "connectors": out})


# ------------------------------------------------------------------- tokens
@route("/tokens", "GET", summary="API tokens: your own; admins see every user's, with the owner's email", tag="tokens")
def list_tokens():
    p = g.principal
    with rt().db.read() as s:
        rows = auth.list_tokens(s, user_id=None if p.is_admin else p.user_id)
        return jsonify({"items": [auth.token_json(r, with_owner=p.is_admin) for r in rows]})


def no_content() -> Response:
    """204 with no body and no Content-Type (the OpenAPI document declares none)."""
    resp = Response(status=204)
    resp.headers.pop("Content-Type", None)
    return resp


@route("/tokens/<int:token_id>", "DELETE", summary="Revoke an API token (your own; admins: any)", responses={204: "Revoked"}, tag="tokens")
def delete_token(token_id: int):
    p = g.principal
    with rt().db.session() as s:
        auth.revoke_token(s, token_id, p.email, user_id=None if p.is_admin else p.user_id)
    return no_content()


# --------------------------------------------------------------- connectors
def _svc() -> ConnectorService:
    return current_app.extensions["omnihub.connectors"]


@route("/connector-kinds", "GET", summary="Connector kinds and their configuration schemas", role="admin", tag="admin")
def connector_kinds():
    out = []
    for kind, cls in sorted(all_kinds().items()):
        schema = cls.Config.model_json_schema()
        out.append({
            "kind": kind,
            "title": getattr(cls, "title", kind),
            "role": "channel" if is_channel(kind) else "helpdesk",
            "hooks": list(cls.hooks),
            "secrets": sorted(cls.Config.secret_fields()),
            # keys deciding where requests go: changing one requires re-entering the secrets
            "origin_keys": sorted(cls.Config.origin_fields()),
            "schema": schema,
        })
    return jsonify({"items": out})


@route("/connectors", "GET", summary="List connectors (secrets masked)", role="admin", tag="admin")
def list_connectors():
    from hub.models import Connector

    with rt().db.read() as s:
        rows = s.scalars(select(Connector).where(~Connector.name.contains("~deleted~")).order_by(Connector.name)).all()
        return jsonify({"items": [_svc().describe(r) for r in rows]})


@route("/connectors", "POST", summary="Create a connector", role="admin", body=ConnectorIn, responses={201: "Created", 400: "Invalid configuration"}, tag="admin")
def create_connector(data: ConnectorIn):
    with rt().db.session() as s:
        row = _svc().create(s, data.name, data.kind, data.config, actor=g.principal.email)
        row.enabled = data.enabled
        s.flush()
        return jsonify(_svc().describe(row)), 201


@route("/connectors/<name>", "GET", summary="A connector (secrets masked)", role="admin", tag="admin")
def get_connector(name: str):
    with rt().db.read() as s:
        return jsonify(_svc().describe(_svc().get(s, name)))


@route("/connectors/<name>", "PATCH", summary="Change connector keys (secrets write-only)", role="admin", body=ConnectorPatch, tag="admin")
def patch_connector(name: str, data: ConnectorPatch):
    with rt().db.session() as s:
        row = _svc().update(s, name, data.config, actor=g.principal.email, enabled=data.enabled)
        s.flush()
        return jsonify(_svc().describe(row))


@route("/connectors/<name>", "DELETE", summary="Remove a connector", role="admin", responses={204: "Removed"}, tag="admin")
def delete_connector(name: str):
    with rt().db.session() as s:
        _svc().delete(s, name, actor=g.principal.email)
    return no_content()


@route("/connectors/<name>/check", "POST", summary="Test the connector's credentials against the provider", role="admin", tag="admin")
def check_connector(name: str):
    with rt().db.read() as s:
        row = _svc().get(s, name)
    result = run_check(rt(), _svc(), row, actor=g.principal.email)
    return jsonify(result)


def run_check(runtime, svc: ConnectorService, row, actor: str = "system") -> dict[str, Any]:
    """Run a connector's check, store its health and audit it (``connector.check``)."""
    try:
        res = svc.adapter(row).check()
        out = {"ok": bool(res.ok), "summary": res.summary, "details": dict(res.details or {})}
    except Exception as exc:  # the check reports; it never crashes the caller
        out = {"ok": False, "summary": checks.error_text(exc), "details": {}}
    out = checks.plain_result(out, adapter_class(row.kind).Config, row.config or {})
    svc.record_health(row.id, check=out, checked_at=now())
    with runtime.db.session() as s:
        audit.record(s, actor=actor, action="connector.check", target_type="connector", target_id=row.name,
                     details={"ok": out["ok"], "summary": str(out.get("summary", ""))[:500]})
    return out


# ------------------------------------------------------------- dead letters
@route("/dead-letters", "GET", summary="Dead deliveries and replies, quarantined events, dead event-webhook deliveries", role="admin", tag="admin")
def dead_letters():
    with rt().db.read() as s:
        return jsonify(replay.dead_letters(s))


@route("/dead-letters/replay", "POST", summary="Replay dead or failed work", role="admin", body=ReplayIn, tag="admin")
def replay_dead(data: ReplayIn):
    counts = replay.replay(rt(), what=data.what, ids=data.ids, connector=data.connector)
    with rt().db.session() as s:
        _audit(s, "dead_letters.replay", data.what, ",".join(map(str, data.ids or [])), **counts,
               **({"connector": data.connector} if data.connector else {}))
    return jsonify({"replayed": counts})


# ------------------------------------------------------------- event webhooks
EventType = Literal["conversation.created", "conversation.updated", "message.created", "reply.status_changed", "csat.received"]
assert get_args(EventType) == EVENT_TYPES  # the one list (hub.events)
_SECRET = Field(None, min_length=subscriptions.MIN_SECRET, max_length=subscriptions.MAX_SECRET, pattern=r"^[!-~]+$",
                description="the signing secret; omitted: omnihub generates one (returned once)")


class SubscriptionIn(Strict):
    url: str = Field(min_length=1, max_length=subscriptions.MAX_URL, description="http(s) URL the events are POSTed to")
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field("", max_length=255)
    enabled: bool = True
    secret: str | None = _SECRET


class SubscriptionPatch(Strict):
    url: str | None = Field(None, min_length=1, max_length=subscriptions.MAX_URL)
    events: list[EventType] | None = Field(None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(None, max_length=255)
    enabled: bool | None = None
    secret: str | None = _SECRET
    rotate_secret: bool = Field(False, description="generate a new secret (returned once)")


class DeliveryReplayIn(Strict):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=1000, description="deliveries to send again (dead or delivered); omitted: every dead delivery")


def _sub_body(s, row, secret: str | None = None) -> dict[str, Any]:
    body = subscriptions.describe(rt().box, row, subscriptions.counts(s, [row.id])[row.id])
    if secret:
        body["secret"] = secret  # shown this once
    return body


@route("/event-subscriptions", "GET", summary="Event webhook subscriptions (secrets masked)", role="admin", tag="events")
def list_event_subscriptions():
    from hub.models import EventSubscription

    with rt().db.read() as s:
        rows = s.scalars(select(EventSubscription).order_by(EventSubscription.id)).all()
        counts = subscriptions.counts(s, [r.id for r in rows])
        return jsonify({"items": [subscriptions.describe(rt().box, r, counts[r.id]) for r in rows], "event_types": list(EVENT_TYPES)})


@route("/event-subscriptions", "POST", summary="Subscribe a URL to events (the secret is returned once)", role="admin",
       body=SubscriptionIn, responses={201: "Created", 400: "Invalid URL or events"}, tag="events")
def create_event_subscription(data: SubscriptionIn):
    with rt().db.session() as s:
        row, secret = subscriptions.create(s, rt().box, g.principal.email, url=data.url, events=data.events,
                                           description=data.description, enabled=data.enabled, secret=data.secret)
        return jsonify(_sub_body(s, row, secret)), 201


@route("/event-subscriptions/<int:sub_id>", "GET", summary="An event subscription (secret masked)", role="admin", tag="events")
def get_event_subscription(sub_id: int):
    with rt().db.read() as s:
        return jsonify(_sub_body(s, subscriptions.get(s, sub_id)))


@route("/event-subscriptions/<int:sub_id>", "PATCH", summary="Change, enable/disable an event subscription or rotate its secret",
       role="admin", body=SubscriptionPatch, tag="events")
def patch_event_subscription(sub_id: int, data: SubscriptionPatch):
    with rt().db.session() as s:
        row, secret = subscriptions.update(s, rt().box, g.principal.email, sub_id, url=data.url, events=data.events,
                                           description=data.description, enabled=data.enabled, secret=data.secret,
                                           rotate_secret=data.rotate_secret)
        s.flush()
        return jsonify(_sub_body(s, row, secret))


@route("/event-subscriptions/<int:sub_id>", "DELETE", summary="Remove an event subscription and its delivery log", role="admin",
       responses={204: "Removed"}, tag="events")
def delete_event_subscription(sub_id: int):
    with rt().db.session() as s:
        subscriptions.remove(s, g.principal.email, sub_id)
    return no_content()


@route(
    "/event-subscriptions/<int:sub_id>/deliveries",
    "GET",
    summary="The delivery log of a subscription, newest first: state, attempts, status code, latency, error",
    role="admin",
    query={
        "state": {"type": "string", "enum": ["pending", "delivered", "dead"]},
        "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        "before": {"type": "integer", "minimum": 1, "description": "cursor: the previous page's `next`"},
    },
    tag="events",
)
def list_event_deliveries(sub_id: int):
    a = request.args
    state = a.get("state") or None
    if state not in (None, "pending", "delivered", "dead"):
        raise ApiError(400, "state: one of pending, delivered, dead", field="state")
    try:
        limit = min(200, max(1, int(a.get("limit", 50))))
        before = min(int(a["before"]), MAX_ID) if a.get("before") else None
    except ValueError:
        raise ApiError(400, "limit and before must be integers") from None
    with rt().db.read() as s:
        items, nxt = subscriptions.deliveries(s, sub_id, state=state, before=before, limit=limit)
    return jsonify({"items": items, "next": nxt})


@route("/event-deliveries/<int:delivery_id>", "GET", summary="One event delivery with its log and the event body", role="admin",
       tag="events")
def get_event_delivery(delivery_id: int):
    with rt().db.read() as s:
        return jsonify(subscriptions.delivery(s, delivery_id))


@route("/event-deliveries/<int:delivery_id>/replay", "POST", summary="Send an event delivery again (dead or delivered)",
       role="admin", responses={202: "Queued again", 409: "Still pending, or its subscription is disabled"}, tag="events")
def replay_event_delivery(delivery_id: int):
    with rt().db.session() as s:
        if s.get(EventDelivery, delivery_id) is None:
            raise ApiError(404, f"event delivery {delivery_id} not found")
        try:
            ids = subscriptions.replay(s, g.principal.email, delivery_ids=[delivery_id], sweep_after=rt().settings.sweep_after)
        except subscriptions.SubscriptionDisabled as exc:
            raise ApiError(409, str(exc)) from None
    if not ids:
        raise ApiError(409, f"event delivery {delivery_id} is pending: it is already on its way")
    rt().queues.schedule("event", ids)
    return jsonify({"replayed": ids}), 202


@route("/event-subscriptions/<int:sub_id>/replay", "POST", summary="Send a subscription's deliveries again: the ids given, or every dead one",
       role="admin", body=DeliveryReplayIn, responses={202: "Queued again", 404: "An id is not a delivery of this subscription",
                                                       409: "An id is still pending, or the subscription is disabled"}, tag="events")
def replay_event_subscription(sub_id: int, data: DeliveryReplayIn):
    with rt().db.session() as s:
        subscriptions.get(s, sub_id)
        try:
            ids = subscriptions.replay(s, g.principal.email, delivery_ids=data.ids, subscription_id=sub_id,
                                      sweep_after=rt().settings.sweep_after, strict=True)
        except (subscriptions.SubscriptionDisabled, subscriptions.DeliveryPending) as exc:
            raise ApiError(409, str(exc)) from None
    rt().queues.schedule("event", ids)
    return jsonify({"replayed": ids}), 202


@route(
    "/stats",
    "GET",
    summary="Support analytics: volume by channel/category/language, first response and resolution times, CSAT, SLA compliance",
    query={
        "since": {"type": "string", "description": "ISO-8601 start (default: 30 days ago)"},
        "until": {"type": "string", "description": "ISO-8601 end (default: now)"},
    },
    tag="ops",
)
def support_stats():
    from hub import stats

    bounds = {}
    for key in ("since", "until"):
        if request.args.get(key):
            try:
                when = datetime.fromisoformat(request.args[key].replace("Z", "+00:00"))
            except ValueError:
                raise ApiError(400, f"{key}: not an ISO-8601 date/time", field=key) from None
            bounds[key] = when if when.tzinfo else when.replace(tzinfo=UTC)
    with rt().db.read() as s:
        return jsonify(stats.compute(s, **bounds))


@route("/stats/queues", "GET", summary="Counts of pending, dead and done work; queue backlog; which poller holds which poll (leases)", tag="ops")
def queue_stats():
    return jsonify(replay.stats(rt()))


# -------------------------------------------------------------------- audit
def _audit_time(key: str) -> datetime | None:
    value = request.args.get(key)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{key}: not an ISO-8601 date/time", field=key) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if key == "until" and re.fullmatch(r"\d{4}-\d\d-\d\d", value.strip()):  # a day alone: that whole day is included
        when += timedelta(days=1)
    return when


@route(
    "/audit",
    "GET",
    summary="The audit log, newest first, with each entry's chain hashes (admin)",
    role="admin",
    query={
        "actor": {"type": "string", "description": "only this actor (an email, cli, oidc, system)"},
        "action": {"type": "string", "description": "only this action, e.g. user.login; with a trailing dot every action under it (user.)"},
        "since": {"type": "string", "description": "ISO-8601: entries at or after"},
        "until": {"type": "string", "description": "ISO-8601: entries before"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        "before": {"type": "integer", "minimum": 1, "description": "cursor: the previous page's `next` (entries with a smaller id)"},
    },
    tag="admin",
)
def list_audit():
    a = request.args
    try:
        limit = int(a.get("limit", 100))
    except ValueError:
        raise ApiError(400, "limit: a whole number from 1 to 500", field="limit") from None
    if not 1 <= limit <= 500:
        raise ApiError(400, "limit: a whole number from 1 to 500", field="limit")
    before = None
    if a.get("before"):
        try:
            before = min(int(a["before"]), MAX_ID)
        except ValueError:
            raise ApiError(400, "before: invalid cursor", field="before") from None
    since, until = _audit_time("since"), _audit_time("until")
    with rt().db.read() as s:
        q = audit.query(a.get("actor", ""), a.get("action", ""), since, until, before=before)
        rows = s.scalars(q.order_by(AuditLog.id.desc()).limit(limit + 1)).all()
        items = [audit.entry_json(r) for r in rows[:limit]]
    return jsonify({"items": items, "next": rows[limit - 1].id if len(rows) > limit else None})


# ------------------------------------------------------------------ exports
_TEXT = r"^[^\x00-\x1f\x7f]*$"  # a filter value: no control characters


def _date_arg(key: str) -> date:
    raw = request.args.get(key) or ""
    if not raw:
        raise ApiError(400, f"{key}: required (a date, YYYY-MM-DD)", field=key)
    try:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"{key}: not a date (YYYY-MM-DD)", field=key) from None


def _list_arg(key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(v for v in (request.args.get(key) or "").split(",") if v)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ApiError(400, f"{key}: unknown value {bad[0]!r} (one of {', '.join(allowed)}, comma-separated)", field=key)
    return values


EXPORT_PARAMS = frozenset({"from", "to", "connector", "medium", "status", "priority", "category", "language", "security", "team"})


def _export_values() -> dict[str, tuple[str, ...]]:
    """What each export filter can match: the known values and those stored (an older
    category name, a language outside the detected set)."""
    from normalizers.language import SUPPORTED
    from normalizers.model import Medium
    from normalizers.triage import CATEGORIES

    with rt().db.read() as s:
        names = tuple(sorted(n for n in s.scalars(select(Connector.name)) if "~deleted~" not in n))
        stored_cats = {c.lower() for c in s.scalars(select(Conversation.category).distinct()) if c}
        stored_langs = {c.lower() for c in s.scalars(select(Conversation.language).distinct()) if c}
        stored_media = {m.lower() for m in s.scalars(select(Identity.medium).distinct()) if m}
    return {"connector": names, "medium": tuple(sorted({m.value for m in Medium} | stored_media)),
            "category": tuple(sorted(set(CATEGORIES) | stored_cats)), "language": tuple(sorted(set(SUPPORTED) | stored_langs))}


def _known_arg(key: str, allowed: tuple[str, ...], *, lower: bool = False) -> str | None:
    """A filter value that must be one of ``allowed`` (an unknown one would silently match nothing)."""
    value = _text_arg(key)
    if value is None:
        return None
    if lower:
        value = value.strip().lower()
    if value not in allowed:
        shown = ", ".join(allowed[:30]) + (", …" if len(allowed) > 30 else "")
        raise ApiError(400, f"{key}: unknown value {value!r} (one of {shown})", field=key)
    return value


def _bool_arg(key: str) -> bool | None:
    raw = request.args.get(key)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true"):
        return True
    if raw.lower() in ("0", "false"):
        return False
    raise ApiError(400, f"{key}: true or false", field=key)


def _text_arg(key: str) -> str | None:
    value = request.args.get(key) or None
    if value is not None and (len(value) > 255 or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)):
        raise ApiError(400, f"{key}: at most 255 characters, no control characters", field=key)
    return value


@route(
    "/exports/conversations.csv",
    "GET",
    summary="CSV of the conversations created in a date range, with first response, resolution, SLA state and CSAT (streamed)",
    query={
        "from": {"type": "string", "format": "date", "description": "first day (UTC, YYYY-MM-DD), included"},
        "to": {"type": "string", "format": "date", "description": f"last day (UTC, YYYY-MM-DD), included; at most {exports.MAX_DAYS} days after `from`"},
        "connector": {"type": "string", "pattern": _TEXT, "maxLength": 255},
        "medium": {"type": "string", "pattern": _TEXT, "maxLength": 255, "description": "sms, whatsapp, voice, email, slack, x, api"},
        "status": {"type": "string", "enum": [*STATUSES, "all"], "description": "one status, several comma-separated, or 'all'"},
        "priority": {"type": "string", "enum": list(PRIORITIES), "description": "one priority, or several comma-separated"},
        "category": {"type": "string", "pattern": _TEXT, "maxLength": 255},
        "language": {"type": "string", "pattern": _TEXT, "maxLength": 255},
        "security": {"type": "boolean", "description": "only security-flagged (true) or only not flagged (false) conversations"},
        "team": {"type": "string", "pattern": _TEXT, "maxLength": 255, "description": "a team's name (any case), 'mine' or 'none'"},
    },
    required=("from", "to"),
    media_type="text/csv",
    responses={200: "CSV (UTF-8, header row), as an attachment", 403: "Agent or admin role required"},
    tag="exports",
)
def export_conversations():
    if g.principal.role not in ("agent", "admin"):
        raise ApiError(403, "agent or admin role required")
    unknown = sorted(set(request.args) - EXPORT_PARAMS)
    if unknown:  # e.g. q: a search is not an export filter; silently exporting everything would mislead
        raise ApiError(400, f"{unknown[0]}: not a filter of the export (filters: {', '.join(sorted(EXPORT_PARAMS))})", field=unknown[0])
    start, end = _date_arg("from"), _date_arg("to")
    if end < start:
        raise ApiError(400, "to: before from", field="to")
    if end >= date.max:
        raise ApiError(400, f"to: at most {(date.max - timedelta(days=1)).isoformat()}", field="to")
    if (end - start).days + 1 > exports.MAX_DAYS:
        raise ApiError(400, f"to: the range covers at most {exports.MAX_DAYS} days", field="to")
    known = _export_values()
    statuses = tuple(v for v in (request.args.get("status") or "").split(",") if v)
    f = exports.Filters(
        start=start, end=end, connector=_known_arg("connector", known["connector"]),
        medium=_known_arg("medium", known["medium"], lower=True),
        statuses=() if statuses == ("all",) else _list_arg("status", tuple(STATUSES)), priorities=_list_arg("priority", PRIORITIES),
        category=_known_arg("category", known["category"], lower=True), language=_known_arg("language", known["language"], lower=True),
        security=_bool_arg("security"), team=_text_arg("team"),
    )
    if f.team:
        with rt().db.read() as s:
            try:
                f = replace(f, team_condition=assignment.team_filter(s, f.team, g.principal.user_id, strict=True))
            except LookupError:
                raise ApiError(400, f"team: no team named {f.team!r} (or 'mine', 'none')", field="team") from None
    runtime = rt()
    with runtime.db.session() as s:
        _audit(s, "export", "conversations", f"{start.isoformat()}..{end.isoformat()}", format="csv", **f.described())
    log.info("export.conversations", user=g.principal.email, **f.described())
    at = min(f.until, now())  # SLA states as of the end of the range, never in the future (as the dashboard)
    return Response(
        stream_with_context(exports.csv_chunks(runtime.db, f, at)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{f.filename}"', "Cache-Control": "no-store"},
    )


# ------------------------------------------------------- teams and routing (docs/teams.md)
#: a team's name, trimmed; unique regardless of case (hub.assignment.name_key)
TeamName = Annotated[str, AfterValidator(assignment.check_team_name)]


class MemberIn(Strict):
    email: str = Field(min_length=3, max_length=320, description="an existing user's email")
    capacity: int = Field(5, ge=0, le=1000, description="most open conversations of this team assigned to the agent at once")


class TeamIn(Strict):
    name: TeamName = Field(description="unique regardless of case, trimmed; not 'mine' or 'none' (the team filter's words)")
    assignment: Literal["manual", "auto"] = Field("manual", description="auto: round-robin among available members under capacity")
    default: bool = Field(False, description="the team of conversations no routing rule matches (one team at most)")
    members: list[MemberIn] = Field(default_factory=list, max_length=500)


class TeamPatch(Strict):
    name: TeamName | None = None
    assignment: Literal["manual", "auto"] | None = None
    default: bool | None = None
    members: list[MemberIn] | None = Field(None, max_length=500, description="the whole member list (replaces it)")


def _lower(value: Any) -> Any:
    """Case-insensitive choices (a priority): their canonical lower-case spelling."""
    return value.strip().lower() if isinstance(value, str) else value


class RuleIn(Strict):
    name: str = Field("", max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")
    team: str = Field(min_length=1, max_length=64, description="the team's name")
    conditions: routing.Conditions = Field(default_factory=lambda: routing.Conditions.model_validate({}), description="all must hold; none: every conversation")
    set_priority: Annotated[Literal["low", "normal", "high", "urgent"], BeforeValidator(_lower)] | None = None
    add_tags: list[routing.Tag] = Field(default_factory=list, max_length=20)
    enabled: bool = True
    position: int | None = Field(None, ge=0, le=1_000_000, description="evaluation order (lowest first); default: after the others")


class RulePatch(Strict):
    name: str | None = Field(None, max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")
    team: str | None = Field(None, min_length=1, max_length=64)
    conditions: routing.Conditions | None = None
    set_priority: Annotated[Literal["low", "normal", "high", "urgent"], BeforeValidator(_lower)] | None = None
    add_tags: list[routing.Tag] | None = Field(None, max_length=20)
    enabled: bool | None = None
    position: int | None = Field(None, ge=0, le=1_000_000)


class RuleOrder(Strict):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(max_length=1000, description="rule ids, first evaluated first")


class StatusIn(Strict):
    status: Literal["online", "away", "offline"]


def team_json(s, team: Team, queues: dict[int, int] | None = None) -> dict[str, Any]:
    idle = rt().settings.agent_idle_seconds
    loads = assignment.loads(s, team.id)
    members = []
    for m in team.members:
        members.append({"user_id": m.user_id, "email": m.user.email, "name": m.user.name, "capacity": m.capacity,
                         "open": loads.get(m.user_id, 0), "status": assignment.status_of(s, m.user_id, idle)})
    waiting = (queues if queues is not None else assignment.queue_sizes(s)).get(team.id, 0)
    return {"id": team.id, "name": team.name, "assignment": team.assignment, "default": team.is_default,
            "members": members, "waiting": waiting, "created_at": team.created_at.isoformat()}


def rule_json(s, rule: RoutingRule) -> dict[str, Any]:
    team = s.get(Team, rule.team_id)
    return {"id": rule.id, "position": rule.position, "name": rule.name, "enabled": rule.enabled, "team": team.name if team else None,
            "conditions": {k: v for k, v in (rule.conditions or {}).items() if v is not None}, "set_priority": rule.set_priority,
            "add_tags": rule.add_tags or []}


def _team(s, team_id: int) -> Team:
    return _get(s, Team, team_id, "team")


def _team_named(s, name: str, field: str = "team") -> Team:
    team = assignment.team_named(s, name)
    if team is None:
        raise ApiError(400, f"{field}: no team named {name!r}", field=field)
    return team


def _check_conditions(s, cond: routing.Conditions) -> routing.Conditions:
    """The conditions in their canonical form (stored), or 400 naming the field."""
    try:
        return routing.check(s, cond)
    except routing.RuleError as exc:
        raise ApiError(400, str(exc), field=exc.field) from None


def _set_members(s, team: Team, members: list[MemberIn]) -> None:
    wanted: dict[int, int] = {}
    named: dict[int, str] = {}
    for m in members:
        uid = s.scalar(select(User.id).where(User.email == m.email.strip().lower()))
        if uid is None:
            raise ApiError(400, f"members: no user with email {m.email!r}", field="members")
        if uid in wanted:  # "Ana@x" and "ana@x" are one user: which capacity was meant is not ours to guess
            raise ApiError(400, f"members: {m.email.strip()!r} is listed twice (as {named[uid]!r} too; emails compare "
                                "regardless of case): list each member once", field="members")
        wanted[uid] = m.capacity
        named[uid] = m.email.strip()
    for row in list(team.members):
        if row.user_id not in wanted:
            team.members.remove(row)
        else:
            row.capacity = wanted.pop(row.user_id)
    for uid, capacity in wanted.items():
        team.members.append(TeamMember(user_id=uid, capacity=capacity))


def _set_default(s, team: Team, default: bool) -> None:
    if default:
        from sqlalchemy import update as sql_update

        s.execute(sql_update(Team).where(Team.id != team.id, Team.is_default.is_(True)).values(is_default=False))
    team.is_default = default


def _unique_team_name(s, name: str, team_id: int | None = None) -> None:
    """Team names are unique trimmed and regardless of case ("Billing" and "billing" are one
    team: lookups ignore case too); the unique index ``uq_teams_name_lower`` backs this up."""
    if assignment.name_key(name) in assignment.FILTER_WORDS:
        raise ApiError(400, f"name: {name!r} is reserved (the team filter's 'mine' and 'none')", field="name")
    other = assignment.team_named(s, name)
    if other is not None and other.id != team_id:
        raise ApiError(409, f"name: a team named {other.name!r} exists (names are unique regardless of case)", field="name")


@route("/teams", "GET", summary="Teams with their members (capacity, open conversations, status) and queue sizes", tag="teams")
def list_teams():
    with rt().db.read() as s:
        queues = assignment.queue_sizes(s)
        return jsonify({"items": [team_json(s, t, queues) for t in s.scalars(select(Team).order_by(Team.name))]})


@route("/teams", "POST", summary="Create a team (admin)", role="admin", body=TeamIn, tag="teams",
       responses={201: "Created", 409: "A team of that name exists"})
def create_team(data: TeamIn):
    with rt().db.session() as s:
        _unique_team_name(s, data.name)
        team = Team(name=data.name, assignment=data.assignment, is_default=False, rr_seq=0)
        s.add(team)
        s.flush()
        _set_default(s, team, data.default)
        _set_members(s, team, data.members)
        s.flush()
        _audit(s, "team.create", "team", team.id, name=team.name, assignment=team.assignment, default=team.is_default,
               members={m.user.email: m.capacity for m in team.members})
        body = team_json(s, team)
    assignment.assign_teams(rt(), [body["id"]])
    return jsonify(body), 201


@route("/teams/<int:team_id>", "GET", summary="A team", tag="teams")
def get_team(team_id: int):
    with rt().db.read() as s:
        return jsonify(team_json(s, _team(s, team_id)))


@route("/teams/<int:team_id>", "PATCH", summary="Change a team: name, assignment mode, default, members and capacities (admin)",
       role="admin", body=TeamPatch, tag="teams", responses={200: "OK", 409: "A team of that name exists"})
def patch_team(team_id: int, data: TeamPatch):
    with rt().db.session() as s:
        team = _team(s, team_id)
        changes = data.model_dump(exclude_unset=True)
        if data.name is not None and data.name != team.name:
            _unique_team_name(s, data.name, team.id)  # a change of case only is allowed
            team.name = data.name
        if data.assignment is not None:
            team.assignment = data.assignment
        if data.default is not None:
            _set_default(s, team, data.default)
        if data.members is not None:
            _set_members(s, team, data.members)
        s.flush()
        _audit(s, "team.update", "team", team.id, name=team.name, changed=sorted(changes),
               **({"members": {m.user.email: m.capacity for m in team.members}} if data.members is not None else {}),
               **({"assignment": team.assignment} if data.assignment is not None else {}))
        body = team_json(s, team)
    assignment.assign_teams(rt(), [team_id])  # a new member or more capacity takes waiting conversations
    return jsonify(body)


def team_holdings(s, team_id: int) -> int:
    """Open (open, pending or snoozed) conversations of the team: what removing it moves."""
    return s.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.team_id == team_id, Conversation.status.in_(assignment.ACTIVE))) or 0


@route("/teams/<int:team_id>", "DELETE", summary="Remove a team: its open conversations move to the default team (admin)",
       role="admin", tag="teams",
       responses={204: "Removed", 409: "Routing rules still send conversations to it, or it is the default team"})
def delete_team(team_id: int):
    """Its open, pending and snoozed conversations move to the default team (waiting ones keep
    their place in its queue; assigned ones keep their assignee), each with a timeline entry;
    with no default team they are left without a team. Resolved and closed ones lose the team.
    The default team itself cannot be removed: make another team the default (or none) first."""
    from sqlalchemy import delete as sql_delete
    from sqlalchemy import update as sql_update

    moved_to: int | None = None
    with rt().db.session() as s:
        # locked first, as an assignment does (hub.assignment): never a deadlock with one running
        team = s.get(Team, team_id, with_for_update=not rt().db.is_sqlite)
        if team is None:
            raise ApiError(404, f"team {team_id} not found")
        if team.is_default:
            raise ApiError(409, f"team {team.name!r} is the default team: make another team the default (or clear its "
                                "default flag) before removing it")
        rules = s.scalar(select(func.count()).select_from(RoutingRule).where(RoutingRule.team_id == team.id)) or 0
        if rules:
            raise ApiError(409, f"{rules} routing rule(s) send conversations to this team: change or remove them first")
        default = s.scalar(select(Team).where(Team.is_default.is_(True), Team.id != team.id).order_by(Team.id).limit(1))
        moved = 0
        for conv in s.scalars(select(Conversation).where(Conversation.team_id == team.id,
                                                          Conversation.status.in_(assignment.ACTIVE)).order_by(Conversation.id)).all():
            assignment.move_to_team(s, conv, default, g.principal.email, reason=f"team {team.name} removed")
            moved += 1
        s.flush()
        s.execute(sql_update(Conversation).where(Conversation.team_id == team.id).values(team_id=None, queued_at=None))
        s.execute(sql_delete(TeamMember).where(TeamMember.team_id == team.id))
        _audit(s, "team.delete", "team", team.id, name=team.name, moved=moved, to=default.name if default else None)
        s.delete(team)
        moved_to = default.id if default is not None and moved else None
    if moved_to is not None:
        assignment.assign_teams(rt(), [moved_to])
    return no_content()


@route("/routing-rules", "GET", summary="Routing rules in evaluation order (admin)", role="admin", tag="teams")
def list_rules():
    with rt().db.read() as s:
        rows = s.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)).all()
        return jsonify({"items": [rule_json(s, r) for r in rows]})


@route("/routing-rules", "POST", summary="Add a routing rule (admin; by default evaluated after the others)", role="admin",
       body=RuleIn, tag="teams", responses={201: "Created"})
def create_rule(data: RuleIn):
    with rt().db.session() as s:
        team = _team_named(s, data.team)
        cond = _check_conditions(s, data.conditions)
        rule = RoutingRule(name=data.name, team_id=team.id, enabled=data.enabled, set_priority=data.set_priority,
                           conditions=cond.model_dump(exclude_none=True), add_tags=sorted(set(data.add_tags)),
                           position=data.position if data.position is not None else routing.next_position(s))
        s.add(rule)
        s.flush()
        body = rule_json(s, rule)
        _audit(s, "routing_rule.create", "routing_rule", rule.id, **{k: v for k, v in body.items() if k != "id"})
    return jsonify(body), 201


@route("/routing-rules/<int:rule_id>", "GET", summary="A routing rule (admin)", role="admin", tag="teams")
def get_rule(rule_id: int):
    with rt().db.read() as s:
        return jsonify(rule_json(s, _get(s, RoutingRule, rule_id, "routing rule")))


@route("/routing-rules/<int:rule_id>", "PATCH", summary="Change a routing rule (admin)", role="admin", body=RulePatch, tag="teams")
def patch_rule(rule_id: int, data: RulePatch):
    with rt().db.session() as s:
        rule = _get(s, RoutingRule, rule_id, "routing rule")
        changes = data.model_dump(exclude_unset=True)
        if data.team is not None:
            rule.team_id = _team_named(s, data.team).id
        if data.name is not None:
            rule.name = data.name
        if data.conditions is not None:
            rule.conditions = _check_conditions(s, data.conditions).model_dump(exclude_none=True)
        if "set_priority" in changes:
            rule.set_priority = data.set_priority
        if data.add_tags is not None:
            rule.add_tags = sorted(set(data.add_tags))
        if data.enabled is not None:
            rule.enabled = data.enabled
        if data.position is not None:
            rule.position = data.position
        s.flush()
        body = rule_json(s, rule)
        _audit(s, "routing_rule.update", "routing_rule", rule.id, changed=sorted(changes), **{k: v for k, v in body.items() if k != "id"})
    return jsonify(body)


@route("/routing-rules/<int:rule_id>", "DELETE", summary="Remove a routing rule (admin)", role="admin", tag="teams",
       responses={204: "Removed"})
def delete_rule(rule_id: int):
    with rt().db.session() as s:
        rule = _get(s, RoutingRule, rule_id, "routing rule")
        _audit(s, "routing_rule.delete", "routing_rule", rule.id, name=rule.name)
        s.delete(rule)
    return no_content()


@route("/routing-rules/order", "PUT", summary="Reorder the routing rules: the given ids first, in this order (admin)",
       role="admin", body=RuleOrder, tag="teams")
def order_rules(data: RuleOrder):
    with rt().db.session() as s:
        rows = {r.id: r for r in s.scalars(select(RoutingRule))}
        unknown = [i for i in data.ids if i not in rows]
        if unknown:
            raise ApiError(400, f"ids: no routing rule {unknown[0]}", field="ids")
        order = list(dict.fromkeys(data.ids)) + [r.id for r in sorted(rows.values(), key=lambda r: (r.position, r.id)) if r.id not in data.ids]
        for i, rule_id in enumerate(order):
            rows[rule_id].position = (i + 1) * 10
        _audit(s, "routing_rule.reorder", "routing_rule", "", order=order)
        s.flush()
        return jsonify({"items": [rule_json(s, rows[i]) for i in order]})


@route("/agents", "GET", summary="Agents with their status (online, away, offline), teams and open conversations", tag="teams")
def list_agents():
    from hub.models import AgentStatus

    idle = rt().settings.agent_idle_seconds
    with rt().db.read() as s:
        users = s.scalars(select(User).where(User.active.is_(True)).order_by(User.email)).all()
        teams = {t.id: t.name for t in s.scalars(select(Team))}
        member_of: dict[int, list[str]] = {}
        for m in s.scalars(select(TeamMember)):
            member_of.setdefault(m.user_id, []).append(teams.get(m.team_id, ""))
        open_ = dict(s.execute(select(Conversation.assignee_id, func.count()).where(
            Conversation.assignee_id.is_not(None), Conversation.status.in_(assignment.ACTIVE)).group_by(Conversation.assignee_id)).all())
        statuses = {a.user_id: a for a in s.scalars(select(AgentStatus))}
        items = []
        for u in users:
            st = statuses.get(u.id)
            items.append({"user_id": u.id, "email": u.email, "name": u.name, "role": u.role,
                          "status": assignment.status_of(s, u.id, idle), "status_since": st.changed_at.isoformat() if st else None,
                          "teams": sorted(member_of.get(u.id, [])), "open": open_.get(u.id, 0)})
    return jsonify({"items": items})


@route("/agents/<who>/status", "PUT", summary="Set an agent's status: 'me' (any agent), or a user id (admin)", body=StatusIn,
       tag="teams", responses={200: "OK", 403: "Only admins set another agent's status"})
def set_agent_status(who: str, data: StatusIn):
    p = g.principal
    if who == "me":
        uid = p.user_id
    elif who.isdigit() and len(who) <= 19 and int(who) <= MAX_ID:
        uid = int(who)
    else:
        raise ApiError(404, f"agent {who!r} not found (use 'me' or a user id)")
    with rt().db.session() as s:
        user = s.get(User, uid)
        if user is None or not user.active:
            raise ApiError(404, f"agent {who} not found")
        if uid != p.user_id and not p.is_admin:
            raise ApiError(403, "only admins set another agent's status")
        row = assignment.set_status(s, uid, data.status)
        if uid != p.user_id:
            _audit(s, "agent.status", "user", uid, status=data.status)
        body = {"user_id": uid, "email": user.email, "status": row.status, "status_since": row.changed_at.isoformat()}
        teams = assignment.team_ids_of(s, uid)
    log.info("agent.status", user_id=uid, status=data.status, by=p.email)
    if data.status == "online":
        assignment.assign_teams(rt(), teams)  # waiting conversations, oldest first
    return jsonify(body)


@bp.route("/openapi.json")
def openapi():
    # OMNIHUB_PUBLIC_URL, never the Host header: a client must not choose where the
    # document tells API tools to send their bearer tokens
    return jsonify(spec.document(rt().settings.effective_public_url))
