"""The artifact store: files and folders under keys, in a local folder or any fsspec object store."""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kibako.artifacts._atomic import copy_stream, local_staged_file
from kibako.artifacts._local import LocalBackend
from kibako.artifacts._progress import Advance, transfer_progress
from kibako.artifacts._remote import FsspecBackend, protocol_of
from kibako.artifacts.digest import PREFIX, bytes_digest, files_under, listing_digest
from kibako.artifacts.keys import normalize_key
from kibako.artifacts.models import ArtifactEntry, StoredArtifact
from kibako.errors import ArtifactKeyError, ConflictError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from kibako.core.config import Config

PathLike = str | os.PathLike[str]
_LOCAL_PROTOCOLS = ("file", "local")


class ArtifactStore:
    """Artifacts under one root: a local folder (the default) or any fsspec URL such as ``s3://bucket/prefix``.

    Keys are relative POSIX paths (see :func:`kibako.artifacts.keys.normalize_key`). For S3, an endpoint in
    ``KIBAKO_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL`` is used unless ``storage_options`` names one.

    Example::

        store = ArtifactStore("~/.kibako/artifacts")
        stored = store.put_file("model.pkl", "models/churn/model.pkl")
        store.get_file("models/churn/model.pkl", "/tmp/model.pkl")
    """

    def __init__(self, root_uri: str, storage_options: dict[str, Any] | None = None) -> None:
        if not isinstance(root_uri, str) or not root_uri.strip():
            raise ValidationError(f"the artifact store root must be a folder or URL, got {root_uri!r}")
        self._backend: LocalBackend | FsspecBackend
        if _is_local(root_uri):
            if storage_options:
                raise ValidationError(
                    f"storage_options apply to fsspec URLs such as s3://bucket/prefix, not to the local folder "
                    f"{root_uri!r}; leave them out",
                    uri=root_uri,
                )
            root = _local_root(root_uri)
            self._backend = LocalBackend(root)
            self.root_uri = str(root)
        else:
            self._backend = FsspecBackend(root_uri, storage_options)
            self.root_uri = self._backend.root_uri

    @classmethod
    def from_config(cls, config: Config) -> ArtifactStore:
        """The store at ``config.artifact_uri`` (``KIBAKO_ARTIFACT_URI``, else ``$KIBAKO_HOME/artifacts``)."""
        return cls(config.artifact_uri)

    @property
    def is_local(self) -> bool:
        """Whether the store is a folder on this machine."""
        return isinstance(self._backend, LocalBackend)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root_uri!r})"

    # -- writing ---------------------------------------------------------------------------------------------

    def put_file(self, local_path: PathLike, key: str) -> StoredArtifact:
        """Store one local file under ``key``, replacing what was there; its size and digest come back."""
        key = normalize_key(key)
        src = _existing_source(local_path, want_dir=False)
        self._refuse_kind_change(key, is_dir=False)
        size = src.stat().st_size
        with _key_conflicts(key), transfer_progress(key, size) as advance:
            hex_digest = self._backend.put_file(src, key, advance)
        return StoredArtifact(key=key, uri=self._backend.uri(key), size=size, digest=PREFIX + hex_digest)

    def put_dir(self, local_dir: PathLike, key: str) -> StoredArtifact:
        """Store every file under a local folder as the folder ``key``, replacing the folder that was there."""
        key = normalize_key(key)
        src = _existing_source(local_dir, want_dir=True)
        files = files_under(src)
        if not files:
            raise ValidationError(
                f"the folder {str(src)!r} holds no files; there is nothing to store", path=str(src)
            )
        for rel, _ in files:
            try:
                normalize_key(f"{key}/{rel}")
            except ArtifactKeyError as exc:
                raise ArtifactKeyError(
                    f"cannot store {str(src / rel)!r}: {exc.message}", key=f"{key}/{rel}"
                ) from None
        self._refuse_kind_change(key, is_dir=True)
        size = sum(path.stat().st_size for _, path in files)
        with _key_conflicts(key), transfer_progress(key, size) as advance:
            hexes = self._backend.put_dir(files, key, advance)
        return StoredArtifact(
            key=key, uri=self._backend.uri(key), size=size, digest=listing_digest(hexes), is_dir=True
        )

    def put_bytes(self, data: bytes | bytearray | memoryview, key: str) -> StoredArtifact:
        """Store ``data`` as the file ``key``."""
        key = normalize_key(key)
        payload = bytes(data)
        self._refuse_kind_change(key, is_dir=False)
        with _key_conflicts(key):
            self._backend.put_bytes(payload, key)
        return StoredArtifact(
            key=key, uri=self._backend.uri(key), size=len(payload), digest=bytes_digest(payload)
        )

    def put_path(self, local_path: PathLike, key: str) -> StoredArtifact:
        """Store a local file or folder, whichever ``local_path`` is."""
        if Path(local_path).is_dir():
            return self.put_dir(local_path, key)
        return self.put_file(local_path, key)

    # -- reading ---------------------------------------------------------------------------------------------

    def get_file(self, key: str, local_path: PathLike) -> Path:
        """Copy the file ``key`` to ``local_path`` (parents created; written atomically); the path back."""
        key = normalize_key(key)
        entry = self._entry(key, want_dir=False)
        dest = Path(local_path)
        if dest.is_dir():
            raise ValidationError(
                f"{str(dest)!r} is a folder; pass the path of the file to write, e.g. {str(dest / Path(key).name)!r}",
                path=str(dest),
            )
        with transfer_progress(key, entry.size) as advance:
            self._download(key, dest, advance)
        return dest

    def get_dir(self, key: str, local_dir: PathLike) -> Path:
        """Copy every file of the folder ``key`` into ``local_dir``; files already there under other names stay."""
        key = normalize_key(key)
        self._entry(key, want_dir=True)
        dest = Path(local_dir)
        files = self._backend.files_under(key)
        dest.mkdir(parents=True, exist_ok=True)
        with transfer_progress(key, sum(entry.size for entry in files)) as advance:
            for entry in files:
                self._download(entry.key, dest / entry.key[len(key) + 1 :], advance)
        return dest

    def get_bytes(self, key: str) -> bytes:
        """The content of the file ``key``."""
        key = normalize_key(key)
        self._entry(key, want_dir=False)
        return self._backend.read_bytes(key)

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """A binary file object: ``"rb"`` reads ``key``; ``"wb"`` writes it, published whole on a clean close.

        Leaving a ``with`` block by an exception discards what was written, so the key keeps its old content.
        """
        key = normalize_key(key)
        if mode == "rb":
            self._entry(key, want_dir=False)
            return self._backend.open_read(key)
        if mode == "wb":
            self._refuse_kind_change(key, is_dir=False)
            with _key_conflicts(key):
                return self._backend.open_write(key)  # type: ignore[return-value]
        raise ValidationError(f"open() takes mode 'rb' or 'wb', got {mode!r}", mode=mode)

    def exists(self, key: str) -> bool:
        """Whether a file or folder is stored under ``key``."""
        return self._backend.info(normalize_key(key)) is not None

    def list(self, prefix: str = "", recursive: bool = False) -> builtins.list[ArtifactEntry]:
        """The entries under the folder ``prefix`` ('' for the root), sorted by key.

        Without ``recursive`` the direct children come back, folders included (size 0); with it, every file
        below. A ``prefix`` naming a file lists that file; one naming nothing lists nothing.
        """
        key: str | None = None
        if prefix.strip("/") not in ("", "."):
            key = normalize_key(prefix.rstrip("/"))
            entry = self._backend.info(key)
            if entry is None:
                return []
            if not entry.is_dir:
                return [entry]
        return sorted(self._backend.list_entries(key, recursive), key=lambda entry: entry.key)

    def uri(self, key: str) -> str:
        """The full URI (or local path) of ``key``."""
        return self._backend.uri(normalize_key(key))

    def delete(self, key: str) -> None:
        """Remove the file or folder ``key``."""
        key = normalize_key(key)
        entry = self._backend.info(key)
        if entry is None:
            raise self._not_found(key)
        self._backend.delete(key, entry.is_dir)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _not_found(self, key: str) -> NotFoundError:
        return NotFoundError(f"no artifact under key {key!r} in {self.root_uri}", key=key)

    def _entry(self, key: str, *, want_dir: bool) -> ArtifactEntry:
        entry = self._backend.info(key)
        if entry is None:
            raise self._not_found(key)
        if entry.is_dir and not want_dir:
            raise ValidationError(f"artifact {key!r} is a folder; use get_dir() or list() for it", key=key)
        if want_dir and not entry.is_dir:
            raise ValidationError(
                f"artifact {key!r} is a file; use get_file() or get_bytes() for it", key=key
            )
        return entry

    def _refuse_kind_change(self, key: str, *, is_dir: bool) -> None:
        # A file silently replacing a folder (or the reverse) would lose data on a local store and leave
        # both side by side on an object store; either way it is better refused.
        entry = self._backend.info(key)
        if entry is not None and entry.is_dir != is_dir:
            held, wanted = ("a folder", "a file") if entry.is_dir else ("a file", "a folder")
            raise ConflictError(
                f"artifact key {key!r} holds {held}, so {wanted} cannot be stored there; "
                "delete it first or choose another key",
                key=key,
            )

    def _download(self, key: str, dest: Path, advance: Advance) -> None:
        with self._backend.open_read(key) as source, local_staged_file(dest) as out:
            copy_stream(source, out, advance)


@contextlib.contextmanager
def _key_conflicts(key: str) -> Iterator[None]:
    # On a local store, a file where a parent folder of the key must go shows up only as an OSError.
    try:
        yield
    except (NotADirectoryError, FileExistsError) as exc:
        raise ConflictError(
            f"cannot store under {key!r}: a file stands where one of its folders must go ({exc.strerror})",
            key=key,
        ) from exc


def _is_local(root_uri: str) -> bool:
    return "::" not in root_uri and protocol_of(root_uri) in ("", *_LOCAL_PROTOCOLS)


def _local_root(root_uri: str) -> Path:
    protocol = protocol_of(root_uri)
    raw = root_uri[len(protocol) + 3 :] if protocol else root_uri
    return Path(raw).expanduser().resolve()


def _existing_source(local_path: PathLike, *, want_dir: bool) -> Path:
    path = Path(local_path)
    if want_dir and path.is_file():
        raise ValidationError(f"{str(path)!r} is a file; use put_file() for it", path=str(path))
    if not want_dir and path.is_dir():
        raise ValidationError(f"{str(path)!r} is a folder; use put_dir() for it", path=str(path))
    if not path.exists():
        kind = "folder" if want_dir else "file"
        raise NotFoundError(f"there is no local {kind} at {str(path)!r}", path=str(path))
    return path
