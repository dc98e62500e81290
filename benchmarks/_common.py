"""Shared harness for the side-by-side benchmarks.

Standard library only: the MLflow peer (``_mlflow_peer.py``) imports this module from its own virtual
environment, where kibako is not installed.

A benchmark script runs kibako in-process and the peer in a subprocess of ``.bench-venv/bin/python``, then
prints exactly one JSON line on stdout. Everything else (progress, peer chatter) goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEER_VENV = REPO_ROOT / ".bench-venv"
PEER_SCRIPT = BENCH_DIR / "_mlflow_peer.py"
PEER_TIMEOUT_S = 3 * 3600

# Runs are named and valued the same way on both sides, so results can be compared run by run.
EXPERIMENT = "bench"
PARAM_CHOICES = ("a", "b", "c", "d")


def log(message: str) -> None:
    """Progress line on stderr (stdout is reserved for the JSON result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Progress:
    """Logs ``done/total`` at most every ``every_s`` seconds."""

    def __init__(self, label: str, total: int, every_s: float = 5.0) -> None:
        self.label, self.total, self.every_s = label, total, every_s
        self.started = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = done / (now - self.started) if now > self.started else 0.0
            log(f"{self.label}: {done:,}/{self.total:,} ({rate:,.0f}/s)")


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def metric_value(rng: random.Random) -> float:
    return rng.random()


def run_payload(index: int, n_params: int, n_metrics: int) -> tuple[str, dict[str, str], dict[str, float]]:
    """Name, params and metrics of run ``index`` in the search benchmark (deterministic)."""
    rng = random.Random(index)
    params = {f"p{j}": rng.choice(PARAM_CHOICES) for j in range(n_params)}
    metrics = {f"m{j}": rng.random() for j in range(n_metrics)}
    return f"run-{index:06d}", params, metrics


def dir_size(path: Path) -> int:
    """Bytes in all regular files under ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(root) / name).stat().st_size
    return total


def sqlite_checkpoint(db_file: Path) -> None:
    """Fold the write-ahead log back into the main file so the file size tells the real footprint."""
    import sqlite3

    con = sqlite3.connect(db_file)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def sqlite_size(db_file: Path) -> int:
    """Main database file plus its -wal and -shm companions."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{db_file}{suffix}")
        if candidate.exists():
            total += candidate.stat().st_size
    return total


# --------------------------------------------------------------------------------------------- harness


@dataclass
class Result:
    benchmark: str
    unit: str
    better: str  # "higher" or "lower": which way the unit improves
    ours: float | None = None
    peer: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ratio(self) -> float | None:
        """> 1 means kibako is better, whichever way the unit goes."""
        if not self.ours or not self.peer:
            return None
        return self.ours / self.peer if self.better == "higher" else self.peer / self.ours

    def to_json(self) -> str:
        ratio = self.ratio()
        line: dict[str, Any] = {
            "benchmark": self.benchmark,
            "ours": _round(self.ours),
            "peer": _round(self.peer),
            "ratio": _round(ratio),
            "unit": self.unit,
            "better": self.better,
        }
        line.update({k: _round(v) if isinstance(v, float) else v for k, v in self.extra.items()})
        return json.dumps(line)


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    if value == 0 or not math.isfinite(value):
        return value
    digits = max(0, 4 - int(math.floor(math.log10(abs(value)))))
    return round(value, digits)


def parse_args(description: str, configure: Callable[[argparse.ArgumentParser], None] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes: proves the script works, in seconds"
    )
    parser.add_argument("--no-peer", action="store_true", help="measure kibako only; peer and ratio are null")
    if configure is not None:
        configure(parser)
    return parser.parse_args()


def peer_python() -> Path | None:
    """The peer interpreter, or None (with a note on stderr) when ``make bench-setup`` has not run."""
    for candidate in (PEER_VENV / "bin" / "python", PEER_VENV / "Scripts" / "python.exe"):
        if candidate.exists():
            return candidate
    log(f"peer environment {PEER_VENV} is missing; run `make bench-setup` to compare with MLflow")
    return None


def run_peer(what: str, args: dict[str, Any], workdir: Path) -> dict[str, Any] | None:
    """Run ``_mlflow_peer.py what <args>`` in the peer venv; its last stdout line is the JSON answer.

    Returns None (and says why on stderr) if the peer environment is missing or the peer failed, so the
    kibako side of a benchmark still reports.
    """
    python = peer_python()
    if python is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_LOGGING_LEVEL": "WARNING",
            "DO_NOT_TRACK": "true",
            "PYTHONWARNINGS": "ignore",
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    for name in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "VIRTUAL_ENV"):
        env.pop(name, None)
    log(f"peer: mlflow {what} ...")
    proc = subprocess.run(
        [str(python), str(PEER_SCRIPT), what, json.dumps(args)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=None,  # progress passes straight through
        text=True,
        timeout=PEER_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        log(f"peer failed (exit {proc.returncode}); reporting kibako only")
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        log(f"peer answered something that is not JSON: {lines[-1][:200]!r}")
        return None


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder for both stores, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"kibako-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(body: Callable[[], Result]) -> None:
    """Run ``body`` with stdout routed to stderr, then print the single JSON line."""
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = body()
    print(result.to_json(), file=real_stdout, flush=True)


def target_met(smoke: bool, *checks: bool | None) -> bool | None:
    """All checks true; None in smoke runs (sizes too small to judge) or when a check could not be made."""
    if smoke or any(check is None for check in checks):
        return None
    return all(checks)
