"""The MLflow side of the benchmarks, run in the peer environment (``.bench-venv``).

Usage: ``.bench-venv/bin/python benchmarks/_mlflow_peer.py <what> '<json args>'``; prints one JSON line.
Every store lives under the ``dir`` argument (an SQLite file ``mlflow.db`` plus an artifact folder), and
times cover only the operation measured: start-up, schema migrations and population are reported apart.

what:
  ingest        one run, metric points through ``MlflowClient.log_batch`` in batches of ``batch``
                (args: dir, keys, steps, batch); also reports the database size before and after
  search_runs   populate ``runs`` runs (params + metrics, one ``log_batch`` each), then time
                ``MlflowClient.search_runs`` (args: dir, runs, params, metrics, filter, order_by,
                max_results, repeats)
  run_creation  ``mlflow.start_run()`` / ``mlflow.end_run()`` pairs after one warm-up pair (args: dir, runs)
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from _common import (
    EXPERIMENT,
    Progress,
    dir_size,
    log,
    percentile,
    run_payload,
    sqlite_checkpoint,
    sqlite_size,
)

DB_NAME = "mlflow.db"


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    for name in ("alembic", "mlflow", "sqlalchemy", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _client(workdir: Path) -> tuple[Any, str, str]:
    """A client on a fresh SQLite store (migrated before any timing) and the id of a new experiment."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{workdir / DB_NAME}"
    started = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(workdir / "artifacts").as_uri())
    log(f"peer: store ready in {time.perf_counter() - started:.1f}s")
    return client, experiment_id, uri


def _version() -> str:
    import mlflow

    return f"mlflow {mlflow.__version__}"


def ingest(args: dict[str, Any]) -> dict[str, Any]:
    from mlflow.entities import Metric

    workdir = Path(args["dir"])
    keys = [f"m{k}" for k in range(int(args["keys"]))]
    steps = int(args["steps"])
    batch_size = int(args.get("batch", 1000))
    client, experiment_id, _uri = _client(workdir)
    empty = client.create_run(experiment_id, run_name="empty")
    client.set_terminated(empty.info.run_id)
    db = workdir / DB_NAME
    sqlite_checkpoint(db)
    db_before, store_before = sqlite_size(db), dir_size(workdir)

    run_id = client.create_run(experiment_id, run_name="ingest").info.run_id
    rng = random.Random(42)
    total = steps * len(keys)
    progress = Progress("peer ingest points", total)
    batch: list[Any] = []
    sent = 0
    started = time.perf_counter()
    for step in range(steps):
        now_ms = int(time.time() * 1000)
        for key in keys:
            batch.append(Metric(key, rng.random(), now_ms, step))
        if len(batch) >= batch_size:
            client.log_batch(run_id, metrics=batch[:batch_size])
            sent += batch_size
            batch = batch[batch_size:]
            progress.update(sent)
    while batch:
        client.log_batch(run_id, metrics=batch[:batch_size])
        batch = batch[batch_size:]
    seconds = time.perf_counter() - started
    client.set_terminated(run_id)
    sqlite_checkpoint(db)
    return {
        "peer_name": _version(),
        "points": total,
        "seconds": seconds,
        "points_per_s": total / seconds,
        "db_bytes_before": db_before,
        "db_bytes_after": sqlite_size(db),
        "store_bytes_before": store_before,
        "store_bytes_after": dir_size(workdir),
    }


def search_runs(args: dict[str, Any]) -> dict[str, Any]:
    from mlflow.entities import Metric, Param

    workdir = Path(args["dir"])
    n_runs, n_params, n_metrics = int(args["runs"]), int(args["params"]), int(args["metrics"])
    client, experiment_id, _uri = _client(workdir)

    progress = Progress("peer populate runs", n_runs)
    started = time.perf_counter()
    for index in range(n_runs):
        name, params, metrics = run_payload(index, n_params, n_metrics)
        run_id = client.create_run(experiment_id, run_name=name).info.run_id
        now_ms = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now_ms, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        client.set_terminated(run_id)
        progress.update(index + 1)
    populate_s = time.perf_counter() - started

    def search() -> list[Any]:
        return list(
            client.search_runs(
                [experiment_id],
                filter_string=args["filter"],
                order_by=list(args["order_by"]),
                max_results=int(args["max_results"]),
            )
        )

    warm = search()  # the first call pays for caches on both sides; it is not counted
    samples = []
    for _ in range(int(args["repeats"])):
        started = time.perf_counter()
        search()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "peer_name": _version(),
        "populate_s": populate_s,
        "p50_ms": percentile(samples, 50),
        "p95_ms": percentile(samples, 95),
        "results": len(warm),
        "names": [run.info.run_name for run in warm],
    }


def run_creation(args: dict[str, Any]) -> dict[str, Any]:
    import mlflow

    workdir = Path(args["dir"])
    n_runs = int(args["runs"])
    _client_unused, experiment_id, uri = _client(workdir)
    mlflow.set_tracking_uri(uri)
    mlflow.start_run(experiment_id=experiment_id, run_name="warm-up")  # not counted, as on our side
    mlflow.end_run()
    samples = []
    progress = Progress("peer runs", n_runs)
    started = time.perf_counter()
    for index in range(n_runs):
        t0 = time.perf_counter()
        mlflow.start_run(experiment_id=experiment_id, run_name=f"run-{index:06d}")
        mlflow.end_run()
        samples.append((time.perf_counter() - t0) * 1000)
        progress.update(index + 1)
    seconds = time.perf_counter() - started
    return {
        "peer_name": _version(),
        "runs": n_runs,
        "seconds": seconds,
        "runs_per_s": n_runs / seconds,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
    }


COMMANDS = {"ingest": ingest, "search_runs": search_runs, "run_creation": run_creation}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in COMMANDS:
        print(f"usage: {argv[0]} {{{','.join(COMMANDS)}}} '<json args>'", file=sys.stderr)
        return 2
    _quiet()
    result = COMMANDS[argv[1]](json.loads(argv[2]))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
