"""The per-delivery idempotency records of the RT and django-helpdesk backends are pruned,
so the connector state does not grow by two keys per message forever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.connectors import ConnectorService, StateStore
from hub.types import ContactInfo, ConversationInfo, MemoryState, PushItem
from normalizers.model import Participant
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
        now = datetime.now(UTC)
        _fill(state, now)
        assert _helpdesk.prune_ledger(state, now) == 5
        assert dict(state.items()) == {
            "cursor": 1234, "ticket:7": "41", "attempt:3": (now - timedelta(hours=2)).isoformat(),
            "push:3": {"ticket": "41", "comment": "11", "at": now.isoformat()},
        }
    finally:
        h.close()


def _item(delivery_id: int) -> PushItem:
    conv = ConversationInfo(id=7, subject="s", medium="api", connector="web", status="open", priority="normal",
                            category=None, language=None, tags=(), entities=(), sla={})
    return PushItem(delivery_id=delivery_id, conversation=conv, contact=ContactInfo(id=1, name="", email=None, identities=()),
                    message_id=delivery_id, external_id=f"m{delivery_id}", direction="inbound", kind="message",
                    sender=Participant(medium="api", address="a"), sent_at=datetime.now(UTC), subject="s",
                    text="t", html="", attachments=(), ticket_ref=None, is_first=False)


def test_ledger_records_attempts_tickets_and_results_and_prunes_at_most_hourly():
    state = MemoryState()
    now = datetime.now(UTC)
    _fill(state, now)
    _helpdesk._last_prune.pop(id(state), None)
    ledger = _helpdesk.DeliveryLedger(state, _item(5))
    assert ledger.result() is None and ledger.attempt() is None and ledger.ticket() == "41"  # the conversation's ticket
    ledger.mark_attempt()
    assert ledger.attempt() >= now
    ledger.record("41", "12")
    assert ledger.result()["ticket"] == "41" and datetime.fromisoformat(state["push:5"]["at"]) >= now
    assert "push:1" not in state and "attempt:1" not in state and "push:3" in state
    state.set("attempt:6", (now - timedelta(days=30)).isoformat())
    _helpdesk.DeliveryLedger(state, _item(6)).record("41", "13")  # within the hour: no second scan
    assert "attempt:6" in state
    state.set("attempt:6", None)  # like the database store, None deletes
    assert "attempt:6" not in state
