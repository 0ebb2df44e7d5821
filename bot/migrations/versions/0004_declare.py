"""declare: declarations claimed by idempotency key, one announcement per incident

Revision ID: 0004_declare
Revises: 0005_curation
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_declare"
down_revision = "0005_curation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "declarations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("people", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("channel_name", sa.String(length=255), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", name="fk_declarations_incident_id_incidents", ondelete="SET NULL"), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_declarations"),
        sa.UniqueConstraint("idempotency_key", name="uq_declarations_idempotency_key"),
        sa.UniqueConstraint("incident_id", name="uq_declarations_incident_id"),
    )
    op.create_table(
        "announcements",
        sa.Column("incident_id", sa.Integer(),
                  sa.ForeignKey("incidents.id", name="fk_announcements_incident_id_incidents", ondelete="CASCADE"), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("closing_status", sa.String(length=16), nullable=True),
        sa.Column("closing_ts", sa.String(length=32), nullable=True),
        sa.Column("closing_thread_ts", sa.String(length=32), nullable=True),
        sa.Column("postmortem_url", sa.String(length=500), nullable=True),
        sa.Column("topic", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_announcements"),
    )


def downgrade() -> None:
    op.drop_table("announcements")
    op.drop_table("declarations")
