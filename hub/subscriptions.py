"""Event webhook subscriptions: create, change, remove, describe; the delivery log; replay.

Shared by the API (``/api/v1/event-subscriptions``) and the admin console; every change and
every replay is written to the audit log (``event_subscription.*``, ``event_delivery.replay``).
The signing secret is sealed at rest and shown once (when created or rotated).
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub import audit
from hub.crypto import Box, mask
from hub.errors import ConfigError, NotFound
from hub.events import EVENT_TYPES, MAX_SUBSCRIPTIONS
from hub.models import EventDelivery, EventDeliveryAttempt, EventSubscription, WebhookEvent, now
from hub.net import UrlRefused, check_url
from hub.states import DeliveryState

MAX_URL = 2048
MIN_SECRET = 16
MAX_SECRET = 256


def check_subscription_url(url: str) -> str:
    """The URL, or ConfigError: http(s) only, no credentials in it, and its host must pass the
    outbound URL guard now (it is checked again, after DNS, on every connection)."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise ConfigError(f"url: required, at most {MAX_URL} characters")
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ConfigError("url: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ConfigError("url: must be an http:// or https:// URL with a host")
    if parts.userinfo:
        raise ConfigError("url: must not carry a user name or password (receivers verify the signature instead)")
    if parts.fragment:
        raise ConfigError("url: must not have a #fragment")
    try:
        check_url(url, key="url")
    except UrlRefused as exc:
        raise ConfigError(str(exc)) from None
    return url


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise ConfigError(f"events: unknown event {unknown[0]!r} (one of {', '.join(EVENT_TYPES)})")
    if not chosen:
        raise ConfigError("events: choose at least one event")
    return [e for e in EVENT_TYPES if e in chosen]


def check_secret(secret: str) -> str:
    if not (MIN_SECRET <= len(secret) <= MAX_SECRET) or any(ord(c) < 33 or ord(c) > 126 for c in secret):
        raise ConfigError(f"secret: {MIN_SECRET} to {MAX_SECRET} printable ASCII characters, no spaces")
    return secret


def new_secret() -> str:
    return pysecrets.token_hex(32)


def get(s: Session, sub_id: int) -> EventSubscription:
    row = s.get(EventSubscription, sub_id)
    if row is None:
        raise NotFound(f"event subscription {sub_id} not found")
    return row


def describe(box: Box, row: EventSubscription, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {
        "id": row.id, "url": row.url, "events": list(row.events or []), "enabled": bool(row.enabled),
        "description": row.description or "", "secret": mask(box.open(row.secret).decode()),
        "created_by": row.created_by or "", "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
    }
    if counts is not None:
        out["deliveries"] = counts
    return out


def counts(s: Session, sub_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {i: {str(st): 0 for st in DeliveryState} for i in sub_ids}
    if sub_ids:
        for sid, state, n in s.execute(
            select(EventDelivery.subscription_id, EventDelivery.state, func.count())
            .where(EventDelivery.subscription_id.in_(list(sub_ids))).group_by(EventDelivery.subscription_id, EventDelivery.state)
        ):
            out[sid][state] = n
    return out


def create(s: Session, box: Box, actor: str, *, url: str, events: Iterable[str], description: str = "", enabled: bool = True,
           secret: str | None = None) -> tuple[EventSubscription, str]:
    """A new subscription and its secret (generated unless given), audited."""
    if (s.scalar(select(func.count()).select_from(EventSubscription)) or 0) >= MAX_SUBSCRIPTIONS:
        raise ConfigError(f"at most {MAX_SUBSCRIPTIONS} event subscriptions; remove one first")
    url, chosen = check_subscription_url(url), check_events(events)
    plain = check_secret(secret) if secret else new_secret()
    row = EventSubscription(url=url, events=chosen, secret=box.seal(plain.encode()), enabled=enabled,
                            description=(description or "")[:255], created_by=actor)
    s.add(row)
    s.flush()
    audit.record(s, actor, "event_subscription.create", "event_subscription", row.id,
                 {"url": url, "events": chosen, "enabled": enabled, "secret": "given" if secret else "generated"})
    return row, plain


def update(s: Session, box: Box, actor: str, sub_id: int, *, url: str | None = None, events: Iterable[str] | None = None,
           description: str | None = None, enabled: bool | None = None, secret: str | None = None,
           rotate_secret: bool = False) -> tuple[EventSubscription, str | None]:
    """Change a subscription; returns it and its new secret when rotated (or given)."""
    row = get(s, sub_id)
    changes: dict[str, Any] = {}
    if url is not None and url.strip() != row.url:
        changes["url"] = {"from": row.url, "to": check_subscription_url(url)}
        row.url = changes["url"]["to"]
    if events is not None:
        chosen = check_events(events)
        if chosen != list(row.events or []):
            changes["events"] = {"from": list(row.events or []), "to": chosen}
            row.events = chosen
    if description is not None and description[:255] != row.description:
        changes["description"] = True
        row.description = description[:255]
    if enabled is not None and bool(enabled) != bool(row.enabled):
        changes["enabled"] = {"from": bool(row.enabled), "to": bool(enabled)}
        row.enabled = bool(enabled)
    plain = None
    if secret or rotate_secret:
        plain = check_secret(secret) if secret else new_secret()
        row.secret = box.seal(plain.encode())
        changes["secret"] = "given" if secret else "rotated"
    if changes:
        row.updated_at = now()
        audit.record(s, actor, "event_subscription.update", "event_subscription", row.id, changes)
    return row, plain


def remove(s: Session, actor: str, sub_id: int) -> None:
    """Remove a subscription with its deliveries and their log (its events stay for the others)."""
    row = get(s, sub_id)
    ids = select(EventDelivery.id).where(EventDelivery.subscription_id == row.id)
    s.execute(delete(EventDeliveryAttempt).where(EventDeliveryAttempt.delivery_id.in_(ids)))
    s.execute(delete(EventDelivery).where(EventDelivery.subscription_id == row.id))
    audit.record(s, actor, "event_subscription.delete", "event_subscription", row.id, {"url": row.url})
    s.delete(row)


# ------------------------------------------------------------------ the delivery log
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def attempt_json(a: EventDeliveryAttempt) -> dict[str, Any]:
    return {"attempt": a.attempt, "at": _iso(a.at), "ok": bool(a.ok), "status_code": a.status_code, "latency_ms": a.latency_ms,
            "error": a.error}


def delivery_json(d: EventDelivery, ev: WebhookEvent | None, attempts: Sequence[EventDeliveryAttempt] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id, "subscription_id": d.subscription_id, "event_id": d.event_id, "event_type": ev.type if ev else None,
        "conversation_id": ev.conversation_id if ev else None, "state": d.state, "attempts": d.attempts, "replays": d.replays,
        "last_status_code": d.last_status_code, "last_latency_ms": d.last_latency_ms, "last_error": d.last_error,
        "next_attempt_at": _iso(d.next_attempt_at) if d.state == DeliveryState.PENDING else None,
        "created_at": _iso(d.created_at), "delivered_at": _iso(d.delivered_at),
    }
    if attempts is not None:
        out["log"] = [attempt_json(a) for a in attempts]
    return out


def deliveries(s: Session, sub_id: int, *, state: str | None = None, before: int | None = None, limit: int = 50,
               with_log: bool = True) -> tuple[list[dict[str, Any]], int | None]:
    """A page of a subscription's deliveries, newest first, with their attempts; and the next cursor."""
    get(s, sub_id)
    q = select(EventDelivery).where(EventDelivery.subscription_id == sub_id)
    if state:
        q = q.where(EventDelivery.state == state)
    if before is not None:
        q = q.where(EventDelivery.id < before)
    rows = s.scalars(q.order_by(EventDelivery.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    return _with_events(s, page, with_log), (page[-1].id if len(rows) > limit else None)


def _with_events(s: Session, rows: Sequence[EventDelivery], with_log: bool) -> list[dict[str, Any]]:
    evs = {e.id: e for e in s.scalars(select(WebhookEvent).where(WebhookEvent.id.in_({d.event_id for d in rows})))} if rows else {}
    logs: dict[int, list[EventDeliveryAttempt]] = {}
    if with_log and rows:
        for a in s.scalars(select(EventDeliveryAttempt).where(EventDeliveryAttempt.delivery_id.in_([d.id for d in rows]))
                           .order_by(EventDeliveryAttempt.id)):
            logs.setdefault(a.delivery_id, []).append(a)
    return [delivery_json(d, evs.get(d.event_id), logs.get(d.id, []) if with_log else None) for d in rows]


def delivery(s: Session, delivery_id: int) -> dict[str, Any]:
    d = s.get(EventDelivery, delivery_id)
    if d is None:
        raise NotFound(f"event delivery {delivery_id} not found")
    out = _with_events(s, [d], True)[0]
    ev = s.get(WebhookEvent, d.event_id)
    out["payload"] = ev.payload if ev else None
    return out


class SubscriptionDisabled(ConfigError):
    """A replay on a disabled subscription: it would be marked dead again at once without a POST."""

    def __init__(self, sub: EventSubscription) -> None:
        self.subscription_id = sub.id
        super().__init__(
            f"event subscription {sub.id} ({sub.url}) is disabled: nothing would be sent. Enable it first (Admin → Event "
            f"webhooks → Enable, or PATCH /api/v1/event-subscriptions/{sub.id} with {{\"enabled\": true}}), then replay")


def check_enabled(s: Session, sub_ids: Iterable[int]) -> None:
    """Raise SubscriptionDisabled for the first disabled subscription of ``sub_ids``."""
    ids = sorted(set(sub_ids))
    if ids:
        off = s.scalars(select(EventSubscription).where(EventSubscription.id.in_(ids), EventSubscription.enabled.is_(False))
                        .order_by(EventSubscription.id).limit(1)).first()
        if off is not None:
            raise SubscriptionDisabled(off)


class DeliveryPending(ConfigError):
    """A replay of a delivery that is still pending: it is on its way (or waiting for its retry)."""

    def __init__(self, delivery_id: int) -> None:
        self.delivery_id = delivery_id
        super().__init__(f"event delivery {delivery_id} is pending: it is already on its way (or waiting for its next "
                         "attempt); replay it once it is delivered or dead")


def _check_named(s: Session, delivery_ids: Sequence[int], subscription_id: int | None) -> None:
    """Every id names a delivery (of that subscription, when given) that is not pending:
    else NotFound (no such delivery, or another subscription's) or DeliveryPending."""
    rows = {d.id: d for d in s.scalars(select(EventDelivery).where(EventDelivery.id.in_(list(delivery_ids))))}
    for i in delivery_ids:
        d = rows.get(i)
        if d is None:
            raise NotFound(f"event delivery {i} not found")
        if subscription_id is not None and d.subscription_id != subscription_id:
            raise NotFound(f"event delivery {i} is not a delivery of event subscription {subscription_id} (it belongs to "
                           f"subscription {d.subscription_id}): nothing was replayed")
    for i in delivery_ids:
        if rows[i].state == DeliveryState.PENDING:
            raise DeliveryPending(i)


def replay(s: Session, actor: str, *, delivery_ids: Sequence[int] | None = None, subscription_id: int | None = None,
           sweep_after: float = 30.0, strict: bool = False) -> list[int]:
    """Send deliveries again: the ids given (dead or delivered ones), or every dead delivery of a
    subscription. Returns the ids to schedule after the commit; audited. A pending delivery
    is already on its way and is left alone. A delivery of a disabled subscription is refused
    (SubscriptionDisabled, nothing changed): the worker would only mark it dead again.
    ``strict`` (the API): an id that is unknown or another subscription's is NotFound, a
    pending one DeliveryPending, and nothing changes."""
    if strict and delivery_ids:
        _check_named(s, delivery_ids, subscription_id)
    q = select(EventDelivery).where(EventDelivery.state != DeliveryState.PENDING)
    if delivery_ids is not None:
        q = q.where(EventDelivery.id.in_(list(delivery_ids)))
        if subscription_id is not None:
            q = q.where(EventDelivery.subscription_id == subscription_id)
    elif subscription_id is not None:
        get(s, subscription_id)
        q = q.where(EventDelivery.subscription_id == subscription_id, EventDelivery.state == DeliveryState.DEAD)
    else:
        raise ValueError("replay: name deliveries or a subscription")
    rows = s.scalars(q.order_by(EventDelivery.id).limit(10_000)).all()
    check_enabled(s, [d.subscription_id for d in rows] + ([subscription_id] if subscription_id is not None else []))
    for d in rows:
        d.state = DeliveryState.PENDING
        d.attempts = 0
        d.replays = (d.replays or 0) + 1
        d.locked_until = None
        d.next_attempt_at = now() + timedelta(seconds=sweep_after)  # the caller schedules it; the sweeper if that is lost
        d.last_error = None
    ids = [d.id for d in rows]
    if ids or delivery_ids:
        audit.record(s, actor, "event_delivery.replay", "event_subscription" if subscription_id else "event_delivery",
                     subscription_id if subscription_id else ",".join(map(str, delivery_ids or []))[:64],
                     {"deliveries": ids[:100], "count": len(ids)})
    return ids
