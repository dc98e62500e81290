"""Run lifecycle, params, metrics and tags, through the SDK (embedded and remote)."""

from __future__ import annotations

import math

import pytest

import kibako


def test_run_context_completes_and_records_times(kb: kibako.Kibako) -> None:
    with kb.run("churn", name="baseline") as run:
        assert kb.get_run(run.id).status == "InProgress"
    stored = kb.get_run(run.id)
    assert stored.status == "Completed"
    assert stored.start_time is not None and stored.end_time is not None
    assert stored.end_time >= stored.start_time
    assert stored.experiment_name == "churn"


def test_exception_in_run_block_marks_run_failed(kb: kibako.Kibako) -> None:
    with pytest.raises(ZeroDivisionError), kb.run("churn") as run:
        run.log_metric("x", 1.0)
        _ = 1 / 0
    stored = kb.get_run(run.id)
    assert stored.status == "Failed"
    assert stored.metrics["x"].last == 1.0, "what was logged before the failure is kept"


def test_keyboard_interrupt_marks_run_stopped(kb: kibako.Kibako) -> None:
    with pytest.raises(KeyboardInterrupt), kb.run("churn") as run:
        raise KeyboardInterrupt
    assert kb.get_run(run.id).status == "Stopped"


def test_param_logged_again_keeps_history(kb: kibako.Kibako) -> None:
    with kb.run("churn") as run:
        run.log_param("lr", 0.1)
        run.log_params({"lr": 0.2, "depth": 3})
    stored = kb.get_run(run.id)
    assert stored.params == {"lr": "0.2", "depth": "3"}
    assert [c.value for c in kb.tracking.get_param_history(run.id, "lr")] == ["0.1", "0.2"]


def test_sagemaker_and_mlflow_method_names_both_work(kb: kibako.Kibako) -> None:
    with kb.run("churn") as run:
        run.log_parameter("a", 1)
        run.log_parameters({"b": 2})
        run.log_param("c", 3)
        run.log_metrics({"m": 1.0}, step=1)
        run.log_batch(metrics=[("n", 2.0, 5, 1_700_000_000_000)], params={"d": 4}, tags={"t": "x"})
        run.set_tag("u", "y")
    stored = kb.get_run(run.id)
    assert stored.params == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert stored.tags == {"t": "x", "u": "y"}
    assert stored.metrics["n"].last_step == 5


def test_metric_summaries_are_maintained_on_write(kb: kibako.Kibako) -> None:
    with kb.run("churn", max_buffered=7) as run:
        for step, value in enumerate([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]):
            run.log_metric("loss", value, step=step)
    summary = kb.get_run(run.id).metrics["loss"]
    assert (summary.count, summary.min, summary.max, summary.last, summary.last_step) == (
        10,
        1.0,
        9.0,
        3.0,
        9,
    )
    assert summary.avg == pytest.approx(3.9)


def test_nan_and_infinity_are_stored_as_such(kb: kibako.Kibako) -> None:
    with kb.run("churn") as run:
        run.log_metric("m", 1.0, step=0)
        run.log_metric("m", math.inf, step=1)
        run.log_metric("m", -math.inf, step=2)
        run.log_metric("m", math.nan, step=3)
    history = kb.tracking.get_metric_history(run.id, "m")
    assert history.values[:3] == [1.0, math.inf, -math.inf]
    assert math.isnan(history.values[3])
    summary = kb.get_run(run.id).metrics["m"]
    assert math.isnan(summary.last) and summary.count == 4
    assert summary.max == math.inf and summary.min == -math.inf


def test_steps_default_to_a_counter_per_key(kb: kibako.Kibako) -> None:
    with kb.run("churn") as run:
        for value in (0.5, 0.4, 0.3):
            run.log_metric("loss", value)
        run.log_metric("acc", 0.9)
    assert kb.tracking.get_metric_history(run.id, "loss").steps == [0, 1, 2]
    assert kb.tracking.get_metric_history(run.id, "acc").steps == [0]


def test_history_downsampling_keeps_every_peak(kb: kibako.Kibako) -> None:
    values = [math.sin(i / 50) for i in range(20_000)]
    values[12_345] = 100.0
    values[777] = -100.0
    with kb.run("churn") as run:
        run.log_batch(metrics=[("wave", v, i, 1_700_000_000_000 + i) for i, v in enumerate(values)])
    full = kb.tracking.get_metric_history(run.id, "wave")
    assert full.total_points == 20_000 and len(full.values) == 20_000 and not full.downsampled
    small = kb.tracking.get_metric_history(run.id, "wave", max_points=200)
    assert small.downsampled and len(small.values) <= 200
    assert max(small.values) == 100.0 and min(small.values) == -100.0
    assert small.steps[0] == 0 and small.steps[-1] == 19_999
    assert small.steps == sorted(small.steps)


def test_buffered_points_are_written_on_flush(kb: kibako.Kibako) -> None:
    run = kb.run("churn", flush_interval=3600)
    run.log_metric("loss", 0.5)
    assert "loss" not in kb.get_run(run.id).metrics, "buffered, not yet written"
    run.flush()
    assert kb.get_run(run.id).metrics["loss"].count == 1
    run.end()


def test_sync_run_writes_before_each_call_returns(kb: kibako.Kibako) -> None:
    with kb.run("churn", sync=True, flush_interval=3600) as run:
        run.log_metric("loss", 0.5)
        assert kb.get_run(run.id).metrics["loss"].count == 1


def test_logging_to_a_finished_run_is_a_clear_error(kb: kibako.Kibako) -> None:
    with kb.run("churn") as run:
        run.log_metric("x", 1.0)
    with pytest.raises(kibako.RunFinishedError, match="has ended"):
        run.log_metric("x", 2.0)
    with pytest.raises(kibako.RunFinishedError):
        kb.tracking.log_batch(run.id, metrics=[("x", 2.0, 1, 0)])
    assert kb.get_run(run.id).metrics["x"].count == 1, "nothing was added"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"lr": "x" * 6001}, "limit is 6000"),
        ({"bad key!": 1}, "may hold only"),
        ({"": 1}, "non-empty"),
        ({"../up": 1}, "may hold only|'..'"),
        ({"none": None}, "no value"),
    ],
    ids=["value-too-long", "bad-characters", "empty-key", "dotdot", "none-value"],
)
def test_bad_param_is_refused_and_nothing_changes(kb: kibako.Kibako, params: dict, match: str) -> None:
    with kb.run("churn") as run:
        run.log_param("good", 1)
        run.flush()
        with pytest.raises(kibako.ValidationError, match=match):
            run.log_params({"other": 2, **params})
        with pytest.raises(kibako.ValidationError, match=match):
            kb.tracking.log_batch(run.id, params={"other": 2, **params})
    assert kb.get_run(run.id).params == {"good": "1"}


@pytest.mark.parametrize(
    "point",
    [
        ("m", "high", 0, 0),
        ("m", True, 0, 0),
        ("m", 1.0, 1.5, 0),
        ("m", 1.0, 0, "now"),
        ("m", 1.0, 0, -1),
        ("m", 1.0, 0, 2**60),
        ("bad key!", 1.0, 0, 0),
    ],
    ids=[
        "string-value",
        "bool-value",
        "float-step",
        "string-timestamp",
        "negative-time",
        "time-past-9999",
        "bad-key",
    ],
)
def test_bad_metric_point_refuses_the_whole_batch(kb: kibako.Kibako, point: tuple) -> None:
    with kb.run("churn") as run:
        with pytest.raises(kibako.ValidationError):
            kb.tracking.log_batch(run.id, metrics=[("ok", 1.0, 0, 0), point])
    assert kb.get_run(run.id).metrics == {}


def test_unknown_run_is_not_found(kb: kibako.Kibako) -> None:
    with pytest.raises(kibako.NotFoundError, match="no run with id"):
        kb.get_run("nope")
    with pytest.raises(kibako.NotFoundError):
        kb.tracking.log_batch("nope", metrics=[("x", 1.0, 0, 0)])


def test_nested_runs_know_their_parent(kb: kibako.Kibako) -> None:
    with kb.run("cv", name="parent") as parent:
        with kb.run("cv", name="fold-1", parent=parent) as child:
            child.log_metric("auc", 0.8)
    assert kb.get_run(child.id).parent_run_id == parent.id
    children = kb.search_runs("cv", filter=f"attributes.run_id = '{child.id}'").runs
    assert [r.name for r in children] == ["fold-1"]


def test_experiments_are_created_on_first_run_and_listed(kb: kibako.Kibako) -> None:
    with kb.run("a"):
        pass
    with kb.run("b"):
        pass
    assert [e.name for e in kb.list_experiments()] == ["a", "b"]
    with pytest.raises(kibako.ConflictError):
        kb.tracking.create_experiment("a")
    assert kb.tracking.create_experiment("a", exist_ok=True).name == "a"


def test_compare_hides_identical_fields_on_request(kb: kibako.Kibako) -> None:
    ids = []
    for lr in (0.1, 0.2):
        with kb.run("cmp") as run:
            run.log_params({"lr": lr, "model": "rf"})
            run.log_metrics({"auc": 0.5 + lr, "same": 1.0})
        ids.append(run.id)
    full = kb.compare_runs(ids)
    assert full.params == {"lr": ["0.1", "0.2"], "model": ["rf", "rf"]}
    short = kb.compare_runs(ids, hide_identical=True)
    assert short.params == {"lr": ["0.1", "0.2"]}
    assert list(short.metrics) == ["auc"]


def test_run_state_changes_are_published_as_events(kb: kibako.Kibako) -> None:
    with kb.run("churn", name="evented") as run:
        pass
    events = [e for e in kb.events.list_events() if e.detail["RunId"] == run.id]
    assert [e.detail["Status"] for e in events] == ["InProgress", "Completed"]
    envelope = events[1].to_envelope()
    assert set(envelope) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert envelope["resources"] == [kb.get_run(run.id).arn]


def test_search_finds_best_runs_by_filter_and_order(kb: kibako.Kibako) -> None:
    for model, auc in (("rf", 0.9), ("rf", 0.7), ("lr", 0.95), ("rf", 0.85)):
        with kb.run("search") as run:
            run.log_param("model", model)
            run.log_metric("auc", auc)
    page = kb.search_runs(
        "search", filter="metrics.auc > 0.8 and params.model = 'rf'", order_by=["metrics.auc DESC"]
    )
    assert [r.metric("auc") for r in page.runs] == [0.9, 0.85]
    with pytest.raises(kibako.FilterSyntaxError) as info:
        kb.search_runs("search", filter="metrics.auc >> 1")
    assert "position" in str(info.value)


def test_numpy_numbers_are_logged_as_plain_numbers(kb: kibako.Kibako) -> None:
    import numpy as np

    with kb.run("churn") as run:
        run.log_batch(metrics=[("m", np.float32(0.5), np.int64(3), np.int64(1_700_000_000_000))])
        run.log_metric("n", np.float64(2.5), step=int(np.int32(1)))
    stored = kb.get_run(run.id)
    assert stored.metrics["m"].last == 0.5 and stored.metrics["m"].last_step == 3
    assert stored.metrics["n"].last == 2.5


def test_idle_run_is_written_by_the_background_flusher(kb: kibako.Kibako) -> None:
    import time

    run = kb.run("churn", flush_interval=0.05)
    run.log_metric("loss", 0.5)
    deadline = time.monotonic() + 10
    while "loss" not in kb.get_run(run.id).metrics:
        assert time.monotonic() < deadline, "the buffered point was never written"
        time.sleep(0.05)
    run.end()


def test_a_failed_write_at_end_keeps_the_run_open_and_its_buffer(
    kb: kibako.Kibako, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = kb.run("churn", flush_interval=3600)
    run.log_metric("loss", 0.5)
    real = kb.tracking.log_batch

    def broken(*args: object, **kwargs: object) -> None:
        raise kibako.KibakoError("the store is unreachable")

    monkeypatch.setattr(kb.tracking, "log_batch", broken)
    with pytest.raises(kibako.KibakoError, match="unreachable"):
        run.end()
    monkeypatch.setattr(kb.tracking, "log_batch", real)
    run.end()
    assert kb.get_run(run.id).status == "Completed"
    assert kb.get_run(run.id).metrics["loss"].count == 1
