"""timeline_entries.command_id: unique only where there is one

Only command entries have a command_id; message entries, by far the most rows, have none. A
unique constraint still kept every NULL in its index, so each captured message cost one more
index insert and, on SQLite, one more page written per commit of a message batch. A partial
unique index keeps the same guarantee (a retried command is recorded once) without them.

Revision ID: 0008_command_id_partial_index
Revises: 0007_spent_sign_ins
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_command_id_partial_index"
down_revision = "0007_spent_sign_ins"
branch_labels = None
depends_on = None

NAME = "uq_timeline_entries_command_id"
HAS_COMMAND_ID = sa.text("command_id IS NOT NULL")


def upgrade() -> None:
    # On SQLite a constraint can only go by rebuilding the table (batch mode); migrations run
    # with foreign keys off (bot.migrations.env), so edits and marks keep their entries.
    with op.batch_alter_table("timeline_entries") as batch:
        batch.drop_constraint(NAME, type_="unique")
    op.create_index(NAME, "timeline_entries", ["command_id"], unique=True, sqlite_where=HAS_COMMAND_ID, postgresql_where=HAS_COMMAND_ID)


def downgrade() -> None:
    op.drop_index(NAME, table_name="timeline_entries")
    with op.batch_alter_table("timeline_entries") as batch:
        batch.create_unique_constraint(NAME, ["command_id"])
