"""status updates and cadence nudges: each incident's latest update and snooze

Revision ID: 0004b_updates
Revises: 0003_real_slack
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004b_updates"
down_revision = "0003_real_slack"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("update_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_update_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updates_snoozed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("updates_snoozed_until")
        batch_op.drop_column("next_update_at")
        batch_op.drop_column("last_update_at")
        batch_op.drop_column("update_status")
