"""The JSONPath subset of SageMaker batch transform: SageMaker's documented examples, and clear refusals."""

from __future__ import annotations

from typing import Any

import pytest

from kibako.core.jsonpath import JsonPathError, compile_path

ROW = ["id-7", "5.1", "3.5", "1.4", "0.2", "yes"]
RECORD = {"id": 7, "features": [5.1, 3.5, 1.4], "meta": {"a": 1, "b": 2}, "SageMakerOutput": 0}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("$", ROW, ROW),
        ("$[1:]", ROW, ROW[1:]),
        ("$[:2]", ROW, ROW[:3]),  # the end is included, as SageMaker documents slices
        ("$[1:4]", ROW, ROW[1:5]),  # "$[1:4] specifies the second through fifth columns"
        ("$[2:5]", ROW, ROW[2:6]),
        ("$[0]", ROW, "id-7"),
        ("$[-1]", ROW, "yes"),
        ("$[1,3,5]", ROW, ["5.1", "1.4", "yes"]),
        ("$[0,-1]", ROW, ["id-7", "yes"]),
        ("$[0,4:]", ROW, ["id-7", "0.2", "yes"]),
        ("$[*]", ROW, ROW),
        ("$.features", RECORD, [5.1, 3.5, 1.4]),
        ("$.features[0]", RECORD, 5.1),
        ("$.meta.b", RECORD, 2),
        ("$.meta.*", RECORD, [1, 2]),
        ("$['id','SageMakerOutput']", RECORD, {"id": 7, "SageMakerOutput": 0}),
        ('$["id"]', RECORD, 7),
        ("$.meta.['a','b']", RECORD, {"a": 1, "b": 2}),
        ("$.meta['a', 'b']", RECORD, {"a": 1, "b": 2}),
        ("$['my field']", {"my field": 3}, 3),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("$") else "",
)
def test_supported_paths_select_what_sagemaker_documents(path: str, value: Any, expected: Any) -> None:
    assert compile_path(path).apply(value) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("features", "must start with '\\$'"),
        ("$..features", "deep scan"),
        ("$[0:2,246:]", "only single range filters"),
        ("$[?(@.x > 1)]", "filter and script expressions"),
        ("$[1:5:2]", "steps are not supported"),
        ("$[a]", "is not an index"),
        ("$[1:].x", "must be the last one"),
        ("$['a','b'].c", "must be the last one"),
        ("$.meta.['a','b.c']", "nested names inside brackets"),
        ("$[1", "never closed"),
        ("$.", "expected a name"),
        ("$[]", "empty brackets"),
    ],
)
def test_unsupported_paths_are_refused_with_the_reason(path: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        compile_path(path)


def test_the_root_and_index_only_paths_are_told_apart() -> None:
    assert compile_path("$").is_root and not compile_path("$[1:]").is_root
    assert compile_path("$[1:]").by_index_only and compile_path("$[0,-1]").by_index_only
    assert not compile_path("$.features").by_index_only


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("$[9]", ROW, "index 9 is outside the record's 6"),
        ("$[2:9]", ROW, "index 9 is outside"),
        ("$.features", ROW, "not an object"),
        ("$[0]", RECORD, "not an array"),
        ("$.missing", RECORD, "no 'missing'"),
        ("$['id','nope']", RECORD, "no 'nope'"),
        ("$.id.*", RECORD, "'\\*' needs an object or an array"),
    ],
)
def test_a_record_without_what_the_path_selects_is_an_error(path: str, value: Any, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        compile_path(path).apply(value)
