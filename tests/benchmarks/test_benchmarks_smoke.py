"""Every benchmark script still runs: tiny sizes, kibako only (no peer environment needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
KEYS = {"benchmark", "ours", "peer", "ratio", "unit", "better"}


def test_there_are_benchmarks() -> None:
    assert SCRIPTS, f"no benchmark scripts under {BENCH_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_smoke_run_prints_one_json_line(script: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBAKO_")}
    env["KIBAKO_HOME"] = str(tmp_path / "home")  # never touch the user's store, whatever a script does
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", "--no-peer"],
        cwd=BENCH_DIR.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be exactly one JSON line, got: {proc.stdout[:2000]!r}"
    result = json.loads(lines[0])
    assert KEYS <= result.keys()
    assert result["benchmark"] == script.stem
    assert isinstance(result["ours"], int | float) and result["ours"] > 0
    assert result["peer"] is None and result["ratio"] is None
    assert result["better"] in {"higher", "lower"}
    assert result["unit"]
    assert result["smoke"] is True
