"""SLA targets and due dates with business hours and holidays, on a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config import sla

UTC = UTC
MADRID = ZoneInfo("Europe/Madrid")
OFFICE = {
    "timezone": "Europe/Madrid",
    "business_hours": {d: ["09:00-14:00", "15:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-25"],
}


def test_defaults_from_the_seeds():
    p = sla.load_policy()
    assert p.target("general_question", "normal").first_response_minutes == 60
    hacked = p.target("suspicious_access_or_hacked_account", "urgent")
    assert (hacked.first_response_minutes, hacked.resolution_goal_minutes, hacked.resolution_minutes) == (15, 60, 180)
    lost = p.target("lost_keys_or_recovery_phrase", "high")
    assert (lost.resolution_goal_minutes, lost.resolution_minutes) == (24 * 60, 48 * 60)
    assert lost.first_response_minutes == 60
    assert p.target("ui_error", "urgent").first_response_minutes == 15  # priority applies
    assert p.target("ui_error", "normal").resolution_minutes is None


def test_wall_clock_when_always_open():
    start = datetime(2026, 11, 21, 23, 50, tzinfo=UTC)  # Saturday night
    assert sla.due_at(start, 60) == datetime(2026, 11, 22, 0, 50, tzinfo=UTC)


def test_business_hours_skip_lunch_nights_weekends_and_holidays():
    cal = sla.policy_from_dict(OFFICE).calendar
    # Friday 17:30 Madrid + 60 business minutes -> Monday 09:30 Madrid
    fri = datetime(2026, 11, 20, 17, 30, tzinfo=MADRID)
    assert sla.due_at(fri, 60, cal) == datetime(2026, 11, 23, 9, 30, tzinfo=MADRID).astimezone(UTC)
    # 13:30 + 60 -> 15:30 (lunch 14-15 is closed)
    assert sla.due_at(datetime(2026, 11, 23, 13, 30, tzinfo=MADRID), 60, cal) == datetime(2026, 11, 23, 15, 30, tzinfo=MADRID)
    # before opening: the clock starts at 09:00
    assert sla.due_at(datetime(2026, 11, 23, 6, 0, tzinfo=MADRID), 15, cal) == datetime(2026, 11, 23, 9, 15, tzinfo=MADRID)
    # Christmas (Friday) is a holiday: Thursday 17:00 + 120 -> Monday 10:00
    assert sla.due_at(datetime(2026, 12, 24, 17, 0, tzinfo=MADRID), 120, cal) == datetime(2026, 12, 28, 10, 0, tzinfo=MADRID)
    assert sla.business_minutes_between(fri, datetime(2026, 11, 23, 9, 30, tzinfo=MADRID), cal) == 60


def test_daylight_saving_change_is_handled():
    cal = sla.policy_from_dict({"timezone": "Europe/Madrid", "business_hours": {"mon": ["09:00-18:00"], "fri": ["09:00-18:00"]}}).calendar
    # 2026-10-25 clocks go back; Friday 17:00 +120 -> Monday 10:00 local (CET, UTC+1)
    got = sla.due_at(datetime(2026, 10, 23, 17, 0, tzinfo=MADRID), 120, cal)
    assert got == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)


def test_hacked_account_runs_on_the_wall_clock_even_with_office_hours():
    p = sla.policy_from_dict(OFFICE)
    sat_night = datetime(2026, 11, 21, 23, 0, tzinfo=MADRID)
    d = sla.deadlines(p, sat_night, "suspicious_access_or_hacked_account", "urgent")
    assert d.first_response_due == sat_night + timedelta(minutes=15)
    assert d.resolution_due == sat_night + timedelta(hours=3)
    normal = sla.deadlines(p, sat_night, "payment_delay", "normal")
    assert normal.first_response_due == datetime(2026, 11, 23, 10, 0, tzinfo=MADRID)
    assert normal.resolution_due is None


def test_state_on_a_frozen_clock():
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    due = sla.due_at(start, 60)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    assert sla.state(start, due, at(10)) == "ok"
    assert sla.state(start, due, at(46)) == "at_risk"
    assert sla.state(start, due, at(60)) == "breached"
    assert sla.state(start, due, at(90), done_at=at(30)) == "met"
    assert sla.state(start, due, at(90), done_at=at(75)) == "breached"
    assert sla.state(start, None, at(90)) == "none"


def test_yaml_file_overrides(tmp_path, monkeypatch):
    f = tmp_path / "sla.yaml"
    f.write_text("defaults: {first_response_minutes: 30}\ncategories:\n  payment_delay: {resolution_minutes: 240}\n")
    monkeypatch.setenv("OMNIHUB_SLA_FILE", str(f))
    p = sla.load_policy()
    assert p.target("general_question", "low").first_response_minutes == 30
    assert p.target("payment_delay", "normal").resolution_minutes == 240
    # built-in category defaults survive a file that does not mention them
    assert p.target("suspicious_access_or_hacked_account", "urgent").first_response_minutes == 15


@pytest.mark.parametrize(
    "bad",
    [
        {"defaults": {"first_response_minute": 5}},
        {"defaults": {"first_response_minutes": -5}},
        {"business_hours": {"monday": ["09:00-18:00"]}},
        {"business_hours": {"mon": ["18:00-09:00"]}},
        {"timezone": "Mars/Olympus"},
        {"at_risk_fraction": 2},
    ],
)
def test_invalid_config_is_rejected(bad):
    with pytest.raises((ValueError, KeyError)):
        sla.policy_from_dict(bad)


def test_config_imports_nothing_of_the_project():
    import ast
    from pathlib import Path

    root = Path(sla.__file__).resolve().parent
    for path in [root / "sla.py", root / "templates" / "__init__.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(m.split(".")[0] in {"hub", "channels", "normalizers", "outbound", "workers"} for m in mods)
