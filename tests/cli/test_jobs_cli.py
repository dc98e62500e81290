"""kibako jobs ... and kibako worker: the forms from CLI.md, --json shapes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import kibako
from kibako.cli._app import app

runner = CliRunner()

SCRIPT = """
import argparse, os
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int)
p.add_argument("--fail", default="no")
a = p.parse_args()
for e in range(a.epochs):
    print(f"loss={1 / (e + 1)};")
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write("m")
if a.fail == "yes":
    raise SystemExit(2)
"""


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    return folder


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_train_wait_json_prints_describe_training_job(source: Path) -> None:
    code, out, _ = invoke(
        "jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "epochs=3",
        "--metric", "loss=loss=(.*?);", "--name", "cli-job", "--wait", "--json",
    )  # fmt: skip
    assert code == 0, out
    desc = json.loads(out)
    assert desc["TrainingJobName"] == "cli-job" and desc["TrainingJobStatus"] == "Completed"
    assert desc["HyperParameters"]["epochs"] == "3"
    assert [m["MetricName"] for m in desc["FinalMetricDataList"]] == ["loss"]
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].endswith("cli-job/output/model.tar.gz")


def test_a_waited_job_that_fails_exits_3_with_its_reason(source: Path) -> None:
    code, out, err = invoke(
        "jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "epochs=1",
        "--hp", "fail=yes", "--name", "bad-job", "--wait",
    )  # fmt: skip
    assert code == 3
    assert out.strip() == "bad-job"
    assert "Failed" in err and "exited with code 2" in err


def test_list_describe_and_logs_read_the_job(source: Path) -> None:
    invoke("jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "epochs=2",
           "--name", "seen", "--wait")  # fmt: skip
    code, out, _ = invoke("jobs", "list", "--json")
    assert code == 0
    summaries = json.loads(out)["JobSummaries"]
    assert [(s["TrainingJobName"], s["TrainingJobStatus"]) for s in summaries] == [("seen", "Completed")]
    code, out, _ = invoke("jobs", "list", "--status", "Failed", "--json")
    assert json.loads(out)["JobSummaries"] == []
    code, out, _ = invoke("jobs", "describe", "seen", "--json")
    assert [t["Status"] for t in json.loads(out)["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed",
    ]  # fmt: skip
    code, out, _ = invoke("jobs", "logs", "seen")
    assert code == 0 and "loss=0.5;" in out


def test_bad_input_is_a_clear_error_and_exit_1(source: Path) -> None:
    code, _, err = invoke("jobs", "train", "--entry-point", "nope.py", "--source-dir", str(source))
    assert code == 1 and "nope.py" in err
    code, _, err = invoke(
        "jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "x"
    )
    assert code == 1 and "KEY=VALUE" in err
    code, _, err = invoke("jobs", "describe", "missing")
    assert code == 1 and "kibako jobs list" in err
    code, out, _ = invoke("jobs", "list", "--json")
    assert json.loads(out)["JobSummaries"] == []


def test_stopping_a_finished_job_is_refused(source: Path) -> None:
    invoke("jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "epochs=1",
           "--name", "done", "--wait")  # fmt: skip
    code, _, err = invoke("jobs", "stop", "done")
    assert code == 1 and "not in progress" in err


def test_worker_until_idle_runs_what_is_queued(source: Path) -> None:
    kb = kibako.connect()
    kb.jobs.service.create_training_job(
        {
            "TrainingJobName": "queued",
            "HyperParameters": {
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(str(source)),
                "epochs": "1",
            },
        }
    )
    code, _, err = invoke("worker", "--until-idle")
    assert code == 0 and "worker" in err
    assert kb.jobs.describe("queued")["TrainingJobStatus"] == "Completed"


def test_logs_follow_prints_a_finished_job_whole_and_returns(source: Path) -> None:
    invoke("jobs", "train", "--entry-point", "train.py", "--source-dir", str(source), "--hp", "epochs=3",
           "--name", "followed", "--wait")  # fmt: skip
    code, out, _ = invoke("jobs", "logs", "followed", "-f")
    assert code == 0
    assert out.count("loss=") == 3 and "==== attempt 1" in out


def test_a_job_submitted_to_a_server_runs_there_and_its_logs_read_back(
    source: Path, live_server: Any
) -> None:
    from kibako.jobs.worker import Worker

    kb = kibako.connect(live_server.url, token=live_server.token("editor"))
    job = kb.jobs.train("train.py", str(source), hyperparameters={"epochs": 2}, name="remote-job", wait=False)
    Worker(live_server.services, poll_seconds=0.05).run(until_idle=True)
    assert job.status == "Completed"
    assert "loss=0.5;" in kb.jobs.logs("remote-job")
    part = kb.jobs.read_logs("remote-job", {"algo-1": 10**9})
    assert part["Logs"] == {"algo-1": ""} and part["Ended"] is True
