"""What every metadata store backend must do: migrate on connect, keep every value exactly, stay consistent."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

import kibako
from kibako.core.config import Config
from kibako.errors import RunFinishedError, ValidationError
from kibako.sdk.services import Services
from kibako.store import schema
from kibako.store.engine import Store
from kibako.store.migrate import current_revision, head_revision


@pytest.fixture
def services(database_url: str, tmp_path: Path) -> Services:
    config = Config.from_env({"KIBAKO_HOME": str(tmp_path / "h"), "KIBAKO_DATABASE_URL": database_url})
    opened = Services.open(config)
    yield opened
    opened.close()


def test_connect_migrates_to_head_and_again_is_a_no_op(database_url: str) -> None:
    store = Store(database_url)
    assert current_revision(store) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "contexts",
        "executions",
        "artifacts",
        "associations",
        "metrics",
        "metric_chunks",
        "events",
    } <= tables
    with store.write() as tx:
        tx.execute(
            text(
                "INSERT INTO tokens (id, name, role, token_hash, created_ms) VALUES ('t', 'n', 'viewer', 'h', 1)"
            )
        )
    store.dispose()
    again = Store(database_url)
    with again.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM tokens")).scalar() == 1, "reconnecting kept the data"
    again.dispose()


def test_migrations_build_exactly_the_declared_schema(database_url: str) -> None:
    store = Store(database_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    store.dispose()
    assert diff == [], "schema.py and the migrations disagree: add a migration"


def test_values_round_trip_exactly(services: Services) -> None:
    t = services.tracking
    run = t.start_run("contract", name="exact", tags={"日本語": "タグ"})
    t.log_batch(
        run.id,
        metrics=[
            ("m", 0.1, 0, 1),
            ("m", math.inf, 1, 2),
            ("m", -0.0, 2, 3),
            ("m", math.nan, 3, 4),
            ("big", 1e308, 2**62, 2**40),
        ],
        params={"p": "値 with ' quote", "n": 3},
    )
    history = t.get_metric_history(run.id, "m")
    assert history.values[:3] == [0.1, math.inf, -0.0] and math.isnan(history.values[3])
    assert history.timestamps == [1, 2, 3, 4]
    stored = t.get_run(run.id)
    assert stored.params == {"p": "値 with ' quote", "n": "3"}
    assert stored.tags == {"日本語": "タグ"}
    assert stored.metrics["big"].last_step == 2**62 and stored.metrics["big"].last == 1e308


def test_a_failed_batch_writes_nothing(services: Services) -> None:
    t = services.tracking
    run = t.start_run("contract")
    with pytest.raises(ValidationError):
        t.log_batch(run.id, metrics=[("ok", 1.0, 0, 0)], params={"p": "x" * 7000})
    assert t.get_run(run.id).metrics == {} and t.get_run(run.id).params == {}


def test_many_points_over_many_batches_come_back_in_step_order(services: Services) -> None:
    t = services.tracking
    run = t.start_run("contract")
    for start in (200, 0, 100):  # batches out of step order
        t.log_batch(run.id, metrics=[("loss", float(s), s, s) for s in range(start, start + 100)])
    history = t.get_metric_history(run.id, "loss")
    assert history.steps == list(range(300))
    assert t.get_run(run.id).metrics["loss"].last == 299.0


def test_ended_run_refuses_writes(services: Services) -> None:
    t = services.tracking
    run = t.start_run("contract")
    t.end_run(run.id, "Failed")
    with pytest.raises(RunFinishedError):
        t.log_batch(run.id, params={"a": 1})
    with pytest.raises(RunFinishedError):
        t.end_run(run.id)


def test_search_and_lineage_work_on_the_backend(services: Services, tmp_path: Path) -> None:
    t = services.tracking
    ids = []
    for i in range(5):
        run = t.start_run("contract", name=f"r{i}")
        t.log_batch(run.id, metrics=[("auc", i / 10, 0, 0)], params={"model": "rf" if i % 2 else "lr"})
        t.log_io(run.id, "input", "/data/x.csv", "sha256:" + "a" * 64, "Dataset")
        t.end_run(run.id)
        ids.append(run.id)
    page = t.search_runs(["contract"], "params.model = 'rf' or metrics.auc >= 0.4", ["metrics.auc DESC"], 2)
    assert [r.name for r in page.runs] == ["r4", "r3"]
    rest = t.search_runs(
        ["contract"], "params.model = 'rf' or metrics.auc >= 0.4", ["metrics.auc DESC"], 2, page.next_token
    )
    assert [r.name for r in rest.runs] == ["r1"] and rest.next_token is None
    dataset = t.get_run(ids[0]).inputs[0]
    graph = services.lineage.query(dataset.id, direction="down", max_depth=1)
    assert {v.id for v in graph.vertices} == {dataset.id, *ids}


def test_events_are_written_with_the_change(services: Services) -> None:
    run = services.tracking.start_run("contract")
    services.tracking.end_run(run.id)
    with services.store.read() as conn:
        rows = conn.execute(select(schema.events.c.detail)).scalars().all()
    assert [d["Status"] for d in rows if d["RunId"] == run.id] == ["InProgress", "Completed"]


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    store.dispose()


def test_embedded_default_lives_under_kibako_home(home: Path) -> None:
    kb = kibako.connect()
    with kb.run("where") as run:
        run.log_metric("x", 1.0)
    kb.close()
    assert (home / "kibako.db").exists()
