"""Fixtures for the job tests: one local Ray instance for the whole test run (only tests marked ``ray``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray with two CPUs, started once and shut down at the end of the run."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # someone else's Ray: use it, leave it running
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
