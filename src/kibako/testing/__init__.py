"""Shipped helpers for testing code that uses kibako: a frozen clock and a throwaway embedded platform."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from kibako.core.clock import FrozenClock
from kibako.core.config import Config

if TYPE_CHECKING:
    from kibako.sdk.services import Services

__all__ = ["FrozenClock", "temporary_platform"]


@contextmanager
def temporary_platform(clock: FrozenClock | None = None) -> Iterator[Services]:
    """Every service over a fresh SQLite store in a temporary folder, removed afterwards."""
    from kibako.sdk.services import Services

    with tempfile.TemporaryDirectory(prefix="kibako-test-") as home:
        services = Services.open(Config.from_env({"KIBAKO_HOME": home}), clock=clock)
        try:
            yield services
        finally:
            services.close()
