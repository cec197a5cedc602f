"""POST /webhooks/<connector>/<hook>: verify (fail closed) -> journal -> enqueue -> ack.

No network call to a provider or helpdesk happens here: the request is answered as soon as
the event is committed to the journal.
"""

from __future__ import annotations

import time

import structlog
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from hub import journal
from hub.connectors import adapter_class
from hub.errors import ConfigError, PayloadInvalid, SignatureInvalid
from hub.models import Connector, now
from hub.types import CaseInsensitiveDict, WebhookRequest, WebhookResponse

bp = Blueprint("webhooks", __name__)
log = structlog.get_logger("omnihub.webhooks")

_CACHE_TTL = 2.0


def _connector(name: str) -> Connector | None:
    """The connector row, cached briefly per app (webhooks are the hot path)."""
    _cache = current_app.extensions.setdefault("omnihub.webhook_cache", {})
    hit = _cache.get(name)
    t = time.monotonic()
    if hit and hit[0] > t:
        return hit[1]
    rt = current_app.extensions["omnihub"]
    with rt.db.read() as s:
        row = s.scalar(select(Connector).where(Connector.name == name))
        if row is not None:
            s.expunge(row)
    _cache[name] = (t + _CACHE_TTL, row)
    return row


def _intake(rt) -> journal.Intake:
    """One per app (process): the group-commit point of every webhook thread."""
    intake = current_app.extensions.get("omnihub.intake")
    if intake is None:
        intake = current_app.extensions.setdefault("omnihub.intake", journal.Intake(rt))
    return intake


def build_request(public_url: str) -> WebhookRequest:
    """The request as the provider addressed it: OMNIHUB_PUBLIC_URL + path + query string."""
    qs = request.query_string.decode("latin-1")
    url = public_url.rstrip("/") + request.path + (f"?{qs}" if qs else "")
    body = request.get_data(cache=True)
    form: tuple = ()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = tuple((k, v) for k, vs in request.form.lists() for v in vs)
    return WebhookRequest(
        method=request.method,
        url=url,
        path=request.path,
        headers=CaseInsensitiveDict(dict(request.headers.items())),
        body=body,
        form=form,
        args=tuple((k, v) for k, vs in request.args.lists() for v in vs),
        received_at=now(),
    )


def _error(status: int, message: str) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def _respond(r: WebhookResponse) -> Response:
    resp = Response(r.body, status=r.status, content_type=r.content_type)
    for k, v in (r.headers or {}).items():
        resp.headers[k] = v
    return resp


@bp.route("/webhooks/<name>/<hook>", methods=["GET", "POST"])
def webhook(name: str, hook: str):
    rt = current_app.extensions["omnihub"]
    row = _connector(name)
    if row is None or not row.enabled:
        return _error(404, f"unknown connector {name!r}")
    try:
        cls = adapter_class(row.kind)
    except ConfigError:
        return _error(404, f"unknown connector {name!r}")
    if hook not in cls.hooks:
        return _error(404, f"connector {name!r} has no webhook {hook!r} (it has: {', '.join(cls.hooks) or 'none'})")
    if request.method == "GET" and hook not in cls.get_hooks:
        return _error(405, "use POST")
    svc = current_app.extensions["omnihub.connectors"]
    bound = log.bind(connector=name, hook=hook)
    try:
        adapter = svc.adapter(row)
    except ConfigError as exc:
        bound.warning("webhook.misconfigured", error=str(exc))
        return _error(403, "connector is not configured to accept webhooks")
    req = build_request(rt.settings.effective_public_url)
    try:
        adapter.verify(hook, req)
    except SignatureInvalid as exc:
        bound.warning("webhook.forbidden", reason=str(exc))
        if request.method == "GET":  # a subscription handshake (Meta's hub.verify_token, X's CRC)
            return _error(403, "handshake verification failed: the verify token (or hub.mode) does not match the connector's")
        return _error(getattr(cls, "refused_status", 403), "signature verification failed")
    if request.method == "GET":
        return _respond(adapter.ack(hook, req, []))
    # A signature that covers no timestamp can be replayed, and a signed string that parses
    # two ways (Twilio's concatenated parameters) as a different message: a second request
    # with the same signature is a duplicate that stores nothing (checked again atomically
    # with the journal write below).
    replay = journal.replay_digest(adapter.replay_key(hook, req))
    if replay is not None:
        with rt.db.read() as s:
            seen = journal.replay_seen(s.connection(), row.id, replay)
        if seen:
            bound.info("webhook.duplicate_signature")
            return _respond(adapter.ack(hook, req, []))
    try:
        events = adapter.parse(hook, req)
    except PayloadInvalid as exc:
        with rt.db.session() as s:
            journal.quarantine_request(s, rt.box, row.id, hook, req.body, request.mimetype or "", str(exc))
        bound.info("webhook.invalid", reason=str(exc))
        return _error(400, str(exc))
    if events or replay:
        # Journaled, committed and scheduled (group commit with concurrent requests);
        # from here nothing is lost. A Redis hiccup is left to the sweeper.
        ids = _intake(rt).submit(row.id, list(events), replay)
        bound.debug("webhook.recorded", new=len(ids), received=len(events))
    return _respond(adapter.ack(hook, req, events))
