"""CHECK constraints on the lifecycle state columns (hub/states.py)

Revision ID: 0200_states_checks
Revises: 0100_secsessions
Create Date: 2026-12-05

Before adding a constraint the migration looks for rows holding a value the enum does not
know; it stops with a message naming the table, the column and the values instead of
failing halfway in the database's own words.
"""
from alembic import op
import sqlalchemy as sa

from hub.states import CHECKED, check_sql


revision = '0200_states_checks'
down_revision = '0100_secsessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    for table, column, enum in CHECKED:
        known = [m.value for m in enum]
        bad = [row[0] for row in conn.execute(
            sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NULL OR {column} NOT IN :known").bindparams(
                sa.bindparam("known", expanding=True)), {"known": known})]
        if bad:
            raise RuntimeError(
                f"migration 0200_states_checks: {table}.{column} holds values outside {', '.join(known)}: "
                f"{', '.join(repr(b) for b in bad)} — correct those rows (UPDATE {table} SET {column} = ... ) and run "
                "`omnihub db upgrade` again")
    for table, column, enum in CHECKED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(f"ck_{table}_{column}", check_sql(column, enum))


def downgrade() -> None:
    for table, column, _ in CHECKED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"ck_{table}_{column}", type_="check")
