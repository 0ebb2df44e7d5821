"""real Slack: integration names as authors, link previews of entries

Revision ID: 0003_real_slack
Revises: 0002_followups
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_real_slack"
down_revision = "0002_followups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("links", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_column("links")
        batch_op.drop_column("author_name")
