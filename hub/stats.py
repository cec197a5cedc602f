"""Support analytics: volume, first response and resolution times, CSAT, SLA compliance."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Conversation, Identity, now
from hub.sla import states as sla_states
from hub.states import CONVERSATION_DONE

MAX_ROWS = 100_000


def first_response_seconds(conv: Conversation) -> float | None:
    """Seconds from the conversation's start to the first response, or None before one."""
    if not conv.first_response_at:
        return None
    return (conv.first_response_at - conv.created_at).total_seconds()


def resolution_seconds(conv: Conversation) -> float | None:
    """Seconds from the start to the resolution, for a conversation that is resolved or closed
    now (a reopened one is not resolved, whatever its old ``resolved_at``); else None."""
    if not conv.resolved_at or conv.status not in CONVERSATION_DONE:
        return None
    return (conv.resolved_at - conv.created_at).total_seconds()


def csat_score(conv: Conversation) -> int | None:
    """The customer's satisfaction score (1-5) stored by the CSAT survey, or None."""
    score = ((conv.extra or {}).get("csat") or {}).get("score")
    return score if isinstance(score, int) and not isinstance(score, bool) else None


def _minutes(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "avg_minutes": None, "median_minutes": None, "p90_minutes": None}
    ordered = sorted(values)
    return {
        "count": len(values),
        "avg_minutes": round(statistics.fmean(values), 1),
        "median_minutes": round(statistics.median(values), 1),
        "p90_minutes": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 1),
    }


def _compliance(states: Counter[str]) -> dict[str, Any]:
    """met and breached are decided; open = still running (ok or at risk). ``compliance`` is
    met / decided, never over the open ones."""
    decided = states["met"] + states["breached"]
    return {**{k: states[k] for k in ("met", "breached", "at_risk", "ok")},
            "open": states["ok"] + states["at_risk"], "decided": decided,
            "compliance": round(states["met"] / decided, 3) if decided else None}


def compute(s: Session, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Figures over the conversations created in [since, until) (default: the last 30 days)."""
    until = until or now()
    since = since or until - timedelta(days=30)
    rows = s.execute(
        select(Conversation, Identity.medium)
        .join(Identity, Identity.id == Conversation.identity_id)
        .where(Conversation.created_at >= since, Conversation.created_at < until)
        .limit(MAX_ROWS)
    ).all()
    by_medium: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    first: list[float] = []
    resolution: list[float] = []
    scores: list[int] = []
    sla_first: Counter[str] = Counter()
    sla_resolution: Counter[str] = Counter()
    security = 0
    for conv, medium in rows:
        by_medium[medium or "unknown"] += 1
        by_category[conv.category or "uncategorized"] += 1
        by_language[conv.language or "unknown"] += 1
        by_priority[conv.priority or "normal"] += 1
        security += bool(conv.security_flag)
        fr = first_response_seconds(conv)
        if fr is not None:
            first.append(fr / 60)
        res = resolution_seconds(conv)
        if res is not None:
            resolution.append(res / 60)
        score = csat_score(conv)
        if score is not None:
            scores.append(score)
        block = conv.sla or {}
        if block.get("first_response_due") or block.get("resolution_due"):
            live = sla_states(conv, until)
            if block.get("first_response_due"):
                sla_first[live["first_response"]] += 1
            if block.get("resolution_due"):
                sla_resolution[live["resolution"]] += 1
    dist = Counter(scores)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "conversations": len(rows),
        "security_flagged": security,
        "volume": {"by_medium": dict(by_medium), "by_channel": dict(by_medium), "by_category": dict(by_category),
                   "by_language": dict(by_language), "by_priority": dict(by_priority)},
        "first_response": _minutes(first),
        "resolution": _minutes(resolution),
        "csat": {"responses": len(scores), "average": round(statistics.fmean(scores), 2) if scores else None,
                 "distribution": {str(k): dist[k] for k in range(1, 6)},
                 "satisfied_share": round(sum(1 for x in scores if x >= 4) / len(scores), 3) if scores else None},
        "sla": {"first_response": _compliance(sla_first), "resolution": _compliance(sla_resolution)},
    }



