"""One attempt of one claimed job, from its folder to its outcome.

Starting → Downloading (code, channels, checkpoints) → Training (the script's instances run; their logs are
scraped for MetricDefinitions; checkpoints sync; the lease is renewed; stop, MaxRuntime, MaxWait and spot
interruptions are watched) → Uploading (model.tar.gz, output data) → Completed, or Failed / Stopped /
Interrupted (given back to the queue to restart from its checkpoints).

Processing and transform jobs take the same path with their own names: their inputs are fetched to folders
under the job's ``/opt/ml``, their command runs, and their output folders are uploaded at the end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kibako.artifacts.digest import path_digest
from kibako.artifacts.packing import pack_dir, unpack
from kibako.core.config import Config
from kibako.errors import KibakoError
from kibako.jobs import models, sandbox, transfer
from kibako.jobs.contract import JobPaths, TrainingContract, failure_reason, prepare
from kibako.jobs.envs import REQUIREMENTS, python_for
from kibako.jobs.executors import Executor, Instance, Launch
from kibako.jobs.metrics import MetricScraper
from kibako.jobs.rows import FIELDS
from kibako.jobs.service import DONE, QUEUED, Claim, JobService, LeaseLostError

TICK = 0.05
STOP_CHECK_SECONDS = 1.0
CHECKPOINT_SYNC_SECONDS = 5.0
METRIC_FLUSH_SECONDS = 1.0
SYSTEM_SAMPLE_SECONDS = 5.0
LOG_TAIL_CHARS = 700


@dataclass
class _Watch:
    """Why the runner ended the instances early, if it did."""

    reason: str | None = None  # stop, max_runtime, max_wait, interrupt, lease
    signalled_at: float | None = None
    killed: bool = False


@dataclass
class _LogTail:
    path: Path
    host: str
    offset: int = 0
    partial: bytes = b""

    def read(self) -> list[str]:
        """Complete lines written since the last read."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in complete]


class AttemptRunner:
    """Runs the attempt a worker claimed. ``run()`` returns when the job is done or given back."""

    def __init__(
        self,
        jobs: JobService,
        claim: Claim,
        executor: Executor,
        *,
        worker_id: str,
        lease_ms: int,
        config: Config,
        python: str = sys.executable,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.jobs = jobs
        self.tracking = jobs.tracking
        self.claim = claim
        self.spec = claim.spec
        self.executor = executor
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.config = config
        self.python = python
        self.stopping = stopping
        self.job_root = config.home / "jobs" / self.spec.name
        self.attempt_root = self.job_root / f"attempt-{claim.attempt}"
        self.log_dir = self.job_root / "logs"
        self.scraper = MetricScraper(list(self.spec.metric_definitions))
        self._points: list[tuple[str, float, int, int]] = []
        self._points_lock = threading.Lock()
        self._steps: dict[str, int] = {}
        self._random = random.Random(self.spec.interruptions.seed)
        self.warnings: list[str] = []
        self._logs: list[Path] = []
        self._log_starts: dict[str, int] = {}
        self.run_seconds = 0.0

    # -- the attempt -------------------------------------------------------------------------------------------

    def run(self) -> str:
        """Run the attempt; returns the job's state in the queue afterwards (``done`` or ``queued``)."""
        try:
            return self._run()
        except LeaseLostError:
            return "lost"
        except Exception as exc:
            # A fault of ours, not the script's: the job fails with the reason rather than being retried forever.
            try:
                return self._finish(
                    models.FAILED,
                    models.FAILED,
                    "Internal error",
                    {"FailureReason": f"InternalServerError: {type(exc).__name__}: {_message(exc)}"[:1024]},
                )
            except LeaseLostError:
                return "lost"
        finally:
            if self.attempt_root.exists():
                shutil.rmtree(self.attempt_root, ignore_errors=True)

    def _run(self) -> str:
        desc = self.claim.description
        first = not desc.get(_start_key(self.spec))
        self._update(
            secondary=models.DOWNLOADING, message="Downloading the code and input data", started=first
        )
        try:
            folders, launches = self._prepare()
        except (KibakoError, OSError) as exc:
            reason = f"ClientError: {_message(exc)}"[:1024]
            return self._finish(models.FAILED, models.FAILED, reason, {"FailureReason": reason})
        self._update(secondary=_running_status(self.spec), message=_running_message(self.spec))
        outcome, codes = self._watch(folders, launches)
        return self._conclude(outcome, codes, folders)

    # -- preparing ---------------------------------------------------------------------------------------------

    def _prepare(self) -> tuple[list[JobPaths], list[Launch]]:
        if self.attempt_root.exists():
            shutil.rmtree(self.attempt_root)
        self.attempt_root.mkdir(parents=True)
        hosts = tuple(f"algo-{i + 1}" for i in range(self.spec.instance_count))
        if self.spec.kind == models.TRAINING:
            return self._prepare_training(hosts)
        return self._prepare_processing(hosts)

    def _prepare_training(self, hosts: tuple[str, ...]) -> tuple[list[JobPaths], list[Launch]]:
        code = self._fetch_code()
        if code is not None and (code / REQUIREMENTS).is_file():
            self.python = python_for(code, base_python=self.python, cache_root=self.config.home / "envs")
        channels = self._fetch_channels()
        restored = transfer.CheckpointSync(self.attempt_root / "checkpoints", self.spec.checkpoint_uri)
        restored.restore()
        folders: list[JobPaths] = []
        launches: list[Launch] = []
        port = _free_port()
        for host in hosts:
            root = self.attempt_root / host
            seen_at = sandbox.OPT_ML if sandbox.method() else None
            contract = TrainingContract(
                job_name=self.spec.name,
                job_arn=self.claim.arn,
                entry_point=self.spec.entry_point,
                hyperparameters={k: _decode(v) for k, v in self.spec.hyperparameters.items()},
                channels=channels,
                source_dir=code,
                hosts=hosts,
                current_host=host,
                num_cpus=self.spec.resources.cpus,
                num_gpus=self.spec.resources.gpus,
                environment=self.spec.environment,
            )
            prepared = prepare(contract, root, seen_at=seen_at)
            shutil.copytree(restored.local, prepared.folder.checkpoints, dirs_exist_ok=True)
            env = self._environment(prepared.env, host, hosts, port)
            entry = str(prepared.seen.code / self.spec.entry_point)
            argv = sandbox.wrap([self.python, entry, *prepared.argv], root)
            folders.append(prepared.folder)
            launches.append(Launch(argv, env, prepared.folder.code, self._log(host), self.spec.resources))
        if not sandbox.method():
            self.warnings.append(sandbox.FALLBACK_WARNING)
        return folders, launches

    def _prepare_processing(self, hosts: tuple[str, ...]) -> tuple[list[JobPaths], list[Launch]]:
        folders: list[JobPaths] = []
        launches: list[Launch] = []
        mounted = sandbox.method() is not None
        for index, host in enumerate(hosts):
            root = self.attempt_root / host
            for channel in self.spec.channels:
                target = _inside(root, channel.local_path)
                if index == 0:
                    self._fetch_input(channel.name, channel.uri, target)
                else:
                    shutil.copytree(
                        _inside(self.attempt_root / hosts[0], channel.local_path), target, dirs_exist_ok=True
                    )
            for output in self.spec.outputs:
                _inside(root, output.local_path).mkdir(parents=True, exist_ok=True)
            config = root / "config"
            config.mkdir(parents=True, exist_ok=True)
            (config / "resourceconfig.json").write_text(
                json.dumps({"current_host": host, "hosts": list(hosts)})
            )
            (config / "processingjobconfig.json").write_text(json.dumps(self.spec.request, indent=2))
            command = list(self.spec.command)
            if command[0] in ("python", "python3") or command[0].startswith("/usr/bin/python"):
                command[0] = self.python
            if not mounted:
                command = [a.replace(str(sandbox.OPT_ML), str(root)) for a in command]
            env = self._environment(dict(self.spec.environment), host, hosts, 0)
            folders.append(JobPaths(root))
            launches.append(
                Launch(sandbox.wrap(command, root), env, root, self._log(host), self.spec.resources)
            )
        if not mounted:
            self.warnings.append(sandbox.FALLBACK_WARNING)
        return folders, launches

    def _fetch_code(self) -> Path | None:
        source = self.spec.source
        if not source:
            return None
        staging = self.attempt_root / "source"
        if source.endswith(".tar.gz"):
            download = self.attempt_root / "download"
            transfer.fetch(source, download)
            unpack(next(download.iterdir()), staging)
            shutil.rmtree(download)
            return staging
        if "://" not in source or source.startswith("file://"):
            return Path(source.removeprefix("file://")).expanduser()
        transfer.fetch(source, staging)
        return staging

    def _fetch_channels(self) -> dict[str, Path]:
        channels: dict[str, Path] = {}
        for channel in self.spec.channels:
            target = self.attempt_root / "channels" / channel.name
            self._fetch_input(channel.name, channel.uri, target)
            channels[channel.name] = target
        return channels

    def _fetch_input(self, name: str, uri: str, target: Path) -> None:
        try:
            transfer.fetch(uri, target)
        except KibakoError as exc:
            raise type(exc)(f"input {name!r}: {_message(exc)}") from None
        self.jobs.record_input(
            self.claim.job_id, uri=uri, digest=path_digest(target), size=_size(target), role=name
        )

    def _environment(
        self, env: dict[str, str], host: str, hosts: tuple[str, ...], port: int
    ) -> dict[str, str]:
        out = dict(os.environ)
        for key in ("KIBAKO_URI", "KIBAKO_TOKEN"):
            out.pop(key, None)
        out.update(env)
        out.update(
            {
                "PYTHONUNBUFFERED": "1",
                "KIBAKO_HOME": str(self.config.home),
                "KIBAKO_DATABASE_URL": self.config.database_url,
                "KIBAKO_ARTIFACT_URI": self.config.artifact_uri,
                "KIBAKO_RUN_ID": self.claim.run_id,
                "KIBAKO_JOB_NAME": self.spec.name,
            }
        )
        if len(hosts) > 1:
            out.update(
                {
                    "MASTER_ADDR": self.executor.master_address(),
                    "MASTER_PORT": str(port),
                    "WORLD_SIZE": str(len(hosts)),
                    "RANK": str(hosts.index(host)),
                    "LOCAL_RANK": "0",
                }
            )
        return out

    def _log(self, host: str) -> Path:
        return self.log_dir / f"{host}.log"

    # -- watching ----------------------------------------------------------------------------------------------

    def _watch(self, folders: list[JobPaths], launches: list[Launch]) -> tuple[_Watch, list[int]]:
        self._logs = [launch.log for launch in launches]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for launch in launches:
            with open(launch.log, "ab") as log:
                log.write(f"==== attempt {self.claim.attempt} on {self.worker_id} ====\n".encode())
        self._load_steps()
        tails = [_LogTail(launch.log, _host(launch), offset=launch.log.stat().st_size) for launch in launches]
        self._log_starts = {tail.host: tail.offset for tail in tails}
        instances: list[Instance] = [self.executor.launch(launch) for launch in launches]
        watch = _Watch()
        started = time.monotonic()
        previous_run = float(self.claim.properties.get("RunSeconds", 0.0) or 0.0)
        # MaxWait is the time waiting for spot capacity (queued, before the first start and between
        # interruptions) plus the time running, as in SageMaker: it counts from the job's creation.
        created = self.claim.description.get("CreationTime")
        sync = (
            transfer.CheckpointSync(folders[0].checkpoints, self.spec.checkpoint_uri)
            if self.spec.kind == models.TRAINING
            else None
        )
        samplers = self._start_samplers(instances, launches)
        syncer = _Periodic(CHECKPOINT_SYNC_SECONDS, sync.sync) if sync else None
        next_renew = next_flush = time.monotonic()
        next_draw = started + 1.0
        interrupt_at = self._interrupt_at()
        try:
            while True:
                codes = [instance.poll() for instance in instances]
                self._scrape(tails)
                now = time.monotonic()
                if all(code is not None for code in codes):
                    break
                if now >= next_flush:
                    self._flush()
                    next_flush = now + METRIC_FLUSH_SECONDS
                if now >= next_renew:
                    lease = self.jobs.renew(self.claim.job_id, self.worker_id, self.lease_ms)
                    # At least every second: a stop request is seen within a second, whatever the lease.
                    next_renew = now + min(self.lease_ms / 3000, STOP_CHECK_SECONDS)
                    if not lease.held:
                        watch.reason = "lease"
                        for instance in instances:
                            instance.signal(signal.SIGKILL)
                        raise LeaseLostError(f"job {self.spec.name} was taken over")
                    if lease.stop_requested and watch.reason is None:
                        self._terminate(instances, watch, "stop")
                if watch.reason is None:
                    elapsed = now - started
                    if previous_run + elapsed > self.spec.max_runtime:
                        self._terminate(instances, watch, "max_runtime")
                    elif self.spec.max_wait and _wall_since(created, self.jobs) > self.spec.max_wait:
                        self._terminate(instances, watch, "max_wait")
                    elif self.spec.spot and interrupt_at is not None and elapsed >= interrupt_at:
                        self._terminate(instances, watch, "interrupt")
                    elif self.spec.spot and self.spec.interruptions.probability and now >= next_draw:
                        next_draw += 1.0
                        if self._random.random() < self.spec.interruptions.probability:
                            self._terminate(instances, watch, "interrupt")
                elif (
                    not watch.killed
                    and watch.signalled_at is not None
                    and now - watch.signalled_at > self.spec.grace
                ):
                    for instance in instances:
                        instance.signal(signal.SIGKILL)
                    watch.killed = True
                if watch.reason is None and self.stopping():
                    self._terminate(instances, watch, "shutdown")
                _pause(instances, TICK)
        finally:
            for sampler in samplers:
                sampler.stop()
            if syncer:
                syncer.stop()
        if sync and watch.reason != "lease":
            sync.sync()
        self._scrape(tails)
        for tail in tails:
            if tail.partial:
                self._scan(tail.partial.decode("utf-8", errors="replace"))
        self._flush()
        self.run_seconds = previous_run + (time.monotonic() - started)
        return watch, [code if code is not None else -9 for code in codes]

    def _terminate(self, instances: list[Instance], watch: _Watch, reason: str) -> None:
        watch.reason = reason
        watch.signalled_at = time.monotonic()
        for instance in instances:
            instance.signal(signal.SIGTERM)
        message = {
            "stop": "the job was asked to stop",
            "max_runtime": f"MaxRuntimeInSeconds ({self.spec.max_runtime}) reached",
            "max_wait": f"MaxWaitTimeInSeconds ({self.spec.max_wait}) reached",
            "interrupt": "spot interruption",
            "shutdown": "the worker is shutting down",
        }[reason]
        note = f"==== kibako: {message}; SIGTERM sent, SIGKILL after {self.spec.grace} s ====\n"
        for log in self._logs:
            with open(log, "ab") as f:
                f.write(note.encode())

    def _interrupt_at(self) -> float | None:
        at = self.spec.interruptions.at_seconds
        index = int(self.claim.properties.get("Interruptions", 0) or 0)
        return at[index] if 0 <= index < len(at) else None

    def _start_samplers(self, instances: list[Instance], launches: list[Launch]) -> list[Any]:
        from kibako.jobs.system import SystemSampler

        samplers = []
        for instance, launch in zip(instances, launches, strict=True):
            pid = getattr(instance, "pid", None)
            if pid is None:
                continue
            prefix = "" if len(instances) == 1 else f"{_host(launch)}/"

            def sink(values: dict[str, float], ts: int, prefix: str = prefix) -> None:
                self._add({f"{prefix}{k}": v for k, v in values.items()}, ts)

            sampler = SystemSampler(pid, sink, interval=SYSTEM_SAMPLE_SECONDS)
            sampler.start()
            samplers.append(sampler)
        return samplers

    # -- metrics -----------------------------------------------------------------------------------------------

    def _load_steps(self) -> None:
        """Steps go on from where earlier attempts stopped, so a restarted job's metrics never repeat a step."""
        run = self.tracking.get_run(self.claim.run_id)
        self._steps = {key: summary.last_step + 1 for key, summary in run.metrics.items()}

    def _scrape(self, tails: list[_LogTail]) -> None:
        for tail in tails:
            for line in tail.read():
                self._scan(line)

    def _scan(self, line: str) -> None:
        points = self.scraper.scan(line)
        if points:
            self._add(dict(points), self.jobs.clock.time_ms())

    def _add(self, values: dict[str, float], ts: int) -> None:
        with self._points_lock:
            for key, value in values.items():
                step = self._steps.get(key, 0)
                self._steps[key] = step + 1
                self._points.append((key, value, step, ts))

    def _flush(self) -> None:
        with self._points_lock:
            points, self._points = self._points, []
        if points:
            self.tracking.log_batch(self.claim.run_id, points)

    # -- concluding --------------------------------------------------------------------------------------------

    def _conclude(self, watch: _Watch, codes: list[int], folders: list[JobPaths]) -> str:
        billing = self._billing()
        if watch.reason == "interrupt":
            self._update(
                secondary=models.INTERRUPTED,
                message="The spot instance was interrupted; restarting from the last checkpoint",
                fields={
                    **billing,
                    "Interruptions": int(self.claim.properties.get("Interruptions", 0) or 0) + 1,
                },
                release=QUEUED,
            )
            return QUEUED
        if watch.reason == "shutdown":
            self._update(
                secondary=models.RESTARTING,
                message=f"worker {self.worker_id} shut down; the job restarts from its checkpoints on the next worker",
                fields=billing,
                release=QUEUED,
            )
            return QUEUED
        if watch.reason == "max_wait":
            return self._finish(
                models.STOPPED, models.MAX_WAIT_EXCEEDED, "MaxWaitTimeInSeconds was reached", billing
            )
        failed = next((i for i, code in enumerate(codes) if code != 0), None)
        if watch.reason is None and failed is not None:
            host = f"algo-{failed + 1}"
            tail = _tail(self._log(host), self._log_starts.get(host, 0))
            reason = failure_reason(folders[failed], codes[failed], tail)
            return self._finish(
                models.FAILED, models.FAILED, f"{self._what} failed", {**billing, "FailureReason": reason}
            )
        uploaded = self._upload(folders)
        if watch.reason == "stop":
            return self._finish(
                models.STOPPED, models.STOPPED, "The job was stopped", {**billing, **uploaded}
            )
        if watch.reason == "max_runtime":
            return self._finish(
                models.STOPPED,
                models.MAX_RUNTIME_EXCEEDED,
                "MaxRuntimeInSeconds was reached",
                {**billing, **uploaded},
            )
        return self._finish(
            models.COMPLETED, models.COMPLETED, f"{self._what} completed", {**billing, **uploaded}
        )

    def _upload(self, folders: list[JobPaths]) -> dict[str, Any]:
        what = "the generated training model" if self.spec.kind == models.TRAINING else "the outputs"
        self._update(secondary=models.UPLOADING, message=f"Uploading {what}")
        if self.spec.kind != models.TRAINING:
            return self._upload_processing(folders)
        base = f"{self.spec.output_path.rstrip('/')}/{self.spec.name}/output"
        fields: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="kibako-upload-") as scratch:
            model = Path(scratch) / "model"
            merged_output = Path(scratch) / "output-data"
            for folder in folders:  # several instances' outputs are merged, as SageMaker does
                shutil.copytree(folder.model, model, dirs_exist_ok=True)
                shutil.copytree(folder.output_data, merged_output, dirs_exist_ok=True)
            archive = pack_dir(model, Path(scratch) / "model.tar.gz")
            stored = transfer.put(archive, f"{base}/model.tar.gz")
            self.jobs.record_output(self.claim.job_id, self.claim.run_id, stored, type="Model", role="model")
            fields["ModelArtifacts"] = {"S3ModelArtifacts": stored.uri}
            if any(merged_output.iterdir()):
                data = transfer.put(
                    pack_dir(merged_output, Path(scratch) / "output.tar.gz"), f"{base}/output.tar.gz"
                )
                self.jobs.record_output(
                    self.claim.job_id, self.claim.run_id, data, type="DataSet", role="output"
                )
                fields["OutputDataArtifacts"] = {"S3OutputUri": data.uri}
        fields["FinalMetricDataList"] = self._final_metrics()
        return fields

    def _upload_processing(self, folders: list[JobPaths]) -> dict[str, Any]:
        for output in self.spec.outputs:
            local = _inside(folders[0].base, output.local_path)
            for folder in folders[1:]:
                shutil.copytree(_inside(folder.base, output.local_path), local, dirs_exist_ok=True)
            if not any(local.rglob("*")):
                continue
            stored = transfer.put(local, output.uri)
            self.jobs.record_output(
                self.claim.job_id, self.claim.run_id, stored, type="DataSet", role=output.name
            )
        return {}

    def _final_metrics(self) -> list[dict[str, Any]]:
        run = self.tracking.get_run(self.claim.run_id)
        return [
            {"MetricName": key, "Value": summary.last, "Timestamp": summary.last_time.isoformat()}
            for key, summary in sorted(run.metrics.items())
            if not key.startswith("system/") and "/system/" not in key
        ]

    def _billing(self) -> dict[str, Any]:
        """Training and billable seconds as SageMaker reports them; spot time is billed at the spot discount, so
        savings = 1 - billable / training."""
        run_seconds = self.run_seconds
        training = max(run_seconds, _wall_since(_first_start(self.claim.description), self.jobs))
        billable = (
            run_seconds * (1 - self.spec.interruptions.spot_discount) if self.spec.spot else run_seconds
        )
        return {
            "RunSeconds": run_seconds,
            "TrainingTimeInSeconds": max(1, round(training)),
            "BillableTimeInSeconds": max(1, round(billable)),
        }

    def _finish(self, status: str, secondary: str, message: str, fields: dict[str, Any]) -> str:
        if self.warnings:
            fields = {**fields, "Warnings": self.warnings}
        self._update(status=status, secondary=secondary, message=message, fields=fields, release=DONE)
        self.tracking.end_run(self.claim.run_id, status if status != models.STOPPING else models.STOPPED)
        return DONE

    @property
    def _what(self) -> str:
        return {models.TRAINING: "Training job", models.TRANSFORM: "Transform job"}.get(
            self.spec.kind, "Processing job"
        )

    def _update(
        self,
        *,
        status: str | None = None,
        secondary: str | None = None,
        message: str = "",
        fields: dict[str, Any] | None = None,
        release: str | None = None,
        started: bool = False,
    ) -> None:
        desc = self.jobs.update(
            self.claim.job_id,
            self.worker_id,
            status=status,
            secondary=secondary,
            message=message,
            fields=fields,
            release=release,
            started=started,
        )
        self.claim = _with_description(self.claim, desc)


class _Periodic:
    """Calls ``fn`` every ``seconds`` on a thread until stopped; a failed call is retried at the next period."""

    def __init__(self, seconds: float, fn: Any) -> None:
        self._stop = threading.Event()
        self._fn = fn
        self._seconds = seconds
        self._thread = threading.Thread(target=self._loop, daemon=True, name="kibako-checkpoints")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._fn()
            except Exception:  # noqa: BLE001 - the final sync at exit reports for real
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _pause(instances: list[Instance], seconds: float) -> None:
    """Sleep ``seconds``, waking as soon as an instance that can say so ends (the next job starts sooner)."""
    waiter = next((i for i in instances if hasattr(i, "wait") and i.poll() is None), None)
    if waiter is None:
        time.sleep(seconds)
    else:
        waiter.wait(seconds)


def _with_description(claim: Claim, desc: dict[str, Any]) -> Claim:
    from dataclasses import replace

    return replace(claim, description=desc)


def _start_key(spec: models.JobSpec) -> str:
    return FIELDS[spec.kind][3]


def _first_start(desc: dict[str, Any]) -> str | None:
    return desc.get("TrainingStartTime") or desc.get("ProcessingStartTime") or desc.get("TransformStartTime")


def _wall_since(iso: str | None, jobs: JobService) -> float:
    if not iso:
        return 0.0
    from datetime import datetime

    return jobs.clock.time_ms() / 1000 - datetime.fromisoformat(iso).timestamp()


def _running_status(spec: models.JobSpec) -> str:
    return {models.TRAINING: models.TRAINING_STATUS, models.TRANSFORM: "Transforming"}.get(
        spec.kind, "Processing"
    )


def _running_message(spec: models.JobSpec) -> str:
    return {
        models.TRAINING: "Training image download completed. Training in progress.",
        models.TRANSFORM: "Transforming",
    }.get(spec.kind, "Processing")


def _host(launch: Launch) -> str:
    return launch.log.stem


def _inside(root: Path, container_path: str) -> Path:
    return root / Path(container_path).relative_to(sandbox.OPT_ML)


def _decode(raw: str) -> Any:
    from kibako.jobs.contract import decode_hyperparameter

    return decode_hyperparameter(raw)


def _tail(path: Path, start: int) -> str:
    """The end of what this attempt wrote to ``path`` (from byte ``start``)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(start, f.tell() - LOG_TAIL_CHARS))
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
