"""webhook replay keys: digests of timestamp-less webhook signatures (#14 item 7)

Revision ID: 0100_secwebhooks
Revises: 0002
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa
import hub.models


revision = '0100_secwebhooks'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_replay_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('connector_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('received_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connector_id', 'digest', name='uq_replay_connector_digest')
    )


def downgrade() -> None:
    op.drop_table('webhook_replay_keys')
