"""The web chat widget: /widget.js and the public endpoints it talks to.

A visitor has no secret to sign api-channel requests with, so these endpoints stand in for
the signed webhook: they are served only for connectors whose adapter config has
``widget: true``, check the Origin against ``widget_origins``, rate-limit per visitor and
IP, and journal exactly like the webhook path (journal.record, then schedule "ingest").
The visitor id (random, kept in the browser's localStorage) is the only key to the
visitor's conversation, so it is long and random, and never shown to anyone else.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from flask import Blueprint, Response, current_app, jsonify, make_response, render_template, request, send_file
from sqlalchemy import select

from hub import journal
from hub.errors import ConfigError
from hub.models import Connector, Conversation, Identity, Message, Reply
from hub.states import ReplyState
from hub.types import RawEvent
from hub.web import presence, streams
from hub.web.security import client_ip, login_required, rate_limit, rt
from hub.web.streams import change_marks

bp = Blueprint("widget", __name__)
log = structlog.get_logger("omnihub.widget")

VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_TEXT = 4000
SENT_STATES = (ReplyState.SENT, ReplyState.DELIVERED, ReplyState.READ)
STREAM_SECONDS = 25.0
POLL_SECONDS = 0.7
STATIC = Path(__file__).parent / "static"


class WidgetError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def _widget_connector(name: str):
    """(row, adapter) of a connector serving the widget, else WidgetError(404)."""
    with rt().db.read() as s:
        row = s.scalar(select(Connector).where(Connector.name == name))
        if row is not None:
            s.expunge(row)
    if row is None or not row.enabled:
        raise WidgetError(404, "no chat here")
    try:
        adapter = current_app.extensions["omnihub.connectors"].adapter(row)
    except ConfigError:
        raise WidgetError(404, "no chat here") from None
    if not getattr(adapter.config, "widget", False):
        raise WidgetError(404, "no chat here")
    return row, adapter


def allowed_origins(widget_origins: list[str] | None, public_url: str) -> set[str]:
    """The origins whose pages may embed a connector's widget: its ``widget_origins`` and
    always the hub's own origin (its pages are the hub's: the widget test page)."""
    return {_origin_of(o) for o in (widget_origins or [])} | {_origin_of(public_url)}


def _allowed_origins(adapter) -> set[str]:
    return allowed_origins(getattr(adapter.config, "widget_origins", None), rt().settings.effective_public_url)


#: refused origins remembered per connector, for the admin console (newest kept)
REFUSED_KEEP = 20
REFUSED_DAYS = 30
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(?::\d{1,5})?$|^https?://\[[0-9a-f:.]{2,45}\](?::\d{1,5})?$")


def _refused_key(name: str) -> str:
    return f"{rt().settings.queue_prefix}:widget:refused:{name}"


def _note_refused(name: str, origin: str) -> None:
    """Remember a refused Origin so an admin sees why the widget does not work on a site.
    Bounded whatever a client sends: only well-formed origins, the newest REFUSED_KEEP per
    connector, forgotten after REFUSED_DAYS; a Redis failure only skips the note."""
    value = origin.strip().lower()
    if not _ORIGIN.match(value):
        return
    try:
        pipe = rt().redis.pipeline()
        key = _refused_key(name)
        pipe.zadd(key, {value: time.time()})
        pipe.zremrangebyrank(key, 0, -(REFUSED_KEEP + 1))
        pipe.expire(key, REFUSED_DAYS * 86400)
        pipe.execute()
    except Exception as exc:  # the 403 matters, the note does not
        log.warning("widget.refused_note_failed", error=str(exc))


def refused_origins(name: str) -> list[tuple[str, datetime]]:
    """Recently refused origins of a connector's widget, newest first."""
    try:
        rows = rt().redis.zrevrange(_refused_key(name), 0, REFUSED_KEEP - 1, withscores=True)
    except Exception:
        return []
    out = []
    for member, score in rows:
        origin = member.decode() if isinstance(member, bytes) else str(member)
        out.append((origin, datetime.fromtimestamp(score, UTC)))
    return out


def _check_origin(adapter, required: bool) -> str | None:
    origin = request.headers.get("Origin")
    if not origin:
        if required:
            raise WidgetError(403, "origin required")
        return None
    if origin.lower() not in _allowed_origins(adapter):
        log.info("widget.origin_refused", origin=origin[:200])
        _note_refused(adapter.ctx.name, origin)
        raise WidgetError(403, "this site may not use the chat")
    return origin


def _cors(resp: Response, origin: str | None) -> Response:
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST"
        resp.headers["Access-Control-Allow-Headers"] = "Content-Type"
        resp.headers["Access-Control-Max-Age"] = "600"
    resp.headers["Vary"] = "Origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.errorhandler(WidgetError)
def _widget_error(exc: WidgetError):
    resp = jsonify({"error": str(exc)})
    resp.status_code = exc.status
    return _cors(resp, None)


def _visitor(value: str | None) -> str:
    if not isinstance(value, str) or not VISITOR.match(value):
        raise WidgetError(400, "visitor: 16-64 characters of A-Z a-z 0-9 _ -")
    return value


@bp.get("/widget.js")
def script():
    resp = send_file(STATIC / "widget.js", mimetype="text/javascript", max_age=300)
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.get("/widget/<name>/try")
@login_required()
def try_page(name: str):
    """A page of the hub that embeds the connector's widget exactly as a customer's site
    does, to try it before touching the site. Signed-in agents and admins only (it is not a
    public chat page); it widens nothing: the hub's own origin is always allowed."""
    _row, adapter = _widget_connector(name)
    public = rt().settings.effective_public_url.rstrip("/")
    allowed = sorted(o for o in _allowed_origins(adapter) if o != _origin_of(public))
    resp = make_response(render_template("widget_try.html", name=name, allowed=allowed, refused=refused_origins(name),
                                         snippet=f'<script src="{public}/widget.js" data-connector="{name}" async></script>'))
    # the widget styles its shadow root with a <style> element: allowed on this page only
    from hub.web.security import CSP

    resp.headers["Content-Security-Policy"] = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return resp


@bp.route("/widget/<name>/messages", methods=["OPTIONS"])
@bp.route("/widget/<name>/stream", methods=["OPTIONS"])
@bp.route("/widget/<name>/typing", methods=["OPTIONS"])
def preflight(name: str):
    _row, adapter = _widget_connector(name)
    origin = _check_origin(adapter, required=True)
    return _cors(Response(status=204), origin)


_LANG_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_ACCEPT_LANGUAGE = re.compile(r"^[A-Za-z0-9\-_,;=.* ]{1,200}$")


def _language_hints(data: dict[str, Any]) -> dict[str, str]:
    """The browser's language (navigator.language, sent by widget.js) and Accept-Language:
    priors for language detection (normalizers.language). Malformed values are dropped."""
    out: dict[str, str] = {}
    nav = data.get("language")
    if isinstance(nav, str) and _LANG_TAG.match(nav):
        out["language"] = nav
    header = request.headers.get("Accept-Language", "")
    if header and _ACCEPT_LANGUAGE.match(header):
        out["accept_language"] = header
    return out


@bp.post("/widget/<name>/messages")
def post_message(name: str):
    row, adapter = _widget_connector(name)
    origin = _check_origin(adapter, required=True)
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise WidgetError(400, "body must be a JSON object")
    visitor = _visitor(data.get("visitor"))
    if not rate_limit(f"widget:{name}:v:{visitor}", 20, 60) or not rate_limit(f"widget:{name}:ip:{client_ip()}", 120, 60):
        resp = jsonify({"error": "too many messages, wait a minute"})
        resp.status_code = 429
        resp.headers["Retry-After"] = "60"
        return _cors(resp, origin)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise WidgetError(400, "text: required")
    if len(text) > MAX_TEXT:
        raise WidgetError(400, f"text: at most {MAX_TEXT} characters")
    client_id = data.get("id") if isinstance(data.get("id"), str) and CLIENT_ID.match(data["id"]) else uuid.uuid4().hex
    sender: dict[str, Any] = {"id": f"widget-{visitor}"}
    for key, limit in (("name", 120), ("email", 320)):
        v = data.get(key)
        if isinstance(v, str) and v.strip():
            sender[key] = v.strip()[:limit]
    if sender.get("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", sender["email"]):
        raise WidgetError(400, "email: not an email address")
    page = data.get("page") if isinstance(data.get("page"), str) else None
    external_id = f"widget:{visitor}:{client_id}"
    payload = {
        "id": external_id,
        "from": sender,
        "text": text,
        "sent_at": datetime.now(UTC).isoformat(),
        "thread": f"widget-{visitor}",
        "widget": {"origin": origin, **({"page": page[:500]} if page else {}), **_language_hints(data)},
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    event = RawEvent(external_id=external_id, hook="messages", payload=body, content_type="application/json")
    runtime = rt()
    with runtime.db.write() as conn:
        ids = journal.record(conn, runtime.box, row.id, [event], sweep_after=runtime.settings.sweep_after)
    # Journaled and committed: a Redis hiccup is left to the sweeper.
    try:
        runtime.queues.schedule("ingest", ids)
    except Exception as exc:
        log.error("widget.enqueue_failed", connector=name, error=str(exc), note="the sweeper will pick the event up")
    resp = jsonify({"id": client_id, "accepted": True})
    resp.status_code = 202
    return _cors(resp, origin)


def _conversation_ids(s, row: Connector, visitor: str) -> list[int]:
    """The visitor's conversations on this connector, newest first."""
    ident = s.scalar(select(Identity).where(Identity.address == f"{row.name}:widget-{visitor}"))
    if ident is None:
        return []
    return list(s.scalars(select(Conversation.id).where(Conversation.identity_id == ident.id, Conversation.connector_id == row.id)
                          .order_by(Conversation.id.desc())))


@bp.route("/widget/<name>/typing", methods=["POST"])
def typing(name: str):
    """The visitor is typing: the agent's open conversation shows "Customer is typing…".

    Unauthenticated like posting a message, so it is held to the same rules: the connector must
    serve the widget, the page's origin must be allowed (fail closed), the visitor id must be
    well formed, and it is rate limited per visitor and per address. It writes nothing to the
    database and carries nothing but the visitor id: no text of the draft."""
    row, adapter = _widget_connector(name)
    origin = _check_origin(adapter, required=True)
    if request.content_length is not None and request.content_length > 512:
        raise WidgetError(413, "body too large")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise WidgetError(400, "body must be a JSON object")
    visitor = _visitor(data.get("visitor"))
    if not rate_limit(f"widget:{name}:typing:{visitor}", 30, 60) or not rate_limit(f"widget:{name}:typing-ip:{client_ip()}", 120, 60):
        resp = jsonify({"error": "too many typing signals"})
        resp.status_code = 429
        resp.headers["Retry-After"] = "60"
        return _cors(resp, origin)
    with rt().db.read() as s:
        ids = _conversation_ids(s, row, visitor)
    if ids:  # before the first message there is no conversation for an agent to look at
        presence.note(rt(), ids[0], "customer")
    return _cors(Response(status=204), origin)


def _entries(row: Connector, visitor: str) -> list[dict[str, Any]]:
    with rt().db.read() as s:
        conv_ids = _conversation_ids(s, row, visitor)
        if not conv_ids:
            return []
        out = []
        prefix = f"widget:{visitor}:"
        for m in s.scalars(select(Message).where(Message.conversation_id.in_(conv_ids), Message.kind == "message").order_by(Message.id.desc()).limit(100)):
            out.append({
                "id": f"m{m.id}",
                "client_id": m.external_id[len(prefix):] if m.external_id.startswith(prefix) else None,
                "from": "visitor" if m.direction == "inbound" else "agent",
                "text": "" if m.deleted else m.text,
                "at": m.sent_at.isoformat(),
            })
        for r in s.scalars(select(Reply).where(Reply.conversation_id.in_(conv_ids), Reply.kind != "note", Reply.state.in_(SENT_STATES)).order_by(Reply.id.desc()).limit(100)):
            out.append({"id": f"r{r.id}", "from": "agent", "author": r.author_name or "Support", "text": r.text, "at": (r.sent_at or r.created_at).isoformat()})
    out.sort(key=lambda e: (e["at"], e["id"]))
    return out[-100:]


@bp.get("/widget/<name>/messages")
def history(name: str):
    row, adapter = _widget_connector(name)
    origin = _check_origin(adapter, required=False)
    visitor = _visitor(request.args.get("visitor"))
    return _cors(jsonify({"items": _entries(row, visitor)}), origin)


@bp.get("/widget/<name>/stream")
def stream(name: str):
    """SSE: ``messages`` events with the conversation's entries whenever they change.

    Served by the web process's stream loop (``hub/web/streams.py``), not a request thread.
    """
    row, adapter = _widget_connector(name)
    origin = _check_origin(adapter, required=False)
    visitor = _visitor(request.args.get("visitor"))
    ip = client_ip()
    if not rate_limit(f"widget:{name}:stream:{ip}", 600, 60):
        raise WidgetError(429, "too many connections")
    seconds = current_app.config.get("OMNIHUB_SSE_SECONDS", STREAM_SECONDS)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as the app
    runtime = rt()
    with runtime.db.read() as s:
        marks = change_marks(s)  # before the entries: a change in between is not missed
    items = _entries(row, visitor)
    last = [[(e["id"], e["text"]) for e in items]]

    def event(items: list[dict[str, Any]]) -> str:
        return f"event: messages\ndata: {json.dumps({'items': items})}\n\n"

    def on_change(_ids: list[int], _addresses: set[str]) -> str:
        items = _entries(row, visitor)
        sig = [(e["id"], e["text"]) for e in items]
        if sig == last[0]:
            return ""
        last[0] = sig
        return event(items)

    def visitor_conversations() -> list[int]:
        with runtime.db.read() as s:
            return _conversation_ids(s, row, visitor)

    on_typing = presence.widget_watcher(visitor_conversations, runtime.settings.typing_seconds)

    def in_thread():
        """Where the socket cannot be handed over: poll in this thread, as before."""
        seen = marks
        with app.app_context():
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                typing_text = on_typing(presence.active(runtime))
                if typing_text:
                    yield typing_text
                with runtime.db.read() as s:
                    now_marks = change_marks(s)  # index-only: the visitor's rows are read only after a change
                if now_marks != seen:
                    seen = now_marks
                    text = on_change([], set())
                    if text:
                        yield text

    body = streams.open_stream(
        ip, seconds, "retry: 1500\n\n" + event(items), on_change, in_thread, marks,
        addresses={f"{row.name}:widget-{visitor}"}, on_typing=on_typing,
    )
    if body is None:
        resp = jsonify({"error": "too many open streams, try again later"})
        resp.status_code = 429
        resp.headers["Retry-After"] = "30"
        return _cors(resp, origin)
    resp = Response(body, mimetype="text/event-stream")
    resp.headers["X-Accel-Buffering"] = "no"
    return _cors(resp, origin)
