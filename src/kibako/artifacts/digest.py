"""Content digests of files, folders and bytes, written ``sha256:<hex>``.

A folder's digest covers the relative path and content of every file under it, so renaming, adding, removing
or changing a file changes it; empty folders do not count. It is the sha256 of the sorted lines
``<relative posix path>\\0<file sha256 hex>\\n``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from kibako.errors import NotFoundError

BLOCK_SIZE = 1024 * 1024
PREFIX = "sha256:"


def bytes_digest(data: bytes | bytearray | memoryview) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def file_sha256_hex(path: str | os.PathLike[str]) -> str:
    """The bare sha256 hex of a file's content, read in 1 MiB blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK_SIZE):
            hasher.update(block)
    return hasher.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """The ``sha256:<hex>`` digest of a file's content."""
    return PREFIX + file_sha256_hex(path)


def files_under(path: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Every file under a folder as ``(relative posix path, path)``, sorted by relative path.

    Symbolic links to files count as their target's content; links to folders are not followed, so a link
    cycle cannot make a walk endless.
    """
    root = Path(path)
    found: list[tuple[str, Path]] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in filenames:
            full = here / name
            if full.is_file():
                found.append((full.relative_to(root).as_posix(), full))
    found.sort(key=lambda item: item[0])
    return found


def listing_digest(entries: Iterable[tuple[str, str]]) -> str:
    """The folder digest of ``(relative posix path, file sha256 hex)`` pairs, in any order."""
    lines = sorted(f"{rel}\0{hex_digest}\n" for rel, hex_digest in entries)
    hasher = hashlib.sha256()
    for line in lines:
        hasher.update(line.encode("utf-8", "surrogateescape"))
    return PREFIX + hasher.hexdigest()


def dir_digest(path: str | os.PathLike[str]) -> str:
    """The ``sha256:<hex>`` digest of every file's relative path and content under a folder."""
    return listing_digest((rel, file_sha256_hex(full)) for rel, full in files_under(path))


def path_digest(path: str | os.PathLike[str]) -> str:
    """The digest of a file or a folder, whichever ``path`` is."""
    p = Path(path)
    if p.is_dir():
        return dir_digest(p)
    if p.is_file():
        return file_digest(p)
    raise NotFoundError(f"cannot digest {str(p)!r}: no file or folder is there", path=str(p))
