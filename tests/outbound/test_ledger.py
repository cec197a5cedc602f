"""The per-delivery idempotency records of the RT and django-helpdesk backends are pruned,
so the connector state does not grow by two keys per message forever."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.connectors import ConnectorService, StateStore
from hub.types import MemoryState
from outbound import _helpdesk
from tests.support.hub import Hub


def _fill(state, now: datetime) -> None:
    state.set("cursor", 1234)  # not a ledger record: kept whatever its age
    state.set("ticket:7", "41")
    state.set("attempt:1", (now - timedelta(days=30)).isoformat())
    state.set("push:1", {"ticket": "41", "comment": "9"})  # written before records had a time
    state.set("attempt:2", (now - timedelta(days=_helpdesk.LEDGER_DAYS, minutes=1)).isoformat())
    state.set("push:2", {"ticket": "41", "comment": "10", "at": (now - timedelta(days=8)).isoformat()})
    state.set("attempt:3", (now - timedelta(hours=2)).isoformat())  # a delivery still retrying
    state.set("push:3", {"ticket": "41", "comment": "11", "at": now.isoformat()})
    state.set("attempt:4", "not a date")


def test_prune_keeps_recent_records_and_other_keys_in_the_connector_row(tmp_path, redis_url):
    h = Hub(tmp_path, redis_url)
    try:
        with h.rt.db.session() as s:
            row = ConnectorService(h.rt).create(s, "rt", "api", {"secret": "x"})
        state = StateStore(h.rt, row.id)
        now = datetime.now(timezone.utc)
        _fill(state, now)
        assert _helpdesk.prune_ledger(state, now) == 5
        assert dict(state.items()) == {
            "cursor": 1234, "ticket:7": "41", "attempt:3": (now - timedelta(hours=2)).isoformat(),
            "push:3": {"ticket": "41", "comment": "11", "at": now.isoformat()},
        }
    finally:
        h.close()


def test_record_push_stamps_the_result_and_prunes_at_most_hourly():
    state = MemoryState()
    now = datetime.now(timezone.utc)
    _fill(state, now)
    _helpdesk._last_prune.pop(id(state), None)
    _helpdesk.record_push(state, 5, "41", "12")
    assert state["push:5"]["ticket"] == "41" and datetime.fromisoformat(state["push:5"]["at"]) >= now
    assert "push:1" not in state and "attempt:1" not in state and "push:3" in state
    state.set("attempt:6", (now - timedelta(days=30)).isoformat())
    _helpdesk.record_push(state, 6, "41", "13")  # within the hour: no second scan
    assert "attempt:6" in state
    state.set("attempt:6", None)  # like the database store, None deletes
    assert "attempt:6" not in state
