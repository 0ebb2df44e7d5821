"""curation: hide, mark, version and revise timeline entries; who has opened the Home tab

Revision ID: 0005_curation
Revises: 0004b_updates
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_curation"
down_revision = "0004b_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("key_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("corrected_by", sa.String(length=32), nullable=True))
    op.create_table(
        "entry_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(),
                  sa.ForeignKey("timeline_entries.id", name="fk_entry_revisions_entry_id_timeline_entries", ondelete="CASCADE"), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entry_revisions"),
    )
    op.create_index("ix_entry_revisions_entry_id", "entry_revisions", ["entry_id"])
    op.create_table(
        "home_tabs",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_home_tabs"),
    )


def downgrade() -> None:
    op.drop_table("home_tabs")
    op.drop_index("ix_entry_revisions_entry_id", table_name="entry_revisions")
    op.drop_table("entry_revisions")
    with op.batch_alter_table("timeline_entries", schema=None) as batch_op:
        batch_op.drop_column("corrected_by")
        batch_op.drop_column("version")
        batch_op.drop_column("key_kind")
        batch_op.drop_column("hidden")
