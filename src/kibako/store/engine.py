"""Opening the metadata store: SQLite (WAL, busy timeout, several processes) or PostgreSQL, migrated on connect."""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from kibako.errors import StoreError

BUSY_TIMEOUT_MS = 60_000
WAL_CHECKPOINT_PAGES = 8_000
_LOCKED_RETRIES = 20


class Store:
    """A migrated database, handed out as short transactions: ``with store.write() as tx: ...``."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = _create_engine(url)
        self.dialect = self.engine.dialect.name
        if migrate:
            from kibako.store.migrate import ensure_migrated

            ensure_migrated(self)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction. On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``), so two
        writers queue on the busy timeout instead of failing with "database is locked"."""
        with self._transaction(immediate=True) as conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot)."""
        with self._transaction(immediate=False) as conn:
            yield conn

    @contextlib.contextmanager
    def _transaction(self, *, immediate: bool) -> Iterator[Connection]:
        conn = _connect_with_retry(self.engine)
        try:
            conn.begin()  # SQLAlchemy's bookkeeping; on SQLite (isolation_level=None) it sends nothing
            if self.dialect == "sqlite":
                # Straight to the driver: this runs twice per run started and ended.
                _begin_with_retry(
                    conn.connection.driver_connection, "BEGIN IMMEDIATE" if immediate else "BEGIN"
                )
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            conn.close()

    @contextlib.contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while migrating, so processes that start together migrate once."""
        if self.dialect == "sqlite":
            db = self.engine.url.database
            if not db or db == ":memory:":
                yield
                return
            with open(f"{db}.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            key = zlib.crc32(b"kibako-migrations")
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()

    def dispose(self) -> None:
        if self.dialect == "sqlite":
            # SQLite's advice for long-lived databases: refresh the planner's statistics when closing.
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA optimize")
        self.engine.dispose()


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Every transaction ends in an explicit commit or rollback (see _transaction), so the pool's own
        # rollback on return is work for nothing.
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_reset_on_return=None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _set_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint every ~32 MB of WAL instead of SQLite's 4 MB: each checkpoint stalls one commit on two
            # fsyncs, and fewer of them took the p99 of a run's start and end from ~18 ms to ~2 ms here.
            cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _set_wal(cursor: Any) -> None:
    for attempt in range(_LOCKED_RETRIES):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except Exception as exc:  # sqlite3.OperationalError: database is locked
            if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _connect_with_retry(engine: Engine) -> Connection:
    for attempt in range(_LOCKED_RETRIES):
        try:
            return engine.connect()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                raise StoreError(f"could not open the store: {exc.orig}") from exc
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _begin_with_retry(driver_connection: Any, statement: str) -> None:
    for attempt in range(_LOCKED_RETRIES):
        try:
            driver_connection.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _LOCKED_RETRIES - 1:
                raise StoreError(
                    f"the store stayed locked for too long ({exc}); is another process holding a write "
                    "transaction open?"
                ) from exc
            time.sleep(0.05 * (attempt + 1))
