"""The job benchmarks at smoke size report what they claim to (the generic smoke test covers ``--no-peer``).

Both run without ``--no-peer`` here: the start-overhead peer is the script run directly, which needs no peer
environment, and the slot benchmark has no peer at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.benchmarks.smoke import BENCH_DIR, run_smoke

pytestmark = pytest.mark.slow


def _smoke(name: str, tmp_path: Path) -> dict[str, Any]:
    result = run_smoke(BENCH_DIR / f"{name}.py", tmp_path / "home")
    assert result["target_met"] is None  # smoke sizes judge nothing
    return result


def test_start_overhead_compares_with_running_the_script_directly(tmp_path: Path) -> None:
    result = _smoke("jobs_start_overhead", tmp_path)
    assert result["unit"] == "ms" and result["better"] == "lower"
    assert result["jobs"] == 3
    assert result["ours"] > 0 and result["p95_ms_ours"] >= result["ours"]
    assert result["peer"] > 0 and result["p95_ms_peer"] >= result["peer"]
    assert result["ratio"] == pytest.approx(result["peer"] / result["ours"], rel=1e-2)
    assert "python train.py" in result["peer_name"]
    # Completed comes after the first line; the parts of the start are measured and non-negative.
    assert result["completed_p50_ms_ours"] >= result["ours"]
    for key in ("submit_call_p50_ms_ours", "claim_p50_ms_ours", "prepare_p50_ms_ours", "launch_p50_ms_ours"):
        assert result[key] >= 0, key


def test_slot_scheduling_reports_against_the_ideal(tmp_path: Path) -> None:
    result = _smoke("jobs_slot_scheduling", tmp_path)
    assert result["unit"] == "s" and result["better"] == "lower"
    assert result["peer"] is None and result["ratio"] is None and result["peer_note"]
    assert (result["jobs"], result["job_seconds"], result["slots"]) == (6, 0.2, 2)
    assert result["ideal_s"] == pytest.approx(0.6)
    assert result["ours"] >= result["ideal_s"]
    assert result["max_running"] == 2  # both slots were used, and never more than two jobs at once
    assert result["overhead"] == pytest.approx(result["ours"] / result["ideal_s"] - 1, rel=1e-2)
    for key in ("prepare_ms", "launch_ms", "exit_ms", "upload_ms", "job_total_ms"):
        assert result[key] >= 0, key
