"""Training and processing job requests, read from the shapes of CreateTrainingJob and CreateProcessingJob
(transform jobs, from CreateTransformJob, are read in :mod:`kibako.jobs.transform`).

A request is the AWS JSON, with what makes sense locally:

- The script is named the way the SageMaker SDK names it in script mode: ``HyperParameters.sagemaker_program``
  (the entry point) and ``sagemaker_submit_directory`` (a folder, a ``sourcedir.tar.gz``, or a URI of one).
- A data source's ``S3Uri`` may also be a local path, a ``file://`` URL or any fsspec URL.
- ``ResourceConfig`` also takes ``Cpus``, ``MemoryInGiB`` and ``Gpus`` per instance.
- ``StoppingCondition.GracePeriodInSeconds`` (default 120, as in SageMaker) is the time between SIGTERM and kill.
- ``InterruptionConfig`` (``AtSeconds``, ``Probability``, ``Seed``, ``SpotDiscount``) drives the local spot
  interruption injector.

Everything is checked here, before a job exists: a bad request is refused with its reason and creates nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kibako.errors import ValidationError
from kibako.jobs.resources import Resources, resolve

TRAINING = "TrainingJob"
PROCESSING = "ProcessingJob"
TRANSFORM = "TransformJob"
KINDS = (TRAINING, PROCESSING, TRANSFORM)

# TrainingJobStatus / ProcessingJobStatus / TransformJobStatus
IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
FAILED = "Failed"
STOPPING = "Stopping"
STOPPED = "Stopped"
JOB_STATUSES = (IN_PROGRESS, COMPLETED, FAILED, STOPPING, STOPPED)
FINAL_STATUSES = (COMPLETED, FAILED, STOPPED)

# SecondaryStatus values we use (a subset of SageMaker's enum).
STARTING = "Starting"
DOWNLOADING = "Downloading"
TRAINING_STATUS = "Training"
UPLOADING = "Uploading"
INTERRUPTED = "Interrupted"
RESTARTING = "Restarting"
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
MAX_WAIT_EXCEEDED = "MaxWaitTimeExceeded"

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEFAULT_MAX_RUNTIME = 86_400
MAX_MAX_RUNTIME = 28 * 86_400
DEFAULT_GRACE = 120
DEFAULT_SPOT_DISCOUNT = 0.7
PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
PROCESSING_BASE = "/opt/ml/processing"

# SageMaker framework container repositories, and the Python package each stands for here: a job naming such
# an image runs in the worker's Python when that package is installed there.
FRAMEWORK_IMAGES = {
    "sagemaker-scikit-learn": "sklearn",
    "sagemaker-xgboost": "xgboost",
    "pytorch-training": "torch",
    "sagemaker-pytorch": "torch",
    "tensorflow-training": "tensorflow",
    "huggingface-pytorch-training": "transformers",
}


@dataclass(frozen=True)
class Channel:
    """An input: a training channel (``name`` under ``input/data``) or a processing input (``local_path``)."""

    name: str
    uri: str
    local_path: str = ""
    content_type: str = ""


@dataclass(frozen=True)
class Output:
    """A processing output: ``local_path`` inside the job is uploaded to ``uri`` at the end."""

    name: str
    uri: str
    local_path: str


@dataclass(frozen=True)
class Interruptions:
    """The spot interruption injector: attempt ``k`` (from 0) is interrupted ``at_seconds[k]`` into its training,
    and every second of training is interrupted with ``probability`` (seeded by ``seed``)."""

    at_seconds: tuple[float, ...] = ()
    probability: float = 0.0
    seed: int | None = None
    spot_discount: float = DEFAULT_SPOT_DISCOUNT


@dataclass(frozen=True)
class JobSpec:
    """A checked request: everything a worker needs to run the job, whatever its kind."""

    kind: str
    name: str
    request: dict[str, Any]
    resources: Resources
    instance_count: int = 1
    instance_type: str | None = None
    entry_point: str = ""
    source: str = ""
    hyperparameters: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()  # processing: ContainerEntrypoint + ContainerArguments
    channels: tuple[Channel, ...] = ()
    outputs: tuple[Output, ...] = ()
    output_path: str = ""
    max_runtime: int = DEFAULT_MAX_RUNTIME
    max_wait: int | None = None
    grace: int = DEFAULT_GRACE
    spot: bool = False
    interruptions: Interruptions = Interruptions()
    checkpoint_uri: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    metric_definitions: tuple[dict[str, str], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    experiment: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> Resources:
        """What all instances need together on one machine."""
        n = self.instance_count
        r = self.resources
        return Resources(r.cpus * n, r.memory_mib * n, r.gpus * n)


def parse_training(request: dict[str, Any]) -> JobSpec:
    """Check a CreateTrainingJob request and read it into a :class:`JobSpec`."""
    req = _plain(request)
    name = _name(req, "TrainingJobName")
    algorithm = req.get("AlgorithmSpecification") or {}
    _mapping(algorithm, "AlgorithmSpecification")
    hps = req.get("HyperParameters") or {}
    _mapping(hps, "HyperParameters")
    for key, value in hps.items():
        if not isinstance(value, str):
            raise ValidationError(
                f"HyperParameters[{key!r}] must be a string, as in CreateTrainingJob (SageMaker's SDK writes "
                f"json.dumps(value)); got {value!r}"
            )
    entry = _decoded(hps.get(PROGRAM, ""))
    _check_image(algorithm.get("TrainingImage"), "AlgorithmSpecification.TrainingImage", script=bool(entry))
    if not entry:
        raise ValidationError(
            f"the request names no script: set HyperParameters.{PROGRAM} to the entry point (and "
            f"{SUBMIT_DIRECTORY} to its folder)"
        )
    resource_config = req.get("ResourceConfig") or {}
    _mapping(resource_config, "ResourceConfig")
    count, instance_type, resources = _resources(resource_config, "ResourceConfig")
    stopping = req.get("StoppingCondition") or {}
    _mapping(stopping, "StoppingCondition")
    spot = bool(req.get("EnableManagedSpotTraining", False))
    max_runtime = _seconds(stopping, "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME, MAX_MAX_RUNTIME)
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if max_wait is not None:
        max_wait = _seconds(stopping, "MaxWaitTimeInSeconds", 0, MAX_MAX_RUNTIME + 2 * 86_400)
        if not spot:
            raise ValidationError("StoppingCondition.MaxWaitTimeInSeconds is for spot training only")
        if max_wait < max_runtime:
            raise ValidationError(
                f"MaxWaitTimeInSeconds ({max_wait}) must be at least MaxRuntimeInSeconds ({max_runtime}); "
                "set MaxRuntimeInSeconds (--max-run, default 86400) to at most the wait"
            )
    checkpoint = req.get("CheckpointConfig") or {}
    _mapping(checkpoint, "CheckpointConfig")
    output = req.get("OutputDataConfig") or {}
    _mapping(output, "OutputDataConfig")
    return JobSpec(
        kind=TRAINING,
        name=name,
        request=req,
        resources=resources,
        instance_count=count,
        instance_type=instance_type,
        entry_point=entry,
        source=_decoded(hps.get(SUBMIT_DIRECTORY, "")),
        hyperparameters=dict(hps),
        channels=tuple(_training_channel(c) for c in _list(req, "InputDataConfig")),
        output_path=str(output.get("S3OutputPath") or ""),
        max_runtime=max_runtime,
        max_wait=max_wait,
        grace=_seconds(stopping, "GracePeriodInSeconds", DEFAULT_GRACE, 3600),
        spot=spot,
        interruptions=_interruptions(req.get("InterruptionConfig")),
        checkpoint_uri=str(checkpoint.get("S3Uri") or ""),
        environment=_environment(req),
        metric_definitions=_metric_definitions(algorithm),
        tags=_tags(req),
        experiment=_experiment(req),
    )


def parse_processing(request: dict[str, Any]) -> JobSpec:
    """Check a CreateProcessingJob request and read it into a :class:`JobSpec`."""
    req = _plain(request)
    name = _name(req, "ProcessingJobName")
    app = req.get("AppSpecification") or {}
    _mapping(app, "AppSpecification")
    entrypoint = app.get("ContainerEntrypoint") or []
    arguments = app.get("ContainerArguments") or []
    if not entrypoint or not all(isinstance(a, str) for a in [*entrypoint, *arguments]):
        raise ValidationError(
            "AppSpecification.ContainerEntrypoint must be a list of strings, e.g. "
            '["python3", "/opt/ml/processing/input/code/preprocess.py"]'
        )
    _check_image(app.get("ImageUri"), "AppSpecification.ImageUri", script=True)
    cluster = (req.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    _mapping(cluster, "ProcessingResources.ClusterConfig")
    count, instance_type, resources = _resources(cluster, "ProcessingResources.ClusterConfig")
    stopping = req.get("StoppingCondition") or {}
    _mapping(stopping, "StoppingCondition")
    inputs = tuple(_processing_input(i) for i in _list(req, "ProcessingInputs"))
    outputs = tuple(_processing_output(o) for o in _list(req.get("ProcessingOutputConfig") or {}, "Outputs"))
    _unique([c.name for c in inputs], "ProcessingInputs InputName")
    _unique([o.name for o in outputs], "ProcessingOutputConfig.Outputs OutputName")
    return JobSpec(
        kind=PROCESSING,
        name=name,
        request=req,
        resources=resources,
        instance_count=count,
        instance_type=instance_type,
        command=(*entrypoint, *arguments),
        channels=inputs,
        outputs=outputs,
        max_runtime=_seconds(stopping, "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME, MAX_MAX_RUNTIME),
        grace=_seconds(stopping, "GracePeriodInSeconds", DEFAULT_GRACE, 3600),
        environment=_environment(req),
        tags=_tags(req),
        experiment=_experiment(req),
    )


def parse(kind: str, request: dict[str, Any]) -> JobSpec:
    if kind == TRAINING:
        return parse_training(request)
    if kind == PROCESSING:
        return parse_processing(request)
    if kind == TRANSFORM:
        from kibako.jobs.transform import parse_transform

        return parse_transform(request)
    raise ValidationError(f"job kind is one of {', '.join(KINDS)}, not {kind!r}")


# -- pieces ---------------------------------------------------------------------------------------------------


def _plain(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise ValidationError(f"a job request is a JSON object, got {type(request).__name__}")
    try:
        return json.loads(json.dumps(request, allow_nan=False))  # a private copy that JSON can hold
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"the request cannot be written as JSON: {exc}") from None


def _name(req: dict[str, Any], key: str) -> str:
    name = req.get(key)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValidationError(
            f"{key} {name!r} must be 1 to 63 letters, digits and hyphens, starting with a letter or digit"
        )
    return name


def _mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be a JSON object, got {value!r}")


def _list(req: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = req.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValidationError(f"{key} must be a list of objects")
    return items


def _unique(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValidationError(f"{where} {name!r} appears twice; names must be unique")
        seen.add(name)


def _decoded(raw: str) -> str:
    """A hyperparameter as the SDK stores it (``'"train.py"'``) or plain (``'train.py'``)."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def _check_image(uri: Any, where: str, *, script: bool) -> None:
    """An image is read as the framework it carries; one we do not know is refused rather than guessed at."""
    if uri is None or uri == "":
        return
    if not isinstance(uri, str):
        raise ValidationError(f"{where} must be an image URI, got {uri!r}")
    repository = uri.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    package = FRAMEWORK_IMAGES.get(repository)
    if package is None:
        raise ValidationError(
            f"{where} {uri!r} is not a framework image kibako knows ({', '.join(sorted(FRAMEWORK_IMAGES))}); "
            "leave it out to run the script in the worker's Python"
        )
    if not script:
        raise ValidationError(
            f"{where} {uri!r} with no {PROGRAM} means SageMaker's built-in algorithm, which kibako does not run; "
            f"set HyperParameters.{PROGRAM} to a script (script mode)"
        )
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise ValidationError(
            f"{where} {uri!r} needs the Python package {package!r}, which the worker's Python lacks; "
            f"pip install it there (or list it in the source folder's requirements.txt and drop the image)"
        )


def _seconds(block: dict[str, Any], key: str, default: int, limit: int) -> int:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= limit:
        raise ValidationError(f"{key} must be a number of seconds from 1 to {limit}, got {value!r}")
    return int(value)


def _resources(block: dict[str, Any], where: str) -> tuple[int, str | None, Resources]:
    count = block.get("InstanceCount", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError(f"{where}.InstanceCount must be a whole number from 1, got {count!r}")
    instance_type = block.get("InstanceType")
    explicit = {k: block.get(k) for k in ("Cpus", "MemoryInGiB", "Gpus")}
    for key, value in explicit.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValidationError(f"{where}.{key} must be a number, got {value!r}")
    resources = resolve(
        instance_type,
        cpus=None if explicit["Cpus"] is None else int(explicit["Cpus"]),
        memory_gib=explicit["MemoryInGiB"],
        gpus=None if explicit["Gpus"] is None else int(explicit["Gpus"]),
    )
    return count, instance_type, resources


def _data_uri(source: Any, where: str) -> str:
    if not isinstance(source, dict):
        raise ValidationError(f"{where} needs a DataSource with S3DataSource.S3Uri")
    for key in ("S3DataSource", "FileSystemDataSource"):
        inner = source.get(key)
        if isinstance(inner, dict):
            uri = inner.get("S3Uri") or inner.get("DirectoryPath")
            if isinstance(uri, str) and uri:
                return uri
    raise ValidationError(f"{where} needs DataSource.S3DataSource.S3Uri (a path, file:// or s3:// URI)")


def _training_channel(raw: dict[str, Any]) -> Channel:
    name = raw.get("ChannelName")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9\.\-_]{1,64}", name):
        raise ValidationError(f"ChannelName {name!r} must be 1 to 64 letters, digits, '.', '-' or '_'")
    uri = _data_uri(raw.get("DataSource"), f"channel {name!r}")
    return Channel(name=name, uri=uri, content_type=str(raw.get("ContentType") or ""))


def _processing_input(raw: dict[str, Any]) -> Channel:
    name = raw.get("InputName")
    s3 = raw.get("S3Input") or {}
    if not isinstance(name, str) or not name or not isinstance(s3, dict):
        raise ValidationError(f"a processing input needs InputName and S3Input, got {raw!r}")
    uri, local = s3.get("S3Uri"), s3.get("LocalPath")
    if not isinstance(uri, str) or not uri or not isinstance(local, str):
        raise ValidationError(f"processing input {name!r} needs S3Input.S3Uri and S3Input.LocalPath")
    return Channel(name=name, uri=uri, local_path=_processing_path(local, f"input {name!r}"))


def _processing_output(raw: dict[str, Any]) -> Output:
    name = raw.get("OutputName")
    s3 = raw.get("S3Output") or {}
    if not isinstance(name, str) or not name or not isinstance(s3, dict):
        raise ValidationError(f"a processing output needs OutputName and S3Output, got {raw!r}")
    local = s3.get("LocalPath")
    if not isinstance(local, str):
        raise ValidationError(f"processing output {name!r} needs S3Output.LocalPath")
    return Output(
        name=name, uri=str(s3.get("S3Uri") or ""), local_path=_processing_path(local, f"output {name!r}")
    )


def _processing_path(local: str, where: str) -> str:
    clean = local.rstrip("/")
    if not clean.startswith(PROCESSING_BASE + "/") or ".." in clean.split("/"):
        raise ValidationError(f"{where}: LocalPath {local!r} must be a folder under {PROCESSING_BASE}/")
    return clean


def _environment(req: dict[str, Any]) -> dict[str, str]:
    env = req.get("Environment") or {}
    _mapping(env, "Environment")
    for key, value in env.items():
        if not isinstance(value, str) or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key):
            raise ValidationError(f"Environment[{key!r}] must be a variable name with a string value")
    return dict(env)


def _metric_definitions(algorithm: dict[str, Any]) -> tuple[dict[str, str], ...]:
    from kibako.jobs.metrics import MetricScraper

    definitions = algorithm.get("MetricDefinitions") or []
    if not isinstance(definitions, list):
        raise ValidationError("AlgorithmSpecification.MetricDefinitions must be a list of {Name, Regex}")
    MetricScraper(definitions)  # refuses a bad definition with its reason
    _unique([d["Name"] for d in definitions], "MetricDefinitions Name")
    return tuple({"Name": d["Name"], "Regex": d["Regex"]} for d in definitions)


def _tags(req: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in _list(req, "Tags"):
        key, value = item.get("Key"), item.get("Value", "")
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValidationError(f"a tag is {{'Key': str, 'Value': str}}, got {item!r}")
        tags[key] = value
    return tags


def _experiment(req: dict[str, Any]) -> dict[str, str]:
    config = req.get("ExperimentConfig") or {}
    _mapping(config, "ExperimentConfig")
    return {k: str(v) for k, v in config.items() if v}


def _interruptions(raw: Any) -> Interruptions:
    if raw is None:
        return Interruptions()
    _mapping(raw, "InterruptionConfig")
    at = raw.get("AtSeconds") or []
    if not isinstance(at, list) or not all(
        isinstance(t, int | float) and not isinstance(t, bool) and t >= 0 for t in at
    ):
        raise ValidationError(f"InterruptionConfig.AtSeconds must be a list of seconds >= 0, got {at!r}")
    probability = raw.get("Probability", 0.0)
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
        raise ValidationError(f"InterruptionConfig.Probability must be from 0 to 1, got {probability!r}")
    discount = raw.get("SpotDiscount", DEFAULT_SPOT_DISCOUNT)
    if isinstance(discount, bool) or not isinstance(discount, int | float) or not 0 <= discount < 1:
        raise ValidationError(f"InterruptionConfig.SpotDiscount must be from 0 to below 1, got {discount!r}")
    seed = raw.get("Seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValidationError(f"InterruptionConfig.Seed must be a whole number, got {seed!r}")
    return Interruptions(tuple(float(t) for t in at), float(probability), seed, float(discount))
