"""multi-workspace: OAuth installation/state tables, timeline entries scoped by team

Revision ID: 0002_reliability
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_reliability"
down_revision = "0001"
branch_labels = None
depends_on = None


def _team_and_bot_columns() -> list[sa.Column]:
    """The team and bot-token columns both slack_sdk tables have, in their order."""
    return [
        sa.Column("team_id", sa.String(32)),
        sa.Column("team_name", sa.String(200)),
        sa.Column("bot_token", sa.String(200)),
        sa.Column("bot_id", sa.String(32)),
        sa.Column("bot_user_id", sa.String(32)),
        sa.Column("bot_scopes", sa.String(1000)),
        sa.Column("bot_refresh_token", sa.String(200)),
        sa.Column("bot_token_expires_at", sa.DateTime()),
    ]


def upgrade() -> None:
    # slack_sdk's SQLAlchemyInstallationStore / SQLAlchemyOAuthStateStore tables, written
    # out as that library defines them (slack_sdk 3.33+), so the schema is versioned here
    # instead of being created behind Alembic's back by their create_tables().
    op.create_table(
        "slack_installations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("enterprise_name", sa.String(200)),
        sa.Column("enterprise_url", sa.String(200)),
        *_team_and_bot_columns(),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("user_token", sa.String(200)),
        sa.Column("user_scopes", sa.String(1000)),
        sa.Column("user_refresh_token", sa.String(200)),
        sa.Column("user_token_expires_at", sa.DateTime()),
        sa.Column("incoming_webhook_url", sa.String(200)),
        sa.Column("incoming_webhook_channel", sa.String(200)),
        sa.Column("incoming_webhook_channel_id", sa.String(200)),
        sa.Column("incoming_webhook_configuration_url", sa.String(200)),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("token_type", sa.String(32)),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("slack_installations_idx", "slack_installations", ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"])
    op.create_table(
        "slack_bots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("enterprise_name", sa.String(200)),
        *_team_and_bot_columns(),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("slack_bots_idx", "slack_bots", ["client_id", "enterprise_id", "team_id", "installed_at"])
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime(), nullable=False),
    )

    # Two workspaces can have a channel with the same id, and their messages can share a
    # ts: exactly-once must hold per team, not across teams.
    with op.batch_alter_table("timeline_entries") as batch:
        batch.add_column(sa.Column("team_id", sa.String(32), nullable=True))
    op.execute(
        "UPDATE timeline_entries SET team_id = (SELECT incidents.team_id FROM incidents WHERE incidents.id = timeline_entries.incident_id)"
    )
    with op.batch_alter_table("timeline_entries") as batch:
        batch.alter_column("team_id", existing_type=sa.String(32), nullable=False)
        batch.drop_constraint("uq_timeline_entries_channel_ts", type_="unique")
        batch.create_unique_constraint("uq_timeline_entries_team_channel_ts", ["team_id", "channel_id", "ts"])


def downgrade() -> None:
    with op.batch_alter_table("timeline_entries") as batch:
        batch.drop_constraint("uq_timeline_entries_team_channel_ts", type_="unique")
        batch.create_unique_constraint("uq_timeline_entries_channel_ts", ["channel_id", "ts"])
        batch.drop_column("team_id")
    op.drop_table("slack_oauth_states")
    op.drop_index("slack_bots_idx", table_name="slack_bots")
    op.drop_table("slack_bots")
    op.drop_index("slack_installations_idx", table_name="slack_installations")
    op.drop_table("slack_installations")
