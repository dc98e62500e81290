"""Metric points: summaries kept on write, points packed into compressed chunks, history read back.

A batch is grouped by key; each key's points become one chunk row (split past ``CHUNK_POINTS``) and its
summary row is updated in the same transaction, so search reads summaries and never touches points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, update

from kibako.core.clock import from_ms
from kibako.store import schema
from kibako.store.points import pack, unpack
from kibako.tracking._columns import MetricColumns
from kibako.tracking.models import MetricSummary

CHUNK_POINTS = 65_536


def write_points(tx: Connection, run_id: str, points: MetricColumns) -> None:
    """Append ``points`` to the run's metrics and bring their summaries up to date."""
    if not len(points):
        return
    names, key_index = np.unique(np.array(points.keys, dtype=object), return_inverse=True)
    m = schema.metrics
    existing = {
        row.key: row
        for row in tx.execute(select(m).where(m.c.execution_id == run_id, m.c.key.in_(names.tolist())))
    }
    chunk_rows: list[dict[str, Any]] = []
    for i, key in enumerate(names.tolist()):
        mask = key_index == i
        steps, stamps, values = points.steps[mask], points.timestamps[mask], points.values[mask]
        row = existing.get(key)
        summary = _merge_summary(row, steps, stamps, values)
        n_chunks = math.ceil(len(values) / CHUNK_POINTS)
        if row is None:
            metric_id = tx.execute(
                insert(m).values(execution_id=run_id, key=key, chunks=n_chunks, **summary).returning(m.c.id)
            ).scalar_one()
            first_seq = 0
        else:
            metric_id = row.id
            first_seq = row.chunks
            tx.execute(update(m).where(m.c.id == metric_id).values(chunks=row.chunks + n_chunks, **summary))
        for c in range(n_chunks):
            part = slice(c * CHUNK_POINTS, (c + 1) * CHUNK_POINTS)
            chunk_steps = steps[part]
            chunk_rows.append(
                {
                    "metric_id": metric_id,
                    "seq": first_seq + c,
                    "count": len(chunk_steps),
                    "min_step": int(chunk_steps.min()),
                    "max_step": int(chunk_steps.max()),
                    "payload": pack(chunk_steps, stamps[part], values[part]),
                }
            )
    tx.execute(insert(schema.metric_chunks), chunk_rows)


def _merge_summary(row: Any, steps: np.ndarray, stamps: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    nan = np.isnan(values)
    finite = values[~nan]
    # The last point is the one with the highest (step, timestamp); among equals, the one logged last.
    order = np.lexsort((np.arange(len(steps)), stamps, steps))
    last_i = int(order[-1])
    last = (int(steps[last_i]), int(stamps[last_i]), float(values[last_i]))
    count = len(values) + (row.count if row else 0)
    nan_count = int(nan.sum()) + (row.nan_count if row else 0)
    mins = [float(finite.min())] if len(finite) else []
    maxs = [float(finite.max())] if len(finite) else []
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN, and that is the honest sum
        total = float(finite.sum()) if len(finite) else 0.0
        squares = float(np.square(finite).sum()) if len(finite) else 0.0
    if row is not None:
        if row.min_value is not None:
            mins.append(row.min_value)
            maxs.append(row.max_value)
        total += row.sum_value or 0.0
        squares += row.sum_squares or 0.0
        if row.last_step is not None and (row.last_step, row.last_ms) > (last[0], last[1]):
            last = (row.last_step, row.last_ms, _nan_if_none(row.last_value))
    return {
        "count": count,
        "nan_count": nan_count,
        "min_value": min(mins) if mins else None,
        "max_value": max(maxs) if maxs else None,
        "sum_value": total if count > nan_count else None,
        "sum_squares": squares if count > nan_count else None,
        # SQLite keeps NaN as NULL; PostgreSQL keeps it. Either reads back as NaN (see summary_from_row).
        "last_value": None if math.isnan(last[2]) else last[2],
        "last_step": last[0],
        "last_ms": last[1],
    }


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


SUMMARY_COLUMNS = (
    schema.metrics.c.execution_id,
    schema.metrics.c.key,
    schema.metrics.c.count,
    schema.metrics.c.nan_count,
    schema.metrics.c.min_value,
    schema.metrics.c.max_value,
    schema.metrics.c.sum_value,
    schema.metrics.c.sum_squares,
    schema.metrics.c.last_value,
    schema.metrics.c.last_step,
    schema.metrics.c.last_ms,
)


def summary_from_row(row: Sequence[Any]) -> MetricSummary:
    """The summary of a row of ``SUMMARY_COLUMNS``: min, max, avg, std (population) and last."""
    _run, key, count, nan_count, low, high, total, squares, last, last_step, last_ms = row
    n = count - nan_count
    avg = std = None
    if n > 0 and total is not None:
        avg = total / n
        var = max(0.0, (squares or 0.0) / n - avg * avg) if math.isfinite(avg) else math.nan
        std = math.sqrt(var) if math.isfinite(var) else math.nan
    return MetricSummary(
        key=key,
        count=count,
        min=low,
        max=high,
        avg=avg,
        std=std,
        last=math.nan if last is None else last,
        last_step=last_step,
        last_time=from_ms(last_ms or 0),
    )


def read_points(conn: Connection, run_id: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Every point of one metric, ordered by step then timestamp (log order among equals); None if no metric."""
    m, c = schema.metrics, schema.metric_chunks
    metric_id = conn.execute(select(m.c.id).where(m.c.execution_id == run_id, m.c.key == key)).scalar()
    if metric_id is None:
        return None
    payloads = conn.execute(select(c.c.payload).where(c.c.metric_id == metric_id).order_by(c.c.seq)).scalars()
    parts = [unpack(p) for p in payloads]
    steps = np.concatenate([p[0] for p in parts])
    stamps = np.concatenate([p[1] for p in parts])
    values = np.concatenate([p[2] for p in parts])
    order = np.lexsort((np.arange(len(steps)), stamps, steps))
    return steps[order], stamps[order], values[order]


def envelope(n_points: int, values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of a min/max envelope of at most ``max_points`` points that keeps every peak and trough.

    The series is cut into ``max_points // 2`` buckets; each bucket keeps its lowest and highest point, so a
    spike anywhere survives downsampling. The first and last points are always kept.
    """
    if n_points <= max_points:
        return np.arange(n_points)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(0, n_points, buckets + 1).astype(np.int64)
    keep = {0, n_points - 1}
    filled = np.where(np.isnan(values), 0.0, values)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        part = filled[lo:hi]
        keep.add(int(lo + part.argmin()))
        keep.add(int(lo + part.argmax()))
    return np.array(sorted(keep), dtype=np.int64)
