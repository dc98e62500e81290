"""Slot scheduling: 200 one-second jobs on 2 slots finish within 10% of the ideal 100 s.

One worker with a local executor of exactly 2 slots (``LocalExecutor(capacity=Resources(cpus=2, ...))``,
memory plentiful, no GPUs); each job asks for ``"Cpus": 1, "MemoryInGiB": 1`` and its script sleeps for the
job's length. All jobs are queued first (not timed); the clock then times the whole
``Worker.run(until_idle=True)`` call, which returns once the last job has ended and nothing waits. Ideal = jobs x
seconds / slots; overhead = wall / ideal - 1; target: overhead <= 10% (at 200 x 1 s).

There is no peer: no other scheduler is run in this comparison, the target is against the ideal, so ``peer``
and ``ratio`` are null. For reference the same script is also run directly (``python train.py``), which gives
the part of the overhead that is the interpreter's own start and exit rather than kibako's.
Per-phase times come from each job's SecondaryStatusTransitions and the times the script writes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import Progress, Result, log, main, parse_args, scratch, target_met

NAME = "jobs_slot_scheduling"
SLOTS = 2
TARGET_OVERHEAD = 0.10
TIMES_ENV = "KIBAKO_BENCH_TIMES"

# Writes the wall clock at its first statement and after its sleep, so launch and exit costs can be told apart.
SCRIPT = f"""import os, time; _start = time.time()
time.sleep(float(os.environ["KIBAKO_BENCH_SECONDS"]))
with open(os.environ["{TIMES_ENV}"], "w") as f:
    f.write(f"{{_start!r}} {{time.time()!r}}")
"""


def configure(parser):
    parser.add_argument("--jobs", type=int, help="jobs to run (default 200; smoke 6)")
    parser.add_argument("--seconds", type=float, help="each job's sleep (default 1.0; smoke 0.2)")


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


def _request(name: str, script: Path, seconds: float, times: Path) -> dict[str, Any]:
    """A CreateTrainingJob request asking for one CPU and 1 GiB."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": json.dumps(str(script))},
        "ResourceConfig": {"InstanceCount": 1, "Cpus": 1, "MemoryInGiB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Environment": {"KIBAKO_BENCH_SECONDS": repr(seconds), TIMES_ENV: str(times)},
    }


def _breakdown(descs: list[dict[str, Any]], times: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Mean ms per phase of a job, and the mean idle gap of a slot between one job's end and the next's claim."""
    prepare, launch, exit_, upload, finish, starts, ends = [], [], [], [], [], [], []
    for desc in descs:
        phase = {t["Status"]: _ms(t["StartTime"]) for t in desc["SecondaryStatusTransitions"]}
        first, last = (v * 1000 for v in times[desc["TrainingJobName"]])
        starts.append(phase["Downloading"])
        ends.append(phase["Completed"])
        prepare.append(phase["Training"] - phase["Downloading"])
        launch.append(first - phase["Training"])
        exit_.append(phase["Uploading"] - last)
        upload.append(phase["Completed"] - phase["Uploading"])
        finish.append(phase["Completed"] - phase["Downloading"])
    # Most jobs running at once (a job holds its slot from its claim to Completed): never above the slots.
    events = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends], key=lambda e: (e[0], e[1]))
    running = most = 0
    for _t, step in events:
        running += step
        most = max(most, running)
    # A slot frees when a job ends; the next claim (in time order) fills it. Gap = that claim - that end.
    starts.sort()
    ends.sort()
    gaps = [s - e for s, e in zip(starts[SLOTS:], ends, strict=False)]
    return {
        "prepare_ms": statistics.fmean(prepare),  # Downloading -> Training: job folder, code, contract
        "launch_ms": statistics.fmean(launch),  # Training -> script's first line: spawn, sandbox, interpreter
        "exit_ms": statistics.fmean(exit_),  # script's last line -> Uploading: interpreter exit, exit noticed
        "upload_ms": statistics.fmean(upload),  # Uploading -> Completed: model.tar.gz, final metrics, end run
        "slot_gap_ms": statistics.fmean(gaps) if gaps else 0.0,  # Completed -> the next claim on that slot
        "job_total_ms": statistics.fmean(finish),  # Downloading -> Completed
        "max_running": most,
    }


def ours(home: Path, script: Path, jobs: int, seconds: float) -> dict[str, Any]:
    from kibako.core.config import Config
    from kibako.jobs.executors import LocalExecutor
    from kibako.jobs.resources import Resources
    from kibako.jobs.worker import Worker
    from kibako.sdk.services import Services

    services = Services.open(Config.from_env({"KIBAKO_HOME": str(home)}))
    try:
        marks = home / "marks"
        marks.mkdir(parents=True)
        names = [f"slot-{index:05d}" for index in range(jobs)]
        progress = Progress("ours: queueing", jobs)
        started = time.perf_counter()
        for index, name in enumerate(names):
            services.jobs.create_training_job(_request(name, script, seconds, marks / f"{name}.txt"))
            progress.update(index + 1)
        queued_s = time.perf_counter() - started
        log(f"ours: {jobs} jobs queued in {queued_s:.1f} s; running them on {SLOTS} slots")
        executor = LocalExecutor(capacity=Resources(cpus=SLOTS, memory_mib=1 << 20, gpus=0))
        worker = Worker(services, executor)
        started = time.perf_counter()
        worker.run(until_idle=True)
        wall_s = time.perf_counter() - started
        if worker.errors:
            raise RuntimeError(f"the worker failed: {worker.errors[0]!r}")
        descs = [services.jobs.describe_training_job(name) for name in names]
        bad = [d for d in descs if d["TrainingJobStatus"] != "Completed"]
        if bad:
            raise RuntimeError(f"{len(bad)} jobs did not complete; first: {bad[0].get('FailureReason')}")
        times = {}
        for name in names:
            first, last = (marks / f"{name}.txt").read_text().split()
            times[name] = (float(first), float(last))
        return {"wall_s": wall_s, "queued_s": queued_s, **_breakdown(descs, times)}
    finally:
        services.close()


def direct(script: Path, seconds: float, runs: int = 3) -> float:
    """Median seconds of ``python train.py`` run directly, start to exit."""
    samples = []
    for index in range(runs):
        env = {
            **os.environ,
            "KIBAKO_BENCH_SECONDS": repr(seconds),
            TIMES_ENV: str(script.parent / f"d{index}.txt"),
        }
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script)], env=env, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _table(rows: list[tuple[str, str]]) -> None:
    """The figures as a small table on stderr (stdout carries only the JSON line)."""
    for label, value in rows:
        log(f"{label:<44}{value:>14}")


def body() -> Result:
    args = parse_args(__doc__.splitlines()[0], configure)
    jobs = args.jobs or (6 if args.smoke else 200)
    seconds = args.seconds or (0.2 if args.smoke else 1.0)
    ideal_s = jobs * seconds / SLOTS
    result = Result(NAME, unit="s", better="lower")
    with scratch("jobs-slots") as tmp:
        code = tmp / "code"
        code.mkdir()
        script = code / "train.py"
        script.write_text(SCRIPT)
        mine = ours(tmp / "kibako", script, jobs, seconds)
        direct_s = direct(script, seconds)
    result.ours = mine["wall_s"]
    overhead = mine["wall_s"] / ideal_s - 1
    per_job_ms = (mine["wall_s"] * SLOTS / jobs - seconds) * 1000
    # Against jobs that each take as long as the script run directly: kibako's own part of the overhead.
    overhead_direct = mine["wall_s"] / (jobs * direct_s / SLOTS) - 1
    met = target_met(args.smoke, overhead <= TARGET_OVERHEAD)
    log("peer: none; no other scheduler runs in this comparison, the target is against the ideal")
    _table(
        [
            ("jobs x seconds / slots = ideal (s)", f"{jobs} x {seconds:g} / {SLOTS} = {ideal_s:.1f}"),
            ("wall time (s)", f"{mine['wall_s']:.2f}"),
            ("overhead vs ideal", f"{overhead:+.1%}"),
            ("overhead per job, slot time (ms)", f"{per_job_ms:.0f}"),
            ("  the script run directly, start to exit (s)", f"{direct_s:.3f}"),
            ("  overhead vs jobs as long as the direct run", f"{overhead_direct:+.1%}"),
            ("  mean prepare (ms)", f"{mine['prepare_ms']:.0f}"),
            ("  mean launch to first line (ms)", f"{mine['launch_ms']:.0f}"),
            ("  mean last line to exit noticed (ms)", f"{mine['exit_ms']:.0f}"),
            ("  mean upload and finish (ms)", f"{mine['upload_ms']:.0f}"),
            ("  mean slot idle, end to next claim (ms)", f"{mine['slot_gap_ms']:.0f}"),
            ("most jobs running at once", f"{mine['max_running']}"),
            (
                f"target: overhead <= {TARGET_OVERHEAD:.0%}",
                {True: "met", False: "NOT met", None: "n/a (smoke)"}[met],
            ),
        ]
    )
    result.extra = {
        "peer_name": None,
        "peer_note": "no peer scheduler in this comparison; the target is against the ideal",
        "smoke": args.smoke,
        "jobs": jobs,
        "job_seconds": seconds,
        "slots": SLOTS,
        "ideal_s": ideal_s,
        "overhead": overhead,
        "overhead_per_job_ms": per_job_ms,
        "direct_run_s": direct_s,
        "overhead_vs_direct_run": overhead_direct,
        "queue_s": mine["queued_s"],
        "prepare_ms": mine["prepare_ms"],
        "launch_ms": mine["launch_ms"],
        "exit_ms": mine["exit_ms"],
        "upload_ms": mine["upload_ms"],
        "slot_gap_ms": mine["slot_gap_ms"],
        "job_total_ms": mine["job_total_ms"],
        "max_running": mine["max_running"],
        "target": f"wall <= ideal + {TARGET_OVERHEAD:.0%} ({jobs} x {seconds:g} s jobs on {SLOTS} slots)",
        "target_met": met,
    }
    return result


if __name__ == "__main__":
    main(body)
