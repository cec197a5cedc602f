"""Connector health that is loud: credentials refused or failures for too long turn a
connector red (admin console, ``/readyz`` detail, ``omnihub_connector_healthy``, a banner
for admins in the inbox) and, when OMNIHUB_ALERT_WEBHOOK_URL is set, one signed webhook per
red episode.

The notes live in ``connectors.health`` (JSON), written by whichever process noticed:
``note_failure`` (``auth=True`` for an ``AuthError``) and ``note_ok``. Each connector's notes
are its own row: a failing connector never blocks or colours another one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from hub.models import Connector

log = structlog.get_logger("omnihub.health")

#: keys of connectors.health written here
AUTH_FAILED = "auth_failed"
FAILING_SINCE = "failing_since"
ALERTED_AT = "alerted_at"


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def evaluate(health: dict[str, Any] | None, threshold: float, now: datetime | None = None) -> tuple[bool, str]:
    """(healthy, reason): red when credentials were refused, or failing for longer than ``threshold`` seconds."""
    health = health or {}
    now = now or _now()
    if health.get(AUTH_FAILED):
        return False, f"cannot authenticate: {health.get('last_error') or 'credentials refused'}"
    since = _parse(health.get(FAILING_SINCE))
    if since is not None and now - since >= timedelta(seconds=threshold):
        return False, f"failing since {since.isoformat(timespec='seconds')}: {health.get('last_error') or 'unknown error'}"
    return True, "ok"


def _write(rt, connector_id: int, change, session=None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Apply ``change(health) -> new health`` to one row; returns (before, after) or None when unchanged.

    With ``session`` the write joins the caller's transaction (a worker recording a batch)."""
    if session is not None:
        return _apply(rt, session, connector_id, change)
    with rt.db.session() as s:
        return _apply(rt, s, connector_id, change)


def _apply(rt, s, connector_id: int, change) -> tuple[dict[str, Any], dict[str, Any]] | None:
    row = s.get(Connector, connector_id, with_for_update=not rt.db.is_sqlite)
    if row is None:
        return None
    before = dict(row.health or {})
    after = change(dict(before))
    if after == before:
        return None
    # a health note is not a configuration change: keep updated_at (poll loops restart on it)
    s.execute(update(Connector).where(Connector.id == connector_id).values(health=after, updated_at=Connector.updated_at))
    row.health = after
    return before, after


def note_failure(rt, connector_id: int, error: str, *, auth: bool, session=None) -> None:
    """Record a failure (``auth``: the credentials were refused). The alert for a connector
    that turned red goes out from ``sweep`` (the poller), never from the caller's transaction."""
    stamp = _now()

    def change(h: dict[str, Any]) -> dict[str, Any]:
        h["last_error"] = error[:500]
        h["last_error_at"] = stamp.isoformat()
        h.setdefault(FAILING_SINCE, stamp.isoformat())
        if auth:
            h[AUTH_FAILED] = True
        return h

    if _write(rt, connector_id, change, session):
        log.warning("connector.failing", connector_id=connector_id, auth=auth, error=error[:200])


def note_ok(rt, connector_id: int, session=None) -> None:
    """The connector worked (logged in, sent, pushed): clear a failure episode, if any."""
    if session is not None:
        health = session.scalar(select(Connector.health).where(Connector.id == connector_id)) or {}
    else:
        with rt.db.read() as s:
            health = s.scalar(select(Connector.health).where(Connector.id == connector_id)) or {}
    if not (health.get(AUTH_FAILED) or health.get(FAILING_SINCE)):
        return  # the common case: nothing to clear, no write

    def change(h: dict[str, Any]) -> dict[str, Any]:
        for key in (AUTH_FAILED, FAILING_SINCE, ALERTED_AT):
            h.pop(key, None)
        h["recovered_at"] = _now().isoformat()
        return h

    if _write(rt, connector_id, change, session):
        log.info("connector.recovered", connector_id=connector_id)


def clear_failure(rt, connector_id: int, prefix: str) -> None:
    """End a failure episode only when its last error starts with ``prefix`` (the poller's
    own note that it stopped a poll, cleared when a poller owns the poll again)."""
    with rt.db.read() as s:
        health = s.scalar(select(Connector.health).where(Connector.id == connector_id)) or {}
    if not str(health.get("last_error") or "").startswith(prefix) or health.get(AUTH_FAILED):
        return

    def change(h: dict[str, Any]) -> dict[str, Any]:
        if str(h.get("last_error") or "").startswith(prefix) and not h.get(AUTH_FAILED):
            for key in (FAILING_SINCE, ALERTED_AT, "last_error", "last_error_at"):
                h.pop(key, None)
            h["recovered_at"] = _now().isoformat()
        return h

    if _write(rt, connector_id, change):
        log.info("connector.recovered", connector_id=connector_id)


def statuses(rt, *, include_disabled: bool = False) -> list[dict[str, Any]]:
    """Every connector's health verdict: name, kind, enabled, healthy, reason."""
    threshold = rt.settings.connector_failing_after
    with rt.db.read() as s:
        rows = s.execute(select(Connector.id, Connector.name, Connector.kind, Connector.enabled, Connector.health)).all()
    out = []
    for cid, name, kind, enabled, health in rows:
        if "~deleted~" in name or (not enabled and not include_disabled):
            continue
        healthy, reason = evaluate(health, threshold)
        out.append({"id": cid, "name": name, "kind": kind, "enabled": enabled, "healthy": healthy, "reason": reason})
    return out


def unhealthy(rt) -> list[dict[str, Any]]:
    return [c for c in statuses(rt) if not c["healthy"]]


def maybe_alert(rt, connector_id: int) -> bool:
    """Send the alert webhook once per red episode (claimed in the row, so one process sends it)."""
    threshold = rt.settings.connector_failing_after
    info: dict[str, Any] = {}

    def claim(h: dict[str, Any]) -> dict[str, Any]:
        healthy, reason = evaluate(h, threshold)
        if healthy or h.get(ALERTED_AT):
            return h
        info["reason"] = reason
        h[ALERTED_AT] = _now().isoformat()
        return h

    if not _write(rt, connector_id, claim):
        return False
    with rt.db.read() as s:
        row = s.get(Connector, connector_id)
        name, kind = row.name, row.kind
    log.error("connector.unhealthy", connector=name, kind=kind, reason=info.get("reason"))
    _notify(rt, {"event": "connector.unhealthy", "connector": name, "kind": kind, "reason": info.get("reason"),
                 "at": _now().isoformat(), "admin_url": f"{rt.settings.effective_public_url.rstrip('/')}/admin/connectors"})
    return True


def sweep(rt) -> None:
    """Periodic (the poller): alert connectors that crossed the failure threshold since their last note."""
    for c in statuses(rt):
        if not c["healthy"]:
            maybe_alert(rt, c["id"])


def _notify(rt, payload: dict[str, Any]) -> None:
    url = rt.settings.alert_webhook_url
    if not url:
        return
    from hub import net, signing

    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if rt.settings.alert_webhook_secret:
        headers.update(signing.sign(rt.settings.alert_webhook_secret, body))
    try:
        resp = net.guarded_request("OMNIHUB_ALERT_WEBHOOK_URL", "POST", url, content=body, headers=headers, timeout=5.0)
        if resp.status_code >= 300:
            log.warning("alert.webhook_refused", status=resp.status_code, connector=payload.get("connector"))
    except Exception as exc:  # noqa: BLE001 - an alert that cannot go out must not break the caller
        log.warning("alert.webhook_failed", error=f"{exc.__class__.__name__}: {exc}", connector=payload.get("connector"))
