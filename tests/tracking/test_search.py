"""Run search over a real store: every operator, and/or, NULL handling, ordering and keyset pages."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _search_fixtures import BACKENDS, RunRow, add_experiments, add_runs, open_store

from kibako.errors import FilterSyntaxError, ValidationError
from kibako.store.engine import Store
from kibako.tracking.search import search_run_ids

# Five runs in two experiments, plus a training job that must never be found. A metric value of None is NaN.
RUNS = [
    RunRow(
        "r1", name="alpha", start=1000, end=2000, created=10,
        params={"lr": "0.1", "model": "XGB"}, tags={"team": "vision"}, metrics={"auc": 0.9, "loss": 0.3},
    ),
    RunRow(
        "r2", name="beta", status="Failed", start=2000, end=2500, created=20,
        params={"lr": "0.01", "model": "xgb-large"}, tags={"team": "nlp"}, metrics={"auc": 0.7, "loss": None},
    ),
    RunRow(
        "r3", name="Gamma_1", status="InProgress", start=3000, created=30,
        params={"lr": "0.1", "model": "lr"}, metrics={"auc": 0.95},
    ),
    RunRow("r4", name="delta", status="Stopped", created=40, tags={"team": "vision", "note": "50% off", "path": "a\\b\\"}),
    RunRow(
        "r5", experiment="e2", name="epsilon", start=1500, end=1600, created=50, params={"lr": "0.5"},
        tags={"a-b": "x*[y]?"}, metrics={"val loss": 0.2, "train/loss.epoch": 1.5},
    ),
    RunRow(
        "job1", type="TrainingJob", start=9000, params={"lr": "0.1"}, tags={"team": "vision"},
        metrics={"auc": 0.99},
    ),
]  # fmt: skip


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    yield from open_store(request.param, tmp_path)


@pytest.fixture
def runs_store(store: Store) -> Store:
    add_experiments(store, "e1", "e2")
    add_runs(store, RUNS)
    return store


def search(store: Store, **kwargs: Any) -> tuple[list[str], str | None]:
    kwargs.setdefault("experiment_ids", None)
    with store.read() as conn:
        return search_run_ids(conn, **kwargs)


def matching(store: Store, filter_string: str) -> list[str]:
    ids, token = search(store, filter_string=filter_string, order_by=["attributes.run_id"])
    assert token is None
    return ids


FILTERS = [
    # metrics: last value, NaN (NULL) never matches, IS NULL means the run has no such metric
    pytest.param("metrics.auc > 0.9", ["r3"], id="metric-gt"),
    pytest.param("metrics.auc >= 0.9", ["r1", "r3"], id="metric-ge"),
    pytest.param("metrics.auc < 0.9", ["r2"], id="metric-lt"),
    pytest.param("metrics.auc <= 0.9", ["r1", "r2"], id="metric-le"),
    pytest.param("metrics.auc = 0.7", ["r2"], id="metric-eq"),
    pytest.param("metrics.auc != 0.7", ["r1", "r3"], id="metric-ne"),
    pytest.param("metrics.loss != 0.3", [], id="nan-never-matches-ne"),
    pytest.param("metrics.loss < 1e9 or metrics.loss > -1e9", ["r1"], id="nan-never-matches-range"),
    pytest.param("metrics.loss IS NULL", ["r3", "r4", "r5"], id="metric-absent"),
    pytest.param("metrics.loss IS NOT NULL", ["r1", "r2"], id="metric-present"),
    pytest.param('metrics."val loss" < 0.5', ["r5"], id="quoted-metric-key"),
    pytest.param("metrics.train/loss.epoch = 1.5", ["r5"], id="metric-key-with-dots"),
    # params
    pytest.param("params.lr = '0.1'", ["r1", "r3"], id="param-eq"),
    pytest.param("params.lr != '0.1'", ["r2", "r5"], id="param-ne-needs-the-param"),
    pytest.param("params.model LIKE 'xgb%'", ["r2"], id="like-is-case-sensitive"),
    pytest.param("params.model LIKE '_GB'", ["r1"], id="like-underscore"),
    pytest.param("params.model ILIKE 'xgb%'", ["r1", "r2"], id="ilike"),
    pytest.param("params.model ILIKE 'X_B-LARGE'", ["r2"], id="ilike-underscore"),
    pytest.param("params.model IN ('lr', 'XGB')", ["r1", "r3"], id="in"),
    pytest.param("params.model NOT IN ('lr')", ["r1", "r2"], id="not-in"),
    pytest.param("params.model IS NULL", ["r4", "r5"], id="param-absent"),
    pytest.param("params.model IS NOT NULL", ["r1", "r2", "r3"], id="param-present"),
    # tags, including LIKE escapes and characters that are wildcards elsewhere
    pytest.param("tags.team = 'vision'", ["r1", "r4"], id="tag-eq"),
    pytest.param("tags.team != 'vision'", ["r2"], id="tag-ne"),
    pytest.param("tags.note LIKE '50\\% off'", ["r4"], id="like-escaped-percent"),
    pytest.param("tags.note LIKE '5_\\%%'", ["r4"], id="like-mixed"),
    pytest.param("tags.note LIKE '50\\_%'", [], id="like-escaped-underscore"),
    pytest.param("tags.`a-b` LIKE 'x*[y]?'", ["r5"], id="like-glob-chars-literal"),
    pytest.param("tags.`a-b` LIKE 'x_[%'", ["r5"], id="like-glob-chars-with-wildcards"),
    pytest.param("tags.`a-b` LIKE '*%'", [], id="like-star-is-not-a-wildcard"),
    pytest.param("tags.`a-b` ILIKE 'X*[Y]?'", ["r5"], id="ilike-glob-chars"),
    pytest.param(r"tags.path = 'a\\b\\'", ["r4"], id="backslashes-in-value"),
    pytest.param(r"tags.path LIKE 'a%\\'", ["r4"], id="like-trailing-backslash-is-literal"),
    pytest.param(r"tags.path LIKE 'a\\\\b%'", ["r4"], id="like-escaped-backslash"),
    pytest.param(r"tags.path LIKE 'a\\b%'", [], id="like-backslash-escapes-next"),
    pytest.param("tags.team IS NULL", ["r3", "r5"], id="tag-absent"),
    pytest.param("tags.team IN ('nlp', 'none')", ["r2"], id="tag-in"),
    # attributes
    pytest.param("attributes.status = 'Completed'", ["r1", "r5"], id="status-eq"),
    pytest.param("attributes.status = 'FINISHED'", ["r1", "r5"], id="status-mlflow-name"),
    pytest.param("attributes.status IN ('FAILED', 'Stopped')", ["r2", "r4"], id="status-in-mixed-names"),
    pytest.param("attributes.status != 'Completed'", ["r2", "r3", "r4"], id="status-ne"),
    pytest.param("attributes.status NOT IN ('Completed', 'Failed')", ["r3", "r4"], id="status-not-in"),
    pytest.param("attributes.run_name = 'alpha'", ["r1"], id="run-name"),
    pytest.param("name LIKE 'Gamma\\_%'", ["r3"], id="name-like-escaped"),
    pytest.param("name LIKE 'gamma%'", [], id="name-like-case-sensitive"),
    pytest.param("attributes.name ILIKE 'GAMMA%'", ["r3"], id="name-ilike"),
    pytest.param("attributes.start_time >= 2000", ["r2", "r3"], id="start-ge"),
    pytest.param("attributes.start_time < 1500", ["r1"], id="start-lt-skips-null"),
    pytest.param("attributes.start_time != 1000", ["r2", "r3", "r5"], id="start-ne-skips-null"),
    pytest.param("attributes.end_time IS NULL", ["r3", "r4"], id="end-null"),
    pytest.param("attributes.end_time IS NOT NULL", ["r1", "r2", "r5"], id="end-not-null"),
    pytest.param("attributes.created > 30", ["r4", "r5"], id="created"),
    pytest.param("attributes.run_id = 'r2'", ["r2"], id="run-id"),
    pytest.param("attributes.run_id IN ('r1', 'r5', 'job1')", ["r1", "r5"], id="run-id-in-not-jobs"),
    pytest.param("attributes.experiment_id = 'e2'", ["r5"], id="experiment-id"),
    # combinations
    pytest.param("", ["r1", "r2", "r3", "r4", "r5"], id="empty-is-everything"),
    pytest.param("params.lr = '0.1' and metrics.auc > 0.92", ["r3"], id="and"),
    pytest.param("tags.team = 'nlp' or metrics.auc > 0.92", ["r2", "r3"], id="or"),
    pytest.param(
        "params.lr = '0.1' or params.lr = '0.01' and tags.team = 'vision'", ["r1", "r3"], id="and-before-or"
    ),
    pytest.param(
        "(params.lr = '0.1' or params.lr = '0.01') and tags.team = 'vision'", ["r1"], id="parentheses"
    ),
    pytest.param(
        "params.lr = '0.1' AND (metrics.auc > 0.92 OR tags.team = 'vision') and attributes.status != 'Failed'",
        ["r1", "r3"],
        id="nested",
    ),
    pytest.param("metrics.auc > 0.8 and metrics.auc < 0.92", ["r1"], id="same-key-twice"),
]


@pytest.mark.parametrize(("filter_string", "expected"), FILTERS)
def test_filter_finds_exactly_the_matching_runs(
    runs_store: Store, filter_string: str, expected: list[str]
) -> None:
    assert matching(runs_store, filter_string) == expected


@pytest.mark.parametrize(
    ("experiment_ids", "expected"),
    [
        pytest.param(None, ["r1", "r2", "r3", "r4", "r5"], id="all"),
        pytest.param(["e2"], ["r5"], id="one"),
        pytest.param(["e1", "e2"], ["r1", "r2", "r3", "r4", "r5"], id="both"),
        pytest.param(["nope"], [], id="unknown"),
        pytest.param([], [], id="none"),
    ],
)
def test_experiment_ids_limit_the_search(runs_store: Store, experiment_ids: Any, expected: list[str]) -> None:
    ids, _ = search(runs_store, experiment_ids=experiment_ids, order_by=["attributes.run_id"])
    assert ids == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        pytest.param(None, ["r3", "r2", "r5", "r1", "r4"], id="default-newest-first-nulls-last"),
        pytest.param(
            ["attributes.start_time ASC"], ["r1", "r5", "r2", "r3", "r4"], id="start-asc-nulls-last"
        ),
        pytest.param(["metrics.auc DESC"], ["r3", "r1", "r2", "r5", "r4"], id="metric-desc-missing-last"),
        pytest.param(["metrics.auc"], ["r2", "r1", "r3", "r5", "r4"], id="metric-asc-missing-last"),
        pytest.param(["metrics.loss DESC"], ["r1", "r3", "r2", "r5", "r4"], id="nan-sorts-with-missing"),
        pytest.param(["metrics.loss ASC"], ["r1", "r3", "r2", "r5", "r4"], id="nan-last-ascending-too"),
        pytest.param(["params.lr"], ["r2", "r3", "r1", "r5", "r4"], id="param-ties-by-start"),
        pytest.param(["tags.team DESC"], ["r1", "r4", "r2", "r3", "r5"], id="tag-desc"),
        pytest.param(["tags.team DESC", "attributes.created DESC"], ["r4", "r1", "r2", "r5", "r3"], id="two"),
        pytest.param(["attributes.end_time DESC"], ["r2", "r1", "r5", "r3", "r4"], id="end-desc-nulls-last"),
        pytest.param(["attributes.run_id DESC"], ["r5", "r4", "r3", "r2", "r1"], id="run-id-desc"),
    ],
)
def test_order_puts_missing_values_last(runs_store: Store, order_by: Any, expected: list[str]) -> None:
    assert search(runs_store, order_by=order_by)[0] == expected


def test_syntax_error_reaches_the_caller(runs_store: Store) -> None:
    with pytest.raises(FilterSyntaxError) as caught:
        search(runs_store, filter_string="params.lr = 0.1")
    assert caught.value.position == 12


@pytest.mark.parametrize(
    "max_results",
    [pytest.param(v, id=repr(v)) for v in (0, -1, 50_001, 1.5, True, "10", None)],
)
def test_bad_max_results_is_refused(runs_store: Store, max_results: Any) -> None:
    with pytest.raises(ValidationError, match="max_results"):
        search(runs_store, max_results=max_results)


@pytest.mark.parametrize("max_results", [1, 50_000], ids=["smallest", "largest"])
def test_max_results_limits_are_inclusive(runs_store: Store, max_results: int) -> None:
    ids, token = search(runs_store, max_results=max_results)
    assert len(ids) == min(max_results, 5)
    assert (token is None) == (max_results >= 5)


def test_exact_page_has_no_next_token(runs_store: Store) -> None:
    ids, token = search(runs_store, max_results=5)
    assert len(ids) == 5 and token is None


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"filter_string": "metrics.auc > 0"}, id="other-filter"),
        pytest.param({"order_by": ["metrics.auc DESC"]}, id="other-order"),
        pytest.param({"experiment_ids": ["e1"]}, id="other-experiments"),
    ],
)
def test_token_from_another_query_is_refused(runs_store: Store, other: dict[str, Any]) -> None:
    _, token = search(runs_store, max_results=2)
    assert token is not None
    with pytest.raises(ValidationError, match="page token does not belong to this query"):
        search(runs_store, max_results=2, page_token=token, **other)


@pytest.mark.parametrize(
    "token", ["not a token", "e30", "W10", "eyJxIjoxfQ"], ids=["junk", "{}", "[]", "q-int"]
)
def test_malformed_token_is_refused(runs_store: Store, token: str) -> None:
    with pytest.raises(ValidationError, match="page token is malformed"):
        search(runs_store, page_token=token)


def _paging_runs() -> list[RunRow]:
    """37 runs with ties, NaNs, missing metrics and params, and missing start times."""
    rnd = random.Random(7)
    runs = []
    for i in range(37):
        metric: float | str | None = rnd.choice([None, "missing", 0.25, 0.5, 0.75, rnd.random()])
        runs.append(
            RunRow(
                f"p{i:03d}",
                start=rnd.choice([None, 100, 200, 300, 1000 + i]),
                created=rnd.choice([1, 2, 3]),
                params={} if i % 5 == 0 else {"opt": rnd.choice(["adam", "sgd", "rmsprop"])},
                tags={"kind": rnd.choice(["a", "b"])} if i % 3 else {},
                metrics={"acc": metric} if not isinstance(metric, str) else {},
            )
        )
    return runs


def _reference_order(runs: list[RunRow], order: list[tuple[str, bool]]) -> list[str]:
    """The order search must give, computed in Python: each key with missing values last, then start time
    (newest first, unless named), then run id."""
    if not any(name == "start" for name, _ in order):
        order = order + [("start", True)]

    def value(run: RunRow, name: str) -> Any:
        if name in ("start", "created"):
            return getattr(run, name)
        kind, key = name.split(".")
        return {"metrics": run.metrics, "params": run.params, "tags": run.tags}[kind].get(key)

    ordered = sorted(runs, key=lambda r: r.id)
    for name, descending in reversed(order):  # stable sorts, least significant key first
        present = [r for r in ordered if value(r, name) is not None]
        present.sort(key=lambda r: value(r, name), reverse=descending)
        ordered = present + [r for r in ordered if value(r, name) is None]
    return [r.id for r in ordered]


PAGED_ORDERS = [
    pytest.param(None, [], id="default"),
    pytest.param(["metrics.acc DESC"], [("metrics.acc", True)], id="metric-desc"),
    pytest.param(["metrics.acc"], [("metrics.acc", False)], id="metric-asc"),
    pytest.param(
        ["params.opt DESC", "metrics.acc"], [("params.opt", True), ("metrics.acc", False)], id="two"
    ),
    pytest.param(
        ["tags.kind", "attributes.created DESC"], [("tags.kind", False), ("created", True)], id="tag"
    ),
    pytest.param(["attributes.start_time ASC"], [("start", False)], id="start-asc"),
]


@pytest.mark.parametrize("page_size", [1, 4, 10], ids=["size-1", "size-4", "size-10"])
@pytest.mark.parametrize(("order_by", "reference"), PAGED_ORDERS)
def test_pages_cover_every_run_once_in_order(
    store: Store, order_by: list[str] | None, reference: list[tuple[str, bool]], page_size: int
) -> None:
    runs = _paging_runs()
    add_experiments(store, "e1")
    add_runs(store, runs)
    seen: list[str] = []
    token: str | None = None
    for _ in range(len(runs) + 1):
        ids, token = search(store, order_by=order_by, max_results=page_size, page_token=token)
        assert 0 < len(ids) <= page_size
        seen.extend(ids)
        if token is None:
            break
    assert seen == _reference_order(runs, reference)


def test_filter_and_pages_work_together(store: Store) -> None:
    runs = _paging_runs()
    add_experiments(store, "e1")
    add_runs(store, runs)
    query = {"filter_string": "metrics.acc >= 0.5 or params.opt = 'sgd'", "order_by": ["metrics.acc DESC"]}
    everything, _ = search(store, max_results=1000, **query)
    pages: list[str] = []
    token: str | None = None
    while True:
        ids, token = search(store, max_results=3, page_token=token, **query)
        pages.extend(ids)
        if token is None:
            break
    expected = {r.id for r in runs if (r.metrics.get("acc") or 0) >= 0.5 or r.params.get("opt") == "sgd"}
    assert pages == everything and set(pages) == expected
