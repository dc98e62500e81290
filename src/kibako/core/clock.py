"""An injectable clock: services take one, tests freeze it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def time_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def time_ms(self) -> int:
        return int(self._now.timestamp() * 1000)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def from_ms(ms: int) -> datetime:
    """The UTC time of ``ms`` milliseconds since the epoch (how the store keeps every time)."""
    return datetime.fromtimestamp(ms / 1000, UTC)
