"""/admin: connectors (health, schema-generated forms, check before saving, webhook URLs),
users and roles, event webhooks (subscriptions, delivery log, replay), dead letters with
replay, contact merge, erasure and export, retention."""

from __future__ import annotations

import re
import secrets
from typing import Any

import structlog
from flask import Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from hub import audit, auth, checks, replay, subscriptions
from hub.connectors import NAME_PATTERN, ConnectorService, adapter_class, all_kinds, is_channel, is_kind
from hub.errors import ConfigError, NotFound
from hub.events import EVENT_TYPES
from hub.models import AuditLog, Connector, Contact, EventSubscription, User
from hub.types import ConnectorContext, Limits
from hub.views import contact_json
from hub.web import schema_form
from hub.web.security import login_required, rt

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
log = structlog.get_logger("omnihub.web.admin")


def svc() -> ConnectorService:
    return current_app.extensions["omnihub.connectors"]


def _kinds() -> list[dict[str, Any]]:
    return [{"kind": k, "title": getattr(c, "title", "") or k, "role": "channel" if is_channel(k) else "helpdesk"}
            for k, c in sorted(all_kinds().items())]


@bp.get("")
@bp.get("/")
@login_required("admin")
def index():
    return redirect(url_for("admin.connectors"))


# ------------------------------------------------------------------ connectors
@bp.get("/connectors")
@login_required("admin")
def connectors():
    with rt().db.read() as s:
        rows = s.scalars(select(Connector).where(~Connector.name.contains("~deleted~")).order_by(Connector.name)).all()
        items = [svc().describe(r) for r in rows]
    from hub import health

    for item in items:
        healthy, reason = health.evaluate(item["health"], rt().settings.connector_failing_after)
        item["verdict"] = {"healthy": healthy, "reason": reason}
    return render_template("admin_connectors.html", items=items, kinds=_kinds(), tab="connectors")


def check_values(kind: str, name: str, values: dict[str, Any], vault: Any = None) -> dict[str, Any]:
    """Run the adapter's check() on unsaved values (the "check connection" button).

    ``vault``: a saved connector's sealed tokens (an OAuth sign-in); they stay bound to the
    destinations they were issued for, so edited hosts never receive them."""
    cls = adapter_class(kind)
    try:
        config = cls.Config(**values)
    except ValidationError as exc:
        return {"ok": False, "summary": checks.validation_summary(exc), "details": {}}
    st = rt().settings
    ctx = ConnectorContext(
        name=name or "unsaved", kind=kind, config=config, public_url=st.effective_public_url,
        limits=Limits(max_attachment_bytes=st.max_attachment_bytes, max_body_bytes=st.max_body_bytes),
        log=structlog.get_logger("omnihub.adapter").bind(connector=name, kind=kind),
        **({"vault": vault} if vault is not None else {}),
    )
    try:
        res = cls(ctx).check()
        out = {"ok": bool(res.ok), "summary": res.summary, "details": dict(res.details or {})}
    except Exception as exc:  # a check reports; it never crashes the page
        out = {"ok": False, "summary": checks.error_text(exc), "details": {}}
    return checks.plain_result(out, cls.Config, values)


def _form_page(kind: str, name: str, row_desc: dict[str, Any] | None, fields, *, check=None, error=None, status=200):
    base = rt().settings.effective_public_url.rstrip("/")
    hooks = adapter_class(kind).hooks
    webhooks = {h: f"{base}/webhooks/{name or '<name>'}/{h}" for h in hooks}
    widget = None
    if row_desc and "widget_origins" in adapter_class(kind).Config.model_fields and row_desc["config"].get("widget"):
        from hub.web.widget import allowed_origins, refused_origins

        widget = {"allowed": sorted(allowed_origins(row_desc["config"].get("widget_origins"), base)), "refused": refused_origins(name),
                  "configured": bool(row_desc["config"].get("widget_origins"))}
    return render_template("admin_connector_form.html", kind=kind, name=name, row=row_desc, fields=fields, check=check,
                           sections=schema_form.sections(fields), hook_base=f"{base}/webhooks/",
                           error=error, webhooks=webhooks, widget=widget, tab="connectors",
                           title=getattr(adapter_class(kind), "title", kind)), status


@bp.route("/connectors/new", methods=["GET", "POST"])
@login_required("admin")
def connector_new():
    kind = request.values.get("kind", "")
    if not is_kind(kind):
        abort(400, description=f"unknown connector kind {kind!r}")
    cls = adapter_class(kind)
    fields = schema_form.fields_for(cls.Config, channel=is_channel(kind))
    name = (request.form.get("name") or "").strip()
    if request.method == "GET":
        return _form_page(kind, "", None, schema_form.fill(fields, {}, {}))
    try:
        values = schema_form.parse(fields, request.form, editing=False)
    except ConfigError as exc:
        return _form_page(kind, name, None, _refill(fields, request.form), error=str(exc), status=400)
    if request.form.get("action") == "check":
        result = check_values(kind, name, values)
        if _wants_json():
            return jsonify(result)
        return _form_page(kind, name, None, _refill(fields, request.form), check=result)
    if not re.match(NAME_PATTERN, name):
        return _form_page(kind, name, None, _refill(fields, request.form), error="Name: use lower-case letters, digits, '-' and '_' (max 64).", status=400)
    try:
        with rt().db.session() as s:
            svc().create(s, name, kind, values, actor=g.principal.email)
    except ConfigError as exc:
        return _form_page(kind, name, None, _refill(fields, request.form), error=str(exc), status=400)
    result = _check_saved(name)
    flash(f"Connector {name!r} created. Check: {result['summary']}", "ok" if result["ok"] else "bad")
    return redirect(url_for("admin.connector_edit", name=name))


def _wants_json() -> bool:
    """The page's script checks in place (typed secrets stay in the form); without JS the page re-renders."""
    return request.headers.get("Accept", "").startswith("application/json")


def _refill(fields, form) -> list:
    """Re-show what was typed (never a secret: a secret that was typed is flagged to be typed
    again, so it is not silently lost)."""
    for f in fields:
        if f.kind == "secret":
            f.value = None
            f.retype = bool((form.get(f"cfg_{f.name}") or "").strip())
        elif f.kind == "boolean":
            f.value = form.get(f"cfg_{f.name}") == "on"
        else:
            f.value = form.get(f"cfg_{f.name}", "")
    return fields


def _check_saved(name: str) -> dict[str, Any]:
    from hub.api import run_check

    with rt().db.read() as s:
        row = svc().get(s, name)
    return run_check(rt(), svc(), row, actor=g.principal.email)


@bp.route("/connectors/<name>", methods=["GET", "POST"])
@login_required("admin")
def connector_edit(name: str):
    with rt().db.read() as s:
        try:
            row = svc().get(s, name)
        except NotFound:
            abort(404, description=f"no connector named {name!r}")
        desc = svc().describe(row)
        stored = svc().values(row)
    kind = row.kind
    fields = schema_form.fields_for(adapter_class(kind).Config, channel=is_channel(kind))
    plain = {k: v for k, v in stored.items() if k not in adapter_class(kind).Config.secret_fields()}
    if request.method == "GET":
        return _form_page(kind, name, desc, schema_form.fill(fields, plain, desc["config"]))
    filled = schema_form.fill(fields, plain, desc["config"])
    try:
        values = schema_form.parse(fields, request.form, editing=True)
    except ConfigError as exc:
        return _form_page(kind, name, desc, _refill(filled, request.form), error=str(exc), status=400)
    if request.form.get("action") == "check":
        try:  # the same rule as saving: stored secrets never go to a new destination
            merged = svc().merged(row, values, actor=g.principal.email)
        except ConfigError as exc:
            status = getattr(exc, "status_code", 400)
            if _wants_json():
                return jsonify({"ok": False, "summary": str(exc), "details": {}, "error": str(exc)}), status
            return _form_page(kind, name, desc, _refill(filled, request.form), error=str(exc), status=status)
        from hub.connectors import SealedState

        result = check_values(kind, name, merged, vault=SealedState(rt(), row.id))
        if _wants_json():
            return jsonify(result)
        refilled = _refill(filled, request.form)
        for f in refilled:
            if f.kind == "secret":
                f.is_set = bool(desc["config"].get(f.name))
                f.masked = desc["config"].get(f.name) or ""
        return _form_page(kind, name, desc, refilled, check=result)
    enabled = request.form.get("enabled") == "on"
    try:
        with rt().db.session() as s:
            svc().update(s, name, values, actor=g.principal.email, enabled=enabled)
    except ConfigError as exc:
        return _form_page(kind, name, desc, _refill(filled, request.form), error=str(exc), status=getattr(exc, "status_code", 400))
    current_app.extensions.get("omnihub.webhook_cache", {}).pop(name, None)
    result = _check_saved(name)
    flash(f"Saved. Check: {result['summary']}", "ok" if result["ok"] else "bad")
    return redirect(url_for("admin.connector_edit", name=name))


@bp.post("/connectors/<name>/check")
@login_required("admin")
def connector_check(name: str):
    result = _check_saved(name)
    flash(f"{name}: {result['summary']}", "ok" if result["ok"] else "bad")
    return redirect(url_for("admin.connectors"))


@bp.post("/connectors/<name>/delete")
@login_required("admin")
def connector_delete(name: str):
    try:
        with rt().db.session() as s:
            svc().delete(s, name, actor=g.principal.email)
        flash(f"Connector {name!r} removed.", "ok")
    except (ConfigError, NotFound) as exc:
        flash(str(exc), "bad")
    return redirect(url_for("admin.connectors"))


# ----------------------------------------------------------------------- users
@bp.route("/users", methods=["GET", "POST"])
@login_required("admin")
def users():
    error = None
    status = 200
    if request.method == "POST":
        action = request.form.get("action")
        requeue: set[int] = set()
        try:
            with rt().db.session() as s:
                if action == "create":
                    user, password = auth.create_user(s, request.form.get("email", ""), request.form.get("role", "agent"),
                                                      request.form.get("password") or None, request.form.get("name", ""))
                    flash(f"User {user.email} created." + ("" if request.form.get("password") else f" Password: {password}"), "ok")
                else:
                    user = s.get(User, request.form.get("user_id", type=int))
                    if user is None:
                        raise ConfigError("no such user")
                    if user.id == g.principal.user_id and action in ("deactivate", "role"):
                        raise ConfigError("you cannot change your own role or deactivate yourself")
                    if user.id == g.principal.user_id and action == "reset_2fa":  # a session cookie alone must not remove it
                        raise ConfigError("reset your own two-factor sign-in on your account page (Account → Two-factor): "
                                          "it asks for a current code; another admin can reset it for you if your phone is lost")
                    details: dict[str, str] = {}
                    if action == "role":
                        role = request.form.get("role")
                        if role not in auth.ROLES:
                            raise ConfigError("unknown role")
                        details = {"from": user.role, "to": role}
                        user.role = role
                    elif action == "deactivate":
                        from hub import assignment

                        user.active = False
                        # offline, and their open conversations back to their teams' queues (docs/teams.md)
                        requeue = assignment.deactivated(s, user.id, g.principal.email)
                    elif action == "activate":
                        user.active = True
                    elif action == "reset_2fa":
                        from hub import totp

                        totp.disable(s, user)  # a lost phone and no recovery code left: they enrol again
                    elif action == "password":
                        new_password = request.form.get("password") or ""
                        generated = not new_password
                        if generated:
                            new_password = secrets.token_urlsafe(12)
                        if len(new_password) < 8:
                            raise ConfigError("the new password needs at least 8 characters (or leave it empty to generate one)")
                        user.password_hash = auth.hash_password(new_password)  # ends their web sessions (hub.auth)
                    else:
                        raise ConfigError("unknown action")
                    audit.record(s, actor=g.principal.email, action=f"user.{'set_password' if action == 'password' else action}",
                                 target_type="user", target_id=str(user.id), details=details)
                    if action == "password":
                        flash(f"New password set for {user.email}; their sessions were ended."
                               + (f" Password: {new_password} (shown once)" if generated else ""), "ok")
                    elif action == "reset_2fa":
                        flash(f"{user.email}: two-factor sign-in reset; they set it up again at their next sign-in.", "ok")
                    else:
                        flash(f"{user.email}: {action}d." if action.endswith("activate") else f"{user.email}: role set to {user.role}.", "ok")
            if requeue:
                from hub import assignment

                assignment.assign_teams(rt(), requeue)
            return redirect(url_for("admin.users"))
        except ConfigError as exc:
            error, status = str(exc), 400
    with rt().db.read() as s:
        rows = s.scalars(select(User).order_by(User.email)).all()
    return render_template("admin_users.html", users=rows, roles=auth.ROLES, error=error, tab="users"), status


# ---------------------------------------------------------------- API tokens
@bp.route("/tokens", methods=["GET", "POST"])
@login_required("admin")
def tokens():
    error = None
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("action") != "revoke":
                raise ConfigError("unknown action")
            with rt().db.session() as s:
                row = auth.revoke_token(s, request.form.get("token_id", type=int) or 0, g.principal.email)
                flash(f"Token {row.prefix}… revoked.", "ok")
            return redirect(url_for("admin.tokens"))
        except (ConfigError, NotFound) as exc:
            error, status = str(exc), 400
    with rt().db.read() as s:
        rows = auth.list_tokens(s)
        for r in rows:
            _ = r.user  # loaded while the session is open
    return render_template("admin_tokens.html", tokens=rows, now=auth.now(), error=error, tab="tokens"), status


# -------------------------------------------------------------- event webhooks
@bp.route("/event-webhooks", methods=["GET", "POST"])
@login_required("admin")
def event_webhooks():
    """Subscriptions: add one (its secret is shown once), enable/disable, rotate, remove."""
    error, status = None, 200
    form: dict[str, Any] = {"url": "", "events": list(EVENT_TYPES), "description": ""}
    shown: dict[str, Any] | None = None  # a secret, shown once in this answer (never in a cookie or a redirect)
    if request.method == "POST":
        action = request.form.get("action", "")
        sub_id = request.form.get("subscription_id", type=int) or 0
        try:
            with rt().db.session() as s:
                if action == "create":
                    form = {"url": request.form.get("url", ""), "events": request.form.getlist("events"),
                            "description": request.form.get("description", "")}
                    row, secret = subscriptions.create(s, rt().box, g.principal.email, url=form["url"], events=form["events"],
                                                       description=form["description"][:255])
                    shown = {"id": row.id, "secret": secret, "what": "added"}
                elif action in ("enable", "disable"):
                    subscriptions.update(s, rt().box, g.principal.email, sub_id, enabled=action == "enable")
                    flash(f"Subscription {sub_id} {action}d.", "ok")
                elif action == "rotate":
                    _row, rotated = subscriptions.update(s, rt().box, g.principal.email, sub_id, rotate_secret=True)
                    shown = {"id": sub_id, "secret": rotated or "", "what": "given a new secret"}
                elif action == "delete":
                    subscriptions.remove(s, g.principal.email, sub_id)
                    flash(f"Subscription {sub_id} removed with its delivery log.", "ok")
                else:
                    raise ConfigError("unknown action")
            if shown is None:
                return redirect(url_for("admin.event_webhooks"))
            form = {"url": "", "events": list(EVENT_TYPES), "description": ""}
        except (ConfigError, NotFound) as exc:
            error, status = str(exc), 400
    with rt().db.read() as s:
        rows = s.scalars(select(EventSubscription).order_by(EventSubscription.id)).all()
        counts = subscriptions.counts(s, [r.id for r in rows])
        items = [subscriptions.describe(rt().box, r, counts[r.id]) for r in rows]
    resp = Response(render_template("admin_event_webhooks.html", items=items, event_types=EVENT_TYPES, form=form, error=error,
                                    shown=shown, tab="events"), status=status)
    if shown:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/event-webhooks/<int:sub_id>", methods=["GET", "POST"])
@login_required("admin")
def event_webhook_log(sub_id: int):
    """One subscription's delivery log (status code, latency, error of every attempt); replay."""
    if request.method == "POST":
        ids = [int(x) for x in request.form.getlist("id") if x.isdigit() and len(x) < 19][:1000]
        with rt().db.session() as s:
            try:
                subscriptions.get(s, sub_id)
            except NotFound:
                abort(404)
            try:
                if request.form.get("action") == "replay-dead":
                    done = subscriptions.replay(s, g.principal.email, subscription_id=sub_id, sweep_after=rt().settings.sweep_after)
                else:
                    done = subscriptions.replay(s, g.principal.email, delivery_ids=ids, subscription_id=sub_id,
                                                sweep_after=rt().settings.sweep_after) if ids else []
            except subscriptions.SubscriptionDisabled as exc:
                refused = str(exc)
            else:
                refused = ""
        if refused:
            flash(f"Not sent again: {refused}.", "bad")
            return redirect(url_for("admin.event_webhook_log", sub_id=sub_id, state=request.args.get("state") or None))
        rt().queues.schedule("event", done)
        flash(f"Sending {len(done)} deliveries again." if done else "Nothing to send again (pending deliveries are on their way).",
              "ok" if done else "bad")
        return redirect(url_for("admin.event_webhook_log", sub_id=sub_id, state=request.args.get("state") or None))
    state = request.args.get("state") or None
    if state not in (None, "pending", "delivered", "dead"):
        abort(400, description="unknown state")
    before = request.args.get("before", type=int)
    with rt().db.read() as s:
        try:
            row = subscriptions.get(s, sub_id)
        except NotFound:
            abort(404)
        sub = subscriptions.describe(rt().box, row, subscriptions.counts(s, [row.id])[row.id])
        items, nxt = subscriptions.deliveries(s, sub_id, state=state, before=before, limit=50)
    return render_template("admin_event_log.html", sub=sub, items=items, next=nxt, state=state or "", tab="events")


# ---------------------------------------------------------------- dead letters
@bp.route("/dead-letters", methods=["GET", "POST"])
@login_required("admin")
def dead_letters():
    if request.method == "POST":
        what = request.form.get("what", "all")
        if what not in ("all", *replay.ALL_KINDS):
            abort(400, description="unknown kind")
        ids = [int(x) for x in request.form.getlist("id") if x.isdigit()] or None
        include = request.form.get("include_permanent") == "on"
        counts = replay.replay(rt(), what=what, ids=ids, connector=request.form.get("connector") or None, include_permanent=include)
        left_out = counts.pop("replies_left_out", 0)
        events_left_out = counts.pop("event_deliveries_left_out", 0)
        with rt().db.session() as s:
            audit.record(s, actor=g.principal.email, action="dead_letters.replay", target_type=what, target_id=",".join(map(str, ids or [])), details=counts)
        note = f"; left out {left_out} replies that failed for good" if left_out else ""
        if events_left_out:
            note += (f"; left out {events_left_out} event-webhook deliveries of disabled subscriptions: enable the subscription "
                     "in Event webhooks first")
        flash("Replayed: " + (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing") + note, "ok")
        return redirect(url_for("admin.dead_letters"))
    with rt().db.read() as s:
        letters = replay.dead_letters(s)
    preview = replay.replay(rt(), dry_run=True)  # what "Replay everything" would send again
    return render_template("admin_dead.html", letters=letters, preview=preview, tab="dead")


# ------------------------------------------------------------------ contacts
@bp.route("/contacts", methods=["GET", "POST"])
@login_required("admin")
def contacts():
    keep = other = None
    with rt().db.read() as s:
        if request.values.get("keep", type=int):
            c = s.get(Contact, request.values.get("keep", type=int))
            keep = contact_json(s, c, with_conversations=True) if c else None
        if request.values.get("other", type=int):
            c = s.get(Contact, request.values.get("other", type=int))
            other = contact_json(s, c, with_conversations=True) if c else None
        q = (request.args.get("q") or "").strip()
        found = []
        if q:
            from hub.models import Identity

            like = f"%{q}%"
            ids = set(s.scalars(select(Identity.contact_id).where((Identity.address.ilike(like)) | (Identity.display_name.ilike(like)))))
            ids |= set(s.scalars(select(Contact.id).where((Contact.name.ilike(like)) | (Contact.email.ilike(like)))))
            found = [contact_json(s, c) for c in s.scalars(select(Contact).where(Contact.id.in_(ids), Contact.merged_into_id.is_(None)).limit(50))]
    return render_template("admin_contacts.html", keep=keep, other=other, found=found, q=request.args.get("q", ""), tab="contacts",
                           erase_error=bool(request.args.get("erase_error")))


@bp.post("/contacts/<int:contact_id>/erase")
@login_required("admin")
def contact_erase(contact_id: int):
    """The erase button: the form repeats the contact id (and the browser asked first)."""
    from hub import erasure

    if request.form.get("confirm", type=int) != contact_id:
        flash(f"Not erased: type the contact id {contact_id} to confirm.", "bad")
        return redirect(url_for("admin.contacts", keep=contact_id, erase_error=1, _anchor="privacy"))
    try:
        counts = erasure.erase(rt(), contact_id, actor=g.principal.email)
    except (NotFound, ConfigError) as exc:
        flash(str(exc), "bad")
        return redirect(url_for("admin.contacts"))
    shown = ", ".join(f"{counts[k]} {k}" for k in ("conversations", "messages", "replies", "attachments", "journal") if counts.get(k))
    note = ""
    if counts.get("tickets_queued"):
        note += f" {counts['tickets_queued']} helpdesk ticket(s) queued for removal."
    if counts.get("tickets_unsupported"):
        note += f" {counts['tickets_unsupported']} helpdesk ticket(s) must be removed there by hand."
    flash(f"Contact {contact_id} erased ({shown or 'no conversations'}).{note}", "ok")
    return redirect(url_for("admin.contacts"))


@bp.get("/contacts/<int:contact_id>/export.zip")
@login_required("admin")
def contact_export(contact_id: int):
    from hub import erasure

    try:
        body, headers = erasure.export_download(rt(), contact_id, actor=g.principal.email)
    except NotFound:
        abort(404)
    except ConfigError as exc:
        flash(str(exc), "bad")
        return redirect(url_for("admin.contacts", keep=contact_id))
    return Response(body, mimetype="application/zip", headers=headers)


# ----------------------------------------------------------------- retention
@bp.route("/retention", methods=["GET", "POST"])
@login_required("admin")
def retention_page():
    from hub import retention

    preview = None
    if request.method == "POST":
        name = (request.form.get("connector") or "").strip()
        what = request.form.get("do", "set")
        try:
            if what == "preview":
                preview = retention.run_all(rt(), dry_run=True)
            elif what == "remove":
                with rt().db.session() as s:
                    retention.remove_policy(s, name, actor=g.principal.email)
                flash(f"{name}: retention policy removed; its data is kept.", "ok")
                return redirect(url_for("admin.retention_page"))
            else:
                days = request.form.get("days", type=int)
                with rt().db.session() as s:
                    p = retention.set_policy(s, name, days if days is not None else 0, request.form.get("action", ""), actor=g.principal.email)
                flash(f"{p['connector']}: {p['action']} after {p['days']} days (the poller applies it).", "ok")
                return redirect(url_for("admin.retention_page"))
        except (ConfigError, NotFound) as exc:
            flash(str(exc), "bad")
    with rt().db.read() as s:
        items = retention.list_policies(s)
        names = list(s.scalars(select(Connector.name).where(~Connector.name.contains("~deleted~")).order_by(Connector.name)))
    return render_template("admin_retention.html", items=items, names=names, preview=preview, kinds=RETENTION_COLUMNS, tab="retention")


#: the dry run's columns: every kind of row a policy touches (hub.retention.COUNT_KEYS), as the table heads them
RETENTION_COLUMNS = (("conversations", "Conversations"), ("subjects", "Subjects blanked"), ("messages", "Messages"),
                     ("replies", "Replies"), ("attachments", "Attachments"), ("journal", "Journal rows"),
                     ("webhook_events", "Event-webhook events"), ("replay_keys", "Replay keys"))


# ----------------------------------------------------------------- audit log
AUDIT_PAGE = 100


def _audit_filters() -> tuple[dict[str, str], dict[str, Any]]:
    """The page's filters as typed (for the form) and parsed (for hub.audit.query)."""
    from datetime import UTC, datetime

    f = {k: (request.args.get(k) or "").strip() for k in ("actor", "action", "since", "until")}
    parsed: dict[str, Any] = {"actor": f["actor"], "action": f["action"], "since": None, "until": None}
    for key in ("since", "until"):
        if f[key]:
            try:
                when = datetime.fromisoformat(f[key].replace("Z", "+00:00"))
            except ValueError:
                raise ConfigError(f"{key}: not a date/time") from None
            parsed[key] = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f, parsed


@bp.get("/audit")
@login_required("admin")
def audit_log():
    error, status = None, 200
    try:
        f, parsed = _audit_filters()
    except ConfigError as exc:
        f, parsed = {k: "" for k in ("actor", "action", "since", "until")}, {"actor": "", "action": "", "since": None, "until": None}
        error, status = str(exc), 400
    before = request.args.get("before", type=int)
    with rt().db.read() as s:
        q = audit.query(parsed["actor"], parsed["action"], parsed["since"], parsed["until"], before=before)
        rows = s.scalars(q.order_by(AuditLog.id.desc()).limit(AUDIT_PAGE + 1)).all()
    export_args = {k: v for k, v in f.items() if v}
    return render_template("admin_audit.html", entries=rows[:AUDIT_PAGE], f=f, actions=sorted(audit.ACTIONS), export_args=export_args,
                           next_before=rows[AUDIT_PAGE - 1].id if len(rows) > AUDIT_PAGE else None, error=error,
                           tab="audit"), status


@bp.get("/audit/export.json")
@login_required("admin")
def audit_export():
    """The filtered entries as JSON lines, oldest first, streamed (not built in memory)."""
    import json

    try:
        _f, parsed = _audit_filters()
    except ConfigError as exc:
        abort(400, description=str(exc))
    with rt().db.session() as s:  # the export itself is audited
        audit.record(s, actor=g.principal.email, action="audit.export", target_type="audit_log",
                     details={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in parsed.items() if v})
    db = rt().db

    def lines():
        after = 0
        while True:
            with db.read() as s:
                q = audit.query(parsed["actor"], parsed["action"], parsed["since"], parsed["until"], after=after)
                rows = s.scalars(q.order_by(AuditLog.id).limit(1000)).all()
                if not rows:
                    return
                chunk = "".join(json.dumps(audit.entry_json(r), ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
                after = rows[-1].id
            yield chunk

    stamp = auth.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(lines(), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="omnihub-audit-{stamp}.jsonl"'})


# ------------------------------------------------------------ teams and routing rules
def _csv(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    return items or None


def _rule_from_form(form) -> dict[str, Any]:
    """A routing rule's body (as POST /api/v1/routing-rules takes it) from the admin form."""
    cond: dict[str, Any] = {}
    for key in ("connector", "medium", "language", "category"):
        if _csv(form.get(key)):
            cond[key] = _csv(form.get(key))
    if form.getlist("priority"):
        cond["priority"] = form.getlist("priority")
    if form.get("security") in ("yes", "no"):
        cond["security"] = form.get("security") == "yes"
    contact: dict[str, list[str]] = {}
    for n, line in enumerate((form.get("contact") or "").splitlines()[:20], 1):
        if not line.strip():
            continue
        key, _, values = line.partition("=")
        if not key.strip() or not _csv(values):  # it could never match: say so rather than drop it
            raise ConfigError(f"contact attributes: line {n} ({line.strip()[:60]!r}) is not 'attribute = value, value'")
        contact[key.strip()] = _csv(values) or []
    if contact:
        cond["contact"] = contact
    return {"name": (form.get("name") or "").strip(), "team": form.get("team") or "", "conditions": cond,
            "set_priority": form.get("set_priority") or None, "add_tags": _csv(form.get("add_tags")) or []}


@bp.route("/teams", methods=["GET", "POST"])
@login_required("admin")
def teams():
    """Teams (members, capacity, manual or automatic assignment, the default team) and the
    routing rules in evaluation order. Every change goes through the same operations as
    /api/v1/teams and /api/v1/routing-rules (validated and audited alike)."""
    from hub import api
    from hub.models import RoutingRule, Team

    error, status = None, 200
    confirm: dict[str, Any] | None = None
    if request.method == "POST":
        f = request.form
        action = f.get("action", "")
        try:
            team_id = f.get("team_id", type=int)
            if action == "create_team":
                api.create_team(data=api.TeamIn.model_validate({"name": (f.get("name") or "").strip(),
                                                                "assignment": f.get("assignment") or "manual", "default": bool(f.get("default"))}))
                flash(f"Team {f.get('name', '').strip()} created.", "ok")
            elif action == "update_team" and team_id:
                api.patch_team(team_id=team_id, data=api.TeamPatch.model_validate({
                    "name": (f.get("name") or "").strip() or None, "assignment": f.get("assignment") or None,
                    "default": bool(f.get("default"))}))
                flash("Team saved.", "ok")
            elif action in ("add_member", "set_capacity", "remove_member") and team_id:
                with rt().db.read() as s:
                    team = s.get(Team, team_id)
                    if team is None:
                        raise ConfigError("no such team")
                    members = {m.user.email: m.capacity for m in team.members}
                email = (f.get("email") or "").strip().lower()
                if action == "remove_member":
                    members.pop(email, None)
                else:
                    members[email] = f.get("capacity", type=int) if f.get("capacity", type=int) is not None else 5
                api.patch_team(team_id=team_id, data=api.TeamPatch.model_validate(
                    {"members": [{"email": e, "capacity": c} for e, c in members.items()]}))
                flash({"add_member": f"{email} added.", "set_capacity": f"{email}: capacity saved.",
                       "remove_member": f"{email} removed."}[action], "ok")
            elif action == "delete_team" and team_id:
                with rt().db.read() as s:
                    team = s.get(Team, team_id)
                    if team is None:
                        raise ConfigError("no such team")
                    holds = api.team_holdings(s, team_id)
                    default = s.scalar(select(Team.name).where(Team.is_default.is_(True), Team.id != team_id).limit(1))
                    name, is_default = team.name, team.is_default
                    blocked = is_default or bool(s.scalar(select(RoutingRule.id).where(RoutingRule.team_id == team_id).limit(1)))
                if not blocked and f.get("confirm") != "yes":
                    # removing a team moves its open conversations: say how many, and where, before doing it
                    confirm = {"team_id": team_id, "name": name, "open": holds, "to": default}
                else:
                    api.delete_team(team_id=team_id)
                    flash(f"Team {name} removed." + (f" {holds} open conversation(s) moved to {default}." if holds and default else
                                                     f" {holds} open conversation(s) left without a team." if holds else ""), "ok")
                    team_id = None
            elif action == "create_rule":
                api.create_rule(data=api.RuleIn.model_validate(_rule_from_form(f)))
                flash("Routing rule added (evaluated after the others; move it up to give it precedence).", "ok")
            elif action in ("toggle_rule", "delete_rule", "rule_up", "rule_down"):
                rule_id = f.get("rule_id", type=int) or 0
                with rt().db.read() as s:
                    order = list(s.scalars(select(RoutingRule.id).order_by(RoutingRule.position, RoutingRule.id)))
                    rule = s.get(RoutingRule, rule_id)
                if rule is None:
                    raise ConfigError("no such routing rule")
                if action == "toggle_rule":
                    api.patch_rule(rule_id=rule_id, data=api.RulePatch.model_validate({"enabled": not rule.enabled}))
                    flash(f"Rule {'disabled' if rule.enabled else 'enabled'}.", "ok")
                elif action == "delete_rule":
                    api.delete_rule(rule_id=rule_id)
                    flash("Rule removed.", "ok")
                else:
                    i = order.index(rule_id)
                    j = i - 1 if action == "rule_up" else i + 1
                    if 0 <= j < len(order):
                        order[i], order[j] = order[j], order[i]
                        api.order_rules(data=api.RuleOrder(ids=order))
                    flash("Order saved.", "ok")
            else:
                raise ConfigError("unknown action")
            if confirm is None:
                return redirect(url_for("admin.teams") + (f"#team-{team_id}" if team_id else ""))
        except api.ApiError as exc:
            error, status = exc.message, exc.status
        except ValidationError as exc:
            e = exc.errors()[0]
            error, status = f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}", 400
        except ConfigError as exc:
            error, status = str(exc), 400
    with rt().db.read() as s:
        from hub import assignment

        queues = assignment.queue_sizes(s)
        team_rows = [api.team_json(s, t, queues) for t in s.scalars(select(Team).order_by(Team.name))]
        for row in team_rows:
            row["open"] = api.team_holdings(s, row["id"])
        rules = [api.rule_json(s, r) for r in s.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))]
        users = [u.email for u in s.scalars(select(User).where(User.active.is_(True)).order_by(User.email))]
    return render_template("admin_teams.html", teams=team_rows, rules=rules, users=users, error=error, tab="teams",
                           priorities=api.PRIORITIES, settings=rt().settings, confirm=confirm,
                           allowed=routing_allowed(), default_team=next((t["name"] for t in team_rows if t["default"]), None)), status


def routing_allowed() -> dict[str, tuple[str, ...]]:
    """The values each routing condition may hold (shown with the rule form)."""
    from hub import routing

    with rt().db.read() as s:
        return routing.allowed_values(s)
