"""The search strategies of a hyperparameter tuning job, on one in-memory optuna study driven by ask and tell.

``Tuner.create`` takes the AWS names: ``Strategy`` (Bayesian, Random, Grid, Hyperband), the objective ``Type``
(Maximize, Minimize), ``ResourceLimits.MaxNumberOfTrainingJobs`` as ``max_trials``, ``RandomSeed`` as ``seed``,
``TrainingJobEarlyStoppingType`` (Off, Auto) as ``early_stopping`` and the Hyperband ``StrategyConfig``
(``MinResource``, ``MaxResource``). The caller runs the training jobs::

    tuner = Tuner.create(space, "Bayesian", "Minimize", max_trials=20, seed=7)
    while (trial := tuner.ask()) is not None:        # None: no trials left
        ...start a training job with trial.hyperparameters (merged with the static ones)...
        if tuner.report(trial.number, epoch, loss):  # True: stop the job early
            tuner.tell(trial.number, None, state="Stopped")
        ...
        tuner.tell(trial.number, final_loss)          # or state="Failed" / "Stopped"
    tuner.best()                                      # (trial number, objective value) or None

* Bayesian: optuna's TPE sampler. Random: uniform sampling (log-uniform for Logarithmic ranges).
* Grid: every combination of the categorical and integer ranges (an integer range is all of its integers), once
  each, in an order shuffled by ``seed``; continuous ranges are refused, and ``total_trials`` is
  ``min(max_trials, grid size)``. kibako walks the grid itself and hands each combination to optuna as fixed
  params: optuna's GridSampler raises RuntimeError on the last ``tell`` of the ask-and-tell interface (it calls
  ``Study.stop``, optuna issue #5141), and could not skip replayed combinations without its private attributes.
* Hyperband: TPE with optuna's HyperbandPruner (``reduction_factor=3``; ``max_resource=None`` lets optuna read it
  off the first completed trial). It stops trials by itself, so, as in AWS, ``early_stopping`` must be Off.
* ``early_stopping="Auto"`` (other strategies) prunes with optuna's MedianPruner (3 completed trials first, from
  step 1 on): a trial whose best value so far is worse than the median of completed trials at that step stops.

Trials are numbered from 0 in the order they are asked; replayed ``history`` takes the first numbers. All
methods may be called from several threads. optuna is imported only when a tuner is created.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, TypeAlias

from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.tuning.space import SearchSpace

if TYPE_CHECKING:
    import optuna

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")
OBJECTIVE_TYPES = ("Maximize", "Minimize")
EARLY_STOPPING_TYPES = ("Off", "Auto")
TRIAL_STATES = ("Completed", "Failed", "Stopped")
HYPERBAND_REDUCTION_FACTOR = 3
STUDY_NAME = "kibako-tuning"
"""A fixed study name: HyperbandPruner assigns trials to brackets by hashing it, so it must not be random."""

HistoryEntry: TypeAlias = (
    tuple[Mapping[str, Any], float | None, str]
    | tuple[Mapping[str, Any], float | None, str, Mapping[int, float]]
)
"""A finished trial to replay: (values or hyperparameter strings, final objective value, state[, {step: value}])."""


@dataclass(frozen=True)
class Trial:
    """One set of hyperparameters to train with.

    ``hyperparameters`` are the tuned values as SageMaker passes them to a training job (strings); ``values``
    are the same values typed (int, float or str).
    """

    number: int
    hyperparameters: dict[str, str]
    values: dict[str, Any]


@dataclass
class _Running:
    trial: optuna.trial.Trial
    steps: set[int] = field(default_factory=set)


class Tuner:
    """Suggests trials for one tuning job and learns from their results; build it with ``Tuner.create``."""

    def __init__(
        self,
        space: SearchSpace,
        strategy: str,
        objective_type: str,
        study: optuna.Study,
        total_trials: int,
        grid: list[dict[str, Any]] | None,
    ) -> None:
        self.space = space
        self.strategy = strategy
        self.objective_type = objective_type
        self.total_trials = total_trials
        self._study = study
        self._grid = grid
        self._distributions = space.to_optuna()
        self._running: dict[int, _Running] = {}
        self._asked = 0
        self._lock = threading.RLock()

    @classmethod
    def create(
        cls,
        space: SearchSpace,
        strategy: str,
        objective_type: str,
        *,
        max_trials: int,
        seed: int | None = None,
        early_stopping: str = "Off",
        min_resource: int = 1,
        max_resource: int | None = None,
        history: Sequence[HistoryEntry] = (),
    ) -> Tuner:
        """A tuner for ``space``; ``history`` replays the finished trials of a tuning job that is resumed."""
        if strategy not in STRATEGIES:
            raise ValidationError(
                f"Strategy {strategy!r} is not one of {list(STRATEGIES)}", strategy=strategy
            )
        if objective_type not in OBJECTIVE_TYPES:
            raise ValidationError(
                f"the objective Type {objective_type!r} is not one of {list(OBJECTIVE_TYPES)}",
                objective_type=objective_type,
            )
        if early_stopping not in EARLY_STOPPING_TYPES:
            raise ValidationError(
                f"TrainingJobEarlyStoppingType {early_stopping!r} is not one of {list(EARLY_STOPPING_TYPES)}"
            )
        _check_int("MaxNumberOfTrainingJobs (max_trials)", max_trials, minimum=1)
        if seed is not None:
            _check_int("RandomSeed (seed)", seed, minimum=0)
        if strategy == "Hyperband":
            if early_stopping != "Off":
                raise ValidationError(
                    "the Hyperband strategy stops training jobs early by itself; set "
                    "TrainingJobEarlyStoppingType to Off"
                )
            _check_int("MinResource (min_resource)", min_resource, minimum=1)
            if max_resource is not None:
                _check_int("MaxResource (max_resource)", max_resource, minimum=min_resource)
        elif min_resource != 1 or max_resource is not None:
            raise ValidationError(
                f"MinResource and MaxResource configure the Hyperband strategy; drop them for {strategy}, or use "
                "Hyperband"
            )
        grid: list[dict[str, Any]] | None = None
        total_trials = max_trials
        if strategy == "Grid":
            axes = space.grid()  # refuses continuous ranges and huge grids
            grid = [
                dict(zip(axes, combination, strict=True)) for combination in itertools.product(*axes.values())
            ]
            random.Random(seed).shuffle(grid)
            total_trials = min(max_trials, len(grid))

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with _quiet():
            study = optuna.create_study(
                study_name=STUDY_NAME,
                direction="maximize" if objective_type == "Maximize" else "minimize",
                sampler=_sampler(optuna, strategy, seed),
                pruner=_pruner(optuna, strategy, early_stopping, min_resource, max_resource),
            )
        tuner = cls(space, strategy, objective_type, study, total_trials, grid)
        tuner._replay(history)
        return tuner

    # -- the trial loop -------------------------------------------------------------------------------------

    def ask(self) -> Trial | None:
        """The next trial to run, or None when ``total_trials`` have been asked (or the grid is done)."""
        with self._lock:
            if self._asked >= self.total_trials:
                return None
            if self._grid is not None:
                if not self._grid:
                    return None
                self._study.enqueue_trial(self.space.to_optuna_params(self._grid.pop()))
            trial = self._study.ask(self._distributions)
            self._asked += 1
            self._running[trial.number] = _Running(trial)
            values = self.space.from_optuna_params(trial.params)
            return Trial(trial.number, self.space.encode(values), values)

    def report(self, number: int, step: int, value: float) -> bool:
        """Record the objective at ``step`` (an epoch, say) of a running trial; True means stop it early.

        A second value for a step that has one is ignored, as optuna does. Without pruning (Off) this is
        always False.
        """
        _check_int("step", step, minimum=0)
        number_value = _as_number("the intermediate objective value", value)
        with self._lock:
            running = self._get_running(number)
            if step not in running.steps:  # optuna would warn, and keep the first value
                running.trial.report(number_value, step)
                running.steps.add(step)
            return bool(running.trial.should_prune())

    def tell(self, number: int, value: float | None, *, state: str = "Completed") -> None:
        """Finish a running trial.

        ``Completed`` needs the final objective value; ``Failed`` takes None; ``Stopped`` (stopped early) keeps
        the last reported value, or ``value`` when one is given, which is then recorded as the next step.
        """
        if state not in TRIAL_STATES:
            raise ValidationError(f"trial state {state!r} is not one of {list(TRIAL_STATES)}", state=state)
        if state == "Completed":
            if value is None:
                raise ValidationError(
                    f"trial {number}: a Completed trial needs its final objective value; tell state='Failed' "
                    "when the job did not produce one",
                    trial=number,
                )
            final = _as_number("the final objective value", value)
            if not math.isfinite(final):
                raise ValidationError(
                    f"trial {number}: the final objective value is {final}; tell state='Failed' for a job whose "
                    "objective is not a finite number",
                    trial=number,
                )
        elif state == "Failed" and value is not None:
            raise ValidationError(
                f"trial {number}: a Failed trial has no objective value; pass None", trial=number
            )
        elif value is not None:
            final = _as_number("the final objective value", value)
        import optuna

        with self._lock:
            running = self._get_running(number)
            if state == "Completed":
                self._study.tell(running.trial, final)
            elif state == "Failed":
                self._study.tell(running.trial, state=optuna.trial.TrialState.FAIL)
            else:
                if value is not None:
                    running.trial.report(final, max(running.steps, default=-1) + 1)
                self._study.tell(running.trial, state=optuna.trial.TrialState.PRUNED)
            del self._running[number]

    # -- results --------------------------------------------------------------------------------------------

    def best(self) -> tuple[int, float] | None:
        """(number, value) of the best Completed trial (as AWS, stopped ones do not count), or None."""
        import optuna

        with self._lock:
            completed = [
                (t.number, float(t.value))
                for t in self._study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                if t.value is not None
            ]
        if not completed:
            return None
        sign = 1.0 if self.objective_type == "Maximize" else -1.0
        return max(completed, key=lambda t: (sign * t[1], -t[0]))  # ties: the earlier trial

    @property
    def remaining(self) -> int:
        """How many more trials ``ask`` can give."""
        with self._lock:
            left = self.total_trials - self._asked
            if self._grid is not None:
                left = min(left, len(self._grid))
            return max(left, 0)

    @property
    def running(self) -> tuple[int, ...]:
        """Numbers of the trials asked and not yet told."""
        with self._lock:
            return tuple(sorted(self._running))

    @property
    def done(self) -> bool:
        """True when no trial is left to ask and none is running: the tuning job is over."""
        with self._lock:
            return self.remaining == 0 and not self._running

    def counts(self) -> dict[str, int]:
        """Trials by state, as AWS's TrainingJobStatusCounters: Completed, InProgress, Stopped, Failed."""
        import optuna

        states = optuna.trial.TrialState
        with self._lock:
            trials = self._study.get_trials(deepcopy=False)
            return {
                "Completed": sum(t.state == states.COMPLETE for t in trials),
                "InProgress": len(self._running),
                "Stopped": sum(t.state == states.PRUNED for t in trials),
                "Failed": sum(t.state == states.FAIL for t in trials),
            }

    @property
    def study(self) -> optuna.Study:
        """The optuna study underneath (read it; drive trials through the tuner)."""
        return self._study

    # -- internals ------------------------------------------------------------------------------------------

    def _get_running(self, number: int) -> _Running:
        running = self._running.get(number)
        if running is not None:
            return running
        if 0 <= number < self._asked:
            raise ConflictError(f"trial {number} has finished already", trial=number)
        raise NotFoundError(f"no trial {number} was asked of this tuner", trial=number)

    def _replay(self, history: Sequence[HistoryEntry]) -> None:
        import optuna

        states = {
            "Completed": optuna.trial.TrialState.COMPLETE,
            "Failed": optuna.trial.TrialState.FAIL,
            "Stopped": optuna.trial.TrialState.PRUNED,
        }
        done: set[tuple[Any, ...]] = set()
        for index, entry in enumerate(history):
            values, value, state, intermediate = _unpack(index, entry)
            if state not in states:
                raise ValidationError(
                    f"history[{index}]: state {state!r} is not one of {list(TRIAL_STATES)}; leave out trials "
                    "that did not finish",
                    index=index,
                )
            typed = self.space.decode(values)
            final: float | None = None
            if state == "Completed":
                if value is None or not math.isfinite(_as_number(f"history[{index}] value", value)):
                    raise ValidationError(
                        f"history[{index}]: a Completed trial needs a finite objective value, got {value!r}",
                        index=index,
                    )
                final = float(value)
            elif state == "Stopped" and value is not None:
                final = _as_number(f"history[{index}] value", value)
            elif state == "Failed" and value is not None:
                raise ValidationError(
                    f"history[{index}]: a Failed trial has no objective value; give None", index=index
                )
            steps = {
                _step(f"history[{index}] step", step): _as_number(f"history[{index}] value", v)
                for step, v in intermediate.items()
            }
            if state == "Stopped" and final is None and steps:
                final = steps[max(steps)]
            with _quiet():
                self._study.add_trial(
                    optuna.trial.create_trial(
                        state=states[state],
                        value=final if final is not None and math.isfinite(final) else None,
                        params=self.space.to_optuna_params(typed),
                        distributions=self._distributions,
                        intermediate_values=steps,
                    )
                )
            self._asked += 1
            done.add(tuple(typed[name] for name in self.space.names))
        if self._grid is not None and done:
            self._grid = [c for c in self._grid if tuple(c[n] for n in self.space.names) not in done]


def _sampler(optuna: Any, strategy: str, seed: int | None) -> Any:
    if strategy == "Random" or strategy == "Grid":  # Grid hands optuna fixed params; the sampler never runs
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _pruner(
    optuna: Any, strategy: str, early_stopping: str, min_resource: int, max_resource: int | None
) -> Any:
    if strategy == "Hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=min_resource,
            max_resource="auto" if max_resource is None else max_resource,
            reduction_factor=HYPERBAND_REDUCTION_FACTOR,
        )
    if early_stopping == "Auto":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep optuna's ExperimentalWarning (a user-facing nag about its API, not about the tuning) to itself."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield


def _unpack(index: int, entry: Any) -> tuple[Mapping[str, Any], float | None, str, Mapping[Any, Any]]:
    if isinstance(entry, tuple | list) and len(entry) in (3, 4) and isinstance(entry[0], Mapping):
        intermediate = entry[3] if len(entry) == 4 else {}
        if isinstance(intermediate, Mapping):
            return entry[0], entry[1], entry[2], intermediate
    raise ValidationError(
        f"history[{index}] is (hyperparameters, final value or None, state[, {{step: value}}]), got {entry!r}",
        index=index,
    )


def _check_int(what: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValidationError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValidationError(f"{what} must be at least {minimum}, got {value}")
    return int(value)


def _step(what: str, value: Any) -> int:
    """A step from a history: an int, or its decimal string (JSON object keys are strings)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return _check_int(what, value, minimum=0)


def _as_number(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValidationError(f"{what} must be a number, got {value!r}")
    return float(value)
