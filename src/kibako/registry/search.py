"""Searching model versions with the runs' filter language: ``metrics.<name>`` are a version's metric numbers,
``status`` its approval status, ``name`` its group and ``created`` its creation time (ms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from kibako.errors import FilterSyntaxError
from kibako.store import schema
from kibako.tracking.filter import And, Comparison, Node, Or, parse
from kibako.tracking.search import predicate

_ATTRIBUTES = {
    "status": schema.model_packages.c.approval_status,
    "run_name": schema.contexts.c.name,  # ``name``: the group's name
    "created": schema.model_packages.c.created_ms,
}


def compile_filter(text: str) -> ColumnElement[bool] | None:
    """The SQL condition for ``text`` over model_packages joined with their group; None for an empty filter."""
    node = parse(text)
    return None if node is None else _condition(node, text)


def _condition(node: Node, text: str) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_condition(n, text) for n in node.items))
    if isinstance(node, Or):
        return or_(*(_condition(n, text) for n in node.items))
    return _comparison(node, text)


def _comparison(node: Comparison, text: str) -> ColumnElement[bool]:
    p = schema.model_packages
    if node.kind == "attribute":
        column: Any = _ATTRIBUTES.get(node.key)
        if column is None:
            raise FilterSyntaxError(
                f"model versions have no attribute {node.key!r}: use status, name or created",
                text=text,
                position=node.position,
            )
        return predicate(column, node.op, node.value, "")
    if node.kind != "metric":
        raise FilterSyntaxError(
            "model versions are searched by metrics.<name>, status, name and created",
            text=text,
            position=node.position,
        )
    m = schema.model_package_metrics
    keyed = select(m.c.package_id).where(m.c.key == node.key)
    if node.op == "IS NULL":
        return p.c.id.not_in(keyed)
    if node.op == "IS NOT NULL":
        return p.c.id.in_(keyed)
    return p.c.id.in_(keyed.where(predicate(m.c.value, node.op, node.value, "")))
