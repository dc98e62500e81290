"""MetricDefinitions turn log lines into metric points, as SageMaker's log parser does."""

from __future__ import annotations

import math

import pytest

import kibako
from kibako.jobs.metrics import MetricDefinition, MetricScraper


def test_first_group_of_every_match_is_a_point() -> None:
    scraper = MetricScraper(
        [
            {"Name": "train:error", "Regex": "Train_error=(.*?);"},
            {"Name": "validation:auc", "Regex": r"val_auc: ([0-9.eE+-]+)"},
        ]
    )
    assert scraper.scan("epoch 3 Train_error=0.25; Train_error=0.2; val_auc: 9.1e-1") == [
        ("train:error", 0.25),
        ("train:error", 0.2),
        ("validation:auc", 0.91),
    ]
    assert scraper.scan("nothing here") == []


def test_values_that_are_not_numbers_are_skipped_and_nan_is_kept() -> None:
    scraper = MetricScraper([MetricDefinition("loss", r"loss=(\S+)")])
    points = scraper.scan_all(["loss=abc", "loss=nan", "loss=1"])
    assert [p[0] for p in points] == ["loss", "loss"]
    assert math.isnan(points[0][1]) and points[1][1] == 1.0


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        ({"Name": "x", "Regex": "a" * 501}, "limit is 500"),
        ({"Name": "x", "Regex": "(unclosed"}, "does not compile"),
        ({"Name": "x", "Regex": "loss=0.5"}, "capture group"),
        ({"Regex": "(x)"}, "Name"),
        ({"Name": "", "Regex": "(x)"}, "needs a Name"),
    ],
    ids=["too-long", "bad-regex", "no-group", "missing-name", "empty-name"],
)
def test_bad_definitions_are_refused_with_the_reason(definition: dict, words: str) -> None:
    with pytest.raises(kibako.ValidationError, match=words):
        MetricScraper([definition])
