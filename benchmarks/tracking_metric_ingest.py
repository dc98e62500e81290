"""Metric ingest throughput: points per second into one run, batched, including the final flush.

kibako: ``run.log_metrics({10 keys}, step=s)`` through the SDK's buffered path, then ``run.flush()``.
MLflow: ``MlflowClient.log_batch`` with 1,000 metrics per call (its maximum) on an SQLite store.
Both log the same values, key by key and step by step; ratio = ours / peer points per second.
Target: ours >= 100,000 points/s and ratio >= 20.
"""

from __future__ import annotations

import _ours
from _common import Result, log, main, parse_args, run_peer, scratch, target_met

NAME = "tracking_metric_ingest"


def configure(parser):
    parser.add_argument("--keys", type=int, default=10, help="metric keys (default 10)")
    parser.add_argument("--steps", type=int, help="steps per key (default 100,000; smoke 1,000)")
    parser.add_argument("--peer-steps", type=int, help="steps per key for MLflow (default: same as ours)")


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    steps = args.steps or (1_000 if args.smoke else 100_000)
    peer_steps = args.peer_steps or steps
    result = Result(NAME, unit="points/s", better="higher")
    with scratch("ingest") as tmp:
        log(f"ours: {args.keys} keys x {steps:,} steps")
        ours = _ours.ingest(tmp / "kibako", args.keys, steps)
        log(f"ours: {ours['points_per_s']:,.0f} points/s")
        result.ours = ours["points_per_s"]
        peer = None
        if not args.no_peer:
            peer = run_peer(
                "ingest", {"dir": str(tmp / "mlflow"), "keys": args.keys, "steps": peer_steps}, tmp
            )
        if peer:
            result.peer = peer["points_per_s"]
            log(f"peer: {peer['points_per_s']:,.0f} points/s")
    ratio = result.ratio()
    result.extra = {
        "peer_name": peer["peer_name"] if peer else None,
        "smoke": args.smoke,
        "points_ours": ours["points"],
        "points_peer": peer["points"] if peer else None,
        "seconds_ours": ours["seconds"],
        "seconds_peer": peer["seconds"] if peer else None,
        "api_ours": "ActiveRun.log_metrics per step + flush",
        "api_peer": "MlflowClient.log_batch, 1000 metrics per call",
        "target": "ours >= 100000 points/s and ratio >= 20",
        "target_met": target_met(
            args.smoke, ours["points_per_s"] >= 100_000, None if ratio is None else ratio >= 20
        ),
    }
    return result


if __name__ == "__main__":
    main(body)
