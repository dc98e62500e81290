"""File-level helpers shared by the flavors: optional imports, safe archive extraction, content sniffing."""

from __future__ import annotations

import importlib
import posixpath
import re
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from types import ModuleType

from kibako.errors import ModelLoadError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
LIGHTGBM_SUFFIXES = (".txt", ".model", ".lgb")
TORCH_SUFFIXES = (".pt", ".pth")


def require(module: str, *, extra: str, flavor: str) -> ModuleType:
    """Import an optional dependency, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(
            f"loading a {flavor} model needs the {module!r} package, which is not installed: "
            f"pip install 'kibako[{extra}]' ({exc})"
        ) from exc


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _escapes(target: str) -> bool:
    if target.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", target):
        return True
    normal = posixpath.normpath(target)
    return normal == ".." or normal.startswith("../")


def extract_archive(archive: Path, dest: Path) -> None:
    """Extract a model archive into ``dest``, refusing members that would land outside it.

    Absolute names, ``..`` segments, links pointing out of the archive, and devices or FIFOs are all refused
    before anything is written.
    """
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelLoadError(f"{archive} is not a readable tar archive: {exc}") from exc
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ModelLoadError(f"{archive} is a damaged tar archive: {exc}") from exc
        for member in members:
            name = member.name
            if _escapes(name) or ".." in PurePosixPath(name).parts:
                raise ModelLoadError(
                    f"{archive}: member {name!r} has an absolute path or a '..' segment; refusing to extract"
                )
            if member.issym():
                target = posixpath.join(posixpath.dirname(name), member.linkname)
                if member.linkname.startswith("/") or _escapes(target):
                    raise ModelLoadError(
                        f"{archive}: link {name!r} -> {member.linkname!r} points outside the archive; "
                        "refusing to extract"
                    )
            elif member.islnk():
                if _escapes(member.linkname):
                    raise ModelLoadError(
                        f"{archive}: hard link {name!r} -> {member.linkname!r} points outside the archive; "
                        "refusing to extract"
                    )
            elif not (member.isfile() or member.isdir()):
                raise ModelLoadError(f"{archive}: member {name!r} is a device or FIFO; refusing to extract")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4: our own checks above are the guard
                tar.extractall(dest, members=members)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ModelLoadError(f"{archive} could not be extracted: {exc}") from exc


def read_head(path: Path, size: int = 512) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc


def zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return []


def is_torchscript(path: Path) -> bool:
    names = zip_names(path)
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def sniff(path: Path) -> tuple[str, str] | None:
    """What the bytes of ``path`` show, as (flavor, description), or None when they show nothing definite.

    The flavor "pickle" means a Python pickle, which any of sklearn, xgboost, lightgbm or pytorch can hold.
    """
    head = read_head(path)
    if head.startswith(b"PK\x03\x04"):
        names = zip_names(path)
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "pytorch", "a TorchScript archive"
        if any(n.endswith("data.pkl") for n in names):
            return "pytorch", "a torch.save archive"
        return None
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        if b'"learner"' in head:
            return "xgboost", "xgboost JSON"
        if b"learner" in head[:64] and not stripped.startswith(b'{"'):
            return "xgboost", "xgboost UBJSON"
        return None
    if head.startswith((b"tree\n", b"tree\r\n")) or b"\nversion=v" in head:
        return "lightgbm", "a LightGBM text model"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle", "a Python pickle"
    return None


def by_name(path: Path) -> tuple[str, str] | None:
    """The flavor a file's name alone points to, as (flavor, description)."""
    name = path.name.lower()
    if name.endswith(PICKLE_SUFFIXES):
        return "sklearn", "a pickle/joblib file"
    if name.endswith(".onnx"):
        return "onnx", "an ONNX file"
    if name.endswith(TORCH_SUFFIXES):
        return "pytorch", "a PyTorch file"
    if name.endswith(".ubj") or name == "xgboost-model":
        return "xgboost", "an xgboost model file"
    return None


def visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
