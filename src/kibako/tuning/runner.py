"""Runs one claimed hyperparameter tuning job: asks the strategy for trials, runs them as training jobs, learns.

The runner holds the tuning job's queue row like any job (it renews the lease) and keeps up to
``MaxParallelTrainingJobs`` trials in flight. Each trial is recorded in the tuning job's ``Trials`` (through
:meth:`JobService.update`, which checks the lease) *before* its training job is created, so a crash never
leaves a training job the tuning job does not know about, and a runner that lost its lease can record nothing.

Taking over after a crash (or from a worker that shut down): the finished trials are replayed into a new
:class:`~kibako.tuning.strategies.Tuner` (``history=``, intermediate values included, so early stopping keeps
its statistics), and the trials still running are re-adopted: they are watched to their end before the new
tuner asks for more (a tuner cannot take a running trial it did not ask for), and a recorded trial whose
training job was never created is created then. Completed training jobs are never run again.

While trials run, their objective metric's points (scraped from their output into their runs) are reported to
the tuner when the strategy stops trials early (``TrainingJobEarlyStoppingType=Auto``, or Hyperband); a trial
it says to stop is stopped like ``kibako jobs stop`` and told ``Stopped``. A finished trial is told its final
objective value (``FinalMetricDataList``), or ``Failed`` when it has none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kibako.core.ids import arn
from kibako.errors import ConflictError, KibakoError, NotFoundError
from kibako.jobs import models
from kibako.jobs.service import DONE, Claim, JobService, LeaseLostError
from kibako.tuning.service import TuningConfig, best_trial, parse_request, trial_name, trial_request

POLL_SECONDS = 0.2
RUNNING = (models.IN_PROGRESS, models.STOPPING)


class TuningRunner:
    """Runs a claimed tuning job; ``run()`` returns when it has ended, when the lease is lost, or when
    ``stopping()`` (the worker shutting down) turns true: the job is then left for another worker."""

    def __init__(
        self,
        jobs: JobService,
        claim: Claim,
        *,
        worker_id: str,
        lease_ms: int,
        stopping: Callable[[], bool] = lambda: False,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.jobs = jobs
        self.tracking = jobs.tracking
        self.claim = claim
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.stopping = stopping
        self.poll_seconds = poll_seconds
        self.arn = claim.arn
        self.tuning: (
            TuningConfig  # read from the claim when the run starts, so a bad one fails the tuning job
        )
        self.created = datetime.fromisoformat(claim.description["CreationTime"]).timestamp()
        self.trials: list[dict[str, Any]] = [dict(t) for t in claim.properties.get("Trials", [])]
        self.tuner: Any = None  # built once no re-adopted trial is running
        # record Number -> the tuner's trial number, for the trials this runner's tuner asked for
        self.asked: dict[int, int] = {}
        self.seen: dict[int, int] = {}  # record Number -> the last step reported to the tuner
        self.stop_sent: set[int] = set()
        self.ending: str | None = None  # stop, max_runtime or target

    # -- the loop ------------------------------------------------------------------------------------------

    def run(self) -> str:
        """Run to the end; returns the job's state in the queue afterwards (``done``, ``lost`` or ``left``)."""
        try:
            return self._run()
        except LeaseLostError:
            return "lost"
        except Exception as exc:  # a fault of ours: the tuning job fails with the reason, its trials stop
            reason = f"InternalServerError: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            try:
                self._stop_trials()
                return self._finish(models.FAILED, {"FailureReason": reason[:1024]})
            except LeaseLostError:
                return "lost"

    def _run(self) -> str:
        desc = self.claim.description
        request = {
            key: desc[key]
            for key in (
                "HyperParameterTuningJobName",
                "HyperParameterTuningJobConfig",
                "TrainingJobDefinition",
                "Tags",
            )
            if key in desc
        }
        self.tuning = parse_request(request)
        next_renew = 0.0
        while True:
            now = time.monotonic()
            if now >= next_renew:
                lease = self.jobs.renew(self.claim.job_id, self.worker_id, self.lease_ms)
                if not lease.held:
                    raise LeaseLostError(f"tuning job {self.tuning.name} was taken over")
                if lease.stop_requested:
                    self.ending = "stop"
                next_renew = now + self.lease_ms / 3000
            if self.stopping():
                # The worker is shutting down: a lease that ends now lets the next worker take over at once.
                self.jobs.renew(self.claim.job_id, self.worker_id, 0)
                return "left"
            changed = self._poll()
            if self.ending is None and self.tuning.max_runtime is not None:
                if self.jobs.clock.time_ms() / 1000 - self.created > self.tuning.max_runtime:
                    self.ending = "max_runtime"
            if self.ending in ("stop", "max_runtime"):
                self._stop_trials()
            elif self.tuner is None and not self._running():
                self.tuner = self.tuning.tuner(history=self._history())
            if self.ending is None and self.tuner is not None:
                self._launch()
            if not self._running() and (
                self.ending is not None or (self.tuner is not None and not self._more())
            ):
                return self._conclude()
            if changed:
                self._save()
            time.sleep(self.poll_seconds)

    def _more(self) -> bool:
        """Whether the tuner would give another trial."""
        return len(self.trials) < self.tuning.max_jobs and self.tuner.remaining > 0

    def _running(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["TrainingJobStatus"] in RUNNING]

    # -- starting trials -------------------------------------------------------------------------------------

    def _launch(self) -> None:
        while len(self._running()) < self.tuning.max_parallel and self._more():
            trial = self.tuner.ask()
            if trial is None:
                return
            number = len(self.trials) + 1
            name = trial_name(self.tuning.name, number)
            record = {
                "Number": number,
                "TrainingJobName": name,
                "TrainingJobArn": arn(
                    "training-job", name, region=self.jobs.region, account=self.jobs.account
                ),
                "TunedHyperParameters": dict(trial.hyperparameters),
                "TrainingJobStatus": models.IN_PROGRESS,
                "CreationTime": self.jobs.clock.time_ms(),
            }
            self.trials.append(record)
            self.asked[number] = trial.number
            self._save()  # recorded first: a crash after this re-adopts the trial, and creates it if need be
            self._create(record)

    def _create(self, record: dict[str, Any]) -> None:
        request = trial_request(
            self.tuning, self.arn, record["TrainingJobName"], record["TunedHyperParameters"]
        )
        try:
            self.jobs.create_training_job(request)
        except ConflictError:
            return  # an earlier holder of the tuning job created it already
        except KibakoError as exc:
            try:
                self.jobs.describe_training_job(record["TrainingJobName"])
                return  # the job exists after all (the error came after it was queued): watch it as usual
            except NotFoundError:
                pass
            self._ended(record, models.FAILED, None, f"ClientError: {exc.message}"[:1024])
            self._save()

    # -- watching trials -------------------------------------------------------------------------------------

    def _poll(self) -> bool:
        """Read every running trial's state (and its new objective points); True when a trial ended."""
        changed = False
        for record in self._running():
            name = record["TrainingJobName"]
            try:
                desc = self.jobs.describe_training_job(name)
            except NotFoundError:  # recorded by a runner that died before creating it
                if self.ending in ("stop", "max_runtime"):
                    self._ended(
                        record, models.STOPPED, None, "The tuning job ended before the job was created"
                    )
                    changed = True
                else:
                    self._create(record)
                continue
            status = desc["TrainingJobStatus"]
            if status in RUNNING:
                if (
                    record["Number"] in self.asked
                    and self.tuning.prunes
                    and record["Number"] not in self.stop_sent
                ):
                    self._report(record, desc["RunId"])
                continue
            value = _final_value(desc, self.tuning.metric)
            self._ended(record, status, value, desc.get("FailureReason"), desc)
            changed = True
        return changed

    def _report(self, record: dict[str, Any], run_id: str) -> None:
        number = record["Number"]
        try:
            history = self.tracking.get_metric_history(run_id, self.tuning.metric)
        except NotFoundError:
            return  # no point yet
        last = self.seen.get(number, -1)
        for step, value in zip(history.steps, history.values, strict=True):
            if step <= last or not math.isfinite(value):
                continue
            self.seen[number] = step
            if self.tuner.report(self.asked[number], step, value):
                record["EarlyStopped"] = True
                self._stop(record)
                return

    def _ended(
        self,
        record: dict[str, Any],
        status: str,
        value: float | None,
        reason: str | None,
        desc: dict[str, Any] | None = None,
    ) -> None:
        if status != models.STOPPED:
            record.pop("EarlyStopped", None)  # asked to stop, but it ended on its own first
        record["TrainingJobStatus"] = status
        record["ObjectiveValue"] = value
        end = (desc or {}).get("TrainingEndTime")
        record["EndTime"] = (
            int(datetime.fromisoformat(end).timestamp() * 1000) if end else self.jobs.clock.time_ms()
        )
        if reason:
            record["FailureReason"] = reason
        if desc is not None and self.tuning.prunes:  # what early stopping compares later trials with
            record["Intermediate"] = self._intermediate(desc["RunId"])
        number = record["Number"]
        if number in self.asked:
            state, final = _tuner_outcome(record)
            self.tuner.tell(self.asked.pop(number), final if state == "Completed" else None, state=state)
        if status == models.COMPLETED and value is not None and self.tuning.target is not None:
            if not self.tuning.better(self.tuning.target, value):  # reached (or passed) the target
                self.ending = self.ending or "target"

    def _intermediate(self, run_id: str) -> dict[str, float]:
        try:
            history = self.tracking.get_metric_history(run_id, self.tuning.metric)
        except NotFoundError:
            return {}
        return {
            str(step): value
            for step, value in zip(history.steps, history.values, strict=True)
            if math.isfinite(value)
        }

    def _history(self) -> list[tuple[dict[str, str], float | None, str, dict[str, float]]]:
        out = []
        for record in self.trials:
            state, final = _tuner_outcome(record)
            out.append((record["TunedHyperParameters"], final, state, record.get("Intermediate") or {}))
        return out

    # -- stopping and ending ---------------------------------------------------------------------------------

    def _stop(self, record: dict[str, Any]) -> None:
        self.stop_sent.add(record["Number"])
        try:
            self.jobs.stop_training_job(record["TrainingJobName"])
        except (ConflictError, NotFoundError):
            pass  # it ended meanwhile, or does not exist yet (the next poll sees to both)

    def _stop_trials(self) -> None:
        for record in self._running():
            if record["Number"] not in self.stop_sent:
                self._stop(record)

    def _conclude(self) -> str:
        if self.ending == "stop":
            return self._finish(models.STOPPED, {})
        if self.trials and not any(t.get("ObjectiveValue") is not None for t in self.trials):
            failed = [t for t in self.trials if t["TrainingJobStatus"] == models.FAILED]
            reason = f"No training job reported the objective metric {self.tuning.metric!r}"
            if failed:
                first = failed[0]
                reason += (
                    f"; {len(failed)} of {len(self.trials)} failed, the first ({first['TrainingJobName']}) with: "
                    f"{first.get('FailureReason') or 'no reason given'}"
                )
            else:
                reason += "; check its MetricDefinitions regex against what the script prints"
            return self._finish(models.FAILED, {"FailureReason": reason[:1024]})
        fields: dict[str, Any] = {}
        if self.ending == "target":
            fields["CompletionReason"] = "TargetObjectiveMetricValue was reached"
        elif self.ending == "max_runtime":
            fields["CompletionReason"] = "ResourceLimits.MaxRuntimeInSeconds was reached"
        return self._finish(models.COMPLETED, fields)

    def _finish(self, status: str, fields: dict[str, Any]) -> str:
        self.jobs.update(
            self.claim.job_id,
            self.worker_id,
            status=status,
            fields={"Trials": self.trials, **fields},
            release=DONE,
        )
        if self.claim.run_id:
            tuning = getattr(self, "tuning", None)  # None when the request could not be read
            best = None if tuning is None else best_trial(self.trials, tuning.objective_type)
            if best is not None:
                self.tracking.log_batch(
                    self.claim.run_id,
                    [(f"best_{self.tuning.metric}", best["ObjectiveValue"], 0, self.jobs.clock.time_ms())],
                )
            self.tracking.end_run(self.claim.run_id, status)
        return DONE

    def _save(self) -> None:
        self.jobs.update(self.claim.job_id, self.worker_id, fields={"Trials": self.trials})


def _tuner_outcome(record: dict[str, Any]) -> tuple[str, float | None]:
    """What the tuner learns from a finished trial: (state, value)."""
    status, value = record["TrainingJobStatus"], record.get("ObjectiveValue")
    if status == models.COMPLETED and value is not None:
        return "Completed", float(value)
    if status == models.STOPPED:
        return "Stopped", None if value is None else float(value)
    return "Failed", None


def _final_value(desc: dict[str, Any], metric: str) -> float | None:
    for item in desc.get("FinalMetricDataList") or []:
        if item.get("MetricName") == metric:
            value = item.get("Value")
            if isinstance(value, int | float) and math.isfinite(value):
                return float(value)
    return None
