"""The Handler contract: invoke's negotiation, check(), lifetime, thread safety, and a light import."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from kibako.errors import ModelLoadError, PayloadError, UnsupportedMediaTypeError
from kibako.inference import Handler, load_model
from tests.inference._helpers import ROWS, Case, X, answer, request, same


class Doubler(Handler):
    """A handler that says nothing about its input."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data) * 2


def test_base_handler_round_trips_with_the_shared_codecs() -> None:
    body, kind = Doubler().invoke(b"1,2\n3,4\n", "text/csv")
    assert (body, kind) == (b"2.0,4.0\n6.0,8.0\n", "text/csv")


def test_handler_without_shape_has_no_sample_and_check_asks_for_one() -> None:
    handler = Doubler()
    assert handler.sample_payload() is None
    with pytest.raises(ModelLoadError, match="give a sample payload"):
        handler.check()
    assert handler.check((b"[[1, 2]]", "application/json")) == (
        b'{"predictions":[[2.0,4.0]]}',
        "application/json",
    )


def test_check_reports_a_sample_the_model_cannot_predict(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["sklearn-joblib"].path)
    with pytest.raises(
        ModelLoadError, match="the model loaded but could not predict its sample: ValueError"
    ) as err:
        handler.check((b"1,2\n", "text/csv"))  # 2 features, the model takes 4
    assert "features" in err.value.message
    with pytest.raises(
        ModelLoadError, match="could not predict its sample: row 1, column 1: 'x' is not a number"
    ):
        handler.check((b"x,1,2,3\n2,1,2,3\n", "text/csv"))


@pytest.mark.parametrize(
    ("accept", "content_type", "expected"),
    [
        (None, "application/json", "application/json"),
        ("*/*", "text/csv", "text/csv"),
        ("text/csv", "application/json", "text/csv"),
        ("application/x-npy", "text/csv; charset=utf-8", "application/x-npy"),
    ],
)
def test_invoke_answers_in_the_negotiated_type(
    zoo: dict[str, Case], loaded: Callable[..., Handler], accept: str | None, content_type: str, expected: str
) -> None:
    handler = loaded(zoo["lightgbm-text"].path)
    body, kind = handler.invoke(request(ROWS, content_type.split(";")[0]), content_type, accept)
    assert kind == expected
    assert same(answer(body, kind), zoo["lightgbm-text"].expected)


def test_unknown_content_type_is_415_before_predicting(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["onnx"].path)
    with pytest.raises(
        UnsupportedMediaTypeError, match="cannot read a request body of 'application/xml'"
    ) as err:
        handler.invoke(b"<rows/>", "application/xml")
    assert err.value.http_status == 415


def test_accept_it_cannot_write_is_415_before_predicting(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    calls: list[Any] = []
    handler = loaded(zoo["sklearn-joblib"].path)
    original = handler.predict
    handler.predict = lambda data: calls.append(data) or original(data)  # type: ignore[method-assign]
    with pytest.raises(
        UnsupportedMediaTypeError, match="this model writes: application/json, text/csv, application/x-npy"
    ):
        handler.invoke(request(ROWS, "text/csv"), "text/csv", "application/protobuf")
    assert calls == []


def test_bad_body_is_a_payload_error_through_invoke(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["xgboost-json"].path)
    with pytest.raises(PayloadError, match="row 2 has 3 values, expected 4"):
        handler.invoke(b"1,2,3,4\n1,2,3\n", "text/csv")


def test_close_removes_the_temporary_extraction(zoo: dict[str, Case]) -> None:
    handler = load_model(zoo["sklearn-tar"].path)
    folder = handler.model_dir
    assert folder is not None and folder.name.startswith("kibako-model-")
    assert (folder / "model.joblib").is_file()
    with handler:
        assert handler.check()
    assert not folder.exists()


def test_model_dir_is_the_folder_given_and_none_for_a_file(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    assert loaded(zoo["mlflow-sklearn"].path).model_dir == zoo["mlflow-sklearn"].path
    assert loaded(zoo["onnx"].path).model_dir is None


@pytest.mark.parametrize(
    "name",
    ["sklearn-joblib", "xgboost-json", "lightgbm-text", "pytorch-torchscript", "onnx", "mlflow-sklearn"],
)
def test_concurrent_invokes_give_the_same_answers(
    zoo: dict[str, Case], loaded: Callable[..., Handler], name: str
) -> None:
    handler = loaded(zoo[name].path, model_class=zoo[name].model_class)
    batches = [X[i : i + 3 + i % 4] for i in range(0, 64, 4)]
    bodies = [request(batch, "text/csv") for batch in batches]
    expected = [handler.invoke(body, "text/csv", "application/json") for body in bodies]
    start = threading.Barrier(8)

    def work(worker: int) -> list[tuple[int, tuple[bytes, str]]]:
        start.wait()
        out = []
        for round_ in range(25):
            i = (worker * 7 + round_) % len(bodies)
            out.append((i, handler.invoke(bodies[i], "text/csv", "application/json")))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for chunk in pool.map(work, range(8)) for r in chunk]
    assert len(results) == 200
    assert all(got == expected[i] for i, got in results)


def test_importing_kibako_inference_loads_no_ml_library() -> None:
    probe = (
        "import sys, kibako.inference; print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'torch', "
        "'onnxruntime', 'xgboost', 'lightgbm', 'yaml', 'joblib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_loading_a_sklearn_model_does_not_load_other_frameworks(zoo: dict[str, Case]) -> None:
    probe = (
        "import sys; from kibako.inference import load_model; "
        f"h = load_model({str(zoo['sklearn-joblib'].path)!r}); h.check(); "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'xgboost', 'lightgbm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
