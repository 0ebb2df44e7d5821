"""trackers: action items' tickets, a channel's own tracker, webhook replays, poll cursors

Each action item may have one ticket in Jira, GitHub, Linear or GitLab (created by the scribe
through the outbox, or linked by pasting it), with its status as last read back. A channel may
name its own tracker and target. Webhook delivery ids are kept a week so a replay is refused;
polled targets keep where their next poll starts. Tracker accounts learned by email map an
assignee back to a Slack user.

Revision ID: 0011_trackers
Revises: 0010_web_sessions
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_trackers"
down_revision = "0010_web_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_item_id", sa.Integer(), nullable=False),
        sa.Column("tracker", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ticket_key", sa.String(length=255), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("tracker_id", sa.String(length=64), nullable=True),
        sa.Column("marker", sa.String(length=64), nullable=False),
        sa.Column("linked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("status_name", sa.String(length=255), nullable=True),
        sa.Column("assignee_id", sa.String(length=255), nullable=True),
        sa.Column("tracker_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_kind", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["action_item_id"], ["action_items.id"],
                                name=op.f("fk_item_tickets_action_item_id_action_items"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_tickets")),
        sa.UniqueConstraint("action_item_id", name=op.f("uq_item_tickets_action_item_id")),
        sa.UniqueConstraint("marker", name=op.f("uq_item_tickets_marker")),
    )
    op.create_index("ix_item_tickets_tracker_key", "item_tickets", ["tracker", "ticket_key"])
    op.create_table(
        "channel_trackers",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("tracker", sa.String(length=16), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", name=op.f("pk_channel_trackers")),
    )
    op.create_table(
        "tracker_deliveries",
        sa.Column("tracker", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tracker", "delivery_id", name=op.f("pk_tracker_deliveries")),
    )
    op.create_index("ix_tracker_deliveries_received_at", "tracker_deliveries", ["received_at"])
    op.create_table(
        "tracker_cursors",
        sa.Column("tracker", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tracker", "target", name=op.f("pk_tracker_cursors")),
    )
    op.create_table(
        "tracker_people",
        sa.Column("tracker", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tracker", "account_id", "team_id", name=op.f("pk_tracker_people")),
    )


def downgrade() -> None:
    # Rows of the outbox kinds this revision brought would find no handler in the older code.
    op.execute("DELETE FROM outbox WHERE kind IN ('ticket_create', 'ticket_fetch', 'tracker_poll', 'tell')")
    op.drop_table("tracker_people")
    op.drop_table("tracker_cursors")
    op.drop_index("ix_tracker_deliveries_received_at", table_name="tracker_deliveries")
    op.drop_table("tracker_deliveries")
    op.drop_table("channel_trackers")
    op.drop_index("ix_item_tickets_tracker_key", table_name="item_tickets")
    op.drop_table("item_tickets")
