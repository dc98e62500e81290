"""The serving benchmarks at smoke size report what they claim to (the generic smoke test covers ``--no-peer``).

The throughput benchmark runs with its peer (``mlflow models serve``) when ``.bench-venv`` exists; without it
the script must still report ours and say the peer is missing (``peer`` null).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.benchmarks.smoke import BENCH_DIR, run_smoke

pytestmark = pytest.mark.slow

HAS_PEER = (BENCH_DIR.parent / ".bench-venv" / "bin" / "python").exists()


def _smoke(name: str, tmp_path: Path, *flags: str) -> dict[str, Any]:
    result = run_smoke(BENCH_DIR / f"{name}.py", tmp_path / "home", *flags)
    assert result["target_met"] is None  # smoke sizes judge nothing
    assert result["cpu_count"] >= 1
    return result


def test_throughput_compares_requests_per_second_with_mlflow_serve(tmp_path: Path) -> None:
    result = _smoke("serving_throughput", tmp_path)
    assert result["unit"] == "req/s" and result["better"] == "higher"
    assert result["ours"] > 0 and result["errors_ours"] == 0 and result["requests_ours"] > 0
    assert 0 < result["p50_ms_ours"] <= result["p99_ms_ours"]
    assert (result["concurrency"], result["rounds"], result["features"]) == (10, 1, 20)
    if HAS_PEER:
        assert result["peer"] > 0 and result["errors_peer"] == 0
        assert result["ratio"] == pytest.approx(result["ours"] / result["peer"], rel=1e-2)
        assert 0 < result["p50_ms_peer"] <= result["p99_ms_peer"]
        assert result["peer_name"].startswith("mlflow models serve 3.")
    else:
        assert result["peer"] is None and result["ratio"] is None


def test_router_overhead_reports_in_server_and_client_side_figures(tmp_path: Path) -> None:
    result = _smoke("serving_router_overhead", tmp_path)
    assert result["unit"] == "ms" and result["better"] == "lower"
    assert result["peer"] is None and result["ratio"] is None and result["peer_note"]
    assert 0 < result["overhead_p50_ms"] <= result["overhead_p99_ms"] == result["ours"]
    assert result["added_p99_ms"] == pytest.approx(result["p99_ms_routed"] - result["p99_ms_bare"], abs=1e-2)
    assert result["errors"] == 0 and result["requests_routed"] > 0
    assert 0.2 < result["variant_a_share"] < 0.8  # both variants got traffic at 1:1


def test_capture_cost_compares_capture_on_with_capture_off(tmp_path: Path) -> None:
    result = _smoke("serving_capture_cost", tmp_path)
    assert result["unit"] == "req/s" and result["better"] == "higher"
    assert result["peer"] is None and result["ratio"] is None and result["peer_note"]
    assert result["ours"] > 0 and result["baseline_rps"] > 0
    assert result["cost"] == pytest.approx(1 - result["ours"] / result["baseline_rps"], abs=1e-3)
    assert result["captured_records"] > 0 and result["captured_bytes"] > 0 and result["errors"] == 0
