"""search: one search document per conversation on PostgreSQL (subject, contact, identity)

Revision ID: 0420_search_doc
Revises: 0410_search_speed
Create Date: 2026-12-06

A search word matches a conversation in its messages, its subject, its contact (name, email)
or its identity (address, display name). On PostgreSQL a name ("dora stone") was two GIN
lookups over contacts and identities of a few thousand rows each, then their conversations
by contact and by identity, then an intersection: 100-180 ms p99 on 1,000,000 messages
(benchmarks S2). ``conversations.search_doc`` holds, per conversation, the ``search_tsv`` of
its subject, of its contact and of its identity in one tsvector with a GIN index, so the
words of a query that are not in messages are one lookup (hub.search._pg_search).

It holds the same lexemes and positions as the three ``search_tsv`` columns of migration
0360_search, each source after a gap of positions (a phrase such as "please.dora" cannot
run from the end of a subject into a contact's name): a query finds exactly what it found
in the three columns.

Kept in step by triggers, in the same transaction as the row it follows:

- ``conversations`` (BEFORE INSERT, and UPDATE of subject, language, contact or identity):
  the document is computed for the new row (the contact and identity rows are locked FOR
  SHARE while they are read, so a rename committing at the same time is either seen here or
  sees this conversation);
- ``contacts`` (AFTER UPDATE of name or email, when one changed) and ``identities`` (AFTER
  UPDATE of address or display name, when one changed): the documents of their
  conversations are computed again. A merge moves conversations to another contact (an
  UPDATE of contact_id: the first trigger); retention's blanked subjects are an UPDATE of
  subject; an erasure deletes the conversations with their documents.

Nothing happens per message: an inbound message on an existing conversation updates none
of these columns. SQLite: nothing to do; its FTS5 tables answer a name in a few
milliseconds at the sizes SQLite serves (docs/inbox.md#search).
"""
from alembic import op

revision = '0420_search_doc'
down_revision = '0410_search_speed'
branch_labels = None
depends_on = None

# keep in step with migration 0360_search (the expression of conversations.search_tsv)
_PG_LANGS = (
    ('en', 'english'), ('es', 'spanish'), ('ca', 'catalan'), ('pt', 'portuguese'), ('fr', 'french'),
    ('de', 'german'), ('it', 'italian'), ('nl', 'dutch'), ('sv', 'swedish'), ('da', 'danish'),
    ('no', 'norwegian'), ('fi', 'finnish'), ('ru', 'russian'), ('tr', 'turkish'), ('ro', 'romanian'),
    ('hu', 'hungarian'), ('id', 'indonesian'), ('el', 'greek'),
)


def _subject_tsv(subject: str, language: str) -> str:
    """conversations.search_tsv (migration 0360_search) of ``subject`` in ``language``."""
    whens = " ".join(f"WHEN '{code}' THEN '{cfg}'::regconfig" for code, cfg in _PG_LANGS)
    cfg = f"(CASE lower(split_part(coalesce({language}, ''), '-', 1)) {whens} ELSE 'simple'::regconfig END)"
    doc = f"regexp_replace(coalesce({subject}, ''), '[^[:alnum:]]+', ' ', 'g')"
    return (f"to_tsvector({cfg}, {doc}) || (CASE WHEN {cfg} = 'simple'::regconfig THEN ''::tsvector "
            f"ELSE to_tsvector('simple'::regconfig, {doc}) END)")


# '_' is never a lexeme of these columns (every run of non-alphanumerics became a space): it
# only pushes the next source three positions on, and ts_delete drops it
DOC_FUNCTION = """
CREATE OR REPLACE FUNCTION omnihub_search_doc(subject_tsv tsvector, contact bigint, ident bigint) RETURNS tsvector
LANGUAGE sql STABLE AS $$
  SELECT ts_delete(coalesce(subject_tsv, ''::tsvector) || '_:3'::tsvector
                   || coalesce((SELECT search_tsv FROM contacts WHERE id = contact), ''::tsvector) || '_:3'::tsvector
                   || coalesce((SELECT search_tsv FROM identities WHERE id = ident), ''::tsvector), '_')
$$
"""

CONVERSATION_TRIGGER = f"""
CREATE OR REPLACE FUNCTION omnihub_conversations_search_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.subject IS NOT DISTINCT FROM OLD.subject AND NEW.language IS NOT DISTINCT FROM OLD.language
     AND NEW.contact_id IS NOT DISTINCT FROM OLD.contact_id AND NEW.identity_id IS NOT DISTINCT FROM OLD.identity_id THEN
    RETURN NEW;
  END IF;
  PERFORM 1 FROM contacts WHERE id = NEW.contact_id FOR SHARE;
  PERFORM 1 FROM identities WHERE id = NEW.identity_id FOR SHARE;
  NEW.search_doc := omnihub_search_doc({_subject_tsv('NEW.subject', 'NEW.language')}, NEW.contact_id, NEW.identity_id);
  RETURN NEW;
END
$$
"""

FOLLOW_TRIGGER = """
CREATE OR REPLACE FUNCTION omnihub_{table}_search_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE conversations SET search_doc = omnihub_search_doc(search_tsv, contact_id, identity_id) WHERE {column} = NEW.id;
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    op.execute("ALTER TABLE conversations ADD COLUMN search_doc tsvector")
    op.execute(DOC_FUNCTION)
    op.execute(CONVERSATION_TRIGGER)
    op.execute("CREATE TRIGGER conversations_search_doc BEFORE INSERT OR UPDATE OF subject, language, contact_id, identity_id "
               "ON conversations FOR EACH ROW EXECUTE FUNCTION omnihub_conversations_search_doc()")
    for table, column, fields in (('contacts', 'contact_id', ('name', 'email')), ('identities', 'identity_id', ('address', 'display_name'))):
        op.execute(FOLLOW_TRIGGER.format(table=table, column=column))
        changed = " OR ".join(f"OLD.{f} IS DISTINCT FROM NEW.{f}" for f in fields)
        op.execute(f"CREATE TRIGGER {table}_search_doc AFTER UPDATE OF {', '.join(fields)} ON {table} FOR EACH ROW "
                   f"WHEN ({changed}) EXECUTE FUNCTION omnihub_{table}_search_doc()")
    op.execute("UPDATE conversations SET search_doc = omnihub_search_doc(search_tsv, contact_id, identity_id)")
    op.execute("CREATE INDEX ix_conversations_doc_search ON conversations USING gin (search_doc)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    op.execute("DROP INDEX IF EXISTS ix_conversations_doc_search")
    for table in ('conversations', 'contacts', 'identities'):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_search_doc ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS omnihub_{table}_search_doc()")
    op.execute("DROP FUNCTION IF EXISTS omnihub_search_doc(tsvector, bigint, bigint)")
    op.execute("ALTER TABLE conversations DROP COLUMN IF EXISTS search_doc")
