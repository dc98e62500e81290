"""Router overhead: the latency kibako's endpoint runtime adds around ``handler.invoke``.

Definition. The runtime records, per request, the time from the ASGI call to the end of the response minus
the time inside ``handler.invoke`` (``OverheadLatency`` in ``GET /_kibako/stats``, microseconds): header
parsing, variant choice by weight, the hop to the invoke thread and back, stats, the response. ``ours`` is
the p99 of that, in ms, with two production variants (weights 1:1, the same sklearn model behind each) and
capture off, under one keep-alive connection sending requests back to back (no queueing). Target: <= 2 ms.

Cross-check from outside. The same requests are also sent to a bare server: the same uvicorn settings
(httptools, uvloop, one process) and the same handler, but an ASGI app that only reads the body and calls
``handler.invoke`` inline. ``added_p50_ms`` / ``added_p99_ms`` are the client-side latency differences
(runtime minus bare) with the servers loaded in turn, several rounds; these also count what uvicorn does for
both, so they are noisier, and can even come out negative on a busy machine. Target: added p99 <= 2 ms.

There is no peer: MLflow's scoring server has no variants to route between (``peer`` is null).
"""

from __future__ import annotations

import os
from typing import Any

from _common import Result, log, main, parse_args, scratch, target_met
from _serving_peer import csv_row, interleave, runtime_stats, save_model, start_bare, start_runtime, stop

NAME = "serving_router_overhead"
TARGET_MS = 2.0
FEATURES = 20


def configure(parser: Any) -> None:
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per round and side (default 5; smoke 1)"
    )
    parser.add_argument("--rounds", type=int, help="rounds per side (default 4; smoke 1)")


def body() -> Result:
    args = parse_args(__doc__.split("\n")[0], configure)
    seconds = args.seconds or (1.0 if args.smoke else 5.0)
    rounds = args.rounds or (1 if args.smoke else 4)
    warmup = 0.3 if args.smoke else 1.0
    row = csv_row(FEATURES)
    result = Result(NAME, "ms", "lower")
    with scratch(NAME) as work:
        model = save_model(work / "model", FEATURES)
        servers: list[Any] = []
        try:
            variants = [
                {"name": name, "model_name": f"lr-{name}", "model_dir": str(model.parent), "weight": 1.0}
                for name in ("VariantA", "VariantB")
            ]
            proc, url = start_runtime(work, "routed", variants)
            servers.append(proc)
            bare, bare_url = start_bare(work, model)
            servers.append(bare)
            common = {"body": row, "headers": {"Content-Type": "text/csv"}, "concurrency": 1}
            common.update(seconds=seconds, warmup=warmup)
            specs = {
                "routed": {"url": url + "/invocations", **common},
                "bare": {"url": bare_url + "/", **common},
            }
            runtime_stats(url)  # start the stats window now
            log(f"{rounds} round(s) of {seconds:g} s, one connection: routed (2 variants) vs bare handler")
            figures = interleave(specs, rounds, log, prime_s=0.0 if args.smoke else 3.0)
            stats = runtime_stats(url)["Variants"]
        finally:
            for proc in servers:
                stop(proc)
    overhead = [stats[name]["OverheadLatency"] for name in ("VariantA", "VariantB")]
    model_latency = [stats[name]["ModelLatency"] for name in ("VariantA", "VariantB")]
    split = stats["VariantA"]["Invocations"] / max(
        1, stats["VariantA"]["Invocations"] + stats["VariantB"]["Invocations"]
    )
    routed, plain = figures["routed"], figures["bare"]
    result.ours = max(o["p99"] for o in overhead) / 1000
    added_p99 = routed["p99_ms"] - plain["p99_ms"]
    result.extra.update(
        {
            "smoke": args.smoke,
            "target_ms": TARGET_MS,
            "target_met": target_met(args.smoke, result.ours <= TARGET_MS and added_p99 <= TARGET_MS),
            "overhead_p50_ms": max(o["p50"] for o in overhead) / 1000,
            "overhead_p99_ms": result.ours,
            "model_p50_ms": max(m["p50"] for m in model_latency) / 1000,
            "added_p50_ms": routed["p50_ms"] - plain["p50_ms"],
            "added_p99_ms": added_p99,
            "p50_ms_routed": routed["p50_ms"],
            "p99_ms_routed": routed["p99_ms"],
            "p50_ms_bare": plain["p50_ms"],
            "p99_ms_bare": plain["p99_ms"],
            "rps_routed": routed["rps"],
            "rps_bare": plain["rps"],
            "variant_a_share": split,
            "errors": routed["errors"] + plain["errors"],
            "requests_routed": routed["requests"],
            "rounds": rounds,
            "seconds_per_round": seconds,
            "cpu_count": os.cpu_count(),
            "peer_note": "no peer: MLflow's scoring server has no variants; the baseline is a bare handler server",
        }
    )
    return result


if __name__ == "__main__":
    main(body)
