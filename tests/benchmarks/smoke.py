"""Running one benchmark script at smoke size, as the benchmark tests do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"


def run_smoke(script: Path, home: Path, *flags: str) -> dict[str, Any]:
    """Run ``script --smoke [flags]`` under its own KIBAKO_HOME; the one JSON line it prints, checked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBAKO_")}
    env["KIBAKO_HOME"] = str(home)  # never touch the user's store, whatever a script does
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", *flags],
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
    result: dict[str, Any] = json.loads(lines[0])
    assert result["benchmark"] == script.stem
    assert result["smoke"] is True
    return result
