"""Alembic migrations, applied on connect: a fast version check first, the full upgrade only when behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from kibako.store.engine import Store

MIGRATIONS = Path(__file__).parent / "migrations"


def head_revision() -> str:
    """The newest revision, read from the file names (``NNNN_*.py``) without importing Alembic."""
    names = sorted(p.stem for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return names[-1].split("_", 1)[0]


def current_revision(store: Store) -> str | None:
    try:
        with store.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def ensure_migrated(store: Store) -> None:
    """Bring the schema to the head revision; idempotent and safe when several processes start at once."""
    head = head_revision()
    if current_revision(store) == head:
        return
    with store.migration_lock():
        if current_revision(store) == head:
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
