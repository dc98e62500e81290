"""Run creation rate: runs started and ended per second.

kibako: ``with kb.run("bench", name=...): pass``. MLflow: ``mlflow.start_run(...)`` then ``mlflow.end_run()``
on an SQLite store. Each side makes one uncounted warm-up run first. Ratio = ours / peer runs per second.
Target: ours >= 1,000 runs/s (and p99 <= 20 ms).
"""

from __future__ import annotations

import _ours
from _common import Result, log, main, parse_args, run_peer, scratch, target_met

NAME = "tracking_run_creation"


def configure(parser):
    parser.add_argument("--runs", type=int, help="runs to create (default 2,000; smoke 50)")


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    runs = args.runs or (50 if args.smoke else 2_000)
    result = Result(NAME, unit="runs/s", better="higher")
    with scratch("runs") as tmp:
        log(f"ours: {runs:,} runs")
        ours = _ours.run_creation(tmp / "kibako", runs)
        result.ours = ours["runs_per_s"]
        log(f"ours: {result.ours:,.0f} runs/s")
        peer = None
        if not args.no_peer:
            peer = run_peer("run_creation", {"dir": str(tmp / "mlflow"), "runs": runs}, tmp)
        if peer:
            result.peer = peer["runs_per_s"]
            log(f"peer: {result.peer:,.0f} runs/s")
    result.extra = {
        "peer_name": peer["peer_name"] if peer else None,
        "smoke": args.smoke,
        "runs": runs,
        "p50_ms_ours": ours["p50_ms"],
        "p99_ms_ours": ours["p99_ms"],
        "p50_ms_peer": peer["p50_ms"] if peer else None,
        "p99_ms_peer": peer["p99_ms"] if peer else None,
        "target": "ours >= 1000 runs/s and ours p99 <= 20 ms",
        "target_met": target_met(args.smoke, ours["runs_per_s"] >= 1_000, ours["p99_ms"] <= 20),
    }
    return result


if __name__ == "__main__":
    main(body)
