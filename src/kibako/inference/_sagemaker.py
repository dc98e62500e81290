"""SageMaker framework-container models: ``code/inference.py`` with ``model_fn`` and optional handlers.

The contract is the one of SageMaker's inference toolkit: ``model_fn(model_dir)`` (required),
``input_fn(body, content_type)``, ``predict_fn(data, model)``, ``output_fn(prediction, accept)`` (bytes, str,
or a ``(body, content_type)`` tuple), or ``transform_fn(model, body, content_type, accept)`` in place of the
last three. What the script leaves out falls back to kibako's codecs and ``model.predict``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from kibako.errors import ModelLoadError, PayloadError, UnsupportedMediaTypeError
from kibako.inference import codecs
from kibako.inference.handler import Handler, describe_inputs

# SageMaker's containers answer a request without Accept (or with */*) in this type.
DEFAULT_ACCEPT = codecs.JSON


@contextlib.contextmanager
def script_context(code_dir: Path) -> Iterator[None]:
    """``code_dir`` on sys.path, and its own modules first in line, while the script imports and loads.

    Modules the script imports from ``code_dir`` (``import helpers``) are taken out of sys.modules afterwards,
    and same-named modules of another model are hidden meanwhile, so two models' ``helpers.py`` never mix.
    """
    local = {p.stem for p in code_dir.glob("*.py")} | {
        p.name for p in code_dir.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    }
    hidden = {n: sys.modules.pop(n) for n in list(sys.modules) if n.partition(".")[0] in local}
    folder = str(code_dir)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
        for name in [n for n in sys.modules if n.partition(".")[0] in local]:
            sys.modules.pop(name, None)
        sys.modules.update(hidden)


def import_script(script: Path) -> ModuleType:
    """Import ``script`` as a uniquely named module (call inside ``script_context``)."""
    name = f"kibako_sagemaker_inference_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{script} cannot be imported as a Python module", flavor="sagemaker")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so classes defined in the script can be pickled and introspected
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(
            f"{script} failed to import: {type(exc).__name__}: {exc}", path=str(script), flavor="sagemaker"
        ) from exc
    return module


def _as_response(result: Any, accept: str, where: str) -> tuple[bytes, str]:
    body, content_type = result if isinstance(result, tuple) and len(result) == 2 else (result, accept)
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, bytearray | memoryview):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise TypeError(
            f"{where} returned a {type(body).__name__}; it must return bytes, str or (body, type)"
        )
    return body, str(content_type)


class SageMakerHandler(Handler):
    """Calls the script's functions where it has them, kibako's defaults where it does not."""

    flavor = "sagemaker"

    def __init__(self, module: ModuleType, *, model_dir: Path, path: Path | None = None) -> None:
        super().__init__(path=path)
        script = getattr(module, "__file__", "code/inference.py")
        model_fn = getattr(module, "model_fn", None)
        if not callable(model_fn):
            raise ModelLoadError(f"{script} defines no model_fn(model_dir)", flavor="sagemaker")
        self.module = module
        self.model_dir = model_dir
        self._input_fn = getattr(module, "input_fn", None)
        self._predict_fn = getattr(module, "predict_fn", None)
        self._output_fn = getattr(module, "output_fn", None)
        self._transform_fn = getattr(module, "transform_fn", None)
        try:
            self.model = model_fn(str(model_dir))
        except Exception as exc:
            raise ModelLoadError(
                f"model_fn in {script} failed: {type(exc).__name__}: {exc}", flavor="sagemaker"
            ) from exc
        if not (self._predict_fn or self._transform_fn or callable(getattr(self.model, "predict", None))):
            raise ModelLoadError(
                f"model_fn in {script} returned a {type(self.model).__name__}, which has no predict(); "
                "define predict_fn(data, model) in the script",
                flavor="sagemaker",
            )
        self.n_features, self.feature_names = describe_inputs(self.model)

    @staticmethod
    def _accept(accept: str | None) -> str:
        return DEFAULT_ACCEPT if accept is None or accept.strip() in ("", "*/*") else accept

    def decode(self, body: bytes, content_type: str) -> Any:
        if self._input_fn is None:
            return super().decode(body, content_type)
        try:
            return self._input_fn(body, content_type)
        except (ValueError, TypeError) as exc:
            raise PayloadError(str(exc) or type(exc).__name__, content_type=content_type) from exc
        except Exception as exc:
            if type(exc).__name__ == "UnsupportedFormatError":  # the inference toolkit's 415
                raise UnsupportedMediaTypeError(str(exc), content_type=content_type) from exc
            raise

    def predict(self, data: Any) -> Any:
        if self._predict_fn is not None:
            return self._predict_fn(data, self.model)
        return self.model.predict(data)

    def encode(self, prediction: Any, accept: str) -> tuple[bytes, str]:
        if self._output_fn is None:
            return codecs.encode(prediction, accept)
        return _as_response(self._output_fn(prediction, accept), accept, "output_fn")

    def invoke(self, body: bytes, content_type: str, accept: str | None = None) -> tuple[bytes, str]:
        if self._transform_fn is not None:
            wanted = self._accept(accept)
            result = self._transform_fn(self.model, body, content_type, wanted)
            return _as_response(result, wanted, "transform_fn")
        if self._output_fn is None:  # our encoder: refuse an Accept it cannot write before predicting
            return super().invoke(body, content_type, accept)
        return self.encode(self.predict(self.decode(body, content_type)), self._accept(accept))

    def close(self) -> None:
        sys.modules.pop(self.module.__name__, None)
        super().close()


def load(folder: Path, *, model_class: str | None = None) -> Handler:
    script = folder / "code" / "inference.py"
    if not script.is_file():
        raise ModelLoadError(f"{folder} has no code/inference.py", flavor="sagemaker")
    with script_context(script.parent):
        module = import_script(script)
        try:
            return SageMakerHandler(module, model_dir=folder, path=folder)
        except BaseException:
            sys.modules.pop(module.__name__, None)
            raise
