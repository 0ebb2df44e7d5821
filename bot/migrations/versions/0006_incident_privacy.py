"""incidents.is_private: whether the incident's channel is private, kept on the incident

Stats, the web view and App Home must never show a private incident to someone outside its
channel. Until now only the announcement and the declaration knew; this puts the fact on the
incident itself and fills it from those two for incidents recorded before.

Revision ID: 0006_incident_privacy
Revises: 0004_declare
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_incident_privacy"
down_revision = "0004_declare"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_private", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE incidents SET is_private = TRUE WHERE id IN "
        "(SELECT incident_id FROM announcements WHERE private = TRUE"
        " UNION SELECT incident_id FROM declarations WHERE private = TRUE AND incident_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("is_private")
