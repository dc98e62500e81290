"""The artifact store's local-folder backend: plain files, atomic renames, no fsspec needed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path
from typing import IO

from kibako.artifacts._atomic import StagedFile, copy_stream, is_staging_name, local_staged_file, staged_dir
from kibako.artifacts._progress import Advance
from kibako.artifacts.models import ArtifactEntry


class LocalBackend:
    """Keys map to files and folders under ``root``; the folder is created by the first write."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def _path(self, key: str) -> Path:
        return self.root / key

    def info(self, key: str) -> ArtifactEntry | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if path.is_dir():
            return ArtifactEntry(key=key, size=0, is_dir=True)
        return ArtifactEntry(key=key, size=stat.st_size)

    def put_file(self, src: Path, key: str, advance: Advance) -> str:
        hasher = hashlib.sha256()
        with open(src, "rb") as source, local_staged_file(self._path(key)) as staged:
            copy_stream(source, staged, advance, hasher)
        return hasher.hexdigest()

    def put_dir(self, files: list[tuple[str, Path]], key: str, advance: Advance) -> list[tuple[str, str]]:
        hexes: list[tuple[str, str]] = []
        with staged_dir(self._path(key)) as staging:
            for rel, src in files:
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                hasher = hashlib.sha256()
                with open(src, "rb") as source, open(dest, "wb") as out:
                    copy_stream(source, out, advance, hasher)
                    out.flush()
                    os.fsync(out.fileno())
                hexes.append((rel, hasher.hexdigest()))
        return hexes

    def put_bytes(self, data: bytes, key: str) -> None:
        with local_staged_file(self._path(key)) as staged:
            staged.write(data)

    def open_read(self, key: str) -> IO[bytes]:
        return open(self._path(key), "rb")

    def open_write(self, key: str) -> StagedFile:
        return local_staged_file(self._path(key))

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list_entries(self, key: str | None, recursive: bool) -> list[ArtifactEntry]:
        folder = self.root if key is None else self._path(key)
        base = "" if key is None else key + "/"
        if not folder.is_dir():
            return []
        if recursive:
            return self._walk(folder, base)
        entries = []
        with os.scandir(folder) as it:
            for item in it:
                if is_staging_name(item.name):
                    continue
                if item.is_dir():
                    entries.append(ArtifactEntry(key=base + item.name, size=0, is_dir=True))
                elif item.is_file():
                    entries.append(ArtifactEntry(key=base + item.name, size=item.stat().st_size))
        return entries

    def _walk(self, folder: Path, base: str) -> list[ArtifactEntry]:
        entries = []
        for dirpath, dirnames, filenames in os.walk(folder):
            # Unfinished writes are not part of the store; do not descend into staged folders either.
            dirnames[:] = [name for name in dirnames if not is_staging_name(name)]
            here = Path(dirpath)
            for name in filenames:
                if is_staging_name(name):
                    continue
                full = here / name
                with contextlib.suppress(FileNotFoundError):
                    size = full.stat().st_size
                    entries.append(ArtifactEntry(key=base + full.relative_to(folder).as_posix(), size=size))
        return entries

    def files_under(self, key: str) -> list[ArtifactEntry]:
        return self.list_entries(key, recursive=True)

    def delete(self, key: str, is_dir: bool) -> None:
        path = self._path(key)
        if is_dir:
            shutil.rmtree(path)
        else:
            path.unlink()
        self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, folder: Path) -> None:
        # Object stores have no empty folders; removing them keeps listings the same on every backend.
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent
