"""Loading whole runs (params, metric summaries, tags, inputs and outputs) for a set of ids in a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from kibako.core.clock import from_ms
from kibako.store import schema
from kibako.tracking._metrics import SUMMARY_COLUMNS, summary_from_row
from kibako.tracking.models import LineageRef, MetricSummary, Run


def run_artifact_uri(artifact_root: str, run_id: str) -> str:
    """Where a run's ``log_artifact`` files live."""
    return f"{artifact_root.rstrip('/')}/runs/{run_id}/artifacts" if artifact_root else ""


_e, _c, _p, _t, _m, _a, _art = (
    schema.executions,
    schema.contexts,
    schema.params,
    schema.tags,
    schema.metrics,
    schema.associations,
    schema.artifacts,
)
_IDS = bindparam("ids", expanding=True)
# Built once: loading runs is on every hot path (search pages, run start and end), and building a statement
# costs more than running it.
_RUNS = (
    select(
        _e.c.id,
        _e.c.name,
        _e.c.arn,
        _e.c.context_id,
        _c.c.name,
        _e.c.status,
        _e.c.start_ms,
        _e.c.end_ms,
        _e.c.parent_id,
    )
    .join(_c, _c.c.id == _e.c.context_id)
    .where(_e.c.id.in_(_IDS), _e.c.type == "Run")
)
_PARAMS = select(_p.c.execution_id, _p.c.key, _p.c.value).where(_p.c.execution_id.in_(_IDS))
_TAGS = select(_t.c.entity_id, _t.c.key, _t.c.value).where(_t.c.entity_id.in_(_IDS))
_METRICS = select(*SUMMARY_COLUMNS).where(_m.c.execution_id.in_(_IDS))
_INPUTS = (
    select(_a.c.destination_id, _a.c.role, _art.c.id, _art.c.type, _art.c.name, _art.c.uri, _art.c.digest)
    .join(_art, _art.c.id == _a.c.source_id)
    .where(_a.c.destination_id.in_(_IDS), _a.c.type == "ContributedTo")
    .order_by(_a.c.created_ms)
)
_OUTPUTS = (
    select(_a.c.source_id, _a.c.role, _art.c.id, _art.c.type, _art.c.name, _art.c.uri, _art.c.digest)
    .join(_art, _art.c.id == _a.c.destination_id)
    .where(_a.c.source_id.in_(_IDS), _a.c.type == "Produced")
    .order_by(_a.c.created_ms)
)


def load_runs(conn: Connection, ids: Sequence[str], artifact_root: str = "") -> list[Run]:
    """Runs in the order of ``ids`` (ids that are not runs are skipped)."""
    if not ids:
        return []
    by_id = {row[0]: row for row in conn.execute(_RUNS, {"ids": list(ids)}).all()}
    found = {"ids": list(by_id)}
    params: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in conn.execute(_PARAMS, found).all():
        params[run_id][key] = value
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in conn.execute(_TAGS, found).all():
        tags[run_id][key] = value
    metrics: dict[str, dict[str, MetricSummary]] = defaultdict(dict)
    for row in conn.execute(_METRICS, found).all():
        metrics[row[0]][row[1]] = summary_from_row(row)
    inputs, outputs = (_refs(conn.execute(stmt, found).all()) for stmt in (_INPUTS, _OUTPUTS))
    runs = []
    for run_id in ids:
        row = by_id.get(run_id)
        if row is None:
            continue
        _id, name, arn, experiment_id, experiment_name, status, start_ms, end_ms, parent_id = row
        runs.append(
            Run(
                id=run_id,
                name=name,
                arn=arn,
                experiment_id=experiment_id,
                experiment_name=experiment_name,
                status=status,
                start_time=None if start_ms is None else from_ms(start_ms),
                end_time=None if end_ms is None else from_ms(end_ms),
                parent_run_id=parent_id,
                params=params[run_id],
                metrics=metrics[run_id],
                tags=tags[run_id],
                inputs=inputs[run_id],
                outputs=outputs[run_id],
                artifact_uri=run_artifact_uri(artifact_root, run_id),
            )
        )
    return runs


def _refs(rows: Sequence[Any]) -> dict[str, list[LineageRef]]:
    refs: dict[str, list[LineageRef]] = defaultdict(list)
    for run_id, role, artifact_id, artifact_type, name, uri, digest in rows:
        refs[run_id].append(LineageRef(artifact_id, artifact_type, name, uri, digest, role))
    return refs
