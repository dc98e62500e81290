"""MLflow model folders written by hand in MLflow's layout, loaded natively without MLflow installed."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kibako.inference import Handler, detect_flavor
from tests.inference._helpers import (
    COLUMNS,
    ROWS,
    Case,
    answer,
    mlmodel,
    request,
    same,
    sklearn_flavors,
    write_tree,
)


def _split(rows: np.ndarray, columns: tuple[str, ...] = COLUMNS) -> bytes:
    order = [COLUMNS.index(c) for c in columns]
    return json.dumps(
        {"dataframe_split": {"columns": list(columns), "data": rows[:, order].tolist()}}
    ).encode()


def test_mlflow_folder_is_detected_by_its_mlmodel_file(zoo: dict[str, Case]) -> None:
    assert detect_flavor(zoo["mlflow-sklearn"].path) == "mlflow"


def test_cloudpickled_sklearn_loads_natively_and_says_so(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["mlflow-sklearn"].path)
    assert handler.flavor == "mlflow"
    assert handler.native_flavor == "sklearn"
    body, kind = handler.invoke(_split(ROWS), "application/json")
    assert same(answer(body, kind), zoo["mlflow-sklearn"].expected)


def test_pickle_serialization_format_loads_too(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    model = zoo["sklearn-joblib"].extra["model"]
    folder = write_tree(
        tmp_path, {"MLmodel": mlmodel(sklearn_flavors("pickle")), "model.pkl": pickle.dumps(model)}
    )
    handler = loaded(folder)
    body, kind = handler.invoke(request(ROWS, "text/csv"), "text/csv")
    assert same(answer(body, kind), model.predict(ROWS))


def test_signature_columns_put_named_inputs_in_order(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["mlflow-sklearn"].path)
    assert handler.feature_names == COLUMNS
    shuffled = _split(ROWS, ("d", "b", "a", "c"))
    records = json.dumps(
        {"dataframe_records": [dict(zip(COLUMNS, r, strict=True)) for r in ROWS.tolist()]}
    ).encode()
    expected = zoo["mlflow-sklearn"].expected
    for body in (shuffled, records):
        got, kind = handler.invoke(body, "application/json")
        assert same(answer(got, kind), expected)


def test_a_column_the_signature_needs_is_a_payload_error(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    from kibako.errors import PayloadError

    handler = loaded(zoo["mlflow-sklearn"].path)
    body = json.dumps({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}).encode()
    with pytest.raises(PayloadError, match="missing column.*'d'"):
        handler.invoke(body, "application/json")


def test_sample_payload_is_the_saved_input_example(
    zoo: dict[str, Case], loaded: Callable[..., Handler]
) -> None:
    handler = loaded(zoo["mlflow-sklearn"].path)
    body, kind = handler.sample_payload() or (b"", "")
    assert kind == "application/json"
    assert json.loads(body) == {"dataframe_split": {"columns": list(COLUMNS), "data": [ROWS[0].tolist()]}}
    answered, answered_as = handler.check()
    assert same(answer(answered, answered_as), zoo["mlflow-sklearn"].expected[:1])


def test_signature_without_example_gives_a_zero_row_of_its_columns(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    model = zoo["sklearn-joblib"].extra["model"]
    folder = write_tree(
        tmp_path,
        {"MLmodel": mlmodel(sklearn_flavors("pickle"), example=False), "model.pkl": pickle.dumps(model)},
    )
    handler = loaded(folder)
    body, kind = handler.sample_payload() or (b"", "")
    assert json.loads(body) == {"dataframe_split": {"columns": list(COLUMNS), "data": [[0, 0, 0, 0]]}}
    assert handler.check()[1] == "application/json"


def test_predict_fn_of_the_pyfunc_flavor_is_honoured(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    model = zoo["sklearn-joblib"].extra["model"]
    flavors = sklearn_flavors("pickle", predict_fn="predict_proba")
    folder = write_tree(tmp_path, {"MLmodel": mlmodel(flavors), "model.pkl": pickle.dumps(model)})
    got = loaded(folder).predict(ROWS)
    assert np.allclose(got, model.predict_proba(ROWS))


def test_xgboost_booster_flavor_loads_natively(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    booster = zoo["xgboost-json"].extra["booster"]
    flavors = {
        "python_function": {"loader_module": "mlflow.xgboost", "data": "model.xgb"},
        "xgboost": {"data": "model.xgb", "model_class": "xgboost.core.Booster", "model_format": "xgb"},
    }
    folder = write_tree(
        tmp_path, {"MLmodel": mlmodel(flavors, example=False), "model.xgb": bytes(booster.save_raw("ubj"))}
    )
    handler = loaded(folder)
    assert handler.native_flavor == "xgboost"
    got, kind = handler.invoke(request(ROWS, "text/csv"), "text/csv")
    assert same(answer(got, kind), zoo["xgboost-json"].expected)


def test_xgboost_sklearn_class_flavor_predicts_labels(tmp_path: Path, loaded: Callable[..., Handler]) -> None:
    import xgboost as xgb

    from tests.inference._helpers import X, Y

    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(X, Y)
    clf.save_model(tmp_path / "model.json")
    flavors = {
        "python_function": {"loader_module": "mlflow.xgboost", "data": "model.json"},
        "xgboost": {
            "data": "model.json",
            "model_class": "xgboost.sklearn.XGBClassifier",
            "model_format": "json",
        },
    }
    write_tree(tmp_path, {"MLmodel": mlmodel(flavors, signature=False, example=False)})
    handler = loaded(tmp_path)
    assert np.array_equal(handler.predict(ROWS), clf.predict(ROWS))


def test_lightgbm_and_onnx_flavors_load_natively(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    lgb_dir = write_tree(
        tmp_path / "lgb",
        {
            "MLmodel": mlmodel({"lightgbm": {"data": "model.lgb", "model_class": "lightgbm.basic.Booster"}}),
            "model.lgb": zoo["lightgbm-text"].path.read_bytes(),
        },
    )
    onnx_dir = write_tree(
        tmp_path / "onnx",
        {
            "MLmodel": mlmodel({"onnx": {"data": "model.onnx", "onnx_version": "1.17.0"}}, signature=False),
            "model.onnx": zoo["onnx"].path.read_bytes(),
        },
    )
    for folder, case in ((lgb_dir, zoo["lightgbm-text"]), (onnx_dir, zoo["onnx"])):
        got, kind = loaded(folder).invoke(request(ROWS, "application/json"), "application/json")
        assert same(answer(got, kind), case.expected)


def test_pytorch_flavor_loads_the_pickled_module(
    zoo: dict[str, Case], tmp_path: Path, loaded: Callable[..., Handler]
) -> None:
    import cloudpickle
    import torch

    from tests.inference._torch_models import TinyNet

    torch.manual_seed(0)
    net = TinyNet().eval()
    (tmp_path / "data").mkdir()
    torch.save(net, tmp_path / "data" / "model.pth", pickle_module=cloudpickle)
    (tmp_path / "data" / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
    flavors = {
        "python_function": {"loader_module": "mlflow.pytorch", "data": "data"},
        "pytorch": {"model_data": "data", "pytorch_version": str(torch.__version__), "code": None},
    }
    write_tree(tmp_path, {"MLmodel": mlmodel(flavors, signature=False, example=False)})
    handler = loaded(tmp_path)
    assert handler.native_flavor == "pytorch"
    got, kind = handler.invoke(request(ROWS, "text/csv"), "text/csv")
    assert same(answer(got, kind), zoo["pytorch-torchscript"].expected)
