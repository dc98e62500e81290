"""search_runs latency: a filtered, ordered first page over many runs.

Both stores get the same N runs (20 params, 10 metrics each, values drawn from the run's index), then the
same query runs once uncounted and ``--repeats`` times counted: filter ``metrics.m3 > 0.5 and params.p1 =
'a'``, order ``metrics.m5 DESC``, 100 results. kibako: ``kb.search_runs``; MLflow:
``MlflowClient.search_runs`` on an SQLite store. ``ours``/``peer`` are p95 milliseconds; ratio = peer p95 /
ours p95. Target: ours p95 <= 100 ms at 10,000 runs and ratio >= 10.
"""

from __future__ import annotations

import _ours
from _common import Result, log, main, parse_args, run_peer, scratch, target_met

NAME = "tracking_search_runs"
FILTER = "metrics.m3 > 0.5 and params.p1 = 'a'"
ORDER_BY = ["metrics.m5 DESC"]


def configure(parser):
    parser.add_argument("--runs", type=int, help="runs in the experiment (default 10,000; smoke 200)")
    parser.add_argument("--repeats", type=int, default=30, help="counted searches (default 30)")
    parser.add_argument("--max-results", type=int, default=100, help="page size (default 100)")


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    runs = args.runs or (200 if args.smoke else 10_000)
    query = {
        "runs": runs,
        "params": 20,
        "metrics": 10,
        "filter": FILTER,
        "order_by": ORDER_BY,
        "max_results": args.max_results,
        "repeats": args.repeats,
    }
    result = Result(NAME, unit="ms (p95)", better="lower")
    with scratch("search") as tmp:
        log(f"ours: {runs:,} runs")
        ours = _ours.search_runs(tmp / "kibako", **query)
        result.ours = ours["p95_ms"]
        log(f"ours: p50 {ours['p50_ms']:.2f} ms, p95 {ours['p95_ms']:.2f} ms")
        peer = None
        if not args.no_peer:
            peer = run_peer("search_runs", {"dir": str(tmp / "mlflow"), **query}, tmp)
        if peer:
            result.peer = peer["p95_ms"]
            log(f"peer: p50 {peer['p50_ms']:.2f} ms, p95 {peer['p95_ms']:.2f} ms")
    ratio = result.ratio()
    result.extra = {
        "peer_name": peer["peer_name"] if peer else None,
        "smoke": args.smoke,
        "runs": runs,
        "repeats": args.repeats,
        "filter": FILTER,
        "order_by": ORDER_BY,
        "p50_ms_ours": ours["p50_ms"],
        "p50_ms_peer": peer["p50_ms"] if peer else None,
        "results_ours": ours["results"],
        "results_peer": peer["results"] if peer else None,
        "same_results": ours["names"] == peer["names"] if peer else None,
        "populate_s_ours": ours["populate_s"],
        "populate_s_peer": peer["populate_s"] if peer else None,
        "target": "ours p95 <= 100 ms (at 10,000 runs) and ratio >= 10",
        "target_met": target_met(
            args.smoke or runs < 10_000, ours["p95_ms"] <= 100, None if ratio is None else ratio >= 10
        ),
    }
    return result


if __name__ == "__main__":
    main(body)
