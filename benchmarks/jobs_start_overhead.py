"""Job start overhead, submit to the script's first line, local executor, against running the script directly.

kibako: a worker already runs on a thread of this process (the steady state of a long-lived ``kibako worker``;
it is registered, so ``kb.jobs.train(..., wait=False)`` starts no background worker) with its default poll
interval. Each job is submitted with ``kb.jobs.train(script, wait=False)``; the clock runs from just before
that call to the ``time.time()`` the script writes as its first statement. The next job is submitted only
once the previous one has completed, after a random pause so submissions land anywhere in the worker's poll
cycle. One uncounted warm-up job goes first.

Peer: the same script run directly, ``subprocess.run([sys.executable, "train.py"])``, timed the same way
(just before the call to its first line). SageMaker local mode, the natural peer, needs Docker, which is not
available here. ``ours`` and ``peer`` are medians in ms; ratio = direct / kibako (< 1: the job costs more).
Target: kibako median <= 300 ms.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import Result, log, main, parse_args, percentile, scratch, target_met

NAME = "jobs_start_overhead"
TARGET_MS = 300.0
MARK_ENV = "KIBAKO_BENCH_FIRST_LINE"
FINAL = ("Completed", "Failed", "Stopped")
JOB_TIMEOUT_S = 60.0

# The first statement writes the wall clock to the file named by MARK_ENV; nothing else happens.
SCRIPT = f'import os, time; open(os.environ["{MARK_ENV}"], "w").write(repr(time.time()))\n'


def configure(parser):
    parser.add_argument("--jobs", type=int, help="counted jobs (default 20; smoke 3)")


def _first_line(mark: Path, deadline: float) -> float:
    """The time the script wrote as its first statement, once it is there."""
    while time.monotonic() < deadline:
        try:
            text = mark.read_text()
        except FileNotFoundError:
            text = ""
        if text:
            return float(text)
        time.sleep(0.005)
    raise TimeoutError(f"the script never wrote {mark}")


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def _phases(desc: dict[str, Any]) -> dict[str, float]:
    """Start time (epoch ms) of each secondary status the job went through."""
    return {t["Status"]: _ms(t["StartTime"]) for t in desc.get("SecondaryStatusTransitions", [])}


def ours(home: Path, script: Path, jobs: int) -> dict[str, Any]:
    import kibako
    from kibako.core.config import Config
    from kibako.jobs.worker import Worker
    from kibako.sdk.services import Services

    kb = kibako.connect(home=str(home))
    services = Services.open(Config.from_env({"KIBAKO_HOME": str(home)}))
    worker = Worker(services)
    thread = threading.Thread(target=worker.run, name="bench-worker", daemon=True)
    thread.start()
    rng = random.Random(7)
    first_ms: list[float] = []
    done_ms: list[float] = []
    call_ms: list[float] = []  # kb.jobs.train(...) itself: validate, snapshot the code, queue
    claim_ms: list[float] = []  # call returned -> Downloading (the worker picked it up)
    prepare_ms: list[float] = []  # Downloading -> Training (job folder, code, contract)
    launch_ms: list[float] = []  # Training -> first line (process, sandbox, interpreter start)
    try:
        deadline = time.monotonic() + 30
        while not kb.jobs.live_workers():
            if time.monotonic() > deadline:
                raise TimeoutError("the worker never registered")
            time.sleep(0.01)
        for index in range(jobs + 1):  # job 0 is the warm-up
            time.sleep(rng.uniform(0, worker.poll_seconds))
            mark = home / "marks" / f"job-{index}.txt"
            mark.parent.mkdir(parents=True, exist_ok=True)
            submitted = time.time()
            job = kb.jobs.train(
                str(script), name=f"start-{index:04d}", environment={MARK_ENV: str(mark)}, wait=False
            )
            returned = time.time()
            first = _first_line(mark, time.monotonic() + JOB_TIMEOUT_S)
            deadline = time.monotonic() + JOB_TIMEOUT_S
            while (desc := job.describe())["TrainingJobStatus"] not in FINAL:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"job {job.name} is still {desc['TrainingJobStatus']}")
                time.sleep(0.01)
            if desc["TrainingJobStatus"] != "Completed":
                raise RuntimeError(
                    f"job {job.name} ended {desc['TrainingJobStatus']}: {desc.get('FailureReason')}"
                )
            if index == 0:
                continue
            phases = _phases(desc)
            submitted_ms, first_line_ms = submitted * 1000, first * 1000
            first_ms.append(first_line_ms - submitted_ms)
            done_ms.append(phases["Completed"] - submitted_ms)
            call_ms.append((returned - submitted) * 1000)
            claim_ms.append(phases["Downloading"] - returned * 1000)
            prepare_ms.append(phases["Training"] - phases["Downloading"])
            launch_ms.append(first_line_ms - phases["Training"])
    finally:
        worker.stop()
        thread.join(timeout=60)
        services.close()
        kb.close()
    if worker.errors:
        raise RuntimeError(f"the worker failed: {worker.errors[0]!r}")
    return {
        "p50_ms": statistics.median(first_ms),
        "p95_ms": percentile(first_ms, 95),
        "done_p50_ms": statistics.median(done_ms),
        "done_p95_ms": percentile(done_ms, 95),
        "submit_call_p50_ms": statistics.median(call_ms),
        "claim_p50_ms": statistics.median(claim_ms),
        "prepare_p50_ms": statistics.median(prepare_ms),
        "launch_p50_ms": statistics.median(launch_ms),
        "poll_seconds": worker.poll_seconds,
    }


def direct(folder: Path, script: Path, runs: int) -> dict[str, Any]:
    """``python train.py`` from just before ``subprocess.run`` to the script's first line; one warm-up run."""
    samples: list[float] = []
    for index in range(runs + 1):
        mark = folder / f"direct-{index}.txt"
        env = {**os.environ, MARK_ENV: str(mark)}
        started = time.time()
        subprocess.run([sys.executable, str(script)], env=env, cwd=script.parent, check=True)
        if index:
            samples.append((float(mark.read_text()) - started) * 1000)
    return {"p50_ms": statistics.median(samples), "p95_ms": percentile(samples, 95)}


def _cell(value: Any) -> str:
    if value is None:
        return f"{'-':>12}"
    return f"{value:>12.1f}" if value >= 1 else f"{value:>12.3f}"


def _table(rows: list[tuple[str, Any, Any]]) -> None:
    """The figures as a small table on stderr (stdout carries only the JSON line)."""
    log(f"{'':<34}{'kibako':>12}{'direct':>12}")
    for label, a, b in rows:
        log(f"{label:<34}{_cell(a)}{_cell(b)}")


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    jobs = args.jobs or (3 if args.smoke else 20)
    result = Result(NAME, unit="ms", better="lower")
    with scratch("jobs-start") as tmp:
        code = tmp / "code"
        code.mkdir()
        script = code / "train.py"
        script.write_text(SCRIPT)
        log(f"ours: {jobs} jobs (plus one warm-up) through a running worker")
        mine = ours(tmp / "kibako", script, jobs)
        result.ours = mine["p50_ms"]
        log(f"ours: submit -> first line p50 {mine['p50_ms']:.1f} ms, p95 {mine['p95_ms']:.1f} ms")
        peer = None
        if not args.no_peer:
            log(
                "peer: SageMaker local mode needs Docker, which is not available; comparing with `python train.py`"
            )
            (tmp / "direct").mkdir()
            peer = direct(tmp / "direct", script, jobs)
            result.peer = peer["p50_ms"]
            log(f"peer: start -> first line p50 {peer['p50_ms']:.1f} ms, p95 {peer['p95_ms']:.1f} ms")
    _table(
        [
            ("start -> first line, p50 (ms)", mine["p50_ms"], peer["p50_ms"] if peer else None),
            ("start -> first line, p95 (ms)", mine["p95_ms"], peer["p95_ms"] if peer else None),
            ("  p50 of: the submit call (ms)", mine["submit_call_p50_ms"], None),
            ("  p50 of: waiting for a claim (ms)", mine["claim_p50_ms"], None),
            ("  p50 of: preparing (ms)", mine["prepare_p50_ms"], None),
            ("  p50 of: launching (ms)", mine["launch_p50_ms"], None),
            ("submit -> Completed, p50 (ms)", mine["done_p50_ms"], None),
            ("submit -> Completed, p95 (ms)", mine["done_p95_ms"], None),
            ("ratio (direct / kibako)", result.ratio(), None),
        ]
    )
    result.extra = {
        "peer_name": "python train.py (direct; SageMaker local mode needs Docker)" if peer else None,
        "smoke": args.smoke,
        "jobs": jobs,
        "p95_ms_ours": mine["p95_ms"],
        "p50_ms_peer": peer["p50_ms"] if peer else None,
        "p95_ms_peer": peer["p95_ms"] if peer else None,
        "overhead_p50_ms": mine["p50_ms"] - peer["p50_ms"] if peer else None,
        "completed_p50_ms_ours": mine["done_p50_ms"],
        "completed_p95_ms_ours": mine["done_p95_ms"],
        "submit_call_p50_ms_ours": mine["submit_call_p50_ms"],
        "claim_p50_ms_ours": mine["claim_p50_ms"],
        "prepare_p50_ms_ours": mine["prepare_p50_ms"],
        "launch_p50_ms_ours": mine["launch_p50_ms"],
        "worker_poll_seconds": mine["poll_seconds"],
        "target": f"ours median submit -> first line <= {TARGET_MS:.0f} ms",
        "target_met": target_met(args.smoke, mine["p50_ms"] <= TARGET_MS),
    }
    return result


if __name__ == "__main__":
    main(body)
