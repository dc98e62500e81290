"""The runtime process over its life: config swaps under load, a failed swap, SIGTERM and SIGKILL."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.serving._runtime_helpers import (
    ROW,
    KeepAlive,
    Runtime,
    capture_files,
    capture_lines,
    config,
    save_sklearn_model,
    variant,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: save_sklearn_model(root / name, seed=i).parent for i, name in enumerate(("a", "b", "c"))}


class _Traffic:
    """Threads that send requests back to back over keep-alive connections until stopped."""

    def __init__(self, port: int, threads: int = 3) -> None:
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.variants: list[str] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        client = KeepAlive(self.port)
        try:
            while not self.stop.is_set():
                reply = client.post("/invocations", ROW, {"Content-Type": "text/csv"})
                with self.lock:
                    self.statuses[reply.status] += 1
                    self.variants.append(reply.headers.get("x-amzn-invoked-production-variant", ""))
        except OSError as exc:  # a dropped connection is a failed request too
            with self.lock:
                self.statuses[-1] += 1
                self.variants.append(repr(exc))
        finally:
            client.close()

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.variants) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(self.variants) >= count, f"only {len(self.variants)} requests in {timeout} s"

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_config_swaps_under_load_drop_no_request(models: dict[str, Path], tmp_path: Path) -> None:
    first = config([variant("A", models["a"], 1), variant("B", models["b"], 0)])
    runtime = Runtime(tmp_path, first)
    traffic = _Traffic(runtime.port)
    try:
        traffic.wait_for(100)
        weights = config([variant("A", models["a"], 0), variant("B", models["b"], 1)], config_name="cfg-2")
        reply = runtime.admin("POST", "config", weights)
        assert reply.status == 200, reply.body
        assert reply.json()["LoadedVariants"] == []  # weights only: nothing reloaded
        mark = len(traffic.variants)
        traffic.wait_for(mark + 200)
        assert set(traffic.variants[mark + 50 :]) == {"B"}  # the new split is live
        model_change = config(
            [variant("A", models["c"], 1), variant("B", models["b"], 0)], config_name="cfg-3"
        )
        reply = runtime.admin("POST", "config", model_change)
        assert reply.status == 200, reply.body
        assert reply.json() == {
            "EndpointName": "ep",
            "EndpointConfigName": "cfg-3",
            "LoadedVariants": ["A"],
            "ReusedVariants": ["B"],
        }
        mark = len(traffic.variants)
        traffic.wait_for(mark + 200)
    finally:
        traffic.finish()
        code = runtime.stop()
    assert set(traffic.statuses) == {200}, traffic.statuses
    assert set(traffic.variants[mark + 50 :]) == {"A"}
    assert code == 0


def test_a_config_whose_model_fails_to_load_is_422_and_the_old_one_keeps_serving(
    models: dict[str, Path], tmp_path: Path
) -> None:
    runtime = Runtime(tmp_path, config([variant("A", models["a"])]))
    traffic = _Traffic(runtime.port, threads=2)
    try:
        traffic.wait_for(50)
        corrupt = tmp_path / "corrupt"
        corrupt.mkdir()
        (corrupt / "model.joblib").write_bytes(b"these bytes are not a pickle")
        broken = config([variant("A", models["a"]), variant("B", corrupt)], config_name="bad")
        reply = runtime.admin("POST", "config", broken)
        assert reply.status == 422
        body = reply.json()
        assert body["ErrorCode"] == "ModelLoadError" and "could not be unpickled" in body["Message"]
        other = config([variant("A", models["a"])], endpoint_name="other")
        conflict = runtime.admin("POST", "config", other)
        assert conflict.status == 409 and "serves endpoint 'ep'" in conflict.json()["Message"]
        assert runtime.admin("GET", "config").json()["config_name"] == "cfg-1"
        mark = len(traffic.variants)
        traffic.wait_for(mark + 50)
        invalid = runtime.admin("POST", "config", {"endpoint_name": "ep"})
        assert invalid.status == 400 and "variants" in invalid.json()["Message"]
    finally:
        traffic.finish()
        assert runtime.stop() == 0
    assert set(traffic.statuses) == {200} and set(traffic.variants) == {"A"}


def _capturing(tmp_path: Path, models: dict[str, Path], *extra: dict) -> tuple[Runtime, Path]:
    capture = tmp_path / "capture"
    document = config(
        [variant("A", models["a"]), *extra],
        capture={"enabled": True, "sampling_percentage": 100, "destination": str(capture)},
    )
    return Runtime(tmp_path, document), capture


def test_sigterm_finishes_in_flight_requests_and_loses_no_capture_record(
    models: dict[str, Path], tmp_path: Path
) -> None:
    slow = tmp_path / "slow"
    slow.mkdir()
    runtime, capture = _capturing(tmp_path, models, variant("Slow", slow, 0, flavor="test-slow"))
    client = KeepAlive(runtime.port)
    for i in range(40):
        headers = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": f"r{i}"}
        assert client.post("/invocations", ROW, headers).status == 200
    client.close()
    answers: list[int] = []
    headers = {"X-Amzn-SageMaker-Target-Variant": "Slow", "X-Amzn-SageMaker-Inference-Id": "slow"}
    thread = threading.Thread(
        target=lambda: answers.append(runtime.invoke(b"1", "text/plain", **headers).status)
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not (slow / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert runtime.stop(signal.SIGTERM) == 0
    thread.join(10)
    assert answers == [200]  # in flight when SIGTERM came: answered, not dropped
    ids = sorted(r["eventMetadata"]["inferenceId"] for r in capture_lines(capture))
    assert ids == sorted([f"r{i}" for i in range(40)] + ["slow"])


def test_sigkill_keeps_every_record_older_than_the_flush_interval_as_whole_lines(
    models: dict[str, Path], tmp_path: Path
) -> None:
    runtime, capture = _capturing(tmp_path, models)
    client = KeepAlive(runtime.port)
    for i in range(30):
        headers = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Inference-Id": f"k{i}"}
        assert client.post("/invocations", ROW, headers).status == 200
    client.close()
    sent = time.monotonic()
    while len(capture_lines(capture)) < 30 and time.monotonic() - sent < 1.5:
        time.sleep(0.01)  # no flush call: the background writer alone must get them there
    assert runtime.stop(signal.SIGKILL) == -signal.SIGKILL
    lines = [line for path in capture_files(capture) for line in path.read_text().splitlines(keepends=True)]
    assert all(line.endswith("\n") for line in lines)
    records = [json.loads(line) for line in lines]
    assert sorted(r["eventMetadata"]["inferenceId"] for r in records) == sorted(f"k{i}" for i in range(30))
