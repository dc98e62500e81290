"""The batch transform runtime in process, with small handlers: the corners the end-to-end jobs do not reach."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kibako.inference.handler import Handler
from kibako.jobs.transform import settings
from kibako.serving.batch import BatchError, Transformer, input_files


class SumModel(Handler):
    """Predicts the sum of each row, through kibako's own codecs (CSV and JSON in, CSV and JSON out)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.bodies: list[bytes] = []

    def invoke(self, body: bytes, content_type: str, accept: str | None = None) -> tuple[bytes, str]:
        self.bodies.append(body)
        time.sleep(self.delay)
        return super().invoke(body, content_type, accept)

    def predict(self, data: Any) -> Any:
        return data.sum(axis=1)


class Opaque:
    """Answers every request with one blob that cannot be split into records."""

    def invoke(self, body: bytes, content_type: str, accept: str | None = None) -> tuple[bytes, str]:
        return b"<blob>", "application/octet-stream"


def run(tmp_path: Path, handler: Any, text: str, name: str = "in.txt", **options: Any) -> str:
    """Transform one file holding ``text`` with a request made of ``options`` (AWS field names); its output."""
    source = {k: options.pop(k) for k in ("ContentType", "SplitType", "CompressionType") if k in options}
    output = {k: options.pop(k) for k in ("Accept", "AssembleWith") if k in options}
    processing = {k: options.pop(k) for k in ("InputFilter", "OutputFilter", "JoinSource") if k in options}
    request = {
        "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": "in"}}, **source},
        "TransformOutput": {"S3OutputPath": "out", **output},
        "DataProcessing": processing,
        **options,
    }
    (tmp_path / name).write_text(text)
    Transformer(handler, settings(request), tmp_path / "out").run([(tmp_path / name, name)])
    return (tmp_path / "out" / f"{name}.out").read_text()


def test_a_whole_json_file_is_joined_with_the_whole_answer(tmp_path: Path) -> None:
    out = run(
        tmp_path, SumModel(), json.dumps({"instances": [[1, 2], [3, 4]], "id": 9}),
        ContentType="application/json", JoinSource="Input", AssembleWith="Line",
    )  # fmt: skip
    assert json.loads(out) == {
        "instances": [[1, 2], [3, 4]],
        "id": 9,
        "SageMakerOutput": {"predictions": [3, 7]},
    }
    assert out.endswith("\n")


def test_assemble_with_none_concatenates_the_answers_as_they_are(tmp_path: Path) -> None:
    model = SumModel()
    out = run(
        tmp_path,
        model,
        "1,2\n3,4\n5,6\n",
        ContentType="text/csv",
        SplitType="Line",
        BatchStrategy="SingleRecord",
    )
    assert out == "3.0\n7.0\n11.0\n" and model.bodies == [b"1,2", b"3,4", b"5,6"]


def test_json_scalars_and_blank_lines_are_records_of_one_feature(tmp_path: Path) -> None:
    model = SumModel()
    out = run(
        tmp_path,
        model,
        "1\n\n2.5\n",
        ContentType="application/jsonlines",
        SplitType="Line",
        AssembleWith="Line",
    )
    assert model.bodies == [b"[[1],[2.5]]"]
    assert out.splitlines() == ["1.0", "2.5"]


def test_an_answer_that_cannot_be_split_cannot_be_joined(tmp_path: Path) -> None:
    with pytest.raises(
        BatchError, match=r"in.txt lines 1-2: the model answered application/octet-stream that"
    ):
        run(tmp_path, Opaque(), "1,2\n3,4\n", ContentType="text/csv", SplitType="Line", JoinSource="Input")


def test_an_answer_that_cannot_be_split_is_written_whole_without_a_join(tmp_path: Path) -> None:
    out = run(tmp_path, Opaque(), "1,2\n3,4\n", ContentType="text/csv", SplitType="Line", AssembleWith="Line")
    assert out == "<blob>\n"


def test_a_record_above_max_payload_names_its_line(tmp_path: Path) -> None:
    text = "1,2\n" + ",".join(["1"] * 600_000) + "\n"
    with pytest.raises(
        BatchError, match=r"in.txt line 2: the record is 1.14 MB, larger than MaxPayloadInMB \(1\)"
    ):
        run(tmp_path, SumModel(), text, ContentType="text/csv", SplitType="Line", MaxPayloadInMB=1)


def test_a_whole_file_above_max_payload_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="in.txt is 1.1 MB, larger than MaxPayloadInMB"):
        run(tmp_path, SumModel(), ",".join(["1"] * 600_000), ContentType="text/csv", MaxPayloadInMB=1)


def test_a_model_slower_than_the_invocation_timeout_fails_the_job(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match=r"did not answer within InvocationsTimeoutInSeconds \(1 s\)"):
        run(
            tmp_path, SumModel(delay=3), "1,2\n", ContentType="text/csv", SplitType="Line",
            ModelClientConfig={"InvocationsTimeoutInSeconds": 1},
        )  # fmt: skip


def test_an_output_filter_without_a_join_selects_from_each_answer(tmp_path: Path) -> None:
    model = SumModel()
    model.predict = lambda data: data * 10  # type: ignore[method-assign]  # two answer columns per record
    out = run(
        tmp_path, model, "1,2\n3,4\n", ContentType="text/csv", SplitType="Line", AssembleWith="Line",
        Accept="application/json", OutputFilter="$[1]",
    )  # fmt: skip
    assert out.splitlines() == ["20.0", "40.0"]
    out = run(
        tmp_path, model, "1,2\n3,4\n", ContentType="text/csv", SplitType="Line", AssembleWith="Line",
        Accept="text/csv", OutputFilter="$[1]",
    )  # fmt: skip
    assert out.splitlines() == ["20.0", "40.0"]


def test_several_instances_share_the_files_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for name in ("a", "b", "c", "sub/d"):
        (data / name).write_text("x")
    config = tmp_path / "config"
    config.mkdir()
    shares = []
    for host in ("algo-1", "algo-2"):
        (config / "resourceconfig.json").write_text(
            json.dumps({"current_host": host, "hosts": ["algo-1", "algo-2"]})
        )
        shares.append([name for _, name in input_files(data, config)])
    assert shares == [["a", "c"], ["b", "sub/d"]]
