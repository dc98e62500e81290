"""Training, processing and transform jobs: created from AWS-shaped requests, queued in the store, claimed by
workers.

A job is an Execution node (type ``TrainingJob``, ``ProcessingJob`` or ``TransformJob``) with a row in the
``jobs`` queue. A
worker claims it with a lease and renews the lease while the job runs; a job whose lease runs out (its worker
died) is claimed again and restarts from its checkpoints. Every update checks the lease, so a worker that lost
its job can no longer write to it. Each status change publishes a "SageMaker Training Job State Change" (or
Processing, or Transform) event in the same transaction.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kibako.artifacts.models import StoredArtifact
from kibako.core.clock import Clock
from kibako.core.ids import arn, new_id
from kibako.core.wire import command, query
from kibako.errors import ConflictError, ValidationError
from kibako.events.outbox import Outbox
from kibako.jobs import models
from kibako.jobs.models import JobSpec, parse
from kibako.jobs.resources import Resources
from kibako.jobs.rows import (
    DONE,
    FIELDS,
    QUEUED,
    RUNNING,
    JobRow,
    description,
    insert_job,
    load,
    load_by_id,
    summary,
    transition,
    write,
)
from kibako.lineage.models import ARTIFACT, EXECUTION
from kibako.lineage.service import LineageService
from kibako.store import schema
from kibako.tracking.service import TrackingService

EVENT_SOURCE = "aws.sagemaker"
STATE_CHANGE = {
    models.TRAINING: "SageMaker Training Job State Change",
    models.PROCESSING: "SageMaker Processing Job State Change",
    models.TRANSFORM: "SageMaker Transform Job State Change",
}
ARN_RESOURCE = {
    models.TRAINING: "training-job",
    models.PROCESSING: "processing-job",
    models.TRANSFORM: "transform-job",
}
DEFAULT_EXPERIMENT = {
    models.TRAINING: "training-jobs",
    models.PROCESSING: "processing-jobs",
    models.TRANSFORM: "transform-jobs",
}


@dataclass(frozen=True)
class Claim:
    """A job a worker now holds: run it, renew the lease, and report through :meth:`JobService.update`."""

    job_id: str
    spec: JobSpec | None  # None for work of a registered kind (see WorkKind), which has no JobSpec
    attempt: int
    run_id: str
    arn: str
    restarted_from: str | None  # the worker that held it before, when its lease ran out
    description: dict[str, Any]
    properties: dict[str, Any]  # what earlier attempts recorded (run seconds, interruptions)
    kind: str = models.TRAINING


@dataclass(frozen=True)
class WorkKind:
    """Queued work other than training and processing jobs (hyperparameter tuning jobs). Its service registers
    it with :meth:`JobService.register_kind`, so that the queue, the worker and the events carry it without
    this layer importing that service."""

    event: str  # the detail-type of its state-change events
    describe: Callable[[Any], dict[str, Any]]  # its stored row (see JobRow) -> its Describe* response
    # (jobs, claim, worker_id, lease_ms, stopping): run it to its end, or give it back once stopping() is true
    run: Callable[[JobService, Claim, str, int, Callable[[], bool]], Any]
    # Lasting work (an endpoint) runs until it is deleted: a worker that ends for any reason gives it back to
    # the queue rather than waiting for it, and it keeps an --until-idle worker from counting as idle.
    lasting: bool = False
    # its stored row -> the detail of its events, when that differs from its Describe* response
    detail: Callable[[Any], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Lease:
    held: bool
    stop_requested: bool = False


class LeaseLostError(ConflictError):
    """Another worker holds the job now; this worker must drop it without writing."""


class JobService:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        outbox: Outbox,
        lineage: LineageService,
        tracking: TrackingService,
        *,
        region: str,
        account: str,
        artifact_root: str,
        home: Path | None = None,
    ) -> None:
        self.store = store
        self.home = home  # where workers of this store keep job folders and logs ($KIBAKO_HOME)
        self.clock = clock
        self.outbox = outbox
        self.lineage = lineage
        self.tracking = tracking
        self.region = region
        self.account = account
        self.artifact_root = artifact_root.rstrip("/")
        self.kinds: dict[str, WorkKind] = {}
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each job is queued by this process (a worker here wakes up at once)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _queued(self) -> None:
        for listener in list(self._listeners):
            listener()

    def register_kind(self, kind: str, work: WorkKind) -> None:
        """Let the queue hold work of ``kind``: workers claim it (it takes no slots) and run ``work.run``."""
        self.kinds[kind] = work

    def enqueue(
        self,
        kind: str,
        name: str,
        job_arn: str,
        request: dict[str, Any],
        properties: dict[str, Any],
        status: str = models.IN_PROGRESS,
    ) -> dict[str, Any]:
        """Queue work of a registered kind as an Execution and a queue row needing no slots (it runs beside the
        jobs it starts), announcing it; returns its description. ConflictError when ``job_arn`` exists."""
        now = self.clock.time_ms()
        with self.store.write() as tx:
            if tx.execute(select(schema.executions.c.id).where(schema.executions.c.arn == job_arn)).first():
                raise ConflictError(f"a {kind} named {name!r} exists already; names are unique")
            job_id = new_id()
            row = JobRow(job_id, name, job_arn, status, now, now, properties, request, kind)
            insert_job(tx, row, Resources(0, 0, 0))
            self._publish(tx, kind, row)
        self._queued()
        return self._describe_row(row)

    def check_training_request(self, request: dict[str, Any], *, snapshot: bool = False) -> dict[str, Any]:
        """A CreateTrainingJob request checked as ``create_training_job`` checks it (local script and inputs
        included), creating nothing; with ``snapshot``, its script is packed into the artifact store now and the
        request returned points at that copy."""
        spec = self._with_defaults(parse(models.TRAINING, request))
        _check_local_sources(spec)
        if snapshot:
            spec = self._snapshot_code(spec)
        return spec.request

    # -- creating ------------------------------------------------------------------------------------------

    @command
    def create_training_job(self, request: dict[str, Any]) -> dict[str, str]:
        """Queue a training job from a CreateTrainingJob request; returns ``{"TrainingJobArn": ...}``."""
        return self._create(models.TRAINING, request)

    @command
    def create_processing_job(self, request: dict[str, Any]) -> dict[str, str]:
        """Queue a processing job from a CreateProcessingJob request; returns ``{"ProcessingJobArn": ...}``."""
        return self._create(models.PROCESSING, request)

    def create_transform_job(self, request: dict[str, Any]) -> dict[str, str]:
        """Queue a transform job from a CreateTransformJob request that already carries its model's location
        (``ModelDataUrl``, see :mod:`kibako.jobs.transform`); returns ``{"TransformJobArn": ...}``. The serving
        service's ``create_transform_job`` resolves ``ModelName`` and calls this."""
        return self._create(models.TRANSFORM, request)

    def _create(self, kind: str, request: dict[str, Any]) -> dict[str, str]:
        spec = self._with_defaults(parse(kind, request))
        _check_local_sources(spec)
        job_arn = arn(ARN_RESOURCE[kind], spec.name, region=self.region, account=self.account)
        with self.store.read() as conn:
            if conn.execute(select(schema.executions.c.id).where(schema.executions.c.arn == job_arn)).first():
                raise ConflictError(f"a {kind} named {spec.name!r} exists already; job names are unique")
        if kind == models.TRAINING:
            spec = self._snapshot_code(spec)
        experiment = spec.experiment.get("ExperimentName") or DEFAULT_EXPERIMENT[kind]
        run_name = (
            spec.experiment.get("RunName") or spec.experiment.get("TrialComponentDisplayName") or spec.name
        )
        run = self.tracking.start_run(experiment, name=run_name, tags={**spec.tags, "kibako.job": job_arn})
        job_id = new_id()
        now = self.clock.time_ms()
        total = spec.total
        properties = {
            "SecondaryStatus": models.STARTING,
            "SecondaryStatusTransitions": [transition(models.STARTING, now, "Starting the job")],
            "RunId": run.id,
            "Attempts": 0,
        }
        try:
            with self.store.write() as tx:
                row = JobRow(
                    job_id, spec.name, job_arn, models.IN_PROGRESS, now, now, properties, spec.request, kind
                )
                insert_job(tx, row, total)
                # The run records what the job did; the job is its parent in the graph.
                self.lineage.record_edge(
                    tx, (EXECUTION, run.id), (EXECUTION, job_id), "AssociatedWith", "run"
                )
                self._publish(tx, kind, row)
        except BaseException:
            self.tracking.end_run(run.id, models.FAILED)
            raise
        self._queued()
        return {FIELDS[kind][1]: job_arn}

    def _snapshot_code(self, spec: JobSpec) -> JobSpec:
        """The script as it is now, packed as ``sourcedir.tar.gz`` in the artifact store (as SageMaker's SDK
        uploads it): later edits to the files do not change a queued job, and any worker can fetch it."""
        import json
        import tempfile
        from pathlib import Path

        from kibako.artifacts.packing import pack_dir
        from kibako.jobs import transfer

        source = spec.source
        if source and "://" in source and not source.startswith("file://"):
            return spec  # already somewhere every worker can reach
        entry = spec.entry_point
        target = f"{self.artifact_root}/jobs/{spec.name}/source/sourcedir.tar.gz"
        with tempfile.TemporaryDirectory(prefix="kibako-source-") as scratch:
            if source and source.endswith(".tar.gz"):
                archive = Path(source.removeprefix("file://")).expanduser()
            else:
                staged = Path(scratch) / "code"
                if source:
                    import shutil

                    shutil.copytree(
                        Path(source.removeprefix("file://")).expanduser(),
                        staged,
                        ignore=shutil.ignore_patterns("__pycache__", ".git", ".venv"),
                    )
                else:
                    import shutil

                    staged.mkdir()
                    shutil.copy2(Path(entry).expanduser(), staged / Path(entry).name)
                    entry = Path(entry).name
                archive = pack_dir(staged, Path(scratch) / "sourcedir.tar.gz")
            stored = transfer.put(archive, target)
        hps = {
            **spec.hyperparameters,
            "sagemaker_program": json.dumps(entry),
            "sagemaker_submit_directory": json.dumps(stored.uri),
        }
        request = {**spec.request, "HyperParameters": hps}
        return replace(spec, request=request, hyperparameters=hps, entry_point=entry, source=stored.uri)

    def _with_defaults(self, spec: JobSpec) -> JobSpec:
        """Fill what a request may leave out: where the model, outputs and checkpoints go."""

        base = f"{self.artifact_root}/jobs"
        request = dict(spec.request)
        if spec.kind == models.TRANSFORM:
            return spec  # its output path is required, its other defaults are written when it is parsed
        if spec.kind == models.TRAINING:
            output_path = spec.output_path or base
            checkpoint_uri = spec.checkpoint_uri or f"{base}/{spec.name}/checkpoints"
            request["OutputDataConfig"] = {
                **(request.get("OutputDataConfig") or {}),
                "S3OutputPath": output_path,
            }
            request["CheckpointConfig"] = {
                "LocalPath": "/opt/ml/checkpoints",
                **(request.get("CheckpointConfig") or {}),
                "S3Uri": checkpoint_uri,
            }
            request["StoppingCondition"] = {
                "MaxRuntimeInSeconds": spec.max_runtime,
                **(request.get("StoppingCondition") or {}),
            }
            return replace(spec, request=request, output_path=output_path, checkpoint_uri=checkpoint_uri)
        outputs = tuple(replace(o, uri=o.uri or f"{base}/{spec.name}/output/{o.name}") for o in spec.outputs)
        config = dict(request.get("ProcessingOutputConfig") or {})
        config["Outputs"] = [
            {**raw, "S3Output": {**raw["S3Output"], "S3Uri": o.uri}}
            for raw, o in zip(config.get("Outputs") or [], outputs, strict=True)
        ]
        if outputs:
            request["ProcessingOutputConfig"] = config
        return replace(spec, request=request, outputs=outputs)

    # -- reading -------------------------------------------------------------------------------------------

    @query
    def describe_training_job(self, name: str) -> dict[str, Any]:
        """DescribeTrainingJob."""
        return self._describe(models.TRAINING, name)

    @query
    def describe_processing_job(self, name: str) -> dict[str, Any]:
        """DescribeProcessingJob."""
        return self._describe(models.PROCESSING, name)

    @query
    def describe_transform_job(self, name: str) -> dict[str, Any]:
        """DescribeTransformJob."""
        return self._describe(models.TRANSFORM, name)

    @query
    def describe_job(self, name: str) -> dict[str, Any]:
        """The description of the training, processing or transform job called ``name`` (or with that ARN)."""
        with self.store.read() as conn:
            row = load(conn, name)
        return description(row)

    def _describe(self, kind: str, name: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = load(conn, name, kind)
        return description(row)

    @query
    def list_jobs(
        self, kind: str | None = None, status: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        """Summaries of jobs, newest first (ListTrainingJobs / ListProcessingJobs / ListTransformJobs shapes, plus
        ``JobType``)."""
        if kind is not None and kind not in models.KINDS:
            raise ValidationError(f"job kind is one of {', '.join(models.KINDS)}, not {kind!r}")
        if status is not None and status not in models.JOB_STATUSES:
            raise ValidationError(f"status is one of {', '.join(models.JOB_STATUSES)}, not {status!r}")
        e = schema.executions
        stmt = select(e, schema.jobs.c.request).join(schema.jobs, schema.jobs.c.execution_id == e.c.id)
        stmt = stmt.where(e.c.type == kind) if kind else stmt.where(e.c.type.in_(models.KINDS))
        if status:
            stmt = stmt.where(e.c.status == status)
        stmt = stmt.order_by(e.c.created_ms.desc(), e.c.id.desc()).limit(max(1, min(int(max_results), 1000)))
        with self.store.read() as conn:
            rows = [JobRow.of(r) for r in conn.execute(stmt).mappings()]
        return [summary(row) for row in rows]

    @query
    def read_logs(
        self, name: str, offsets: dict[str, int] | None = None, max_bytes: int = 1_000_000
    ) -> dict[str, Any]:
        """What each instance of a job wrote to its log since ``offsets`` (host -> byte offset), at most
        ``max_bytes`` per host: ``{"Logs": {host: text}, "Offsets": {host: offset}, "Ended": bool}``. Call
        again with the returned offsets to follow the job."""
        with self.store.read() as conn:
            row = load(conn, name)
        status = row.status
        folder = (self.home / "jobs" / row.name / "logs") if self.home else None
        logs: dict[str, str] = {}
        new_offsets: dict[str, int] = {}
        for path in sorted(folder.glob("*.log")) if folder and folder.is_dir() else []:
            start = int((offsets or {}).get(path.stem, 0))
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(max(1, int(max_bytes)))
            logs[path.stem] = data.decode("utf-8", errors="replace")
            new_offsets[path.stem] = start + len(data)
        return {"Logs": logs, "Offsets": new_offsets, "Ended": status in models.FINAL_STATUSES}

    # -- stopping ------------------------------------------------------------------------------------------

    @command
    def stop_job(self, name: str, kind: str | None = None) -> None:
        """Stop a job: a queued job stops at once; a running one gets SIGTERM, then a kill after its grace period.
        ``kind`` names a registered kind of work (a tuning job) to stop; by default, training, processing or
        transform."""
        now = self.clock.time_ms()
        with self.store.write() as tx:
            row = load(tx, name, kind, lock=True)
            queue = (
                tx.execute(select(schema.jobs).where(schema.jobs.c.execution_id == row.id)).mappings().one()
            )
            if row.status not in (models.IN_PROGRESS,):
                raise ConflictError(
                    f"the job {row.name!r} is not in progress ({row.status}); there is nothing to stop"
                )
            # Waiting in the queue (never started, or given back after a spot interruption): no worker holds it.
            queued = queue["state"] == QUEUED
            if queued:
                tx.execute(update(schema.jobs).where(schema.jobs.c.execution_id == row.id).values(state=DONE))
                message = (
                    "Stopped before it started"
                    if queue["attempts"] == 0
                    else "Stopped while waiting to restart"
                )
                self._apply(tx, row, models.STOPPED, models.STOPPED, message, {}, now)
            else:
                tx.execute(
                    update(schema.jobs)
                    .where(schema.jobs.c.execution_id == row.id)
                    .values(stop_requested_ms=now)
                )
                self._apply(tx, row, models.STOPPING, models.STOPPING, "Stopping the job", {}, now)
        if queued and row.properties.get("RunId"):
            self.tracking.end_run(str(row.properties["RunId"]), models.STOPPED)  # no worker will end it

    @command
    def stop_training_job(self, name: str) -> None:
        self._describe(models.TRAINING, name)
        self.stop_job(name)

    @command
    def stop_processing_job(self, name: str) -> None:
        self._describe(models.PROCESSING, name)
        self.stop_job(name)

    @command
    def stop_transform_job(self, name: str) -> None:
        self.stop_job(name, models.TRANSFORM)

    # -- the worker's side ----------------------------------------------------------------------------------

    def register_worker(self, worker_id: str, executor: str, capacity: Resources) -> None:
        now = self.clock.time_ms()
        with self.store.write() as tx:
            tx.execute(delete(schema.workers).where(schema.workers.c.id == worker_id))
            tx.execute(
                insert(schema.workers),
                {
                    "id": worker_id,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "executor": executor,
                    "capacity": {
                        "cpus": capacity.cpus,
                        "memory_mib": capacity.memory_mib,
                        "gpus": capacity.gpus,
                    },
                    "started_ms": now,
                    "heartbeat_ms": now,
                },
            )

    def heartbeat(self, worker_id: str) -> None:
        with self.store.write() as tx:
            tx.execute(
                update(schema.workers)
                .where(schema.workers.c.id == worker_id)
                .values(heartbeat_ms=self.clock.time_ms())
            )

    def unregister_worker(self, worker_id: str) -> None:
        with self.store.write() as tx:
            tx.execute(delete(schema.workers).where(schema.workers.c.id == worker_id))

    @query
    def list_workers(self, max_age_seconds: float = 30.0) -> list[dict[str, Any]]:
        """Workers that said they were alive within ``max_age_seconds``."""
        since = self.clock.time_ms() - int(max_age_seconds * 1000)
        w = schema.workers
        with self.store.read() as conn:
            rows = conn.execute(
                select(w).where(w.c.heartbeat_ms >= since).order_by(w.c.started_ms)
            ).mappings()
            return [dict(r) for r in rows]

    def claim(
        self, worker_id: str, fits: Callable[[Resources], bool], lease_ms: int, *, limit: int = 50
    ) -> Claim | None:
        """The oldest waiting job that ``fits``, now held by ``worker_id`` with a lease of ``lease_ms``; a job
        whose lease ran out counts as waiting. None when nothing fits."""
        j = schema.jobs
        now = self.clock.time_ms()
        # A read first: an idle worker polling an empty queue never takes the write lock.
        with self.store.read() as conn:
            waiting = conn.execute(
                select(j.c.execution_id)
                .where(j.c.state != DONE)
                .where((j.c.state == QUEUED) | (j.c.lease_until_ms < now))
                .limit(1)
            ).first()
        if waiting is None:
            return None
        with self.store.write() as tx:
            candidates = tx.execute(
                select(
                    j.c.execution_id,
                    j.c.state,
                    j.c.cpus,
                    j.c.memory_mib,
                    j.c.gpus,
                    j.c.lease_until_ms,
                    j.c.worker_id,
                    j.c.attempts,
                    j.c.kind,
                )
                .where(j.c.state != DONE)
                .order_by(j.c.queued_ms)
                .limit(limit)
            ).all()
            for job_id, state, cpus, memory, gpus, lease_until, holder, attempts, kind in candidates:
                expired = state == RUNNING and (lease_until or 0) < now
                if state != QUEUED and not expired:
                    continue
                if kind not in models.KINDS and kind not in self.kinds:
                    continue  # work of a kind whose service this process did not open
                if not fits(Resources(cpus, memory, gpus)):
                    continue
                taken = tx.execute(
                    update(j)
                    .where(j.c.execution_id == job_id, j.c.state == state, j.c.attempts == attempts)
                    .values(
                        state=RUNNING,
                        worker_id=worker_id,
                        lease_until_ms=now + lease_ms,
                        attempts=attempts + 1,
                    )
                )
                if taken.rowcount != 1:
                    continue
                row = load_by_id(tx, job_id)
                request = row.request
                spec = self._with_defaults(parse(row.kind, request)) if row.kind in models.KINDS else None
                props = dict(row.properties)
                props["Attempts"] = attempts + 1
                message = None
                if expired:
                    message = f"Restarting: worker {holder} stopped renewing its lease"
                elif attempts > 0:
                    message = "Restarting after an interruption"
                if message and spec is not None:
                    self._apply(tx, row, None, models.STARTING, message, {"Attempts": attempts + 1}, now)
                else:
                    write(tx, row.id, {"properties": props, "updated_ms": now})
                return Claim(
                    job_id=job_id,
                    spec=spec,
                    attempt=attempts + 1,
                    run_id=str(row.properties["RunId"]),
                    arn=row.arn,
                    restarted_from=holder if expired else None,
                    description=self._describe_row(fresh := load_by_id(tx, job_id)),
                    properties=fresh.properties,
                    kind=row.kind,
                )
        return None

    def renew(self, job_id: str, worker_id: str, lease_ms: int) -> Lease:
        """Extend the lease; ``held`` is False when another worker took the job (stop running it, write nothing)."""
        j = schema.jobs
        with self.store.write() as tx:
            done = tx.execute(
                update(j)
                .where(j.c.execution_id == job_id, j.c.worker_id == worker_id, j.c.state == RUNNING)
                .values(lease_until_ms=self.clock.time_ms() + lease_ms)
                .returning(j.c.stop_requested_ms)
            ).first()
        if done is None:
            return Lease(held=False)
        return Lease(held=True, stop_requested=done[0] is not None)

    def update(
        self,
        job_id: str,
        worker_id: str,
        *,
        status: str | None = None,
        secondary: str | None = None,
        message: str = "",
        fields: dict[str, Any] | None = None,
        release: str | None = None,
        started: bool = False,
    ) -> dict[str, Any]:
        """Change a held job's status, secondary status and description fields in one transaction (with its
        event); ``release`` gives the job back to the queue (``queued``) or ends it (``done``); ``started``
        records now as the job's start time. Returns the new description. Raises :class:`LeaseLostError` when
        ``worker_id`` no longer holds the job."""
        j = schema.jobs
        now = self.clock.time_ms()
        with self.store.write() as tx:
            held = tx.execute(
                select(j.c.state).where(
                    j.c.execution_id == job_id, j.c.worker_id == worker_id, j.c.state == RUNNING
                )
            ).first()
            if held is None:
                raise LeaseLostError(f"worker {worker_id} no longer holds job {job_id}")
            row = load_by_id(tx, job_id, lock=True)
            if release == QUEUED:
                tx.execute(
                    update(j)
                    .where(j.c.execution_id == job_id)
                    .values(state=QUEUED, worker_id=None, lease_until_ms=None)
                )
            elif release == DONE:
                tx.execute(
                    update(j).where(j.c.execution_id == job_id).values(state=DONE, lease_until_ms=None)
                )
            if started:
                write(tx, job_id, {"start_ms": now})
                row = replace(row, start_ms=now)
            return self._apply(tx, row, status, secondary, message, fields or {}, now)

    def record_input(self, job_id: str, *, uri: str, digest: str, size: int | None, role: str) -> None:
        """An input channel as an Artifact (one node per content) that ContributedTo the job."""
        with self.store.write() as tx:
            artifact_id = self.lineage.record_artifact(tx, uri=uri, digest=digest, type="DataSet", size=size)
            self.lineage.record_edge(tx, (ARTIFACT, artifact_id), (EXECUTION, job_id), "ContributedTo", role)

    def record_output(
        self, job_id: str, run_id: str, stored: StoredArtifact, *, type: str, role: str
    ) -> None:
        """An output (the model, output data) as an Artifact the job (and its run) Produced."""
        with self.store.write() as tx:
            artifact_id = self.lineage.record_artifact(
                tx, uri=stored.uri, digest=stored.digest, type=type, size=stored.size
            )
            self.lineage.record_edge(tx, (EXECUTION, job_id), (ARTIFACT, artifact_id), "Produced", role)
            self.lineage.record_edge(tx, (EXECUTION, run_id), (ARTIFACT, artifact_id), "Produced", role)

    # -- internals -------------------------------------------------------------------------------------------

    def _apply(
        self,
        tx: Connection,
        row: JobRow,
        status: str | None,
        secondary: str | None,
        message: str,
        fields: dict[str, Any],
        now: int,
    ) -> dict[str, Any]:
        props = {**row.properties, **fields}
        changed = False
        if secondary is not None and (secondary != props.get("SecondaryStatus") or message):
            transitions = [dict(t) for t in props.get("SecondaryStatusTransitions", [])]
            if transitions and transitions[-1].get("EndTime") is None:
                transitions[-1]["EndTime"] = now
            transitions.append(transition(secondary, now, message))
            props["SecondaryStatusTransitions"] = transitions
            props["SecondaryStatus"] = secondary
            changed = True
        values: dict[str, Any] = {"properties": props, "updated_ms": now}
        new_status = row.status
        if status is not None and status != row.status:
            values["status"] = new_status = status
            changed = True
            if status in models.FINAL_STATUSES:
                values["end_ms"] = now
                transitions = props.get("SecondaryStatusTransitions", [])
                if transitions and transitions[-1].get("EndTime") is None:
                    transitions[-1]["EndTime"] = now
        write(tx, row.id, values)
        fresh = replace(
            row, status=new_status, updated_ms=now, properties=props, end_ms=values.get("end_ms", row.end_ms)
        )
        if changed:
            self._publish(tx, row.kind, fresh)
        return self._describe_row(fresh)

    def _publish(self, tx: Connection, kind: str, row: JobRow) -> None:
        work = self.kinds.get(kind)
        event = work.event if work else STATE_CHANGE[kind]
        detail = work.detail(row) if work and work.detail else self._describe_row(row)
        self.outbox.publish(tx, EVENT_SOURCE, event, detail, [row.arn])

    def _describe_row(self, row: JobRow) -> dict[str, Any]:
        return self.kinds[row.kind].describe(row) if row.kind in self.kinds else description(row)


def _check_local_sources(spec: JobSpec) -> None:
    """Fail fast on what can be checked before the job exists: a local script and local inputs."""
    from pathlib import Path

    from kibako.jobs import transfer

    if spec.kind == models.TRAINING:
        if spec.source and "://" not in spec.source and not spec.source.endswith(".tar.gz"):
            folder = Path(spec.source).expanduser()
            if not folder.is_dir():
                raise ValidationError(
                    f"source dir {spec.source} is not a folder; give the folder that holds the script"
                )
            if not (folder / spec.entry_point).is_file():
                raise ValidationError(f"entry point {spec.entry_point} is not in {spec.source}")
        elif not spec.source and not Path(spec.entry_point).expanduser().is_file():
            raise ValidationError(f"entry point {spec.entry_point} does not exist; give the script's path")
    for channel in spec.channels:
        if "://" not in channel.uri or channel.uri.startswith("file://"):
            if not transfer.exists(channel.uri):
                raise ValidationError(f"input {channel.name!r}: {channel.uri} does not exist")
