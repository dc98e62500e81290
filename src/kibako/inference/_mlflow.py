"""MLflow model folders (an ``MLmodel`` YAML file): native flavors loaded without MLflow, others via pyfunc.

The signature's named input columns and the saved input example shape the request decoding and the sample
payload, whichever library does the predicting.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from kibako.errors import ModelLoadError
from kibako.inference import codecs
from kibako.inference.handler import Handler

# Flavors we read ourselves, in the order tried when python_function's loader_module names none of them.
NATIVE = ("sklearn", "xgboost", "lightgbm", "onnx", "pytorch")


def read_mlmodel(folder: Path) -> dict[str, Any]:
    import yaml

    file = folder / "MLmodel"
    try:
        meta = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"{file} is not a readable MLmodel YAML file: {exc}", flavor="mlflow") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("flavors"), dict) or not meta["flavors"]:
        raise ModelLoadError(f"{file} has no 'flavors' mapping", flavor="mlflow")
    return meta


def _file(folder: Path, conf: dict[str, Any], key: str, flavor: str) -> Path:
    name = conf.get(key)
    if not isinstance(name, str) or not name:
        raise ModelLoadError(f"{folder / 'MLmodel'}: the {flavor} flavor has no {key!r}", flavor="mlflow")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ModelLoadError(f"{folder / 'MLmodel'}: {flavor}.{key} {name!r} points outside the model folder")
    if not path.exists():
        raise ModelLoadError(f"{folder / 'MLmodel'}: {flavor}.{key} names {name!r}, which is not there")
    return path


def _native(folder: Path, flavor: str, conf: dict[str, Any], pyfunc: dict[str, Any]) -> Handler:
    if flavor == "sklearn":
        from kibako.inference._sklearn import SklearnHandler, unpickle

        file = _file(folder, conf, "pickled_model", flavor)
        fmt = str(conf.get("serialization_format") or "pickle")
        model = unpickle(file, flavor="sklearn", serialization=fmt)
        return SklearnHandler(model, path=folder, method=str(pyfunc.get("predict_fn") or "predict"))
    if flavor == "xgboost":
        from kibako.inference._boosters import XGBoostHandler, load_xgboost_booster
        from kibako.inference._sklearn import SklearnHandler

        file = _file(folder, conf, "data", flavor)
        cls = str(conf.get("model_class") or "xgboost.core.Booster")
        if cls.rsplit(".", 1)[-1] == "Booster":
            return XGBoostHandler(load_xgboost_booster(file), path=folder)
        # An XGBClassifier & co.: MLflow's pyfunc calls the scikit-learn API (class labels, not scores).
        from kibako.inference._torch import import_class

        if not cls.startswith("xgboost."):
            raise ModelLoadError(f"{folder / 'MLmodel'}: xgboost.model_class {cls!r} is not an xgboost class")
        model = import_class(cls)()
        try:
            model.load_model(bytearray(file.read_bytes()))
        except Exception as exc:
            raise ModelLoadError(f"{file} is not an xgboost model: {exc}", flavor="mlflow") from exc
        return SklearnHandler(model, path=folder)
    if flavor == "lightgbm":
        from kibako.inference._boosters import LightGBMHandler, load_lightgbm_booster
        from kibako.inference._sklearn import SklearnHandler, unpickle

        file = _file(folder, conf, "data", flavor)
        if file.suffix == ".pkl":  # mlflow.lightgbm pickles scikit-learn-API models
            return SklearnHandler(unpickle(file, flavor="lightgbm", serialization="cloudpickle"), path=folder)
        return LightGBMHandler(load_lightgbm_booster(file), path=folder)
    if flavor == "onnx":
        from kibako.inference._onnx import OnnxHandler, open_session

        return OnnxHandler(open_session(_file(folder, conf, "data", flavor)), path=folder)
    if flavor == "pytorch":
        from kibako.inference._torch import TorchHandler, torch_module

        data = _file(folder, conf, "model_data", flavor)
        file = data / "model.pth" if data.is_dir() else data
        if not file.is_file():
            raise ModelLoadError(f"{data} holds no model.pth (an exported .pt2 program needs MLflow)")
        torch = torch_module()
        try:  # mlflow.pytorch pickles the whole module (with cloudpickle): trusted files only
            module = torch.load(str(file), map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelLoadError(
                f"{file} could not be loaded as an MLflow PyTorch model: {type(exc).__name__}: {exc}",
                flavor="mlflow",
            ) from exc
        if not isinstance(module, torch.nn.Module):
            raise ModelLoadError(f"{file} holds a {type(module).__name__}, not a torch.nn.Module")
        return TorchHandler(module, path=folder)
    raise AssertionError(flavor)


class PyfuncHandler(Handler):
    """Any other MLflow model, through ``mlflow.pyfunc`` (MLflow must be installed)."""

    def __init__(self, model: Any, *, path: Path) -> None:
        super().__init__(path=path)
        self.model = model

    def predict(self, data: Any) -> Any:
        return self.model.predict(data)


def _pyfunc(folder: Path, flavors: dict[str, Any]) -> Handler:
    loader = str((flavors.get("python_function") or {}).get("loader_module") or "")
    if importlib.util.find_spec("mlflow") is None:
        named = f" (python_function loader_module {loader!r})" if loader else ""
        raise ModelLoadError(
            f"{folder} is an MLflow model of flavor(s) {', '.join(sorted(flavors))}{named}, which kibako does "
            f"not load natively (it does: {', '.join(NATIVE)}); install mlflow to load it through mlflow.pyfunc",
            flavor="mlflow",
        )
    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(str(folder))
    except Exception as exc:
        raise ModelLoadError(f"mlflow.pyfunc could not load {folder}: {type(exc).__name__}: {exc}") from exc
    return PyfuncHandler(model, path=folder)


def signature_columns(meta: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The named input columns of the signature and their types, or None for tensor or unnamed inputs."""
    inputs = (meta.get("signature") or {}).get("inputs")
    try:
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    except ValueError:
        return None
    if not isinstance(specs, list) or not specs:
        return None
    if not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in specs):
        return None
    return tuple(s["name"] for s in specs), tuple(str(s.get("type", "double")) for s in specs)


def tensor_width(meta: dict[str, Any]) -> int | None:
    """The feature count of a tensor signature shaped [-1, n]."""
    inputs = (meta.get("signature") or {}).get("inputs")
    try:
        specs: Any = json.loads(inputs) if isinstance(inputs, str) else inputs
        shape = specs[0]["tensor-spec"]["shape"]
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 0:
        return shape[1]
    return None


def input_example(folder: Path, meta: dict[str, Any]) -> tuple[bytes, str] | None:
    """The saved input example as a JSON request body MLflow's scoring server would accept."""
    serving = folder / "serving_input_example.json"
    if serving.is_file():
        return serving.read_bytes(), codecs.JSON
    info = meta.get("saved_input_example_info") or {}
    file = folder / str(info.get("artifact_path") or "input_example.json")
    if not file.is_file():
        return None
    try:
        example = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(example, dict) and "data" in example and "dataframe_split" not in example:
        example = {"dataframe_split": example}  # saved in pandas' split orient
    elif isinstance(example, dict) and "dataframe_split" not in example and "inputs" not in example:
        if "instances" not in example and "dataframe_records" not in example:
            example = {"inputs": example}
    return json.dumps(example).encode(), codecs.JSON


def load(folder: Path, *, model_class: str | None = None) -> Handler:
    meta = read_mlmodel(folder)
    flavors: dict[str, Any] = meta["flavors"]
    pyfunc = flavors.get("python_function") or {}
    named = str(pyfunc.get("loader_module") or "").rsplit(".", 1)[-1]
    chosen = (
        named if named in NATIVE and named in flavors else next((f for f in NATIVE if f in flavors), None)
    )
    handler = _native(folder, chosen, flavors[chosen] or {}, pyfunc) if chosen else _pyfunc(folder, flavors)
    handler.flavor = "mlflow"
    handler.native_flavor = chosen or "python_function"
    columns = signature_columns(meta)
    if columns:
        handler.feature_names, handler.feature_types = columns
        handler.n_features = len(columns[0])
    elif handler.n_features is None:
        handler.n_features = tensor_width(meta)
    handler.example = input_example(folder, meta)
    return handler
