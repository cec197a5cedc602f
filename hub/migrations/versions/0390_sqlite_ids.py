"""SQLite: ids are never handed out twice (AUTOINCREMENT)

Revision ID: 0390_sqlite_ids
Revises: 0360_search
Create Date: 2026-12-05

Without AUTOINCREMENT SQLite gives a new row max(id) + 1, so erasing the newest contact (or
deleting the newest messages) hands their ids to the next customer: the signed webhook's
``Idempotency-Key: omnihub-message-<id>`` then repeats (a receiver that dedupes drops the new
customer's message), audit entries about the erased customer point at the new one, and a later
erasure of the new one redacted the first erasure's own entry (``omnihub audit verify`` broke).
PostgreSQL sequences never go back; this is SQLite only.

The tables keep their on-disk format: ``id INTEGER NOT NULL`` with ``PRIMARY KEY (id)`` and
``id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT`` are both the rowid, so only the schema text
changes (``PRAGMA writable_schema``, the documented way for changes that leave the stored
content as it is), and ``sqlite_sequence`` starts at each table's largest id. No table is
rebuilt: the search triggers and every index stay; existing rows keep their ids.
"""
import re

from alembic import op

revision = '0390_sqlite_ids'
down_revision = '0360_search'
branch_labels = None
depends_on = None

#: every table rows are deleted from (erasure, retention, pruning) whose id leaves the hub
TABLES = (
    "contacts", "identities", "conversations", "messages", "replies", "attachments", "deliveries",
    "inbound_events", "helpdesk_links", "webhook_replay_keys", "conversation_events", "webhook_events",
    "event_deliveries", "event_delivery_attempts", "ticket_removals", "audit_log",
    # what admins delete and audit entries name by id
    "event_subscriptions", "teams", "routing_rules", "retention_policies", "api_tokens",
)
_COLUMN = re.compile(r"\bid INTEGER NOT NULL,")
_TABLE_PK = re.compile(r",\s*(?:CONSTRAINT \w+ )?PRIMARY KEY \(id\)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    changes = []
    for table in TABLES:
        sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
        if not sql or "AUTOINCREMENT" in sql.upper():
            continue  # not there (yet), or done
        new, n1 = _COLUMN.subn("id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", sql, count=1)
        new, n2 = _TABLE_PK.subn("", new, count=1)
        if n1 == 1 and n2 == 1:
            changes.append((table, new))
    if not changes:
        return
    # sqlite_sequence exists once any AUTOINCREMENT table was created
    bind.exec_driver_sql("CREATE TABLE IF NOT EXISTS _omnihub_sequence_probe (id INTEGER PRIMARY KEY AUTOINCREMENT)")
    bind.exec_driver_sql("DROP TABLE _omnihub_sequence_probe")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    for table, sql in changes:
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")  # every connection re-reads the schema
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    for table, _sql in changes:
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        bind.exec_driver_sql(f'INSERT INTO sqlite_sequence (name, seq) SELECT ?, COALESCE(MAX(id), 0) FROM "{table}"', (table,))


def downgrade() -> None:
    """Nothing to undo: AUTOINCREMENT only keeps ids from coming back; older code reads the
    tables the same (and upgrading again finds them done)."""
