"""Bytes on disk per metric point: the same points logged into each store, growth measured after a checkpoint.

Both sides first create the store, an experiment and an empty run, close and checkpoint, and measure; then
log N points (10 keys x N/10 steps) into a second run, close, checkpoint and measure again. Bytes per point
is the growth of the store's folder (SQLite file, its -wal and -shm, and anything else the store writes)
divided by N; the database file alone is reported too. Ratio = peer / ours bytes per point.
Target: ours below MLflow and <= 24 bytes per point (24 MB per million points).
"""

from __future__ import annotations

import _ours
from _common import Result, log, main, parse_args, run_peer, scratch, target_met

NAME = "tracking_storage"


def configure(parser):
    parser.add_argument("--keys", type=int, default=10, help="metric keys (default 10)")
    parser.add_argument("--points", type=int, help="points in all (default 1,000,000; smoke 10,000)")


def per_point(sizes: dict, kind: str) -> float:
    return (sizes[f"{kind}_bytes_after"] - sizes[f"{kind}_bytes_before"]) / sizes["points"]


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    points = args.points or (10_000 if args.smoke else 1_000_000)
    steps = max(1, points // args.keys)
    result = Result(NAME, unit="bytes/point", better="lower")
    with scratch("storage") as tmp:
        log(f"ours: {args.keys} keys x {steps:,} steps")
        ours = _ours.ingest(tmp / "kibako", args.keys, steps)
        result.ours = per_point(ours, "store")
        log(f"ours: {result.ours:.2f} bytes/point")
        peer = None
        if not args.no_peer:
            peer = run_peer("ingest", {"dir": str(tmp / "mlflow"), "keys": args.keys, "steps": steps}, tmp)
        if peer:
            result.peer = per_point(peer, "store")
            log(f"peer: {result.peer:.2f} bytes/point")
    ratio = result.ratio()
    result.extra = {
        "peer_name": peer["peer_name"] if peer else None,
        "smoke": args.smoke,
        "points": ours["points"],
        "db_bytes_per_point_ours": per_point(ours, "db"),
        "db_bytes_per_point_peer": per_point(peer, "db") if peer else None,
        "growth_bytes_ours": ours["store_bytes_after"] - ours["store_bytes_before"],
        "growth_bytes_peer": peer["store_bytes_after"] - peer["store_bytes_before"] if peer else None,
        "target": "ours <= 24 bytes/point and ratio > 1",
        "target_met": target_met(args.smoke, result.ours <= 24, None if ratio is None else ratio > 1),
    }
    return result


if __name__ == "__main__":
    main(body)
