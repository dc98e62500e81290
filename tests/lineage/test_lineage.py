"""Inputs, outputs and the lineage graph they make, through the SDK (embedded and remote)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import kibako
from kibako.lineage.render import render_text


def _dataset(tmp_path: Path, name: str = "train.csv", body: str = "a,b\n1,2\n") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_model_lineage_leads_back_to_its_dataset(kb: kibako.Kibako, tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    model = tmp_path / "model.pkl"
    model.write_bytes(b"weights")
    with kb.run("churn", name="train") as run:
        dataset_id = run.log_input(data)
        model_id = run.log_output(model)
    graph = kb.lineage.query(model_id, direction="up")
    assert [v.type for v in graph.vertices] == ["Model", "Run", "Dataset"]
    assert {(e.source_id, e.destination_id, e.type) for e in graph.edges} == {
        (run.id, model_id, "Produced"),
        (dataset_id, run.id, "ContributedTo"),
    }
    text = render_text(graph, "up")
    assert "Produced: Run train" in text and "ContributedTo: Dataset train.csv" in text


def test_same_bytes_under_two_paths_are_one_artifact(kb: kibako.Kibako, tmp_path: Path) -> None:
    first = _dataset(tmp_path, "a.csv")
    second = _dataset(tmp_path, "b.csv")
    with kb.run("churn") as r1:
        id1 = r1.log_input(first)
    with kb.run("churn") as r2:
        id2 = r2.log_input(second)
    assert id1 == id2
    down = kb.lineage.query(id1, direction="down", max_depth=1)
    assert {v.id for v in down.vertices if v.type == "Run"} == {r1.id, r2.id}


def test_changed_bytes_at_the_same_path_are_a_new_artifact(kb: kibako.Kibako, tmp_path: Path) -> None:
    path = _dataset(tmp_path, body="v1\n")
    with kb.run("churn") as run:
        old = run.log_input(path)
        path.write_text("v2\n")
        new = run.log_input(path)
    assert old != new
    assert len(kb.get_run(run.id).inputs) == 2


def test_folder_outputs_are_stored_and_digested(kb: kibako.Kibako, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00" * 100)
    (folder / "sub" / "config.json").write_text("{}")
    with kb.run("churn") as run:
        run.log_output(folder, type="Model")
    (output,) = kb.get_run(run.id).outputs
    assert output.digest.startswith("sha256:") and output.type == "Model"
    assert output.uri.endswith(f"runs/{run.id}/outputs/model")


def test_logged_artifacts_are_listed_and_readable(kb: kibako.Kibako, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("hello")
    with kb.run("churn") as run:
        key = run.log_artifact(report, artifact_path="reports")
    assert [e.key for e in kb.list_artifacts(run.id)] == [key]
    assert kb.artifacts.get_bytes(key) == b"hello"


def test_depth_limits_the_walk(kb: kibako.Kibako, tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    with kb.run("churn") as run:
        run.log_input(data)
        model_id = run.log_output(model)
    assert [v.type for v in kb.lineage.query(model_id, direction="up", max_depth=1).vertices] == [
        "Model",
        "Run",
    ]


def test_query_lineage_response_has_aws_shape(kb: kibako.Kibako, tmp_path: Path) -> None:
    with kb.run("churn") as run:
        run.log_input(_dataset(tmp_path))
    shape = kb.lineage.query(run.id, direction="up").to_query_lineage_response()
    assert {v["LineageType"] for v in shape["Vertices"]} == {"TrialComponent", "Artifact"}
    assert shape["Edges"][0]["AssociationType"] == "ContributedTo"
    assert shape["Edges"][0]["DestinationArn"].startswith("arn:aws:sagemaker:us-east-1:000000000000:")


def test_run_exports_as_openlineage_events(kb: kibako.Kibako, tmp_path: Path) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    with kb.run("churn", name="ol") as run:
        run.log_input(_dataset(tmp_path))
        run.log_output(model)
    start, end = kb.tracking.openlineage_events(run.id)
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    assert end["job"] == {"namespace": "kibako", "name": "churn.ol", "facets": {}}
    assert len(end["run"]["runId"]) == 36
    assert end["inputs"][0]["namespace"] == "file" and end["inputs"][0]["name"].endswith("train.csv")
    assert end["outputs"][0]["facets"]["version"]["datasetVersion"].startswith("sha256:")


def test_unknown_start_and_bad_direction_are_errors(kb: kibako.Kibako) -> None:
    with pytest.raises(kibako.NotFoundError):
        kb.lineage.query("missing")
    with kb.run("churn") as run:
        pass
    with pytest.raises(kibako.ValidationError, match="direction"):
        kb.lineage.query(run.id, direction="sideways")


def test_add_association_links_two_artifacts(kb: kibako.Kibako, tmp_path: Path) -> None:
    with kb.run("churn") as run:
        v1 = run.log_input(_dataset(tmp_path, "v1.csv", "1\n"))
        v2 = run.log_input(_dataset(tmp_path, "v2.csv", "1\n2\n"))
    kb.lineage.add_association(v1, v2, "DerivedFrom")  # AWS: the destination is a modification of the source
    up = kb.lineage.query(v2, direction="up", association_types=["DerivedFrom"])
    assert [v.id for v in up.vertices] == [v2, v1]
    with pytest.raises(kibako.ValidationError, match="association type"):
        kb.lineage.add_association(v2, v1, "Likes")


@pytest.mark.parametrize(
    "artifact_path", ["../escape", "/etc", "a/../../b"], ids=["dotdot", "absolute", "nested"]
)
def test_artifact_path_that_escapes_the_store_is_refused(
    kb: kibako.Kibako, tmp_path: Path, home: Path, artifact_path: str
) -> None:
    report = tmp_path / "r.txt"
    report.write_text("x")
    with kb.run("churn") as run:
        with pytest.raises(kibako.ValidationError, match="escape|absolute|\\.\\."):
            run.log_artifact(report, artifact_path=artifact_path)
    assert kb.list_artifacts(run.id) == []
    assert not (tmp_path / "escape").exists() and not (home / "escape").exists()


def test_lineage_filters_by_kind_and_time(kb: kibako.Kibako, tmp_path: Path) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"m")
    with kb.run("churn") as run:
        run.log_input(_dataset(tmp_path))
        model_id = run.log_output(model)
    artifacts_only = kb.lineage.query(run.id, kinds=["Artifact"])
    assert {v.type for v in artifacts_only.vertices} == {"Run", "Dataset", "Model"}, "the start always stays"
    assert all(v.kind == "Artifact" for v in artifacts_only.vertices[1:])
    created = kb.lineage.get_vertex(model_id).created
    assert [v.id for v in kb.lineage.query(run.id, created_after=created).vertices] == [run.id]
    before = kb.lineage.query(run.id, created_before=created + timedelta(seconds=1))
    assert {v.type for v in before.vertices} == {"Run", "Dataset", "Model"}


def test_structural_edges_are_walked_only_when_asked(kb: kibako.Kibako, tmp_path: Path) -> None:
    with kb.run("grouped", name="parent") as parent:
        with kb.run("grouped", name="child", parent=parent) as child:
            child.log_input(_dataset(tmp_path))
    data_flow = kb.lineage.query(child.id, direction="both")
    assert {v.type for v in data_flow.vertices} == {"Run", "Dataset"}, (
        "no experiment, no parent: not data flow"
    )
    structure = kb.lineage.query(child.id, direction="down", association_types=["MemberOf", "ChildOf"])
    assert {(v.type, v.name) for v in structure.vertices} == {
        ("Run", "child"),
        ("Run", "parent"),
        ("Experiment", "grouped"),
    }
