"""/inbox: the agent's conversation list, a conversation's timeline, and live updates (SSE)."""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, g, render_template, request, url_for
from markupsafe import Markup, escape
from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from hub import assignment, audit, sla
from hub.models import AuditLog, Connector, Contact, Conversation, ConversationEvent, Identity, Message, Team, User
from hub.search import COUNT_CAP, MAX_QUERY_CHARS, MAX_WORDS, contact_highlights, conversation_search, highlights, parse
from hub.states import ConversationStatus
from hub.views import contact_json, conversation_json, prime
from hub.web import composer, presence, streams
from hub.web.models import ConversationRead
from hub.web.security import client_ip, login_required, rate_limit, rt
from hub.web.streams import change_marks, changed_conversations

bp = Blueprint("inbox", __name__, url_prefix="/inbox", template_folder="templates")

STATUSES = tuple(ConversationStatus)
PRIORITIES = ("low", "normal", "high", "urgent")
SLA_STATES = ("at_risk", "breached")
# The languages an agent can confirm for a conversation (normalizers.language.SUPPORTED).
LANGUAGE_NAMES: tuple[tuple[str, str], ...] = (
    ("en", "English"), ("es", "Español"), ("ca", "Català"), ("pt", "Português"),
    ("fr", "Français"), ("de", "Deutsch"), ("it", "Italiano"), ("nl", "Nederlands"),
)
FILTERS = ("status", "medium", "assignee", "team", "priority", "category", "language", "sla", "q", "sort")
#: list order: last activity (default), waiting longest (oldest customer message first),
#: priority (security-flagged, then urgent, high, normal, low; then last activity)
SORTS = ("activity", "waiting", "priority")
PAGE_SIZE = 50
#: saved views: (label, query parameters)
VIEWS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Open", {}),
    ("Mine", {"assignee": "me"}),
    ("Unassigned", {"assignee": "none"}),
    # the queues of the agent's teams, waiting longest first (docs/teams.md)
    ("My teams' queue", {"team": "mine", "assignee": "none", "sort": "waiting"}),
    ("Urgent & security first", {"sort": "priority"}),
    ("Waiting longest", {"sort": "waiting"}),
    ("Snoozed", {"status": "snoozed"}),
    ("All", {"status": "all"}),
)
AT_RISK = timedelta(minutes=15)
#: how long one SSE response lives before the browser reconnects (frees the server thread)
STREAM_SECONDS = 25.0
POLL_SECONDS = 1.0


# ------------------------------------------------------------------------ helpers
RANK = {"ok": 1, "met": 1, "at_risk": 2, "breached": 3}


def sla_state(conv: Conversation) -> str | None:
    """'breached', 'at_risk', 'ok' or None: the one SLA computation (hub.sla), as the API and
    the dashboard see it."""
    return sla.badge(conv)


def highlight_redactions(text: str, redactions: list[dict[str, Any]], message_id: int | None = None,
                         sealed: list[dict[str, Any]] | None = None) -> Markup:
    """Escape the text, then mark the redaction markers the pipeline left in it; a sealed
    value's placeholder becomes a one-click *Reveal* button (logged server-side)."""
    out = escape(text or "")
    for r in redactions or []:
        marker = r.get("marker")
        if marker:
            m = escape(marker)
            label = escape(f"redacted {r.get('kind', 'secret')}")
            out = Markup(out.replace(m, Markup(f'<mark class="redaction" title="{label}">{m}</mark>')))
    if message_id is not None and sealed:
        from normalizers.redact import SEALED_MARKER

        for item in sealed:
            ph = escape(SEALED_MARKER.format(what=item.get("kind"), ref=item.get("ref")))
            button = Markup(
                '<button type="button" class="reveal-sealed" data-url="/api/v1/messages/{mid}/sealed/{ref}/reveal" '
                'title="May be a private key or a transaction hash. Revealing it is logged.">{ph} Reveal</button>'
            ).format(mid=int(message_id), ref=int(item.get("ref") or 0), ph=ph)
            out = Markup(out.replace(ph, button))
    return out


def _filters() -> dict[str, str]:
    f = {k: (request.args.get(k) or "").strip() for k in FILTERS}
    if not f["medium"] and request.args.get("channel"):  # the filter's deprecated name
        f["medium"] = request.args["channel"].strip()
    if "status" not in request.args:
        f["status"] = ConversationStatus.OPEN
    return f


#: the "urgent & security first" order's expressions, as in ix_conversations_priority (0410_search_speed)
PRIORITY_FLAG: ColumnElement[int] = literal_column("(CASE WHEN conversations.security_flag THEN 1 ELSE 0 END)")
PRIORITY_RANK: ColumnElement[int] = literal_column("(CASE conversations.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END)")


def _sort_keys(sort: str) -> list[tuple[Any, bool]]:
    """(expression, descending) of a list order; the id last, so the order is total."""
    if sort == "waiting":
        return [(func.coalesce(Conversation.last_inbound_at, Conversation.last_message_at), False), (Conversation.id, False)]
    if sort == "priority":
        # constants written into the SQL (no parameters): the expressions of the index
        # ix_conversations_priority (migration 0410_search_speed), which serves this order
        return [(PRIORITY_FLAG, True), (PRIORITY_RANK, True), (Conversation.last_message_at, True), (Conversation.id, True)]
    return [(Conversation.last_message_at, True), (Conversation.id, True)]


def _cursor_values(c: Conversation, sort: str) -> list[Any]:
    if sort == "waiting":
        return [c.last_inbound_at or c.last_message_at, c.id]
    if sort == "priority":
        rank = {"urgent": 3, "high": 2, "normal": 1}.get(c.priority, 0)
        return [1 if c.security_flag else 0, rank, c.last_message_at, c.id]
    return [c.last_message_at, c.id]


def encode_cursor(values: list[Any]) -> str:
    return "~".join(v.isoformat() if isinstance(v, datetime) else str(int(v)) for v in values)


def decode_cursor(text: str, sort: str) -> list[Any] | None:
    """The cursor's values, or None for a malformed one (the first page is shown instead)."""
    parts = text.split("~")
    kinds = {"waiting": "ti", "priority": "iiti"}.get(sort, "ti")
    if len(parts) != len(kinds) or len(text) > 200:
        return None
    out: list[Any] = []
    try:
        for kind, part in zip(kinds, parts, strict=True):
            if kind == "t":
                when = datetime.fromisoformat(part)
                if when.tzinfo is None:  # the hub's cursors carry their UTC offset; a naive time is not one
                    return None
                out.append(when)
            else:
                value = int(part)
                if not -(2**62) < value < 2**62:  # beyond a database integer: not a cursor the hub made
                    return None
                out.append(value)
    except ValueError:
        return None
    return out


def _after(keys: list[tuple[Any, bool]], values: list[Any]):
    """Keyset condition: rows strictly after ``values`` in the order ``keys``."""
    ors = []
    for i, (expr, desc) in enumerate(keys):
        ands = [keys[j][0] == values[j] for j in range(i)]
        ands.append(expr < values[i] if desc else expr > values[i])
        ors.append(and_(*ands))
    return or_(*ors)


def filtered(s, f: dict[str, str], user_id: int):
    """The list's query with every filter applied (no order, no page)."""
    q = select(Conversation)
    if f["status"] and f["status"] != "all":
        q = q.where(Conversation.status.in_(f["status"].split(",")))
    if f["priority"]:
        q = q.where(Conversation.priority == f["priority"])
    if f["category"]:
        q = q.where(Conversation.category == f["category"])
    if f["language"]:
        q = q.where(Conversation.language == f["language"])
    if f["medium"]:
        q = q.join(Identity, Identity.id == Conversation.identity_id).where(Identity.medium == f["medium"])
    if f["assignee"] == "none":
        q = q.where(Conversation.assignee_id.is_(None))
    elif f["assignee"] == "me":
        q = q.where(Conversation.assignee_id == user_id)
    elif f["assignee"]:
        uid = s.scalar(select(User.id).where(User.email == f["assignee"].lower()))
        q = q.where(Conversation.assignee_id == (uid or -1))
    if f["team"]:
        q = q.where(assignment.team_filter(s, f["team"], user_id))
    if f["q"]:
        q = q.where(conversation_search(f["q"], s))
    return q


def query_conversations(s, f: dict[str, str], user_id: int, limit: int = PAGE_SIZE,
                        after: str | None = None) -> tuple[list[Conversation], str | None, int]:
    """One page of the list: (rows, cursor of the next page or None, total). The total is
    exact, except for a search: counted up to COUNT_CAP + 1 (hub.search), so a word found in
    half a million messages does not make every page count them all."""
    sort = f.get("sort") or "activity"
    if sort not in SORTS:
        sort = "activity"
    q = filtered(s, f, user_id)
    keys = _sort_keys(sort)
    if f["sla"]:  # the SLA state is computed, not stored: filter in Python over a bounded set
        rows = s.scalars(q.order_by(*[k.desc() if d else k.asc() for k, d in keys]).limit(2000)).all()
        rows = [c for c in rows if sla_state(c) == f["sla"]]
        return rows[:limit], None, len(rows)
    order = [k.desc() if d else k.asc() for k, d in keys]
    values = decode_cursor(after, sort) if after else None
    if f["q"] and values is None:
        # a search's first page: one pass in the list order gives the capped count and the
        # page (the ids up to COUNT_CAP + 1, then the page's rows by primary key)
        ids = list(s.scalars(q.with_only_columns(Conversation.id).order_by(*order).limit(max(COUNT_CAP, limit) + 1)))
        page = ids[: limit + 1]
        found = {c.id: c for c in s.scalars(select(Conversation).where(Conversation.id.in_(page)))} if page else {}
        rows = [found[i] for i in page if i in found]
        total = min(len(ids), COUNT_CAP + 1)
    else:
        counted = q.limit(COUNT_CAP + 1) if f["q"] else q
        total = s.scalar(select(func.count()).select_from(counted.subquery())) or 0
        if values is not None:
            q = q.where(_after(keys, values))
        rows = s.scalars(q.order_by(*order).limit(limit + 1)).all()
    nxt = encode_cursor(_cursor_values(rows[limit - 1], sort)) if len(rows) > limit else None
    return list(rows[:limit]), nxt, total


def needs_attention(s, user_id: int, shown: set[int], limit: int = 20) -> list[Conversation]:
    """Open conversations that must never be out of reach: security-flagged, urgent or past
    their SLA, oldest first, that the current page does not already show."""
    open_ = Conversation.status.in_((ConversationStatus.OPEN, ConversationStatus.PENDING))
    flagged = s.scalars(
        select(Conversation).where(open_, or_(Conversation.security_flag.is_(True), Conversation.priority == "urgent"))
        .order_by(Conversation.last_message_at.asc()).limit(200)
    ).all()
    with_sla = s.scalars(select(Conversation).where(open_, Conversation.sla.is_not(None)).order_by(Conversation.last_message_at.asc()).limit(500)).all()
    breached = [c for c in with_sla if sla_state(c) == "breached"]
    seen: set[int] = set()
    out = []
    for c in [*flagged, *breached]:
        if c.id in shown or c.id in seen:
            continue
        seen.add(c.id)
        out.append(c)
    return out[:limit]


def unread_counts(s, user_id: int, conv_ids: list[int]) -> dict[int, int]:
    if not conv_ids:
        return {}
    q = (
        select(Message.conversation_id, func.count())
        .outerjoin(ConversationRead, and_(ConversationRead.conversation_id == Message.conversation_id, ConversationRead.user_id == user_id))
        .where(
            Message.conversation_id.in_(conv_ids),
            Message.direction == "inbound",
            Message.kind.in_(("message", "voicemail", "missed_call")),
            Message.id > func.coalesce(ConversationRead.last_message_id, 0),
        )
        .group_by(Message.conversation_id)
    )
    return {cid: n for cid, n in s.execute(q)}


def total_unread(s, user_id: int) -> int:
    q = (
        select(func.count())
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .outerjoin(ConversationRead, and_(ConversationRead.conversation_id == Message.conversation_id, ConversationRead.user_id == user_id))
        .where(
            Conversation.status.in_((ConversationStatus.OPEN, ConversationStatus.PENDING)),
            Message.direction == "inbound",
            Message.kind.in_(("message", "voicemail", "missed_call")),
            Message.id > func.coalesce(ConversationRead.last_message_id, 0),
        )
    )
    return s.scalar(q) or 0


def mark_read(user_id: int, conv_id: int) -> None:
    """Mark the conversation read; opening a security-flagged one is audited (hub.audit).
    A conversation removed meanwhile (an erasure) is a 404."""
    try:
        _mark_read(user_id, conv_id)
    except IntegrityError:
        abort(404, description=f"conversation {conv_id} not found")


def _mark_read(user_id: int, conv_id: int) -> None:
    with rt().db.session() as s:
        if s.get(Conversation, conv_id) is None:  # removed by retention or erasure: a stale link or an open tab
            abort(404, description=f"conversation {conv_id} not found: it may have been removed by a retention policy or an erasure")
        audit.record_view(s, g.principal.email, conv_id, via="inbox")
        last = s.scalar(select(func.max(Message.id)).where(Message.conversation_id == conv_id)) or 0
        row = s.scalar(select(ConversationRead).where(ConversationRead.user_id == user_id, ConversationRead.conversation_id == conv_id))
        if row is None:
            s.add(ConversationRead(user_id=user_id, conversation_id=conv_id, last_message_id=last))
        elif row.last_message_id < last:
            row.last_message_id = last
            row.read_at = datetime.now(UTC)


def _options(s) -> dict[str, list[str]]:
    return {
        "media": sorted(x for x in s.scalars(select(Identity.medium).distinct()) if x),
        "categories": sorted(x for x in s.scalars(select(Conversation.category).distinct()) if x),
        "languages": sorted(x for x in s.scalars(select(Conversation.language).distinct()) if x),
        "users": [u.email for u in s.scalars(select(User).where(User.active.is_(True)).order_by(User.email))],
        "teams": list(s.scalars(select(Team.name).order_by(Team.name))),
    }


def search_note(term: str) -> str | None:
    """What the list says when only the beginning of a long query was searched."""
    if not term or not parse(term).shortened:
        return None
    return (f"Your search was shortened: only its first {MAX_QUERY_CHARS} characters and {MAX_WORDS} words "
            "(of at most 6 parts each) are searched.")


def list_context(s, f: dict[str, str]) -> dict[str, Any]:
    uid = g.principal.user_id
    after = (request.args.get("after") or "").strip() or None
    rows, nxt, total = query_conversations(s, f, uid, after=after)
    default_view = not after and f["status"] == ConversationStatus.OPEN and not any(f[k] for k in FILTERS if k not in ("status", "sort"))
    pinned = needs_attention(s, uid, {c.id for c in rows}) if default_view else []
    counts = unread_counts(s, uid, [c.id for c in rows + pinned])
    contacts = contact_highlights(s, [c.id for c in rows], f["q"]) if f["q"] else {}
    marked = highlights(s, [c.id for c in rows], f["q"], contacts=contacts) if f["q"] else {}
    shown = rows + pinned
    kept = prime(s, shown)  # noqa: F841  (held while the items are built)
    # the previews: each conversation's newest message, in one query
    newest = select(func.max(Message.id)).where(Message.conversation_id.in_([c.id for c in shown])).group_by(Message.conversation_id)
    previews = dict(s.execute(select(Message.conversation_id, Message.text).where(Message.id.in_(newest))).all()) if shown else {}

    def item(c: Conversation) -> dict[str, Any]:
        d = conversation_json(s, c)
        d["unread"] = counts.get(c.id, 0)
        d["sla_state"] = sla_state(c)
        d["preview"] = (previews.get(c.id) or "")[:140]
        if c.id in marked:  # escaped, then the matching words in <mark> (hub.search)
            d["highlight"] = marked[c.id]
        if c.id in contacts:  # the contact's field that matched, marked the same way
            d["highlight_contact"] = contacts[c.id]
        return d

    items = [item(c) for c in rows]
    qs = urlencode({k: v for k, v in f.items() if v})
    first = 0
    if after:
        try:
            first = max(0, int(request.args.get("from", "0")))
        except ValueError:
            first = 0
    views = [{"label": label, "url": url_for("inbox.index") + ("?" + urlencode(params) if params else ""),
              "current": all(f.get(k) == v for k, v in params.items()) and not any(
                  f.get(k) for k in FILTERS if k not in params and not (k == "status" and f[k] == ConversationStatus.OPEN))}
             for label, params in VIEWS]
    next_url = (url_for("inbox.index") + "?" + urlencode({**{k: v for k, v in f.items() if v}, "after": nxt, "from": first + len(items)})) if nxt else None
    return {"items": items, "pinned": [item(c) for c in pinned], "filters": f, "filters_qs": f"?{qs}" if qs else "",
            "total_unread": total_unread(s, uid), "total": total, "total_capped": bool(f["q"]) and total > COUNT_CAP,
            "count_cap": COUNT_CAP, "search_note": search_note(f["q"]), "first": first, "next_url": next_url,
            "first_url": url_for("inbox.index") + (f"?{qs}" if qs else "") if after else None, "views": views, "sorts": SORTS}


def timeline(s, conv: Conversation) -> list[dict[str, Any]]:
    """Messages and replies in time order, each marked with its kind."""
    full = conversation_json(s, conv, full=True)
    entries = []
    for m in full["messages"]:
        if m["kind"] == "status":
            continue
        entries.append({"type": "message", "at": m["sent_at"], **m, "html_text": highlight_redactions(m["text"], m["redactions"], m["id"], m.get("sealed"))})
    for r in full["replies"]:
        entries.append({"type": "reply", "at": r["created_at"], **r})
    for ev in s.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conv.id).order_by(ConversationEvent.id).limit(500)):
        entries.append({"type": "event", "at": ev.at.isoformat(), "id": ev.id, "kind": ev.kind, "actor": ev.actor,
                        "details": ev.details or {}, "text": event_text(ev.kind, ev.details or {}, ev.actor)})
    entries.sort(key=lambda e: (e["at"] or "", e["type"] != "message", e["id"]))
    return entries


def event_text(kind: str, d: dict[str, Any], actor: str) -> str:
    """One line for a timeline entry of hub.assignment / hub.routing."""
    by = "" if actor == "system" else f" by {actor}"
    if kind == "routed":
        extra = "".join([f", priority {d['priority']}" if d.get("priority") else "", f", tags {', '.join(d['tags'])}" if d.get("tags") else ""])
        return f"Routed to team {d.get('team')} ({d.get('rule')}){extra}"
    if kind == "assigned":
        how = f" ({d['how']})" if d.get("how") else ""
        return f"Assigned to {d.get('assignee')}{how}{by}" + (f", was {d['previous']}" if d.get("previous") else "")
    if kind == "unassigned":
        why = f" ({d['reason']})" if d.get("reason") else ""
        return f"Unassigned{by}" + (f" (was {d['previous']}){why}; back in the team queue" if d.get("previous") else why)
    if kind == "returned":
        return f"Returned to the team queue: {d.get('previous')}, {d.get('reason')}" + (f" (by {d['by']})" if d.get("by") else "")
    if kind == "team":
        why = f" ({d['reason']})" if d.get("reason") else ""
        return (f"Moved to team {d['team']}{by}" if d.get("team") else f"Removed from its team{by}") + why
    if kind == "command_stop":
        return f"{actor} replied {d.get('word') or 'STOP'!r}: opted out, replies to them are refused until they opt back in"
    if kind == "command_start":
        return f"{actor} replied {d.get('word') or 'START'!r}: opted back in"
    if kind == "command_help":
        return f"{actor} replied {d.get('word') or 'HELP'!r} (a carrier keyword; the carrier answers it)"
    return f"{kind}{by}"


def _adapter(conn: Connector):
    """The connector's adapter (its class if the stored configuration no longer validates)."""
    from hub.connectors import adapter_class
    from hub.errors import ConfigError

    try:
        return current_app.extensions["omnihub.connectors"].adapter(conn)
    except ConfigError:
        try:
            return adapter_class(conn.kind)
        except ConfigError:
            return None


def conversation_context(s, conv_id: int) -> dict[str, Any]:
    conv = s.get(Conversation, conv_id)
    if conv is None:
        abort(404, description=f"conversation {conv_id} not found")
    data = conversation_json(s, conv)
    data["sla_state"] = sla_state(conv)
    conn = s.get(Connector, conv.connector_id)
    contact = contact_json(s, s.get(Contact, conv.contact_id), with_conversations=True)
    return {
        "conv": data,
        "entries": timeline(s, conv),
        "contact": contact,
        "limits": composer.limits(_adapter(conn), data["medium"], conv.thread_key, conv.last_inbound_at),
        "connector_kind": conn.kind,
        "languages": LANGUAGE_NAMES,
        # an agent corrects triage from the header (a false "hacked account" alarm, say)
        "categories": _categories(),
    }


@functools.cache
def _categories() -> tuple[str, ...]:
    """The triage categories an agent can pick (imported on first use: the triage module compiles
    its rules at import, which the web process otherwise never needs)."""
    from normalizers.triage import CATEGORIES

    return tuple(c for c in CATEGORIES if c != "command")


# -------------------------------------------------------------------------- pages
@bp.get("")
@bp.get("/")
@login_required()
def index():
    f = _filters()
    with rt().db.read() as s:
        ctx = list_context(s, f)
        opts = _options(s)
    return render_template("inbox.html", **ctx, options=opts, conv=None, statuses=STATUSES, priorities=PRIORITIES,
                           canned=composer.canned_responses(rt().settings.var_dir))


@bp.get("/c/<int:conv_id>")
@login_required()
def conversation(conv_id: int):
    f = _filters()
    with rt().db.read() as s:
        cctx = conversation_context(s, conv_id)  # 404 first when it is gone (nothing to mark read)
    mark_read(g.principal.user_id, conv_id)  # before the list: it shows the conversation read
    with rt().db.read() as s:
        ctx = list_context(s, f)
        opts = _options(s)
    return render_template("inbox.html", **ctx, **cctx, options=opts, statuses=STATUSES, priorities=PRIORITIES,
                           canned=composer.canned_responses(rt().settings.var_dir))


@bp.get("/fragment/list")
@login_required()
def list_fragment():
    with rt().db.read() as s:
        ctx = list_context(s, _filters())
    resp = Response(render_template("_list.html", **ctx, current=request.args.get("current", type=int)))
    resp.headers["X-Unread"] = str(ctx["total_unread"])
    return resp


@bp.get("/fragment/c/<int:conv_id>")
@login_required()
def conversation_fragment(conv_id: int):
    with rt().db.read() as s:
        cctx = conversation_context(s, conv_id)  # 404 when it is gone (erased): the pane says so (inbox.js)
    mark_read(g.principal.user_id, conv_id)
    return render_template("_timeline.html", **cctx)


# ---------------------------------------------------------------- notifications
def _who(conv: Conversation, ident: Identity | None, contact_name: str | None) -> str:
    name = contact_name or (ident.display_name if ident else "") or (ident.address if ident else "") or "a customer"
    return f"{name} ({ident.medium})" if ident else name


def _notification_marks(s) -> list[int]:
    return [s.scalar(select(func.max(Conversation.id))) or 0, s.scalar(select(func.max(Message.id))) or 0,
            s.scalar(select(func.max(AuditLog.id))) or 0, s.scalar(select(func.max(ConversationEvent.id))) or 0]


@bp.get("/notifications")
@login_required()
def notifications():
    """What this agent should be told about since ``since`` (the cursor the previous call
    returned; without it, only a cursor): new conversations in the view they are looking at
    (the list's filters, from the query string), new customer messages in conversations
    assigned to them, and conversations someone else assigned to them. Never message text:
    a notification names the contact and the medium only."""
    uid, email = g.principal.user_id, g.principal.email.lower()
    try:
        after = [int(x) for x in (request.args.get("since") or "").split("~")] if request.args.get("since") else None
    except ValueError:
        after = None
    with rt().db.read() as s:
        marks = _notification_marks(s)
        items: list[dict[str, Any]] = []
        if after is not None and len(after) in (3, 4):
            conv_after, msg_after = after[0], after[1]
            # a cursor from before conversation events (3 parts): assignments from now on
            event_after = after[3] if len(after) == 4 else marks[3]
            seen: set[int] = set()
            new_convs = s.scalars(filtered(s, _filters(), uid).where(Conversation.id > conv_after)
                                  .order_by(Conversation.id).limit(20)).all()
            # assigned to them by someone else, or automatically (hub.assignment): the timeline's events
            assigned_ids = [e.conversation_id for e in s.scalars(
                select(ConversationEvent).where(ConversationEvent.id > event_after, ConversationEvent.kind == "assigned",
                                                ConversationEvent.actor != g.principal.email)
                .order_by(ConversationEvent.id).limit(50)) if str((e.details or {}).get("assignee", "")).lower() == email]
            msg_convs = list(s.scalars(
                select(Message.conversation_id).join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.id > msg_after, Message.direction == "inbound", Message.kind == "message",
                       Conversation.assignee_id == uid, Conversation.id <= conv_after).distinct().limit(20)))
            wanted = [("conversation", c.id) for c in new_convs] + [("assigned", i) for i in assigned_ids] + \
                     [("message", i) for i in msg_convs]
            convs = {c.id: c for c in s.scalars(select(Conversation).where(Conversation.id.in_({i for _, i in wanted})))}
            idents = {i.id: i for i in s.scalars(select(Identity).where(Identity.id.in_({c.identity_id for c in convs.values()})))}
            names = dict(s.execute(select(Contact.id, Contact.name).where(Contact.id.in_({c.contact_id for c in convs.values()}))).all())
            titles = {"conversation": "New conversation", "assigned": "Assigned to you", "message": "New message"}
            for kind, cid in wanted:
                c = convs.get(cid)
                if c is None or (kind != "assigned" and cid in seen):
                    continue
                seen.add(cid)
                who = _who(c, idents.get(c.identity_id), names.get(c.contact_id))
                items.append({"kind": kind, "conversation": cid, "title": titles[kind],
                              "body": ("Security: " if c.security_flag else "") + who,
                              "url": url_for("inbox.conversation", conv_id=cid)})
    return {"cursor": "~".join(str(m) for m in marks), "items": items[:20]}


# ---------------------------------------------------------------- live updates
@bp.post("/c/<int:conv_id>/typing")
@login_required()
def typing(conv_id: int):
    """The agent is typing a reply: the customer's widget shows "Support is typing…".
    Only the fact is sent, never the draft; the composer throttles these signals."""
    if not rate_limit(f"typing:agent:{g.principal.user_id}", 120, 60):
        return Response(status=429, headers={"Retry-After": "60"})
    with rt().db.read() as s:
        if s.get(Conversation, conv_id) is None:
            abort(404)
    presence.note(rt(), conv_id, "agent")
    return Response(status=204)


@bp.get("/events")
@login_required()
def events():
    """Server-sent events: ``change`` with the ids of conversations that changed.

    The web process cannot see worker events directly, so the stream polls the database
    for rows newer than its cursor (new messages, reply state changes, conversation
    updates). Each response lives STREAM_SECONDS; EventSource reconnects on its own.
    """
    runtime = rt()
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as the app
    stream_seconds = app.config.get("OMNIHUB_SSE_SECONDS", STREAM_SECONDS)
    with runtime.db.read() as s:
        marks = change_marks(s)

    def on_change(ids: list[int], _addresses: set[str]) -> str:
        return f"event: change\ndata: {json.dumps({'conversations': ids})}\n\n"

    on_typing = presence.inbox_watcher(runtime.settings.typing_seconds)

    def in_thread():
        """Where the socket cannot be handed over: poll in this thread, as before."""
        seen = marks
        deadline = time.monotonic() + stream_seconds
        last_ping = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            typing_text = on_typing(presence.active(runtime))
            if typing_text:
                yield typing_text
            with runtime.db.read() as s:
                now_marks = change_marks(s)
                if now_marks != seen:
                    ids = changed_conversations(s, seen)
                    seen = now_marks
                    if ids:  # an audit entry alone (a sign-in) changes the marks, not a conversation
                        yield on_change(ids, set())
                        continue
            if time.monotonic() - last_ping > 10:
                last_ping = time.monotonic()
                yield ": ping\n\n"

    body = streams.open_stream(client_ip(), stream_seconds, "retry: 1000\n\n", on_change, in_thread, marks,
                               on_typing=on_typing)
    if body is None:
        resp = Response('{"error": "too many open streams, try again later"}', status=429, mimetype="application/json")
        resp.headers["Retry-After"] = "30"
        return resp
    resp = Response(body, mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp
