"""Per-variant counters for one stats window, read (and optionally reset) by ``GET /_kibako/stats``.

The names follow CloudWatch's SageMaker endpoint metrics (``Invocations``, ``Invocation4XXErrors``,
``Invocation5XXErrors``, ``ModelLatency`` and ``OverheadLatency`` in microseconds) so the endpoint service can
publish them as they are; ``ShadowDropped`` and ``CapturedRecords`` are ours.

Recording is on the hot path of every request, so it is a few integer additions and one ``list.append``
under an uncontended lock (well under a microsecond). Latencies are kept as raw microsecond samples, so the
percentiles are exact; past :data:`MAX_SAMPLES` samples in one window, reservoir sampling keeps a uniform
sample of fixed size (count, sum and max stay exact), so a window that is never drained cannot grow memory.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MAX_SAMPLES = 50_000


@dataclass
class _Latency:
    count: int = 0
    total: int = 0
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    def add(self, micros: int, rng: random.Random) -> None:
        self.count += 1
        self.total += micros
        if micros > self.peak:
            self.peak = micros
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(micros)
        else:  # Algorithm R: every sample so far stays in with the same probability
            slot = rng.randrange(self.count)
            if slot < MAX_SAMPLES:
                self.samples[slot] = micros

    def summary(self) -> dict[str, int]:
        """count, sum, max, p50 and p99 in microseconds (zeros for an empty window)."""
        if not self.count:
            return {"count": 0, "sum": 0, "max": 0, "p50": 0, "p99": 0}
        ordered = sorted(self.samples)
        return {
            "count": self.count,
            "sum": self.total,
            "max": self.peak,
            "p50": _rank(ordered, 50),
            "p99": _rank(ordered, 99),
        }


def _rank(ordered: list[int], pct: int) -> int:
    """Nearest-rank percentile of a sorted, non-empty list (integer arithmetic: no 0.99 * 100 surprises)."""
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass
class _Window:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    shadow_dropped: int = 0
    captured: int = 0
    model: _Latency = field(default_factory=_Latency)
    overhead: _Latency = field(default_factory=_Latency)


class VariantStats:
    """The counters of one variant; every method is safe to call from any thread."""

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.role = role
        self._lock = threading.Lock()
        self._window = _Window()
        self._rng = random.Random()

    def invocation(self, status: int, model_us: int | None, overhead_us: int | None) -> None:
        """Count one answered request; latencies are left out when the model never ran (e.g. a 413)."""
        with self._lock:
            w = self._window
            w.invocations += 1
            if status >= 500:
                w.errors_5xx += 1
            elif status >= 400:
                w.errors_4xx += 1
            if model_us is not None:
                w.model.add(model_us, self._rng)
            if overhead_us is not None:
                w.overhead.add(overhead_us, self._rng)

    def shadow_dropped(self) -> None:
        with self._lock:
            self._window.shadow_dropped += 1

    def captured(self, n: int = 1) -> None:
        with self._lock:
            self._window.captured += n

    def read(self, drain: bool) -> dict[str, Any]:
        """This window's figures; with ``drain`` the window starts again from zero in the same step."""
        with self._lock:
            w = self._window
            if drain:
                self._window = _Window()
        # Summaries sort up to MAX_SAMPLES values: done outside the lock, on a window nobody writes to now
        # (when not draining, a concurrent append only makes the copy a little stale).
        return {
            "Role": self.role,
            "Invocations": w.invocations,
            "Invocation4XXErrors": w.errors_4xx,
            "Invocation5XXErrors": w.errors_5xx,
            "ModelLatency": w.model.summary(),
            "OverheadLatency": w.overhead.summary(),
            "ShadowDropped": w.shadow_dropped,
            "CapturedRecords": w.captured,
        }


class StatsBook:
    """All variants' counters, plus the requests no variant answered (unknown target, bad path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._variants: dict[str, VariantStats] = {}
        self._unrouted = VariantStats("", "Unrouted")
        self._window_start = time.time()

    def variant(self, name: str, role: str) -> VariantStats:
        """The counters of ``name``, made on first use; a variant that changes role keeps its counts."""
        with self._lock:
            stats = self._variants.get(name)
            if stats is None:
                stats = self._variants[name] = VariantStats(name, role)
            stats.role = role
            return stats

    @property
    def unrouted(self) -> VariantStats:
        return self._unrouted

    def read(self, drain: bool, keep: set[str]) -> dict[str, Any]:
        """Every variant's window; on a drain, variants not in ``keep`` (no longer served) are forgotten."""
        now = time.time()
        with self._lock:
            start = self._window_start
            if drain:
                self._window_start = now
            variants = dict(self._variants)
            if drain:
                self._variants = {k: v for k, v in self._variants.items() if k in keep}
        unrouted = self._unrouted.read(drain)
        return {
            "WindowStart": _iso(start),
            "WindowEnd": _iso(now),
            "Drained": drain,
            "Variants": {name: stats.read(drain) for name, stats in sorted(variants.items())},
            "Unrouted": {
                "Invocation4XXErrors": unrouted["Invocation4XXErrors"],
                "Invocation5XXErrors": unrouted["Invocation5XXErrors"],
            },
        }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"
