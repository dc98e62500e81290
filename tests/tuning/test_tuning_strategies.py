"""Tuner: the AWS search strategies on an optuna study, driven trial by trial as a tuning job runs them."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.tuning.space import SearchSpace
from kibako.tuning.strategies import HistoryEntry, Trial, Tuner

MIXED = SearchSpace.from_ranges(
    {
        "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "8"}],
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"},
            {"Name": "momentum", "MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
        ],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop"]}],
    }
)
GRID = SearchSpace.from_ranges(
    {
        "IntegerParameterRanges": [{"Name": "depth", "MinValue": "2", "MaxValue": "4"}],
        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
    }
)
LINE = SearchSpace.from_ranges(
    {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "-5", "MaxValue": "5"}]}
)


def _run_all(tuner: Tuner, objective: Any) -> list[Trial]:
    trials = []
    while (trial := tuner.ask()) is not None:
        trials.append(trial)
        tuner.tell(trial.number, objective(trial.values))
    return trials


@pytest.mark.parametrize(
    ("space", "args", "kwargs", "words"),
    [
        pytest.param(
            MIXED,
            ("Evolutionary", "Minimize"),
            {},
            r"'Evolutionary' is not one of \['Bayesian', 'Random', 'Grid'",
            id="strategy",
        ),
        pytest.param(MIXED, ("Random", "Lower"), {}, "objective Type 'Lower' is not one of", id="objective"),
        pytest.param(
            MIXED, ("Random", "Minimize"), {"early_stopping": "On"}, "'On' is not one of", id="early"
        ),
        pytest.param(MIXED, ("Random", "Minimize"), {"max_trials": 0}, "max_trials.*at least 1", id="max-0"),
        pytest.param(MIXED, ("Random", "Minimize"), {"max_trials": 2.5}, "whole number", id="max-float"),
        pytest.param(MIXED, ("Random", "Minimize"), {"seed": -1}, "RandomSeed.*at least 0", id="seed"),
        pytest.param(
            MIXED,
            ("Hyperband", "Minimize"),
            {"early_stopping": "Auto"},
            "TrainingJobEarlyStoppingType to Off",
            id="hyperband-auto",
        ),
        pytest.param(
            MIXED,
            ("Hyperband", "Minimize"),
            {"min_resource": 0},
            "MinResource.*at least 1",
            id="min-resource",
        ),
        pytest.param(
            MIXED,
            ("Hyperband", "Minimize"),
            {"min_resource": 5, "max_resource": 3},
            "MaxResource.*at least 5",
            id="max-below-min",
        ),
        pytest.param(
            MIXED,
            ("Bayesian", "Minimize"),
            {"max_resource": 9},
            "configure the Hyperband strategy",
            id="resource",
        ),
        pytest.param(MIXED, ("Grid", "Minimize"), {}, "'lr' is a continuous range", id="grid-continuous"),
    ],
)
def test_bad_tuner_settings_are_refused(
    space: SearchSpace, args: tuple[str, str], kwargs: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        Tuner.create(space, *args, **{"max_trials": 10, **kwargs})


def _assert_in_ranges(trials: list[Trial]) -> None:
    for trial in trials:
        assert 1 <= trial.values["layers"] <= 8
        assert 1e-5 <= trial.values["lr"] <= 1.0
        assert 0.9 <= trial.values["momentum"] <= 0.999
        assert trial.values["optimizer"] in ("sgd", "adam", "rmsprop")


def test_random_values_respect_ranges_and_log_scaling() -> None:
    tuner = Tuner.create(MIXED, "Random", "Minimize", max_trials=200, seed=3)
    trials = _run_all(tuner, lambda v: 0.0)
    assert len(trials) == 200
    _assert_in_ranges(trials)
    # Log-uniform on [1e-5, 1] puts 60% below 1e-2 (uniform: 1%); reverse-log on [0.9, 0.999] puts half above
    # 0.99 (uniform: 9%).
    assert sum(t.values["lr"] < 1e-2 for t in trials) / 200 > 0.4
    assert sum(t.values["momentum"] > 0.99 for t in trials) / 200 > 0.35
    assert {t.values["optimizer"] for t in trials} == {"sgd", "adam", "rmsprop"}
    assert {t.values["layers"] for t in trials} == set(range(1, 9))


def test_bayesian_values_respect_ranges_and_search_on_the_log_scale() -> None:
    # The optimum (lr 1e-3, momentum 1 - 10**-2.5) is where a linear scale would almost never look.
    def objective(v: dict[str, Any]) -> float:
        return (math.log10(v["lr"]) + 3) ** 2 + (math.log10(1 - v["momentum"]) + 2.5) ** 2

    tuner = Tuner.create(MIXED, "Bayesian", "Minimize", max_trials=60, seed=3)
    trials = _run_all(tuner, objective)
    _assert_in_ranges(trials)
    assert sum(t.values["lr"] < 1e-2 for t in trials) / 60 > 0.6
    assert sum(t.values["momentum"] > 0.99 for t in trials) / 60 > 0.6
    best = tuner.best()
    assert best is not None and best[1] < 0.05


def test_trials_carry_hyperparameter_strings_of_their_values() -> None:
    trial = Tuner.create(MIXED, "Random", "Minimize", max_trials=1, seed=0).ask()
    assert trial is not None and trial.number == 0
    assert trial.hyperparameters == MIXED.encode(trial.values)
    assert isinstance(trial.values["layers"], int) and trial.hyperparameters["layers"] == str(
        trial.values["layers"]
    )
    assert float(trial.hyperparameters["lr"]) == trial.values["lr"]


def test_ask_returns_none_after_max_trials() -> None:
    tuner = Tuner.create(MIXED, "Random", "Minimize", max_trials=3, seed=0)
    asked = [tuner.ask() for _ in range(3)]
    assert [t.number for t in asked if t] == [0, 1, 2]
    assert tuner.ask() is None and tuner.remaining == 0 and not tuner.done
    for trial in asked:
        assert trial is not None
        tuner.tell(trial.number, 1.0)
    assert tuner.done


def test_grid_enumerates_every_combination_once_then_stops() -> None:
    tuner = Tuner.create(GRID, "Grid", "Maximize", max_trials=100, seed=1)
    assert tuner.total_trials == 6
    trials = _run_all(tuner, lambda v: v["depth"])
    seen = [(t.values["depth"], t.values["booster"]) for t in trials]
    assert sorted(seen) == sorted((d, b) for d in (2, 3, 4) for b in ("gbtree", "dart"))
    assert tuner.ask() is None and tuner.done
    assert trials[0].hyperparameters["depth"] in ("2", "3", "4")


def test_grid_is_capped_by_max_trials_and_its_order_follows_the_seed() -> None:
    tuner = Tuner.create(GRID, "Grid", "Minimize", max_trials=4, seed=5)
    assert tuner.total_trials == 4
    first = _run_all(tuner, lambda v: 0.0)
    assert len(first) == 4 and len({tuple(t.values.items()) for t in first}) == 4
    again = _run_all(Tuner.create(GRID, "Grid", "Minimize", max_trials=4, seed=5), lambda v: 0.0)
    assert [t.values for t in again] == [t.values for t in first]


def _quadratic(values: dict[str, Any]) -> float:
    return float((values["x"] - 1.3) ** 2)


def test_bayesian_finds_better_than_its_first_trials_on_a_quadratic() -> None:
    tuner = Tuner.create(LINE, "Bayesian", "Minimize", max_trials=30, seed=0)
    trials = _run_all(tuner, _quadratic)
    first_five = min(_quadratic(t.values) for t in trials[:5])
    best = tuner.best()
    assert best is not None and best[1] < first_five and best[1] < 0.05


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Hyperband"])
def test_the_same_seed_gives_the_same_trials(strategy: str) -> None:
    runs = [
        _run_all(Tuner.create(LINE, strategy, "Minimize", max_trials=15, seed=11), _quadratic)
        for _ in range(2)
    ]
    assert [t.values for t in runs[0]] == [t.values for t in runs[1]]
    other = _run_all(Tuner.create(LINE, strategy, "Minimize", max_trials=15, seed=12), _quadratic)
    assert [t.values for t in other] != [t.values for t in runs[0]]


@pytest.mark.parametrize(("objective_type", "expected"), [("Maximize", (2, 9.0)), ("Minimize", (1, -4.0))])
def test_best_follows_the_objective_type(objective_type: str, expected: tuple[int, float]) -> None:
    tuner = Tuner.create(LINE, "Random", objective_type, max_trials=4, seed=0)
    for value in (3.0, -4.0, 9.0, 9.0):
        trial = tuner.ask()
        assert trial is not None
        tuner.tell(trial.number, value)
    assert tuner.best() == expected


def test_best_counts_only_completed_trials() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=3, seed=0)
    assert tuner.best() is None
    a, b, c = tuner.ask(), tuner.ask(), tuner.ask()
    assert a and b and c
    tuner.report(a.number, 0, -100.0)
    tuner.tell(a.number, None, state="Stopped")
    tuner.tell(b.number, None, state="Failed")
    assert tuner.best() is None
    tuner.tell(c.number, 5.0)
    assert tuner.best() == (c.number, 5.0)
    assert tuner.counts() == {"Completed": 1, "InProgress": 0, "Stopped": 1, "Failed": 1}


def _complete_with_curve(tuner: Tuner, curve: list[float]) -> None:
    trial = tuner.ask()
    assert trial is not None
    for step, value in enumerate(curve):
        assert tuner.report(trial.number, step, value) is False
    tuner.tell(trial.number, curve[-1])


def test_auto_early_stopping_stops_a_trial_worse_than_the_median() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=10, seed=0, early_stopping="Auto")
    for _ in range(3):
        _complete_with_curve(tuner, [1.0, 0.8, 0.6, 0.5])
    bad = tuner.ask()
    assert bad is not None
    assert tuner.report(bad.number, 0, 5.0) is False  # step 0 is warm-up
    assert tuner.report(bad.number, 1, 5.0) is True
    good = tuner.ask()
    assert good is not None
    assert tuner.report(good.number, 1, 0.1) is False


def test_early_stopping_off_never_stops_a_trial() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=10, seed=0)
    for _ in range(3):
        _complete_with_curve(tuner, [1.0, 0.8, 0.6, 0.5])
    bad = tuner.ask()
    assert bad is not None
    assert not any(tuner.report(bad.number, step, 1000.0) for step in range(5))


def test_hyperband_stops_some_of_a_mixed_population() -> None:
    tuner = Tuner.create(LINE, "Hyperband", "Minimize", max_trials=40, seed=0, min_resource=1, max_resource=9)
    while (trial := tuner.ask()) is not None:
        x = trial.values["x"]
        stopped = False
        for step in range(1, 10):
            if tuner.report(trial.number, step, abs(x) + 1.0 / step):
                stopped = True
                break
        tuner.tell(
            trial.number, None if stopped else abs(x) + 1.0 / 9, state="Stopped" if stopped else "Completed"
        )
    counts = tuner.counts()
    assert counts["Stopped"] > 0 and counts["Completed"] > 0
    assert counts["Stopped"] + counts["Completed"] == 40


def test_stopped_trials_keep_the_last_reported_value_or_the_given_one() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=2, seed=0)
    a, b = tuner.ask(), tuner.ask()
    assert a and b
    tuner.report(a.number, 0, 3.0)
    tuner.report(a.number, 4, 2.0)
    tuner.tell(a.number, None, state="Stopped")
    tuner.report(b.number, 0, 3.0)
    tuner.tell(b.number, 1.5, state="Stopped")
    stored = {t.number: t for t in tuner.study.trials}
    assert stored[a.number].value == 2.0
    assert stored[b.number].value == 1.5 and stored[b.number].intermediate_values == {0: 3.0, 1: 1.5}


def test_a_second_value_for_a_step_is_ignored_without_a_warning() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=1, seed=0)
    trial = tuner.ask()
    assert trial is not None
    tuner.report(trial.number, 0, 1.0)
    tuner.report(trial.number, 0, 2.0)
    assert tuner.study.trials[0].intermediate_values == {0: 1.0}


def test_tell_and_report_refuse_misuse() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=2, seed=0)
    trial = tuner.ask()
    assert trial is not None
    with pytest.raises(ValidationError, match="needs its final objective value"):
        tuner.tell(trial.number, None)
    with pytest.raises(ValidationError, match="not a finite number"):
        tuner.tell(trial.number, float("nan"))
    with pytest.raises(ValidationError, match="a Failed trial has no objective value"):
        tuner.tell(trial.number, 1.0, state="Failed")
    with pytest.raises(ValidationError, match=r"'Done' is not one of \['Completed', 'Failed', 'Stopped'\]"):
        tuner.tell(trial.number, 1.0, state="Done")
    with pytest.raises(ValidationError, match="step must be at least 0"):
        tuner.report(trial.number, -1, 1.0)
    with pytest.raises(ValidationError, match="must be a number"):
        tuner.report(trial.number, 0, "1.0")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="no trial 7"):
        tuner.report(7, 0, 1.0)
    tuner.tell(trial.number, 1.0)
    with pytest.raises(ConflictError, match="has finished already"):
        tuner.tell(trial.number, 1.0)
    with pytest.raises(ConflictError, match="has finished already"):
        tuner.report(trial.number, 1, 1.0)


def test_parallel_trials_are_reported_interleaved() -> None:
    tuner = Tuner.create(LINE, "Random", "Minimize", max_trials=3, seed=0)
    trials = [tuner.ask() for _ in range(3)]
    assert all(trials) and tuner.running == (0, 1, 2)
    for step in range(3):
        for trial in reversed(trials):
            assert trial is not None
            tuner.report(trial.number, step, float(trial.number * 10 + step))
    for trial in trials:
        assert trial is not None
        tuner.tell(trial.number, float(trial.number))
    curves = {t.number: t.intermediate_values for t in tuner.study.trials}
    assert curves[2] == {0: 20.0, 1: 21.0, 2: 22.0}
    assert tuner.best() == (0, 0.0)


def test_threads_can_share_a_tuner() -> None:
    tuner = Tuner.create(MIXED, "Bayesian", "Minimize", max_trials=40, seed=0, early_stopping="Auto")
    numbers: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while (trial := tuner.ask()) is not None:
                numbers.append(trial.number)
                stopped = any(
                    tuner.report(trial.number, step, trial.values["lr"] * step) for step in range(3)
                )
                tuner.tell(
                    trial.number,
                    None if stopped else trial.values["lr"],
                    state="Stopped" if stopped else "Completed",
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(40))
    assert tuner.done and sum(tuner.counts().values()) == 40


def test_replayed_history_keeps_the_best_and_counts_towards_max_trials() -> None:
    history: list[HistoryEntry] = [
        ({"x": 1.0}, 1.0, "Completed"),
        ({"x": "-2.5", "batch_size": "32"}, 0.25, "Completed"),  # strings from a job's hyperparameters
        ({"x": 4.0}, None, "Failed"),
        ({"x": 3.0}, None, "Stopped", {0: 9.0, 1: 8.0}),
    ]
    tuner = Tuner.create(LINE, "Bayesian", "Minimize", max_trials=6, seed=0, history=history)
    assert tuner.best() == (1, 0.25)
    assert tuner.counts() == {"Completed": 2, "InProgress": 0, "Stopped": 1, "Failed": 1}
    assert tuner.study.trials[3].value == 8.0
    trials = _run_all(tuner, lambda v: 5.0)
    assert [t.number for t in trials] == [4, 5]
    assert tuner.ask() is None and tuner.best() == (1, 0.25)


def test_replayed_grid_skips_the_finished_combinations() -> None:
    history: list[HistoryEntry] = [
        ({"depth": 2, "booster": "gbtree"}, 0.5, "Completed"),
        ({"depth": "3", "booster": "dart"}, None, "Failed"),
    ]
    tuner = Tuner.create(GRID, "Grid", "Maximize", max_trials=100, seed=0, history=history)
    rest = _run_all(tuner, lambda v: 0.1)
    assert len(rest) == 4
    seen = {(t.values["depth"], t.values["booster"]) for t in rest}
    assert seen.isdisjoint({(2, "gbtree"), (3, "dart")}) and len(seen) == 4
    assert tuner.best() == (0, 0.5)


def test_replayed_curves_feed_early_stopping() -> None:
    curve = {0: 1.0, 1: 0.8, 2: 0.6}
    history = [({"x": float(k)}, 0.6, "Completed", curve) for k in range(3)]
    tuner = Tuner.create(
        LINE, "Random", "Minimize", max_trials=5, seed=0, early_stopping="Auto", history=history
    )
    trial = tuner.ask()
    assert trial is not None and trial.number == 3
    assert tuner.report(trial.number, 1, 4.0) is True


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        pytest.param(({"x": 1.0}, None, "InProgress"), "'InProgress' is not one of", id="unfinished"),
        pytest.param(({"x": 1.0}, None, "Completed"), "needs a finite objective value", id="no-value"),
        pytest.param(({"x": 1.0}, 2.0, "Failed"), "a Failed trial has no objective value", id="failed-value"),
        pytest.param(({"x": 9.0}, 1.0, "Completed"), "'x': 9.0 is outside its range", id="out-of-range"),
        pytest.param(({}, 1.0, "Completed"), "no value for the tuned parameter 'x'", id="missing"),
        pytest.param(({"x": 1.0}, 1.0), r"history\[0\] is \(hyperparameters", id="short"),
    ],
)
def test_bad_history_is_refused(entry: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Tuner.create(LINE, "Random", "Minimize", max_trials=5, history=[entry])
