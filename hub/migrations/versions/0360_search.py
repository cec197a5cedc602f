"""full-text search: FTS5 tables + triggers (SQLite), tsvector columns + GIN indexes (PostgreSQL)

Revision ID: 0360_search
Revises: 0350_retention
Create Date: 2026-12-05

The inbox search box and `q` of GET /api/v1/conversations search message text, subjects
and contacts through a full-text index (hub.search, docs/inbox.md#search):

- SQLite: one external-content FTS5 table per source (messages_fts, conversations_fts,
  contacts_fts, identities_fts) kept in step by triggers on insert, update and delete, so a
  row that is edited, redacted or erased leaves the index in the same transaction.
- PostgreSQL: a stored generated ``search_tsv`` column on the same four tables with a GIN
  index. Messages and subjects use the text search configuration of their language when it
  is known (hub.search.PG_CONFIGS) plus 'simple', 'simple' alone otherwise; names and
  addresses use 'simple'.

Only stored columns are indexed: the message text as stored (already redacted by the
pipeline; sealed values live encrypted in ``extra`` and are never indexed), the subject,
names, emails and addresses. On PostgreSQL adding the generated columns rewrites the four
tables once (a few minutes for millions of messages).

SQLite drops a table's triggers with the table: a later migration that recreates one of
these tables (batch mode) must create its three triggers again (copy them from here).
"""
from alembic import op


revision = '0360_search'
down_revision = '0350_retention'
branch_labels = None
depends_on = None

#: (table, FTS columns, indexed expression per column on SQLite)
SQLITE_SOURCES = (
    ('messages', ('text', 'subject')),
    ('conversations', ('subject',)),
    ('contacts', ('name', 'email')),
    ('identities', ('address', 'display_name')),
)

# keep in step with hub.search.PG_CONFIGS (the migration must not change when that does)
_PG_LANGS = (
    ('en', 'english'), ('es', 'spanish'), ('ca', 'catalan'), ('pt', 'portuguese'), ('fr', 'french'),
    ('de', 'german'), ('it', 'italian'), ('nl', 'dutch'), ('sv', 'swedish'), ('da', 'danish'),
    ('no', 'norwegian'), ('fi', 'finnish'), ('ru', 'russian'), ('tr', 'turkish'), ('ro', 'romanian'),
    ('hu', 'hungarian'), ('id', 'indonesian'), ('el', 'greek'),
)


def _pg_config(column: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{cfg}'::regconfig" for code, cfg in _PG_LANGS)
    return f"(CASE lower(split_part(coalesce({column}, ''), '-', 1)) {whens} ELSE 'simple'::regconfig END)"


def _pg_doc(*columns: str) -> str:
    # punctuation becomes a space, so "emil.stone@example.org" is four words as on SQLite
    # (the PostgreSQL parser would keep it as one email token)
    joined = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
    return f"regexp_replace({joined}, '[^[:alnum:]]+', ' ', 'g')"


PG_SOURCES = (
    ('messages', _pg_config('language'), ('text', 'subject')),
    ('conversations', _pg_config('language'), ('subject',)),
    ('contacts', "'simple'::regconfig", ('name', 'email')),
    ('identities', "'simple'::regconfig", ('address', 'display_name')),
)


def upgrade() -> None:
    # the list's order over every status (status=all, searches): keyset pages by (last_message_at, id)
    op.create_index('ix_conversations_last_id', 'conversations', ['last_message_at', 'id'], unique=False)
    # a matching identity's conversations (hub.search)
    op.create_index('ix_conversations_identity_id', 'conversations', ['identity_id'], unique=False)
    # the inbox's "waiting longest" order: coalesce(last_inbound_at, last_message_at), id
    op.execute("CREATE INDEX ix_conversations_waiting ON conversations (coalesce(last_inbound_at, last_message_at), id)")
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for table, cols in SQLITE_SOURCES:
            fts = f'{table}_fts'
            names = ', '.join(cols)
            new = ', '.join(f"coalesce(new.{c}, '')" for c in cols)
            old = ', '.join(f"coalesce(old.{c}, '')" for c in cols)
            op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', "
                       f"tokenize='unicode61 remove_diacritics 2')")
            op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                       f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")
            op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                       f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); END")
            op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {names} ON {table} BEGIN "
                       f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old}); "
                       f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new}); END")
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    elif bind.dialect.name == 'postgresql':
        for table, cfg, cols in PG_SOURCES:
            doc = _pg_doc(*cols)
            # in its language's configuration (stems, no stop words) and, unless that is
            # 'simple' already, as plain words too: a query word that is a stop word in the
            # language ("the", "under") still finds the text
            tsv = f"to_tsvector({cfg}, {doc})"
            if cfg != "'simple'::regconfig":
                tsv = (f"{tsv} || (CASE WHEN {cfg} = 'simple'::regconfig THEN ''::tsvector "
                       f"ELSE to_tsvector('simple'::regconfig, {doc}) END)")
            op.execute(f"ALTER TABLE {table} ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({tsv}) STORED")
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_tsv)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for table, _cols in SQLITE_SOURCES:
            for suffix in ('ai', 'ad', 'au'):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    elif bind.dialect.name == 'postgresql':
        for table, _cfg, _cols in PG_SOURCES:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_tsv")
    op.execute("DROP INDEX IF EXISTS ix_conversations_waiting")
    op.drop_index('ix_conversations_identity_id', table_name='conversations')
    op.drop_index('ix_conversations_last_id', table_name='conversations')
