"""Training jobs end to end, embedded: requests and descriptions shaped like AWS, the script-mode contract,
failures, outputs, metrics, spot interruptions, stopping, and what a job leaves in the graph and the outbox."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import kibako
from kibako.artifacts.digest import path_digest
from kibako.artifacts.packing import unpack
from kibako.errors import ConflictError, ValidationError
from kibako.jobs import sandbox
from kibako.jobs.worker import Worker
from kibako.store import schema

SCRIPTS = Path(__file__).parent / "scripts"
STATE_CHANGE = "SageMaker Training Job State Change"
LOSS = {"loss": r"loss=([0-9.]+)"}


@pytest.fixture
def kb() -> Iterator[kibako.Kibako]:
    client = kibako.connect()  # embedded, under the test's own KIBAKO_HOME
    yield client
    client.close()


@pytest.fixture
def no_background_worker(kb: kibako.Kibako, monkeypatch: pytest.MonkeyPatch) -> None:
    """``wait=False`` queues the job and starts nothing: the test decides which worker runs it."""
    monkeypatch.setattr(kb.jobs, "ensure_worker", lambda: None)


def script(name: str) -> str:
    return str(SCRIPTS / name)


def csv_folder(folder: Path, rows: int = 40) -> Path:
    """A folder with one CSV of two features and a label that depends on them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["x1,x2,label"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(rows)]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    return folder


def model_files(kb: kibako.Kibako, job: Any, target: Path) -> Path:
    uri = job.description["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri.endswith("/model.tar.gz")
    return unpack(Path(uri), target)


def counts(kb: kibako.Kibako) -> dict[str, int]:
    """Rows of everything a job submission could create."""
    store = kb.jobs._services.store
    with store.read() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (schema.executions, schema.jobs, schema.events, schema.artifacts)
        }


def state_changes(kb: kibako.Kibako, arn: str) -> list[dict[str, Any]]:
    events = kb.events.list_events(detail_type=STATE_CHANGE, limit=1000)
    return [e.detail for e in events if arn in e.resources]


def run_in_thread(kb: kibako.Kibako, *, lease_seconds: float = 1.0) -> tuple[Worker, threading.Thread]:
    worker = Worker(kb.jobs._services, lease_seconds=lease_seconds, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, thread


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


# -- requests and descriptions ----------------------------------------------------------------------------


def test_a_completed_job_is_described_like_describe_training_job(kb: kibako.Kibako, tmp_path: Path) -> None:
    job = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 3, "seconds": 0.05},
        metric_definitions=LOSS,
        inputs={"train": str(csv_folder(tmp_path / "data"))},
        name="described",
    )
    d = job.description
    assert d["TrainingJobName"] == "described"
    assert d["TrainingJobArn"].endswith(":training-job/described")
    assert d["TrainingJobStatus"] == "Completed" and d["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    for transition in d["SecondaryStatusTransitions"]:
        assert transition["StatusMessage"] and transition["StartTime"] <= transition["EndTime"]
    times = [datetime.fromisoformat(d[k]) for k in ("CreationTime", "TrainingStartTime", "TrainingEndTime")]
    assert times == sorted(times) and datetime.fromisoformat(d["LastModifiedTime"]) >= times[-1]
    assert "FailureReason" not in d
    assert Path(d["ModelArtifacts"]["S3ModelArtifacts"]).is_file()
    assert [(m["MetricName"], m["Value"]) for m in d["FinalMetricDataList"]] == [
        ("loss", pytest.approx(1 / 3, abs=1e-3))
    ]
    assert d["TrainingTimeInSeconds"] >= 1 and d["BillableTimeInSeconds"] == d["TrainingTimeInSeconds"]
    assert d["HyperParameters"]["epochs"] == "3" and d["InputDataConfig"][0]["ChannelName"] == "train"
    assert d["Attempts"] == 1
    assert kb.jobs.describe("described") == kb.jobs.service.describe_training_job(d["TrainingJobArn"])


def test_list_jobs_filters_by_status(kb: kibako.Kibako, no_background_worker: None, tmp_path: Path) -> None:
    kb.jobs.train(script("checkpointing.py"), hyperparameters={"epochs": 1, "seconds": 0}, name="good")
    kb.jobs.train(script("fail.py"), name="bad")
    kb.jobs.train(script("checkpointing.py"), name="waiting", wait=False)
    assert [j["TrainingJobName"] for j in kb.jobs.list()] == ["waiting", "bad", "good"]
    assert [j["TrainingJobName"] for j in kb.jobs.list(status="Failed")] == ["bad"]
    assert [j["TrainingJobName"] for j in kb.jobs.list(status="Completed")] == ["good"]
    waiting = kb.jobs.list(status="InProgress")
    assert [(j["TrainingJobName"], j["SecondaryStatus"]) for j in waiting] == [("waiting", "Starting")]
    assert kb.jobs.list(kind="ProcessingJob") == []
    with pytest.raises(ValidationError):
        kb.jobs.list(status="Done")


def test_a_name_in_use_is_refused_and_nothing_changes(
    kb: kibako.Kibako, no_background_worker: None, tmp_path: Path
) -> None:
    kb.jobs.train(script("show_contract.py"), name="taken", wait=False)
    before, described = counts(kb), kb.jobs.describe("taken")
    with pytest.raises(ConflictError, match="taken"):
        kb.jobs.train(script("fail.py"), name="taken", wait=False)
    assert counts(kb) == before
    assert kb.jobs.describe("taken") == described
    job = kb.jobs.get("taken").wait()  # the first request's script runs, not the refused one's
    assert job.status == "Completed"
    assert (model_files(kb, job, tmp_path / "model") / "contract.json").is_file()


def _raw(name: str = "raw-job", **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": json.dumps(script("show_contract.py"))},
        "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    request.update(changes)
    return request


BAD_REQUESTS = {
    "name with odd characters": lambda kb: kb.jobs.create_training_job(_raw("no_underscores!")),
    "name too long": lambda kb: kb.jobs.create_training_job(_raw("a" * 64)),
    "hyperparameter not a string": lambda kb: kb.jobs.create_training_job(
        _raw(HyperParameters={"sagemaker_program": json.dumps(script("show_contract.py")), "epochs": 5})
    ),
    "hyperparameter not JSON": lambda kb: kb.jobs.train(
        script("show_contract.py"), hyperparameters={"when": object()}, name="raw-job"
    ),
    "hyperparameter NaN": lambda kb: kb.jobs.train(
        script("show_contract.py"), hyperparameters={"lr": float("nan")}, name="raw-job"
    ),
    "unknown instance type": lambda kb: kb.jobs.train(
        script("show_contract.py"), instance_type="ml.nope.large", name="raw-job"
    ),
    "MaxWait without spot": lambda kb: kb.jobs.train(
        script("show_contract.py"), max_run=60, max_wait=120, name="raw-job"
    ),
    "MaxWait below MaxRuntime": lambda kb: kb.jobs.train(
        script("show_contract.py"), spot=True, max_run=60, max_wait=30, name="raw-job"
    ),
    "metric regex that does not compile": lambda kb: kb.jobs.train(
        script("show_contract.py"), metric_definitions={"loss": "loss=(["}, name="raw-job"
    ),
    "metric regex with no group": lambda kb: kb.jobs.train(
        script("show_contract.py"), metric_definitions={"loss": "loss=[0-9.]+"}, name="raw-job"
    ),
    "no script named": lambda kb: kb.jobs.create_training_job(_raw(HyperParameters={})),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_is_refused_and_creates_nothing(kb: kibako.Kibako, case: str) -> None:
    before = counts(kb)
    with pytest.raises(ValidationError):
        BAD_REQUESTS[case](kb)
    assert counts(kb) == before == {"executions": 0, "jobs": 0, "events": 0, "artifacts": 0}
    assert kb.jobs.list() == [] and kb.list_experiments() == []
    assert not (kb.config.home / "artifacts" / "jobs").exists()


# -- the script-mode contract ------------------------------------------------------------------------------


def test_an_unmodified_sagemaker_sklearn_script_produces_a_loadable_model(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    import joblib

    job = kb.jobs.train(
        "sklearn_train.py",
        source_dir=str(SCRIPTS),
        inputs={"train": str(csv_folder(tmp_path / "data"))},
        hyperparameters={"n-estimators": 4, "min-samples-leaf": 2},
        instance_type="ml.m5.large",
        metric_definitions={"train:accuracy": r"train_accuracy=([0-9.]+)"},
    )
    assert job.status == "Completed", job.description.get("FailureReason")
    model = joblib.load(model_files(kb, job, tmp_path / "model") / "model.joblib")
    assert model.n_estimators == 4 and model.min_samples_leaf == 2
    assert model.predict([[6, 0]]).tolist() == [1.0] and model.predict([[0, 0]]).tolist() == [0.0]
    assert job.metrics()["train:accuracy"] > 0.9


@pytest.mark.skipif(
    sandbox.method() is None,
    reason="this machine cannot give a job a private /opt/ml (needs root for `unshare -m`, or bubblewrap)",
)
def test_a_script_that_hard_codes_opt_ml_paths_runs(kb: kibako.Kibako, tmp_path: Path) -> None:
    job = kb.jobs.train(
        script("hardcoded_paths.py"),
        inputs={"train": str(csv_folder(tmp_path / "data", rows=9))},
        hyperparameters={"greeting": "hello"},
    )
    assert job.status == "Completed", job.description.get("FailureReason")
    assert "Warnings" not in job.description
    summary = json.loads((model_files(kb, job, tmp_path / "model") / "summary.json").read_text())
    assert summary == {"rows": 10, "greeting": "hello"}
    unpack(Path(job.description["OutputDataArtifacts"]["S3OutputUri"]), tmp_path / "output")
    assert (tmp_path / "output" / "report.txt").is_file()


def test_hyperparameters_arrive_as_arguments_and_sm_hp_variables(kb: kibako.Kibako, tmp_path: Path) -> None:
    job = kb.jobs.train(
        script("show_contract.py"),
        hyperparameters={"epochs": 3, "optimizer": "adam", "lr": 0.01, "layers": [2, 4]},
        inputs={"train": str(csv_folder(tmp_path / "data"))},
        name="contract",
    )
    seen = json.loads((model_files(kb, job, tmp_path / "model") / "contract.json").read_text())
    assert seen["argv"] == ["--epochs", "3", "--layers", "[2, 4]", "--lr", "0.01", "--optimizer", "adam"]
    env = seen["env"]
    assert (env["SM_HP_EPOCHS"], env["SM_HP_OPTIMIZER"], env["SM_HP_LR"], env["SM_HP_LAYERS"]) == (
        "3", "adam", "0.01", "[2, 4]",
    )  # fmt: skip
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "optimizer": "adam", "lr": 0.01, "layers": [2, 4]}
    assert json.loads(env["SM_CHANNELS"]) == ["train"] and env["SM_CHANNEL_TRAIN"].endswith(
        "/input/data/train"
    )
    assert env["TRAINING_JOB_NAME"] == "contract" and env["KIBAKO_RUN_ID"] == job.run_id


def test_requirements_txt_runs_the_script_in_an_environment_of_its_own(
    kb: kibako.Kibako, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # numpy is installed already: nothing may be downloaded
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(SCRIPTS / "show_contract.py", source / "train.py")
    (source / "requirements.txt").write_text("numpy\n")
    job = kb.jobs.train("train.py", source_dir=str(source))
    assert job.status == "Completed", job.description.get("FailureReason")
    seen = json.loads((model_files(kb, job, tmp_path / "model") / "contract.json").read_text())
    envs = kb.config.home / "envs"
    assert Path(seen["prefix"]).parent == envs and (Path(seen["prefix"]) / ".complete").is_file()
    assert seen["numpy"] is not None


def test_requirements_that_cannot_be_installed_fail_the_job_with_pips_reason(
    kb: kibako.Kibako, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(SCRIPTS / "show_contract.py", source / "train.py")
    (source / "requirements.txt").write_text("kibako-no-such-package-anywhere==1.0\n")
    job = kb.jobs.train("train.py", source_dir=str(source))
    d = job.description
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Failed", "Failed")
    assert (
        "requirements.txt" in d["FailureReason"] and "kibako-no-such-package-anywhere" in d["FailureReason"]
    )
    assert kb.get_run(job.run_id).status == "Failed"


# -- failures ----------------------------------------------------------------------------------------------


def test_the_failure_file_becomes_the_failure_reason(kb: kibako.Kibako) -> None:
    text = "CUDA out of memory. " + "x" * 2000
    job = kb.jobs.train(script("fail.py"), hyperparameters={"code": 2, "failure-text": text})
    d = job.description
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Failed", "Failed")
    assert d["FailureReason"] == text[:1024]
    assert "ModelArtifacts" not in d
    assert kb.get_run(job.run_id).status == "Failed"


def test_without_a_failure_file_the_reason_has_the_exit_code_and_the_end_of_the_log(
    kb: kibako.Kibako,
) -> None:
    job = kb.jobs.train(script("fail.py"), hyperparameters={"code": 3})
    reason = job.description["FailureReason"]
    assert job.status == "Failed"
    assert "exited with code 3" in reason and "the last words of a failing script" in reason
    assert len(reason) <= 1024


def test_the_failure_reason_quotes_only_the_failing_attempts_log(kb: kibako.Kibako, tmp_path: Path) -> None:
    # The first attempt writes a marker to its checkpoints and is interrupted; the second fails at once.
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text(
        "import os, sys, time\n"
        "marker = os.path.join(os.path.dirname(os.environ['SM_MODEL_DIR']), 'checkpoints', 'ran')\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    print('FIRST ATTEMPT WAS HERE', flush=True)\n"
        "    time.sleep(30)\n"
        "print('second attempt fails', flush=True)\n"
        "sys.exit(4)\n"
    )
    job = kb.jobs.train("train.py", source_dir=str(source), spot=True, interrupt_at=[0.5])
    d = job.description
    assert d["TrainingJobStatus"] == "Failed" and d["Attempts"] == 2
    assert "second attempt fails" in d["FailureReason"]
    assert "FIRST ATTEMPT WAS HERE" not in d["FailureReason"]
    assert "FIRST ATTEMPT WAS HERE" in job.logs()  # still in the job's log


# -- bad input fails fast --------------------------------------------------------------------------------------


def test_a_missing_script_is_refused_at_submission_and_the_name_stays_free(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    missing = tmp_path / "train.py"
    with pytest.raises(ValidationError, match="does not exist"):
        kb.jobs.train(str(missing), name="fixed-later")
    source = tmp_path / "src"
    source.mkdir()
    with pytest.raises(ValidationError, match="train.py"):
        kb.jobs.train("train.py", source_dir=str(source), name="fixed-later")
    with pytest.raises(ValidationError, match="not a folder"):
        kb.jobs.train("train.py", source_dir=str(tmp_path / "no-such-folder"), name="fixed-later")
    assert counts(kb) == {"executions": 0, "jobs": 0, "events": 0, "artifacts": 0}
    shutil.copy(SCRIPTS / "show_contract.py", missing)
    assert kb.jobs.train(str(missing), name="fixed-later").status == "Completed"


def test_a_channel_that_does_not_exist_is_refused_at_submission(kb: kibako.Kibako, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(ValidationError, match="does not exist"):
        kb.jobs.train(script("show_contract.py"), inputs={"train": str(data)}, name="needs-data")
    assert counts(kb) == {"executions": 0, "jobs": 0, "events": 0, "artifacts": 0}
    csv_folder(data)
    job = kb.jobs.train(script("show_contract.py"), inputs={"train": str(data)}, name="needs-data")
    assert job.status == "Completed"


# -- outputs and checkpoints ------------------------------------------------------------------------------


def test_output_data_is_kept_next_to_the_model(kb: kibako.Kibako, tmp_path: Path) -> None:
    out = tmp_path / "bucket"
    job = kb.jobs.train(script("show_contract.py"), output_path=str(out), name="with-output")
    d = job.description
    assert d["ModelArtifacts"]["S3ModelArtifacts"] == str(out / "with-output" / "output" / "model.tar.gz")
    assert d["OutputDataArtifacts"]["S3OutputUri"] == str(out / "with-output" / "output" / "output.tar.gz")
    unpack(Path(d["OutputDataArtifacts"]["S3OutputUri"]), tmp_path / "data")
    assert (tmp_path / "data" / "predictions.csv").read_text().startswith("id,prediction")


def test_checkpoints_are_synced_at_exit_and_restored_at_start(kb: kibako.Kibako, tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    first = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 3, "seconds": 0},
        checkpoint_uri=str(checkpoints),
    )
    assert first.description["CheckpointConfig"]["S3Uri"] == str(checkpoints)
    assert json.loads((checkpoints / "state.json").read_text()) == {"epoch": 2}
    # A new job given the same checkpoint URI starts from what is there, as in SageMaker.
    second = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 5, "seconds": 0},
        checkpoint_uri=str(checkpoints),
    )
    result = json.loads((model_files(kb, second, tmp_path / "model") / "result.json").read_text())
    assert result == {"resumed_from": 3, "epochs": 5}
    assert json.loads((checkpoints / "state.json").read_text()) == {"epoch": 4}


# -- metrics ---------------------------------------------------------------------------------------------------


def test_metric_definitions_are_scraped_into_the_jobs_run(kb: kibako.Kibako) -> None:
    job = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 4, "seconds": 0.02},
        metric_definitions={"loss": r"loss=([0-9.]+)", "epoch": r"epoch=(\d+)"},
        experiment="scraping",
    )
    history = kb.tracking.get_metric_history(job.run_id, "loss")
    assert history.steps == [0, 1, 2, 3]
    assert history.values == pytest.approx([1.0, 0.5, 0.3333, 0.25], abs=1e-4)
    assert kb.tracking.get_metric_history(job.run_id, "epoch").values == [0, 1, 2, 3]
    run = kb.get_run(job.run_id)
    assert run.experiment_name == "scraping" and run.status == "Completed"
    assert run.tags["kibako.job"] == job.description["TrainingJobArn"]


def test_the_system_sampler_records_the_scripts_cpu_and_memory_in_the_jobs_run(
    kb: kibako.Kibako, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kibako.jobs import runner

    monkeypatch.setattr(runner, "SYSTEM_SAMPLE_SECONDS", 0.1)
    job = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 6, "seconds": 0.15},
        metric_definitions={"loss": r"loss=([0-9.]+)"},
    )
    metrics = kb.get_run(job.run_id).metrics
    assert metrics["system/memory_mib"].count >= 2 and metrics["system/memory_mib"].max > 1
    assert metrics["system/cpu_percent"].count >= 2 and metrics["system/cpu_percent"].min >= 0
    assert [m["MetricName"] for m in job.describe()["FinalMetricDataList"]] == ["loss"]  # not the samples


def test_a_script_logging_with_the_sdk_writes_to_the_jobs_run(kb: kibako.Kibako) -> None:
    job = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 3, "seconds": 0, "log-with-sdk": 1},
        metric_definitions=LOSS,
    )
    assert job.status == "Completed", job.description.get("FailureReason")
    run = kb.get_run(job.run_id)
    assert set(run.metrics) >= {"loss", "sdk_epoch"}
    assert kb.tracking.get_metric_history(job.run_id, "sdk_epoch").values == [0, 1, 2]
    assert run.status == "Completed"  # the job, not the script, ended the run
    assert [e.name for e in kb.list_experiments()] == ["training-jobs"]  # no run of its own was made


# -- spot ----------------------------------------------------------------------------------------------------


def test_a_spot_interruption_restarts_from_the_checkpoint_and_completes(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    job = kb.jobs.train(
        script("checkpointing.py"),
        hyperparameters={"epochs": 10, "seconds": 0.2, "record": str(record)},
        metric_definitions=LOSS,
        spot=True,
        max_run=60,
        max_wait=120,
        interrupt_at=[1.0],
    )
    d = job.description
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Completed", "Completed")
    assert d["Attempts"] == 2 and d["Interruptions"] == 1
    statuses = [t["Status"] for t in d["SecondaryStatusTransitions"]]
    assert statuses == [
        "Starting", "Downloading", "Training", "Interrupted",
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    assert "Restarting" in d["SecondaryStatusTransitions"][4]["StatusMessage"]
    starts = sorted((json.loads(p.read_text()) for p in record.glob("start-*.json")), key=lambda s: s["time"])
    assert [s["resumed_from"] > 0 for s in starts] == [False, True]
    result = json.loads((model_files(kb, job, tmp_path / "model") / "result.json").read_text())
    assert result["resumed_from"] == starts[1]["resumed_from"]
    history = kb.tracking.get_metric_history(job.run_id, "loss")
    assert history.steps == list(range(len(history.steps))) and len(history.steps) >= 10
    assert history.values[-1] == pytest.approx(0.1)
    assert d["BillableTimeInSeconds"] < d["TrainingTimeInSeconds"]


def test_max_wait_time_counts_the_wait_for_capacity_and_stops_a_spot_job(
    kb: kibako.Kibako, no_background_worker: None, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    # MaxWait is waiting for spot capacity plus running: a job queued for longer than that is out of time
    # however short its run so far.
    kb.jobs.train(
        script("sleeper.py"),
        hyperparameters={"record": str(record), "on-sigterm": "exit"},
        spot=True,
        max_run=1,
        max_wait=1,
        grace_seconds=1,
        name="waited-too-long",
        wait=False,
    )
    time.sleep(1.1)
    d = kb.jobs.wait("waited-too-long", timeout=20)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")
    assert d["SecondaryStatusTransitions"][-1]["Status"] == "MaxWaitTimeExceeded"
    assert d["TrainingTimeInSeconds"] <= 1  # it ran for a moment only
    assert kb.get_run(d["RunId"]).status == "Stopped"


def test_max_runtime_stops_the_job_after_sigterm_and_keeps_its_model(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    job = kb.jobs.train(
        script("sleeper.py"),
        hyperparameters={"record": str(record), "on-sigterm": "exit"},
        max_run=1,
        grace_seconds=1,
    )
    d = job.description
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert (record / "sigterm").is_file()
    assert (model_files(kb, job, tmp_path / "model") / "saved-on-sigterm.txt").read_text() == "saved"
    assert 1 <= d["TrainingTimeInSeconds"] <= 5


# -- stopping ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("on_sigterm", ["exit", "ignore"])
def test_stopping_a_running_job_sends_sigterm_then_kills_after_the_grace_period(
    kb: kibako.Kibako, no_background_worker: None, tmp_path: Path, on_sigterm: str
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    kb.jobs.train(
        script("sleeper.py"),
        hyperparameters={"record": str(record), "on-sigterm": on_sigterm},
        grace_seconds=2,
        name="to-stop",
        wait=False,
    )
    worker, thread = run_in_thread(kb)
    try:
        wait_for(record / "started")
        kb.jobs.stop("to-stop")
        assert kb.jobs.describe("to-stop")["TrainingJobStatus"] == "Stopping"
        d = kb.jobs.wait("to-stop", timeout=20)
    finally:
        worker.stop()
        thread.join(20)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert "Stopping" in [t["Status"] for t in d["SecondaryStatusTransitions"]]
    sigterm_at = float((record / "sigterm").read_text())
    ended_after = datetime.fromisoformat(d["TrainingEndTime"]).timestamp() - sigterm_at
    if on_sigterm == "exit":
        assert ended_after < 1.5  # it exited at once; no waiting out the grace period
        assert "ModelArtifacts" in d
    else:
        assert ended_after >= 2  # killed only after the grace period
    assert kb.get_run(d["RunId"]).status == "Stopped"


def test_stopping_a_queued_job_stops_it_at_once(kb: kibako.Kibako, no_background_worker: None) -> None:
    job = kb.jobs.train(script("show_contract.py"), name="never-runs", wait=False)
    kb.jobs.stop("never-runs")
    d = kb.jobs.describe("never-runs")
    assert (d["TrainingJobStatus"], d["SecondaryStatus"], d["Attempts"]) == ("Stopped", "Stopped", 0)
    assert "TrainingEndTime" in d and "TrainingStartTime" not in d
    assert kb.get_run(job.run_id).status == "Stopped"
    Worker(kb.jobs._services, poll_seconds=0.05).run(until_idle=True)  # nothing left for a worker
    assert kb.jobs.describe("never-runs")["Attempts"] == 0


def test_stopping_a_finished_job_is_a_conflict(kb: kibako.Kibako) -> None:
    kb.jobs.train(script("show_contract.py"), name="done-already")
    before = counts(kb)
    with pytest.raises(ConflictError, match="not in progress"):
        kb.jobs.stop("done-already")
    assert counts(kb) == before and kb.jobs.describe("done-already")["TrainingJobStatus"] == "Completed"


# -- the graph and the outbox -------------------------------------------------------------------------------


def test_the_input_contributed_to_the_job_and_the_job_produced_the_model(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    data = csv_folder(tmp_path / "data")
    job = kb.jobs.train(script("show_contract.py"), inputs={"train": str(data)})
    arn = job.description["TrainingJobArn"]
    up = kb.lineage.query(arn, direction="up", max_depth=1)
    job_id = up.start_ids[0]
    [dataset] = [v for v in up.vertices if v.kind == "Artifact"]
    assert dataset.digest == path_digest(data)
    into_job = [(e.source_id, e.type, e.role) for e in up.edges if e.destination_id == job_id]
    assert (dataset.id, "ContributedTo", "train") in into_job
    assert [edge for edge in into_job if edge[1] == "ContributedTo"] == [
        (dataset.id, "ContributedTo", "train")
    ]
    down = kb.lineage.query(arn, direction="down", max_depth=1)
    model = next(v for v in down.vertices if v.type == "Model")
    assert model.uri == job.model_uri
    assert model.digest == path_digest(Path(job.model_uri))
    assert any(
        e.source_id == job_id and e.destination_id == model.id and e.type == "Produced" for e in down.edges
    )
    # The same data read again is the same node.
    again = kb.jobs.train(script("show_contract.py"), inputs={"train": str(data)})
    up_again = kb.lineage.query(again.description["TrainingJobArn"], direction="up", max_depth=1)
    assert dataset.id in [v.id for v in up_again.vertices]


def test_every_status_change_is_a_training_job_state_change_event(kb: kibako.Kibako) -> None:
    job = kb.jobs.train(script("show_contract.py"))
    arn = job.description["TrainingJobArn"]
    events = kb.events.list_events(detail_type=STATE_CHANGE, limit=1000)
    assert events and all(e.source == "aws.sagemaker" and e.resources == [arn] for e in events)
    changes = state_changes(kb, arn)
    assert [(c["TrainingJobStatus"], c["SecondaryStatus"]) for c in changes] == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
        ("InProgress", "Uploading"),
        ("Completed", "Completed"),
    ]
    assert changes[-1]["ModelArtifacts"] == job.description["ModelArtifacts"]
    envelope = events[-1].to_envelope()
    assert envelope["detail-type"] == STATE_CHANGE and envelope["detail"]["TrainingJobName"] == job.name
