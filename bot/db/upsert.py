"""INSERT … ON CONFLICT DO NOTHING: how redeliveries and races become no-ops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def insert_ignoring_returning(session: Session, model: type, values: dict, conflict_columns: list[str], *, returning: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING `returning`: the new row's value, None when it existed."""
    statement = _insert_ignoring_sql(session, model, tuple(values), tuple(conflict_columns), returning=returning)
    return session.execute(statement, values).scalar()


def insert_ignoring_duplicates(session: Session, model: type, values: dict, conflict_columns: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted.

    This is how redeliveries become no-ops: the unique constraint decides, atomically,
    even when two processes receive the same event at once.
    """
    primary_key = model.__mapper__.primary_key[0].name  # type: ignore[attr-defined]
    statement = _insert_ignoring_sql(session, model, tuple(values), tuple(conflict_columns), returning=primary_key)
    # RETURNING, not rowcount: psycopg can report rowcount 1 even when the conflict
    # clause skipped the row. session.execute (not the connection) so pending ORM
    # changes are flushed first.
    return session.execute(statement, values).first() is not None


def _insert_ignoring_sql(
    session: Session, model: type, columns: tuple[str, ...], conflict_columns: tuple[str, ...], returning: str | None = None
) -> TextClause:
    dialect = session.get_bind().dialect
    return _compiled_insert_ignoring(model.__table__, columns, conflict_columns, returning, dialect.identifier_preparer.quote)  # type: ignore[attr-defined]


@lru_cache(maxsize=64)
def _compiled_insert_ignoring(
    table: Table, columns: tuple[str, ...], conflict_columns: tuple[str, ...], returning: str | None, quote: Callable[[str], str]
) -> TextClause:
    """INSERT … VALUES … ON CONFLICT DO NOTHING as typed text. These inserts run for many
    commands, and SQLAlchemy cannot cache the compiled form of its dialect
    `on_conflict_do_nothing()` (it has no cache key), so it compiled them on every call;
    text is compiled once."""
    values = ", ".join(f":{c}" for c in columns)
    sql = insert_ignoring_sql(table, columns, f"VALUES ({values})", conflict_columns, returning, quote)
    # Typed parameters, so datetimes and JSON are converted exactly as in ORM inserts.
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def _partial_index_predicate(table: Table, columns: tuple[str, ...]) -> str:
    """` WHERE <predicate>` when `columns` are those of a partial unique index of `table`, else "":
    both databases only match an ON CONFLICT target to a partial index that repeats its WHERE."""
    for index in table.indexes:
        if index.unique and tuple(c.name for c in index.columns) == columns:
            # The models give both databases the same predicate (bot.models).
            where = index.dialect_options["postgresql"].get("where")
            if where is None:
                where = index.dialect_options["sqlite"].get("where")
            if where is not None:
                return f" WHERE {where}"
    return ""


def insert_ignoring_sql(
    table: Table, target_columns: tuple[str, ...], rows_sql: str, conflict_columns: tuple[str, ...], returning: str | None, quote: Callable[[str], str]
) -> str:
    """`INSERT INTO table (target_columns) <rows_sql> ON CONFLICT (…) DO NOTHING [RETURNING …]`,
    where `rows_sql` is a VALUES list or a SELECT. Both SQLite (3.35+) and PostgreSQL accept
    this exact syntax."""
    names = ", ".join(quote(c) for c in target_columns)
    conflict = ", ".join(quote(c) for c in conflict_columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) {rows_sql} ON CONFLICT ({conflict}){_partial_index_predicate(table, conflict_columns)} DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(returning)}"
    return sql
