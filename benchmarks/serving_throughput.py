"""Serving throughput: kibako's endpoint runtime against ``mlflow models serve`` on the same sklearn model.

Both serve one LogisticRegression (20 features, saved once with joblib; the peer re-saves that same object
with ``mlflow.sklearn.save_model``) with one server process each:

* ours: ``python -m kibako.serving.runtime`` (uvicorn + httptools + uvloop, raw ASGI app), 1 production
  variant, data capture off, the model loaded by ``kibako.inference.load_model``;
* peer: ``mlflow models serve -m DIR --env-manager local -w 1`` from ``.bench-venv`` (its FastAPI scoring
  server under uvicorn, as ``pip install mlflow`` installs it).

Load: a separate process (``_serving_peer.py load``) drives 10 keep-alive HTTP/1.1 connections, each sending
its next request as soon as the last answer is in (``ab -k -c 10``), after a warm-up. Ours gets a one-row
CSV body (SageMaker's form); mlflow gets the same row as ``{"inputs": [[...]]}``: its CSV reader wants a
header row and was three times slower in development (230 vs 656 req/s), so JSON is the peer's best case.
The two servers are loaded in turn, several rounds (ABAB...), so slow drift on a shared machine hits both.

``ours`` / ``peer`` are req/s over all rounds; ratio = ours / peer; target: ratio >= 2. On a 2-core machine
the load generator takes one core, so both servers are measured with the same handicap.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import _serving_peer
from _common import Result, log, main, parse_args, peer_python, scratch, target_met
from _serving_peer import csv_row, free_port, interleave, save_model, start, start_runtime, stop, wait_ready

NAME = "serving_throughput"
TARGET_RATIO = 2.0
FEATURES = 20
PEER_SCRIPT = Path(_serving_peer.__file__).resolve()


def peer_env(python: Path) -> dict[str, str]:
    """The environment for the peer's processes: its venv first on PATH (mlflow's CLI runs ``uvicorn``)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI")
    }
    env.update(
        {
            "PATH": f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONWARNINGS": "ignore",
            "GIT_PYTHON_REFRESH": "quiet",
        }
    )
    return env


def start_mlflow(workdir: Path, model: Path, python: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``mlflow models serve`` with one uvicorn worker on the same model; (process, base URL, mlflow version)."""
    env = peer_env(python)
    out = workdir / "mlflow-model"
    spec = json.dumps({"joblib": str(model), "out": str(out)})
    proc = subprocess.run(
        [str(python), str(PEER_SCRIPT), "save-mlflow", spec],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed: {proc.stderr[-2000:]}")
    version = json.loads(proc.stdout.strip().splitlines()[-1])["mlflow"]
    port = free_port()
    serve = ["models", "serve", "-m", str(out), "--env-manager", "local", "-h", "127.0.0.1", "-w", "1"]
    command = [str(python.parent / "mlflow"), *serve, "-p", str(port)]
    server = start(command, env, workdir / "mlflow.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(server, url + "/ping", 300)
    return server, url, version


def _same_answer(ours_url: str, peer_url: str, row: str) -> None:
    """Both servers must predict the same class for the benchmark row, or the comparison means nothing."""
    ours = urllib.request.Request(ours_url, data=row.encode(), headers={"Content-Type": "text/csv"})
    with urllib.request.urlopen(ours, timeout=30) as resp:
        mine = float(resp.read().decode().strip())
    body = json.dumps({"inputs": [[float(v) for v in row.split(",")]]}).encode()
    peer = urllib.request.Request(peer_url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(peer, timeout=30) as resp:
        theirs = float(json.loads(resp.read())["predictions"][0])
    if mine != theirs:
        raise SystemExit(f"the two servers disagree on the benchmark row: ours {mine}, mlflow {theirs}")


def configure(parser: Any) -> None:
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per round and side (default 5; smoke 1)"
    )
    parser.add_argument("--rounds", type=int, help="rounds per side (default 4; smoke 1)")
    parser.add_argument("--concurrency", type=int, default=10, help="keep-alive connections (default 10)")


def body() -> Result:
    args = parse_args(__doc__.split("\n")[0], configure)
    seconds = args.seconds or (1.0 if args.smoke else 5.0)
    rounds = args.rounds or (1 if args.smoke else 4)
    warmup = 0.3 if args.smoke else 1.0
    row = csv_row(FEATURES)
    result = Result(NAME, "req/s", "higher")
    with scratch(NAME) as work:
        model = save_model(work / "model", FEATURES)
        servers: list[Any] = []
        try:
            proc, url = start_runtime(
                work, "ours", [{"name": "AllTraffic", "model_name": "lr", "model_dir": str(model.parent)}]
            )
            servers.append(proc)
            specs = {
                "ours": {
                    "url": url + "/invocations",
                    "body": row,
                    "headers": {"Content-Type": "text/csv"},
                },
            }
            peer_name = None
            python = None if args.no_peer else peer_python()
            if python is not None:
                peer, peer_url, version = start_mlflow(work, model, Path(python))
                servers.append(peer)
                peer_name = f"mlflow models serve {version} (--env-manager local, -w 1)"
                _same_answer(url + "/invocations", peer_url + "/invocations", row)
                specs["peer"] = {
                    "url": peer_url + "/invocations",
                    "body": '{"inputs": [[' + row + "]]}",
                    "headers": {"Content-Type": "application/json"},
                }
            elif not args.no_peer and not args.smoke:
                raise SystemExit("the peer environment .bench-venv is missing: run `make bench-setup` first")
            for spec in specs.values():
                spec.update(concurrency=args.concurrency, seconds=seconds, warmup=warmup)
            log(f"{rounds} round(s) of {seconds:g} s at concurrency {args.concurrency}: {', '.join(specs)}")
            figures = interleave(specs, rounds, log, prime_s=0.0 if args.smoke else 3.0)
        finally:
            for proc in servers:
                stop(proc)
    ours, peer = figures["ours"], figures.get("peer")
    result.ours = ours["rps"]
    result.peer = peer["rps"] if peer else None
    ratio = result.ratio()
    result.extra.update(
        {
            "smoke": args.smoke,
            "target_ratio": TARGET_RATIO,
            "target_met": target_met(args.smoke, None if ratio is None else ratio >= TARGET_RATIO),
            "p50_ms_ours": ours["p50_ms"],
            "p99_ms_ours": ours["p99_ms"],
            "p50_ms_peer": peer["p50_ms"] if peer else None,
            "p99_ms_peer": peer["p99_ms"] if peer else None,
            "requests_ours": ours["requests"],
            "requests_peer": peer["requests"] if peer else None,
            "errors_ours": ours["errors"],
            "errors_peer": peer["errors"] if peer else None,
            "rounds_rps_ours": ours["rounds_rps"],
            "rounds_rps_peer": peer["rounds_rps"] if peer else None,
            "concurrency": args.concurrency,
            "seconds_per_round": seconds,
            "rounds": rounds,
            "features": FEATURES,
            "cpu_count": os.cpu_count(),
            "peer_name": peer_name,
        }
    )
    return result


if __name__ == "__main__":
    main(body)
