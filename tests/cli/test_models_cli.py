"""kibako models ... and kibako endpoints ...: the forms from CLI.md, --json shapes (AWS's responses) and
errors. The endpoint is hosted by the background worker the command starts, as for a user."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from typer.testing import CliRunner

from kibako.cli._app import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression

    x = np.random.RandomState(0).rand(100, 4)
    path = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int)), path)
    return path


def test_import_list_describe_approve_and_history(model_file: Path) -> None:
    code, out, _ = invoke(
        "models", "import", str(model_file), "--group", "churn", "--sample", "1,2,3,4", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["ModelPackageVersion"] == 1
    code, out, _ = invoke(
        "models", "register", str(model_file), "--group", "churn", "--metric", "auc=0.9", "--json"
    )
    assert code == 0 and json.loads(out)["MetricValues"] == {"auc": 0.9}
    code, out, _ = invoke("models", "list", "--group", "churn", "--json")
    assert [v["ModelPackageVersion"] for v in json.loads(out)["ModelPackageSummaryList"]] == [2, 1]
    code, out, err = invoke("models", "approve", "churn", "2", "--comment", "checked by hand")
    assert code == 0 and "Approved (checked by hand)" in err
    code, out, _ = invoke("models", "alias", "churn", "champion", "2")
    assert code == 0
    code, out, _ = invoke("models", "describe", "churn", "champion", "--json")
    desc = json.loads(out)
    assert desc["ModelApprovalStatus"] == "Approved" and desc["Aliases"] == ["champion"]
    code, out, _ = invoke("models", "search", "metrics.auc > 0.5", "--json")
    assert [d["ModelPackageVersion"] for d in json.loads(out)["ModelPackageSummaryList"]] == [2]
    code, out, _ = invoke("models", "history", "churn", "2", "--json")
    assert json.loads(out)[1]["Change"]["ApprovalDescription"] == "checked by hand"
    code, out, _ = invoke("models", "groups", "--json")
    assert [g["ModelPackageGroupName"] for g in json.loads(out)["ModelPackageGroupSummaryList"]] == ["churn"]


def test_errors_say_what_to_do(model_file: Path, tmp_path: Path) -> None:
    code, _, err = invoke("models", "describe", "nope", "1")
    assert code == 1 and "does not exist" in err
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"junk")
    code, _, err = invoke("models", "import", str(broken), "--group", "churn")
    assert code == 1 and "cannot be loaded" in err.lower() or "pickle" in err.lower()
    code, _, err = invoke("endpoints", "create", "ep", "--variant", "A=churn")
    assert code == 2 and "NAME=GROUP:VERSION" in err


@pytest.mark.slow
def test_endpoint_create_invoke_update_and_delete(model_file: Path) -> None:
    assert invoke("models", "import", str(model_file), "--group", "churn")[0] == 0
    code, out, err = invoke(
        "endpoints", "create", "cli-ep", "--variant", "A=churn:1:3", "--variant", "B=churn:1:1",
        "--capture", "100", "--json",
    )  # fmt: skip
    assert code == 0, err
    desc = json.loads(out)
    assert desc["EndpointStatus"] == "InService"
    assert desc["DataCaptureConfig"]["CurrentSamplingPercentage"] == 100
    code, out, err = invoke(
        "endpoints", "invoke", "cli-ep", "--body", "0.9,0.1,0.1,0.1", "--target-variant", "B"
    )
    assert code == 0 and out.strip() in ("0", "1") and "variant B" in err
    code, out, _ = invoke("endpoints", "update-weights", "cli-ep", "--weight", "A=0", "--json")
    assert code == 0
    assert [v["CurrentWeight"] for v in json.loads(out)["ProductionVariants"]] == [0.0, 1.0]
    code, out, _ = invoke("endpoints", "list", "--json")
    assert [e["EndpointName"] for e in json.loads(out)["Endpoints"]] == ["cli-ep"]
    code, _, err = invoke("endpoints", "invoke", "cli-ep", "--body", "x,y", "--content-type", "text/csv")
    assert code == 1 and "400" in err
    assert invoke("endpoints", "delete", "cli-ep")[0] == 0
    code, _, err = invoke("endpoints", "describe", "cli-ep")
    assert code == 1 and "Could not find endpoint" in err
