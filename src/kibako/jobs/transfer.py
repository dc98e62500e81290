"""Moving a job's data: channels in, model and outputs out, checkpoints both ways.

A location is a local path, a ``file://`` URL or any fsspec URL (``s3://bucket/key``); writes go through the
artifact store's atomic, digesting writers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kibako.artifacts.models import StoredArtifact
from kibako.artifacts.store import ArtifactStore
from kibako.errors import NotFoundError, ValidationError


def _local(uri: str) -> Path | None:
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if "://" not in uri:
        return Path(uri).expanduser()
    return None


def _split(uri: str) -> tuple[ArtifactStore, str]:
    """The store holding ``uri``'s parent, and ``uri``'s name in it."""
    clean = uri.rstrip("/")
    parent, _, name = clean.rpartition("/")
    if not name or not parent or parent.endswith(":/"):
        raise ValidationError(f"{uri!r} names no file or folder; give a path such as s3://bucket/prefix/name")
    return ArtifactStore(parent), name


def exists(uri: str) -> bool:
    local = _local(uri)
    if local is not None:
        return local.exists()
    store, name = _split(uri)
    return store.exists(name)


def fetch(uri: str, dest: Path) -> None:
    """Copy the file or folder at ``uri`` into the folder ``dest``: a file keeps its name, a folder's content
    lands directly in ``dest``. Copies, never links: a script that changes its input cannot reach the source."""
    dest.mkdir(parents=True, exist_ok=True)
    local = _local(uri)
    if local is not None:
        if local.is_file():
            shutil.copy2(local, dest / local.name)
        elif local.is_dir():
            if dest.resolve().is_relative_to(local.resolve()):  # a copy into itself would never end
                raise ValidationError(f"{uri} holds the job's own folder {dest}; give a folder that does not")
            shutil.copytree(local, dest, dirs_exist_ok=True)
        else:
            raise NotFoundError(f"{uri} does not exist")
        return
    store, name = _split(uri)
    entries = store.list(name)
    if not entries:
        raise NotFoundError(f"{uri} does not exist")
    if len(entries) == 1 and entries[0].key == name and not entries[0].is_dir:
        store.get_file(name, dest / name)
    else:
        store.get_dir(name, dest)


def put(local: Path, uri: str) -> StoredArtifact:
    """Store the file or folder ``local`` at ``uri`` (replacing what was there)."""
    store, name = _split(uri)
    return store.put_path(local, name)


@dataclass
class CheckpointSync:
    """Mirrors a job's checkpoint folder to its checkpoint URI: changed files are uploaded, removed files are
    removed, so a restarted job finds exactly what the last sync saw."""

    local: Path
    uri: str
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)

    def restore(self) -> int:
        """Copy what the URI holds into the local folder; the number of files restored."""
        self.local.mkdir(parents=True, exist_ok=True)
        store = ArtifactStore(self.uri)
        files = [e for e in store.list("", recursive=True) if not e.is_dir]
        for entry in files:
            target = self.local / entry.key
            store.get_file(entry.key, target)
            stat = target.stat()
            self._seen[entry.key] = (stat.st_size, stat.st_mtime_ns)
        return len(files)

    def sync(self) -> int:
        """Upload what changed since the last sync and drop what was deleted; the number of files uploaded."""
        if not self.local.is_dir():
            return 0
        store = ArtifactStore(self.uri)
        current: dict[str, tuple[int, int]] = {}
        for path in self.local.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    stat = path.stat()
                except FileNotFoundError:  # the script replaced it while we looked
                    continue
                current[path.relative_to(self.local).as_posix()] = (stat.st_size, stat.st_mtime_ns)
        uploaded = 0
        for key, signature in sorted(current.items()):
            if self._seen.get(key) != signature:
                try:
                    store.put_file(self.local / key, key)
                except (FileNotFoundError, ValidationError):
                    continue  # gone between the listing and the copy; the next sync sees the new state
                uploaded += 1
        for key in sorted(set(self._seen) - set(current)):
            if store.exists(key):
                store.delete(key)
        self._seen = current
        return uploaded
