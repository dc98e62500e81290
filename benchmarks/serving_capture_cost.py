"""Data capture cost: kibako's endpoint runtime with 100% data capture against the same runtime without it.

Two runtimes serve the same sklearn model (LogisticRegression, 20 features) with one process each: one with
``DataCaptureConfig`` at 100% sampling (input and output, to a local folder), one with capture off. A
separate load-generator process drives 10 keep-alive connections at each in turn, several rounds (ABAB...).
``ours`` is req/s with capture on; ``baseline_rps`` is req/s with it off; ``cost`` = 1 - ours / baseline.
Target: cost <= 10%. The captured record count is checked against the requests the runtime answered, so the
figure cannot come from records that were silently not written.

There is no peer: MLflow's scoring server has no data capture (``peer`` is null).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

from _common import Result, log, main, parse_args, scratch, target_met
from _serving_peer import SECRET, csv_row, interleave, runtime_stats, save_model, start_runtime, stop

NAME = "serving_capture_cost"
TARGET_COST = 0.10
FEATURES = 20


def configure(parser: Any) -> None:
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per round and side (default 5; smoke 1)"
    )
    parser.add_argument("--rounds", type=int, help="rounds per side (default 4; smoke 1)")
    parser.add_argument("--concurrency", type=int, default=10, help="keep-alive connections (default 10)")


def _count_lines(folder: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in folder.rglob("*.jsonl"))


def body() -> Result:
    args = parse_args(__doc__.split("\n")[0], configure)
    seconds = args.seconds or (1.0 if args.smoke else 5.0)
    rounds = args.rounds or (1 if args.smoke else 4)
    warmup = 0.3 if args.smoke else 1.0
    result = Result(NAME, "req/s", "higher")
    with scratch(NAME) as work:
        model = save_model(work / "model", FEATURES)
        folder = work / "capture"
        variants = [{"name": "AllTraffic", "model_name": "lr", "model_dir": str(model.parent)}]
        capture = {"enabled": True, "sampling_percentage": 100, "destination": str(folder)}
        servers: list[Any] = []
        try:
            on, on_url = start_runtime(work, "capture-on", variants, capture)
            servers.append(on)
            off, off_url = start_runtime(work, "capture-off", variants)
            servers.append(off)
            common = {"body": csv_row(FEATURES), "headers": {"Content-Type": "text/csv"}}
            common.update(concurrency=args.concurrency, seconds=seconds, warmup=warmup)
            specs = {"capture_on": {"url": on_url + "/invocations", **common}}
            specs["capture_off"] = {"url": off_url + "/invocations", **common}
            runtime_stats(on_url)  # start the stats window now
            log(f"{rounds} round(s) of {seconds:g} s at concurrency {args.concurrency}: capture on vs off")
            figures = interleave(specs, rounds, log, prime_s=0.0 if args.smoke else 3.0)
            flush = urllib.request.Request(
                on_url + "/_kibako/flush", data=b"", headers={"X-Kibako-Secret": SECRET}
            )
            urllib.request.urlopen(flush, timeout=60).close()
            captured = runtime_stats(on_url)["Variants"]["AllTraffic"]
        finally:
            for proc in servers:
                stop(proc)
        lines = _count_lines(folder)
        size = sum(path.stat().st_size for path in folder.rglob("*.jsonl"))
    with_capture, without = figures["capture_on"], figures["capture_off"]
    result.ours = with_capture["rps"]
    cost = 1 - with_capture["rps"] / without["rps"] if without["rps"] else None
    log(f"captured {lines:,} records ({size / 1e6:.1f} MB) for {captured['Invocations']:,} answered requests")
    if lines != captured["Invocations"] or captured["CapturedRecords"] != lines:
        raise SystemExit(f"capture lost records: {lines} lines on disk, {captured} in the runtime's stats")
    result.extra.update(
        {
            "smoke": args.smoke,
            "target_cost": TARGET_COST,
            "target_met": target_met(args.smoke, None if cost is None else cost <= TARGET_COST),
            "cost": cost,
            "baseline_rps": without["rps"],
            "p50_ms_capture": with_capture["p50_ms"],
            "p99_ms_capture": with_capture["p99_ms"],
            "p50_ms_baseline": without["p50_ms"],
            "p99_ms_baseline": without["p99_ms"],
            "rounds_rps_capture": with_capture["rounds_rps"],
            "rounds_rps_baseline": without["rounds_rps"],
            "captured_records": lines,
            "captured_bytes": size,
            "errors": with_capture["errors"] + without["errors"],
            "concurrency": args.concurrency,
            "rounds": rounds,
            "seconds_per_round": seconds,
            "cpu_count": os.cpu_count(),
            "peer_note": "no peer: MLflow's scoring server has no data capture",
        }
    )
    return result


if __name__ == "__main__":
    main(body)
