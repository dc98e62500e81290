"""Processing jobs: inputs under /opt/ml/processing, outputs uploaded at the end, AWS-shaped events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

import kibako
from kibako.errors import ValidationError
from kibako.jobs import sandbox
from kibako.store import schema

SCRIPTS = Path(__file__).parent / "scripts"
STATE_CHANGE = "SageMaker Processing Job State Change"


@pytest.fixture
def kb() -> Iterator[kibako.Kibako]:
    client = kibako.connect()
    yield client
    client.close()


@pytest.fixture
def raw_csv(tmp_path: Path) -> Path:
    path = tmp_path / "raw.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i * i}\n" for i in range(8)))
    return path


def test_a_processing_job_uploads_its_outputs_to_the_default_location(
    kb: kibako.Kibako, raw_csv: Path
) -> None:
    job = kb.jobs.process(
        str(SCRIPTS / "prep.py"),
        inputs={str(raw_csv): "/opt/ml/processing/input/data"},
        outputs={"/opt/ml/processing/output/train": "", "/opt/ml/processing/output/test": ""},
        arguments=[
            "--input",
            "/opt/ml/processing/input/data",
            "--output",
            "/opt/ml/processing/output",
            "--test-ratio",
            "0.25",
        ],
        name="prep",
    )
    d = job.description
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["ProcessingJobName"] == "prep" and d["ProcessingJobArn"].endswith(":processing-job/prep")
    assert {"CreationTime", "ProcessingStartTime", "ProcessingEndTime"} <= set(d)
    root = Path(kb.config.artifact_uri) / "jobs" / "prep" / "output"
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in d["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {"output-1": str(root / "output-1"), "output-2": str(root / "output-2")}
    train = (root / "output-1" / "train.csv").read_text().splitlines()
    test = (root / "output-2" / "test.csv").read_text().splitlines()
    assert train[0] == test[0] == "x,y" and (len(train) - 1, len(test) - 1) == (6, 2)
    assert "rows=8 train=6 test=2" in job.logs()
    # The outputs are artifacts the job produced.
    down = kb.lineage.query(d["ProcessingJobArn"], direction="down", max_depth=1)
    assert sorted(v.uri for v in down.vertices if v.kind == "Artifact") == sorted(outputs.values())
    # And it ran in its own run, ended with its status.
    assert kb.get_run(d["RunId"]).status == "Completed"


def test_outputs_go_where_the_request_says(kb: kibako.Kibako, raw_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "bucket" / "train"
    job = kb.jobs.process(
        str(SCRIPTS / "prep.py"),
        inputs={str(raw_csv): "/opt/ml/processing/input/data"},
        outputs={"/opt/ml/processing/output/train": str(target)},
        arguments=["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output"],
    )
    assert job.status == "Completed"
    assert (target / "train.csv").is_file()
    assert not (Path(kb.config.artifact_uri) / "jobs" / job.name / "output").exists()


@pytest.mark.skipif(
    sandbox.method() is None,
    reason="this machine cannot give a job a private /opt/ml (needs root for `unshare -m`, or bubblewrap)",
)
def test_a_processing_script_with_its_default_container_paths_runs(kb: kibako.Kibako, raw_csv: Path) -> None:
    job = kb.jobs.process(
        str(SCRIPTS / "prep.py"),
        inputs={str(raw_csv): "/opt/ml/processing/input/data"},
        outputs={"/opt/ml/processing/output/test": ""},
    )
    assert job.status == "Completed", job.description.get("FailureReason")
    uploaded = Path(kb.config.artifact_uri) / "jobs" / job.name / "output" / "output-1" / "test.csv"
    assert len(uploaded.read_text().splitlines()) == 1 + 2


def test_processing_status_changes_are_processing_job_state_change_events(
    kb: kibako.Kibako, raw_csv: Path
) -> None:
    job = kb.jobs.process(
        str(SCRIPTS / "prep.py"),
        inputs={str(raw_csv): "/opt/ml/processing/input/data"},
        outputs={"/opt/ml/processing/output/train": ""},
        arguments=["--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output"],
    )
    arn = job.description["ProcessingJobArn"]
    events = [e for e in kb.events.list_events(detail_type=STATE_CHANGE, limit=1000) if arn in e.resources]
    assert events and all(e.source == "aws.sagemaker" for e in events)
    statuses = [e.detail["ProcessingJobStatus"] for e in events]
    assert statuses[0] == "InProgress" and statuses[-1] == "Completed" and statuses.count("Completed") == 1
    assert all(e.detail["ProcessingJobName"] == job.name for e in events)
    assert kb.events.list_events(detail_type="SageMaker Training Job State Change") == []


def test_a_failing_processing_job_is_failed_with_its_reason(kb: kibako.Kibako, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nprint('cannot parse the input', flush=True)\nsys.exit(5)\n")
    job = kb.jobs.process(str(bad))
    d = job.description
    assert d["ProcessingJobStatus"] == "Failed"
    assert "code 5" in d["FailureReason"] and "cannot parse the input" in d["FailureReason"]
    assert kb.get_run(d["RunId"]).status == "Failed"


@pytest.mark.parametrize(
    "local_path",
    ["/tmp/output", "/opt/ml/model", "/opt/ml/processing", "/opt/ml/processing/../model", "relative"],
)
def test_a_local_path_outside_opt_ml_processing_is_refused(
    kb: kibako.Kibako, raw_csv: Path, local_path: str
) -> None:
    with pytest.raises(ValidationError, match="/opt/ml/processing"):
        kb.jobs.process(str(SCRIPTS / "prep.py"), outputs={local_path: ""}, name="refused")
    with pytest.raises(ValidationError, match="/opt/ml/processing"):
        kb.jobs.process(str(SCRIPTS / "prep.py"), inputs={str(raw_csv): local_path}, name="refused")
    with kb.jobs._services.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(schema.executions)).scalar_one() == 0
    assert kb.jobs.list() == []


def test_a_processing_input_that_does_not_exist_is_refused(kb: kibako.Kibako, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        kb.jobs.process(
            str(SCRIPTS / "prep.py"), inputs={str(tmp_path / "missing.csv"): "/opt/ml/processing/input/data"}
        )
    assert kb.jobs.list() == []


def test_the_processing_job_sees_its_config_files(kb: kibako.Kibako, tmp_path: Path) -> None:
    show = tmp_path / "show.py"
    show.write_text(
        "import json, os, sys\n"
        "config = sys.argv[1]\n"
        "out = sys.argv[2]\n"
        "os.makedirs(out, exist_ok=True)\n"
        "job = json.load(open(os.path.join(config, 'processingjobconfig.json')))\n"
        "res = json.load(open(os.path.join(config, 'resourceconfig.json')))\n"
        "json.dump({'name': job['ProcessingJobName'], 'host': res['current_host']}, open(os.path.join(out, 'seen.json'), 'w'))\n"
    )
    job = kb.jobs.process(
        str(show),
        arguments=["/opt/ml/config", "/opt/ml/processing/output/seen"],
        outputs={"/opt/ml/processing/output/seen": ""},
        name="configured",
    )
    assert job.status == "Completed", job.description.get("FailureReason")
    seen = Path(kb.config.artifact_uri) / "jobs" / "configured" / "output" / "output-1" / "seen.json"
    assert json.loads(seen.read_text()) == {"name": "configured", "host": "algo-1"}


def test_an_input_folder_holding_the_jobs_own_folder_fails_with_a_reason(
    kb: kibako.Kibako, tmp_path: Path
) -> None:
    # tmp_path holds KIBAKO_HOME, where the job's folder is made: copying it in would never end.
    job = kb.jobs.process(str(SCRIPTS / "prep.py"), inputs={str(tmp_path): "/opt/ml/processing/input/data"})
    d = job.description
    assert d["ProcessingJobStatus"] == "Failed"
    assert (
        d["FailureReason"].startswith("ClientError:") and "holds the job's own folder" in d["FailureReason"]
    )
