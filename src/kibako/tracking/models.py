"""What tracking returns: experiments, runs, metric summaries and histories (pure dataclasses)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kibako.core.wire import wire_type

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
FAILED = "Failed"
STOPPED = "Stopped"
RUN_STATUSES = (IN_PROGRESS, COMPLETED, FAILED, STOPPED)
FINAL_STATUSES = (COMPLETED, FAILED, STOPPED)


@wire_type
@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    arn: str
    description: str
    tags: dict[str, str]
    created: datetime

    def __repr__(self) -> str:
        return f"Experiment({self.name!r})"


@wire_type
@dataclass(frozen=True)
class MetricSummary:
    """Per-metric aggregates kept up to date on every write (NaN values are counted, not aggregated)."""

    key: str
    count: int
    min: float | None
    max: float | None
    avg: float | None
    std: float | None
    last: float
    last_step: int
    last_time: datetime


@wire_type
@dataclass(frozen=True)
class LineageRef:
    """An artifact a run used or made, as the run sees it."""

    id: str
    type: str
    name: str
    uri: str
    digest: str
    role: str = ""


@wire_type
@dataclass(frozen=True)
class Run:
    id: str
    name: str
    arn: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    parent_run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[LineageRef] = field(default_factory=list)
    outputs: list[LineageRef] = field(default_factory=list)
    artifact_uri: str = ""

    def __repr__(self) -> str:
        return f"Run({self.experiment_name!r}, {self.name!r}, id={self.id!r}, status={self.status!r})"

    def metric(self, key: str) -> float:
        """The last value of metric ``key`` (NaN when the run has none)."""
        summary = self.metrics.get(key)
        return summary.last if summary else math.nan

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
            for k, v in [("experiment", self.experiment_name), ("status", self.status), ("id", self.id)]
            + [(f"param {k}", v) for k, v in sorted(self.params.items())[:10]]
            + [(f"metric {k}", f"{m.last:.6g}") for k, m in sorted(self.metrics.items())[:10]]
        )
        return f"<table><caption><b>Run {escape(self.name)}</b></caption>{rows}</table>"


@wire_type
@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_token: str | None = None


@wire_type
@dataclass(frozen=True)
class MetricHistory:
    """Points of one metric in step order; ``downsampled`` when it is a min/max envelope of the full series."""

    run_id: str
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    total_points: int
    downsampled: bool = False


@wire_type
@dataclass(frozen=True)
class ParamChange:
    value: str
    logged: datetime


@wire_type
@dataclass(frozen=True)
class Comparison:
    """Runs side by side: one row per param or metric, one column per run (None where a run lacks it)."""

    runs: list[Run]
    params: dict[str, list[str | None]]
    metrics: dict[str, list[float | None]]

    def to_rows(self) -> list[dict[str, Any]]:
        header = [r.name for r in self.runs]
        rows: list[dict[str, Any]] = []
        for key, values in self.params.items():
            rows.append({"field": f"params.{key}", **dict(zip(header, values, strict=True))})
        for key, metric_values in self.metrics.items():
            rows.append({"field": f"metrics.{key}", **dict(zip(header, metric_values, strict=True))})
        return rows
