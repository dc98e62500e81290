"""The leased job queue and its workers: one holder per job, resource slots, and jobs that outlive a killed
worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.conftest import PG_URL
from tests.store.conftest import reset_postgres

import kibako
import kibako.sdk.jobs
from kibako.core.config import Config
from kibako.jobs.executors import LocalExecutor
from kibako.jobs.resources import Resources
from kibako.jobs.runner import AttemptRunner
from kibako.jobs.service import LeaseLostError
from kibako.jobs.worker import Worker
from kibako.sdk.services import Services

SCRIPTS = Path(__file__).parent / "scripts"
LOSS = {"loss": r"loss=([0-9.]+)"}
BIG_MEMORY = 64 * 1024


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="KIBAKO_TEST_DATABASE_URL is not set (no PostgreSQL)"),
            ],
        ),
    ]
)
def kb(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[kibako.Kibako]:
    """Embedded, on SQLite and on PostgreSQL; ``wait=False`` only queues (the tests choose the workers)."""
    if request.param == "postgresql":
        assert PG_URL
        reset_postgres(PG_URL)
        monkeypatch.setenv("KIBAKO_DATABASE_URL", PG_URL)
    client = kibako.connect()
    monkeypatch.setattr(client.jobs, "ensure_worker", lambda: None)
    yield client
    client.close()


@pytest.fixture
def open_services() -> Iterator[Any]:
    """Opens more platforms on the same store, as separate worker processes would."""
    opened: list[Services] = []

    def open_one() -> Services:
        opened.append(Services.open(Config.from_env()))
        return opened[-1]

    yield open_one
    for services in opened:
        services.close()


def script(name: str) -> str:
    return str(SCRIPTS / name)


def two_cpu_worker(services: Services, **kwargs: Any) -> Worker:
    return Worker(services, LocalExecutor(capacity=Resources(2, BIG_MEMORY, 0)), poll_seconds=0.05, **kwargs)


def all_final(kb: kibako.Kibako, names: list[str]) -> bool:
    return all(kb.jobs.describe(n)["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") for n in names)


def intervals(record: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(record.glob("*.json"))]


def max_overlap(spans: list[dict[str, Any]]) -> int:
    points = sorted(
        [(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans], key=lambda p: (p[0], p[1])
    )
    running = most = 0
    for _, delta in points:
        running += delta
        most = max(most, running)
    return most


def submit_slots(
    kb: kibako.Kibako, record: Path, names: list[str], *, cpus: int = 1, seconds: float = 0.5
) -> None:
    for name in names:
        kb.jobs.train(
            script("slot.py"),
            hyperparameters={"record": str(record), "seconds": seconds},
            cpus=cpus,
            name=name,
            wait=False,
        )


# -- one holder per job ------------------------------------------------------------------------------------------


def test_two_workers_claiming_at_once_never_take_the_same_job(kb: kibako.Kibako, open_services: Any) -> None:
    names = [f"job-{i}" for i in range(8)]
    for name in names:
        kb.jobs.train(script("show_contract.py"), name=name, wait=False)
    taken: dict[str, list[str]] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def claim_all(worker_id: str) -> None:
        jobs = open_services().jobs
        start.wait()
        while (claim := jobs.claim(worker_id, lambda need: True, 60_000)) is not None:
            taken[worker_id].append(claim.spec.name)

    threads = [threading.Thread(target=claim_all, args=(w,)) for w in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(taken["w1"] + taken["w2"]) == names
    assert not set(taken["w1"]) & set(taken["w2"])
    assert all(kb.jobs.describe(n)["Attempts"] == 1 for n in names)


def test_two_workers_on_one_store_run_each_job_exactly_once(
    kb: kibako.Kibako, open_services: Any, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    names = [f"once-{i}" for i in range(5)]
    submit_slots(kb, record, names, seconds=0.2)
    workers = [two_cpu_worker(open_services()) for _ in range(2)]
    threads = [
        threading.Thread(target=w.run, kwargs={"until": lambda: all_final(kb, names)}) for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(not t.is_alive() for t in threads)
    assert sorted(s["job"] for s in intervals(record)) == names  # one run of each script, no more
    for name in names:
        d = kb.jobs.describe(name)
        assert (d["TrainingJobStatus"], d["Attempts"]) == ("Completed", 1)
    assert workers[0].errors == workers[1].errors == []


def test_a_worker_that_lost_its_lease_can_no_longer_write(kb: kibako.Kibako) -> None:
    kb.jobs.train(script("show_contract.py"), name="leased", wait=False)
    jobs = kb.jobs.service
    first = jobs.claim("w1", lambda need: True, 1)
    assert first is not None and first.attempt == 1
    time.sleep(0.02)  # w1 lets its 1 ms lease run out
    second = jobs.claim("w2", lambda need: True, 60_000)
    assert second is not None and second.job_id == first.job_id
    assert (second.attempt, second.restarted_from) == (2, "w1")
    assert jobs.renew(first.job_id, "w1", 60_000).held is False
    with pytest.raises(LeaseLostError):
        jobs.update(first.job_id, "w1", status="Completed", secondary="Completed")
    assert jobs.renew(second.job_id, "w2", 60_000).held is True
    d = kb.jobs.describe("leased")
    assert d["TrainingJobStatus"] == "InProgress" and d["Attempts"] == 2
    assert "w1 stopped renewing its lease" in d["SecondaryStatusTransitions"][-1]["StatusMessage"]


# -- slots ---------------------------------------------------------------------------------------------------


def test_a_worker_with_two_cpus_never_runs_more_than_two_one_cpu_jobs_at_once(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    names = [f"slot-{i}" for i in range(5)]
    submit_slots(kb, record, names)
    worker = two_cpu_worker(kb.jobs._services)
    worker.run(until_idle=True)
    spans = intervals(record)
    assert sorted(s["job"] for s in spans) == names
    assert max_overlap(spans) == 2  # both slots used, never a third job
    assert all(kb.jobs.describe(n)["TrainingJobStatus"] == "Completed" for n in names)


def test_a_job_asking_for_more_cpus_than_the_worker_has_runs_alone(kb: kibako.Kibako, tmp_path: Path) -> None:
    record = tmp_path / "record"
    record.mkdir()
    submit_slots(kb, record, ["small-1"], seconds=0.4)
    submit_slots(kb, record, ["big"], cpus=4, seconds=0.4)
    submit_slots(kb, record, ["small-2", "small-3"], seconds=0.4)
    two_cpu_worker(kb.jobs._services).run(until_idle=True)
    spans = {s["job"]: s for s in intervals(record)}
    assert sorted(spans) == ["big", "small-1", "small-2", "small-3"]
    big = spans.pop("big")
    for small in spans.values():
        assert small["end"] <= big["start"] or small["start"] >= big["end"], f"{small} overlaps {big}"
    assert kb.jobs.describe("big")["TrainingJobStatus"] == "Completed"


# -- a worker that dies --------------------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("resumed_by", ["worker", "wait"])
def test_a_job_outlives_a_killed_worker_and_resumes_from_its_checkpoint(
    kb: kibako.Kibako, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, resumed_by: str
) -> None:
    # A worker counts as alive for 4 s after its last heartbeat (every 5 s): the killed one still looks alive
    # when kb.jobs.wait starts, and stops looking alive while it waits.
    monkeypatch.setattr(kibako.sdk.jobs, "LIVE_WORKER_SECONDS", 4.0)
    record = tmp_path / "record"
    record.mkdir()
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "run_worker.py")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    try:
        _wait_until(lambda: kb.jobs.live_workers() != [], 30, "the worker process to register")
        job = kb.jobs.train(
            script("checkpointing.py"),
            hyperparameters={"epochs": 15, "seconds": 0.2, "record": str(record)},
            metric_definitions=LOSS,
            name="survivor",
            wait=False,
        )
        checkpoint = kb.config.home / "artifacts" / "jobs" / "survivor" / "checkpoints" / "state.json"

        def synced_epoch() -> int:
            try:
                return int(json.loads(checkpoint.read_text())["epoch"])
            except (FileNotFoundError, ValueError):
                return -1

        _wait_until(lambda: synced_epoch() >= 2, 30, "a checkpoint of epoch 2 to be synced")
        [first_start] = [json.loads(p.read_text()) for p in record.glob("start-*.json")]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    # The script died with its worker (PR_SET_PDEATHSIG), long before it would have ended by itself (2 s or
    # more of epochs were left), so nothing writes to the job any more.
    _wait_until(
        lambda: _gone(first_start["pid"]), 1, f"the first attempt's script (pid {first_start['pid']}) to die"
    )
    assert kb.jobs.describe("survivor")["TrainingJobStatus"] == "InProgress"

    if resumed_by == "worker":
        Worker(kb.jobs._services, lease_seconds=1, poll_seconds=0.05).run(
            until=lambda: all_final(kb, ["survivor"])
        )
        d = kb.jobs.describe("survivor")
    else:
        assert kb.jobs.live_workers() != []  # the dead worker, not yet known to be dead
        d = kb.jobs.wait("survivor", timeout=30, poll=0.1)  # runs a worker here once it is
    assert (d["TrainingJobStatus"], d["Attempts"]) == ("Completed", 2), d.get("FailureReason")
    messages = [t["StatusMessage"] for t in d["SecondaryStatusTransitions"]]
    assert any(m.startswith("Restarting: worker") and "stopped renewing its lease" in m for m in messages)
    starts = sorted((json.loads(p.read_text()) for p in record.glob("start-*.json")), key=lambda s: s["time"])
    assert len(starts) == 2 and starts[0]["resumed_from"] == 0 and starts[1]["resumed_from"] >= 3
    history = kb.tracking.get_metric_history(job.run_id, "loss")
    assert history.steps == list(range(len(history.steps)))  # no step repeated, none skipped
    assert history.values[-1] == pytest.approx(1 / 15, abs=1e-4)
    assert kb.get_run(job.run_id).status == "Completed"


def test_a_job_waiting_to_restart_after_an_interruption_stops_at_once(kb: kibako.Kibako) -> None:
    kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 50, "seconds": 0.05},
        spot=True,
        interrupt_at=[0.3],
        name="interrupted",
        wait=False,
    )
    services = kb.jobs._services
    claim = services.jobs.claim("w1", lambda need: True, 60_000)
    assert claim is not None
    runner = AttemptRunner(
        services.jobs, claim, LocalExecutor(), worker_id="w1", lease_ms=60_000, config=services.config
    )
    assert runner.run() == "queued"  # given back, to restart from its checkpoint
    assert kb.jobs.describe("interrupted")["SecondaryStatus"] == "Interrupted"
    kb.jobs.stop("interrupted")
    d = kb.jobs.describe("interrupted")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert d["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Stopped while waiting to restart"
    assert kb.get_run(d["RunId"]).status == "Stopped"
    assert services.jobs.claim("w2", lambda need: True, 60_000) is None
