"""The search space of a hyperparameter tuning job: SageMaker's ``ParameterRanges``, checked as AWS checks them.

The shape is the one of ``HyperParameterTuningJobConfig["ParameterRanges"]``::

    {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1", "MaxValue": "20", "ScalingType": "Linear"}],
     "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"}],
     "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}]}

``MinValue`` and ``MaxValue`` are strings in AWS JSON; numbers are accepted too. ``ScalingType`` is one of

* ``Auto`` (the default): SageMaker picks a scale for itself; kibako samples on a linear scale.
* ``Linear``: uniform between the bounds.
* ``Logarithmic``: uniform in ``log(value)``; needs ``MinValue > 0``.
* ``ReverseLogarithmic``: continuous ranges only, with ``0 <= MinValue < MaxValue < 1``; values crowd towards 1.
  It is sampled as ``value = 1 - u`` with ``u`` log-uniform on ``[1 - MaxValue, 1 - MinValue]``, so the optuna
  distribution of such a parameter (``to_optuna``) is over ``u``, not over the value: convert with
  ``to_optuna_params`` and ``from_optuna_params``.

SageMaker hands tuned hyperparameters to training jobs as strings: ``encode`` turns a trial's values into them,
and ``decode`` reads them back. Static hyperparameters are the caller's to merge.

optuna is imported only inside the methods that need it, so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

from kibako.errors import ValidationError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

MAX_PARAMETERS = 30
"""AWS: at most 30 ranges in one tuning job, counting all three lists together."""
MAX_CATEGORICAL_VALUES = 30
MAX_NAME_LENGTH = 256
MAX_VALUE_LENGTH = 256
MAX_GRID_COMBINATIONS = 100_000
"""kibako's own limit: a Grid search materialises every combination, so a larger grid is refused."""

SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
INTEGER_RANGES = "IntegerParameterRanges"
CONTINUOUS_RANGES = "ContinuousParameterRanges"
CATEGORICAL_RANGES = "CategoricalParameterRanges"
RANGE_KINDS = (INTEGER_RANGES, CONTINUOUS_RANGES, CATEGORICAL_RANGES)

_NUMERIC_KEYS = frozenset({"Name", "MinValue", "MaxValue", "ScalingType"})
_CATEGORICAL_KEYS = frozenset({"Name", "Values"})


@dataclass(frozen=True)
class IntegerParameter:
    """An ``IntegerParameterRange``: whole numbers from ``min_value`` to ``max_value``, both included."""

    name: str
    min_value: int
    max_value: int
    scaling: str = "Auto"

    @property
    def log(self) -> bool:
        return self.scaling == "Logarithmic"

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.min_value, self.max_value, log=self.log)

    def parse(self, value: Any) -> int:
        """``value`` (an int, or a hyperparameter string such as ``"5"``) as an int inside the range."""
        number = _as_int(value, f"parameter {self.name!r}: value")
        if not self.min_value <= number <= self.max_value:
            raise ValidationError(
                f"parameter {self.name!r}: {number} is outside its range [{self.min_value}, {self.max_value}]",
                parameter=self.name,
            )
        return number

    def encode(self, value: Any) -> str:
        return str(self.parse(value))

    def to_internal(self, value: Any) -> int:
        return self.parse(value)

    def from_internal(self, value: Any) -> int:
        return self.parse(value)

    def grid(self) -> tuple[int, ...]:
        return tuple(range(self.min_value, self.max_value + 1))

    def grid_size(self) -> int:
        return self.max_value - self.min_value + 1

    def to_range(self) -> dict[str, str]:
        return {
            "Name": self.name,
            "MinValue": str(self.min_value),
            "MaxValue": str(self.max_value),
            "ScalingType": self.scaling,
        }


@dataclass(frozen=True)
class ContinuousParameter:
    """A ``ContinuousParameterRange``: real numbers from ``min_value`` to ``max_value``, both included."""

    name: str
    min_value: float
    max_value: float
    scaling: str = "Auto"

    @property
    def log(self) -> bool:
        return self.scaling == "Logarithmic"

    @property
    def reverse_log(self) -> bool:
        return self.scaling == "ReverseLogarithmic"

    def distribution(self) -> BaseDistribution:
        """The optuna distribution; for ReverseLogarithmic it is over ``1 - value`` (see the module docstring)."""
        from optuna.distributions import FloatDistribution

        if self.reverse_log:
            return FloatDistribution(1.0 - self.max_value, 1.0 - self.min_value, log=True)
        return FloatDistribution(self.min_value, self.max_value, log=self.log)

    def parse(self, value: Any) -> float:
        """``value`` (a number, or a hyperparameter string such as ``"0.01"``) as a float inside the range."""
        number = _as_float(value, f"parameter {self.name!r}: value")
        if not self.min_value <= number <= self.max_value:
            raise ValidationError(
                f"parameter {self.name!r}: {number!r} is outside its range [{self.min_value!r}, "
                f"{self.max_value!r}]",
                parameter=self.name,
            )
        return number

    def encode(self, value: Any) -> str:
        return repr(self.parse(value))

    def to_internal(self, value: Any) -> float:
        number = self.parse(value)
        if not self.reverse_log:
            return number
        return min(max(1.0 - number, 1.0 - self.max_value), 1.0 - self.min_value)

    def from_internal(self, value: Any) -> float:
        number = float(value)
        if self.reverse_log:
            number = 1.0 - number
        # Rounding in 1 - (1 - x) may step just outside the bounds: keep the value a training job gets in range.
        return min(max(number, self.min_value), self.max_value)

    def grid(self) -> tuple[float, ...]:
        raise self._no_grid()

    def grid_size(self) -> int:
        raise self._no_grid()

    def _no_grid(self) -> ValidationError:
        return ValidationError(
            f"parameter {self.name!r} is a continuous range, which a Grid search cannot enumerate; use "
            "CategoricalParameterRanges with the values to try, or another strategy",
            parameter=self.name,
        )

    def to_range(self) -> dict[str, str]:
        return {
            "Name": self.name,
            "MinValue": repr(self.min_value),
            "MaxValue": repr(self.max_value),
            "ScalingType": self.scaling,
        }


@dataclass(frozen=True)
class CategoricalParameter:
    """A ``CategoricalParameterRange``: one of ``values``, which are strings as in AWS."""

    name: str
    values: tuple[str, ...]

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.values)

    def parse(self, value: Any) -> str:
        text = value if isinstance(value, str) else _scalar_text(value)
        if text is None or text not in self.values:
            raise ValidationError(
                f"parameter {self.name!r}: {value!r} is not one of its values {list(self.values)}",
                parameter=self.name,
            )
        return text

    def encode(self, value: Any) -> str:
        return self.parse(value)

    def to_internal(self, value: Any) -> str:
        return self.parse(value)

    def from_internal(self, value: Any) -> str:
        return self.parse(value)

    def grid(self) -> tuple[str, ...]:
        return self.values

    def grid_size(self) -> int:
        return len(self.values)

    def to_range(self) -> dict[str, Any]:
        return {"Name": self.name, "Values": list(self.values)}


Parameter = IntegerParameter | ContinuousParameter | CategoricalParameter


@dataclass(frozen=True)
class SearchSpace:
    """The tuned hyperparameters of one tuning job, in the order the ranges were given."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        if not self.parameters:
            raise ValidationError(
                f"ParameterRanges names no hyperparameter to tune; give at least one range in {list(RANGE_KINDS)}"
            )
        if len(self.parameters) > MAX_PARAMETERS:
            raise ValidationError(
                f"ParameterRanges has {len(self.parameters)} ranges; AWS allows at most {MAX_PARAMETERS} in all "
                "three lists together: tune fewer hyperparameters and pass the others as static ones"
            )
        seen: set[str] = set()
        for parameter in self.parameters:
            if parameter.name in seen:
                raise ValidationError(
                    f"parameter {parameter.name!r} has more than one range; each hyperparameter name may appear "
                    "once across IntegerParameterRanges, ContinuousParameterRanges and CategoricalParameterRanges",
                    parameter=parameter.name,
                )
            seen.add(parameter.name)

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, Any]) -> SearchSpace:
        """Parse and check ``HyperParameterTuningJobConfig["ParameterRanges"]``."""
        if not isinstance(ranges, Mapping):
            raise ValidationError(
                f"ParameterRanges is an object with the keys {list(RANGE_KINDS)}, got {type(ranges).__name__}"
            )
        if "AutoParameters" in ranges:
            raise ValidationError(
                "ParameterRanges: AutoParameters (Autotune) is not supported; give explicit ranges in "
                f"{list(RANGE_KINDS)}"
            )
        unknown = sorted(set(ranges) - set(RANGE_KINDS))
        if unknown:
            raise ValidationError(
                f"ParameterRanges: unknown key(s) {unknown}; the keys are {list(RANGE_KINDS)}", keys=unknown
            )
        parameters: list[Parameter] = []
        for kind in RANGE_KINDS:
            items = ranges.get(kind) or []
            if not isinstance(items, list | tuple):
                raise ValidationError(
                    f"ParameterRanges.{kind} is a list of ranges, got {type(items).__name__}"
                )
            for item in items:
                if kind == CATEGORICAL_RANGES:
                    parameters.append(_categorical(item))
                else:
                    parameters.append(_numeric(kind, item))
        return cls(tuple(parameters))

    def to_ranges(self) -> dict[str, list[dict[str, Any]]]:
        """The AWS ``ParameterRanges`` shape again (bounds as strings), e.g. for a Describe response."""
        out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in RANGE_KINDS}
        for parameter in self.parameters:
            out[_kind_of(parameter)].append(parameter.to_range())
        return out

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def to_optuna(self) -> dict[str, BaseDistribution]:
        """One optuna distribution per parameter, by name (ReverseLogarithmic: over ``1 - value``)."""
        return {p.name: p.distribution() for p in self.parameters}

    def to_optuna_params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's values (typed, or hyperparameter strings) as the params of the ``to_optuna`` distributions."""
        return {p.name: p.to_internal(_required(values, p.name)) for p in self.parameters}

    def from_optuna_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Params sampled from the ``to_optuna`` distributions as the values a training job gets."""
        return {p.name: p.from_internal(_required(params, p.name)) for p in self.parameters}

    def encode(self, values: Mapping[str, Any]) -> dict[str, str]:
        """A value for every parameter as SageMaker hyperparameter strings: ``"5"``, ``"0.001"``, ``"adam"``.

        Floats are written as Python's shortest round-tripping repr (``1e-05``, ``0.1``, ``3.0``).
        """
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ValidationError(
                f"{unknown} are not tuned parameters of this search space ({list(self.names)}); merge static "
                "hyperparameters after encoding",
                keys=unknown,
            )
        return {p.name: p.encode(_required(values, p.name)) for p in self.parameters}

    def decode(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        """The tuned values (int, float or str) out of a training job's hyperparameters; other keys are ignored."""
        return {p.name: p.parse(_required(hyperparameters, p.name)) for p in self.parameters}

    def grid(self) -> dict[str, tuple[Any, ...]]:
        """Every value of every parameter, for a Grid search; only categorical and integer ranges can have one."""
        self.grid_size()
        return {p.name: p.grid() for p in self.parameters}

    def grid_size(self) -> int:
        """The number of combinations a Grid search enumerates."""
        size = 1
        for parameter in self.parameters:
            size *= parameter.grid_size()
        if size > MAX_GRID_COMBINATIONS:
            raise ValidationError(
                f"a Grid search over these ranges has {size} combinations; kibako enumerates at most "
                f"{MAX_GRID_COMBINATIONS}: narrow the integer ranges, drop values, or use Random or Bayesian"
            )
        return size


def _numeric(kind: str, item: Any) -> IntegerParameter | ContinuousParameter:
    where = f"ParameterRanges.{kind}"
    name = _name(where, item, _NUMERIC_KEYS)
    what = f"parameter {name!r}"
    for key in ("MinValue", "MaxValue"):
        if key not in item:
            raise ValidationError(
                f"{what}: {key} is missing; {kind} need MinValue and MaxValue", parameter=name
            )
    scaling = item.get("ScalingType", "Auto")
    if scaling not in SCALING_TYPES:
        raise ValidationError(
            f"{what}: ScalingType {scaling!r} is not one of {list(SCALING_TYPES)}", parameter=name
        )
    low: float
    high: float
    if kind == INTEGER_RANGES:
        low = _as_int(item["MinValue"], f"{what}: MinValue")
        high = _as_int(item["MaxValue"], f"{what}: MaxValue")
    else:
        low = _as_float(item["MinValue"], f"{what}: MinValue")
        high = _as_float(item["MaxValue"], f"{what}: MaxValue")
    if low > high:
        raise ValidationError(
            f"{what}: MinValue {low!r} is greater than MaxValue {high!r}; swap them", parameter=name
        )
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationError(
            f"{what}: Logarithmic scaling needs MinValue > 0, got {low!r}; raise MinValue or use Linear",
            parameter=name,
        )
    if scaling == "ReverseLogarithmic":
        if kind == INTEGER_RANGES:
            raise ValidationError(
                f"{what}: ReverseLogarithmic scaling is only for ContinuousParameterRanges; use Linear or "
                "Logarithmic for an integer range",
                parameter=name,
            )
        if not (0 <= low < high < 1):
            raise ValidationError(
                f"{what}: ReverseLogarithmic scaling needs 0 <= MinValue < MaxValue < 1, got [{low!r}, {high!r}]",
                parameter=name,
            )
    if kind == INTEGER_RANGES:
        return IntegerParameter(name, int(low), int(high), scaling)
    return ContinuousParameter(name, float(low), float(high), scaling)


def _categorical(item: Any) -> CategoricalParameter:
    name = _name(f"ParameterRanges.{CATEGORICAL_RANGES}", item, _CATEGORICAL_KEYS)
    what = f"parameter {name!r}"
    raw = item.get("Values")
    if not isinstance(raw, list | tuple):
        raise ValidationError(f"{what}: Values is a list of strings, got {raw!r}", parameter=name)
    if not 1 <= len(raw) <= MAX_CATEGORICAL_VALUES:
        raise ValidationError(
            f"{what}: a categorical range has 1 to {MAX_CATEGORICAL_VALUES} Values, got {len(raw)}",
            parameter=name,
        )
    values: list[str] = []
    for value in raw:
        text = value if isinstance(value, str) else _scalar_text(value)
        if text is None:
            raise ValidationError(f"{what}: the value {value!r} is not a string", parameter=name)
        if len(text) > MAX_VALUE_LENGTH:
            raise ValidationError(
                f"{what}: a value is {len(text)} characters; the limit is {MAX_VALUE_LENGTH}", parameter=name
            )
        if text in values:
            raise ValidationError(f"{what}: the value {text!r} appears twice; list each once", parameter=name)
        values.append(text)
    return CategoricalParameter(name, tuple(values))


def _name(where: str, item: Any, allowed: frozenset[str]) -> str:
    if not isinstance(item, Mapping):
        raise ValidationError(f"{where}: each range is an object, got {item!r}")
    name = item.get("Name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{where}: a range needs a Name (a non-empty string), got {item!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"{where}: the Name {name[:40]!r}... is {len(name)} characters; the limit is {MAX_NAME_LENGTH}",
            parameter=name,
        )
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValidationError(
            f"parameter {name!r}: unknown key(s) {unknown} in {where}; the keys are {sorted(allowed)}",
            parameter=name,
        )
    return name


def _kind_of(parameter: Parameter) -> str:
    if isinstance(parameter, IntegerParameter):
        return INTEGER_RANGES
    if isinstance(parameter, ContinuousParameter):
        return CONTINUOUS_RANGES
    return CATEGORICAL_RANGES


def _required(values: Mapping[str, Any], name: str) -> Any:
    try:
        return values[name]
    except KeyError:
        raise ValidationError(f"no value for the tuned parameter {name!r}", parameter=name) from None


def _scalar_text(value: Any) -> str | None:
    """A number as AWS would have it in a categorical list; None for anything that is not a plain scalar."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return None
    return str(value)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{what} {value!r} is not an integer")
    if isinstance(value, Integral):
        return int(value)
    number: float | None = None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, Real):
        number = float(value)
    if number is not None and math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValidationError(f"{what} {value!r} is not an integer; write a whole number such as '1'")


def _as_float(value: Any, what: str) -> float:
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number):
        raise ValidationError(f"{what} {value!r} is not a finite number; write one such as '0.01' or '1e-5'")
    return number
