"""ParameterRanges become a search space checked as AWS checks it, and trial values become hyperparameter strings."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from kibako.errors import ValidationError
from kibako.tuning.space import (
    MAX_GRID_COMBINATIONS,
    CategoricalParameter,
    ContinuousParameter,
    IntegerParameter,
    SearchSpace,
)

RANGES: dict[str, Any] = {
    "IntegerParameterRanges": [
        {"Name": "epochs", "MinValue": "1", "MaxValue": "20", "ScalingType": "Linear"}
    ],
    "ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"},
        {"Name": "momentum", "MinValue": 0.9, "MaxValue": 0.999, "ScalingType": "ReverseLogarithmic"},
        {"Name": "dropout", "MinValue": 0, "MaxValue": 0.5},
    ],
    "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
}


def _integer(**fields: Any) -> dict[str, Any]:
    return {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "10", **fields}]}


def _continuous(**fields: Any) -> dict[str, Any]:
    return {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.1", "MaxValue": "0.5", **fields}]}


def _categorical(values: Any) -> dict[str, Any]:
    return {"CategoricalParameterRanges": [{"Name": "c", "Values": values}]}


def test_ranges_parse_into_typed_parameters_with_strings_or_numbers() -> None:
    space = SearchSpace.from_ranges(RANGES)
    assert space.names == ("epochs", "lr", "momentum", "dropout", "optimizer")
    assert space["epochs"] == IntegerParameter("epochs", 1, 20, "Linear")
    assert space["lr"] == ContinuousParameter("lr", 1e-5, 1.0, "Logarithmic")
    assert space["dropout"] == ContinuousParameter("dropout", 0.0, 0.5, "Auto")
    assert space["optimizer"] == CategoricalParameter("optimizer", ("sgd", "adam"))
    assert "lr" in space and "batch_size" not in space and len(space) == 5


def test_to_ranges_gives_back_the_aws_shape() -> None:
    space = SearchSpace.from_ranges(RANGES)
    again = SearchSpace.from_ranges(space.to_ranges())
    assert again == space
    assert space.to_ranges()["IntegerParameterRanges"] == [
        {"Name": "epochs", "MinValue": "1", "MaxValue": "20", "ScalingType": "Linear"}
    ]


def test_integral_floats_are_accepted_as_integer_bounds() -> None:
    space = SearchSpace.from_ranges(
        {"IntegerParameterRanges": [{"Name": "n", "MinValue": 1.0, "MaxValue": "8"}]}
    )
    assert space["n"] == IntegerParameter("n", 1, 8, "Auto")


@pytest.mark.parametrize(
    ("ranges", "words"),
    [
        pytest.param(["not", "a", "dict"], "is an object", id="not-an-object"),
        pytest.param({}, "at least one range", id="empty"),
        pytest.param({"IntegerParameterRanges": []}, "at least one range", id="empty-lists"),
        pytest.param({"AutoParameters": [{"Name": "x", "ValueHint": "1"}]}, "Autotune", id="autotune"),
        pytest.param({"IntegerRanges": []}, r"unknown key\(s\) \['IntegerRanges'\]", id="unknown-kind"),
        pytest.param({"IntegerParameterRanges": {"Name": "n"}}, "is a list of ranges", id="kind-not-a-list"),
        pytest.param({"IntegerParameterRanges": ["n"]}, "each range is an object", id="range-not-an-object"),
        pytest.param(
            {"IntegerParameterRanges": [{"MinValue": "1", "MaxValue": "2"}]}, "needs a Name", id="no-name"
        ),
        pytest.param(
            {"IntegerParameterRanges": [{"Name": "n" * 257, "MinValue": "1", "MaxValue": "2"}]},
            "limit is 256",
            id="long-name",
        ),
        pytest.param(_integer(Scaling="Linear"), r"'n': unknown key\(s\) \['Scaling'\]", id="unknown-key"),
        pytest.param(
            {"IntegerParameterRanges": [{"Name": "n", "MaxValue": "2"}]},
            "'n': MinValue is missing",
            id="no-min",
        ),
        pytest.param(_integer(ScalingType="Log"), "'n': ScalingType 'Log' is not one of", id="bad-scaling"),
        pytest.param(_integer(MinValue="1.5"), "'n': MinValue '1.5' is not an integer", id="int-not-whole"),
        pytest.param(_integer(MaxValue="ten"), "'n': MaxValue 'ten' is not an integer", id="int-not-number"),
        pytest.param(_integer(MinValue=True), "'n': MinValue True is not an integer", id="int-bool"),
        pytest.param(
            _continuous(MinValue="abc"), "'x': MinValue 'abc' is not a finite number", id="float-text"
        ),
        pytest.param(
            _continuous(MaxValue="nan"), "'x': MaxValue 'nan' is not a finite number", id="float-nan"
        ),
        pytest.param(
            _continuous(MaxValue="inf"), "'x': MaxValue 'inf' is not a finite number", id="float-inf"
        ),
        pytest.param(
            _integer(MinValue="11"), "'n': MinValue 11 is greater than MaxValue 10", id="int-min-max"
        ),
        pytest.param(
            _continuous(MinValue="0.6"), "'x': MinValue 0.6 is greater than MaxValue 0.5", id="min-max"
        ),
        pytest.param(
            _integer(MinValue="0", ScalingType="Logarithmic"),
            "'n': Logarithmic scaling needs MinValue > 0",
            id="log-0",
        ),
        pytest.param(
            _continuous(MinValue="-1", ScalingType="Logarithmic"),
            "'x': Logarithmic scaling needs MinValue > 0",
            id="log-negative",
        ),
        pytest.param(
            _integer(ScalingType="ReverseLogarithmic"),
            "'n': ReverseLogarithmic scaling is only for ContinuousParameterRanges",
            id="reverse-log-integer",
        ),
        pytest.param(
            _continuous(MaxValue="1", ScalingType="ReverseLogarithmic"),
            "'x': ReverseLogarithmic scaling needs 0 <= MinValue < MaxValue < 1",
            id="reverse-log-max-1",
        ),
        pytest.param(
            _continuous(MinValue="-0.1", ScalingType="ReverseLogarithmic"),
            "'x': ReverseLogarithmic scaling needs 0 <= MinValue",
            id="reverse-log-negative",
        ),
        pytest.param(
            _continuous(MinValue="0.5", ScalingType="ReverseLogarithmic"),
            "'x': ReverseLogarithmic scaling needs 0 <= MinValue < MaxValue",
            id="reverse-log-empty",
        ),
        pytest.param(_categorical([]), "'c': a categorical range has 1 to 30 Values, got 0", id="no-values"),
        pytest.param(
            _categorical([str(i) for i in range(31)]),
            "'c': a categorical range has 1 to 30 Values, got 31",
            id="31",
        ),
        pytest.param(_categorical("sgd"), "'c': Values is a list of strings", id="values-not-a-list"),
        pytest.param(_categorical(["a", "b", "a"]), "'c': the value 'a' appears twice", id="duplicate-value"),
        pytest.param(
            _categorical([{"x": 1}]), "'c': the value {'x': 1} is not a string", id="value-not-scalar"
        ),
        pytest.param(_categorical(["v" * 257]), "'c': a value is 257 characters", id="long-value"),
        pytest.param(
            {
                **_categorical(["a"]),
                "IntegerParameterRanges": [{"Name": "c", "MinValue": "1", "MaxValue": "2"}],
            },
            "'c' has more than one range",
            id="duplicate-name",
        ),
        pytest.param(
            {
                "IntegerParameterRanges": [
                    {"Name": f"i{k}", "MinValue": "1", "MaxValue": "2"} for k in range(20)
                ],
                "CategoricalParameterRanges": [{"Name": f"c{k}", "Values": ["a"]} for k in range(11)],
            },
            "has 31 ranges; AWS allows at most 30",
            id="31-ranges",
        ),
    ],
)
def test_bad_ranges_are_refused_naming_the_parameter_and_the_problem(ranges: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        SearchSpace.from_ranges(ranges)


def test_errors_carry_the_parameter_name_as_a_field() -> None:
    with pytest.raises(ValidationError) as caught:
        SearchSpace.from_ranges(_integer(MinValue="20"))
    assert caught.value.fields["parameter"] == "n"


def test_thirty_ranges_and_thirty_values_are_allowed() -> None:
    space = SearchSpace.from_ranges(
        {
            "IntegerParameterRanges": [
                {"Name": f"i{k}", "MinValue": "1", "MaxValue": "2"} for k in range(29)
            ],
            "CategoricalParameterRanges": [{"Name": "c", "Values": [str(v) for v in range(30)]}],
        }
    )
    assert len(space) == 30


def test_equal_bounds_are_allowed() -> None:
    space = SearchSpace.from_ranges(_continuous(MinValue="0.5", ScalingType="Logarithmic"))
    assert space["x"] == ContinuousParameter("x", 0.5, 0.5, "Logarithmic")


def test_numbers_in_categorical_values_become_strings() -> None:
    space = SearchSpace.from_ranges(_categorical([32, 64, "128"]))
    assert space["c"] == CategoricalParameter("c", ("32", "64", "128"))
    assert space.encode({"c": 64}) == {"c": "64"}


def test_encode_gives_sagemaker_hyperparameter_strings() -> None:
    space = SearchSpace.from_ranges(RANGES)
    encoded = space.encode({"epochs": 5, "lr": 1e-05, "momentum": 0.95, "dropout": 0.1, "optimizer": "adam"})
    assert encoded == {
        "epochs": "5",
        "lr": "1e-05",
        "momentum": "0.95",
        "dropout": "0.1",
        "optimizer": "adam",
    }
    assert all(isinstance(v, str) for v in encoded.values())
    assert (
        space.encode({"epochs": 5.0, "lr": 1, "momentum": 0.9, "dropout": 0, "optimizer": "sgd"})["lr"]
        == "1.0"
    )


@pytest.mark.parametrize(
    ("values", "words"),
    [
        pytest.param({"epochs": 21}, "'epochs': 21 is outside its range", id="int-out-of-range"),
        pytest.param({"epochs": 2.5}, "'epochs': value 2.5 is not an integer", id="int-not-whole"),
        pytest.param({"lr": 2.0}, "'lr': 2.0 is outside its range", id="float-out-of-range"),
        pytest.param(
            {"optimizer": "rmsprop"}, "'optimizer': 'rmsprop' is not one of its values", id="bad-choice"
        ),
        pytest.param({"batch_size": "32"}, r"\['batch_size'\] are not tuned parameters", id="static-key"),
    ],
)
def test_encode_refuses_values_that_do_not_fit(values: dict[str, Any], words: str) -> None:
    good = {"epochs": 5, "lr": 0.1, "momentum": 0.95, "dropout": 0.1, "optimizer": "adam"}
    with pytest.raises(ValidationError, match=words):
        SearchSpace.from_ranges(RANGES).encode({**good, **values})


def test_encode_and_decode_need_every_tuned_parameter() -> None:
    space = SearchSpace.from_ranges(RANGES)
    with pytest.raises(ValidationError, match="no value for the tuned parameter 'lr'"):
        space.encode({"epochs": 5})
    with pytest.raises(ValidationError, match="no value for the tuned parameter 'lr'"):
        space.decode({"epochs": "5"})


def test_decode_reads_hyperparameter_strings_and_ignores_static_ones() -> None:
    space = SearchSpace.from_ranges(RANGES)
    decoded = space.decode(
        {
            "epochs": "7",
            "lr": "0.001",
            "momentum": "0.99",
            "dropout": "0",
            "optimizer": "sgd",
            "batch_size": "32",
        }
    )
    assert decoded == {"epochs": 7, "lr": 0.001, "momentum": 0.99, "dropout": 0.0, "optimizer": "sgd"}
    assert space.decode(space.encode(decoded)) == decoded


def test_to_optuna_maps_each_range_to_its_distribution() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions = SearchSpace.from_ranges(RANGES).to_optuna()
    assert distributions["epochs"] == IntDistribution(1, 20, log=False)
    assert distributions["lr"] == FloatDistribution(1e-5, 1.0, log=True)
    assert distributions["dropout"] == FloatDistribution(0.0, 0.5, log=False)
    assert distributions["optimizer"] == CategoricalDistribution(("sgd", "adam"))
    momentum = distributions["momentum"]
    assert isinstance(momentum, FloatDistribution) and momentum.log
    assert momentum.low == pytest.approx(0.001) and momentum.high == pytest.approx(0.1)
    log_int = SearchSpace.from_ranges(_integer(ScalingType="Logarithmic")).to_optuna()["n"]
    assert log_int == IntDistribution(1, 10, log=True)


def test_reverse_logarithmic_values_stay_in_range_both_ways() -> None:
    space = SearchSpace.from_ranges(RANGES)
    distribution = space.to_optuna()["momentum"]
    for internal in (distribution.low, distribution.high, 0.01):  # type: ignore[attr-defined]
        assert 0.9 <= float(space["momentum"].from_internal(internal)) <= 0.999
    assert space["momentum"].from_internal(0.01) == pytest.approx(0.99)
    assert space["momentum"].to_internal(0.99) == pytest.approx(0.01)
    assert space["momentum"].to_internal(0.999) >= distribution.low  # type: ignore[attr-defined]


def test_grid_lists_every_value_of_integer_and_categorical_ranges() -> None:
    space = SearchSpace.from_ranges(
        {
            "IntegerParameterRanges": [{"Name": "n", "MinValue": "2", "MaxValue": "4"}],
            "CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b"]}],
        }
    )
    assert space.grid() == {"n": (2, 3, 4), "c": ("a", "b")}
    assert space.grid_size() == 6


def test_grid_refuses_continuous_ranges_and_huge_grids() -> None:
    with pytest.raises(ValidationError, match="'x' is a continuous range"):
        SearchSpace.from_ranges(_continuous()).grid()
    huge = SearchSpace.from_ranges(_integer(MaxValue=str(MAX_GRID_COMBINATIONS + 1)))
    with pytest.raises(ValidationError, match="combinations"):
        huge.grid()


def test_importing_the_tuning_modules_does_not_import_optuna() -> None:
    code = "import sys, kibako.tuning.space, kibako.tuning.strategies; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
