"""A worker: claims queued jobs that fit its free slots and runs each on a thread until it is done.

Slots are the executor's cpus, memory and GPUs; a job takes what its ResourceConfig asks for (all instances
together), and a job that asks for more than the whole executor has runs alone with all of it. The worker
never starts a job that does not fit what is free, so the machine is never oversubscribed.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kibako.core.ids import new_id
from kibako.jobs.executors import executor_for
from kibako.jobs.resources import Resources
from kibako.jobs.runner import AttemptRunner

DEFAULT_LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0


@dataclass
class _Running:
    job_id: str
    need: Resources
    thread: threading.Thread


class Worker:
    """Runs jobs from the store's queue. ``run()`` blocks; ``stop()`` (from another thread) ends it."""

    def __init__(
        self,
        services: Any,
        executor: Any = None,
        *,
        lease_seconds: float | None = None,
        poll_seconds: float = 0.1,
        worker_id: str | None = None,
    ) -> None:
        self.services = services
        self.jobs = services.jobs
        self.executor = executor or executor_for(services.config.executor)
        seconds = lease_seconds or float(os.environ.get("KIBAKO_JOB_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))
        self.lease_ms = int(seconds * 1000)
        self.poll_seconds = poll_seconds
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{new_id()[-6:]}"
        self.capacity = self.executor.capacity()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Set only by stop(): running jobs are stopped and given back to the queue. A worker that merely ends
        # (until / until_idle) lets its running jobs finish first.
        self._shutdown = threading.Event()
        self.errors: list[BaseException] = []

    # -- slots ---------------------------------------------------------------------------------------------

    def need(self, asked: Resources) -> Resources:
        """What a job takes here: what it asked for, at most the whole executor."""
        c = self.capacity
        return Resources(
            min(asked.cpus, c.cpus), min(asked.memory_mib, c.memory_mib), min(asked.gpus, c.gpus)
        )

    def free(self) -> Resources:
        with self._lock:
            used = list(self._running.values())
        c = self.capacity
        return Resources(
            c.cpus - sum(r.need.cpus for r in used),
            c.memory_mib - sum(r.need.memory_mib for r in used),
            c.gpus - sum(r.need.gpus for r in used),
        )

    def _fits(self, asked: Resources) -> bool:
        need, free = self.need(asked), self.free()
        return need.cpus <= free.cpus and need.memory_mib <= free.memory_mib and need.gpus <= free.gpus

    # -- the loop ------------------------------------------------------------------------------------------

    def run(self, *, until: Callable[[], bool] | None = None, until_idle: bool = False) -> None:
        """Claim and run jobs until ``stop()``, until ``until()`` is true, or (``until_idle``) until no job is
        running and none is waiting."""
        self.jobs.register_worker(self.id, self.executor.name, self.capacity)
        self.jobs.add_listener(self._wake.set)  # a job submitted in this process is claimed at once
        next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
        try:
            while not self._stop.is_set():
                self._wake.clear()  # before looking: a job that ends or arrives from here on wakes the wait
                with self._lock:
                    # Read before claiming: idle means nothing ran that could free a slot while we looked.
                    busy = bool(self._running)
                claimed = self._claim_what_fits()
                if until is not None and until():
                    break
                if until_idle and not busy and not claimed:
                    break
                if time.monotonic() >= next_heartbeat:
                    self.jobs.heartbeat(self.id)
                    next_heartbeat = time.monotonic() + HEARTBEAT_SECONDS
                if not claimed:
                    self._wake.wait(self.poll_seconds)
        finally:
            self._stop.set()
            self.jobs.remove_listener(self._wake.set)
            for running in list(self._running.values()):
                running.thread.join()
            self.jobs.unregister_worker(self.id)

    def stop(self) -> None:
        """End the worker: its running jobs get SIGTERM and go back to the queue, to restart from their
        checkpoints on the next worker."""
        self._shutdown.set()
        self._stop.set()
        self._wake.set()

    def _claim_what_fits(self) -> bool:
        claimed = False
        while not self._stop.is_set():
            claim = self.jobs.claim(self.id, self._fits, self.lease_ms)
            if claim is None:
                return claimed
            claimed = True
            # Work of a registered kind (a tuning job) takes no slots: it only starts jobs and watches them.
            asked = claim.spec.total if claim.spec is not None else Resources(0, 0, 0)
            label = claim.spec.name if claim.spec is not None else claim.arn.rsplit("/", 1)[-1]
            thread = threading.Thread(target=self._run_one, args=(claim,), name=f"kibako-job-{label}")
            with self._lock:
                self._running[claim.job_id] = _Running(claim.job_id, self.need(asked), thread)
            thread.start()
        return claimed

    def _run_one(self, claim: Any) -> None:
        try:
            if claim.spec is None:  # e.g. a HyperParameterTuningJob: kibako.tuning.runner.TuningRunner
                work = self.jobs.kinds[claim.kind]
                # Lasting work (an endpoint) never ends on its own: it goes back to the queue when the loop does.
                stopping = self._stop.is_set if work.lasting else self._shutdown.is_set
                work.run(self.jobs, claim, self.id, self.lease_ms, stopping)
            else:
                AttemptRunner(
                    self.jobs,
                    claim,
                    self.executor,
                    worker_id=self.id,
                    lease_ms=self.lease_ms,
                    config=self.services.config,
                    stopping=self._shutdown.is_set,
                ).run()
        except BaseException as exc:  # noqa: BLE001 - a broken job must not take the worker down
            self.errors.append(exc)
        finally:
            with self._lock:
                self._running.pop(claim.job_id, None)
            self._wake.set()
