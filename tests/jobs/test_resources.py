"""Instance types read as cpus, memory and GPUs; explicit values win; unknown types are refused."""

from __future__ import annotations

import pytest

import kibako
from kibako.jobs.resources import Resources, resolve


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"instance_type": "ml.m5.xlarge"}, Resources(4, 16 * 1024, 0)),
        ({"instance_type": "ml.g5.xlarge"}, Resources(4, 16 * 1024, 1)),
        ({"instance_type": "ml.m5.xlarge", "cpus": 2}, Resources(2, 16 * 1024, 0)),
        ({"cpus": 3, "memory_gib": 0.5, "gpus": 1}, Resources(3, 512, 1)),
        ({}, Resources(1, 1024, 0)),
    ],
    ids=["cpu-type", "gpu-type", "override", "explicit", "default"],
)
def test_resources_resolve(kwargs: dict, expected: Resources) -> None:
    assert resolve(**kwargs) == expected


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"instance_type": "ml.huge.enormous"}, "unknown instance type"),
        ({"cpus": 0}, "at least 1 CPU"),
        ({"gpus": -1}, "negative GPUs"),
    ],
    ids=["unknown-type", "zero-cpus", "negative-gpus"],
)
def test_bad_requests_are_refused(kwargs: dict, words: str) -> None:
    with pytest.raises(kibako.ValidationError, match=words):
        resolve(**kwargs)
