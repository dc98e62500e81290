"""Checks on logged values, run before anything is buffered or written, so bad input changes nothing."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from kibako.core.validation import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH, check_key, check_value
from kibako.errors import ValidationError

_MAX_TIMESTAMP_MS = 253_402_300_800_000  # year 10000


def metric_point(key: Any, value: Any, step: Any, timestamp: Any) -> tuple[str, float, int, int]:
    """The point as stored, or a ValidationError that says which part is wrong."""
    problem = check_key("metric", key)
    if problem:
        raise ValidationError(problem)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"metric {key!r} needs a number, got {type(value).__name__} {value!r}")
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValidationError(f"metric {key!r}: step must be an integer, got {step!r}")
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral):
        raise ValidationError(f"metric {key!r}: timestamp must be integer milliseconds, got {timestamp!r}")
    if not (0 <= int(timestamp) < _MAX_TIMESTAMP_MS):
        raise ValidationError(
            f"metric {key!r}: timestamp {timestamp} is not milliseconds between 1970 and 9999"
        )
    number = float(value)
    if not (-(2**63) <= int(step) < 2**63):
        raise ValidationError(f"metric {key!r}: step {step} does not fit in 64 bits")
    return key, number if not math.isnan(number) else math.nan, int(step), int(timestamp)


def string_items(kind: str, items: Mapping[str, Any] | None) -> dict[str, str]:
    """Params or tags as strings (numbers and booleans are written as Python prints them)."""
    limit = MAX_PARAM_VALUE_LENGTH if kind == "param" else MAX_TAG_VALUE_LENGTH
    out: dict[str, str] = {}
    for key, raw in (items or {}).items():
        problem = check_key(kind, key)
        if problem:
            raise ValidationError(problem)
        if raw is None:
            raise ValidationError(f"{kind} {key!r} has no value (None)")
        value = raw if isinstance(raw, str) else str(raw)
        problem = check_value(kind, key, value, limit)
        if problem:
            raise ValidationError(problem + f"; log a long {kind} value as a file artifact instead")
        out[key] = value
    return out


def metric_points(points: Iterable[Any]) -> list[tuple[str, float, int, int]]:
    out = []
    for p in points:
        if not isinstance(p, list | tuple) or len(p) != 4:
            raise ValidationError(f"a metric point is (key, value, step, timestamp_ms), got {p!r}")
        out.append(metric_point(*p))
    return out
