"""``kb.tuning``: hyperparameter tuning jobs from Python, embedded or against a server.

>>> tuning = kb.tuning.start(
...     "train.py", source_dir="src", inputs={"train": "data/train.csv"},
...     ranges={"lr": "float:1e-4:1e-1:log", "depth": "int:2:8", "optimizer": ["sgd", "adam"]},
...     objective_metric="auc", objective_type="Maximize", metric_definitions={"auc": r"auc=([0-9.]+)"},
...     max_jobs=20, max_parallel=2, early_stopping="Auto")
>>> tuning.best["TunedHyperParameters"], tuning.best_value
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kibako.errors import ValidationError
from kibako.sdk.jobs import _definitions, _local_uri, _resources, _stopping

FINAL = ("Completed", "Failed", "Stopped")
STATUS = "HyperParameterTuningJobStatus"


def tuning_job_name(base: str) -> str:
    """A unique tuning job name from ``base`` within AWS's 32 characters: ``base-YYMMDD-HHMMSS-mmm``."""
    clean = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[:14].strip("-") or "tuning"
    now = datetime.now(UTC)
    return f"{clean}-{now:%y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"


def parameter_ranges(ranges: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """SageMaker ``ParameterRanges`` from a friendly mapping (an AWS-shaped mapping is returned as it is).

    Each value is one of:

    * ``"int:1:10"``, ``"int:1:1000:log"``: an integer range (``log``: Logarithmic scaling);
    * ``"float:1e-5:1e-1:log"``, ``"float:0.9:0.999:reverselog"``: a continuous range;
    * ``"cat:a,b,c"`` or a list ``["a", "b", "c"]``: categorical values;
    * a pair ``(1, 10)`` of ints (integer range) or ``(0.1, 0.9)`` with a float (continuous range).
    """
    if any(key.endswith("ParameterRanges") for key in ranges):
        return dict(ranges)
    out: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, spec in ranges.items():
        kind, item = _range(name, spec)
        out[kind].append(item)
    return {k: v for k, v in out.items() if v}


_SCALES = {
    "": "Auto",
    "auto": "Auto",
    "linear": "Linear",
    "log": "Logarithmic",
    "reverselog": "ReverseLogarithmic",
}


def _range(name: str, spec: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, list):
        return "CategoricalParameterRanges", {"Name": name, "Values": [str(v) for v in spec]}
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, int | float) for v in spec):
        kind = (
            "IntegerParameterRanges" if all(isinstance(v, int) for v in spec) else "ContinuousParameterRanges"
        )
        return kind, {"Name": name, "MinValue": str(spec[0]), "MaxValue": str(spec[1]), "ScalingType": "Auto"}
    if isinstance(spec, str):
        kind, _, rest = spec.partition(":")
        if kind == "cat" and rest:
            return "CategoricalParameterRanges", {"Name": name, "Values": rest.split(",")}
        parts = rest.split(":")
        if kind in ("int", "float") and len(parts) in (2, 3):
            scale = _SCALES.get(parts[2].lower()) if len(parts) == 3 else "Auto"
            if scale is not None:
                key = "IntegerParameterRanges" if kind == "int" else "ContinuousParameterRanges"
                return key, {"Name": name, "MinValue": parts[0], "MaxValue": parts[1], "ScalingType": scale}
    raise ValidationError(
        f"range {name}={spec!r}: give int:MIN:MAX[:log], float:MIN:MAX[:log|reverselog], cat:A,B,C, a list of "
        "values, or a (min, max) pair"
    )


class TuningJob:
    """A hyperparameter tuning job. ``describe()`` reads its state; ``wait()`` blocks until it ends."""

    def __init__(self, tuning: Tuning, name: str) -> None:
        self._tuning = tuning
        self.name = name

    def __repr__(self) -> str:
        return f"kb.tuning.get({self.name!r})"

    def describe(self) -> dict[str, Any]:
        return self._tuning.describe(self.name)

    @property
    def status(self) -> str:
        return str(self.describe()[STATUS])

    @property
    def best(self) -> dict[str, Any] | None:
        """BestTrainingJob: the completed trial with the best objective, or None yet."""
        return self.describe().get("BestTrainingJob")

    @property
    def best_value(self) -> float | None:
        best = self.best
        return None if best is None else float(best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])

    def trials(self, sort_by: str = "FinalObjectiveMetricValue") -> list[dict[str, Any]]:
        return self._tuning.trials(self.name, sort_by=sort_by)

    def wait(self, timeout: float | None = None) -> TuningJob:
        self._tuning.wait(self.name, timeout=timeout)
        return self

    def stop(self) -> None:
        self._tuning.stop(self.name)


class Tuning:
    def __init__(self, service: Any, jobs: Any, services: Any = None) -> None:
        self.service = service
        self._jobs = jobs  # kb.jobs: finds live workers and starts one in the background
        self._services = services  # the embedded platform, when there is one: it can run a worker here

    # -- submitting ------------------------------------------------------------------------------------------

    def start(
        self,
        entry_point: str,
        source_dir: str | None = None,
        *,
        ranges: Mapping[str, Any],
        objective_metric: str,
        metric_definitions: Mapping[str, str] | Sequence[Mapping[str, str]],
        objective_type: str = "Maximize",
        name: str | None = None,
        inputs: Mapping[str, str] | None = None,
        static_hyperparameters: Mapping[str, Any] | None = None,
        strategy: str = "Bayesian",
        max_jobs: int | None = None,
        max_parallel: int = 1,
        early_stopping: str = "Off",
        seed: int | None = None,
        min_resource: int | None = None,
        max_resource: int | None = None,
        max_tuning_seconds: int | None = None,
        target_value: float | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        cpus: int | None = None,
        memory_gib: float | None = None,
        gpus: int | None = None,
        max_run: int | None = None,
        grace_seconds: int | None = None,
        checkpoint_uri: str | None = None,
        output_path: str | None = None,
        environment: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> TuningJob:
        """Tune ``entry_point`` (in ``source_dir``), a SageMaker script-mode training script.

        ``ranges`` are the tuned hyperparameters (see :func:`parameter_ranges`); ``objective_metric`` is one of
        ``metric_definitions`` (name -> regex over the script's output), maximised or minimised as
        ``objective_type`` says. ``max_jobs`` defaults to every combination for Grid and 10 otherwise. Each
        trial is a training job with ``static_hyperparameters`` and its tuned ones.
        """
        from kibako.jobs.contract import encode_hyperparameters

        static = encode_hyperparameters({str(k): v for k, v in (static_hyperparameters or {}).items()})
        static["sagemaker_program"] = _quoted(entry_point if source_dir else _local_uri(entry_point))
        if source_dir:
            static["sagemaker_submit_directory"] = _quoted(_local_uri(source_dir))
        limits: dict[str, Any] = {"MaxParallelTrainingJobs": max_parallel}
        if max_jobs is not None or strategy != "Grid":
            limits["MaxNumberOfTrainingJobs"] = 10 if max_jobs is None else max_jobs
        if max_tuning_seconds is not None:
            limits["MaxRuntimeInSeconds"] = max_tuning_seconds
        config: dict[str, Any] = {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": objective_type, "MetricName": objective_metric},
            "ResourceLimits": limits,
            "ParameterRanges": parameter_ranges(ranges),
            "TrainingJobEarlyStoppingType": early_stopping,
        }
        if seed is not None:
            config["RandomSeed"] = seed
        if min_resource is not None or max_resource is not None:
            hyperband = {k: v for k, v in (("MinResource", min_resource), ("MaxResource", max_resource)) if v}
            config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
        if target_value is not None:
            config["TuningJobCompletionCriteria"] = {"TargetObjectiveMetricValue": target_value}
        definition: dict[str, Any] = {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {
                "TrainingInputMode": "File",
                "MetricDefinitions": _definitions(metric_definitions),
            },
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {"S3DataSource": {"S3Uri": _local_uri(uri), "S3DataType": "S3Prefix"}},
                }
                for channel, uri in (inputs or {}).items()
            ],
            "ResourceConfig": _resources(instance_type, instance_count, cpus, memory_gib, gpus),
            "StoppingCondition": _stopping(max_run, None, grace_seconds),
        }
        if output_path:
            definition["OutputDataConfig"] = {"S3OutputPath": _local_uri(output_path)}
        if checkpoint_uri:
            definition["CheckpointConfig"] = {"S3Uri": _local_uri(checkpoint_uri)}
        if environment:
            definition["Environment"] = dict(environment)
        request: dict[str, Any] = {
            "HyperParameterTuningJobName": name or tuning_job_name(Path(entry_point).stem),
            "HyperParameterTuningJobConfig": config,
            "TrainingJobDefinition": definition,
        }
        if tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        return self.create_hyper_parameter_tuning_job(request, wait=wait)

    def create_hyper_parameter_tuning_job(self, request: dict[str, Any], *, wait: bool = False) -> TuningJob:
        """Submit a CreateHyperParameterTuningJob request as it is (see docs/tuning.md)."""
        self.service.create_hyper_parameter_tuning_job(request)
        job = TuningJob(self, str(request["HyperParameterTuningJobName"]))
        if wait:
            job.wait()
        else:
            self._jobs.ensure_worker()
        return job

    # -- reading and controlling -------------------------------------------------------------------------------

    def get(self, name: str) -> TuningJob:
        self.describe(name)  # NotFoundError for one that does not exist
        return TuningJob(self, name)

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.service.describe_hyper_parameter_tuning_job(name))

    def list(self, status: str | None = None, max_results: int = 100) -> list[dict[str, Any]]:
        return list(
            self.service.list_hyper_parameter_tuning_jobs(
                status, None, "CreationTime", "Descending", max_results
            )
        )

    def trials(self, name: str, sort_by: str = "FinalObjectiveMetricValue") -> list[dict[str, Any]]:
        """The tuning job's training jobs (TrainingJobSummaries), best objective first by default."""
        return list(self.service.list_training_jobs_for_tuning_job(name, sort_by))

    def stop(self, name: str) -> None:
        self.service.stop_hyper_parameter_tuning_job(name)

    def wait(self, name: str, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Block until the tuning job ends; embedded with no worker running, this process runs it (and its
        training jobs)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        desc = self.describe(name)
        if desc[STATUS] not in FINAL and self._services is not None and not self._jobs.live_workers():
            from kibako.jobs.worker import Worker

            def done() -> bool:
                return self.describe(name)[STATUS] in FINAL or (
                    deadline is not None and time.monotonic() > deadline
                )

            Worker(self._services, poll_seconds=0.05).run(until=done)
        while True:
            desc = self.describe(name)
            if desc[STATUS] in FINAL:
                return desc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"tuning job {name} is still {desc[STATUS]} after {timeout} s")
            time.sleep(poll)


def _quoted(value: str) -> str:
    import json

    return json.dumps(value)
