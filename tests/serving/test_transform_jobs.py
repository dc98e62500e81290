"""Batch transform jobs end to end: CreateTransformJob through the job queue, a real worker and a real sklearn
model; records, batching, joins and filters as SageMaker documents them; refusals, failures, stop, events."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import kibako
from kibako.cli._app import app
from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.jobs.worker import Worker
from kibako.store import schema

pytestmark = pytest.mark.slow

STATE_CHANGE = "SageMaker Transform Job State Change"
ROWS = 30
SLOW_MODEL = """
import time

def model_fn(model_dir):
    return "slow"

def predict_fn(data, model):
    time.sleep(0.3)
    return data[:, 0]
"""
BROKEN_MODEL = """
def model_fn(model_dir):
    return "broken"

def predict_fn(data, model):
    raise RuntimeError("the model is broken")
"""


@dataclass
class Fixture:
    """One store, one model, and the jobs every scenario test reads (run together by one worker)."""

    kb: kibako.Kibako
    root: Path
    features: Any  # the rows as a numpy array
    expected: list[int]  # model.predict(features)
    big_rows: int = 0
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def output(self, name: str, file: str) -> str:
        return (self.root / "out" / name / f"{file}.out").read_text()


def save_model(path: Path) -> Any:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    model = LogisticRegression().fit(x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int))
    joblib.dump(model, path)
    return model


def csv_rows(features: Any) -> list[str]:
    return [",".join(f"{v:.6f}" for v in row) for row in features]


def request(name: str, source: Path | str, output: Path, **options: Any) -> dict[str, Any]:
    """A CreateTransformJob request; ``options`` are top-level fields or TransformInput / TransformOutput /
    DataProcessing fields by their AWS names."""
    inputs = {k: options.pop(k) for k in ("ContentType", "SplitType", "CompressionType") if k in options}
    outputs = {k: options.pop(k) for k in ("Accept", "AssembleWith") if k in options}
    processing = {k: options.pop(k) for k in ("InputFilter", "OutputFilter", "JoinSource") if k in options}
    req: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": options.pop("ModelName", "scorer"),
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(source)}},
            **inputs,
        },
        "TransformOutput": {"S3OutputPath": str(output), **outputs},
        "TransformResources": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 1,
            "Cpus": 1,
            "MemoryInGiB": 1,
        },
        **options,
    }
    if processing:
        req["DataProcessing"] = processing
    return req


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    import numpy as np

    root = tmp_path_factory.mktemp("transform")
    kb = kibako.connect(home=str(root / "home"))
    kb.jobs.ensure_worker = lambda: None  # type: ignore[method-assign]  # this fixture runs the worker
    model = save_model(root / "model.joblib")
    kb.endpoints.service.create_model(
        {
            "ModelName": "scorer",
            "PrimaryContainer": {"ModelDataUrl": str(root / "model.joblib"), "Flavor": "sklearn"},
        }
    )
    features = np.random.default_rng(1).normal(size=(ROWS, 4))
    rows = csv_rows(features)
    fx = Fixture(kb, root, features, [int(p) for p in model.predict(features)])
    data = root / "data"
    data.mkdir()
    (data / "features.csv").write_text("\n".join(rows) + "\n")
    (data / "with_id.csv").write_text("".join(f"id-{i},{row}\n" for i, row in enumerate(rows)))
    (data / "records.jsonl").write_text(
        "".join(
            json.dumps({"id": f"r{i}", "features": list(map(float, f))}) + "\n"
            for i, f in enumerate(features)
        )
    )
    (data / "lists.jsonl").write_text("".join(json.dumps(list(map(float, f))) + "\n" for f in features))
    big = np.random.default_rng(2).normal(size=(60_000, 4))  # about 2.6 MB of CSV
    (data / "big.csv").write_text("\n".join(csv_rows(big)) + "\n")
    fx.big_rows = len(big)
    folder = data / "folder"
    (folder / "sub").mkdir(parents=True)
    for name, part in (("a.csv", rows[:10]), ("b.csv", rows[10:20]), ("sub/c.csv", rows[20:])):
        (folder / name).write_text("\n".join(part) + "\n")
    with gzip.open(data / "features.csv.gz", "wt") as f:
        f.write("\n".join(rows) + "\n")
    broken = root / "broken-model"
    (broken / "code").mkdir(parents=True)
    (broken / "code" / "inference.py").write_text(BROKEN_MODEL)
    kb.endpoints.service.create_model(
        {"ModelName": "broken", "PrimaryContainer": {"ModelDataUrl": str(broken)}}
    )
    bad = rows[:5]
    bad[2] = "1.0,abc,2.0,3.0"
    (data / "bad.csv").write_text("\n".join(bad) + "\n")

    out = root / "out"
    csv_line = {"ContentType": "text/csv", "SplitType": "Line", "AssembleWith": "Line"}
    jsonl = {"ContentType": "application/jsonlines", "SplitType": "Line", "AssembleWith": "Line"}
    submitted = [
        request("multi", data / "features.csv", out / "multi", **csv_line, BatchStrategy="MultiRecord"),
        request("single", data / "features.csv", out / "single", **csv_line, BatchStrategy="SingleRecord"),
        request("payload", data / "big.csv", out / "payload", **csv_line, MaxPayloadInMB=1),
        request("whole", data / "features.csv", out / "whole", ContentType="text/csv"),
        request(
            "csv-join-id", data / "with_id.csv", out / "csv-join-id", **csv_line,
            InputFilter="$[1:]", JoinSource="Input", OutputFilter="$[0,-1]",
        ),
        request("csv-join-all", data / "features.csv", out / "csv-join-all", **csv_line, JoinSource="Input"),
        request(
            "json-join", data / "records.jsonl", out / "json-join", **jsonl,
            InputFilter="$.features", JoinSource="Input", Accept="application/jsonlines",
        ),
        request(
            "json-join-kept", data / "records.jsonl", out / "json-join-kept", **jsonl,
            InputFilter="$.features", JoinSource="Input", OutputFilter="$['id','SageMakerOutput']",
            Accept="application/json", BatchStrategy="SingleRecord", MaxConcurrentTransforms=4,
        ),
        request("json-lists", data / "lists.jsonl", out / "json-lists", **jsonl, JoinSource="Input"),
        request("folder", folder, out / "folder", **csv_line),
        request("bad", data / "bad.csv", out / "bad", **csv_line),
        request("gzip", data / "features.csv.gz", out / "gzip", **csv_line, CompressionType="Gzip"),
        request(
            "broken", data / "features.csv", out / "broken", **csv_line, ModelName="broken",
            ModelClientConfig={"InvocationsMaxRetries": 1},
        ),
    ]  # fmt: skip
    for req in submitted:
        kb.endpoints.service.create_transform_job(req)
    # The SDK's form, with a registry version in place of a model: a model named after the job is made from it.
    kb.models.register(str(root / "model.joblib"), "scorers", flavor="sklearn")
    kb.jobs.transform(
        "scorers/1", str(data / "features.csv"), str(out / "registry"), split_type="Line", assemble_with="Line",
        name="registry", wait=False,
    )  # fmt: skip
    Worker(kb.jobs._services, poll_seconds=0.05).run(until_idle=True)
    names = [req["TransformJobName"] for req in submitted] + ["registry"]
    fx.jobs = {name: kb.jobs.describe(name) for name in names}
    yield fx
    kb.close()


def completed(fx: Fixture, name: str) -> dict[str, Any]:
    desc = fx.jobs[name]
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    return desc


def requests_logged(fx: Fixture, name: str) -> str:
    return fx.kb.jobs.logs(name)


# -- records and batching ---------------------------------------------------------------------------------------


def test_csv_lines_give_one_prediction_per_line_in_order(fx: Fixture) -> None:
    desc = completed(fx, "multi")
    assert fx.output("multi", "features.csv").splitlines() == [str(p) for p in fx.expected]
    assert f"features.csv: {ROWS} record(s) in 1 request(s)" in fx.kb.jobs.logs("multi")
    assert desc["TransformJobArn"].endswith(":transform-job/multi")
    assert {"CreationTime", "TransformStartTime", "TransformEndTime"} <= set(desc)
    assert (desc["BatchStrategy"], desc["MaxPayloadInMB"], desc["MaxConcurrentTransforms"]) == (
        "MultiRecord",
        6,
        1,
    )
    assert desc["ModelDataUrl"] == str(fx.root / "model.joblib") and desc["Flavor"] == "sklearn"


def test_single_record_gives_the_same_answers_one_request_per_record(fx: Fixture) -> None:
    completed(fx, "single")
    assert fx.output("single", "features.csv") == fx.output("multi", "features.csv")
    assert f"features.csv: {ROWS} record(s) in {ROWS} request(s)" in fx.kb.jobs.logs("single")


def test_max_payload_splits_the_records_into_requests_that_fit(fx: Fixture) -> None:
    completed(fx, "payload")
    size_mb = (fx.root / "data" / "big.csv").stat().st_size / 2**20
    assert f"big.csv: {fx.big_rows} record(s) in {int(size_mb) + 1} request(s)" in fx.kb.jobs.logs("payload")
    lines = fx.output("payload", "big.csv").splitlines()
    assert len(lines) == fx.big_rows and set(lines) <= {"0", "1"}


def test_split_type_none_sends_the_whole_file_as_one_request(fx: Fixture) -> None:
    desc = completed(fx, "whole")
    assert desc["TransformInput"]["SplitType"] == "None" and desc["TransformOutput"]["AssembleWith"] == "None"
    assert fx.output("whole", "features.csv") == "".join(f"{p}\n" for p in fx.expected)
    assert "features.csv: 1 record(s) in 1 request(s)" in fx.kb.jobs.logs("whole")


def test_the_sdk_runs_a_registry_version_through_a_model_made_for_the_job(fx: Fixture) -> None:
    desc = completed(fx, "registry")
    assert desc["ModelName"] == "registry"
    assert desc["TransformInput"]["ContentType"] == "text/csv"  # read from the file's extension
    assert fx.kb.endpoints.service.describe_model("registry")["PrimaryContainer"]["ModelPackageArn"].endswith(
        "scorers/1"
    )
    assert fx.output("registry", "features.csv") == fx.output("multi", "features.csv")


def test_a_folder_gives_one_out_file_per_input_file(fx: Fixture) -> None:
    completed(fx, "folder")
    out = fx.root / "out" / "folder"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.csv.out", "b.csv.out", "sub/c.csv.out",
    ]  # fmt: skip
    answers = [fx.output("folder", f).splitlines() for f in ("a.csv", "b.csv", "sub/c.csv")]
    assert sum(answers, []) == [str(p) for p in fx.expected]


# -- joins and filters ------------------------------------------------------------------------------------------


def test_csv_input_filter_drops_the_id_and_the_output_filter_keeps_it_with_the_prediction(
    fx: Fixture,
) -> None:
    completed(fx, "csv-join-id")
    assert fx.output("csv-join-id", "with_id.csv").splitlines() == [
        f"id-{i},{p}" for i, p in enumerate(fx.expected)
    ]


def test_csv_join_appends_the_prediction_to_the_input_columns(fx: Fixture) -> None:
    completed(fx, "csv-join-all")
    rows = csv_rows(fx.features)
    assert fx.output("csv-join-all", "features.csv").splitlines() == [
        f"{row},{p}" for row, p in zip(rows, fx.expected, strict=True)
    ]


def test_json_lines_join_adds_a_sagemaker_output_key_to_each_record(fx: Fixture) -> None:
    completed(fx, "json-join")
    records = [json.loads(line) for line in fx.output("json-join", "records.jsonl").splitlines()]
    assert [r["SageMakerOutput"] for r in records] == fx.expected
    assert [r["id"] for r in records] == [f"r{i}" for i in range(ROWS)]
    assert records[0]["features"] == pytest.approx(list(fx.features[0]))


def test_json_output_filter_keeps_the_chosen_keys(fx: Fixture) -> None:
    completed(fx, "json-join-kept")
    records = [json.loads(line) for line in fx.output("json-join-kept", "records.jsonl").splitlines()]
    assert records == [{"id": f"r{i}", "SageMakerOutput": p} for i, p in enumerate(fx.expected)]


def test_a_json_record_that_is_not_an_object_is_joined_under_sagemaker_input(fx: Fixture) -> None:
    completed(fx, "json-lists")
    records = [json.loads(line) for line in fx.output("json-lists", "lists.jsonl").splitlines()]
    assert [sorted(r) for r in records[:1]] == [["SageMakerInput", "SageMakerOutput"]]
    assert [r["SageMakerOutput"] for r in records] == fx.expected
    assert records[3]["SageMakerInput"] == pytest.approx(list(fx.features[3]))


# -- failures, the queue, the graph and the outbox ------------------------------------------------------------------


def test_a_malformed_record_fails_the_job_naming_the_file_and_line(fx: Fixture) -> None:
    desc = fx.jobs["bad"]
    assert desc["TransformJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: bad.csv line 3:"), desc["FailureReason"]
    assert "'abc' is not a number" in desc["FailureReason"]
    summary = next(j for j in fx.kb.endpoints.service.list_transform_jobs() if j["TransformJobName"] == "bad")
    assert summary["FailureReason"] == desc["FailureReason"]


def test_a_model_that_fails_fails_the_job_after_its_retries(fx: Fixture) -> None:
    desc = fx.jobs["broken"]
    assert desc["TransformJobStatus"] == "Failed"
    assert desc["FailureReason"] == (
        f"AlgorithmError: features.csv lines 1-{ROWS}: the model failed: RuntimeError: the model is broken"
    )
    assert "retrying (1)" in fx.kb.jobs.logs("broken") and "retrying (2)" not in fx.kb.jobs.logs("broken")


def test_gzip_input_is_read_as_it_streams(fx: Fixture) -> None:
    completed(fx, "gzip")
    assert fx.output("gzip", "features.csv.gz") == fx.output("multi", "features.csv")


def test_transform_jobs_are_listed_with_the_other_jobs(fx: Fixture) -> None:
    listed = fx.kb.jobs.list(kind="TransformJob")
    assert {j["TransformJobName"] for j in listed} == set(fx.jobs)
    assert {j["JobType"] for j in fx.kb.jobs.list()} == {"TransformJob"}
    statuses = {
        j["TransformJobName"]: j["TransformJobStatus"] for j in fx.kb.endpoints.service.list_transform_jobs()
    }
    assert statuses == {name: d["TransformJobStatus"] for name, d in fx.jobs.items()}
    failed = fx.kb.endpoints.service.list_transform_jobs("Failed")
    assert sorted(j["TransformJobName"] for j in failed) == ["bad", "broken"]


def test_status_changes_are_transform_job_state_change_events(fx: Fixture) -> None:
    arn = fx.jobs["multi"]["TransformJobArn"]
    events = [e for e in fx.kb.events.list_events(detail_type=STATE_CHANGE, limit=1000) if arn in e.resources]
    assert events and all(e.source == "aws.sagemaker" for e in events)
    statuses = [e.detail["TransformJobStatus"] for e in events]
    assert statuses[0] == "InProgress" and statuses[-1] == "Completed" and statuses.count("Completed") == 1
    assert all(e.detail["TransformJobName"] == "multi" for e in events)


def test_the_input_and_the_model_contributed_and_the_output_was_produced(fx: Fixture) -> None:
    arn = fx.jobs["csv-join-id"]["TransformJobArn"]
    up = fx.kb.lineage.query(arn, direction="up", max_depth=1)
    assert {v.uri for v in up.vertices if v.kind == "Artifact"} == {
        str(fx.root / "data" / "with_id.csv"),
        str(fx.root / "model.joblib"),
    }
    down = fx.kb.lineage.query(arn, direction="down", max_depth=1)
    assert [v.uri for v in down.vertices if v.kind == "Artifact"] == [str(fx.root / "out" / "csv-join-id")]


def test_stopping_a_finished_transform_job_is_a_conflict_and_an_unknown_one_is_not_found(fx: Fixture) -> None:
    with pytest.raises(ConflictError, match="not in progress"):
        fx.kb.endpoints.service.stop_transform_job("multi")
    with pytest.raises(NotFoundError, match="no transform job named 'nope'"):
        fx.kb.endpoints.service.describe_transform_job("nope")


# -- refusals ---------------------------------------------------------------------------------------------------


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[kibako.Kibako]:
    client = kibako.connect()
    save_model(tmp_path / "model.joblib")
    client.endpoints.service.create_model(
        {"ModelName": "scorer", "PrimaryContainer": {"ModelDataUrl": str(tmp_path / "model.joblib")}}
    )
    (tmp_path / "in.csv").write_text("1,2,3,4\n")
    yield client
    client.close()


def job_rows(kb: kibako.Kibako) -> int:
    with kb.jobs._services.store.read() as conn:
        return conn.execute(select(func.count()).select_from(schema.jobs)).scalar_one()


REFUSED = {
    "unknown-model": ({"ModelName": "missing"}, "Could not find model 'missing'"),
    "recordio": ({"SplitType": "RecordIO"}, "SplitType RecordIO is not supported here"),
    "bad-split-type": ({"SplitType": "Lines"}, "SplitType must be one of None, Line"),
    "two-ranges": (
        {"InputFilter": "$[0:2,4:]", "ContentType": "text/csv", "SplitType": "Line"},
        "single range",
    ),
    "deep-scan": ({"InputFilter": "$..x", "ContentType": "application/json"}, "deep scan"),
    "name-on-csv": (
        {"InputFilter": "$.f", "ContentType": "text/csv", "SplitType": "Line"},
        "CSV record is an array",
    ),
    "csv-join-whole-file": (
        {"JoinSource": "Input", "ContentType": "text/csv"},
        "set TransformInput.SplitType to Line",
    ),
    "join-without-content-type": ({"JoinSource": "Input"}, "need CSV or JSON records"),
    "bad-join-source": ({"JoinSource": "Both"}, "JoinSource must be one of None, Input"),
    "bad-strategy": ({"BatchStrategy": "Batched"}, "BatchStrategy must be one of MultiRecord, SingleRecord"),
    "payload-over-100": ({"MaxPayloadInMB": 101}, "MaxPayloadInMB must be a whole number from 0 to 100"),
    "no-limit-with-lines": ({"MaxPayloadInMB": 0, "SplitType": "Line"}, "MaxPayloadInMB 0"),
    "concurrency-times-payload": ({"MaxConcurrentTransforms": 20}, "must not exceed 100 MB"),
    "bad-compression": ({"CompressionType": "Zip"}, "CompressionType must be one of None, Gzip"),
    "npy-lines": ({"Accept": "application/x-npy", "SplitType": "Line"}, "cannot be split back into records"),
    "bad-name": ({"TransformJobName": "bad_name"}, "TransformJobName 'bad_name' must be 1 to 63"),
    "data-capture": ({"DataCaptureConfig": {"DestinationS3Uri": "s3://b/c"}}, "DataCaptureConfig"),
    "too-many-retries": (
        {"ModelClientConfig": {"InvocationsMaxRetries": 5}},
        "InvocationsMaxRetries must be",
    ),
    "missing-input": ({"source": "missing.csv"}, "does not exist"),
    "missing-output": ({"output": ""}, "S3OutputPath is required"),
}


@pytest.mark.parametrize(("options", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_request_is_refused_with_its_reason_and_creates_nothing(
    kb: kibako.Kibako, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    options = dict(options)
    source = tmp_path / options.pop("source", "in.csv")
    output = options.pop("output", str(tmp_path / "out"))
    req = request("refused", source, Path(output) if output else output, **options)
    if not output:
        del req["TransformOutput"]["S3OutputPath"]
    with pytest.raises(ValidationError, match=message):
        kb.endpoints.service.create_transform_job(req)
    assert job_rows(kb) == 0
    assert kb.events.list_events(detail_type=STATE_CHANGE) == []


def test_a_name_in_use_is_refused(kb: kibako.Kibako, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb.jobs, "ensure_worker", lambda: None)
    req = request("taken", tmp_path / "in.csv", tmp_path / "out")
    kb.endpoints.service.create_transform_job(req)
    with pytest.raises(ConflictError, match="exists already"):
        kb.endpoints.service.create_transform_job(req)
    assert job_rows(kb) == 1


# -- stopping and the command line ------------------------------------------------------------------------------


def test_stopping_a_running_transform_job_stops_it(
    kb: kibako.Kibako, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kb.jobs, "ensure_worker", lambda: None)
    model = tmp_path / "slow-model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text(SLOW_MODEL)
    kb.endpoints.service.create_model({"ModelName": "slow", "PrimaryContainer": {"ModelDataUrl": str(model)}})
    (tmp_path / "many.csv").write_text("".join(f"{i},1,2,3\n" for i in range(200)))
    kb.jobs.transform(
        "slow", str(tmp_path / "many.csv"), str(tmp_path / "out"), split_type="Line", strategy="SingleRecord",
        name="to-stop", wait=False,
    )  # fmt: skip
    worker = Worker(kb.jobs._services, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "many.csv: started" not in kb.jobs.logs("to-stop"):
            assert time.monotonic() < deadline, kb.jobs.describe("to-stop")
            time.sleep(0.05)
        kb.endpoints.service.stop_transform_job("to-stop")
        assert kb.endpoints.service.describe_transform_job("to-stop")["TransformJobStatus"] == "Stopping"
        desc = kb.jobs.wait("to-stop", timeout=20)
    finally:
        worker.stop()
        thread.join(20)
    assert desc["TransformJobStatus"] == "Stopped"
    assert "SIGTERM" in kb.jobs.logs("to-stop")
    assert kb.get_run(desc["RunId"]).status == "Stopped"


def test_cli_start_wait_json_prints_describe_transform_job(tmp_path: Path) -> None:
    with kibako.connect() as client:
        save_model(tmp_path / "model.joblib")
        client.endpoints.service.create_model(
            {"ModelName": "cli-model", "PrimaryContainer": {"ModelDataUrl": str(tmp_path / "model.joblib")}}
        )
    (tmp_path / "rows.csv").write_text("0.5,0.1,0,0\n-2,-1,0,0\n")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "transform", "start", "--model", "cli-model", "--input", str(tmp_path / "rows.csv"),
            "--output", str(tmp_path / "out"), "--split-type", "Line", "--assemble-with", "Line",
            "--name", "cli-tx", "--wait", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    desc = json.loads(result.stdout)
    assert desc["TransformJobName"] == "cli-tx" and desc["TransformJobStatus"] == "Completed"
    assert desc["TransformInput"]["ContentType"] == "text/csv"  # read from the file's extension
    assert (tmp_path / "out" / "rows.csv.out").read_text() == "1\n0\n"
    listed = json.loads(runner.invoke(app, ["transform", "list", "--json"]).stdout)
    assert [j["TransformJobName"] for j in listed["TransformJobSummaries"]] == ["cli-tx"]
    described = json.loads(runner.invoke(app, ["transform", "describe", "cli-tx", "--json"]).stdout)
    assert described["TransformJobArn"] == desc["TransformJobArn"]
    jobs = runner.invoke(app, ["jobs", "list"])
    assert "cli-tx" in jobs.stdout and "TransformJob" in jobs.stdout
