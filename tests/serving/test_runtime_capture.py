"""Data capture files in SageMaker's format, written in-process by the CaptureWriter."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from calendar import timegm
from pathlib import Path

import pytest

from kibako.serving.runtime.capture import CaptureWriter
from kibako.serving.runtime.config import CaptureConfig

FILE_NAME = re.compile(
    r"^\d{2}-\d{2}-\d{3}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)
WHEN = timegm((2022, 2, 14, 17, 25, 49, 0, 0, 0))  # 2022-02-14T17:25:49Z


def _writer(dest: Path | str, **options: object) -> CaptureWriter:
    return CaptureWriter("churn", CaptureConfig(destination=str(dest), **options))  # type: ignore[arg-type]


def _records(root: Path) -> list[dict]:
    return [
        json.loads(line) for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines()
    ]


def test_record_has_sagemakers_exact_shape_in_the_hourly_folder(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.record(
        "AllTraffic", b"1,2,3,4", "text/csv", b'{"predictions":[0]}', "application/json", "inf-1", WHEN
    )
    writer.close()
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 1
    assert files[0].parent == tmp_path / "churn" / "AllTraffic" / "2022" / "02" / "14" / "17"
    assert FILE_NAME.match(files[0].name), files[0].name
    (record,) = _records(tmp_path)
    event_id = record["eventMetadata"].pop("eventId")
    assert uuid.UUID(event_id).version == 4
    assert record == {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "1,2,3,4",
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"predictions":[0]}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {"inferenceId": "inf-1", "inferenceTime": "2022-02-14T17:25:49Z"},
        "eventVersion": "0",
    }
    assert list(json.loads(files[0].read_text())["eventMetadata"]) == [
        "eventId",
        "inferenceId",
        "inferenceTime",
    ]


def test_unlisted_content_types_are_base64_and_parameters_do_not_hide_a_listed_type(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.record("v", b"\x00\xffraw", "application/x-npy", b"1\n", "text/csv; charset=utf-8", when=WHEN)
    writer.record("v", b"\xff\xfe", "text/csv", b"ok", "text/plain", when=WHEN)  # listed but not UTF-8
    writer.close()
    first, second = _records(tmp_path)
    assert first["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(first["captureData"]["endpointInput"]["data"]) == b"\x00\xffraw"
    assert first["captureData"]["endpointOutput"]["encoding"] == "CSV"
    assert first["captureData"]["endpointOutput"]["observedContentType"] == "text/csv; charset=utf-8"
    assert second["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(second["captureData"]["endpointOutput"]["data"]) == b"ok"
    assert "inferenceId" not in first["eventMetadata"]


def test_custom_content_type_lists_and_capture_options_are_honoured(tmp_path: Path) -> None:
    writer = _writer(tmp_path, capture_output=False, csv_content_types=["text/x-rows"], json_content_types=[])
    writer.record("v", b"1,2", "text/x-rows", b"x", "text/csv", when=WHEN)
    writer.record("v", b'{"a":1}', "application/json", b"x", "text/csv", when=WHEN)
    writer.close()
    first, second = _records(tmp_path)
    assert list(first["captureData"]) == ["endpointInput"]  # CaptureOptions: Input only
    assert first["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert second["captureData"]["endpointInput"]["encoding"] == "BASE64"  # JSON no longer listed


def test_records_of_each_hour_and_variant_go_to_their_own_folder(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    for variant, when in [("A", WHEN), ("A", WHEN + 3600), ("B", WHEN), ("A", WHEN + 1)]:
        writer.record(variant, b"1", "text/csv", b"0", "text/csv", when=when)
    writer.close()
    counts = {
        p.parent.relative_to(tmp_path).as_posix(): len(p.read_text().splitlines())
        for p in tmp_path.rglob("*.jsonl")
    }
    assert counts == {"churn/A/2022/02/14/17": 2, "churn/A/2022/02/14/18": 1, "churn/B/2022/02/14/17": 1}


@pytest.mark.parametrize(("pct", "expected"), [(0, 0), (100, 200)], ids=["0-percent", "100-percent"])
def test_sampling_percentage_extremes_are_exact(pct: int, expected: int) -> None:
    writer = _writer("/nonexistent-never-written", sampling_percentage=pct)
    assert sum(writer.sampled() for _ in range(200)) == expected
    writer.close()


def test_sampling_percentage_keeps_about_that_share() -> None:
    writer = _writer("/nonexistent-never-written", sampling_percentage=30)
    kept = sum(writer.sampled() for _ in range(4000))
    writer.close()
    assert 0.25 < kept / 4000 < 0.35  # 30% +- 6 standard deviations


def test_background_thread_writes_without_a_flush_and_keeps_appending(tmp_path: Path) -> None:
    writer = CaptureWriter("churn", CaptureConfig(destination=str(tmp_path)), flush_interval_s=0.05)
    try:
        for _ in range(3):
            writer.record("A", b"1", "text/csv", b"0", "text/csv")
        deadline = time.monotonic() + 5
        while len(_records(tmp_path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_records(tmp_path)) == 3
        writer.record("A", b"2", "text/csv", b"0", "text/csv")
        writer.flush()
        assert len(_records(tmp_path)) == 4
        assert len(list(tmp_path.rglob("*.jsonl"))) == 1  # same hour, same file
    finally:
        writer.close()


def test_files_rotate_when_they_pass_the_size_limit(tmp_path: Path) -> None:
    writer = CaptureWriter(
        "churn", CaptureConfig(destination=str(tmp_path)), max_file_bytes=1, flush_interval_s=0.02
    )
    try:
        for i in range(3):
            writer.record("A", str(i).encode(), "text/csv", b"0", "text/csv")
            deadline = (
                time.monotonic() + 5
            )  # the background thread writes the line, then rotates the full file
            while (
                len(list(tmp_path.rglob("*.jsonl"))) <= i or writer._files
            ) and time.monotonic() < deadline:
                time.sleep(0.005)
    finally:
        writer.close()
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 3
    assert all(len(f.read_text().splitlines()) == 1 for f in files)


def test_remote_destination_uploads_closed_files_and_empties_the_spool(tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    dest = f"memory://capture-{uuid.uuid4().hex}"
    spool = tmp_path / "spool"
    writer = CaptureWriter("churn", CaptureConfig(destination=dest), spool_root=spool)
    writer.record("A", b"1,2", "text/csv", b"0", "text/csv", "id-9", WHEN)
    writer.close()
    (uploaded,) = fs.find(dest.removeprefix("memory://"))
    assert "/churn/A/2022/02/14/17/" in uploaded
    record = json.loads(fs.cat_file(uploaded).decode())
    assert record["eventMetadata"]["inferenceId"] == "id-9"
    assert not list(spool.rglob("*.jsonl"))


def test_spool_files_left_by_a_crash_are_uploaded_at_start_without_their_cut_line(tmp_path: Path) -> None:
    import hashlib

    import fsspec

    fs = fsspec.filesystem("memory")
    dest = f"memory://capture-{uuid.uuid4().hex}"
    spool = tmp_path / "spool"
    folder = (
        spool / hashlib.sha256(dest.encode()).hexdigest()[:16] / "churn" / "A" / "2022" / "02" / "14" / "17"
    )
    folder.mkdir(parents=True)
    whole = json.dumps({"captureData": {}, "eventMetadata": {"eventId": "e1"}, "eventVersion": "0"})
    (folder / "25-49-000-left.jsonl").write_text(whole + "\n" + whole[:20])  # the crash cut the last line
    writer = CaptureWriter("churn", CaptureConfig(destination=dest), spool_root=spool)
    writer.close()
    (uploaded,) = fs.find(dest.removeprefix("memory://"))
    assert uploaded.endswith("churn/A/2022/02/14/17/25-49-000-left.jsonl")
    assert fs.cat_file(uploaded).decode() == whole + "\n"
    assert not list(spool.rglob("*.jsonl"))
