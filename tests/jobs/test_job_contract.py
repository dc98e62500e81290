"""The /opt/ml contract: the files, variables and arguments an unmodified SageMaker script expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kibako
from kibako.jobs.contract import (
    JobPaths,
    TrainingContract,
    encode_hyperparameters,
    failure_reason,
    prepare,
    script_arguments,
)

# A script written for SageMaker script mode, unchanged: argparse with SM_* defaults.
SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, pathlib
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--optimizer", type=str, default="sgd")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()
    rows = pathlib.Path(args.train, "train.csv").read_text().splitlines()
    pathlib.Path(args.model_dir, "model.json").write_text(json.dumps(
        {"epochs": args.epochs, "optimizer": args.optimizer, "lr": args.lr, "rows": len(rows),
         "hps": json.loads(os.environ["SM_HPS"]), "job": os.environ["TRAINING_JOB_NAME"]}))
    """
)


@pytest.fixture
def contract(tmp_path: Path) -> TrainingContract:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n3,4\n")
    return TrainingContract(
        job_name="job-1",
        job_arn="arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1",
        entry_point="train.py",
        source_dir=src,
        hyperparameters={"epochs": 3, "optimizer": "adam", "lr": 0.01, "sagemaker_program": "train.py"},
        channels={"train": data},
    )


def test_config_files_have_sagemakers_shape(contract: TrainingContract, tmp_path: Path) -> None:
    job = prepare(contract, tmp_path / "job")
    config = job.folder.config
    assert json.loads((config / "hyperparameters.json").read_text()) == {
        "epochs": "3",
        "lr": "0.01",
        "optimizer": '"adam"',
        "sagemaker_program": '"train.py"',
    }
    assert json.loads((config / "inputdataconfig.json").read_text())["train"]["TrainingInputMode"] == "File"
    assert json.loads((config / "resourceconfig.json").read_text()) == {
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "network_interface_name": "eth0",
    }
    assert (job.folder.channel("train") / "train.csv").read_text().startswith("a,b")
    assert (job.folder.code / "train.py").is_file()
    for path in (job.folder.model, job.folder.output_data, job.folder.checkpoints, job.folder.intermediate):
        assert path.is_dir()


def test_environment_and_arguments_follow_the_toolkit(contract: TrainingContract, tmp_path: Path) -> None:
    job = prepare(contract, tmp_path / "job", seen_at=Path("/opt/ml"))
    env = job.env
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "lr": 0.01, "optimizer": "adam"}
    assert (env["SM_HP_EPOCHS"], env["SM_HP_OPTIMIZER"]) == ("3", "adam")
    assert env["TRAINING_JOB_NAME"] == "job-1" and env["TRAINING_JOB_ARN"].endswith("training-job/job-1")
    assert job.argv == ["--epochs", "3", "--lr", "0.01", "--optimizer", "adam"], "sagemaker_* are settings"
    assert json.loads(env["SM_TRAINING_ENV"])["channel_input_dirs"] == {"train": "/opt/ml/input/data/train"}


def test_an_unmodified_script_mode_script_runs_against_the_folder(
    contract: TrainingContract, tmp_path: Path
) -> None:
    job = prepare(contract, tmp_path / "job")
    done = subprocess.run(
        [sys.executable, str(job.folder.code / "train.py"), *job.argv],
        env={**os.environ, **job.env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    model = json.loads((job.folder.model / "model.json").read_text())
    assert model == {
        "epochs": 3,
        "optimizer": "adam",
        "lr": 0.01,
        "rows": 3,
        "hps": {"epochs": 3, "lr": 0.01, "optimizer": "adam"},
        "job": "job-1",
    }


def test_a_script_writing_to_its_input_never_touches_the_original(
    contract: TrainingContract, tmp_path: Path
) -> None:
    job = prepare(contract, tmp_path / "job")
    (job.folder.channel("train") / "train.csv").write_text("clobbered")
    (job.folder.channel("train") / "train.csv").unlink()
    assert (tmp_path / "data" / "train.csv").read_text() == "a,b\n1,2\n3,4\n"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"entry_point": "missing.py"}, "entry point"),
        ({"channels": {"train": Path("/no/such/folder")}}, "does not exist"),
        ({"hyperparameters": {"f": object()}}, "cannot be written as JSON"),
        ({"hyperparameters": {"nan": float("nan")}}, "cannot be written as JSON"),
        ({"channels": {"a/b": Path(".")}}, "channel name"),
    ],
    ids=["missing-script", "missing-channel", "not-json", "nan", "bad-channel-name"],
)
def test_bad_input_fails_fast_and_leaves_no_folder(
    contract: TrainingContract, tmp_path: Path, change: dict, words: str
) -> None:
    from dataclasses import replace

    with pytest.raises(kibako.ValidationError, match=words):
        prepare(replace(contract, **change), tmp_path / "job")
    assert not (tmp_path / "job").exists(), "a retry must not meet a half-made folder"


def test_failure_reason_prefers_the_failure_file_and_is_capped(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    assert failure_reason(paths, 2, "Traceback ...\nValueError: bad") == (
        "AlgorithmError: the script exited with code 2: Traceback ...\nValueError: bad"
    )
    paths.output.mkdir(parents=True)
    paths.failure.write_text("x" * 5000)
    assert failure_reason(paths, 1) == "x" * 1024


def test_hyperparameter_encoding_round_trips_through_arguments() -> None:
    stored = encode_hyperparameters({"layers": [64, 32], "flag": True, "name": "a b"})
    assert stored == {"layers": "[64, 32]", "flag": "true", "name": '"a b"'}
    assert script_arguments(stored) == ["--flag", "true", "--layers", "[64, 32]", "--name", "a b"]


def test_a_failure_while_laying_out_removes_the_half_made_folder(
    contract: TrainingContract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kibako.jobs.contract as module

    def disk_full(source: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_place_channel", disk_full)
    with pytest.raises(OSError, match="No space"):
        prepare(contract, tmp_path / "job")
    assert not (tmp_path / "job").exists()
