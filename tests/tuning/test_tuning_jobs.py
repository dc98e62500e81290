"""Hyperparameter tuning jobs end to end, embedded: AWS-shaped requests and descriptions, the best training job,
the trials table, refused requests, early stopping, stopping, a worker killed mid-tuning, the CLI and the
remote client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import kibako
from kibako.errors import ValidationError
from kibako.jobs import runner as job_runner
from kibako.jobs.executors import LocalExecutor
from kibako.jobs.resources import Resources
from kibako.jobs.worker import Worker
from kibako.store import schema
from kibako.tuning.space import SearchSpace
from kibako.tuning.strategies import Tuner

STATUS = "HyperParameterTuningJobStatus"
FINAL = ("Completed", "Failed", "Stopped")
CAPACITY = Resources(8, 16 * 1024, 0)  # more slots than any test asks for, whatever the machine has
SCORE = {"Name": "score", "Regex": r"score=(-?[0-9.]+)"}
SCRIPT = """\
import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--delay", type=float, default=0.0)
args, _ = parser.parse_known_args()
for epoch in range(args.epochs):
    print(f"score={-(args.x - 3) ** 2 + 0.001 * epoch}", flush=True)
    time.sleep(args.delay)
"""
WORKER = """\
from kibako.core.config import Config
from kibako.jobs.executors import LocalExecutor
from kibako.jobs.resources import Resources
from kibako.jobs.worker import Worker
from kibako.sdk.services import Services

Worker(Services.open(Config.from_env()), LocalExecutor(Resources(8, 16384, 0)), lease_seconds=1,
       poll_seconds=0.05).run()
"""


@pytest.fixture
def kb(monkeypatch: pytest.MonkeyPatch) -> Iterator[kibako.Kibako]:
    """Embedded, under the test's own KIBAKO_HOME; ``wait=False`` starts no background worker."""
    client = kibako.connect()
    monkeypatch.setattr(client.jobs, "ensure_worker", lambda: None)
    yield client
    client.close()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "code" / "train.py"
    path.parent.mkdir()
    path.write_text(SCRIPT)
    return path


def request(
    script: Path,
    name: str,
    *,
    strategy: str = "Random",
    objective: str = "Maximize",
    ranges: dict[str, Any] | None = None,
    max_jobs: int | None = 4,
    max_parallel: int = 2,
    early_stopping: str = "Off",
    static: dict[str, str] | None = None,
    seed: int | None = 7,
) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request as boto3 would send it, for ``script``."""
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": max_parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "score"},
        "ResourceLimits": limits,
        "ParameterRanges": ranges
        or {
            "IntegerParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}
            ]
        },
        "TrainingJobEarlyStoppingType": early_stopping,
    }
    if seed is not None:
        config["RandomSeed"] = seed
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": {
                "sagemaker_program": json.dumps(script.name),
                "sagemaker_submit_directory": json.dumps(str(script.parent)),
                **(static or {}),
            },
            "AlgorithmSpecification": {"TrainingInputMode": "File", "MetricDefinitions": [SCORE]},
            "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 1, "Cpus": 1, "MemoryInGiB": 0.5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
        "Tags": [{"Key": "team", "Value": "search"}],
    }


def worker(kb: kibako.Kibako) -> Worker:
    return Worker(kb.jobs._services, LocalExecutor(CAPACITY), lease_seconds=1, poll_seconds=0.05)


def run_to_the_end(kb: kibako.Kibako, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    w = worker(kb)
    w.run(until=lambda: kb.tuning.describe(name)[STATUS] in FINAL or time.monotonic() > deadline)
    assert w.errors == []
    desc = kb.tuning.describe(name)
    assert desc[STATUS] in FINAL, f"the tuning job is still {desc[STATUS]} after {timeout} s"
    return desc


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def training_jobs(kb: kibako.Kibako, tuning_name: str) -> list[dict[str, Any]]:
    return [
        kb.jobs.describe(j["TrainingJobName"])
        for j in kb.jobs.list(kind="TrainingJob", max_results=1000)
        if j["TrainingJobName"].startswith(f"{tuning_name}-")
    ]


def score(trial: dict[str, Any]) -> float:
    return float(trial["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def counts(kb: kibako.Kibako) -> dict[str, int]:
    with kb.jobs._services.store.read() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (schema.executions, schema.jobs, schema.events, schema.contexts)
        }


# -- a tuning job's trials ----------------------------------------------------------------------------------


def test_a_random_search_runs_max_jobs_trials_never_more_than_max_parallel_at_once(
    kb: kibako.Kibako, script: Path
) -> None:
    job = kb.tuning.create_hyper_parameter_tuning_job(
        request(script, "rand", max_jobs=5, max_parallel=2, static={"epochs": "3", "delay": "0.1"})
    )
    assert job.describe()[STATUS] == "InProgress"
    desc = run_to_the_end(kb, "rand")

    assert desc[STATUS] == "Completed"
    assert desc["TrainingJobStatusCounters"] == {
        "Completed": 5,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 5, "Pending": 0, "Failed": 0}
    jobs = training_jobs(kb, "rand")
    assert len(jobs) == 5
    # Each trial is a training job with the static and its tuned hyperparameters, tagged with the tuning job.
    for job in jobs:
        assert job["HyperParameters"]["epochs"] == "3"
        assert {"Key": "kibako.tuning-job", "Value": desc["HyperParameterTuningJobArn"]} in job["Tags"]
        assert {"Key": "team", "Value": "search"} in job["Tags"]
    # A trial starts only while fewer than MaxParallelTrainingJobs run: from its creation to its end.
    spans = [(ms(j["CreationTime"]), ms(j["TrainingEndTime"])) for j in jobs]
    at_once = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
    assert at_once == 2
    changes = [
        e.detail[STATUS]
        for e in kb.events.list_events(
            detail_type="SageMaker HyperParameter Tuning Job State Change", limit=100
        )
    ]
    assert changes == ["InProgress", "Completed"]


@pytest.mark.parametrize(
    ("objective", "best_x", "best_score"), [("Maximize", "3", 0.0), ("Minimize", "0", -9.0)]
)
def test_a_grid_search_tries_every_value_once_and_the_best_job_follows_the_objective_type(
    kb: kibako.Kibako, script: Path, objective: str, best_x: str, best_score: float
) -> None:
    ranges = {"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "4"}]}
    kb.tuning.create_hyper_parameter_tuning_job(
        request(
            script, "grid", strategy="Grid", objective=objective, ranges=ranges, max_jobs=None, max_parallel=3
        )
    )
    desc = run_to_the_end(kb, "grid")

    assert desc["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 5
    trials = kb.tuning.trials("grid")
    assert sorted(t["TunedHyperParameters"]["x"] for t in trials) == ["0", "1", "2", "3", "4"]
    best = desc["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"x": best_x}
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": objective,
        "MetricName": "score",
        "Value": best_score,
    }
    assert best["TrainingJobStatus"] == "Completed"
    assert kb.jobs.describe(best["TrainingJobName"])["HyperParameters"]["x"] == best_x


def test_the_trials_table_lists_every_training_job_best_objective_first(
    kb: kibako.Kibako, script: Path
) -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["1", "3", "6"]}]}
    kb.tuning.create_hyper_parameter_tuning_job(
        request(script, "table", strategy="Grid", objective="Minimize", ranges=ranges, max_jobs=None)
    )
    run_to_the_end(kb, "table")

    trials = kb.tuning.trials("table")
    assert [t["TunedHyperParameters"]["x"] for t in trials] == ["6", "1", "3"]  # -9, -4, 0: lowest first
    assert [score(t) for t in trials] == [-9.0, -4.0, 0.0]
    for trial in trials:
        assert trial["TrainingJobStatus"] == "Completed"
        assert trial["ObjectiveStatus"] == "Succeeded"
        assert trial["TuningJobName"] == "table"
        assert trial["TrainingJobName"].startswith("table-")
        assert kb.jobs.describe(trial["TrainingJobName"])["TrainingJobArn"] == trial["TrainingJobArn"]
    by_name = kb.tuning.trials("table", sort_by="Name")
    assert [t["TrainingJobName"] for t in by_name] == sorted(t["TrainingJobName"] for t in trials)


def mutate(case: str, req: dict[str, Any]) -> None:
    config = req["HyperParameterTuningJobConfig"]
    if case == "objective metric not among the metric definitions":
        config["HyperParameterTuningJobObjective"]["MetricName"] = "accuracy"
    elif case == "min above max":
        config["ParameterRanges"]["IntegerParameterRanges"][0].update(MinValue="9", MaxValue="1")
    elif case == "continuous range with Grid":
        config["Strategy"] = "Grid"
        config["ParameterRanges"] = {
            "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]
        }
    elif case == "no parallel jobs":
        config["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    elif case == "no training jobs":
        config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 0
    elif case == "name of 33 characters":
        req["HyperParameterTuningJobName"] = "n" * 33
    elif case == "unknown strategy":
        config["Strategy"] = "Exhaustive"
    elif case == "Hyperband with early stopping":
        config.update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto")
    elif case == "a hyperparameter both static and tuned":
        req["TrainingJobDefinition"]["StaticHyperParameters"]["x"] = "1"
    elif case == "a script that does not exist":
        req["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"] = '"missing.py"'
    else:
        raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "objective metric not among the metric definitions",
        "min above max",
        "continuous range with Grid",
        "no parallel jobs",
        "no training jobs",
        "name of 33 characters",
        "unknown strategy",
        "Hyperband with early stopping",
        "a hyperparameter both static and tuned",
        "a script that does not exist",
    ],
)
def test_a_bad_request_is_refused_and_creates_nothing(kb: kibako.Kibako, script: Path, case: str) -> None:
    req = request(script, "bad")
    mutate(case, req)
    before = counts(kb)
    with pytest.raises(ValidationError):
        kb.tuning.create_hyper_parameter_tuning_job(req)
    assert counts(kb) == before
    assert kb.tuning.list() == []
    assert not (Path(kb.config.artifact_uri) / "jobs").exists()  # not even a packed copy of the script


# -- early stopping and stopping ------------------------------------------------------------------------------


def test_early_stopping_auto_stops_a_clearly_bad_trial(
    kb: kibako.Kibako, script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_runner, "METRIC_FLUSH_SECONDS", 0.1)  # the tuner sees each epoch's score sooner
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["2", "3", "4", "40"]}]}
    space = SearchSpace.from_ranges(ranges)

    def order(seed: int) -> list[str]:
        tuner = Tuner.create(space, "Grid", "Maximize", max_trials=4, seed=seed)
        return [tuner.ask().hyperparameters["x"] for _ in range(4)]  # type: ignore[union-attr]

    # A seed that asks for the bad value last: the three good trials are the median rule's first statistics.
    seed = next(s for s in range(200) if order(s)[-1] == "40")
    kb.tuning.create_hyper_parameter_tuning_job(
        request(
            script,
            "early",
            strategy="Grid",
            ranges=ranges,
            max_jobs=None,
            max_parallel=3,
            early_stopping="Auto",
            static={"epochs": "30", "delay": "0.1"},
            seed=seed,
        )
    )
    desc = run_to_the_end(kb, "early")

    assert desc[STATUS] == "Completed"
    trials = {t["TunedHyperParameters"]["x"]: t for t in kb.tuning.trials("early")}
    bad = trials["40"]
    assert bad["TrainingJobStatus"] == "Stopped"
    assert bad["EarlyStopped"] is True
    job = kb.jobs.describe(bad["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Stopped"
    assert (
        kb.tracking.get_metric_history(job["RunId"], "score").total_points < 30
    )  # it did not run to its end
    assert [trials[x]["TrainingJobStatus"] for x in ("2", "3", "4")] == ["Completed"] * 3
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 1
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3"}


def test_stopping_the_tuning_job_stops_its_running_trials(kb: kibako.Kibako, script: Path) -> None:
    kb.tuning.create_hyper_parameter_tuning_job(
        request(script, "halt", max_jobs=6, max_parallel=2, static={"epochs": "600", "delay": "0.1"})
    )
    w = worker(kb)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: len([j for j in training_jobs(kb, "halt") if j.get("SecondaryStatus") == "Training"]) == 2
        )
        before = kb.tuning.describe("halt")
        assert before[STATUS] == "InProgress", before.get("FailureReason")
        kb.tuning.stop("halt")
        assert kb.tuning.describe("halt")[STATUS] == "Stopping"
        wait_until(lambda: kb.tuning.describe("halt")[STATUS] in FINAL)
    finally:
        w.stop()
        thread.join(30)
    assert w.errors == []

    desc = kb.tuning.describe("halt")
    assert desc[STATUS] == "Stopped"
    jobs = training_jobs(kb, "halt")
    assert len(jobs) == 2  # no trial started after the stop
    assert [j["TrainingJobStatus"] for j in jobs] == ["Stopped", "Stopped"]
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    assert desc["TrainingJobStatusCounters"]["InProgress"] == 0


# -- a worker that dies ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_new_worker_finishes_a_tuning_job_whose_worker_was_killed_without_rerunning_trials(
    kb: kibako.Kibako, script: Path, tmp_path: Path
) -> None:
    kb.tuning.create_hyper_parameter_tuning_job(
        request(script, "phoenix", max_jobs=6, max_parallel=2, static={"epochs": "12", "delay": "0.1"})
    )
    (tmp_path / "worker.py").write_text(WORKER)
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "worker.py")], env=dict(os.environ), start_new_session=True
    )

    def some_done_and_one_training() -> bool:
        jobs = training_jobs(kb, "phoenix")
        done = [j for j in jobs if j["TrainingJobStatus"] == "Completed"]
        return len(done) >= 2 and any(j.get("SecondaryStatus") == "Training" for j in jobs)

    try:
        wait_until(some_done_and_one_training, 60)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the worker, its tuning runner and its training scripts
        process.wait(10)
    before = training_jobs(kb, "phoenix")
    completed_before = {j["TrainingJobName"] for j in before if j["TrainingJobStatus"] == "Completed"}
    cut_short = {j["TrainingJobName"] for j in before if j.get("SecondaryStatus") == "Training"}
    assert 2 <= len(completed_before) < 6
    assert cut_short

    desc = run_to_the_end(kb, "phoenix")

    assert desc[STATUS] == "Completed"
    jobs = training_jobs(kb, "phoenix")
    assert len(jobs) == 6  # MaxNumberOfTrainingJobs exactly: nothing lost, nothing twice
    assert {j["TrainingJobStatus"] for j in jobs} == {"Completed"}
    assert all(j["Attempts"] == 1 for j in jobs if j["TrainingJobName"] in completed_before)
    assert all(j["Attempts"] == 2 for j in jobs if j["TrainingJobName"] in cut_short)  # re-adopted, restarted
    assert desc["TrainingJobStatusCounters"]["Completed"] == 6
    assert sorted(t["TrainingJobName"] for t in kb.tuning.trials("phoenix")) == sorted(
        j["TrainingJobName"] for j in jobs
    )


def test_a_trial_recorded_by_a_runner_that_died_before_creating_it_is_created_by_the_next(
    kb: kibako.Kibako, script: Path
) -> None:
    kb.tuning.create_hyper_parameter_tuning_job(request(script, "orphan", max_jobs=3, max_parallel=2))
    jobs = kb.jobs.service
    claim = jobs.claim("dead-worker", lambda _: True, lease_ms=1)  # the tuning job: the only work queued
    assert claim is not None and claim.kind == "HyperParameterTuningJob" and claim.spec is None
    recorded = {
        "Number": 1,
        "TrainingJobName": "orphan-001-deadbeef",
        "TrainingJobArn": claim.arn.replace(
            "hyper-parameter-tuning-job/orphan", "training-job/orphan-001-deadbeef"
        ),
        "TunedHyperParameters": {"x": "5"},
        "TrainingJobStatus": "InProgress",
        "CreationTime": 0,
    }
    jobs.update(claim.job_id, "dead-worker", fields={"Trials": [recorded]})  # ...and then the worker died
    time.sleep(0.01)  # its lease of 1 ms is over

    desc = run_to_the_end(kb, "orphan")

    assert desc[STATUS] == "Completed"
    orphan = kb.jobs.describe("orphan-001-deadbeef")
    assert orphan["TrainingJobStatus"] == "Completed"
    assert orphan["HyperParameters"]["x"] == "5"
    assert len(training_jobs(kb, "orphan")) == 3
    assert desc["TrainingJobStatusCounters"]["Completed"] == 3


# -- faces: the CLI and the remote client -------------------------------------------------------------------------


def test_cli_tuning_start_wait_json_prints_the_description(script: Path) -> None:
    from kibako.cli._app import app

    result = CliRunner().invoke(
        app,
        [
            "tuning",
            "start",
            "--entry-point",
            script.name,
            "--source-dir",
            str(script.parent),
            "--objective",
            "score",
            "--minimize",
            "--metric",
            "score=score=(-?[0-9.]+)",
            "--range",
            "x=int:3:5",
            "--strategy",
            "Grid",
            "--max-parallel",
            "2",
            "--hp",
            "epochs=2",
            "--name",
            "cli",
            "--wait",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    desc = json.loads(result.stdout)
    assert desc["HyperParameterTuningJobName"] == "cli"
    assert desc[STATUS] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 3
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "5"}  # -(5-3)^2, the lowest score
    listed = CliRunner().invoke(app, ["tuning", "list", "--json"])
    assert [
        j["HyperParameterTuningJobName"]
        for j in json.loads(listed.stdout)["HyperParameterTuningJobSummaries"]
    ] == ["cli"]


def test_the_remote_client_creates_describes_and_lists_tuning_jobs(live_server: Any, script: Path) -> None:
    remote = kibako.connect(live_server.url, token=live_server.token("editor"))
    try:
        remote.tuning.create_hyper_parameter_tuning_job(
            request(
                script,
                "far",
                strategy="Grid",
                max_jobs=None,
                max_parallel=2,
                ranges={"CategoricalParameterRanges": [{"Name": "x", "Values": ["1", "3"]}]},
            )
        )
        w = Worker(live_server.services, LocalExecutor(CAPACITY), lease_seconds=1, poll_seconds=0.05)
        w.run(until=lambda: remote.tuning.describe("far")[STATUS] in FINAL)
        desc = remote.tuning.describe("far")
        assert desc[STATUS] == "Completed"
        assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3"}
        assert [score(t) for t in remote.tuning.trials("far")] == [0.0, -4.0]
        assert [j["HyperParameterTuningJobName"] for j in remote.tuning.list()] == ["far"]
    finally:
        remote.close()


def test_a_hyperband_search_runs_its_trials_and_stops_only_trials_it_pruned(
    kb: kibako.Kibako, script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_runner, "METRIC_FLUSH_SECONDS", 0.1)  # rungs see each epoch's score sooner
    req = request(
        script,
        "bands",
        strategy="Hyperband",
        ranges={"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "40"}]},
        max_jobs=6,
        max_parallel=2,
        static={"epochs": "12", "delay": "0.05"},
    )
    req["HyperParameterTuningJobConfig"]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 12}
    }
    kb.tuning.create_hyper_parameter_tuning_job(req)
    desc = run_to_the_end(kb, "bands")

    assert desc[STATUS] == "Completed"
    assert desc["HyperParameterTuningJobConfig"]["Strategy"] == "Hyperband"
    trials = kb.tuning.trials("bands")
    assert len(trials) == 6
    for trial in trials:
        job = kb.jobs.describe(trial["TrainingJobName"])
        points = kb.tracking.get_metric_history(job["RunId"], "score").total_points
        if trial.get("EarlyStopped"):
            assert trial["TrainingJobStatus"] == "Stopped" and points < 12
        else:
            assert trial["TrainingJobStatus"] == "Completed" and points == 12
    completed = [t for t in trials if t["TrainingJobStatus"] == "Completed"]
    best = max(completed, key=lambda t: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert desc["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_reaching_the_target_objective_value_ends_the_search_early(kb: kibako.Kibako, script: Path) -> None:
    space = SearchSpace.from_ranges(
        {"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}]}
    )

    def first_hit(seed: int) -> int:
        tuner = Tuner.create(space, "Random", "Maximize", max_trials=10, seed=seed)
        asked = [tuner.ask().hyperparameters["x"] for _ in range(10)]  # type: ignore[union-attr]
        return asked.index("3") + 1 if "3" in asked else 99

    seed = next(s for s in range(500) if 2 <= first_hit(s) <= 4)  # x = 3 (score 0) comes 2nd to 4th
    req = request(script, "target", max_jobs=10, max_parallel=1, seed=seed)
    req["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = {"TargetObjectiveMetricValue": -0.5}
    kb.tuning.create_hyper_parameter_tuning_job(req)
    desc = run_to_the_end(kb, "target")

    assert desc[STATUS] == "Completed"
    assert desc["CompletionReason"] == "TargetObjectiveMetricValue was reached"
    assert len(kb.tuning.trials("target")) == first_hit(seed), "no trial started after the target was reached"
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3"}
