"""The model registry, embedded: groups and numbered versions, approval with its audit trail and events,
aliases, immutability, model cards, searchable metrics, registering a job's model with lineage, and import."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func, select

import kibako
from kibako.errors import (
    ConflictError,
    FilterSyntaxError,
    ModelLoadError,
    NotFoundError,
    ValidationError,
)
from kibako.store import schema

STATE_CHANGE = "SageMaker Model Package State Change"
SCRIPTS = Path(__file__).parents[1] / "jobs" / "scripts"


@pytest.fixture
def kb() -> Iterator[kibako.Kibako]:
    client = kibako.connect()
    yield client
    client.close()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    rng = np.random.RandomState(0)
    x = rng.rand(100, 4)
    model = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return path


def count(kb: kibako.Kibako, table: Any) -> int:
    store = kb.jobs._services.store
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def events(kb: kibako.Kibako, detail_type: str = STATE_CHANGE) -> list[Any]:
    return [e for e in kb.events.list_events() if e.detail_type == detail_type]


def test_versions_are_numbered_per_group(kb: kibako.Kibako, model_file: Path) -> None:
    a1 = kb.models.register(str(model_file), "churn")
    a2 = kb.models.register(str(model_file), "churn")
    b1 = kb.models.register(str(model_file), "fraud")
    assert (a1["ModelPackageVersion"], a2["ModelPackageVersion"], b1["ModelPackageVersion"]) == (1, 2, 1)
    assert a2["ModelPackageArn"].endswith(":model-package/churn/2")
    assert a1["ModelApprovalStatus"] == "PendingManualApproval"
    listed = kb.models.list("churn")
    assert [v["ModelPackageVersion"] for v in listed] == [2, 1]
    assert kb.models.get("churn/latest")["ModelPackageVersion"] == 2
    assert kb.models.get("models:/churn/1")["ModelPackageArn"] == a1["ModelPackageArn"]
    assert {g["ModelPackageGroupName"] for g in kb.models.groups()} == {"churn", "fraud"}


def test_concurrent_registrations_get_distinct_versions(kb: kibako.Kibako, model_file: Path) -> None:
    kb.models.register(str(model_file), "busy")
    found: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            found.append(kb.models.register(str(model_file), "busy")["ModelPackageVersion"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(found) == [2, 3, 4, 5, 6, 7]


def test_group_names_follow_aws_rules(kb: kibako.Kibako) -> None:
    service = kb.models.service
    for bad in ("", "-churn", "churn_model", "a" * 64):
        with pytest.raises(ValidationError, match="ModelPackageGroupName"):
            service.create_model_package_group({"ModelPackageGroupName": bad})
    service.create_model_package_group({"ModelPackageGroupName": "churn"})
    with pytest.raises(ConflictError):
        service.create_model_package_group({"ModelPackageGroupName": "churn"})
    assert count(kb, schema.contexts) == 1


def test_approval_keeps_who_when_and_why_and_emits_events(kb: kibako.Kibako, model_file: Path) -> None:
    kb.models.register(str(model_file), "churn")
    approved = kb.models.service.set_approval("churn/1", "Approved", "auc above the bar", actor="aiko")
    assert approved["ModelApprovalStatus"] == "Approved"
    assert approved["ApprovalDescription"] == "auc above the bar"
    kb.models.reject("churn/1", "drift found")
    history = kb.models.history("churn/1")
    assert [h["Change"].get("ModelApprovalStatus") for h in history] == [
        "PendingManualApproval",
        "Approved",
        "Rejected",
    ]
    assert (
        history[1]["Actor"] == "aiko" and history[1]["Change"]["ApprovalDescription"] == "auc above the bar"
    )
    assert history[2]["Change"]["ApprovalDescription"] == "drift found"
    assert all(h["Time"] for h in history)
    statuses = [e.detail["ModelApprovalStatus"] for e in events(kb)]
    assert statuses == ["PendingManualApproval", "Approved", "Rejected"]
    event = events(kb)[1].to_envelope()
    assert event["source"] == "aws.sagemaker" and event["detail"]["ModelPackageGroupName"] == "churn"
    assert event["resources"] == [approved["ModelPackageArn"]]


def test_a_bad_approval_status_changes_nothing(kb: kibako.Kibako, model_file: Path) -> None:
    kb.models.register(str(model_file), "churn")
    before = len(events(kb))
    with pytest.raises(ValidationError, match="ModelApprovalStatus is one of"):
        kb.models.service.set_approval("churn/1", "Maybe")
    assert kb.models.get("churn/1")["ModelApprovalStatus"] == "PendingManualApproval"
    assert len(events(kb)) == before
    assert len(kb.models.history("churn/1")) == 1


def test_only_mutable_fields_can_change(kb: kibako.Kibako, model_file: Path, tmp_path: Path) -> None:
    first = kb.models.register(str(model_file), "churn")
    request = {
        "ModelPackageArn": first["ModelPackageArn"],
        "InferenceSpecification": {"Containers": [{"ModelDataUrl": str(tmp_path)}]},
    }
    with pytest.raises(ValidationError, match="InferenceSpecification cannot change"):
        kb.models.service.update_model_package(request)
    after = kb.models.get("churn/1")
    assert after["InferenceSpecification"] == first["InferenceSpecification"]
    updated = kb.models.set_metadata("churn/1", team="risk", owner="aiko")
    assert updated["CustomerMetadataProperties"] == {"team": "risk", "owner": "aiko"}
    removed = kb.models.service.update_model_package(
        {"ModelPackageArn": first["ModelPackageArn"], "CustomerMetadataPropertiesToRemove": ["owner"]}
    )
    assert removed["CustomerMetadataProperties"] == {"team": "risk"}


def test_aliases_follow_mlflow_rules(kb: kibako.Kibako, model_file: Path) -> None:
    kb.models.register(str(model_file), "churn")
    kb.models.register(str(model_file), "churn")
    kb.models.set_alias("churn", "champion", 1)
    assert kb.models.get("churn@champion")["ModelPackageVersion"] == 1
    kb.models.set_alias("churn", "champion", 2)  # moves: one version per alias
    assert kb.models.get("churn@champion")["ModelPackageVersion"] == 2
    assert kb.models.get("churn/1")["Aliases"] == []
    assert kb.models.get("models:/churn@champion")["Aliases"] == ["champion"]
    for bad in ("latest", "v3", "has space", ""):
        with pytest.raises(ValidationError):
            kb.models.set_alias("churn", bad, 1)
    with pytest.raises(NotFoundError):
        kb.models.set_alias("churn", "ok", 9)
    kb.models.delete_alias("churn", "champion")
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        kb.models.get("churn@champion")


def test_model_cards_follow_their_statuses(kb: kibako.Kibako, model_file: Path) -> None:
    kb.models.register(str(model_file), "churn")
    card = kb.models.update_card(
        "churn/1", {"model_overview": {"model_description": "churn"}}, "PendingReview"
    )
    assert card["ModelCard"]["ModelCardStatus"] == "PendingReview"
    assert json.loads(card["ModelCard"]["ModelCardContent"])["model_overview"]["model_description"] == "churn"
    with pytest.raises(ValidationError, match="ModelCardStatus"):
        kb.models.update_card("churn/1", status="Done")
    with pytest.raises(ValidationError, match="model_package_details"):
        kb.models.update_card("churn/1", {"model_package_details": {}})
    kb.models.update_card("churn/1", status="Archived")
    with pytest.raises(ValidationError, match="Archived"):
        kb.models.update_card("churn/1", {"model_overview": {}})


def test_metrics_from_reports_and_numbers_are_searchable(
    kb: kibako.Kibako, model_file: Path, tmp_path: Path
) -> None:
    report = tmp_path / "statistics.json"
    report.write_text(
        json.dumps({"binary_classification_metrics": {"auc": {"value": 0.93, "standard_deviation": 0.01}}})
    )
    kb.models.service.create_model_package_group({"ModelPackageGroupName": "churn"})
    kb.models.service.create_model_package(
        {
            "ModelPackageGroupName": "churn",
            "InferenceSpecification": {"Containers": [{"ModelDataUrl": str(model_file)}]},
            "ModelMetrics": {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": str(report)}}
            },
        }
    )
    kb.models.register(str(model_file), "churn", metrics={"auc": 0.71, "f1": 0.5})
    kb.models.approve("churn/1")
    assert kb.models.get("churn/1")["MetricValues"]["auc"] == pytest.approx(0.93)
    assert [d["ModelPackageVersion"] for d in kb.models.search("metrics.auc > 0.9")] == [1]
    assert [
        d["ModelPackageVersion"] for d in kb.models.search("metrics.auc < 0.8 or status = 'Approved'")
    ] == [2, 1]
    assert [d["ModelPackageVersion"] for d in kb.models.search("metrics.f1 IS NULL")] == [1]
    assert kb.models.search("name = 'fraud'") == []
    with pytest.raises(FilterSyntaxError):
        kb.models.search("metrics.auc >")
    with pytest.raises(FilterSyntaxError, match="model versions"):
        kb.models.search("params.lr = '1'")


def test_a_missing_report_registers_nothing(kb: kibako.Kibako, model_file: Path, tmp_path: Path) -> None:
    kb.models.service.create_model_package_group({"ModelPackageGroupName": "churn"})
    with pytest.raises(ValidationError, match="does not exist"):
        kb.models.service.create_model_package(
            {
                "ModelPackageGroupName": "churn",
                "InferenceSpecification": {"Containers": [{"ModelDataUrl": str(model_file)}]},
                "ModelMetrics": {"Bias": {"Report": {"S3Uri": str(tmp_path / "nope.json")}}},
            }
        )
    with pytest.raises(ValidationError, match="ModelDataUrl"):
        kb.models.register(str(tmp_path / "missing.joblib"), "churn")
    assert count(kb, schema.model_packages) == 0


def test_a_jobs_model_is_registered_with_lineage_to_the_job_and_its_data(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    data = tmp_path / "train"
    data.mkdir()
    (data / "data.csv").write_text(
        "x1,x2,label\n" + "".join(f"{i % 7},{i % 5},{int(i % 7 > 3)}\n" for i in range(40))
    )
    job = kb.jobs.train(
        entry_point=str(SCRIPTS / "sklearn_train.py"),
        inputs={"train": str(data)},
        metric_definitions={"train_accuracy": r"train_accuracy=([0-9.]+)"},
        wait=True,
    )
    assert job.status == "Completed"
    version = kb.models.register(job.name, "churn")
    assert version["SourceJobName"] == job.name
    assert (
        version["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        == job.description["ModelArtifacts"]["S3ModelArtifacts"]
    )
    assert version["MetricValues"]["train_accuracy"] > 0.5
    graph = kb.lineage.query(version["ModelArtifactId"], direction="up")
    types = {v.type for v in graph.vertices}
    assert {"TrainingJob", "DataSet"} <= types
    with pytest.raises(ValidationError, match="does not exist|not valid"):
        kb.models.register("no-such-job", "churn")


def test_import_loads_and_predicts_before_registering(kb: kibako.Kibako, model_file: Path) -> None:
    version = kb.models.import_model(model_file, "imported", sample="0.1,0.2,0.3,0.4")
    container = version["InferenceSpecification"]["Containers"][0]
    assert container["Flavor"] == "sklearn"
    assert container["ModelDataUrl"].endswith("/model.tar.gz")
    assert version["SourceUri"] == str(model_file)
    assert version["ModelPackageVersion"] == 1


def test_a_broken_model_is_refused_and_nothing_is_registered(
    kb: kibako.Kibako, tmp_path: Path, model_file: Path
) -> None:
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(model_file.read_bytes()[:50])
    with pytest.raises(ModelLoadError):
        kb.models.import_model(broken, "imported")
    with pytest.raises(ModelLoadError):
        kb.models.import_model(model_file, "imported", flavor="xgboost")
    with pytest.raises(ModelLoadError):
        kb.models.import_model(model_file, "imported", sample="1,2")  # 2 features, the model wants 4
    with pytest.raises(ModelLoadError, match="does not exist"):
        kb.models.import_model(tmp_path / "nothing-here.pkl", "imported")
    assert count(kb, schema.model_packages) == 0
    assert count(kb, schema.contexts) == 0
