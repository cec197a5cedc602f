"""event webhooks: subscriptions, events, deliveries (outbox) and the delivery log

Revision ID: 0340_event_webhooks
Revises: 0330_conversations_created
Create Date: 2026-12-05

Admins subscribe URLs to hub events (hub.events); every event is written in the transaction
that caused it, with one delivery row per subscription, retried with backoff like helpdesk
pushes and logged per attempt (docs/event-webhooks.md).
"""
from alembic import op
import sqlalchemy as sa
import hub.models


revision = '0340_event_webhooks'
down_revision = '0330_conversations_created'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('event_subscriptions',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.LargeBinary(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('webhook_events',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', ID, nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_webhook_events_conversation_id', 'webhook_events', ['conversation_id'], unique=False)
    op.create_table('event_deliveries',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('event_id', ID, nullable=False),
    sa.Column('subscription_id', ID, nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_latency_ms', sa.Integer(), nullable=True),
    sa.Column('replays', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', hub.models.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'dead')", name='ck_event_deliveries_state'),
    sa.ForeignKeyConstraint(['event_id'], ['webhook_events.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['event_subscriptions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'subscription_id', name='uq_event_delivery_event_subscription')
    )
    op.create_index('ix_event_deliveries_event_id', 'event_deliveries', ['event_id'], unique=False)
    op.create_index('ix_event_deliveries_state_due', 'event_deliveries', ['state', 'next_attempt_at'], unique=False)
    op.create_index('ix_event_deliveries_subscription', 'event_deliveries', ['subscription_id', 'id'], unique=False)
    op.create_table('event_delivery_attempts',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('delivery_id', ID, nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['event_deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_event_delivery_attempts_delivery_id', 'event_delivery_attempts', ['delivery_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_delivery_attempts_delivery_id', table_name='event_delivery_attempts')
    op.drop_table('event_delivery_attempts')
    op.drop_index('ix_event_deliveries_subscription', table_name='event_deliveries')
    op.drop_index('ix_event_deliveries_state_due', table_name='event_deliveries')
    op.drop_index('ix_event_deliveries_event_id', table_name='event_deliveries')
    op.drop_table('event_deliveries')
    op.drop_index('ix_webhook_events_conversation_id', table_name='webhook_events')
    op.drop_table('webhook_events')
    op.drop_table('event_subscriptions')
