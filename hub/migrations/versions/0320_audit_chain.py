"""audit log: hash chain (prev_hash, hash), client address, audit_head

Revision ID: 0320_audit_chain
Revises: 0310_sso_totp
Create Date: 2026-12-05

Every audit entry carries the SHA-256 of the entry before it and its own (hub.audit); the
one audit_head row is what appends lock and remembers the last entry. Entries written before
this revision are chained here, in id order, so `omnihub audit verify` covers them too.
"""
from alembic import op
import sqlalchemy as sa
import hub.models


revision = '0320_audit_chain'
down_revision = '0310_sso_totp'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=False, server_default=''))
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    _chain_existing()


def _chain_existing() -> None:
    from hub.audit import HEAD_ID, entry_hash

    bind = op.get_bind()
    log = sa.table('audit_log', sa.column('id', sa.BigInteger()), sa.column('at', hub.models.UTCDateTime(timezone=True)),
                   sa.column('actor', sa.String()), sa.column('action', sa.String()), sa.column('target_type', sa.String()),
                   sa.column('target_id', sa.String()), sa.column('details', sa.JSON()), sa.column('ip', sa.String()),
                   sa.column('prev_hash', sa.String()), sa.column('hash', sa.String()))
    head = sa.table('audit_head', sa.column('id', sa.Integer()), sa.column('last_id', sa.BigInteger()),
                    sa.column('hash', sa.String()), sa.column('count', sa.BigInteger()))
    prev, last_id, count, after = "", 0, 0, 0
    while True:
        rows = bind.execute(sa.select(log).where(log.c.id > after).order_by(log.c.id).limit(1000)).all()
        if not rows:
            break
        for r in rows:
            h = entry_hash(prev, r.id, r.at, r.actor or "", r.action or "", r.target_type or "", r.target_id or "",
                           r.details, r.ip or "")
            bind.execute(log.update().where(log.c.id == r.id).values(prev_hash=prev, hash=h))
            prev, last_id, count = h, r.id, count + 1
        after = rows[-1].id
    bind.execute(head.insert().values(id=HEAD_ID, last_id=last_id, hash=prev, count=count))


def downgrade() -> None:
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('ip')
