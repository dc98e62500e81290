"""The Handler: one loaded model, turning request bodies into predictions and back.

A handler is shared by every request of an endpoint, so ``invoke`` must be safe to call from many threads at
once: handlers keep no per-request state, and flavors whose library is not thread-safe hold a lock.
"""

from __future__ import annotations

import json
import shutil
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from kibako.errors import KibakoError, ModelLoadError
from kibako.inference import codecs

_ZERO_BY_TYPE: dict[str, Any] = {"string": "", "boolean": False, "binary": "", "datetime": "1970-01-01"}


class Handler:
    """A loaded model: ``decode`` (input_fn) -> ``predict`` -> ``encode`` (output_fn).

    Attributes set by the loaders and used for ``sample_payload`` and column order: ``n_features`` (how many
    input columns), ``feature_names`` (their names, when the model knows them), ``feature_types`` (MLflow
    signature types) and ``example`` (a saved request body, e.g. MLflow's input example).
    """

    flavor: str = "custom"
    #: the media types ``encode`` can write, best first after the request's own type
    writable: tuple[str, ...] = codecs.WRITABLE

    def __init__(self, *, path: Path | None = None) -> None:
        self.path = path
        #: the folder the model was read from: an archive's temporary extraction, or the folder given
        self.model_dir: Path | None = None
        self.n_features: int | None = None
        self.feature_names: tuple[str, ...] | None = None
        self.feature_types: tuple[str, ...] | None = None
        self.example: tuple[bytes, str] | None = None
        #: for an MLflow model, the flavor inside it that does the predicting ("sklearn", "python_function", ...)
        self.native_flavor: str | None = None
        self._cleanup: weakref.finalize[..., Any] | None = None

    def __repr__(self) -> str:
        where = f"{str(self.path)!r}" if self.path else "None"
        return f"<{type(self).__name__} flavor={self.flavor!r} path={where}>"

    # ---- the four steps ---------------------------------------------------------------------------------

    def predict(self, data: Any) -> Any:
        """Predict on decoded input (a numpy array, a DataFrame, or whatever ``decode`` gave)."""
        raise NotImplementedError(f"{type(self).__name__} does not predict")

    def decode(self, body: bytes, content_type: str) -> Any:
        """The request body as model input (SageMaker's input_fn)."""
        return codecs.decode(body, content_type, columns=self.feature_names)

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        """The prediction as a response body and its content type (SageMaker's output_fn)."""
        return codecs.encode(prediction, accept)

    def invoke(self, body: bytes, content_type: str, accept: str | None = None) -> tuple[bytes, str]:
        """decode -> predict -> encode.

        ``accept`` None or ``*/*`` answers in the request's content type when it can be written, else JSON.
        PayloadError and UnsupportedMediaTypeError are the request's fault; anything else is the model's.
        """
        answer_as = codecs.negotiate(accept, content_type, self.writable)
        return self.encode(self.predict(self.decode(body, content_type)), answer_as)

    # ---- checking ---------------------------------------------------------------------------------------

    def sample_payload(self) -> tuple[bytes, str] | None:
        """A request body this model can predict on, derived from the model itself; None when nothing tells."""
        if self.example is not None:
            return self.example
        if self.feature_names:
            types = self.feature_types or ("double",) * len(self.feature_names)
            row = [_ZERO_BY_TYPE.get(t, 0) for t in types]
            split = {"columns": list(self.feature_names), "data": [row]}
            return json.dumps({"dataframe_split": split}).encode(), codecs.JSON
        if self.n_features:
            return (",".join(["0"] * self.n_features) + "\n").encode(), codecs.CSV
        return None

    def check(self, sample: tuple[bytes, str] | None = None) -> tuple[bytes, str]:
        """Predict on ``sample`` (or ``sample_payload()``) and return the encoded answer.

        Raises ModelLoadError when there is no sample to try or when predicting on it fails.
        """
        sample = sample if sample is not None else self.sample_payload()
        where = f" at {self.path}" if self.path else ""
        if sample is None:
            raise ModelLoadError(
                f"the {self.flavor} model{where} does not say what input it takes; give a sample payload "
                "(a request body and its content type) to check it with",
                flavor=self.flavor,
            )
        body, content_type = sample
        try:
            return self.invoke(body, content_type)
        except Exception as exc:  # whatever the model raised is the finding
            detail = exc.message if isinstance(exc, KibakoError) else f"{type(exc).__name__}: {exc}"
            raise ModelLoadError(
                f"the model loaded but could not predict its sample: {detail}",
                flavor=self.flavor,
                content_type=content_type,
            ) from exc

    # ---- lifetime ---------------------------------------------------------------------------------------

    def own(self, folder: Path) -> None:
        """Remove ``folder`` (a temporary extraction) when the handler is closed or collected."""
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(folder), True)

    def close(self) -> None:
        """Remove the temporary extraction folder, if the handler has one."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Handler:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def describe_inputs(model: Any) -> tuple[int | None, tuple[str, ...] | None]:
    """How many input columns a model object takes and their names, as far as the object tells.

    Knows scikit-learn estimators (``n_features_in_``, ``feature_names_in_``), xgboost and LightGBM boosters,
    and PyTorch modules (the first Linear layer's ``in_features``). Duck-typed: imports nothing.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = tuple(str(n) for n in names)
        return len(names), names
    count = getattr(model, "n_features_in_", None)
    if isinstance(count, int):
        return count, None
    module = type(model).__module__
    try:
        if module.startswith("xgboost"):
            booster = model.get_booster() if hasattr(model, "get_booster") else model
            found = booster.feature_names
            return int(booster.num_features()), tuple(found) if found else None
        if module.startswith("lightgbm"):
            booster = getattr(model, "booster_", model)
            found = booster.feature_name()
            generic = all(n == f"Column_{i}" for i, n in enumerate(found))
            return int(booster.num_feature()), None if generic else tuple(found)
        if module.startswith("torch") or hasattr(model, "named_modules"):
            return _first_linear(model), None
    except Exception:  # a half-built object tells nothing; the caller then asks for a sample
        return None, None
    return None, None


def _first_linear(module: Any) -> int | None:
    for sub in module.modules():
        name = getattr(sub, "original_name", type(sub).__name__)
        if name == "Linear":
            weight = getattr(sub, "weight", None)
            if weight is not None and len(weight.shape) == 2:
                return int(weight.shape[1])
    return None
