"""Medium and connector kind are two words (#15 item 2): identities.channel became
identities.medium with the E.164 phone beside it, the API and webhooks say ``medium`` (and
keep ``channel`` as a deprecated alias), and the core keeps no list of phone media."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import inspect, text

from normalizers.model import Medium, NormalizedMessage, Participant

ROOT = Path(__file__).resolve().parents[2]


def test_migration_renames_the_column_and_fills_phones_on_sqlite_and_postgresql(db_url):
    from alembic import command

    from hub.db import make_engine
    from hub.migrate import alembic_config, upgrade

    upgrade(db_url, "0200_states_checks")
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO contacts (name, attrs, created_at, updated_at) VALUES ('A', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            contact = c.execute(text("SELECT max(id) FROM contacts")).scalar_one()
            for channel, address in (("sms", "+15551234567"), ("whatsapp", "whatsapp:+5215512345678"), ("email", "a@example.com"),
                                     ("sms", "ACME-ALERTS"), ("api", "web:+15550000000")):
                c.execute(text("INSERT INTO identities (contact_id, channel, address, display_name, opted_out, attrs, created_at) "
                               "VALUES (:c, :ch, :a, '', false, '{}', CURRENT_TIMESTAMP)"), {"c": contact, "ch": channel, "a": address})
        upgrade(db_url)
        columns = {col["name"] for col in inspect(engine).get_columns("identities")}
        assert {"medium", "phone"} <= columns and "channel" not in columns
        with engine.begin() as c:
            rows = dict(c.execute(text("SELECT address, phone FROM identities")).all())
        # phone media with an E.164 address get it; a short code, an email and an api id do not
        assert rows == {"+15551234567": "+15551234567", "whatsapp:+5215512345678": "+5215512345678", "a@example.com": None,
                        "ACME-ALERTS": None, "web:+15550000000": None}
        uniques = {u["name"] for u in inspect(engine).get_unique_constraints("identities")}
        assert "uq_identity_medium_address" in uniques
        command.downgrade(alembic_config(db_url), "0200_states_checks")
        with engine.begin() as c:
            assert c.execute(text("SELECT channel FROM identities WHERE address = 'a@example.com'")).scalar_one() == "email"
        assert "uq_identity_channel_address" in {u["name"] for u in inspect(engine).get_unique_constraints("identities")}
        upgrade(db_url)
        assert "uq_identity_medium_address" in {u["name"] for u in inspect(engine).get_unique_constraints("identities")}
    finally:
        engine.dispose()


def test_messages_serialized_with_the_old_name_are_still_read():
    old = {"channel": "sms", "connector": "tw", "external_id": "SM1", "thread_key": "t", "sent_at": "2026-12-05T10:00:00+00:00",
           "sender": {"channel": "sms", "address": "+15551234567", "name": "Ana"}}
    msg = NormalizedMessage.from_dict(old)
    assert msg.medium == Medium.SMS and msg.sender.medium == "sms" and msg.channel == "sms"
    assert NormalizedMessage.from_dict(msg.to_dict()) == msg


def test_the_twilio_normalizer_sets_the_phone_and_media_are_never_connector_kinds():
    from normalizers import twilio as tw

    assert tw._participant("whatsapp:+5215512345678") == Participant(
        medium="whatsapp", address="whatsapp:+5215512345678", phone="+5215512345678")
    assert tw._participant("+15551234567").phone == "+15551234567"
    assert tw._participant("messenger:12345").phone is None
    assert tw._phone_participant("whatsapp:+5215512345678") == Participant(medium="sms", address="+5215512345678", phone="+5215512345678")
    kinds = {"twilio", "zendesk", "freshdesk", "zammad", "chatwoot", "helpscout", "rt", "django_helpdesk", "webhook", "inbox"}
    assert not kinds & {m.value for m in Medium}


def test_no_backend_or_core_module_keeps_a_list_of_phone_media():
    """Phone numbers come from the participant (the normalizer), not from a list of names."""
    pattern = re.compile(r"""\(\s*["']sms["']\s*,\s*["'](?:voice|whatsapp)["']""")
    offenders = []
    for folder in ("hub", "outbound", "workers", "normalizers/language.py"):
        for path in ([ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # a data migration names the media of its own revision
            if pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_api_filters_and_answers_with_medium_and_the_old_name_still_works(hub):
    hub.add_connector("web", "api", secret="medium-secret-123456")
    from tests.web.conftest import seed_conversation

    seed_conversation(hub, "web", "web:carla", "Carla")
    by_medium = hub.api("GET", "/api/v1/conversations?medium=api").get_json()["items"]
    by_channel = hub.api("GET", "/api/v1/conversations?channel=api").get_json()["items"]
    assert [c["id"] for c in by_medium] == [c["id"] for c in by_channel] and len(by_medium) == 1
    conv = by_medium[0]
    assert conv["medium"] == conv["channel"] == "api" and conv["connector"] == "web" and conv["connector_kind"] == "api"
    assert hub.api("GET", "/api/v1/conversations?medium=sms").get_json()["items"] == []
    stats = hub.api("GET", "/api/v1/stats").get_json()["volume"]
    assert stats["by_medium"] == stats["by_channel"] == {"api": 1}
