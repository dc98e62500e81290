"""Writes that appear whole or not at all: stage next to the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from kibako.artifacts._progress import Advance
from kibako.artifacts.digest import BLOCK_SIZE
from kibako.artifacts.keys import RESERVED_PREFIX


def staging_path(folder: Path) -> Path:
    """A fresh, unused name in ``folder`` for an unfinished write (hidden from listings)."""
    return folder / f"{RESERVED_PREFIX}{secrets.token_hex(8)}"


def is_staging_name(name: str) -> bool:
    """Whether ``name`` is a leftover of an unfinished write."""
    return name.startswith(RESERVED_PREFIX)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms that cannot open folders (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Sink(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


def copy_stream(src: IO[bytes], dst: Sink, advance: Advance, hasher: Any = None) -> int:
    """Copy ``src`` to ``dst`` in 1 MiB blocks, feeding ``hasher`` and ``advance``; the byte count."""
    total = 0
    while block := src.read(BLOCK_SIZE):
        dst.write(block)
        if hasher is not None:
            hasher.update(block)
        advance(len(block))
        total += len(block)
    return total


class StagedFile(io.RawIOBase):
    """A write-only file whose content is published under its final name only when closed without error.

    Leaving a ``with`` block by an exception, calling :meth:`discard`, or dropping the object unclosed
    throws the staged bytes away, so readers never see half a file.
    """

    def __init__(self, staged: Path, publish: Callable[[Path], None], name: str = "") -> None:
        super().__init__()
        # os.open with 0o666 lets the umask decide permissions, as for any ordinary new file.
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        self._file = os.fdopen(fd, "wb")
        self._staged = staged
        self._publish = publish
        self.name = name or str(staged)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._file.write(data)

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        """Publish the staged content under the final name."""
        if self.closed:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._publish(self._staged)
        except BaseException:
            self.discard()
            raise
        super().close()

    def discard(self) -> None:
        """Throw the staged content away; the final name keeps whatever it held before."""
        if self.closed:
            return
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._staged.unlink()
        super().close()

    def __exit__(self, exc_type: type[BaseException] | None, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def __del__(self) -> None:
        # IOBase would close (and so publish) on garbage collection; an unclosed write is unfinished.
        if not self.closed and hasattr(self, "_file"):
            self.discard()


def local_staged_file(target: Path) -> StagedFile:
    """A :class:`StagedFile` that lands on ``target`` by an atomic rename in the same folder."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def publish(staged: Path) -> None:
        os.replace(staged, target)
        fsync_dir(target.parent)

    return StagedFile(staging_path(target.parent), publish, name=str(target))


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty folder to fill; on success it replaces ``target`` whole, on error it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(target.parent)
    staged.mkdir()
    try:
        yield staged
        _swap_in(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _swap_in(staged: Path, target: Path) -> None:
    # A folder cannot be renamed over a non-empty one, so an existing target steps aside first; readers
    # may briefly find nothing there, but never a mix of old and new files.
    for _attempt in range(3):
        try:
            os.rename(staged, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR):
                raise
        else:
            fsync_dir(target.parent)
            return
        old = staging_path(target.parent)
        try:
            os.rename(target, old)
        except FileNotFoundError:
            continue  # someone removed it meanwhile; try the plain rename again
        try:
            os.rename(staged, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        fsync_dir(target.parent)
        return
    raise OSError(errno.EBUSY, f"could not replace {target}: it keeps changing")
