"""incidents.heard_until: up to when every message of an incident channel is known recorded

Catch-up used to read history from the newest message recorded, so a message that arrived
live after a restart, before the catch-up's turn, hid what was said while the app was down.
Now it reads from `heard_until`, which only a complete read of history, or a process that has
been receiving events all along, moves forward. Open incidents start from their newest
recorded message (where catch-up began until now), else their declaration.

Revision ID: 0012_heard_until
Revises: 0011_trackers
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_heard_until"
down_revision = "0011_trackers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heard_until", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE incidents SET heard_until = COALESCE("
        "(SELECT MAX(e.at) FROM timeline_entries e WHERE e.incident_id = incidents.id AND e.ts IS NOT NULL), declared_at) "
        "WHERE closed_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("heard_until")
