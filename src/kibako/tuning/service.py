"""Hyperparameter tuning jobs: CreateHyperParameterTuningJob requests, queued like training jobs, run by workers.

A tuning job is an Execution (type ``HyperParameterTuningJob``) with a row in the ``jobs`` queue that needs no
slots: a worker claims it with a lease like any job and runs :class:`kibako.tuning.runner.TuningRunner`, which
starts its trials as ordinary training jobs (named ``<tuning-job>-<NNN>-<8 hex>``) and watches them. The trials
are recorded in the tuning job's properties (``Trials``) before each training job is created, so a worker that
dies loses nothing: the next one re-adopts the trials still running and replays the finished ones into the
search strategy. Each status change publishes a "SageMaker HyperParameter Tuning Job State Change" event.

The request is the AWS JSON, checked in full before anything exists (a bad request creates nothing):

* ``HyperParameterTuningJobConfig``: ``Strategy`` (Bayesian, Random, Grid, Hyperband), ``StrategyConfig``
  (``HyperbandStrategyConfig``: ``MinResource``, ``MaxResource``), ``HyperParameterTuningJobObjective``
  (``Type``, ``MetricName``), ``ResourceLimits`` (``MaxNumberOfTrainingJobs``, ``MaxParallelTrainingJobs``,
  ``MaxRuntimeInSeconds``), ``ParameterRanges``, ``TrainingJobEarlyStoppingType`` (Off, Auto), ``RandomSeed``
  and ``TuningJobCompletionCriteria.TargetObjectiveMetricValue``.
* ``TrainingJobDefinition``: what every trial's CreateTrainingJob request is made of: ``StaticHyperParameters``
  (with ``sagemaker_program`` and ``sagemaker_submit_directory``, as the SageMaker SDK writes them),
  ``AlgorithmSpecification`` (its ``MetricDefinitions`` must define the objective metric), ``InputDataConfig``,
  ``OutputDataConfig``, ``ResourceConfig``, ``StoppingCondition``, ``CheckpointConfig``, ``Environment``,
  ``EnableManagedSpotTraining`` and kibako's ``InterruptionConfig``.
* ``Tags``: given to every trial too, beside ``kibako.tuning-job`` (the tuning job's ARN).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from kibako.core.ids import arn, new_id
from kibako.core.wire import command, query
from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.jobs import models
from kibako.jobs.rows import JobRow, iso, load
from kibako.jobs.service import JobService, WorkKind
from kibako.store import schema
from kibako.tuning.space import SearchSpace

TUNING = "HyperParameterTuningJob"
STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
ARN_RESOURCE = "hyper-parameter-tuning-job"
TAG = "kibako.tuning-job"
"""The tag (and run tag) every trial carries: the ARN of its tuning job."""
EXPERIMENT = "hyperparameter-tuning-jobs"
"""The experiment of the tuning jobs' own runs; the trials' runs go to ``<name>-aws-tuning-job``, as in AWS."""
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
MAX_TRAINING_JOBS = 500
"""kibako's own ceiling on MaxNumberOfTrainingJobs: the trials live in one JSON document."""
STATUSES = (
    models.IN_PROGRESS,
    models.COMPLETED,
    models.FAILED,
    models.STOPPING,
    models.STOPPED,
)
SORT_TRIALS = ("Name", "CreationTime", "Status", "FinalObjectiveMetricValue")
SORT_JOBS = ("Name", "CreationTime", "Status")
SORT_ORDERS = ("Ascending", "Descending")

_TOP_KEYS = {"HyperParameterTuningJobName", "HyperParameterTuningJobConfig", "TrainingJobDefinition", "Tags"}
_UNSUPPORTED_TOP = {
    "TrainingJobDefinitions": "several training job definitions in one tuning job",
    "WarmStartConfig": "warm start",
    "Autotune": "Autotune",
}
_CONFIG_KEYS = {
    "Strategy",
    "StrategyConfig",
    "HyperParameterTuningJobObjective",
    "ResourceLimits",
    "ParameterRanges",
    "TrainingJobEarlyStoppingType",
    "TuningJobCompletionCriteria",
    "RandomSeed",
}
# What a trial's CreateTrainingJob request takes from the definition as it is.
_PASSED_TO_TRIALS = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
    "VpcConfig",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "RetryStrategy",
    "InterruptionConfig",
)
_DEFINITION_KEYS = {
    *_PASSED_TO_TRIALS,
    "DefinitionName",
    "StaticHyperParameters",
    "HyperParameterTuningResourceConfig",
}


@dataclass(frozen=True)
class TuningConfig:
    """A checked CreateHyperParameterTuningJob request, as the runner needs it."""

    name: str
    request: dict[str, Any]
    space: SearchSpace
    strategy: str
    objective_type: str
    metric: str
    max_jobs: int
    max_parallel: int
    early_stopping: str = "Off"
    seed: int | None = None
    min_resource: int = 1
    max_resource: int | None = None
    max_runtime: int | None = None
    target: float | None = None
    definition: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)

    @property
    def prunes(self) -> bool:
        """Whether the strategy stops trials early, and so needs their intermediate objective values."""
        return self.strategy == "Hyperband" or self.early_stopping == "Auto"

    def tuner(self, history: Any = ()) -> Any:
        from kibako.tuning.strategies import Tuner

        return Tuner.create(
            self.space,
            self.strategy,
            self.objective_type,
            max_trials=self.max_jobs,
            seed=self.seed,
            early_stopping=self.early_stopping,
            min_resource=self.min_resource,
            max_resource=self.max_resource,
            history=history,
        )

    def better(self, a: float, b: float) -> bool:
        return a > b if self.objective_type == "Maximize" else a < b


def parse_request(request: Any) -> TuningConfig:
    """Check a CreateHyperParameterTuningJob request (everything but the training job definition's files)."""
    req = _plain(request)
    for key, what in _UNSUPPORTED_TOP.items():
        if key in req:
            raise ValidationError(
                f"{key} ({what}) is not supported by kibako; give one TrainingJobDefinition"
            )
    _no_unknown(req, _TOP_KEYS, "the request")
    name = req.get("HyperParameterTuningJobName")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"HyperParameterTuningJobName {name!r} must be 1 to 32 letters, digits and hyphens, starting with a "
            "letter or digit (AWS's limit: trial names are the tuning job's name plus a suffix)"
        )
    config = _object(req, "HyperParameterTuningJobConfig", required=True)
    _no_unknown(config, _CONFIG_KEYS, "HyperParameterTuningJobConfig")
    strategy = config.get("Strategy")
    if not isinstance(strategy, str):
        raise ValidationError(
            "HyperParameterTuningJobConfig.Strategy is required: Bayesian, Random, Grid or Hyperband"
        )
    objective = _object(config, "HyperParameterTuningJobObjective", required=True)
    objective_type, metric = objective.get("Type"), objective.get("MetricName")
    if not isinstance(metric, str) or not metric:
        raise ValidationError(
            "HyperParameterTuningJobObjective.MetricName is required: the metric to optimise"
        )
    if objective_type not in ("Maximize", "Minimize"):
        raise ValidationError(
            f"HyperParameterTuningJobObjective.Type is Maximize or Minimize, not {objective_type!r}"
        )
    space = SearchSpace.from_ranges(_object(config, "ParameterRanges", required=True))
    limits = _object(config, "ResourceLimits", required=True)
    _no_unknown(
        limits,
        {"MaxNumberOfTrainingJobs", "MaxParallelTrainingJobs", "MaxRuntimeInSeconds"},
        "ResourceLimits",
    )
    max_parallel = _whole(limits, "MaxParallelTrainingJobs", "ResourceLimits", minimum=1, required=True)
    if strategy == "Grid" and "MaxNumberOfTrainingJobs" not in limits:
        max_jobs = min(space.grid_size(), MAX_TRAINING_JOBS)  # AWS: a Grid search may leave it out
    else:
        max_jobs = _whole(limits, "MaxNumberOfTrainingJobs", "ResourceLimits", minimum=1, required=True)
    if max_jobs > MAX_TRAINING_JOBS:
        raise ValidationError(
            f"ResourceLimits.MaxNumberOfTrainingJobs is {max_jobs}; kibako runs at most {MAX_TRAINING_JOBS} "
            "training jobs in one tuning job"
        )
    max_runtime = _whole(limits, "MaxRuntimeInSeconds", "ResourceLimits", minimum=1)
    hyperband = _object(_object(config, "StrategyConfig"), "HyperbandStrategyConfig")
    _no_unknown(hyperband, {"MinResource", "MaxResource"}, "StrategyConfig.HyperbandStrategyConfig")
    min_resource = _whole(hyperband, "MinResource", "HyperbandStrategyConfig", minimum=1)
    max_resource = _whole(hyperband, "MaxResource", "HyperbandStrategyConfig", minimum=1)
    completion = _object(config, "TuningJobCompletionCriteria")
    _no_unknown(completion, {"TargetObjectiveMetricValue"}, "TuningJobCompletionCriteria")
    target = completion.get("TargetObjectiveMetricValue")
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
    ):
        raise ValidationError(f"TargetObjectiveMetricValue must be a number, got {target!r}")
    seed = config.get("RandomSeed")
    definition = _object(req, "TrainingJobDefinition", required=True)
    for key in ("TuningObjective", "HyperParameterRanges"):
        if key in definition:
            raise ValidationError(
                f"TrainingJobDefinition.{key} is for several definitions in one tuning job, which kibako does not "
                "support; put it in HyperParameterTuningJobConfig (HyperParameterTuningJobObjective, "
                "ParameterRanges)"
            )
    _no_unknown(definition, _DEFINITION_KEYS, "TrainingJobDefinition")
    static = _object(definition, "StaticHyperParameters")
    for key, value in static.items():
        if not isinstance(value, str):
            raise ValidationError(
                f"StaticHyperParameters[{key!r}] must be a string, as in AWS (json.dumps(value)); got {value!r}"
            )
    both = sorted(set(static) & set(space.names))
    if both:
        raise ValidationError(
            f"{both} are both static and tuned hyperparameters; drop them from StaticHyperParameters",
            keys=both,
        )
    algorithm = _object(definition, "AlgorithmSpecification")
    definitions = algorithm.get("MetricDefinitions") or []
    names = (
        [d.get("Name") for d in definitions if isinstance(d, dict)] if isinstance(definitions, list) else []
    )
    if metric not in names:
        raise ValidationError(
            f"the objective metric {metric!r} is not one of TrainingJobDefinition.AlgorithmSpecification."
            f"MetricDefinitions ({names or 'none'}); define it with a regex over the script's output",
            metric=metric,
        )
    tags = req.get("Tags") or []
    if not isinstance(tags, list) or not all(
        isinstance(t, dict) and isinstance(t.get("Key"), str) and isinstance(t.get("Value", ""), str)
        for t in tags
    ):
        raise ValidationError("Tags is a list of {'Key': str, 'Value': str}")
    tuning = TuningConfig(
        name=name,
        request=req,
        space=space,
        strategy=strategy,
        objective_type=objective_type,
        metric=metric,
        max_jobs=max_jobs,
        max_parallel=max_parallel,
        early_stopping=config.get("TrainingJobEarlyStoppingType", "Off"),
        seed=seed,
        min_resource=1 if min_resource is None else min_resource,
        max_resource=max_resource,
        max_runtime=max_runtime,
        target=None if target is None else float(target),
        definition=definition,
        tags=[{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags],
    )
    tuning.tuner()  # the strategy's own checks: Grid over continuous ranges, Hyperband with early stopping, ...
    return tuning


def trial_request(
    tuning: TuningConfig, tuning_arn: str, trial_name: str, tuned: Mapping[str, str]
) -> dict[str, Any]:
    """The CreateTrainingJob request of one trial: the definition, its static and tuned hyperparameters."""
    definition = tuning.definition
    request: dict[str, Any] = {k: definition[k] for k in _PASSED_TO_TRIALS if k in definition}
    request["TrainingJobName"] = trial_name
    request["HyperParameters"] = {**(definition.get("StaticHyperParameters") or {}), **tuned}
    checkpoint = dict(request.get("CheckpointConfig") or {})
    if checkpoint.get("S3Uri"):  # one folder per trial: trials must not resume from each other's checkpoints
        checkpoint["S3Uri"] = f"{str(checkpoint['S3Uri']).rstrip('/')}/{trial_name}"
        request["CheckpointConfig"] = checkpoint
    request["Tags"] = [*tuning.tags, {"Key": TAG, "Value": tuning_arn}]
    request["ExperimentConfig"] = {"ExperimentName": f"{tuning.name}-aws-tuning-job", "RunName": trial_name}
    return request


def trial_name(tuning_name: str, number: int) -> str:
    """``<tuning-job>-<NNN>-<8 hex>``, as AWS names a tuning job's training jobs (at most 45 characters)."""
    return f"{tuning_name}-{number:03d}-{new_id()[-8:]}"


class TuningService:
    """CreateHyperParameterTuningJob and friends; the work itself is queued and run through the JobService."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.clock = jobs.clock
        self.tracking = jobs.tracking
        jobs.register_kind(TUNING, WorkKind(event=STATE_CHANGE, describe=describe, run=_run))

    # -- creating ------------------------------------------------------------------------------------------

    @command
    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, str]:
        """Queue a tuning job from a CreateHyperParameterTuningJob request; returns its ARN."""
        tuning = parse_request(request)
        tuning_arn = self._arn(tuning.name)
        with self.store.read() as conn:
            if conn.execute(
                select(schema.executions.c.id).where(schema.executions.c.arn == tuning_arn)
            ).first():
                raise ConflictError(f"a tuning job named {tuning.name!r} exists already; names are unique")
        # The trials' request is checked as create_training_job will check it, before anything exists; then the
        # script is packed once, so every trial runs the code as it was when the tuning job was created.
        sample = trial_request(tuning, tuning_arn, f"{tuning.name}-source-{new_id()[-8:]}", {})
        packed = self.jobs.check_training_request(sample, snapshot=True)
        request_out = dict(tuning.request)
        definition = dict(tuning.definition)
        static = dict(definition.get("StaticHyperParameters") or {})
        for key in (models.PROGRAM, models.SUBMIT_DIRECTORY):
            if key in packed["HyperParameters"]:
                static[key] = packed["HyperParameters"][key]
        definition["StaticHyperParameters"] = static
        request_out["TrainingJobDefinition"] = definition
        limits = dict(request_out["HyperParameterTuningJobConfig"]["ResourceLimits"])
        limits["MaxNumberOfTrainingJobs"] = tuning.max_jobs
        request_out["HyperParameterTuningJobConfig"] = {
            **request_out["HyperParameterTuningJobConfig"],
            "ResourceLimits": limits,
            "TrainingJobEarlyStoppingType": tuning.early_stopping,
        }
        run = self.tracking.start_run(
            EXPERIMENT, name=tuning.name, tags={TAG: tuning_arn, "kibako.job": tuning_arn}
        )
        try:
            self.jobs.enqueue(TUNING, tuning.name, tuning_arn, request_out, {"RunId": run.id, "Trials": []})
        except BaseException:
            self.tracking.end_run(run.id, models.FAILED)
            raise
        return {"HyperParameterTuningJobArn": tuning_arn}

    # -- reading -------------------------------------------------------------------------------------------

    @query
    def describe_hyper_parameter_tuning_job(self, name: str) -> dict[str, Any]:
        """DescribeHyperParameterTuningJob: the request, status, counters and the best training job."""
        return describe(self._load(name))

    @query
    def list_hyper_parameter_tuning_jobs(
        self,
        status_equals: str | None = None,
        name_contains: str | None = None,
        sort_by: str = "CreationTime",
        sort_order: str = "Descending",
        max_results: int = 100,
    ) -> list[dict[str, Any]]:
        """ListHyperParameterTuningJobs: HyperParameterTuningJobSummaries, newest first by default."""
        _one_of(status_equals, STATUSES, "StatusEquals")
        _one_of(sort_by, SORT_JOBS, "SortBy")
        _one_of(sort_order, SORT_ORDERS, "SortOrder")
        e = schema.executions
        stmt = select(e, schema.jobs.c.request).join(schema.jobs, schema.jobs.c.execution_id == e.c.id)
        stmt = stmt.where(e.c.type == TUNING)
        if status_equals:
            stmt = stmt.where(e.c.status == status_equals)
        with self.store.read() as conn:
            rows = [JobRow.of(r) for r in conn.execute(stmt).mappings()]
        if name_contains:
            rows = [r for r in rows if name_contains.lower() in r.name.lower()]
        key = {
            "Name": lambda r: r.name,
            "CreationTime": lambda r: (r.created_ms, r.id),
            "Status": lambda r: r.status,
        }
        rows.sort(key=key[sort_by], reverse=sort_order == "Descending")
        return [_summary(row) for row in rows[: max(1, min(int(max_results), 1000))]]

    @query
    def list_training_jobs_for_tuning_job(
        self,
        name: str,
        sort_by: str = "FinalObjectiveMetricValue",
        sort_order: str | None = None,
        status_equals: str | None = None,
        max_results: int = 1000,
    ) -> list[dict[str, Any]]:
        """ListTrainingJobsForHyperParameterTuningJob: the trials as TrainingJobSummaries.

        Sorted by the objective, best first, unless ``sort_order`` says otherwise; unlike AWS, which leaves them
        out, trials without an objective value come last.
        """
        _one_of(sort_by, SORT_TRIALS, "SortBy")
        _one_of(sort_order, SORT_ORDERS, "SortOrder")
        _one_of(status_equals, STATUSES, "StatusEquals")
        row = self._load(name)
        config = row.request["HyperParameterTuningJobConfig"]
        objective = config["HyperParameterTuningJobObjective"]
        summaries = []
        for record in row.properties.get("Trials", []):
            summary = _trial_summary(record, objective, row.name)
            self._enrich(summary)
            if status_equals and summary["TrainingJobStatus"] != status_equals:
                continue
            summaries.append(summary)
        if sort_order is None:
            best_first = sort_by == "FinalObjectiveMetricValue" and objective["Type"] == "Maximize"
            sort_order = "Descending" if best_first else "Ascending"
        reverse = sort_order == "Descending"
        if sort_by == "FinalObjectiveMetricValue":
            scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            rest = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
            scored.sort(
                key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=reverse
            )
            summaries = scored + rest
        else:
            field_of = {
                "Name": "TrainingJobName",
                "CreationTime": "CreationTime",
                "Status": "TrainingJobStatus",
            }
            summaries.sort(key=lambda s: str(s.get(field_of[sort_by]) or ""), reverse=reverse)
        return summaries[: max(1, int(max_results))]

    # -- stopping ------------------------------------------------------------------------------------------

    @command
    def stop_hyper_parameter_tuning_job(self, name: str) -> None:
        """StopHyperParameterTuningJob: no more trials start, and the running ones are stopped; the tuning job
        becomes Stopping, then Stopped once its trials have ended."""
        row = self._load(name)
        self.jobs.stop_job(row.arn, TUNING)

    # -- internals -------------------------------------------------------------------------------------------

    def _arn(self, name: str) -> str:
        return arn(ARN_RESOURCE, name, region=self.jobs.region, account=self.jobs.account)

    def _load(self, name: str) -> JobRow:
        with self.store.read() as conn:
            return load(
                conn,
                name,
                TUNING,
                missing=f"no hyperparameter tuning job named {name!r}; `kibako tuning list` shows the ones there are",
            )

    def _enrich(self, summary: dict[str, Any]) -> None:
        """Times and the failure reason from the training job itself (the record has what the tuner saw)."""
        try:
            desc = self.jobs.describe_training_job(summary["TrainingJobName"])
        except NotFoundError:
            return  # recorded, and not created yet
        for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "FailureReason"):
            if desc.get(key):
                summary[key] = desc[key]
        if summary["TrainingJobStatus"] in (models.IN_PROGRESS, models.STOPPING):
            summary["TrainingJobStatus"] = desc["TrainingJobStatus"]


# -- rows and descriptions -------------------------------------------------------------------------------------


def describe(row: Any) -> dict[str, Any]:
    """The DescribeHyperParameterTuningJob response of a stored tuning job (a :class:`~kibako.jobs.rows.JobRow`)."""
    request = row.request
    config = request["HyperParameterTuningJobConfig"]
    objective = config["HyperParameterTuningJobObjective"]
    props = row.properties
    trials = props.get("Trials", [])
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": row.name,
        "HyperParameterTuningJobArn": row.arn,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": request["TrainingJobDefinition"],
        "HyperParameterTuningJobStatus": row.status,
        "CreationTime": iso(row.created_ms),
        "LastModifiedTime": iso(row.updated_ms),
        "TrainingJobStatusCounters": status_counters(trials),
        "ObjectiveStatusCounters": objective_counters(trials),
    }
    if row.end_ms is not None:
        out["HyperParameterTuningEndTime"] = iso(row.end_ms)
    best = best_trial(trials, objective["Type"])
    if best is not None:
        out["BestTrainingJob"] = _trial_summary(best, objective, row.name)
    if props.get("FailureReason"):
        out["FailureReason"] = props["FailureReason"]
    if props.get("CompletionReason"):
        out["CompletionReason"] = props["CompletionReason"]
    if request.get("Tags"):
        out["Tags"] = request["Tags"]
    out["RunId"] = props.get("RunId")
    return out


def status_counters(trials: list[dict[str, Any]]) -> dict[str, int]:
    statuses = [t["TrainingJobStatus"] for t in trials]
    return {
        "Completed": statuses.count(models.COMPLETED),
        "InProgress": statuses.count(models.IN_PROGRESS) + statuses.count(models.STOPPING),
        "RetryableError": 0,
        "NonRetryableError": statuses.count(models.FAILED),
        "Stopped": statuses.count(models.STOPPED),
    }


def objective_counters(trials: list[dict[str, Any]]) -> dict[str, int]:
    states = [objective_status(t) for t in trials]
    return {state: states.count(state) for state in ("Succeeded", "Pending", "Failed")}


def objective_status(trial: dict[str, Any]) -> str:
    if trial["TrainingJobStatus"] in (models.IN_PROGRESS, models.STOPPING):
        return "Pending"
    return "Succeeded" if trial.get("ObjectiveValue") is not None else "Failed"


def best_trial(trials: list[dict[str, Any]], objective_type: str) -> dict[str, Any] | None:
    """The Completed trial with the best objective (as AWS, stopped trials do not count); ties: the earlier."""
    sign = 1.0 if objective_type == "Maximize" else -1.0
    done = [
        t
        for t in trials
        if t["TrainingJobStatus"] == models.COMPLETED and t.get("ObjectiveValue") is not None
    ]
    if not done:
        return None
    return max(done, key=lambda t: (sign * t["ObjectiveValue"], -t["Number"]))


def _trial_summary(record: dict[str, Any], objective: dict[str, Any], tuning_name: str) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "TrainingJobName": record["TrainingJobName"],
        "TrainingJobArn": record["TrainingJobArn"],
        "TuningJobName": tuning_name,
        "CreationTime": iso(record["CreationTime"]),
        "TrainingJobStatus": record["TrainingJobStatus"],
        "TunedHyperParameters": record["TunedHyperParameters"],
        "ObjectiveStatus": objective_status(record),
    }
    if record.get("EndTime") is not None:
        summary["TrainingEndTime"] = iso(record["EndTime"])
    if record.get("ObjectiveValue") is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": objective["Type"],
            "MetricName": objective["MetricName"],
            "Value": record["ObjectiveValue"],
        }
    if record.get("FailureReason"):
        summary["FailureReason"] = record["FailureReason"]
    if record.get("EarlyStopped"):
        summary["EarlyStopped"] = True
    return summary


def _summary(row: JobRow) -> dict[str, Any]:
    config = row.request["HyperParameterTuningJobConfig"]
    trials = row.properties.get("Trials", [])
    out = {
        "HyperParameterTuningJobName": row.name,
        "HyperParameterTuningJobArn": row.arn,
        "HyperParameterTuningJobStatus": row.status,
        "Strategy": config["Strategy"],
        "CreationTime": iso(row.created_ms),
        "LastModifiedTime": iso(row.updated_ms),
        "TrainingJobStatusCounters": status_counters(trials),
        "ObjectiveStatusCounters": objective_counters(trials),
        "ResourceLimits": config["ResourceLimits"],
    }
    if row.end_ms is not None:
        out["HyperParameterTuningEndTime"] = iso(row.end_ms)
    return out


def _run(jobs: JobService, claim: Any, worker_id: str, lease_ms: int, stopping: Any) -> Any:
    from kibako.tuning.runner import TuningRunner

    return TuningRunner(jobs, claim, worker_id=worker_id, lease_ms=lease_ms, stopping=stopping).run()


# -- request pieces ------------------------------------------------------------------------------------------------


def _plain(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise ValidationError(f"a tuning job request is a JSON object, got {type(request).__name__}")
    try:
        return json.loads(json.dumps(request, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"the request cannot be written as JSON: {exc}") from None


def _object(parent: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{key} is required")
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{key} must be a JSON object, got {value!r}")
    return value


def _no_unknown(block: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {unknown}; the keys are {sorted(known)}", keys=unknown
        )


def _whole(block: dict[str, Any], key: str, where: str, *, minimum: int, required: bool = False) -> Any:
    value = block.get(key)
    if value is None:
        if required:
            raise ValidationError(f"{where}.{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{where}.{key} must be a whole number of at least {minimum}, got {value!r}")
    return value


def _one_of(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise ValidationError(f"{what} is one of {', '.join(allowed)}, not {value!r}")
