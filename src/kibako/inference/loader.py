"""Which flavor a model file or folder is, and loading it into a Handler."""

from __future__ import annotations

import importlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from kibako.errors import ModelLoadError
from kibako.inference._files import by_name, extract_archive, is_archive, sniff, visible_files
from kibako.inference.handler import Handler

FLAVORS: tuple[str, ...] = ("sklearn", "xgboost", "lightgbm", "pytorch", "onnx", "mlflow", "sagemaker")

_LOADERS: dict[str, tuple[str, str]] = {
    "sklearn": ("kibako.inference._sklearn", "load"),
    "xgboost": ("kibako.inference._boosters", "load_xgboost"),
    "lightgbm": ("kibako.inference._boosters", "load_lightgbm"),
    "pytorch": ("kibako.inference._torch", "load"),
    "onnx": ("kibako.inference._onnx", "load"),
    "mlflow": ("kibako.inference._mlflow", "load"),
    "sagemaker": ("kibako.inference._sagemaker", "load"),
}
_FOLDER_MARKERS = {"sagemaker": "code/inference.py", "mlflow": "MLmodel"}
# A pickle can hold a model of any of these; its bytes alone do not say which.
_PICKLED = ("sklearn", "xgboost", "lightgbm", "pytorch")
LOOKED_FOR = (
    "a folder with code/inference.py (SageMaker) or an MLmodel file (MLflow), a pickle or joblib file "
    "(.pkl, .pickle, .joblib), an xgboost model (.json with a 'learner' key, .ubj, xgboost-model), a LightGBM "
    "text model (.txt, .model), a PyTorch file (.pt, .pth), or an ONNX file (.onnx)"
)


def _file_flavor(path: Path) -> tuple[str, str] | None:
    """(flavor, what the file looks like) for one file, or None when neither name nor content tells."""
    found = sniff(path)
    if found and found[0] != "pickle":
        return found  # content beats the name: xgboost JSON, a LightGBM text model, a torch zip
    named = by_name(path)
    if named:
        return named
    if found:
        return "sklearn", found[1]
    return None


def _check_file(path: Path, flavor: str) -> None:
    """Refuse a file whose content or name contradicts the flavor asked for."""
    if flavor in _FOLDER_MARKERS:
        raise ModelLoadError(
            f"{path} is a file; a {flavor} model is a folder or model.tar.gz with {_FOLDER_MARKERS[flavor]}",
            flavor=flavor,
        )
    found = _file_flavor(path)
    if found is None or found[0] == flavor:
        return
    if "pickle" in found[1] and flavor in _PICKLED:
        return
    raise ModelLoadError(
        f"{path} looks like {found[1]}, not {flavor}: load it with flavor={found[0]!r}, or leave the flavor "
        "out to have it detected",
        path=str(path),
        flavor=flavor,
    )


def _pick(folder: Path, flavor: str | None) -> tuple[str, Path]:
    """The flavor and the model file inside a folder with no SageMaker or MLflow marker (or one not asked)."""
    found = [(f, kind) for f in visible_files(folder) if (kind := _file_flavor(f))]
    if flavor is not None:
        fits = [(f, k) for f, k in found if k[0] == flavor or ("pickle" in k[1] and flavor in _PICKLED)]
    else:
        fits = found
    joblib = [(f, k) for f, k in fits if f.name == "model.joblib"]
    if joblib:
        fits = joblib
    if len(fits) == 1:
        file, (detected, _) = fits[0]
        return (flavor or detected), file
    if len(fits) > 1:
        names = ", ".join(f.name for f, _ in fits)
        raise ModelLoadError(
            f"{folder} holds several model files ({names}); pass the one to load", flavor=flavor
        )
    subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not found and len(subfolders) == 1:
        return _resolve(subfolders[0], flavor)
    if flavor is not None and found:
        shown = ", ".join(f"{f.name} ({k[1]})" for f, k in found)
        raise ModelLoadError(f"{folder} holds no {flavor} model: found {shown}", flavor=flavor)
    raise ModelLoadError(f"found no model in {folder}; looked for {LOOKED_FOR}", flavor=flavor)


def _resolve(path: Path, flavor: str | None) -> tuple[str, Path]:
    """(flavor, what its loader is given: a file, or the folder for mlflow/sagemaker)."""
    if path.is_dir():
        for kind, marker in _FOLDER_MARKERS.items():
            if (path / marker).is_file() and flavor in (None, kind):
                return kind, path
        if flavor in _FOLDER_MARKERS:
            raise ModelLoadError(f"{path} has no {_FOLDER_MARKERS[flavor]}, so it is not a {flavor} model")
        return _pick(path, flavor)
    if flavor is not None:
        _check_file(path, flavor)
        return flavor, path
    found = _file_flavor(path)
    if found is None:
        hint = (
            " (a .json file without a 'learner' key is not an xgboost model)"
            if path.suffix == ".json"
            else ""
        )
        raise ModelLoadError(f"cannot tell what model {path} is{hint}; looked for {LOOKED_FOR}")
    return found[0], path


def _exists(path: str | Path, flavor: str | None = None) -> Path:
    source = Path(path).expanduser()
    if not source.exists():
        raise ModelLoadError(f"{source}: no such file or folder", path=str(source))
    if flavor is not None and flavor not in FLAVORS:
        raise ModelLoadError(f"unknown flavor {flavor!r}; it is one of {', '.join(FLAVORS)}", flavor=flavor)
    return source


def _inside(exc: ModelLoadError, tmp: Path, archive: Path) -> ModelLoadError:
    """The same error with the temporary extraction folder named as the archive it came from."""
    message = exc.message.replace(str(tmp), f"{archive}:")
    fields = {
        k: (v.replace(str(tmp), f"{archive}:") if isinstance(v, str) else v) for k, v in exc.fields.items()
    }
    renamed = ModelLoadError(message, **fields)
    renamed.__cause__ = exc.__cause__
    return renamed


def detect_flavor(path: str | Path) -> str:
    """The flavor of the model at ``path`` (a file, a folder, or a model.tar.gz).

    Raises ModelLoadError naming what was looked for when none fits.
    """
    source = _exists(path)
    if not is_archive(source):
        return _resolve(source, None)[0]
    with tempfile.TemporaryDirectory(prefix="kibako-detect-") as name:
        tmp = Path(name)
        extract_archive(source, tmp)
        try:
            return _resolve(tmp, None)[0]
        except ModelLoadError as exc:
            raise _inside(exc, tmp, source) from exc.__cause__


def load_model(path: str | Path, *, flavor: str | None = None, model_class: str | None = None) -> Handler:
    """Load the model at ``path`` (flavor detected when None) into a Handler.

    ``model_class`` (``'pkg.mod:Class'`` or ``'pkg.mod.Class'``) builds the network for a PyTorch state dict.
    A ``.tar.gz`` is extracted safely into a temporary folder the handler owns (removed by ``close()``).
    A file whose content contradicts ``flavor`` is refused. Unpickling runs code: load only trusted models.

    >>> handler = load_model("model.joblib")                       # doctest: +SKIP
    >>> handler.invoke(b"1.0,2.0,3.0\\n", "text/csv")               # doctest: +SKIP
    (b'1\\n', 'text/csv')
    """
    source = _exists(path, flavor)
    tmp: Path | None = None
    try:
        target = source
        if is_archive(source):
            tmp = Path(tempfile.mkdtemp(prefix="kibako-model-"))
            extract_archive(source, tmp)
            target = tmp
        kind, file = _resolve(target, flavor)
        if model_class is not None and kind not in ("pytorch", "mlflow", "sagemaker"):
            raise ModelLoadError(
                f"model_class is for PyTorch state dicts, but {source} is a {kind} model", flavor=kind
            )
        handler = _loader(kind)(file, model_class=model_class)
    except ModelLoadError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _inside(exc, tmp, source) from exc.__cause__
        raise
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    handler.path = source
    if handler.model_dir is None:
        handler.model_dir = tmp or (source if source.is_dir() else None)
    if tmp is not None:
        handler.own(tmp)
    return handler


def _loader(flavor: str) -> Callable[..., Handler]:
    module, name = _LOADERS[flavor]
    loader: Callable[..., Handler] = getattr(importlib.import_module(module), name)
    return loader
