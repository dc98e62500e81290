"""The runtime process over HTTP: /ping, routing, the error statuses, shadows, capture and stats.

One runtime serves most tests here (module scope): each test counts only its own requests (it drains the
stats first, or filters capture records by its own inference ids). Processes are real:
``python -m kibako.serving.runtime`` on a free loopback port.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.serving._runtime_helpers import (
    ROW,
    KeepAlive,
    Runtime,
    capture_lines,
    config,
    save_sklearn_model,
    variant,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runtime")
    model = root / "model"
    save_sklearn_model(model)
    slow = root / "slow"
    slow.mkdir()
    return {"root": root, "model": model, "slow": slow, "capture": root / "capture"}


@pytest.fixture(scope="module")
def server(folders: dict[str, Path]) -> Iterator[Runtime]:
    document = config(
        [
            variant("A", folders["model"], 3),
            variant("B", folders["model"], 1),
            variant("Broken", folders["root"], 0, flavor="test-raise"),
            variant("Slow", folders["slow"], 0, flavor="test-slow"),
        ],
        capture={"enabled": True, "sampling_percentage": 100, "destination": str(folders["capture"])},
    )
    runtime = Runtime(folders["root"], document)
    yield runtime
    assert runtime.stop() == 0


def _error(reply: Any) -> dict[str, str]:
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"ErrorCode", "Message"}
    return body


def test_ping_is_200_once_every_model_is_loaded(server: Runtime) -> None:
    reply = server.get("/ping")
    assert (reply.status, reply.body) == (200, b"")


def test_traffic_splits_by_weight(server: Runtime) -> None:
    server.stats(drain=True)
    client = KeepAlive(server.port)
    seen: Counter[str] = Counter()
    for _ in range(1000):
        reply = client.post("/invocations", ROW, {"Content-Type": "text/csv"})
        assert reply.status == 200
        seen[reply.headers["x-amzn-invoked-production-variant"]] += 1
    client.close()
    assert set(seen) == {"A", "B"}  # weight-0 variants get no traffic unless targeted
    assert 0.70 < seen["A"] / 1000 < 0.80  # 3:1 is 75%; +-5 points is over 3.6 standard deviations
    variants = server.stats(drain=True)["Variants"]
    assert variants["A"]["Invocations"] == seen["A"] and variants["B"]["Invocations"] == seen["B"]


def test_target_variant_header_pins_the_variant_and_the_answer_names_it(server: Runtime) -> None:
    for name in ("B", "A", "B"):
        reply = server.invoke(**{"X-Amzn-SageMaker-Target-Variant": name})
        assert reply.status == 200
        assert reply.headers["x-amzn-invoked-production-variant"] == name
        assert reply.headers["content-type"] == "text/csv"
        assert reply.body.strip() in (b"0", b"1")


def test_unknown_target_variant_is_400_listing_the_variants(server: Runtime) -> None:
    reply = server.invoke(**{"X-Amzn-SageMaker-Target-Variant": "Nope"})
    assert reply.status == 400
    body = _error(reply)
    assert body["ErrorCode"] == "ValidationError"
    assert "'Nope'" in body["Message"] and "A, B, Broken, Slow" in body["Message"]


def test_malformed_csv_is_400_with_the_decoders_message(server: Runtime) -> None:
    reply = server.invoke(b"5.1,3.5,oops,0.2")
    assert reply.status == 400
    body = _error(reply)
    assert body["ErrorCode"] == "ValidationError" and "'oops' is not a number" in body["Message"]


def test_unsupported_content_type_is_415(server: Runtime) -> None:
    reply = server.invoke(b"<row/>", "application/xml")
    assert reply.status == 415
    assert _error(reply)["ErrorCode"] == "UnsupportedMediaType"


def test_model_error_is_500_counted_per_variant_and_serving_goes_on(server: Runtime) -> None:
    server.stats(drain=True)
    reply = server.invoke(b"x", **{"X-Amzn-SageMaker-Target-Variant": "Broken"})
    assert reply.status == 500
    body = _error(reply)
    assert body["ErrorCode"] == "ModelError" and "boom: the model is broken" in body["Message"]
    assert server.invoke(**{"X-Amzn-SageMaker-Target-Variant": "A"}).status == 200
    variants = server.stats(drain=True)["Variants"]
    assert variants["Broken"]["Invocation5XXErrors"] == 1 and variants["Broken"]["Invocations"] == 1
    assert variants["A"]["Invocation5XXErrors"] == 0 and variants["A"]["Invocations"] == 1


def test_body_over_6_mb_is_413(server: Runtime) -> None:
    reply = server.invoke(b"1" * (6 * 1024 * 1024 + 1))
    assert reply.status == 413
    assert _error(reply)["ErrorCode"] == "PayloadTooLarge"
    assert server.invoke().status == 200


def test_inference_id_longer_than_64_characters_is_400(server: Runtime) -> None:
    reply = server.invoke(**{"X-Amzn-SageMaker-Inference-Id": "x" * 65})
    assert reply.status == 400 and "1-64" in _error(reply)["Message"]


def test_slow_model_does_not_block_ping_or_other_variants(server: Runtime, folders: dict[str, Path]) -> None:
    started = folders["slow"] / "started"
    started.unlink(missing_ok=True)
    answers: list[int] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            server.invoke(b"1.5", "text/plain", **{"X-Amzn-SageMaker-Target-Variant": "Slow"}).status
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert started.exists()
    t0 = time.monotonic()
    assert server.get("/ping").status == 200
    assert server.invoke(**{"X-Amzn-SageMaker-Target-Variant": "A"}).status == 200
    assert time.monotonic() - t0 < 1.0  # the slow model sleeps 1.5 s
    thread.join(10)
    assert answers == [200]


def test_capture_keeps_the_inference_id_and_the_exact_bodies(
    server: Runtime, folders: dict[str, Path]
) -> None:
    reply = server.invoke(
        **{"X-Amzn-SageMaker-Inference-Id": "req-42", "X-Amzn-SageMaker-Target-Variant": "B"}
    )
    assert reply.status == 200
    assert server.admin("POST", "flush").json() == {"Flushed": True}
    (record,) = [
        r for r in capture_lines(folders["capture"]) if r["eventMetadata"].get("inferenceId") == "req-42"
    ]
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": ROW.decode(),
        "encoding": "CSV",
    }
    assert record["captureData"]["endpointOutput"]["data"] == reply.body.decode()
    when = time.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%SZ")
    hour_folder = folders["capture"] / "ep" / "B" / time.strftime("%Y/%m/%d/%H", when)
    assert any("req-42" in path.read_text() for path in hour_folder.glob("*.jsonl"))


def test_failed_requests_are_not_captured(server: Runtime, folders: dict[str, Path]) -> None:
    reply = server.invoke(
        b"x", **{"X-Amzn-SageMaker-Target-Variant": "Broken", "X-Amzn-SageMaker-Inference-Id": "bad-1"}
    )
    assert reply.status == 500
    server.admin("POST", "flush")
    assert not [
        r for r in capture_lines(folders["capture"]) if r["eventMetadata"].get("inferenceId") == "bad-1"
    ]


def test_sagemaker_runtime_path_serves_this_endpoint_only(server: Runtime) -> None:
    ok = server.request("POST", "/endpoints/ep/invocations", ROW, {"Content-Type": "text/csv"})
    assert ok.status == 200 and ok.headers["x-amzn-invoked-production-variant"] in ("A", "B")
    other = server.request("POST", "/endpoints/other/invocations", ROW, {"Content-Type": "text/csv"})
    assert other.status == 404 and "'other'" in _error(other)["Message"]


def test_admin_routes_need_the_secret(server: Runtime) -> None:
    for headers in ({}, {"X-Kibako-Secret": "wrong"}):
        reply = server.request("GET", "/_kibako/stats", headers=headers)
        assert reply.status == 403 and _error(reply)["ErrorCode"] == "AccessDenied"
    shown = server.admin("GET", "config").json()
    assert shown["config_name"] == "cfg-1" and shown["secret"] == "***"


def test_stats_drain_returns_the_window_then_starts_again(server: Runtime) -> None:
    server.stats(drain=True)
    for _ in range(3):
        assert server.invoke(**{"X-Amzn-SageMaker-Target-Variant": "A"}).status == 200
    peek = server.stats(drain=False)["Variants"]["A"]
    first = server.stats(drain=True)
    a = first["Variants"]["A"]
    assert peek["Invocations"] == a["Invocations"] == 3 and a["CapturedRecords"] == 3
    assert a["ModelLatency"]["count"] == 3 and a["ModelLatency"]["p99"] >= a["ModelLatency"]["p50"] > 0
    assert a["OverheadLatency"]["count"] == 3
    assert set(a) >= {"Invocation4XXErrors", "Invocation5XXErrors", "ShadowDropped"}
    assert first["EndpointName"] == "ep" and first["Drained"] is True
    assert server.stats(drain=True)["Variants"]["A"]["Invocations"] == 0


# -- shadows --------------------------------------------------------------------------------------------------


def test_shadow_gets_a_copy_its_answer_is_never_returned_and_it_is_captured_apart(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    capture = tmp_path / "capture"
    document = config(
        [variant("A", folders["model"])],
        shadow_variants=[variant("Shadow", tmp_path, flavor="test-echo", model_class="shadow")],
        capture={"enabled": True, "sampling_percentage": 100, "destination": str(capture)},
    )
    runtime = Runtime(tmp_path, document)
    try:
        for i in range(5):
            reply = runtime.invoke(**{"X-Amzn-SageMaker-Inference-Id": f"s-{i}"})
            assert reply.status == 200 and reply.headers["x-amzn-invoked-production-variant"] == "A"
            assert reply.body.strip() in (b"0", b"1")  # never the shadow's "shadow:..."
        assert runtime.invoke(**{"X-Amzn-SageMaker-Target-Variant": "Shadow"}).status == 400
        deadline = time.monotonic() + 10
        while (
            runtime.stats(drain=False)["Variants"]["Shadow"]["Invocations"] < 5
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        stats = runtime.stats(drain=True)["Variants"]
        assert stats["Shadow"]["Role"] == "Shadow" and stats["Shadow"]["Invocations"] == 5
        assert stats["Shadow"]["CapturedRecords"] == 5 and stats["Shadow"]["ShadowDropped"] == 0
        runtime.admin("POST", "flush")
        shadow = capture_lines(capture / "ep" / "Shadow")
        assert sorted(r["eventMetadata"]["inferenceId"] for r in shadow) == [f"s-{i}" for i in range(5)]
        assert {r["captureData"]["endpointOutput"]["data"] for r in shadow} == {"shadow:" + ROW.decode()}
        assert len(capture_lines(capture / "ep" / "A")) == 5
    finally:
        assert runtime.stop() == 0


# -- readiness and start-up failure ---------------------------------------------------------------------------


def test_ping_is_503_while_loading_then_200(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path, config([variant("A", tmp_path, flavor="test-wait-load")]), wait=False)
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            try:
                status = runtime.get("/ping").status
                break
            except OSError:
                time.sleep(0.01)
        assert status == 503
        loading = runtime.invoke()
        assert loading.status == 503 and _error(loading)["ErrorCode"] == "ServiceUnavailable"
        (tmp_path / "release").touch()
        runtime.wait_ready()
        assert runtime.invoke(b"x", "text/plain").body == b"waited:x"
    finally:
        assert runtime.stop() == 0


def test_a_first_load_that_fails_ends_the_process_with_the_reason(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path, config([variant("A", tmp_path, flavor="test-fail-load")]), wait=False)
    assert runtime.proc.wait(30) == 1
    assert "this model never loads" in runtime.stderr()
