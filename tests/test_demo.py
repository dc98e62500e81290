"""The demo runs end to end and leaves what it says it leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

import kibako
from kibako.demo import EXPERIMENT, main


@pytest.mark.slow
def test_demo_trains_finds_the_best_and_draws_lineage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(str(tmp_path / "demo"))
    out = capsys.readouterr()
    assert "Best runs" in out.out and "ContributedTo: Dataset churn.csv" in out.out
    assert "Your data lives in" in out.err
    kb = kibako.connect(home=str(tmp_path / "demo"))
    runs = kb.search_runs(EXPERIMENT, max_results=10).runs
    assert len(runs) == 4 and all(r.status == "Completed" for r in runs)
    assert all(r.metrics["fold_auc"].count == 5 for r in runs)
    assert all(len(r.inputs) == 1 and len(r.outputs) == 1 for r in runs)
    assert len({r.inputs[0].id for r in runs}) == 1, "one dataset node, shared by every run"


@pytest.mark.slow
def test_demo_training_job_survives_its_spot_interruption(tmp_path: Path) -> None:
    main(str(tmp_path / "demo"))
    kb = kibako.connect(home=str(tmp_path / "demo"))
    spot = [
        s
        for s in kb.jobs.list(kind="TrainingJob")
        if "Interruptions" in kb.jobs.describe(s["TrainingJobName"])
    ]
    assert len(spot) == 1
    desc = kb.jobs.describe(spot[0]["TrainingJobName"])
    assert desc["TrainingJobStatus"] == "Completed" and desc["Interruptions"] == 1
    assert desc["BillableTimeInSeconds"] < desc["TrainingTimeInSeconds"]
    steps = kb.tracking.get_metric_history(desc["RunId"], "val_auc").steps
    assert steps == list(range(8)), "one point per epoch, none repeated after the resume"
    [tuning] = kb.tuning.list()
    described = kb.tuning.describe(tuning["HyperParameterTuningJobName"])
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    assert (
        described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "val_auc"
    )


@pytest.mark.slow
def test_demo_registers_approves_serves_and_captures(tmp_path: Path) -> None:
    from kibako._demo_serving import ENDPOINT, GROUP

    main(str(tmp_path / "demo"))
    kb = kibako.connect(home=str(tmp_path / "demo"))
    versions = kb.models.list(GROUP)
    assert len(versions) == 2
    champion = kb.models.get(f"{GROUP}@champion")
    assert champion["ModelApprovalStatus"] == "Approved"
    assert champion["SourceJobName"] and champion["MetricValues"]["val_auc"] > 0
    changes = [h["Change"] for h in kb.models.history(f"{GROUP}@champion")]
    assert [c.get("ModelApprovalStatus") for c in changes if "ModelApprovalStatus" in c] == [
        "PendingManualApproval",
        "Approved",
    ]
    capture = Path(kb.config.artifact_uri) / "data-capture" / ENDPOINT
    records = [line for f in capture.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(records) == 200, "every request captured, none lost on the clean stop"
    assert {p.relative_to(capture).parts[0] for p in capture.rglob("*.jsonl")} <= {"A", "B"}
    assert kb.endpoints.list() == []
