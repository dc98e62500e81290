"""Run search: a parsed filter and order compiled to one SQL query, paged with keyset tokens.

Metric, param and tag tests become ``run id IN (SELECT owner FROM facts WHERE key = ... AND value ...)``
subqueries, which the planner can answer from the ``(key, value)`` indexes; ordering by a metric, param or tag
is a LEFT OUTER JOIN on (run id, key), so runs without that key still appear, sorted last.

LIKE is case-sensitive everywhere: PostgreSQL's LIKE already is; on SQLite (whose LIKE folds ASCII case) the
pattern is translated to an equivalent GLOB, which is case-sensitive and leaves connection settings alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Table,
    and_,
    false,
    func,
    literal,
    or_,
    select,
)

from kibako.errors import ValidationError
from kibako.store.schema import executions, metrics, params, tags
from kibako.tracking.filter import And, Comparison, Node, OrderKey, parse, parse_order_by

MAX_RESULTS_LIMIT = 50_000
_RUN_TYPE = "Run"

_ATTRIBUTE_COLUMNS = {
    "run_id": executions.c.id,
    "run_name": executions.c.name,
    "status": executions.c.status,
    "start_time": executions.c.start_ms,
    "end_time": executions.c.end_ms,
    "created": executions.c.created_ms,
    "experiment_id": executions.c.context_id,
}
# MLflow clients filter on MLflow's status names; they mean the same runs as ours.
MLFLOW_STATUSES = {"RUNNING": "InProgress", "FINISHED": "Completed", "FAILED": "Failed", "KILLED": "Stopped"}
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_DEFAULT_ORDER = [OrderKey("attribute", "start_time", descending=True)]


def search_run_ids(
    conn: Connection,
    *,
    experiment_ids: list[str] | None,
    filter_string: str = "",
    order_by: list[str] | None = None,
    max_results: int = 100,
    page_token: str | None = None,
) -> tuple[list[str], str | None]:
    """Ids of the runs that match ``filter_string``, one page at a time, and the token of the next page.

    ``experiment_ids`` None searches every experiment. Runs are ordered by ``order_by`` (default: newest
    start first), then by start time (newest first), then by run id; runs missing a sort key come last in
    either direction. Pass the returned token back with the same query to get the next page; None means
    there are no more runs.

    Example::

        ids, token = search_run_ids(conn, experiment_ids=[exp], filter_string="metrics.auc > 0.9",
                                    order_by=["metrics.auc DESC"], max_results=50)
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise ValidationError(f"max_results must be an integer, got {max_results!r}")
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise ValidationError(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results}")
    node = parse(filter_string)
    keys = _complete_order(parse_order_by(order_by))
    query_hash = _query_hash(node, keys, experiment_ids)
    after = _decode_token(page_token, query_hash, len(keys)) if page_token else None
    if experiment_ids is not None and not experiment_ids:
        return [], None

    dialect = conn.dialect.name
    source: FromClause = executions
    sort_exprs: list[ColumnElement[Any]] = []
    joined: dict[tuple[str, str], ColumnElement[Any]] = {}
    for key in keys:
        if key.kind == "attribute":
            sort_exprs.append(_ATTRIBUTE_COLUMNS[key.key])
            continue
        if (key.kind, key.key) not in joined:
            table, owner, value = _facts(key.kind)
            alias = table.alias(f"order_{len(joined)}")
            source = source.outerjoin(
                alias, and_(alias.c[owner.name] == executions.c.id, alias.c.key == key.key)
            )
            joined[(key.kind, key.key)] = alias.c[value.name]
        sort_exprs.append(joined[(key.kind, key.key)])

    conditions: list[ColumnElement[bool]] = [executions.c.type == _RUN_TYPE]
    if experiment_ids is not None:
        conditions.append(executions.c.context_id.in_(experiment_ids))
    if node is not None:
        conditions.append(compile_filter(node, dialect))
    if after is not None:
        values, last_id = after
        conditions.append(_seek(keys, sort_exprs, values, last_id))

    order_clauses = [
        (e.desc() if k.descending else e.asc()).nulls_last() for k, e in zip(keys, sort_exprs, strict=True)
    ]
    stmt = (
        select(executions.c.id, *sort_exprs)
        .select_from(source)
        .where(and_(*conditions))
        .order_by(*order_clauses, executions.c.id.asc())
        .limit(max_results + 1)
    )
    rows = conn.execute(stmt).all()
    if len(rows) <= max_results:
        return [row[0] for row in rows], None
    page = rows[:max_results]
    last = page[-1]
    return [row[0] for row in page], _encode_token(query_hash, list(last[1:]), last[0])


def compile_filter(node: Node, dialect: str) -> ColumnElement[bool]:
    """The SQL condition on ``executions`` for a parsed filter (``dialect``: ``sqlite`` or ``postgresql``)."""
    if isinstance(node, Comparison):
        return _compile_comparison(node, dialect)
    parts = [compile_filter(item, dialect) for item in node.items]
    return and_(*parts) if isinstance(node, And) else or_(*parts)


def _compile_comparison(node: Comparison, dialect: str) -> ColumnElement[bool]:
    if node.kind == "attribute":
        column = _ATTRIBUTE_COLUMNS[node.key]
        value = node.value
        if node.key == "status":
            value = _mlflow_status(value)
        return predicate(column, node.op, value, dialect)
    table, owner, value_column = _facts(node.kind)
    keyed = select(owner).where(table.c.key == node.key)
    if node.op == "IS NULL":
        return executions.c.id.not_in(keyed)
    if node.op == "IS NOT NULL":
        return executions.c.id.in_(keyed)
    return executions.c.id.in_(keyed.where(predicate(value_column, node.op, node.value, dialect)))


def predicate(column: ColumnElement[Any], op: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if op in _COMPARE:
        return cast(ColumnElement[bool], _COMPARE[op](column, value))
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    if op == "IS NULL":
        return column.is_(None)
    if op == "IS NOT NULL":
        return column.is_not(None)
    if op == "LIKE":
        parts = _like_parts(value)
        if dialect == "sqlite":
            return column.op("GLOB")(_glob_pattern(parts))
        return column.like(_like_pattern(parts), escape="\\")
    if op == "ILIKE":
        pattern = _like_pattern(_like_parts(value))
        if dialect == "sqlite":
            return func.lower(column).like(func.lower(literal(pattern)), escape="\\")
        return column.ilike(pattern, escape="\\")
    raise AssertionError(f"operator {op!r} passed the parser but has no SQL")


def _mlflow_status(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(MLFLOW_STATUSES.get(v, v) for v in value)
    return MLFLOW_STATUSES.get(value, value) if isinstance(value, str) else value


def _facts(kind: str) -> tuple[Table, ColumnElement[Any], ColumnElement[Any]]:
    """The table holding ``kind`` facts, its run-id column and the column a filter compares."""
    if kind == "metric":
        return metrics, metrics.c.execution_id, metrics.c.last_value
    if kind == "param":
        return params, params.c.execution_id, params.c.value
    return tags, tags.c.entity_id, tags.c.value


def _like_parts(pattern: str) -> list[tuple[bool, str]]:
    """A LIKE pattern as (is wildcard, character) pairs: ``%`` and ``_`` are wildcards unless escaped by ``\\``."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while i < len(pattern):
        escaped = pattern[i] == "\\" and i + 1 < len(pattern)
        ch = pattern[i + 1] if escaped else pattern[i]
        parts.append((not escaped and ch in "%_", ch))
        i += 2 if escaped else 1
    return parts


def _like_pattern(parts: Sequence[tuple[bool, str]]) -> str:
    return "".join(ch if wild or ch not in "%_\\" else "\\" + ch for wild, ch in parts)


def _glob_pattern(parts: Sequence[tuple[bool, str]]) -> str:
    """The GLOB pattern (``*``, ``?``, ``[c]`` for a literal GLOB character) matching what ``parts`` match."""
    glob = {"%": "*", "_": "?"}
    return "".join(glob[ch] if wild else f"[{ch}]" if ch in "*?[" else ch for wild, ch in parts)


def _complete_order(keys: list[OrderKey]) -> list[OrderKey]:
    """The user's order, then start time (newest first) unless already named; the run id comes last."""
    keys = keys or list(_DEFAULT_ORDER)
    if not any(k.kind == "attribute" and k.key == "start_time" for k in keys):
        keys = keys + _DEFAULT_ORDER
    return keys


def _seek(
    keys: list[OrderKey], exprs: list[ColumnElement[Any]], values: list[Any], last_id: str
) -> ColumnElement[bool]:
    """Rows after (``values``, ``last_id``) in the order ``keys`` with NULLs last, then ``id`` ascending."""
    branches: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, expr, value in zip(keys, exprs, values, strict=True):
        if value is None:
            after: ColumnElement[bool] = false()
            equal: ColumnElement[bool] = expr.is_(None)
        else:
            beyond = expr < value if key.descending else expr > value
            after = or_(beyond, expr.is_(None))
            equal = expr == value
        branches.append(and_(*equal_so_far, after) if equal_so_far else after)
        equal_so_far.append(equal)
    branches.append(and_(*equal_so_far, executions.c.id > last_id))
    return or_(*branches)


def _query_hash(node: Node | None, keys: list[OrderKey], experiment_ids: list[str] | None) -> str:
    shape = [
        repr(node),
        [repr(k) for k in keys],
        sorted(experiment_ids) if experiment_ids is not None else None,
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def _encode_token(query_hash: str, values: list[Any], last_id: str) -> str:
    """An opaque token naming the last row of a page: its sort values and id, and the query it belongs to."""
    payload = json.dumps({"q": query_hash, "v": values, "id": last_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_token(token: str, query_hash: str, count: int) -> tuple[list[Any], str]:
    """The (sort values, run id) a token from ``_encode_token`` holds, checked against this query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise ValidationError("page token is malformed: pass back the token a search returned") from None
    if not isinstance(data, dict) or not isinstance(data.get("q"), str):
        raise ValidationError("page token is malformed: pass back the token a search returned")
    if data["q"] != query_hash:
        raise ValidationError(
            "page token does not belong to this query: use it with the same filter, order and experiments"
        )
    values, last_id = data.get("v"), data.get("id")
    if (
        not isinstance(values, list)
        or len(values) != count
        or not isinstance(last_id, str)
        or not all(v is None or isinstance(v, str | int | float) for v in values)
    ):
        raise ValidationError("page token is malformed: pass back the token a search returned")
    return values, last_id
