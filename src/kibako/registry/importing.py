"""Importing a model made elsewhere: fetch it, load it with its flavor, make it predict, then keep it in the
artifact store as a ``model.tar.gz`` (SageMaker's ``ModelDataUrl`` form). Any failure comes before the store
is written, so a refused model leaves nothing registered."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kibako.artifacts.digest import file_sha256_hex
from kibako.artifacts.packing import pack_dir
from kibako.errors import ModelLoadError, NotFoundError
from kibako.jobs import transfer


@dataclass(frozen=True)
class CheckedArchive:
    uri: str
    flavor: str


def checked_archive(
    artifacts: Any,
    source: str,
    group: str,
    flavor: str | None,
    model_class: str | None,
    sample: str | None,
    sample_content_type: str,
) -> CheckedArchive:
    """Load and try the model at ``source``; store it and say where, or raise ModelLoadError."""
    from kibako.inference import load_model

    with tempfile.TemporaryDirectory(prefix="kibako-import-") as tmp:
        fetched = Path(tmp) / "fetched"
        try:
            transfer.fetch(source, fetched)
        except NotFoundError:
            raise ModelLoadError(
                f"{source} does not exist; give the path of a model file or folder"
            ) from None
        entries = list(fetched.iterdir())
        # A file keeps its name inside the folder fetch made; a folder's content lands there directly.
        model_path = entries[0] if len(entries) == 1 and entries[0].is_file() else fetched
        handler = load_model(model_path, flavor=flavor, model_class=model_class)
        try:
            handler.check((sample.encode(), sample_content_type) if sample is not None else None)
            found = handler.flavor
        finally:
            handler.close()
        if model_path.is_file() and model_path.name.endswith(".tar.gz"):
            archive = model_path
        else:
            folder = model_path if model_path.is_dir() else Path(tmp) / "folder"
            if model_path.is_file():
                folder.mkdir()
                shutil.copy2(model_path, folder / model_path.name)
            archive = pack_dir(folder, Path(tmp) / "model.tar.gz")
        key = f"models/{group}/{file_sha256_hex(archive)[:16]}/model.tar.gz"
        stored = artifacts.put_file(archive, key)
    return CheckedArchive(stored.uri, found)
