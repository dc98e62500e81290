"""``kb.jobs``: training, processing and batch transform jobs from Python, embedded or against a server.

>>> job = kb.jobs.train("train.py", source_dir="src", inputs={"train": "data/train.csv"},
...                     hyperparameters={"epochs": 5}, spot=True, wait=True)
>>> job.status, job.model_uri
>>> kb.jobs.transform("churn/3", "data/score.csv", "out/", split_type="Line").status
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kibako.errors import ValidationError

FINAL = ("Completed", "Failed", "Stopped")
LIVE_WORKER_SECONDS = 15.0


def job_name(base: str) -> str:
    """A unique job name from ``base``, as SageMaker's SDK makes them: ``base-YYYY-MM-DD-HH-MM-SS-mmm``."""
    clean = re.sub(r"[^a-zA-Z0-9-]+", "-", base).strip("-")[:38] or "job"
    now = datetime.now(UTC)
    return f"{clean}-{now:%Y-%m-%d-%H-%M-%S}-{now.microsecond // 1000:03d}"


def _local_uri(value: str) -> str:
    """A local path made absolute (the worker may run elsewhere); URIs stay as they are."""
    if "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


_STATUS_KEYS = ("TrainingJobStatus", "ProcessingJobStatus", "TransformJobStatus")
# Content types SageMaker's batch transform reads, by file extension (what `transform` guesses when not told).
_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".jsonlines": "application/jsonlines",
    ".npy": "application/x-npy",
}


def _status_key(desc: Mapping[str, Any]) -> str:
    return next((key for key in _STATUS_KEYS if key in desc), "TrainingJobStatus")


class Job:
    """A training, processing or transform job. ``describe()`` reads its current state; ``wait()`` blocks until
    it ends."""

    def __init__(self, jobs: Jobs, name: str, description: dict[str, Any] | None = None) -> None:
        self._jobs = jobs
        self.name = name
        self._description = description

    def __repr__(self) -> str:
        return f"kb.jobs.get({self.name!r})"

    def describe(self) -> dict[str, Any]:
        self._description = self._jobs.describe(self.name)
        return self._description

    @property
    def description(self) -> dict[str, Any]:
        return self._description if self._description is not None else self.describe()

    @property
    def status(self) -> str:
        return str(self.describe()[_status_key(self.description)])

    @property
    def model_uri(self) -> str | None:
        return (self.description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")

    @property
    def run_id(self) -> str:
        return str(self.description["RunId"])

    def metrics(self) -> dict[str, float]:
        """FinalMetricDataList as ``{name: value}``."""
        return {m["MetricName"]: m["Value"] for m in self.description.get("FinalMetricDataList", [])}

    def wait(self, timeout: float | None = None) -> Job:
        self._description = self._jobs.wait(self.name, timeout=timeout)
        return self

    def stop(self) -> None:
        self._jobs.stop(self.name)

    def logs(self) -> str:
        return self._jobs.logs(self.name)


class Jobs:
    def __init__(self, client: Any, service: Any, services: Any = None) -> None:
        self._client = client
        self.service = service
        self._services = services  # the embedded platform, when there is one: it can run a worker here

    # -- submitting ------------------------------------------------------------------------------------------

    def train(
        self,
        entry_point: str,
        source_dir: str | None = None,
        *,
        inputs: Mapping[str, str] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        cpus: int | None = None,
        memory_gib: float | None = None,
        gpus: int | None = None,
        metric_definitions: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
        spot: bool = False,
        max_run: int | None = None,
        max_wait: int | None = None,
        grace_seconds: int | None = None,
        checkpoint_uri: str | None = None,
        interrupt_at: Sequence[float] | None = None,
        interrupt_probability: float | None = None,
        interrupt_seed: int | None = None,
        output_path: str | None = None,
        environment: Mapping[str, str] | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Job:
        """Run ``entry_point`` (in ``source_dir``) as a SageMaker script-mode training job.

        ``inputs`` maps channel names to paths or URIs; ``hyperparameters`` reach the script as ``--name value``
        and ``SM_HP_*``; ``metric_definitions`` maps metric names to regexes over the script's output.
        """
        from kibako.jobs.contract import encode_hyperparameters

        hps = encode_hyperparameters({str(k): v for k, v in (hyperparameters or {}).items()})
        hps["sagemaker_program"] = json.dumps(entry_point if source_dir else _local_uri(entry_point))
        if source_dir:
            hps["sagemaker_submit_directory"] = json.dumps(_local_uri(source_dir))
        request: dict[str, Any] = {
            "TrainingJobName": name or job_name(Path(entry_point).stem),
            "AlgorithmSpecification": {
                "TrainingInputMode": "File",
                "MetricDefinitions": _definitions(metric_definitions),
            },
            "HyperParameters": hps,
            "InputDataConfig": [
                {
                    "ChannelName": channel,
                    "DataSource": {"S3DataSource": {"S3Uri": _local_uri(uri), "S3DataType": "S3Prefix"}},
                }
                for channel, uri in (inputs or {}).items()
            ],
            "ResourceConfig": _resources(instance_type, instance_count, cpus, memory_gib, gpus),
            "StoppingCondition": _stopping(max_run, max_wait, grace_seconds),
            "EnableManagedSpotTraining": spot,
        }
        if output_path:
            request["OutputDataConfig"] = {"S3OutputPath": _local_uri(output_path)}
        if checkpoint_uri:
            request["CheckpointConfig"] = {"S3Uri": _local_uri(checkpoint_uri)}
        if interrupt_at or interrupt_probability or interrupt_seed is not None:
            request["InterruptionConfig"] = {
                k: v
                for k, v in {
                    "AtSeconds": list(interrupt_at or []),
                    "Probability": interrupt_probability or 0.0,
                    "Seed": interrupt_seed,
                }.items()
                if v is not None
            }
        _common(request, environment, experiment, run_name, tags)
        return self.create_training_job(request, wait=wait)

    def process(
        self,
        entry_point: str | None = None,
        *,
        command: Sequence[str] | None = None,
        arguments: Sequence[str] = (),
        inputs: Mapping[str, str] | None = None,
        outputs: Mapping[str, str] | None = None,
        name: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        cpus: int | None = None,
        memory_gib: float | None = None,
        max_run: int | None = None,
        environment: Mapping[str, str] | None = None,
        experiment: str | None = None,
        tags: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Job:
        """Run a processing script: ``inputs`` map a source (path or URI) to a folder under
        ``/opt/ml/processing``; ``outputs`` map such a folder to where it is uploaded ('' for the default)."""
        processing_inputs = []
        entrypoint = list(command or [])
        if entry_point:
            script = Path(entry_point).expanduser().resolve()
            if not script.is_file():
                raise ValidationError(f"entry point {entry_point} does not exist")
            # The script alone, as ScriptProcessor uploads it: its folder may hold anything (even KIBAKO_HOME).
            processing_inputs.append(_processing_input("code", str(script), "/opt/ml/processing/input/code"))
            entrypoint = ["python3", f"/opt/ml/processing/input/code/{script.name}"]
        if not entrypoint:
            raise ValidationError("give the script (entry_point) or the command to run")
        for index, (source, destination) in enumerate((inputs or {}).items()):
            processing_inputs.append(_processing_input(f"input-{index + 1}", _local_uri(source), destination))
        request: dict[str, Any] = {
            "ProcessingJobName": name or job_name(Path(entry_point or entrypoint[-1]).stem),
            "AppSpecification": {"ContainerEntrypoint": entrypoint, "ContainerArguments": list(arguments)},
            "ProcessingInputs": processing_inputs,
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": f"output-{index + 1}",
                        "S3Output": {
                            "LocalPath": source,
                            "S3Uri": _local_uri(destination) if destination else "",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                    for index, (source, destination) in enumerate((outputs or {}).items())
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": _resources(instance_type, instance_count, cpus, memory_gib, None)
            },
            "StoppingCondition": _stopping(max_run, None, None),
        }
        _common(request, environment, experiment, None, tags)
        return self.create_processing_job(request, wait=wait)

    def transform(
        self,
        model_name: str,
        input: str,
        output: str,
        *,
        content_type: str | None = None,
        split_type: str | None = None,
        strategy: str | None = None,
        max_payload_mb: int | None = None,
        max_concurrent: int | None = None,
        accept: str | None = None,
        assemble_with: str | None = None,
        join_source: str | None = None,
        input_filter: str | None = None,
        output_filter: str | None = None,
        compression: str | None = None,
        name: str | None = None,
        instance_type: str | None = None,
        instance_count: int = 1,
        environment: Mapping[str, str] | None = None,
        experiment: str | None = None,
        tags: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Job:
        """Run a batch transform job: the model predicts on every record of ``input`` (a file or a folder),
        writing ``<file>.out`` under ``output``. Options are CreateTransformJob's (docs/transform.md).

        ``model_name`` is a model made with CreateModel, or a registry version (``"churn/3"``,
        ``"churn@champion"``), for which a model named after the job is created. ``content_type`` is guessed
        from the input's extension when not given (``.csv``, ``.json``, ``.jsonl``; ``.gz`` means Gzip).

        >>> kb.jobs.transform("churn/3", "data/score.csv", "out/", split_type="Line", join_source="Input")
        """
        job = name or job_name(f"transform-{re.split(r'[/@]', model_name)[0]}")
        serving = self._client.endpoints.service
        if "/" in model_name or "@" in model_name:
            serving.create_model({"ModelName": job, "PrimaryContainer": {"ModelPackageName": model_name}})
            model_name = job
        source = _local_uri(input)
        guessed_type, gzipped = _guess_content_type(source)
        transform_input: dict[str, Any] = {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
        }
        for key, value in (
            ("ContentType", content_type or guessed_type),
            ("SplitType", split_type),
            ("CompressionType", compression or ("Gzip" if gzipped else None)),
        ):
            if value is not None:
                transform_input[key] = value
        transform_output: dict[str, Any] = {"S3OutputPath": _local_uri(output)}
        for key, value in (("Accept", accept), ("AssembleWith", assemble_with)):
            if value is not None:
                transform_output[key] = value
        request: dict[str, Any] = {
            "TransformJobName": job,
            "ModelName": model_name,
            "TransformInput": transform_input,
            "TransformOutput": transform_output,
            "TransformResources": {"InstanceCount": instance_count}
            | ({"InstanceType": instance_type} if instance_type else {}),
        }
        for key, value in (
            ("BatchStrategy", strategy),
            ("MaxPayloadInMB", max_payload_mb),
            ("MaxConcurrentTransforms", max_concurrent),
        ):
            if value is not None:
                request[key] = value
        processing = {
            key: value
            for key, value in (
                ("InputFilter", input_filter),
                ("OutputFilter", output_filter),
                ("JoinSource", join_source),
            )
            if value is not None
        }
        if processing:
            request["DataProcessing"] = processing
        _common(request, environment, experiment, None, tags)
        return self.create_transform_job(request, wait=wait)

    def create_transform_job(self, request: dict[str, Any], *, wait: bool = False) -> Job:
        """Submit a CreateTransformJob request as it is (``ModelName`` must name a model made with CreateModel)."""
        self._client.endpoints.service.create_transform_job(request)
        return self._submitted(str(request["TransformJobName"]), wait)

    def create_training_job(self, request: dict[str, Any], *, wait: bool = False) -> Job:
        """Submit a CreateTrainingJob request as it is (see docs/jobs.md for the local additions)."""
        self.service.create_training_job(request)
        return self._submitted(str(request["TrainingJobName"]), wait)

    def create_processing_job(self, request: dict[str, Any], *, wait: bool = False) -> Job:
        self.service.create_processing_job(request)
        return self._submitted(str(request["ProcessingJobName"]), wait)

    def _submitted(self, name: str, wait: bool) -> Job:
        job = Job(self, name)
        if wait:
            job.wait()
        else:
            self.ensure_worker()
        return job

    # -- reading and controlling -------------------------------------------------------------------------------

    def get(self, name: str) -> Job:
        return Job(self, name, self.describe(name))

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.service.describe_job(name))

    def list(
        self, status: str | None = None, kind: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        return list(self.service.list_jobs(kind, status, max_results))

    def stop(self, name: str) -> None:
        self.service.stop_job(name)

    def logs(self, name: str) -> str:
        """The job's log (every instance, every attempt), as far as it has been written; with several
        instances, each log is headed by its host's name. Works against a server too."""
        logs = self.read_logs(name)["Logs"]
        if len(logs) == 1:
            return next(iter(logs.values()))
        return "".join(f"[{host}]\n{text}" for host, text in logs.items())

    def read_logs(self, name: str, offsets: dict[str, int] | None = None) -> dict[str, Any]:
        """Log text since ``offsets`` per host, the new offsets, and whether the job has ended (to follow it)."""
        return dict(self.service.read_logs(name, offsets))

    def wait(self, name: str, timeout: float | None = None, poll: float = 0.5) -> dict[str, Any]:
        """Block until the job ends; embedded with no worker alive (none was started, or the one running the job
        died), this process runs it."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def done() -> bool:
            d = self.describe(name)
            return d[_status_key(d)] in FINAL or (deadline is not None and time.monotonic() > deadline)

        while True:
            desc = self.describe(name)
            if desc[_status_key(desc)] in FINAL:
                return desc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {name} is still {desc[_status_key(desc)]} after {timeout} s")
            if self._services is not None and not self.live_workers():  # checked again on every poll
                from kibako.jobs.worker import Worker

                Worker(self._services, poll_seconds=0.05).run(until=done)
                continue
            time.sleep(poll)

    def live_workers(self) -> list[dict[str, Any]]:
        return list(self.service.list_workers(LIVE_WORKER_SECONDS))

    def ensure_worker(self) -> None:
        """Embedded and no worker alive: start one in the background that exits once the queue is empty."""
        if self._services is None or self.live_workers():
            return
        env = dict(os.environ)
        config = self._client.config
        env.update(
            KIBAKO_HOME=str(config.home),
            KIBAKO_DATABASE_URL=config.database_url,
            KIBAKO_ARTIFACT_URI=config.artifact_uri,
            KIBAKO_EXECUTOR=config.executor,
        )
        log = config.home / "logs" / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            subprocess.Popen(
                [sys.executable, "-m", "kibako.cli", "worker", "--until-idle"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _definitions(
    definitions: Mapping[str, str] | Sequence[Mapping[str, str]] | None,
) -> list[dict[str, str]]:
    if definitions is None:
        return []
    if isinstance(definitions, Mapping):
        return [{"Name": k, "Regex": v} for k, v in definitions.items()]
    return [dict(d) for d in definitions]


def _resources(
    instance_type: str | None, count: int, cpus: int | None, memory_gib: float | None, gpus: int | None
) -> dict[str, Any]:
    config: dict[str, Any] = {"InstanceCount": count, "VolumeSizeInGB": 30}
    if instance_type:
        config["InstanceType"] = instance_type
    for key, value in (("Cpus", cpus), ("MemoryInGiB", memory_gib), ("Gpus", gpus)):
        if value is not None:
            config[key] = value
    return config


def _stopping(max_run: int | None, max_wait: int | None, grace: int | None) -> dict[str, Any]:
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": max_run or 86_400}
    if max_wait is not None:
        stopping["MaxWaitTimeInSeconds"] = max_wait
    if grace is not None:
        stopping["GracePeriodInSeconds"] = grace
    return stopping


def _guess_content_type(uri: str) -> tuple[str | None, bool]:
    """The content type a local input's extension says (one kind of file in a folder), and whether it is
    gzipped; (None, False) when it does not tell."""
    if "://" in uri:
        return None, False
    path = Path(uri)
    if path.is_file():
        files = [path]
    else:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    kinds: set[tuple[str | None, bool]] = set()
    for file in files:
        name = file.name.lower()
        gzipped = name.endswith(".gz")
        suffix = Path(name.removesuffix(".gz")).suffix
        kinds.add((_CONTENT_TYPES.get(suffix), gzipped))
    if len(kinds) != 1:
        return None, False
    return next(iter(kinds))


def _processing_input(name: str, uri: str, destination: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {"S3Uri": uri, "LocalPath": destination, "S3DataType": "S3Prefix", "S3InputMode": "File"},
    }


def _common(
    request: dict[str, Any],
    environment: Mapping[str, str] | None,
    experiment: str | None,
    run_name: str | None,
    tags: Mapping[str, str] | None,
) -> None:
    if environment:
        request["Environment"] = dict(environment)
    if experiment or run_name:
        request["ExperimentConfig"] = {
            k: v for k, v in {"ExperimentName": experiment, "RunName": run_name}.items() if v
        }
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
