"""conversations: an index on (created_at, id)

Revision ID: 0330_conversations_created
Revises: 0320_audit_chain
Create Date: 2026-12-05

The CSV export (hub.exports) reads the conversations created in a date range a page at a
time, by keyset on (created_at, id): with this index each page is one range scan instead of
a scan and sort of the whole table.
"""
from alembic import op


revision = '0330_conversations_created'
down_revision = '0320_audit_chain'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_conversations_created', 'conversations', ['created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversations_created', table_name='conversations')
