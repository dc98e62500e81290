"""MetricDefinitions: regular expressions that pull metric values out of a training script's log.

As in SageMaker, each definition has a ``Name`` and a ``Regex`` of at most 500 characters whose first capture
group is the value; every match in a line is a point. Values that do not read as numbers are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kibako.errors import ValidationError

MAX_REGEX_LENGTH = 500


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    regex: str


class MetricScraper:
    """Compiled definitions; ``scan(line)`` gives the ``(name, value)`` points a log line holds."""

    def __init__(self, definitions: Sequence[MetricDefinition | dict[str, str]]) -> None:
        self._compiled: list[tuple[str, re.Pattern[str]]] = []
        for raw in definitions:
            item = raw if isinstance(raw, MetricDefinition) else _from_dict(raw)
            if not item.name:
                raise ValidationError("a metric definition needs a Name")
            if len(item.regex) > MAX_REGEX_LENGTH:
                raise ValidationError(
                    f"metric {item.name!r}: the regex is {len(item.regex)} characters; the limit is "
                    f"{MAX_REGEX_LENGTH}"
                )
            try:
                pattern = re.compile(item.regex)
            except re.error as exc:
                raise ValidationError(f"metric {item.name!r}: the regex does not compile: {exc}") from None
            if pattern.groups < 1:
                raise ValidationError(
                    f"metric {item.name!r}: the regex needs a capture group around the value, e.g. 'loss=(.*?);'"
                )
            self._compiled.append((item.name, pattern))

    def scan(self, line: str) -> list[tuple[str, float]]:
        points: list[tuple[str, float]] = []
        for name, pattern in self._compiled:
            for match in pattern.finditer(line):
                value = _number(match.group(1))
                if value is not None:
                    points.append((name, value))
        return points

    def scan_all(self, lines: Iterable[str]) -> list[tuple[str, float]]:
        return [point for line in lines for point in self.scan(line)]


def _from_dict(raw: dict[str, str]) -> MetricDefinition:
    try:
        return MetricDefinition(raw["Name"], raw["Regex"])
    except (KeyError, TypeError):
        raise ValidationError(f"a metric definition is {{'Name': ..., 'Regex': ...}}, got {raw!r}") from None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None
