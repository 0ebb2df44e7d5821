"""reminders become the outbox: every side effect is a claimable row; channel names are reserved

Reminders and nudges were already rows claimed and carried out once after commit. Now every
effect that must not be lost (a declare's channel and invitations, the announcement and its
edits, welcome and bookmark posts, status-update posts, postmortem uploads) is such a row, so
the table is renamed for what it holds and gains what the new kinds need: the team, a lane
(rows of one lane go in order), a payload and a result. The incident is optional, since a
declare's channel is created before its incident exists. People's profiles keep their email,
to match a Slack user to a tracker's account.

Revision ID: 0009_outbox
Revises: 0008_command_id_partial_index
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009_outbox"
down_revision = "0008_command_id_partial_index"
branch_labels = None
depends_on = None

_KEPT = ("id", "incident_id", "action_item_id", "kind", "dedupe_key", "due_at", "status", "attempts", "next_attempt_at",
         "claimed_by", "claimed_at", "sent_at", "channel_id", "message_ts", "last_error")


def _outbox_columns() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("action_item_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("lane", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["action_item_id"], ["action_items.id"], name=op.f("fk_outbox_action_item_id_action_items"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_outbox_incident_id_incidents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    ]


def _reset_sequence(table: str) -> None:
    # Rows were copied with their ids; PostgreSQL's sequence must continue after them.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")


def upgrade() -> None:
    op.create_table("outbox", *_outbox_columns())
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_action_item_id"), ["action_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index("ix_outbox_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_outbox_lane", ["lane", "status"], unique=False)
    columns = ", ".join(_KEPT)
    op.execute(f"INSERT INTO outbox ({columns}, team_id) SELECT {', '.join('r.' + c for c in _KEPT)}, i.team_id "
               "FROM reminders r JOIN incidents i ON i.id = r.incident_id")
    _reset_sequence("outbox")
    op.drop_table("reminders")

    op.create_table(
        "reserved_channel_names",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("declaration_id", sa.Integer(), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["declaration_id"], ["declarations.id"],
                                name=op.f("fk_reserved_channel_names_declaration_id_declarations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "name", name=op.f("pk_reserved_channel_names")),
    )
    with op.batch_alter_table("reserved_channel_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reserved_channel_names_declaration_id"), ["declaration_id"], unique=False)
    with op.batch_alter_table("user_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
    # Channels declared before this migration keep their names out of new reservations.
    op.execute("INSERT INTO reserved_channel_names (team_id, name, declaration_id, reserved_at) "
               "SELECT team_id, channel_name, id, updated_at FROM declarations WHERE channel_name IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("user_profiles", schema=None) as batch_op:
        batch_op.drop_column("email")
    op.drop_table("reserved_channel_names")
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("action_item_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["action_item_id"], ["action_items.id"], name=op.f("fk_reminders_action_item_id_action_items"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_reminders_incident_id_incidents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_reminders_dedupe_key")),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_action_item_id"), ["action_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminders_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index("ix_reminders_status_due", ["status", "due_at"], unique=False)
    reminder_kinds = "'before_due', 'due', 'overdue', 'snoozed', 'digest', 'review', 'nudge_update', 'nudge_lead', 'nudge_idle'"
    columns = ", ".join(_KEPT)
    op.execute(f"INSERT INTO reminders ({columns}) SELECT {columns} FROM outbox WHERE kind IN ({reminder_kinds}) AND incident_id IS NOT NULL")
    _reset_sequence("reminders")
    op.drop_table("outbox")
