"""scikit-learn (and anything else with a ``predict``) from a pickle or joblib file.

Unpickling runs code chosen by whoever wrote the file: load only models you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from kibako.errors import ModelLoadError
from kibako.inference import codecs
from kibako.inference.handler import Handler, describe_inputs


def unpickle(path: Path, *, flavor: str, serialization: str | None = None) -> Any:
    """The object in a pickle, joblib or cloudpickle file; ModelLoadError naming the file when it is broken."""
    try:
        if serialization == "cloudpickle":
            try:
                import cloudpickle
            except ImportError:  # plain pickle reads most cloudpickle files when their modules are importable
                cloudpickle = pickle
            with open(path, "rb") as f:
                return cloudpickle.load(f)
        if serialization == "pickle":
            with open(path, "rb") as f:
                return pickle.load(f)
        import joblib  # a scikit-learn dependency; reads plain pickles too

        return joblib.load(path)
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"{path} could not be unpickled as a {flavor} model: it needs the module {exc.name!r}, "
            "which is not installed here",
            path=str(path),
            flavor=flavor,
        ) from exc
    except Exception as exc:  # unpickling can fail in any way the pickled code likes
        raise ModelLoadError(
            f"{path} could not be unpickled as a {flavor} model: {type(exc).__name__}: {exc}",
            path=str(path),
            flavor=flavor,
        ) from exc


class SklearnHandler(Handler):
    """Calls ``model.predict`` (or the method named by ``method``, e.g. MLflow's ``predict_fn``)."""

    flavor = "sklearn"

    def __init__(self, model: Any, *, path: Path | None = None, method: str = "predict") -> None:
        super().__init__(path=path)
        call = getattr(model, method, None)
        if not callable(call):
            raise ModelLoadError(
                f"{path or 'the model'}: the loaded {type(model).__name__} has no {method}() method",
                flavor=self.flavor,
            )
        import numpy as np

        self.model = model
        self._call = call
        self._ndarray = np.ndarray
        self.n_features, names = describe_inputs(model)
        # A model fitted on a DataFrame wants its column names back; one fitted on arrays warns when given them.
        self._wants_frame = names is not None
        self.feature_names = names

    def predict(self, data: Any) -> Any:
        if self._wants_frame:
            if isinstance(data, self._ndarray) and self.feature_names and data.ndim == 2:
                pd = codecs.optional_pandas()
                if pd is not None and data.shape[1] == len(self.feature_names):
                    data = pd.DataFrame(data, columns=list(self.feature_names))
        elif not isinstance(data, self._ndarray) and hasattr(data, "columns"):
            data = data.to_numpy()
        return self._call(data)


def load(path: Path, *, model_class: str | None = None) -> Handler:
    return SklearnHandler(unpickle(path, flavor="sklearn"), path=path)
