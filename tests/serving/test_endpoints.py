"""Endpoints end to end, embedded: CreateModel / EndpointConfig / Endpoint checks, variants by weight, the
target-variant header, errors by HTTP meaning, data capture, live weight changes and updates without dropped
requests, roll back, restart after the worker goes, delete, events and per-variant metrics."""

from __future__ import annotations

import json
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import kibako
from kibako.errors import ConflictError, NotFoundError, UnsupportedMediaTypeError, ValidationError
from kibako.jobs.worker import Worker

pytestmark = pytest.mark.slow
ROW = "0.9,0.1,0.2,0.3"

RAISING_INFERENCE = """
import joblib, os

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def predict_fn(data, model):
    if float(data[0][0]) < 0:
        raise RuntimeError("negative input is not allowed")
    return model.predict(data)
"""


class Host:
    """A worker in a thread of this process, as ``kibako server`` runs one."""

    def __init__(self, kb: kibako.Kibako) -> None:
        self.worker = Worker(kb.jobs._services, poll_seconds=0.05, lease_seconds=5)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(timeout=60)
        assert not self.worker.errors, self.worker.errors


@pytest.fixture
def kb(monkeypatch: pytest.MonkeyPatch) -> Iterator[kibako.Kibako]:
    monkeypatch.setenv("KIBAKO_ENDPOINT_METRICS_SECONDS", "0.5")
    monkeypatch.setattr("kibako.serving.hosting.METRICS_SECONDS", 0.5)
    client = kibako.connect()
    monkeypatch.setattr(client.jobs, "ensure_worker", lambda: None)  # the test runs its own worker
    yield client
    client.close()


@pytest.fixture
def host(kb: kibako.Kibako) -> Iterator[Host]:
    running = Host(kb)
    yield running
    running.stop()


def save_model(folder: Path, flip: bool = False) -> Path:
    rng = np.random.RandomState(0)
    x = rng.rand(200, 4)
    y = (x[:, 0] > 0.5).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.joblib"
    joblib.dump(LogisticRegression().fit(x, 1 - y if flip else y), path)
    return path


@pytest.fixture
def versions(kb: kibako.Kibako, tmp_path: Path) -> tuple[str, str]:
    kb.models.import_model(save_model(tmp_path / "a"), "churn")
    kb.models.import_model(save_model(tmp_path / "b", flip=True), "churn")
    return "churn/1", "churn/2"


def capture_lines(kb: kibako.Kibako, endpoint: str) -> dict[str, list[dict[str, Any]]]:
    root = Path(kb.config.artifact_uri) / "data-capture" / endpoint
    found: dict[str, list[dict[str, Any]]] = {}
    for file in sorted(root.rglob("*.jsonl")):
        variant = file.relative_to(root).parts[0]
        found.setdefault(variant, []).extend(json.loads(line) for line in file.read_text().splitlines())
    return found


def test_bad_requests_create_nothing(kb: kibako.Kibako, versions: tuple[str, str]) -> None:
    serving = kb.endpoints.service
    with pytest.raises(ValidationError, match="framework inference images"):
        serving.create_model(
            {"ModelName": "m", "PrimaryContainer": {"Image": "my/own:1", "ModelDataUrl": "x"}}
        )
    with pytest.raises(ValidationError, match="ModelDataUrl or ModelPackageName"):
        serving.create_model({"ModelName": "m", "PrimaryContainer": {}})
    with pytest.raises(NotFoundError):
        serving.create_model({"ModelName": "m", "PrimaryContainer": {"ModelPackageName": "churn/9"}})
    serving.create_model({"ModelName": "m", "PrimaryContainer": {"ModelPackageName": versions[0]}})
    variant = {"VariantName": "A", "ModelName": "m"}
    with pytest.raises(NotFoundError, match="model 'nope'"):
        serving.create_endpoint_config(
            {"EndpointConfigName": "c", "ProductionVariants": [{"VariantName": "A", "ModelName": "nope"}]}
        )
    with pytest.raises(ValidationError, match="InitialVariantWeight"):
        serving.create_endpoint_config(
            {"EndpointConfigName": "c", "ProductionVariants": [{**variant, "InitialVariantWeight": -1}]}
        )
    with pytest.raises(ValidationError, match="unique"):
        serving.create_endpoint_config({"EndpointConfigName": "c", "ProductionVariants": [variant, variant]})
    with pytest.raises(ValidationError, match="InitialSamplingPercentage"):
        serving.create_endpoint_config(
            {
                "EndpointConfigName": "c",
                "ProductionVariants": [variant],
                "DataCaptureConfig": {"EnableCapture": True},
            }
        )
    assert serving.list_endpoint_configs() == []
    with pytest.raises(NotFoundError):
        serving.create_endpoint({"EndpointName": "e", "EndpointConfigName": "c"})
    assert serving.list_endpoints() == []


def test_traffic_follows_weights_and_the_target_variant_header(
    kb: kibako.Kibako, host: Host, versions: tuple[str, str]
) -> None:
    desc = kb.endpoints.deploy("churn-ep", {"A": (versions[0], 3), "B": (versions[1], 1)})
    assert desc["EndpointStatus"] == "InService"
    assert [(v["VariantName"], v["CurrentWeight"]) for v in desc["ProductionVariants"]] == [
        ("A", 3.0),
        ("B", 1.0),
    ]
    served = Counter(kb.endpoints.invoke("churn-ep", ROW).variant for _ in range(400))
    assert set(served) == {"A", "B"}
    assert 0.6 < served["A"] / 400 < 0.9  # 0.75 expected; 400 draws keep this far from flaky
    pinned = kb.endpoints.invoke("churn-ep", ROW, target_variant="B")
    assert pinned.variant == "B"
    assert pinned.text().strip() != kb.endpoints.invoke("churn-ep", ROW, target_variant="A").text().strip()
    answer = kb.endpoints.invoke(
        "churn-ep", json.dumps({"instances": [[0.9, 0.1, 0.2, 0.3]]}), content_type="application/json"
    )
    assert "predictions" in answer.json()
    with pytest.raises(ValidationError, match="400"):
        kb.endpoints.invoke("churn-ep", ROW, target_variant="C")


def test_errors_keep_their_http_meaning_and_the_endpoint_keeps_serving(
    kb: kibako.Kibako, host: Host, tmp_path: Path
) -> None:
    folder = tmp_path / "sm"
    save_model(folder)
    (folder / "code").mkdir()
    (folder / "code" / "inference.py").write_text(RAISING_INFERENCE)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    kb.models.import_model(archive, "guarded", sample=ROW)
    kb.endpoints.deploy("guarded-ep", {"A": "guarded/1"})
    with pytest.raises(ValidationError, match="400"):
        kb.endpoints.invoke("guarded-ep", "1,2,abc,4")
    with pytest.raises(UnsupportedMediaTypeError, match="415"):
        kb.endpoints.invoke("guarded-ep", ROW, content_type="image/png")
    with pytest.raises(kibako.KibakoError, match="500.*negative input"):
        kb.endpoints.invoke("guarded-ep", "-1,0,0,0")
    assert kb.endpoints.invoke("guarded-ep", ROW).variant == "A"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        metrics = kb.endpoints.metrics("guarded-ep")
        if "A/Invocation5XXErrors" in metrics and sum(metrics["A/Invocation5XXErrors"].values) >= 1:
            break
        time.sleep(0.2)
    assert sum(metrics["A/Invocation5XXErrors"].values) == 1
    assert sum(metrics["A/Invocation4XXErrors"].values) == 2
    assert sum(metrics["A/Invocations"].values) >= 4
    assert "A/ModelLatency" in metrics and "A/ModelLatencyP99" in metrics  # microseconds, per window


def test_capture_writes_sagemaker_records_per_variant_and_hour(
    kb: kibako.Kibako, host: Host, versions: tuple[str, str]
) -> None:
    kb.endpoints.deploy("cap-ep", {"A": versions[0]}, shadow={"S": versions[1]}, capture_percent=100)
    for i in range(20):
        kb.endpoints.invoke("cap-ep", ROW, inference_id=f"req-{i}")
    kb.endpoints.delete("cap-ep")  # a clean stop flushes every record
    lines = capture_lines(kb, "cap-ep")
    assert len(lines["A"]) == 20
    record = lines["A"][0]
    assert record["eventVersion"] == "0"
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": ROW,
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["mode"] == "OUTPUT"
    assert {r["eventMetadata"]["inferenceId"] for r in lines["A"]} == {f"req-{i}" for i in range(20)}
    assert len(lines["S"]) == 20  # the shadow got a copy of every request; its answers were never returned
    hour_folders = {
        f.parent.relative_to(Path(kb.config.artifact_uri)).parts[3:]
        for f in Path(kb.config.artifact_uri, "data-capture", "cap-ep", "A").rglob("*.jsonl")
    }
    assert all(len(parts) == 4 and len(parts[0]) == 4 for parts in hour_folders)  # yyyy/mm/dd/hh


def test_weights_and_configs_change_without_dropping_requests(
    kb: kibako.Kibako, host: Host, versions: tuple[str, str], tmp_path: Path
) -> None:
    kb.endpoints.deploy("live-ep", {"A": (versions[0], 1), "B": (versions[1], 0)})
    failures: list[BaseException] = []
    served: Counter[str] = Counter()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                served[kb.endpoints.invoke("live-ep", ROW).variant] += 1
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        assert set(served) == {"A"}  # weight 0: B gets nothing
        desc = kb.endpoints.update_weights("live-ep", {"A": 0, "B": 1})
        assert [v["CurrentWeight"] for v in desc["ProductionVariants"]] == [0.0, 1.0]
        served.clear()
        time.sleep(0.3)
        assert set(served) == {"B"}
        serving = kb.endpoints.service
        serving.create_model({"ModelName": "c-model", "PrimaryContainer": {"ModelPackageName": versions[0]}})
        serving.create_endpoint_config(
            {
                "EndpointConfigName": "live-2",
                "ProductionVariants": [{"VariantName": "C", "ModelName": "c-model"}],
            }
        )
        desc = kb.endpoints.update("live-ep", "live-2")
        assert desc["EndpointConfigName"] == "live-2"
        served.clear()
        time.sleep(0.3)
        assert set(served) == {"C"}
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []


def test_a_config_that_does_not_load_rolls_back(
    kb: kibako.Kibako, host: Host, versions: tuple[str, str], tmp_path: Path
) -> None:
    kb.endpoints.deploy("rb-ep", {"A": versions[0]})
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a pickle")
    serving = kb.endpoints.service
    serving.create_model(
        {"ModelName": "broken", "PrimaryContainer": {"ModelDataUrl": str(broken), "Flavor": "sklearn"}}
    )
    serving.create_endpoint_config(
        {"EndpointConfigName": "rb-2", "ProductionVariants": [{"VariantName": "X", "ModelName": "broken"}]}
    )
    serving.update_endpoint({"EndpointName": "rb-ep", "EndpointConfigName": "rb-2"})
    desc = kb.endpoints.wait("rb-ep")
    assert desc["EndpointConfigName"] != "rb-2"
    assert "rolled back" in desc["FailureReason"]
    statuses = [
        e.detail["EndpointStatus"]
        for e in kb.events.list_events()
        if e.detail_type == "SageMaker Endpoint State Change"
    ]
    assert "ROLLING_BACK" in statuses and statuses[-1] == "IN_SERVICE"
    assert kb.endpoints.invoke("rb-ep", ROW).variant == "A"
    endpoint_id = kb.lineage.get_vertex(desc["EndpointArn"]).id
    served = kb.lineage.query(endpoint_id, direction="up", max_depth=1)
    assert {v.uri for v in served.vertices if v.kind == "Artifact"} == {
        kb.models.get(versions[0])["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    }, "the model that never loaded is not recorded as having served"
    with pytest.raises(NotFoundError, match="Could not find endpoint"):
        serving.update_endpoint({"EndpointName": "nope", "EndpointConfigName": "rb-2"})


def test_an_endpoint_comes_back_when_a_worker_returns(kb: kibako.Kibako, versions: tuple[str, str]) -> None:
    first = Host(kb)
    kb.endpoints.deploy("back-ep", {"A": versions[0]})
    assert kb.endpoints.invoke("back-ep", ROW).variant == "A"
    first.stop()
    desc = kb.endpoints.describe("back-ep")
    assert desc["EndpointStatus"] == "SystemUpdating"
    with pytest.raises(ConflictError, match="SystemUpdating"):
        kb.endpoints.invoke("back-ep", ROW)
    second = Host(kb)
    try:
        assert kb.endpoints.wait("back-ep", timeout=60)["EndpointStatus"] == "InService"
        assert kb.endpoints.invoke("back-ep", ROW).variant == "A"
    finally:
        second.stop()


def test_delete_frees_the_name_and_keeps_history(
    kb: kibako.Kibako, host: Host, versions: tuple[str, str]
) -> None:
    desc = kb.endpoints.deploy("del-ep", {"A": versions[0]})
    kb.endpoints.delete("del-ep")
    with pytest.raises(NotFoundError, match="Could not find endpoint"):
        kb.endpoints.describe("del-ep")
    assert kb.endpoints.list() == []
    assert kb.get_run(desc["RunId"]).status == "Completed"
    again = kb.endpoints.deploy("del-ep", {"A": versions[0]})
    assert again["EndpointStatus"] == "InService" and again["RunId"] != desc["RunId"]
