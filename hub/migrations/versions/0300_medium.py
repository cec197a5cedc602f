"""identities.channel becomes identities.medium; identities.phone

Revision ID: 0300_medium
Revises: 0200_states_checks
Create Date: 2026-12-05

"Channel" meant both how a customer reaches us (sms, whatsapp, email: the *medium*) and the
connector kind that carries it (twilio, api). The identity's column says what it holds; the
E.164 number of a phone identity gets its own column (filled by the normalizer from now on;
filled here from the address for existing sms, whatsapp and voice identities), so helpdesk
backends no longer keep a list of phone media.
"""
from alembic import op
import sqlalchemy as sa


revision = '0300_medium'
down_revision = '0200_states_checks'
branch_labels = None
depends_on = None

PHONE_MEDIA = ("sms", "whatsapp", "voice")  # the media whose addresses are phone numbers (as of this revision)


def upgrade() -> None:
    # two steps: SQLite's batch mode loses a constraint created in the same batch as the rename
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_constraint("uq_identity_channel_address", type_="unique")
        batch_op.alter_column("channel", new_column_name="medium", existing_type=sa.String(length=32), existing_nullable=False)
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_identity_medium_address", ["medium", "address"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, medium, address FROM identities WHERE medium IN :media").bindparams(
        sa.bindparam("media", expanding=True)), {"media": list(PHONE_MEDIA)}).all()
    import re

    e164 = re.compile(r"\+[1-9]\d{6,15}")
    for id_, medium, address in rows:
        bare = address.split(":", 1)[1] if medium != "sms" and ":" in address else address
        if e164.fullmatch(bare):
            conn.execute(sa.text("UPDATE identities SET phone = :phone WHERE id = :id"), {"phone": bare, "id": id_})


def downgrade() -> None:
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_constraint("uq_identity_medium_address", type_="unique")
        batch_op.drop_column("phone")
        batch_op.alter_column("medium", new_column_name="channel", existing_type=sa.String(length=32), existing_nullable=False)
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_identity_channel_address", ["channel", "address"])
