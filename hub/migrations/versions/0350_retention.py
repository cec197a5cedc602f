"""retention policies per connector; the ticket-removal outbox of contact erasure

Revision ID: 0350_retention
Revises: 0370_teams
Create Date: 2026-12-05

retention_policies: one row per connector that has a policy (days, delete|anonymize), run by
the poller under the ``retention`` lease (hub.retention). ticket_removals: the helpdesk
tickets whose removal an erasure asked for, retried by the poller (hub.erasure).
"""
from alembic import op
import sqlalchemy as sa
import hub.models


revision = '0350_retention'
down_revision = '0370_teams'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('retention_policies',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('connector_id', ID, nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('updated_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.JSON(), nullable=False),
    sa.CheckConstraint("action IN ('delete', 'anonymize')", name='ck_retention_action'),
    sa.CheckConstraint('days >= 1', name='ck_retention_days'),
    sa.ForeignKeyConstraint(['connector_id'], ['connectors.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('connector_id')
    )
    op.create_table('ticket_removals',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('helpdesk_id', ID, nullable=False),
    sa.Column('external_ref', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'done', 'dead', 'unsupported')", name='ck_ticket_removals_state'),
    sa.ForeignKeyConstraint(['helpdesk_id'], ['connectors.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('helpdesk_id', 'external_ref', name='uq_ticket_removal_ref')
    )
    op.create_index('ix_ticket_removals_state_due', 'ticket_removals', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_removals_state_due', table_name='ticket_removals')
    op.drop_table('ticket_removals')
    op.drop_table('retention_policies')
