"""The kibako side of the benchmarks: the same workloads as ``_mlflow_peer.py``, through the public SDK.

Each function opens its own embedded store under ``home`` (``<home>/kibako.db`` plus artifacts) and closes
it, and times only the operation measured.
"""

from __future__ import annotations

import random
import time
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

DB_NAME = "kibako.db"


def _connect(home: Path) -> Any:
    import kibako

    return kibako.connect(home=str(home))


def _settled_sizes(home: Path) -> tuple[int, int]:
    """(database bytes, whole store bytes) once the store is closed and its log checkpointed."""
    db = home / DB_NAME
    sqlite_checkpoint(db)
    return sqlite_size(db), dir_size(home)


def ingest(home: Path, keys: int, steps: int) -> dict[str, Any]:
    """One run; ``steps`` calls of ``log_metrics`` with ``keys`` metrics each, then a flush."""
    names = [f"m{k}" for k in range(keys)]
    kb = _connect(home)
    try:
        with kb.run(EXPERIMENT, name="empty"):
            pass
    finally:
        kb.close()
    db_before, store_before = _settled_sizes(home)

    kb = _connect(home)
    try:
        rng = random.Random(42)
        progress = Progress("ours ingest points", steps * keys)
        with kb.run(EXPERIMENT, name="ingest") as run:
            started = time.perf_counter()
            for step in range(steps):
                run.log_metrics({name: rng.random() for name in names}, step=step)
                if step % 1024 == 0:
                    progress.update(step * keys)
            run.flush()
            seconds = time.perf_counter() - started
    finally:
        kb.close()
    db_after, store_after = _settled_sizes(home)
    total = steps * keys
    return {
        "points": total,
        "seconds": seconds,
        "points_per_s": total / seconds,
        "db_bytes_before": db_before,
        "db_bytes_after": db_after,
        "store_bytes_before": store_before,
        "store_bytes_after": store_after,
    }


def search_runs(
    home: Path,
    runs: int,
    params: int,
    metrics: int,
    filter: str,
    order_by: list[str],
    max_results: int,
    repeats: int,
) -> dict[str, Any]:
    kb = _connect(home)
    try:
        progress = Progress("ours populate runs", runs)
        started = time.perf_counter()
        for index in range(runs):
            name, run_params, run_metrics = run_payload(index, params, metrics)
            with kb.run(EXPERIMENT, name=name) as run:
                run.log_params(run_params)
                run.log_metrics(run_metrics, step=0)
            progress.update(index + 1)
        populate_s = time.perf_counter() - started
        log(f"ours: populated {runs:,} runs in {populate_s:.1f}s")

        def search() -> list[Any]:
            page = kb.search_runs(
                experiment=EXPERIMENT, filter=filter, order_by=order_by, max_results=max_results
            )
            return list(page.runs)

        warm = search()  # not counted, as on the peer side
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            search()
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        kb.close()
    return {
        "populate_s": populate_s,
        "p50_ms": percentile(samples, 50),
        "p95_ms": percentile(samples, 95),
        "results": len(warm),
        "names": [run.name for run in warm],
    }


def run_creation(home: Path, runs: int) -> dict[str, Any]:
    """``with kb.run(...)`` enter and exit, ``runs`` times, after one uncounted warm-up run."""
    kb = _connect(home)
    try:
        with kb.run(EXPERIMENT, name="warm-up"):
            pass
        samples = []
        progress = Progress("ours runs", runs)
        started = time.perf_counter()
        for index in range(runs):
            t0 = time.perf_counter()
            with kb.run(EXPERIMENT, name=f"run-{index:06d}"):
                pass
            samples.append((time.perf_counter() - t0) * 1000)
            progress.update(index + 1)
        seconds = time.perf_counter() - started
    finally:
        kb.close()
    return {
        "runs": runs,
        "seconds": seconds,
        "runs_per_s": runs / seconds,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
    }
