"""Small SQL helpers that differ by dialect."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert


def _insert(dialect: str, table: Table) -> Any:
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


@functools.cache
def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Insert:
    stmt = _insert(dialect, table)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    if updates:
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)  # type: ignore[no-any-return]
    return stmt.on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[no-any-return]


@functools.cache
def _insert_ignore_statement(dialect: str, table: Table, keys: tuple[str, ...]) -> Insert:
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[no-any-return]


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Insert ``rows``, or update every non-key column where a row with the same ``keys`` exists."""
    if not rows:
        return
    stmt = _upsert_statement(conn.dialect.name, table, tuple(keys), tuple(rows[0]))
    conn.execute(stmt, list(rows))


def insert_ignore(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    """Insert ``rows``, skipping those whose ``keys`` exist already."""
    if not rows:
        return
    conn.execute(_insert_ignore_statement(conn.dialect.name, table, tuple(keys)), list(rows))
