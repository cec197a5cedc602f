"""conversations: an index on (created_at, id)

Revision ID: 0320_conversations_created
Revises: 0310_sso_totp
Create Date: 2026-12-05

The CSV export (hub.exports) reads the conversations created in a date range a page at a
time, by keyset on (created_at, id): with this index each page is one range scan instead of
a scan and sort of the whole table.
"""
from alembic import op


revision = '0320_conversations_created'
down_revision = '0310_sso_totp'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_conversations_created', 'conversations', ['created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversations_created', table_name='conversations')
