"""Values of the batch transform runtime: a model's answer split into records, and records as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from kibako.jobs.transform import family


@dataclass
class Output:
    """One record's answer: a CSV line (or lines) as text, or a JSON value."""

    kind: str  # "csv" or "json"
    data: Any


def split_answer(body: bytes, content_type: str, n: int, whole: bool) -> list[Output] | None:
    """The answer to a request of ``n`` records as one Output per record (``whole``: the answer for a whole
    file, kept as one); None when it cannot be split that way."""
    kind = family(content_type)
    if kind == "csv":
        text = body.decode("utf-8", errors="replace")
        if text.endswith("\n"):
            text = text[:-1]
        if whole:
            return [Output("csv", text)]
        lines = [line.rstrip("\r") for line in text.split("\n")]
        return [Output("csv", line) for line in lines] if len(lines) == n else None
    if kind == "json":
        try:
            value = json.loads(body)
        except ValueError:
            return None
        if whole:
            return [Output("json", value)]
        items = value.get("predictions") if isinstance(value, dict) else value
        if isinstance(items, list) and len(items) == n:
            return [Output("json", item) for item in items]
        return [Output("json", value)] if n == 1 else None
    return None


def csv_fields(text: str) -> list[str]:
    """One CSV record's fields (RFC 4180); csv.Error when it is not one."""
    return next(csv.reader([text]), [])


def csv_text(value: Any) -> str:
    """A selection written as one CSV record: an array as its fields, anything else as one field."""
    fields = value if isinstance(value, list) else [value]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([_field(f) for f in fields])
    return buffer.getvalue()


def as_fields(output: Output) -> list[Any]:
    """An answer as CSV fields: a CSV line's fields, a JSON array's items, or a single JSON value."""
    if output.kind == "csv":
        return csv_fields(str(output.data))
    return list(output.data) if isinstance(output.data, list) else [output.data]


def as_json(output: Output) -> Any:
    """An answer as a JSON value: a CSV line's numbers (one value alone, several as an array)."""
    if output.kind == "json":
        return output.data
    rows = [[_number(f) for f in csv_fields(line)] for line in str(output.data).split("\n")]
    values = [row[0] if len(row) == 1 else row for row in rows]
    return values[0] if len(values) == 1 else values


def _field(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    whole = value.is_integer() and "." not in text and "e" not in text.lower()
    return int(value) if whole else value
