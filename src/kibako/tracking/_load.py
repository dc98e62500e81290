"""Loading whole runs (params, metric summaries, tags, inputs and outputs) for a set of ids in a few queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from kibako.store import schema
from kibako.tracking._metrics import SUMMARY_COLUMNS, summary_from_row
from kibako.tracking.models import LineageRef, MetricSummary, Run


def dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def load_runs(conn: Connection, ids: Sequence[str], artifact_root: str = "") -> list[Run]:
    """Runs in the order of ``ids`` (ids that are not runs are skipped)."""
    if not ids:
        return []
    e, c = schema.executions, schema.contexts
    rows = conn.execute(
        select(e, c.c.name.label("experiment_name"))
        .join(c, c.c.id == e.c.context_id)
        .where(e.c.id.in_(list(ids)), e.c.type == "Run")
    ).mappings()
    by_id = {r["id"]: r for r in rows}
    id_list = list(by_id)
    # fetchall() on narrow selects: a search page loads thousands of param and metric rows.
    params: dict[str, dict[str, str]] = defaultdict(dict)
    p = schema.params
    for run_id, key, value in conn.execute(
        select(p.c.execution_id, p.c.key, p.c.value).where(p.c.execution_id.in_(id_list))
    ).all():
        params[run_id][key] = value
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    t = schema.tags
    for run_id, key, value in conn.execute(
        select(t.c.entity_id, t.c.key, t.c.value).where(t.c.entity_id.in_(id_list))
    ).all():
        tags[run_id][key] = value
    metrics: dict[str, dict[str, MetricSummary]] = defaultdict(dict)
    for row in conn.execute(select(*SUMMARY_COLUMNS).where(schema.metrics.c.execution_id.in_(id_list))).all():
        metrics[row[0]][row[1]] = summary_from_row(row)
    inputs, outputs = _io(conn, id_list)
    root = artifact_root.rstrip("/")
    return [
        Run(
            id=r["id"],
            name=r["name"],
            arn=r["arn"],
            experiment_id=r["context_id"],
            experiment_name=r["experiment_name"],
            status=r["status"],
            start_time=dt(r["start_ms"]),
            end_time=dt(r["end_ms"]),
            parent_run_id=r["parent_id"],
            params=params[r["id"]],
            metrics=metrics[r["id"]],
            tags=tags[r["id"]],
            inputs=inputs[r["id"]],
            outputs=outputs[r["id"]],
            artifact_uri=f"{root}/runs/{r['id']}/artifacts" if root else "",
        )
        for r in (by_id[i] for i in ids if i in by_id)
    ]


def _io(conn: Connection, ids: list[str]) -> tuple[dict[str, list[LineageRef]], dict[str, list[LineageRef]]]:
    a, art = schema.associations, schema.artifacts
    rows = conn.execute(
        select(
            a.c.source_id,
            a.c.destination_id,
            a.c.type.label("edge_type"),
            a.c.role,
            art.c.id,
            art.c.type.label("artifact_type"),
            art.c.name,
            art.c.uri,
            art.c.digest,
        )
        .join(
            art,
            or_(
                and_(a.c.type == "ContributedTo", art.c.id == a.c.source_id),
                and_(a.c.type == "Produced", art.c.id == a.c.destination_id),
            ),
        )
        .where(
            or_(
                and_(a.c.type == "ContributedTo", a.c.destination_id.in_(ids)),
                and_(a.c.type == "Produced", a.c.source_id.in_(ids)),
            )
        )
        .order_by(a.c.created_ms)
    ).mappings()
    inputs: dict[str, list[LineageRef]] = defaultdict(list)
    outputs: dict[str, list[LineageRef]] = defaultdict(list)
    for r in rows:
        ref = _ref(r)
        if r["edge_type"] == "ContributedTo":
            inputs[r["destination_id"]].append(ref)
        else:
            outputs[r["source_id"]].append(ref)
    return inputs, outputs


def _ref(r: Any) -> LineageRef:
    return LineageRef(
        id=r["id"], type=r["artifact_type"], name=r["name"], uri=r["uri"], digest=r["digest"], role=r["role"]
    )
