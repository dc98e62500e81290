"""Gradient-boosted trees: xgboost (JSON / UBJSON / SageMaker's ``xgboost-model``) and LightGBM text models."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from kibako.errors import ModelLoadError
from kibako.inference._files import require, sniff
from kibako.inference._sklearn import unpickle
from kibako.inference.handler import Handler, describe_inputs


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class XGBoostHandler(Handler):
    """Predicts with ``Booster.inplace_predict`` (thread-safe for tree boosters; gblinear is serialised)."""

    flavor = "xgboost"

    def __init__(self, booster: Any, *, path: Path | None = None) -> None:
        super().__init__(path=path)
        self.booster = booster
        self.n_features, self.feature_names = describe_inputs(booster)
        try:
            kind = json.loads(booster.save_config())["learner"]["gradient_booster"]["name"]
        except (KeyError, ValueError, TypeError):
            kind = "gbtree"
        self._lock = threading.Lock() if kind == "gblinear" else None

    def predict(self, data: Any) -> Any:
        if self._lock is None:
            return self.booster.inplace_predict(data)
        with self._lock:
            return self.booster.inplace_predict(data)


def _booster_from_object(obj: Any, path: Path, xgb: Any) -> Any:
    if isinstance(obj, xgb.Booster):
        return obj
    if isinstance(obj, xgb.XGBModel):
        return obj.get_booster()
    raise ModelLoadError(
        f"{path} holds a pickled {type(obj).__name__}, not an xgboost Booster or XGBModel",
        path=str(path),
        flavor="xgboost",
    )


def load_xgboost_booster(path: Path) -> Any:
    """An xgboost Booster from a JSON, UBJSON or pickle file (SageMaker's container writes either)."""
    xgb = require("xgboost", extra="xgboost", flavor="xgboost")
    found = sniff(path)
    if found and found[0] == "pickle":
        return _booster_from_object(unpickle(path, flavor="xgboost"), path, xgb)
    booster = xgb.Booster()
    try:
        # From bytes, so xgboost tells JSON from UBJSON by content rather than guessing from the file name.
        booster.load_model(bytearray(path.read_bytes()))
    except (xgb.core.XGBoostError, ValueError, OSError) as exc:
        raise ModelLoadError(
            f"{path} is not an xgboost model (neither xgboost JSON, UBJSON nor a pickle): {_first_line(exc)}",
            path=str(path),
            flavor="xgboost",
        ) from exc
    return booster


def load_xgboost(path: Path, *, model_class: str | None = None) -> Handler:
    return XGBoostHandler(load_xgboost_booster(path), path=path)


class LightGBMHandler(Handler):
    """Predicts with ``Booster.predict`` under a lock: LightGBM's predictor set-up is not thread-safe."""

    flavor = "lightgbm"

    def __init__(self, booster: Any, *, path: Path | None = None) -> None:
        super().__init__(path=path)
        self.booster = booster
        self.n_features, self.feature_names = describe_inputs(booster)
        self._lock = threading.Lock()

    def predict(self, data: Any) -> Any:
        with self._lock:
            return self.booster.predict(data)


def load_lightgbm_booster(path: Path) -> Any:
    lgb = require("lightgbm", extra="lightgbm", flavor="lightgbm")
    found = sniff(path)
    if found and found[0] == "pickle":
        obj = unpickle(path, flavor="lightgbm")
        booster = getattr(obj, "booster_", obj)
        if not isinstance(booster, lgb.Booster):
            raise ModelLoadError(
                f"{path} holds a pickled {type(obj).__name__}, not a LightGBM Booster or LGBMModel",
                path=str(path),
                flavor="lightgbm",
            )
        return booster
    try:
        return lgb.Booster(model_file=str(path))
    except Exception as exc:  # LightGBMError, or a parse error deep in the C++ reader
        raise ModelLoadError(
            f"{path} is not a LightGBM model file: {_first_line(exc)}", path=str(path), flavor="lightgbm"
        ) from exc


def load_lightgbm(path: Path, *, model_class: str | None = None) -> Handler:
    return LightGBMHandler(load_lightgbm_booster(path), path=path)
