"""Shared pieces of the inference tests: the data, model builders, and helpers to talk to handlers."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

RNG = np.random.default_rng(7)
X = RNG.normal(size=(80, 4))
Y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(int)
ROWS = np.round(X[:6], 6)  # what the tests send; rounded so CSV and JSON carry them exactly
COLUMNS = ("a", "b", "c", "d")
STATE_DICT_CLASS = "tests.inference._torch_models:TinyNet"

SAGEMAKER_SCRIPT = """
    import io
    import json
    import os

    import joblib
    import numpy as np

    import helpers  # a module of its own in code/, importable while the script loads


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))


    def input_fn(body, content_type):
        if content_type == "application/json":
            return np.asarray(json.loads(body)["rows"], dtype=float)
        if content_type == "text/csv":
            return np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2)
        raise ValueError(f"this model reads application/json or text/csv, not {content_type}")


    def predict_fn(data, model):
        return helpers.positive_scores(model, data)


    def output_fn(prediction, accept):
        if accept == "text/csv":
            return "\\n".join(str(float(p)) for p in prediction)
        return json.dumps({"scores": [float(p) for p in prediction], "accept": accept}), "application/json"
"""
SAGEMAKER_HELPERS = """
def positive_scores(model, data):
    return model.predict_proba(data)[:, 1]
"""


@dataclass
class Case:
    """One saved model: where it is, its flavor, and what the library itself predicts on ROWS."""

    path: Path
    flavor: str
    expected: np.ndarray
    model_class: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def make_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def mlmodel(flavors: dict[str, Any], *, signature: bool = True, example: bool = True) -> bytes:
    import yaml

    meta: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": flavors,
        "mlflow_version": "2.19.0",
        "model_uuid": "3f2c1a7e9b6d4c0e8a5f1b2d3c4e5f60",
        "utc_time_created": "2025-01-01 00:00:00.000000",
    }
    if signature:
        inputs = [{"type": "double", "name": n, "required": True} for n in COLUMNS]
        meta["signature"] = {
            "inputs": json.dumps(inputs),
            "outputs": json.dumps([{"type": "long", "required": True}]),
            "params": None,
        }
    if example:
        meta["saved_input_example_info"] = {
            "artifact_path": "input_example.json",
            "pandas_orient": "split",
            "type": "dataframe",
        }
    return yaml.safe_dump(meta, sort_keys=False).encode()


def sklearn_flavors(serialization: str, predict_fn: str = "predict") -> dict[str, Any]:
    return {
        "python_function": {
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.sklearn",
            "model_path": "model.pkl",
            "predict_fn": predict_fn,
            "python_version": "3.11.7",
        },
        "sklearn": {
            "code": None,
            "pickled_model": "model.pkl",
            "serialization_format": serialization,
            "sklearn_version": "1.9.1",
        },
    }


def input_example_json() -> bytes:
    return json.dumps({"columns": list(COLUMNS), "data": [ROWS[0].tolist()]}).encode()


def onnx_model(path: Path) -> np.ndarray:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = RNG.normal(size=(4, 1)).astype(np.float32)
    bias = np.array([0.25], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Z"]),
            helper.make_node("Sigmoid", ["Z"], ["Y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    z = ROWS.astype(np.float32) @ weights + bias
    return 1.0 / (1.0 + np.exp(-z))


# ---- talking to handlers ----------------------------------------------------------------------------------


def request(rows: np.ndarray, content_type: str) -> bytes:
    """``rows`` as a request body of ``content_type``."""
    if content_type == "text/csv":
        return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()
    if content_type == "application/json":
        return json.dumps(rows.tolist()).encode()
    buffer = io.BytesIO()
    np.save(buffer, rows)
    return buffer.getvalue()


def answer(body: bytes, content_type: str) -> np.ndarray:
    """A response body read back as a float array."""
    if content_type == "text/csv":
        return np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=1)
    if content_type == "application/json":
        return np.asarray(json.loads(body)["predictions"], dtype=float)
    return np.load(io.BytesIO(body), allow_pickle=False)


def same(got: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.allclose(np.ravel(got), np.ravel(expected), rtol=1e-5, atol=1e-6))
