"""Every benchmark script still runs: tiny sizes, kibako only (no peer environment needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.benchmarks.smoke import BENCH_DIR, run_smoke

SCRIPTS = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_"))
KEYS = {"benchmark", "ours", "peer", "ratio", "unit", "better"}


def test_there_are_benchmarks() -> None:
    assert SCRIPTS, f"no benchmark scripts under {BENCH_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_smoke_run_prints_one_json_line(script: Path, tmp_path: Path) -> None:
    result = run_smoke(script, tmp_path / "home", "--no-peer")
    assert KEYS <= result.keys()
    assert isinstance(result["ours"], int | float) and result["ours"] > 0
    assert result["peer"] is None and result["ratio"] is None
    assert result["better"] in {"higher", "lower"}
    assert result["unit"]
    assert result["smoke"] is True
