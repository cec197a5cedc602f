"""/inbox/dashboard: the figures of ``hub.stats`` as server-rendered SVG charts.

Every chart is inline SVG computed here (no chart library, no script), with a ``<title>``
sentence carrying the numbers and a data table next to it. The period selector (7, 30 or 90
days) becomes the ``since``/``until`` of ``hub.stats.compute``, the same function behind
``GET /api/v1/stats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import structlog
import yaml
from flask import Blueprint, render_template, request

from config import sla as sla_config
from hub import stats
from hub.models import now
from hub.web.security import login_required, rt

bp = Blueprint("dashboard", __name__, url_prefix="/inbox", template_folder="templates")
log = structlog.get_logger("omnihub.web.dashboard")

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
LANGUAGES = {"en": "English", "es": "Spanish", "ca": "Catalan", "fr": "French", "de": "German", "pt": "Portuguese",
             "it": "Italian", "nl": "Dutch"}
#: SLA states in the order they are stacked, with the words shown for them
SLA_STATES = (("met", "met"), ("ok", "open within target"), ("at_risk", "at risk"), ("breached", "breached"))

# geometry: x and widths in % of the chart's width, y and heights in px, so text never scales
SPAN = 76.0  # % of the width the longest bar takes (the rest is room for its value)
ROW = 40


@dataclass
class Bar:
    key: str
    label: str
    value: float
    text: str
    y: int
    width: float
    cls: str = ""


@dataclass
class BarChart:
    id: str
    title: str
    bars: list[Bar]
    height: int
    summary: str
    columns: tuple[str, str] = ("", "")
    target: dict[str, Any] | None = None  # {"x", "text"} for a reference line
    extra: dict[str, Any] = field(default_factory=dict)


def fmt_minutes(m: float | None) -> str:
    """45 min, 2 h 5 min, 1 d 3 h — or an en dash when there is no figure."""
    if m is None:
        return "–"
    if m < 60:
        return f"{m:g} min" if m < 10 else f"{round(m)} min"
    mins = round(m)
    if mins < 24 * 60:
        h, r = divmod(mins, 60)
        return f"{h} h {r} min" if r else f"{h} h"
    d, r = divmod(mins, 24 * 60)
    h = round(r / 60)
    return f"{d} d {h} h" if h else f"{d} d"


def fmt_share(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def humanize(key: str) -> str:
    return key.replace("_", " ")


def language_label(code: str) -> str:
    name = LANGUAGES.get(code)
    return f"{name} ({code})" if name else code


def bar_chart(chart_id: str, title: str, items: list[tuple[str, str, float, str]],
              target: tuple[float, str] | None = None, top: float | None = None) -> BarChart:
    """Horizontal bars: label above each bar, value after it. ``items``: (key, label, value, text).

    ``top`` is the value the full bar span stands for; charts that are read side by side
    (first response and resolution time) pass the same ``top`` so their bars share a scale.
    """
    top = top or max([*(v for _, _, v, _ in items), target[0] if target else 0]) or 1
    bars = []
    for i, (key, label, value, text) in enumerate(items):
        w = round(SPAN * value / top, 2)
        bars.append(Bar(key, label, value, text, i * ROW, max(w, 0.5) if value else 0.0))
    summary = f"{title}: " + ("; ".join(f"{b.label} {b.text}" for b in bars) if bars else "no data") + "."
    line = None
    if target:
        x = round(SPAN * target[0] / top, 2)
        line = {"x": x, "text": target[1], "anchor": "end" if x > 70 else "middle" if x > 30 else "start",
                "bottom": len(bars) * ROW}
        summary += f" {target[1]}."
    height = max(len(bars), 1) * ROW + (18 if line else 0)
    return BarChart(chart_id, title, bars, height, summary, target=line)


def volume_chart(chart_id: str, title: str, counts: dict[str, int], total: int, label=humanize) -> BarChart:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    items: list[tuple[str, str, float, str]] = [
        (k, label(k), v, f"{v} ({v / total * 100:.0f}%)" if total else str(v)) for k, v in ordered]
    chart = bar_chart(chart_id, title, items)
    chart.columns = (title.rsplit(" ", 1)[-1].capitalize(), "Conversations")
    return chart


TIME_MEASURES = (("median", "median"), ("p90", "90th percentile"), ("avg", "average"))


def time_scale(*charts: tuple[dict[str, Any], int | None]) -> float:
    """The shared top (minutes) of duration charts: their largest figure or target."""
    values = [figures.get(f"{k}_minutes") or 0 for figures, _ in charts if figures.get("count") for k, _ in TIME_MEASURES]
    values += [target or 0 for figures, target in charts if figures.get("count")]
    return max(values, default=0) or 1


def time_chart(chart_id: str, title: str, figures: dict[str, Any], target_minutes: int | None,
               top: float | None = None) -> BarChart:
    items = [(k, name, figures.get(f"{k}_minutes") or 0, fmt_minutes(figures.get(f"{k}_minutes")))
             for k, name in TIME_MEASURES]
    if not figures.get("count"):
        items = []
    target = (target_minutes, f"Default SLA target {fmt_minutes(target_minutes)}") if target_minutes else None
    chart = bar_chart(chart_id, title, items, target=target if items else None, top=top)
    chart.columns = ("Measure", "Time")
    chart.extra = {"count": figures.get("count", 0), "target": target_minutes}
    for bar in chart.bars:
        bar.cls = "over" if target_minutes and bar.value > target_minutes else ""
    return chart


@dataclass
class Stack:
    key: str
    title: str
    segments: list[dict[str, Any]]
    total: int
    compliance: float | None
    summary: str
    decided: int = 0
    open: int = 0


def sla_stack(key: str, title: str, figures: dict[str, Any]) -> Stack:
    total = sum(figures.get(k, 0) for k, _ in SLA_STATES)
    segs, x = [], 0.0
    for state, words in SLA_STATES:
        n = figures.get(state, 0)
        w = 100 * n / total if total else 0
        segs.append({"state": state, "label": words, "value": n, "x": round(x, 2), "width": round(w, 2)})
        x += w
    compliance = figures.get("compliance")
    parts = ", ".join(f"{s['value']} {s['label']}" for s in segs)
    decided = f"compliance {fmt_share(compliance)} of decided conversations" if compliance is not None else "none decided yet"
    summary = f"{title}: {parts}; {decided}." if total else f"{title}: no SLA targets in this period."
    return Stack(key, title, segs, total, compliance, summary,
                 decided=figures.get("met", 0) + figures.get("breached", 0), open=figures.get("ok", 0) + figures.get("at_risk", 0))


@dataclass
class Columns:
    columns: list[dict[str, Any]]
    summary: str
    height: int = 156


def csat_columns(csat: dict[str, Any]) -> Columns:
    dist = csat.get("distribution") or {}
    top = max([*dist.values(), 1])
    plot_h, base, col_w = 110, 130, 12.0  # px, px, % (five columns centred in fifths)
    cols = []
    for i, score in enumerate(("1", "2", "3", "4", "5")):
        n = dist.get(score, 0)
        h = round(plot_h * n / top, 1)
        cols.append({"score": score, "value": n, "x": 4 + i * 20, "center": 10 + i * 20, "width": col_w,
                     "y": base - h, "height": h, "base": base})
    summary = (f"CSAT: {csat.get('responses', 0)} responses, average {csat.get('average') if csat.get('average') is not None else '–'} of 5; "
               + ", ".join(f"{c['value']} rated {c['score']}" for c in cols) + ".")
    return Columns(cols, summary)


@lru_cache(maxsize=1)
def _policy() -> sla_config.Policy | None:
    try:
        return sla_config.load_policy()
    except (OSError, ValueError, yaml.YAMLError) as e:
        log.warning("dashboard.sla_policy_unreadable", error=str(e))
        return None


def sla_targets() -> dict[str, Any]:
    """The configured targets: the defaults and every priority/category override."""
    p = _policy()
    if p is None:
        return {"default": None, "rows": []}
    rows = [("default", p.defaults)]
    rows += [(f"priority {k}", p.target(None, k)) for k in sorted(p.raw.get("priorities", {}))]
    rows += [(humanize(k), p.target(k, None)) for k in sorted(p.raw.get("categories", {}))]
    return {
        "default": p.defaults,
        "rows": [{"scope": scope, "first_response": fmt_minutes(t.first_response_minutes) if t.first_response_minutes else "–",
                  "goal": fmt_minutes(t.resolution_goal_minutes) if t.resolution_goal_minutes else "–",
                  "resolution": fmt_minutes(t.resolution_minutes) if t.resolution_minutes else "–",
                  "clock": "business hours" if t.business_hours else "around the clock"} for scope, t in rows],
    }


def period_days() -> int:
    days = request.args.get("days", type=int)
    return days if days in PERIODS else DEFAULT_DAYS


def build(st: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    total = st["conversations"]
    vol = st["volume"]
    default = targets["default"]
    fr_target = default.first_response_minutes if default else None
    res_target = default.resolution_minutes if default else None
    # first response and resolution are durations read side by side: one scale for both
    top = time_scale((st["first_response"], fr_target), (st["resolution"], res_target))
    return {
        "medium": volume_chart("chart-medium", "Conversations by medium", vol["by_medium"], total),
        "category": volume_chart("chart-category", "Conversations by category", vol["by_category"], total),
        "language": volume_chart("chart-language", "Conversations by language", vol["by_language"], total, label=language_label),
        "first_response": time_chart("chart-first-response", "First response time", st["first_response"],
                                     fr_target, top=top),
        "resolution": time_chart("chart-resolution", "Resolution time", st["resolution"], res_target, top=top),
        "sla": [sla_stack("first_response", "First response SLA", st["sla"]["first_response"]),
                sla_stack("resolution", "Resolution SLA", st["sla"]["resolution"])],
        "csat": csat_columns(st["csat"]),
    }


@bp.get("/dashboard")
@login_required()
def index():
    days = period_days()
    until = now()
    since = until - timedelta(days=days)
    with rt().db.read() as s:
        st = stats.compute(s, since=since, until=until)
    targets = sla_targets()
    return render_template("dashboard.html", st=st, days=days, periods=PERIODS, charts=build(st, targets),
                           targets=targets, sla_states=SLA_STATES, fmt_minutes=fmt_minutes, fmt_share=fmt_share,
                           api_url="/api/v1/stats?" + urlencode({"since": since.isoformat(), "until": until.isoformat()}),
                           export_url=export_url(since, until))


def export_url(since, until) -> str:
    """The CSV export of the period shown (the dashboard's one filter), in whole UTC days:
    ``from`` and ``to`` are the days of its start and end, both included."""
    params = {"from": since.date().isoformat(), "to": until.date().isoformat()}
    return "/api/v1/exports/conversations.csv?" + urlencode(params)
