"""Unmodified SageMaker script-mode scripts for the XGBoost and PyTorch framework containers run as jobs."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

import kibako

FRAMEWORKS = Path(__file__).parent / "scripts" / "frameworks"


def _model_files(uri: str, into: Path) -> Path:
    with tarfile.open(uri) as archive:
        archive.extractall(into, filter="data")
    return into


def _csv(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([y, x]), delimiter=",", fmt="%.6f")
    return path


def test_an_xgboost_script_mode_script_trains_and_its_model_loads(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    kb = kibako.connect()
    job = kb.jobs.train(
        "xgboost_train.py",
        str(FRAMEWORKS),
        inputs={
            "train": str(_csv(tmp_path / "train" / "train.csv", 400, 1)),
            "validation": str(_csv(tmp_path / "validation" / "validation.csv", 100, 2)),
        },
        hyperparameters={"max_depth": 3, "eta": 0.2, "num_round": 20, "objective": "binary:logistic"},
        metric_definitions={"validation:auc": r"validation-auc:([0-9.]+)"},
    )
    desc = job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    booster = xgb.Booster(
        model_file=str(_model_files(job.model_uri, tmp_path / "model") / "xgboost-model.json")
    )
    check = np.loadtxt(tmp_path / "validation" / "validation.csv", delimiter=",")
    predictions = booster.predict(xgb.DMatrix(check[:, 1:]))
    assert ((predictions > 0.5) == (check[:, 0] > 0.5)).mean() > 0.8
    assert job.metrics()["validation:auc"] > 0.8, "xgboost's evaluation log was scraped"


def test_a_pytorch_script_mode_script_trains_and_its_state_dict_loads(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    kb = kibako.connect()
    job = kb.jobs.train(
        "pytorch_train.py",
        str(FRAMEWORKS),
        hyperparameters={"epochs": 30, "lr": 0.1},
        metric_definitions={"train:loss": r"Train Epoch: \d+ Loss: ([0-9.]+)"},
    )
    desc = job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    losses = kb.tracking.get_metric_history(job.run_id, "train:loss").values
    assert len(losses) == 30 and losses[-1] < losses[0] / 10
    state = torch.load(_model_files(job.model_uri, tmp_path / "model") / "model.pth", weights_only=True)
    assert set(state) == {"weight", "bias"} and tuple(state["weight"].shape) == (1, 4)


def _request(image: str, *, program: bool = True) -> dict[str, object]:
    hps = {"sagemaker_program": '"pytorch_train.py"', "sagemaker_submit_directory": f'"{FRAMEWORKS}"'}
    return {
        "TrainingJobName": "imaged",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hps if program else {},
    }


def test_a_framework_image_runs_in_the_workers_python() -> None:
    kb = kibako.connect()
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
    kb.jobs.create_training_job(_request(image), wait=True)
    assert kb.jobs.describe("imaged")["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("image", "program", "says"),
    [
        ("123.dkr.ecr.us-east-1.amazonaws.com/my-own-image:latest", True, "not a framework image"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", False, "built-in algorithm"),
    ],
    ids=["unknown image", "built-in algorithm"],
)
def test_an_image_kibako_cannot_honour_is_refused_with_the_reason(
    image: str, program: bool, says: str
) -> None:
    from kibako.errors import ValidationError

    kb = kibako.connect()
    with pytest.raises(ValidationError, match=says):
        kb.jobs.create_training_job(_request(image, program=program))
    assert kb.jobs.list() == []
