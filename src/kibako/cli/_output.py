"""Output rules: data to stdout (a table, or one JSON document with --json), messages and errors to stderr."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer


def plain(value: Any) -> Any:
    """A dataclass tree as plain JSON-able data (ISO times, no type tags)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    Console(soft_wrap=False).print(t)


EXIT_FAILED = 3  # a --wait'ed job ended Failed or Stopped


def finish_submitted(
    name: str,
    desc: dict[str, Any],
    status: str,
    *,
    wait: bool,
    as_json: bool,
    summary: Callable[[dict[str, Any]], None],
) -> None:
    """What a submit command prints: the Describe* JSON, or the name (and, waited for, a summary); a waited
    job that did not complete exits 3."""
    if as_json:
        emit_json(desc)
    else:
        typer.echo(name)
        if wait:
            summary(desc)
    if wait and status != "Completed":
        raise typer.Exit(EXIT_FAILED)


def message(text: str) -> None:
    typer.echo(text, err=True)


def fmt_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"
