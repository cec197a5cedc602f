"""Lifecycle states: one enum module, listed transitions, and CHECK constraints the database
enforces (migration 0200_states_checks) on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from hub.states import (
    CHECKED,
    DELIVERY_TRANSITIONS,
    EVENT_TRANSITIONS,
    REPLY_TRANSITIONS,
    ConversationStatus,
    DeliveryState,
    EventState,
    ReplyState,
    allowed,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_state_has_its_transitions_listed():
    for table, enum in ((EVENT_TRANSITIONS, EventState), (DELIVERY_TRANSITIONS, DeliveryState), (REPLY_TRANSITIONS, ReplyState)):
        assert set(table) == set(enum)
        for targets in table.values():
            assert targets <= set(enum)


def test_transitions():
    assert allowed(REPLY_TRANSITIONS, "pending", ReplyState.SENDING)
    assert allowed(REPLY_TRANSITIONS, ReplyState.SENDING, "failed")  # lease expired: outcome unknown
    assert allowed(REPLY_TRANSITIONS, ReplyState.SENT, ReplyState.DELIVERED)
    assert not allowed(REPLY_TRANSITIONS, ReplyState.DELIVERED, ReplyState.SENT)  # receipts only move forward
    assert not allowed(REPLY_TRANSITIONS, ReplyState.NOTE, ReplyState.PENDING)  # a note is never sent
    assert not allowed(DELIVERY_TRANSITIONS, DeliveryState.DELIVERED, DeliveryState.PENDING)
    assert allowed(EVENT_TRANSITIONS, EventState.QUARANTINED, EventState.PENDING)  # replay
    assert ReplyState.PENDING == "pending" and f"{ConversationStatus.OPEN}" == "open"  # stored as plain text


CORE = ("hub", "workers")
STATE_WORDS = {m.value for _, _, enum in CHECKED for m in enum}


def test_the_core_assigns_and_compares_states_through_the_enums():
    """No bare state string is assigned to or compared with a state/status attribute."""
    offenders = []
    for pkg in CORE:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts or path.name == "states.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                pairs = []
                if isinstance(node, ast.Assign):
                    pairs = [(t, node.value) for t in node.targets]
                elif isinstance(node, ast.Compare):
                    pairs = [(node.left, c) for c in node.comparators]
                elif isinstance(node, ast.keyword) and node.arg in ("state", "status"):
                    pairs = [(ast.Attribute(value=ast.Name("x"), attr=node.arg), node.value)]
                for target, value in pairs:
                    if isinstance(target, ast.Attribute) and target.attr in ("state", "status"):
                        if isinstance(value, ast.Constant) and value.value in STATE_WORDS:
                            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value.value!r}")
    assert offenders == []


def _row_ids(conn):
    from hub.models import Connector, InboundEvent

    cid = conn.execute(insert(Connector.__table__).values(name="c1", kind="api")).inserted_primary_key[0]
    return cid, InboundEvent.__table__


def test_migration_refuses_unknown_values_then_the_database_refuses_them(db_url):
    from alembic import command

    from hub.db import make_engine
    from hub.migrate import alembic_config, upgrade

    upgrade(db_url, "0100_secsessions")
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            cid, events = _row_ids(c)
            c.execute(insert(events).values(connector_id=cid, external_id="e1", payload=b"x", state="bogus"))
        with pytest.raises(RuntimeError, match=r"inbound_events\.state holds values outside .*'bogus'"):
            upgrade(db_url)
        with engine.begin() as c:
            c.execute(update(events).values(state=EventState.QUARANTINED))
        upgrade(db_url)
        with engine.begin() as c:
            assert c.execute(select(events.c.state)).scalar_one() == "quarantined"
        inspector = inspect(engine)
        for table, column, enum in CHECKED:
            [check] = [ck for ck in inspector.get_check_constraints(table) if ck["name"] == f"ck_{table}_{column}"]
            assert all(f"'{m.value}'" in check["sqltext"] for m in enum)
        with pytest.raises(IntegrityError):
            with engine.begin() as c:
                c.execute(insert(events).values(connector_id=cid, external_id="e2", payload=b"x", state="done"))
        command.downgrade(alembic_config(db_url), "0100_secsessions")
        with engine.begin() as c:
            c.execute(insert(events).values(connector_id=cid, external_id="e3", payload=b"x", state="done"))
            c.execute(text("DELETE FROM inbound_events WHERE state = 'done'"))
        upgrade(db_url)
    finally:
        engine.dispose()
