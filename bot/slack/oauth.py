"""Multi-workspace installs: Slack's OAuth flow with installations kept in our database.

Used when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set (see bot/slack/app.py).
Bolt serves `/slack/install` (a page with the "Add to Slack" link, which sets a state
cookie) and `/slack/oauth_redirect` (checks the state, exchanges the code with
oauth.v2.access, stores the installation). Every request after that is authorised
with the bot token stored for its own team, so each workspace acts with its own token.

The tables are slack_sdk's own (SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore),
created by our Alembic migration 0002 rather than by their create_tables().
"""

from __future__ import annotations

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# How long the "Add to Slack" link stays valid after the install page was opened.
STATE_EXPIRATION_SECONDS = 600

# The bot scopes requested at install time; must match manifest.yml (a test compares them).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "channels:join",
    "channels:read",
    "groups:history",
    "groups:read",
    "reactions:read",
    "pins:read",
    "users:read",
    "files:read",
    "files:write",
    "canvases:write",
    "canvases:read",
    "im:write",
    "im:history",  # follow-ups: after a crash, look for a reminder already posted before posting it again
    "bookmarks:write",  # the incident channel's bookmark to its web page (SCRIBE_PUBLIC_URL)
    "channels:manage",  # declaring: create public incident channels, invite people, set the topic
    "groups:write",  # declaring: the same for private incident channels
    "bookmarks:read",  # after a crash mid-bookmark: is the web page's bookmark there already?
    "users:read.email",  # action items in a tracker: the owner's account, found by email
)


def _engine(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory must be bound to an Engine")
    return bind


def installation_store(settings: Settings, session_factory: sessionmaker[Session]) -> SQLAlchemyInstallationStore:
    assert settings.slack_client_id, "OAuth needs SLACK_CLIENT_ID"
    return SQLAlchemyInstallationStore(client_id=settings.slack_client_id, engine=_engine(session_factory))


def oauth_settings(settings: Settings, session_factory: sessionmaker[Session]) -> OAuthSettings:
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=installation_store(settings, session_factory),
        # Bot tokens only: the app never acts as the installing user.
        installation_store_bot_only=True,
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRATION_SECONDS, engine=_engine(session_factory)),
    )
