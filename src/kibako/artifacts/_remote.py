"""The artifact store's fsspec backend, for object stores such as ``s3://bucket/prefix``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from kibako.artifacts._atomic import StagedFile, staging_path
from kibako.artifacts._progress import Advance, fsspec_callback
from kibako.artifacts.digest import file_sha256_hex
from kibako.artifacts.models import ArtifactEntry
from kibako.errors import ValidationError

S3_PROTOCOLS = frozenset({"s3", "s3a"})
ENDPOINT_VARIABLES = ("KIBAKO_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")


def protocol_of(uri: str) -> str:
    """The scheme of ``uri`` in lower case, or '' for a plain path."""
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


def resolve_storage_options(
    root_uri: str, storage_options: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The fsspec options for ``root_uri``: for S3, an endpoint from the environment unless one is given."""
    options = dict(storage_options or {})
    if protocol_of(root_uri) not in S3_PROTOCOLS:
        return options
    e = os.environ if env is None else env
    endpoint = next((e[name] for name in ENDPOINT_VARIABLES if e.get(name)), None)
    client_kwargs = dict(options.get("client_kwargs") or {})
    if endpoint and "endpoint_url" not in options and "endpoint_url" not in client_kwargs:
        client_kwargs["endpoint_url"] = endpoint
        options["client_kwargs"] = client_kwargs
    return options


class FsspecBackend:
    """Keys map to paths under the root of an fsspec filesystem."""

    def __init__(self, root_uri: str, storage_options: Mapping[str, Any] | None) -> None:
        import fsspec

        options = resolve_storage_options(root_uri, storage_options)
        try:
            self.fs, root = fsspec.core.url_to_fs(root_uri, **options)
        except ImportError as exc:
            raise ValidationError(
                f"cannot open the artifact store {root_uri!r}: {exc} "
                "(for s3:// URLs, install the 's3' extra: pip install 'kibako[s3]')",
                uri=root_uri,
            ) from exc
        except ValueError as exc:
            raise ValidationError(
                f"cannot open the artifact store {root_uri!r}: {exc}", uri=root_uri
            ) from exc
        self.root = str(root).rstrip("/")
        self.root_uri = root_uri.rstrip("/")

    def uri(self, key: str) -> str:
        return f"{self.root_uri}/{key}"

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _key_of(self, path: str) -> str | None:
        path = path.rstrip("/")
        prefix = self.root + "/"
        return path[len(prefix) :] if path.startswith(prefix) and len(path) > len(prefix) else None

    def _fresh(self) -> None:
        # Listings are cached per process; another process may have written since.
        self.fs.invalidate_cache()

    def info(self, key: str) -> ArtifactEntry | None:
        self._fresh()
        try:
            found = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        if found.get("type") == "directory":
            return ArtifactEntry(key=key, size=0, is_dir=True)
        return ArtifactEntry(key=key, size=int(found.get("size") or 0))

    def put_file(self, src: Path, key: str, advance: Advance) -> str:
        hex_digest = file_sha256_hex(src)
        # Object stores publish an upload whole (a failed multipart upload is aborted), so no staging.
        self.fs.put_file(str(src), self._path(key), callback=fsspec_callback(advance))
        return hex_digest

    def put_dir(self, files: list[tuple[str, Path]], key: str, advance: Advance) -> list[tuple[str, str]]:
        hexes = [(rel, file_sha256_hex(src)) for rel, src in files]
        for rel, src in files:
            self.fs.put_file(str(src), self._path(f"{key}/{rel}"), callback=fsspec_callback(advance))
        # The new files are all in place before the old extras go, so the folder is never empty.
        wanted = {f"{key}/{rel}" for rel, _ in files}
        stale = [self._path(entry.key) for entry in self.files_under(key) if entry.key not in wanted]
        if stale:
            self.fs.rm(stale)
        return hexes

    def put_bytes(self, data: bytes, key: str) -> None:
        self.fs.pipe_file(self._path(key), data)

    def open_read(self, key: str) -> IO[bytes]:
        opened: IO[bytes] = self.fs.open(self._path(key), "rb")
        return opened

    def open_write(self, key: str) -> StagedFile:
        path = self._path(key)

        def publish(staged: Path) -> None:
            try:
                self.fs.put_file(str(staged), path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    staged.unlink()

        # Stage locally so that a write abandoned halfway never reaches the object store.
        return StagedFile(staging_path(Path(tempfile.gettempdir())), publish, name=self.uri(key))

    def read_bytes(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(key))
        return data

    def list_entries(self, key: str | None, recursive: bool) -> list[ArtifactEntry]:
        self._fresh()
        path = self.root if key is None else self._path(key)
        if recursive:
            found = self.fs.find(path, detail=True)
            return self._entries(found.values())
        try:
            return self._entries(self.fs.ls(path, detail=True))
        except FileNotFoundError:
            return []

    def files_under(self, key: str) -> list[ArtifactEntry]:
        return self.list_entries(key, recursive=True)

    def _entries(self, infos: Any) -> list[ArtifactEntry]:
        entries = []
        for found in infos:
            key = self._key_of(found["name"])
            if key is None:  # the folder itself, as some stores list it
                continue
            if found.get("type") == "directory":
                entries.append(ArtifactEntry(key=key, size=0, is_dir=True))
            else:
                entries.append(ArtifactEntry(key=key, size=int(found.get("size") or 0)))
        return entries

    def delete(self, key: str, is_dir: bool) -> None:
        self.fs.rm(self._path(key), recursive=is_dir)
        self._fresh()
