"""Checks on logged values, run before anything is buffered or written, so bad input changes nothing."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from typing import Any

from kibako.core.validation import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH, check_key, check_value
from kibako.errors import ValidationError

MAX_TIMESTAMP_MS = 253_402_300_800_000  # year 10000
_MIN_STEP, _MAX_STEP = -(2**63), 2**63 - 1


@functools.lru_cache(maxsize=8192)
def key_problem(kind: str, key: str) -> str | None:
    return check_key(kind, key)


def metric_point(key: Any, value: Any, step: Any, timestamp: Any) -> tuple[str, float, int, int]:
    """The point as stored, or a ValidationError that says which part is wrong."""
    # Fast path for the common types: this runs once per logged point.
    if type(key) is str and type(step) is int and type(timestamp) is int and type(value) in (float, int):
        problem = key_problem("metric", key)
        if problem is None and 0 <= timestamp < MAX_TIMESTAMP_MS and _MIN_STEP <= step <= _MAX_STEP:
            try:
                return key, float(value), step, timestamp
            except OverflowError:
                pass  # an int too large for a float: the checks below say so
    problem = check_key("metric", key)
    if problem:
        raise ValidationError(problem)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"metric {key!r} needs a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValidationError(f"metric {key!r}: {value} is too large for a 64-bit float") from None
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValidationError(f"metric {key!r}: step must be an integer, got {step!r}")
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral):
        raise ValidationError(f"metric {key!r}: timestamp must be integer milliseconds, got {timestamp!r}")
    if not (_MIN_STEP <= int(step) <= _MAX_STEP):
        raise ValidationError(f"metric {key!r}: step {step} does not fit in 64 bits")
    if not (0 <= int(timestamp) < MAX_TIMESTAMP_MS):
        raise ValidationError(
            f"metric {key!r}: timestamp {timestamp} is not milliseconds between 1970 and 9999"
        )
    return key, number, int(step), int(timestamp)


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
