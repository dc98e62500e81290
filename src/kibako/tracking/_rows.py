"""Rows behind tracking: statements built once for the hot paths, and the small reads and writes the
service repeats (experiment and run lookups, params with history, tags, name checks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from kibako.core.validation import MAX_NAME_LENGTH
from kibako.errors import NotFoundError, ValidationError
from kibako.store import schema
from kibako.store.sql import upsert

_ctx, _exe = schema.contexts, schema.executions
# Built once: these run on every run start and end.
_EXPERIMENT = select(_ctx.c.id, _ctx.c.name, _ctx.c.arn, _ctx.c.description, _ctx.c.created_ms)
EXPERIMENT_BY_NAME = _EXPERIMENT.where(_ctx.c.type == "Experiment", _ctx.c.name == bindparam("v"))
EXPERIMENT_BY_ID = _EXPERIMENT.where(_ctx.c.type == "Experiment", _ctx.c.id == bindparam("v"))
RUN_ROW = select(_exe.c.id, _exe.c.status, _exe.c.name).where(
    _exe.c.id == bindparam("v"), _exe.c.type == "Run"
)
INSERT_RUN = insert(_exe)
# Ends a run that is in progress and hands back what its event needs, in one statement.
END_RUN = (
    update(_exe)
    .where(_exe.c.id == bindparam("run_id"), _exe.c.type == "Run", _exe.c.status == "InProgress")
    .values(status=bindparam("new_status"), end_ms=bindparam("end_ms"), updated_ms=bindparam("end_ms"))
    .returning(_exe.c.name, _exe.c.arn, _exe.c.start_ms, _exe.c.context_id)
)


def experiment_row(conn: Connection, name_or_id: str) -> Any:
    found = conn.execute(EXPERIMENT_BY_NAME, {"v": name_or_id}).mappings().first()
    return found or conn.execute(EXPERIMENT_BY_ID, {"v": name_or_id}).mappings().first()


def run_row(conn: Connection, run_id: str) -> Any:
    row = conn.execute(RUN_ROW, {"v": run_id}).mappings().first()
    if row is None:
        raise NotFoundError(f"no run with id {run_id!r}; 'kibako runs list' shows the runs")
    return row


def write_params(tx: Connection, run_id: str, params: dict[str, str], now: int) -> None:
    p, h = schema.params, schema.param_history
    current = dict(
        tx.execute(select(p.c.key, p.c.value).where(p.c.execution_id == run_id, p.c.key.in_(list(params))))
        .tuples()
        .all()
    )
    changed = {k: v for k, v in params.items() if current.get(k) != v}
    if not changed:
        return
    seqs = dict(
        tx.execute(
            select(h.c.key, func.max(h.c.seq))
            .where(h.c.execution_id == run_id, h.c.key.in_(list(changed)))
            .group_by(h.c.key)
        )
        .tuples()
        .all()
    )
    upsert(
        tx,
        p,
        [{"execution_id": run_id, "key": k, "value": v, "updated_ms": now} for k, v in changed.items()],
        ["execution_id", "key"],
    )
    tx.execute(
        insert(h),
        [
            {"execution_id": run_id, "key": k, "seq": seqs.get(k, -1) + 1, "value": v, "logged_ms": now}
            for k, v in changed.items()
        ],
    )


def check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{kind} name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"{kind} name is {len(name)} characters; the limit is {MAX_NAME_LENGTH}")


def write_tags(tx: Connection, entity_id: str, tags: dict[str, str]) -> None:
    upsert(
        tx,
        schema.tags,
        [{"entity_id": entity_id, "key": k, "value": v} for k, v in tags.items()],
        ["entity_id", "key"],
    )
