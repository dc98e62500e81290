"""Reaching kibako from a command: one client per process, errors turned into exit codes."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def client() -> Any:
    import kibako

    return kibako.connect()


def handle_errors(fn: F) -> F:
    """Our errors print their headline and message in red on stderr and exit 1; a traceback only with
    KIBAKO_DEBUG=1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kibako.errors import KibakoError

        try:
            return fn(*args, **kwargs)
        except KibakoError as exc:
            if os.environ.get("KIBAKO_DEBUG", "").lower() not in ("", "0", "false", "no"):
                raise
            from rich.console import Console
            from rich.text import Text

            Console(stderr=True).print(
                Text.assemble((f"Error: {exc.headline}", "bold red"), "\n", exc.message)
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
