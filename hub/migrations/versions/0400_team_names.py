"""teams: names unique regardless of case (a functional unique index on lower(name))

Revision ID: 0400_team_names
Revises: 0390_sqlite_ids
Create Date: 2026-12-06

"Billing" and "billing" could both be created, and a lookup by name found one or the other
depending on how it was typed. Names are now compared trimmed and case-insensitively
(hub.api checks first, for a clear 409); ``uq_teams_name_lower`` (an expression index, on
SQLite and PostgreSQL alike) makes it hold even for two admins creating teams at once.
Existing names are trimmed, and a name that only differs in case from an older team's gets
the team's id appended ("billing-7"), so the index can be built; nothing else changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0400_team_names'
down_revision = '0390_sqlite_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name FROM teams ORDER BY id")).all()
    seen: set[str] = set()
    for team_id, name in rows:
        new = name.strip()
        if new.lower() in seen:
            suffix = f"-{team_id}"
            new = new[:64 - len(suffix)] + suffix
        seen.add(new.lower())
        if new != name:
            bind.execute(sa.text("UPDATE teams SET name = :n WHERE id = :i"), {"n": new, "i": team_id})
    op.execute("CREATE UNIQUE INDEX uq_teams_name_lower ON teams (lower(name))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS uq_teams_name_lower")
