"""SLA targets per category and priority, business hours and holidays; pure due-date maths.

Defaults (the seeds): first response within 1 hour; a hacked account gets a first
response within 15 minutes and a resolution within 1 to 3 hours (goal 1 h, breach 3 h);
a lost recovery phrase gets a resolution within 24 to 48 hours. Those two run on the
wall clock (``business_hours: false``) — a drained wallet does not wait for Monday.
Everything else counts only business time when a calendar is configured; the default
calendar is 24/7.

Configure with a YAML file (``OMNIHUB_SLA_FILE``)::

    timezone: Europe/Madrid
    business_hours: {mon: ["09:00-18:00"], tue: ["09:00-18:00"], wed: ["09:00-14:00", "15:00-18:00"]}
    holidays: ["2026-12-25", "2027-01-01"]
    at_risk_fraction: 0.25        # at risk when less than this share of the window is left
    defaults: {first_response_minutes: 60}
    priorities: {urgent: {first_response_minutes: 15, business_hours: false}}
    categories:
      suspicious_access_or_hacked_account: {first_response_minutes: 15, resolution_minutes: 180}

Precedence: defaults < priority < category (the most specific wins, field by field).
This module imports nothing of the project (``config/`` is a leaf: tests/test_layout.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SCAN_DAYS = 800
SlaState = Literal["ok", "at_risk", "breached", "met", "none"]


@dataclass(frozen=True)
class Target:
    """What is promised for one kind of conversation (minutes; None: no target)."""

    first_response_minutes: int | None = 60
    resolution_minutes: int | None = None
    resolution_goal_minutes: int | None = None
    business_hours: bool = True


@dataclass(frozen=True)
class Calendar:
    """Working time: intervals per weekday (local time) and holidays; empty hours = 24/7."""

    tz: str = "UTC"
    hours: dict[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.hours and not self.holidays

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals of ``day`` as aware datetimes in the calendar's zone."""
        zone = ZoneInfo(self.tz)
        if day in self.holidays:
            return []
        if not self.hours:
            return [(datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=1), time(0), zone))]
        out = []
        for start, end in self.hours.get(day.weekday(), ()):
            a = datetime.combine(day, start, zone)
            b = datetime.combine(day + timedelta(days=1), time(0), zone) if end == time(0) else datetime.combine(day, end, zone)
            out.append((a, b))
        return out


ALWAYS = Calendar()


@dataclass(frozen=True)
class Policy:
    defaults: Target = Target()
    priorities: dict[str, Target] = field(default_factory=dict)
    categories: dict[str, Target] = field(default_factory=dict)
    calendar: Calendar = ALWAYS
    at_risk_fraction: float = 0.25
    raw: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def target(self, category: str | None, priority: str | None) -> Target:
        """The effective target: defaults, then the priority's fields, then the category's."""
        merged = {f.name: getattr(self.defaults, f.name) for f in fields(Target)}
        for section, key in (("priorities", priority), ("categories", category)):
            merged.update(self.raw.get(section, {}).get(key or "", {}))
        return Target(**merged)

    def calendar_for(self, target: Target) -> Calendar:
        return self.calendar if target.business_hours else ALWAYS


DEFAULT_RAW: dict[str, Any] = {
    "defaults": {"first_response_minutes": 60},
    "priorities": {"urgent": {"first_response_minutes": 15, "business_hours": False}},
    "categories": {
        "suspicious_access_or_hacked_account": {
            "first_response_minutes": 15, "resolution_goal_minutes": 60, "resolution_minutes": 180, "business_hours": False,
        },
        "lost_keys_or_recovery_phrase": {
            "resolution_goal_minutes": 24 * 60, "resolution_minutes": 48 * 60, "business_hours": False,
        },
        # someone is being scammed or impersonated right now: answer fast, around the clock
        "impersonation": {"first_response_minutes": 30, "business_hours": False},
        "scam_or_phishing_report": {"first_response_minutes": 30, "business_hours": False},
    },
}


def _parse_hours(spec: Any) -> dict[int, tuple[tuple[time, time], ...]]:
    if not spec:
        return {}
    if not isinstance(spec, dict):
        raise ValueError("business_hours must map weekday (mon..sun) to a list of 'HH:MM-HH:MM'")
    out: dict[int, tuple[tuple[time, time], ...]] = {}
    for day, ranges in spec.items():
        if day not in DAYS:
            raise ValueError(f"business_hours: unknown day {day!r} (use {', '.join(DAYS)})")
        parsed = []
        for r in ranges or []:
            try:
                a, b = (time.fromisoformat(x.strip()) if x.strip() != "24:00" else time(0) for x in str(r).split("-"))
            except ValueError:
                raise ValueError(f"business_hours.{day}: bad range {r!r}, expected 'HH:MM-HH:MM'") from None
            if b != time(0) and b <= a:
                raise ValueError(f"business_hours.{day}: range {r!r} ends before it starts")
            parsed.append((a, b))
        out[DAYS.index(day)] = tuple(sorted(parsed))
    return out


def _target(base: dict[str, Any], where: str) -> dict[str, Any]:
    allowed = {f.name for f in fields(Target)}
    unknown = set(base) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    for k, v in base.items():
        if k.endswith("_minutes") and v is not None and (not isinstance(v, int) or v <= 0):
            raise ValueError(f"{where}.{k}: must be a positive number of minutes or null")
    return dict(base)


def policy_from_dict(data: dict[str, Any] | None) -> Policy:
    """A validated Policy from the YAML structure (missing sections keep the defaults)."""
    data = data or {}
    raw: dict[str, dict[str, dict[str, Any]]] = {"priorities": {}, "categories": {}}
    for section in ("priorities", "categories"):
        for key, value in {**DEFAULT_RAW[section], **(data.get(section) or {})}.items():
            base = dict(DEFAULT_RAW[section].get(key, {})) if key in (data.get(section) or {}) else {}
            raw[section][key] = _target({**base, **(value or {})}, f"{section}.{key}")
    defaults = Target(**{**DEFAULT_RAW["defaults"], **_target(data.get("defaults") or {}, "defaults")})
    tz = data.get("timezone", "UTC")
    ZoneInfo(tz)  # raises on an unknown zone
    holidays = frozenset(date.fromisoformat(str(d)) for d in data.get("holidays") or [])
    calendar = Calendar(tz=tz, hours=_parse_hours(data.get("business_hours")), holidays=holidays)
    fraction = float(data.get("at_risk_fraction", 0.25))
    if not 0 < fraction < 1:
        raise ValueError("at_risk_fraction must be between 0 and 1")
    return Policy(
        defaults=defaults,
        priorities={k: Target(**{**defaults.__dict__, **v}) for k, v in raw["priorities"].items()},
        categories={k: Target(**{**defaults.__dict__, **v}) for k, v in raw["categories"].items()},
        calendar=calendar, at_risk_fraction=fraction, raw=raw,
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """Policy from ``path`` (or ``OMNIHUB_SLA_FILE``); built-in defaults when neither is set."""
    path = path or os.environ.get("OMNIHUB_SLA_FILE") or None
    if not path:
        return policy_from_dict(None)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return policy_from_dict(data)


def due_at(start: datetime, minutes: int, calendar: Calendar = ALWAYS) -> datetime:
    """``start`` plus ``minutes`` of open calendar time (aware UTC result)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if minutes < 0:
        raise ValueError("minutes must be >= 0")
    if calendar.always_open:
        return (start + timedelta(minutes=minutes)).astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    local = start.astimezone(ZoneInfo(calendar.tz))
    day = local.date()
    for _ in range(MAX_SCAN_DAYS):
        for a, b in calendar.intervals(day):
            a = max(a, local)
            if b <= a:
                continue
            span = b - a
            if remaining <= span:
                return (a + remaining).astimezone(UTC)
            remaining -= span
        day += timedelta(days=1)
    raise ValueError(f"calendar has no open time in {MAX_SCAN_DAYS} days")


def business_minutes_between(start: datetime, end: datetime, calendar: Calendar = ALWAYS) -> float:
    """Open calendar minutes between two instants (0 when end <= start)."""
    if end <= start:
        return 0.0
    if calendar.always_open:
        return (end - start).total_seconds() / 60
    total = timedelta()
    zone = ZoneInfo(calendar.tz)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = local_start.date()
    while day <= local_end.date():
        for a, b in calendar.intervals(day):
            lo, hi = max(a, local_start), min(b, local_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 60


def state(start: datetime, due: datetime | None, now: datetime, done_at: datetime | None = None,
          at_risk_fraction: float = 0.25) -> SlaState:
    """none (no target) | met | breached | at_risk (< fraction of the window left) | ok."""
    if due is None:
        return "none"
    if done_at is not None:
        return "met" if done_at <= due else "breached"
    if now >= due:
        return "breached"
    if (due - now) <= (due - start) * at_risk_fraction:
        return "at_risk"
    return "ok"


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime | None
    resolution_due: datetime | None
    resolution_goal: datetime | None


def deadlines(policy: Policy, start: datetime, category: str | None, priority: str | None) -> Deadlines:
    """The due instants for a conversation opened at ``start``."""
    target = policy.target(category, priority)
    cal = policy.calendar_for(target)

    def when(minutes: int | None) -> datetime | None:
        return None if minutes is None else due_at(start, minutes, cal)

    return Deadlines(when(target.first_response_minutes), when(target.resolution_minutes), when(target.resolution_goal_minutes))


__all__ = [
    "ALWAYS", "Calendar", "Deadlines", "Policy", "Target", "business_minutes_between", "deadlines", "due_at",
    "load_policy", "policy_from_dict", "state",
]


#: how bad a state is, for the conversation's overall state (the worst of its targets)
_SEVERITY = {"none": 0, "met": 1, "ok": 2, "at_risk": 3, "breached": 4}


def live_states(block: dict | None, first_response_at: datetime | None, resolved_at: datetime | None,
                at: datetime, at_risk_fraction: float = 0.25, started: datetime | None = None) -> dict[str, SlaState]:
    """The one SLA computation (inbox badge, API, dashboard and the SLA timer all use it):
    ``first_response``, ``resolution`` and ``overall`` (the worst of the two) of a
    conversation's stored SLA block, judged at ``at``. ``resolved_at`` counts only when the
    conversation is resolved now (the caller passes None otherwise). ``started``: when the
    clock started if the block does not say (the conversation's creation)."""
    out: dict[str, SlaState] = {"first_response": "none", "resolution": "none", "overall": "none"}
    if not block or not (block.get("started_at") or started):
        return out
    start = datetime.fromisoformat(block["started_at"]) if block.get("started_at") else started
    assert start is not None  # checked above
    for key, due_key, done in (("first_response", "first_response_due", first_response_at),
                               ("resolution", "resolution_due", resolved_at)):
        due = datetime.fromisoformat(block[due_key]) if block.get(due_key) else None
        out[key] = state(start, due, at, done, at_risk_fraction)
    out["overall"] = max((out["first_response"], out["resolution"]), key=lambda k: _SEVERITY[k])
    return out

