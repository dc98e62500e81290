"""The runtime's config, stats and engine in-process: validation, counters, swaps and closing old models."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kibako.errors import ConflictError, PayloadError, UnsupportedMediaTypeError, ValidationError
from kibako.serving.runtime.config import CaptureConfig, RuntimeConfig, VariantConfig
from kibako.serving.runtime.engine import Engine, call_model
from kibako.serving.runtime.routing import INLINE_AFTER, INLINE_MAX_NS, LoadedModel
from kibako.serving.runtime.stats import MAX_SAMPLES, StatsBook


def _config(**changes: Any) -> RuntimeConfig:
    document = {
        "endpoint_name": "ep",
        "config_name": "c1",
        "variants": [
            {"name": "A", "model_name": "ma", "model_dir": "/models/a", "weight": 3},
            {"name": "B", "model_name": "mb", "model_dir": "/models/b", "flavor": "sklearn", "weight": 1},
        ],
        "shadow_variants": [{"name": "S", "model_name": "ms", "model_dir": "/models/s"}],
        "capture": {"enabled": True, "sampling_percentage": 50, "destination": "s3://bucket/capture"},
        "secret": "x",
    }
    document.update(changes)
    return RuntimeConfig.from_json(document)


class _Model:
    def __init__(self, path: str, gate: threading.Event | None = None) -> None:
        self.path, self.gate, self.closed = path, gate, False

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        if self.gate is not None:
            assert self.gate.wait(10)
        return self.path.encode(), "text/plain"

    def close(self) -> None:
        self.closed = True


class _Loader:
    """Counts loads; ``fail`` names model dirs that do not load; ``gate`` makes loaded models block."""

    def __init__(self) -> None:
        self.loaded: list[_Model] = []
        self.fail: set[str] = set()
        self.gate: threading.Event | None = None

    def __call__(self, path: str, flavor: str | None = None, model_class: str | None = None) -> _Model:
        if path in self.fail:
            raise RuntimeError(f"{path} is corrupt")
        model = _Model(path, self.gate)
        self.loaded.append(model)
        return model


def test_config_round_trips_through_json() -> None:
    config = _config()
    assert RuntimeConfig.from_json(config.to_json()) == config
    assert config.capture == CaptureConfig(sampling_percentage=50, destination="s3://bucket/capture")
    assert config.variants[1] == VariantConfig("B", "mb", "/models/b", "sklearn", None, 1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": []}, "non-empty list"),
        ({"shadow_variants": [{"name": "A", "model_name": "m", "model_dir": "/m"}]}, "unique"),
        ({"capture": {"sampling_percentage": 101, "destination": "/c"}}, "0-100"),
        ({"capture": {"destination": ""}}, "destination"),
        ({"variants": [{"name": "A", "model_name": "m", "model_dir": "/m", "weight": -1}]}, ">= 0"),
        ({"endpoint_name": "../escape"}, "endpoint_name"),
    ],
    ids=[
        "no-variants",
        "duplicate-name",
        "sampling-range",
        "no-destination",
        "negative-weight",
        "unsafe-name",
    ],
)
def test_bad_configs_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _config(**change)


def test_stats_drain_resets_the_window_and_reports_microsecond_percentiles() -> None:
    book = StatsBook()
    stats = book.variant("A", "Production")
    for micros in range(1, 101):
        stats.invocation(200, micros, 10)
    stats.invocation(400, 5, 1)
    stats.invocation(500, 7, 1)
    stats.captured(3)
    book.variant("S", "Shadow").shadow_dropped()
    first = book.read(drain=True, keep={"A", "S"})
    a = first["Variants"]["A"]
    assert (a["Invocations"], a["Invocation4XXErrors"], a["Invocation5XXErrors"], a["CapturedRecords"]) == (
        102,
        1,
        1,
        3,
    )
    assert a["ModelLatency"] == {"count": 102, "sum": 5062, "max": 100, "p50": 49, "p99": 99}
    assert first["Variants"]["S"]["ShadowDropped"] == 1 and first["Variants"]["S"]["Role"] == "Shadow"
    second = book.read(drain=True, keep={"A"})
    assert second["Variants"]["A"]["Invocations"] == 0
    assert second["Variants"]["A"]["ModelLatency"]["count"] == 0
    assert "S" not in book.read(drain=False, keep={"A"})["Variants"]  # forgotten once no longer served


def test_latency_samples_stay_bounded_while_count_sum_and_max_stay_exact() -> None:
    stats = StatsBook().variant("A", "Production")
    n = MAX_SAMPLES + 5000
    for i in range(n):
        stats.invocation(200, i, None)
    summary = stats.read(drain=True)["ModelLatency"]
    assert (summary["count"], summary["sum"], summary["max"]) == (n, n * (n - 1) // 2, n - 1)
    assert abs(summary["p50"] - n / 2) < n * 0.05


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (PayloadError("row 1: 'x' is not a number"), 400, "ValidationError"),
        (UnsupportedMediaTypeError("send text/csv"), 415, "UnsupportedMediaType"),
        (ZeroDivisionError("division by zero"), 500, "ModelError"),
    ],
    ids=["payload", "media-type", "model"],
)
def test_call_model_maps_errors_to_statuses_with_the_message(
    error: Exception, status: int, code: str
) -> None:
    class Failing:
        def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
            raise error

        def close(self) -> None:
            pass

    got, body, content_type, _ = call_model(Failing(), b"x", "text/csv", None)
    assert (got, content_type) == (status, "application/json")
    assert code in body.decode() and str(error) in body.decode()


def _engine(loader: _Loader, config: RuntimeConfig | None = None) -> Engine:
    engine = Engine(config or _config(capture=None), loader=loader)
    engine.load()
    return engine


def test_weights_only_change_reloads_nothing_and_changes_the_split() -> None:
    loader = _Loader()
    engine = _engine(loader)
    try:
        assert len(loader.loaded) == 3
        document = engine.config.to_json()
        document["variants"][0]["weight"] = 0
        answer = engine.reconfigure(RuntimeConfig.from_json(document))
        assert answer["LoadedVariants"] == [] and sorted(answer["ReusedVariants"]) == ["A", "B", "S"]
        assert len(loader.loaded) == 3
        assert engine.table is not None
        assert {engine.table.pick().name for _ in range(50)} == {"B"}  # type: ignore[union-attr]
        assert not any(model.closed for model in loader.loaded)
    finally:
        engine.close()
    assert all(model.closed for model in loader.loaded)


def test_failed_load_keeps_the_old_table_and_closes_what_it_loaded() -> None:
    loader = _Loader()
    engine = _engine(loader)
    try:
        old = engine.table
        document = engine.config.to_json()
        document["variants"][0]["model_dir"] = "/models/a2"
        document["variants"][1]["model_dir"] = "/models/broken"
        loader.fail.add("/models/broken")
        with pytest.raises(RuntimeError, match="corrupt"):
            engine.reconfigure(RuntimeConfig.from_json(document))
        assert engine.table is old and engine.config.config_name == "c1"
        a2 = [m for m in loader.loaded if m.path == "/models/a2"]
        assert len(a2) == 1 and a2[0].closed  # loaded for the failed config, then closed
    finally:
        engine.close()


def test_old_model_closes_only_after_its_in_flight_request_finishes() -> None:
    loader = _Loader()
    loader.gate = threading.Event()
    engine = _engine(loader)
    try:
        table = engine.table
        assert table is not None
        old_model = table.production["A"].model.handler

        async def in_flight() -> tuple[int, bytes, str, int]:
            table.acquire()  # what the app does around every request
            try:
                return await engine.pool.submit(
                    asyncio.get_running_loop(), call_model, old_model, b"", "", None
                )
            finally:
                table.release()

        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(in_flight())))
        thread.start()
        deadline = time.monotonic() + 5
        while table.idle and time.monotonic() < deadline:
            time.sleep(0.005)
        document = engine.config.to_json()
        document["variants"][0]["model_dir"] = "/models/a2"
        answer = engine.reconfigure(RuntimeConfig.from_json(document))
        assert answer["LoadedVariants"] == ["A"]
        assert not old_model.closed  # still answering the request that started on it
        loader.gate.set()
        thread.join(5)
        assert result[0][:2] == (200, b"/models/a")
        deadline = time.monotonic() + 5
        while not old_model.closed and time.monotonic() < deadline:
            time.sleep(0.005)
        assert old_model.closed
        assert not table.production["B"].model.handler.closed  # shared with the new table
    finally:
        loader.gate.set()
        engine.close()


def test_reconfigure_refuses_another_endpoint() -> None:
    engine = _engine(_Loader())
    try:
        with pytest.raises(ConflictError, match="serves endpoint 'ep'"):
            engine.reconfigure(_config(endpoint_name="other", capture=None))
    finally:
        engine.close()


def test_full_shadow_queue_drops_copies_and_counts_them(tmp_path: Path) -> None:
    loader = _Loader()
    loader.gate = threading.Event()  # shadow copies block, so the queue fills
    engine = Engine(_config(capture=None), loader=loader, shadow_queue_size=2)
    engine.load()
    try:
        table = engine.table
        assert table is not None
        for _ in range(10):
            engine.submit_shadows(table, b"1", "text/csv", None, None)
        dropped = engine.stats.read(drain=False, keep={"S"})["Variants"]["S"]["ShadowDropped"]
        assert 10 - 2 - 2 <= dropped <= 10 - 2  # 2 queued, up to 2 taken by the shadow threads
        loader.gate.set()
        deadline = time.monotonic() + 5
        while not table.idle and time.monotonic() < deadline:
            time.sleep(0.005)
        shadow = engine.stats.read(drain=False, keep={"S"})["Variants"]["S"]
        assert shadow["Invocations"] == 10 - dropped
    finally:
        loader.gate.set()
        engine.close()


def test_a_model_is_called_inline_only_after_a_run_of_fast_calls_and_leaves_on_a_slow_one() -> None:
    model = LoadedModel(("m", "/m", None, None), _Model("/m"))
    for _ in range(INLINE_AFTER - 1):
        model.observe(INLINE_MAX_NS // 10)
    assert not model.inline  # unproven models run on the invoke threads
    model.observe(INLINE_MAX_NS)
    assert model.inline
    model.observe(INLINE_MAX_NS + 1)
    assert not model.inline
    for _ in range(INLINE_AFTER - 1):
        model.observe(1000)
    assert not model.inline  # a slow call starts the count again
