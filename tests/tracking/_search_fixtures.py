"""Stores and run rows for the search tests: SQLite always, PostgreSQL when KIBAKO_TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from kibako.store.engine import Store
from kibako.store.schema import contexts, executions, metrics, params, tags

PG_URL = os.environ.get("KIBAKO_TEST_DATABASE_URL", "")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not PG_URL, reason="KIBAKO_TEST_DATABASE_URL is not set (no PostgreSQL to test)"
            ),
        ],
    ),
]


def open_store(backend: str, tmp_path: Path) -> Iterator[Store]:
    """A freshly migrated, empty store on ``backend``; PostgreSQL's public schema is dropped first."""
    if backend == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'kibako.db'}")
    else:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        store = Store(PG_URL)
    try:
        yield store
    finally:
        store.dispose()


@dataclass
class RunRow:
    """One run and its facts; a metric value of None is a NaN (stored as NULL)."""

    id: str
    experiment: str = "e1"
    name: str = ""
    status: str = "Completed"
    start: int | None = None
    end: int | None = None
    created: int = 0
    type: str = "Run"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)


def add_experiments(store: Store, *names: str) -> None:
    with store.write() as tx:
        tx.execute(
            insert(contexts),
            [
                dict(
                    id=name,
                    type="Experiment",
                    name=f"experiment-{name}",
                    arn=f"arn:aws:sagemaker:us-east-1:000000000000:experiment/{name}",
                    description="",
                    properties={},
                    created_ms=0,
                    updated_ms=0,
                )
                for name in names
            ],
        )


def add_runs(store: Store, runs: list[RunRow]) -> None:
    """Insert ``runs`` straight into the tables (the experiments must exist)."""
    with store.write() as tx:
        tx.execute(
            insert(executions),
            [
                dict(
                    id=r.id,
                    type=r.type,
                    name=r.name or r.id,
                    arn=f"arn:aws:sagemaker:us-east-1:000000000000:experiment-trial-component/{r.id}",
                    context_id=r.experiment,
                    parent_id=None,
                    status=r.status,
                    start_ms=r.start,
                    end_ms=r.end,
                    properties={},
                    created_ms=r.created,
                    updated_ms=r.created,
                )
                for r in runs
            ],
        )
        param_rows = [
            dict(execution_id=r.id, key=k, value=v, updated_ms=0) for r in runs for k, v in r.params.items()
        ]
        tag_rows = [dict(entity_id=r.id, key=k, value=v) for r in runs for k, v in r.tags.items()]
        metric_rows = [
            dict(
                execution_id=r.id,
                key=k,
                count=1,
                nan_count=int(v is None),
                min_value=v,
                max_value=v,
                sum_value=v,
                sum_squares=None if v is None else v * v,
                last_value=v,
                last_step=0,
                last_ms=0,
                chunks=0,
            )
            for r in runs
            for k, v in r.metrics.items()
        ]
        for table, rows in ((params, param_rows), (tags, tag_rows), (metrics, metric_rows)):
            if rows:
                tx.execute(insert(table), rows)
