"""A progress bar for large transfers, shown only where someone can watch it.

Rich is imported only when a bar is actually drawn, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

LARGE_TRANSFER_BYTES = 64 * 1024 * 1024

Advance = Callable[[int], None]


def _ignore(_n: int) -> None:
    return None


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


@contextlib.contextmanager
def transfer_progress(
    description: str,
    total: int,
    *,
    stream: TextIO | None = None,
    threshold: int | None = None,
) -> Iterator[Advance]:
    """Yield an ``advance(n_bytes)`` function; draws a Rich bar on ``stream`` (stderr) for large transfers.

    Nothing is drawn when ``stream`` is not a terminal or ``total`` is at most ``threshold`` bytes
    (default :data:`LARGE_TRANSFER_BYTES`, 64 MiB).
    """
    out = sys.stderr if stream is None else stream
    limit = LARGE_TRANSFER_BYTES if threshold is None else threshold
    if total <= limit or not _is_tty(out):
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=out)) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        yield advance


def fsspec_callback(advance: Advance) -> Any:
    """An fsspec ``Callback`` that forwards each transfer's byte increments to ``advance``."""
    from fsspec.callbacks import Callback

    seen = 0

    def relay(size: int | None, value: int, **_: Any) -> None:
        nonlocal seen
        # fsspec reports running totals; the bar wants increments.
        if value > seen:
            advance(value - seen)
            seen = value

    return Callback(hooks={"progress": relay})
