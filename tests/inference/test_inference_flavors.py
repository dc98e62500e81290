"""Every flavor: detected, loaded, and answering like the model object itself in every payload format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kibako.inference import FLAVORS, Handler, detect_flavor
from tests.inference._helpers import COLUMNS, ROWS, Case, X, Y, answer, request, same

NATIVE_CASES = [
    "sklearn-joblib",
    "sklearn-pickle",
    "sklearn-folder",
    "sklearn-tar",
    "xgboost-json",
    "xgboost-ubj",
    "xgboost-pickled",
    "xgboost-training-job-tar",
    "lightgbm-text",
    "pytorch-torchscript",
    "pytorch-state-dict",
    "onnx",
    "mlflow-sklearn",
]
CONTENT_TYPES = ["text/csv", "application/json", "application/x-npy"]


def test_flavors_are_the_documented_seven() -> None:
    assert FLAVORS == ("sklearn", "xgboost", "lightgbm", "pytorch", "onnx", "mlflow", "sagemaker")


@pytest.mark.parametrize("name", [*NATIVE_CASES, "sagemaker-tar", "sagemaker-folder"])
def test_detect_flavor_names_the_kind_of_model(zoo: dict[str, Case], name: str) -> None:
    case = zoo[name]
    assert detect_flavor(case.path) == case.flavor
    assert detect_flavor(str(case.path)) == case.flavor


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("name", NATIVE_CASES)
def test_invoke_answers_like_the_model_itself(
    zoo: dict[str, Case], loaded: Callable[..., Handler], name: str, content_type: str
) -> None:
    case = zoo[name]
    handler = loaded(case.path, model_class=case.model_class)
    assert handler.flavor == case.flavor
    body, answered_as = handler.invoke(request(ROWS, content_type), content_type)
    assert answered_as == content_type  # no Accept: the request's own type
    got = answer(body, answered_as)
    assert got.shape[0] == len(ROWS)
    assert same(got, case.expected), (got, case.expected)


@pytest.mark.parametrize("name", NATIVE_CASES)
def test_explicit_flavor_loads_the_same_model(
    zoo: dict[str, Case], loaded: Callable[..., Handler], name: str
) -> None:
    case = zoo[name]
    handler = loaded(case.path, flavor=case.flavor, model_class=case.model_class)
    body, kind = handler.invoke(request(ROWS, "application/json"), "application/json")
    assert same(answer(body, kind), case.expected)


@pytest.mark.parametrize("name", NATIVE_CASES)
def test_sample_payload_comes_from_the_model_and_checks(
    zoo: dict[str, Case], loaded: Callable[..., Handler], name: str
) -> None:
    case = zoo[name]
    handler = loaded(case.path, model_class=case.model_class)
    sample = handler.sample_payload()
    assert sample is not None
    body, content_type = handler.check()
    assert answer(body, content_type).size >= 1
    assert handler.check(sample) == (body, content_type)


def test_sklearn_sample_is_a_csv_row_as_wide_as_the_model(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["sklearn-joblib"].path)
    assert handler.sample_payload() == (b"0,0,0,0\n", "text/csv")
    assert handler.n_features == 4


@pytest.mark.parametrize(
    "name", ["xgboost-json", "lightgbm-text", "pytorch-torchscript", "pytorch-state-dict", "onnx"]
)
def test_feature_count_is_read_from_the_model(
    zoo: dict[str, Case], loaded: Callable[..., Handler], name: str
) -> None:
    handler = loaded(zoo[name].path, model_class=zoo[name].model_class)
    assert handler.n_features == 4
    assert handler.sample_payload() == (b"0,0,0,0\n", "text/csv")


def test_sklearn_uses_predict_not_predict_proba(zoo: dict[str, Case], loaded: Callable[..., Handler]) -> None:
    handler = loaded(zoo["sklearn-joblib"].path)
    got = handler.predict(ROWS)
    assert set(np.unique(got)) <= {0, 1}
    assert got.dtype.kind == "i"


def test_xgboost_predicts_scores_with_the_booster(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["xgboost-json"].path)
    got = handler.predict(ROWS)
    assert np.all((got > 0) & (got < 1))  # binary:logistic probabilities, not labels
    assert same(got, zoo["xgboost-json"].expected)


def test_torch_output_is_float32_numpy(zoo: dict[str, Case], loaded: Callable[..., Handler]) -> None:
    handler = loaded(zoo["pytorch-torchscript"].path)
    got = handler.predict(ROWS)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.float32
    assert got.shape == (len(ROWS), 1)


def test_handler_repr_names_flavor_and_path(zoo: dict[str, Case], loaded: Callable[..., Any]) -> None:
    handler = loaded(zoo["onnx"].path)
    assert "flavor='onnx'" in repr(handler)
    assert "tiny.onnx" in repr(handler)


def test_sklearn_fitted_on_a_dataframe_gets_its_columns_back(
    tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    pd = pytest.importorskip("pandas")
    import joblib
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(pd.DataFrame(X, columns=list(COLUMNS)), Y)
    joblib.dump(model, tmp_path / "model.joblib")
    handler = loaded(tmp_path / "model.joblib")
    assert handler.feature_names == COLUMNS
    expected = model.predict(pd.DataFrame(ROWS, columns=list(COLUMNS)))
    shuffled = {"dataframe_split": {"columns": ["c", "a", "d", "b"], "data": ROWS[:, [2, 0, 3, 1]].tolist()}}
    for body, kind in (
        (request(ROWS, "text/csv"), "text/csv"),
        (json.dumps(shuffled).encode(), "application/json"),
    ):
        got, answered_as = handler.invoke(body, kind)  # no "feature names" warning: warnings are errors here
        assert same(answer(got, answered_as), expected)
    assert handler.check()[1] == "application/json"
