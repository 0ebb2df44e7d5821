"""web_spent_sign_ins: single use of a web sign-in state across every process

Revision ID: 0007_spent_sign_ins
Revises: 0006_incident_privacy
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_spent_sign_ins"
down_revision = "0006_incident_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_spent_sign_ins",
        sa.Column("state_id", sa.String(length=64), primary_key=True),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_spent_sign_ins_spent_at", "web_spent_sign_ins", ["spent_at"])


def downgrade() -> None:
    op.drop_index("ix_web_spent_sign_ins_spent_at", table_name="web_spent_sign_ins")
    op.drop_table("web_spent_sign_ins")
