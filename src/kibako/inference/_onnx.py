"""ONNX models through onnxruntime's CPU provider: one input, the first output returned."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from kibako.errors import ModelLoadError
from kibako.inference._files import require
from kibako.inference.handler import Handler

_ONNX_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxHandler(Handler):
    """Feeds the decoded rows, cast to the input's declared type, to ``InferenceSession.run`` (thread-safe)."""

    flavor = "onnx"

    def __init__(self, session: Any, *, path: Path | None = None) -> None:
        super().__init__(path=path)
        import numpy as np

        inputs = session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelLoadError(
                f"{path}: the ONNX model has {len(inputs)} inputs ({names}); only single-input models are served",
                flavor=self.flavor,
            )
        first = inputs[0]
        self.session = session
        self._input = first.name
        self._output = session.get_outputs()[0].name
        self._dtype = np.dtype(_ONNX_TYPES.get(first.type, "float32"))
        shape = list(first.shape or [])
        inner = shape[1:]
        # [batch, 1, 28, 28]: CSV rows of 784 values are reshaped to the declared trailing dimensions.
        self._inner = tuple(inner) if len(inner) > 1 and all(isinstance(d, int) for d in inner) else None
        if len(inner) == 1 and isinstance(inner[0], int):
            self.n_features = inner[0]
        elif self._inner:
            self.n_features = math.prod(self._inner)
        self._np = np

    def predict(self, data: Any) -> Any:
        np = self._np
        if not isinstance(data, np.ndarray):
            data = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
        array = data.astype(self._dtype, copy=False)
        if self._inner and array.ndim == 2 and array.shape[1] == self.n_features:
            array = array.reshape((array.shape[0], *self._inner))
        return self.session.run([self._output], {self._input: array})[0]


def open_session(path: Path) -> Any:
    ort = require("onnxruntime", extra="onnx", flavor="onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only; a model's warnings are not the server's
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph types
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{path} is not a loadable ONNX model: {message}", path=str(path), flavor="onnx"
        ) from exc


def load(path: Path, *, model_class: str | None = None) -> Handler:
    return OnnxHandler(open_session(path), path=path)
