"""follow-ups: snoozed action items, retry backoff for reminders

Revision ID: 0002_followups
Revises: 0002_reliability
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_followups"
down_revision = "0002_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("source_id", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint("uq_action_items_source_id", ["source_id"])
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    # APScheduler's job store table, exactly as SQLAlchemyJobStore defines it. Created here,
    # under the migration lock, because the job store's own CREATE TABLE IF NOT EXISTS races
    # when several processes start together on PostgreSQL.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_constraint("uq_action_items_source_id", type_="unique")
        batch_op.drop_column("source_id")
        batch_op.drop_column("snoozed_until")
