"""PyTorch: TorchScript files, or a state dict plus the model's class (``pkg.module:Class``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kibako.errors import ModelLoadError
from kibako.inference._files import is_torchscript, require
from kibako.inference.handler import Handler, describe_inputs

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def torch_module() -> Any:
    return require("torch", extra="torch", flavor="pytorch")


class TorchHandler(Handler):
    """Runs the module in eval mode under ``torch.inference_mode`` on float32 tensors; returns numpy."""

    flavor = "pytorch"

    def __init__(self, module: Any, *, path: Path | None = None) -> None:
        super().__init__(path=path)
        import numpy as np

        self._torch = torch_module()
        self._np = np
        self.module = module.eval()
        self.n_features, _ = describe_inputs(module)

    def predict(self, data: Any) -> Any:
        np, torch = self._np, self._torch
        if not isinstance(data, np.ndarray):
            data = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
        array = np.ascontiguousarray(data, dtype=np.float32)
        if not array.flags.writeable:  # torch wants to own writable memory (a .npy body is read-only)
            array = array.copy()
        with torch.inference_mode():
            out = self.module(torch.from_numpy(array))
        return _to_numpy(out, torch)


def _to_numpy(out: Any, torch: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    if isinstance(out, tuple | list) and out:
        return _to_numpy(out[0], torch)  # the first output, like the ONNX handler
    if isinstance(out, Mapping):
        return {k: _to_numpy(v, torch) for k, v in out.items()}
    return out


def import_class(dotted: str) -> Any:
    """``'pkg.mod:Class'`` or ``'pkg.mod.Class'`` -> the class; ModelLoadError saying what was missing."""
    module_name, sep, attr = dotted.partition(":")
    if not sep:
        module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise ModelLoadError(f"model_class {dotted!r} is not a dotted path like 'pkg.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelLoadError(
            f"cannot import the module {module_name!r} of model_class {dotted!r}: {type(exc).__name__}: {exc}"
        ) from exc
    found: Any = module
    for part in attr.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ModelLoadError(f"the module {module_name!r} has no {attr!r} (model_class {dotted!r})")
    return found


def _state_dict(obj: Any, torch: Any) -> dict[str, Any] | None:
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in _CHECKPOINT_KEYS:  # a training checkpoint that wraps the weights
            inner = obj.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return dict(inner)
    return None


def load_module(path: Path, *, model_class: str | None) -> Any:
    """The nn.Module (or ScriptModule) in ``path``."""
    torch = torch_module()
    if is_torchscript(path):
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise ModelLoadError(
                f"{path} is not a loadable TorchScript file: {exc}", path=str(path), flavor="pytorch"
            ) from exc
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(
            f"{path} is neither TorchScript nor a PyTorch state dict of tensors ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); save the model with "
            "torch.jit.save(torch.jit.script(model), path) or torch.save(model.state_dict(), path)",
            path=str(path),
            flavor="pytorch",
        ) from exc
    state = _state_dict(obj, torch)
    if state is None:
        raise ModelLoadError(
            f"{path} holds a {type(obj).__name__}, not a state dict of tensors",
            path=str(path),
            flavor="pytorch",
        )
    if model_class is None:
        raise ModelLoadError(
            f"{path} is a PyTorch state dict ({len(state)} tensors) and says nothing of the network that uses "
            "them: pass the model's class as model_class='pkg.module:Class' (--model-class pkg.module:Class); "
            "it is built with no arguments, then given the weights",
            path=str(path),
            flavor="pytorch",
        )
    cls = import_class(model_class)
    try:
        module = cls()
    except Exception as exc:
        raise ModelLoadError(
            f"cannot build {model_class}() with no arguments: {type(exc).__name__}: {exc}", flavor="pytorch"
        ) from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"{model_class}() is a {type(module).__name__}, not a torch.nn.Module")
    try:
        module.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelLoadError(
            f"the state dict in {path} does not fit {model_class}: {exc}", path=str(path), flavor="pytorch"
        ) from exc
    return module


def load(path: Path, *, model_class: str | None = None) -> Handler:
    return TorchHandler(load_module(path, model_class=model_class), path=path)
