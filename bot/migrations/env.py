"""Alembic environment: runs migrations on the URL the app was configured with."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from bot.models import Base

config = context.config
target_metadata = Base.metadata

# Any fixed number works; it only has to be the same in every scribe process.
MIGRATION_LOCK_ID = 7_302_114


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "bot.db.migrate.alembic_config sets sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several `scribe run` processes start together: only one migrates at a time.
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()
    engine.dispose()


run_migrations_online()
