"""teams, routing rules, agent statuses, conversation events; conversations.team_id, queued_at

Revision ID: 0370_teams
Revises: 0380_reactions
Create Date: 2026-12-05

Teams of agents with a capacity per member and a round-robin counter (issue #21 items 1-2,
docs/teams.md); routing rules evaluated at ingest in position order; each agent's
availability (online / away / offline); timeline entries for routing and assignment changes.
"""
from alembic import op
import sqlalchemy as sa
import hub.models


revision = '0370_teams'
down_revision = '0380_reactions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('assignment', sa.String(length=16), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('rr_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("assignment IN ('manual', 'auto')", name='ck_teams_assignment'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('agent_statuses',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('changed_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('online', 'away', 'offline')", name='ck_agent_statuses_status'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('routing_rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('team_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('set_priority', sa.String(length=16), nullable=True),
    sa.Column('add_tags', sa.JSON(), nullable=False),
    sa.Column('created_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index('ix_routing_rules_position', ['position', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_rules_team_id'), ['team_id'], unique=False)

    op.create_table('team_members',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('team_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('capacity >= 0', name='ck_team_members_capacity'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'user_id', name='uq_team_member')
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_members_user_id'), ['user_id'], unique=False)

    op.create_table('conversation_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', hub.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_events_conversation_id'), ['conversation_id'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('queued_at', hub.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_conversations_team_id'), ['team_id'], unique=False)
        batch_op.create_foreign_key('fk_conversations_team_id', 'teams', ['team_id'], ['id'])




def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_constraint('fk_conversations_team_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_conversations_team_id'))
        batch_op.drop_column('queued_at')
        batch_op.drop_column('team_id')

    with op.batch_alter_table('conversation_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_events_conversation_id'))

    op.drop_table('conversation_events')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_team_members_team_id'))

    op.drop_table('team_members')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_team_id'))
        batch_op.drop_index('ix_routing_rules_position')

    op.drop_table('routing_rules')
    op.drop_table('agent_statuses')
    op.drop_table('teams')
