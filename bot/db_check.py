"""Can the database DATABASE_URL names be used? Asked once before `scribe` starts, so a
database that isn't there is reported like any other bad setting: one line naming
DATABASE_URL (its password hidden) and the cause in plain words, instead of a traceback.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.db import normalise_url, sqlite_file

# Seconds to wait for PostgreSQL to answer before saying it doesn't (libpq waits forever).
CONNECT_TIMEOUT_SECONDS = 10
# SQLSTATEs of a refused sign-in (invalid_password, invalid_authorization_specification) and
# of a database that isn't there (invalid_catalog_name). A failed connection attempt often
# carries none (libpq reports it as text), hence libpq's English words too.
_REFUSED_SIGN_IN = {"28P01", "28000"}
_NO_SUCH_DATABASE = "3D000"
_REFUSED_SIGN_IN_WORDS = ("password authentication failed", "no password supplied", "authentication failed for user")
_NO_SUCH_DATABASE_WORDS = re.compile(r'database ".*" does not exist')


class DatabaseUnavailable(Exception):
    """The database can't be used; `str()` is one line, safe to print (no password)."""

    def __init__(self, url: str, cause: str):
        shown = make_url(url).render_as_string(hide_password=True)
        password = make_url(url).password
        if password:
            cause = cause.replace(str(password), "***")
        super().__init__(f"DATABASE_URL={shown}: {cause}")


def check_database(url: str) -> None:
    """Open the database once and give it back, or raise DatabaseUnavailable saying why."""
    path = sqlite_file(url)
    if path is not None:
        _check_sqlite_file(url, Path(path))
        return
    if make_url(url).get_backend_name() != "postgresql":
        return  # in-memory SQLite: nothing to reach
    engine = create_engine(normalise_url(url), connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        raise unavailable(url, error) from None
    finally:
        engine.dispose()


def _check_sqlite_file(url: str, path: Path) -> None:
    path = path.absolute()
    folder = path.parent
    if not folder.exists():
        raise DatabaseUnavailable(url, f"the folder {folder} does not exist; create it, or point DATABASE_URL at a file in an existing folder")
    if not folder.is_dir():
        raise DatabaseUnavailable(url, f"{folder} is not a folder; point DATABASE_URL at a file in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        # SQLite creates the database there, and its -wal and -shm files next to it.
        raise DatabaseUnavailable(url, f"the folder {folder} is not writable by this user; SQLite needs to create files there")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseUnavailable(url, f"the file {path} is not readable and writable by this user")
    try:
        connection = sqlite3.connect(path, timeout=1)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise DatabaseUnavailable(url, f"SQLite can't open {path}: {error}") from None


def unavailable(url: str, error: BaseException) -> DatabaseUnavailable:
    """A failure to reach or sign in to PostgreSQL, in plain words."""
    original = error.orig if isinstance(error, DBAPIError) else error
    sqlstate = getattr(original, "sqlstate", None)
    detail = str(original).strip()
    first_line = detail.splitlines()[0] if detail else type(original).__name__
    parsed = make_url(url)
    where = f"{parsed.host or 'localhost'} port {parsed.port or 5432}"
    lowered = detail.lower()
    if sqlstate in _REFUSED_SIGN_IN or any(words in lowered for words in _REFUSED_SIGN_IN_WORDS):
        cause = f"PostgreSQL refused the user name or password ({_server_message(first_line)}); check them in DATABASE_URL"
    elif sqlstate == _NO_SUCH_DATABASE or _NO_SUCH_DATABASE_WORDS.search(detail):
        cause = f"PostgreSQL at {where} has no such database ({_server_message(first_line)}); create it, or name another"
    elif "connection refused" in lowered:
        cause = f"nothing answers at {where} (connection refused); is PostgreSQL running there?"
    elif "timeout expired" in lowered or "timed out" in lowered:
        cause = f"no answer from {where} within {CONNECT_TIMEOUT_SECONDS} seconds; check the host and any firewall between"
    elif "translate host name" in lowered or "name or service not known" in lowered or "failed to resolve" in lowered:
        cause = f"the host name {parsed.host} is not known; check it"
    else:
        cause = f"PostgreSQL at {where} can't be used: {first_line}"
    return DatabaseUnavailable(url, cause)


def _server_message(line: str) -> str:
    """libpq's line without its "connection to server at …, port … failed: FATAL:" prefix."""
    return line.rsplit("FATAL:", 1)[-1].rsplit("failed:", 1)[-1].strip()
