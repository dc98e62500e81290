"""Checked batches of metric points as NumPy columns (kept apart from ``_validate`` so that importing the
SDK does not import NumPy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kibako.errors import ValidationError
from kibako.tracking._validate import MAX_TIMESTAMP_MS, key_problem, metric_point

_NUMBER_TYPES = {float, int, np.float64, np.float32, np.int64, np.int32}


@dataclass(frozen=True)
class MetricColumns:
    """A checked batch of points as columns: what the store writes."""

    keys: list[str]
    values: np.ndarray
    steps: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def metric_columns(points: Sequence[Any]) -> MetricColumns:
    """Check a batch of ``(key, value, step, timestamp_ms)`` points and return it as columns.

    The common case (str, float or int, int, int) is checked column-wise at C speed; anything else goes
    point by point, so the error names the exact point that is wrong.
    """
    if not points:
        return MetricColumns([], np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))
    try:
        keys, values, steps, stamps = zip(*points, strict=True)
    except (TypeError, ValueError):
        keys = ()
    if (
        len(keys) == len(points)
        and set(map(type, keys)) == {str}
        and set(map(type, values)) <= _NUMBER_TYPES
        and set(map(type, steps)) == {int}
        and set(map(type, stamps)) == {int}
        and all(key_problem("metric", k) is None for k in set(keys))
    ):
        try:
            step_array = np.array(steps, dtype=np.int64)
            stamp_array = np.array(stamps, dtype=np.int64)
            value_array = np.array(values, dtype=np.float64)
        except OverflowError:
            pass  # the point-by-point pass below names the culprit
        else:
            if stamp_array.min() >= 0 and stamp_array.max() < MAX_TIMESTAMP_MS:
                return MetricColumns(list(keys), value_array, step_array, stamp_array)
    checked = []
    for p in points:
        if not isinstance(p, list | tuple) or len(p) != 4:
            raise ValidationError(f"a metric point is (key, value, step, timestamp_ms), got {p!r}")
        checked.append(metric_point(*p))
    keys, values, steps, stamps = zip(*checked, strict=True)
    return MetricColumns(
        list(keys),
        np.array(values, dtype=np.float64),
        np.array(steps, dtype=np.int64),
        np.array(stamps, dtype=np.int64),
    )
