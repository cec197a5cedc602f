"""messages and replies: reactions; messages: referral

Revision ID: 0380_reactions
Revises: 0340_event_webhooks
Create Date: 2026-12-05

A customer's emoji reaction (WhatsApp, Messenger, Instagram) is kept on the message or reply
it reacts to (``reactions``: one entry per reacting person) instead of being stored as a
message of its own; ``referral`` is the ad, link or story that brought the customer.
"""
import sqlalchemy as sa
from alembic import op


revision = '0380_reactions'
down_revision = '0340_event_webhooks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reactions', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('referral', sa.JSON(), nullable=True))
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reactions', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_column('reactions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('referral')
        batch_op.drop_column('reactions')
