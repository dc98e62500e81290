"""Where a job's instances run: ``local`` (subprocesses of the worker) or ``ray`` (one Ray actor per instance).

Both start the instance's command with its output appended to a log file the worker reads, and both give back
a handle that can be polled and signalled. The Ray executor needs the job folders on storage every node sees
(``KIBAKO_HOME`` on a shared filesystem) when the cluster has more than one machine.
"""

from __future__ import annotations

import ctypes
import functools
import os
import select
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kibako.jobs.resources import Resources

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Launch:
    """One instance of a job: what to run, where, and what it may use."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    resources: Resources


class Instance(Protocol):
    def poll(self) -> int | None:
        """The exit code once the instance has ended, else None."""

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the instance's whole process group (nothing if it has ended)."""


class Executor(Protocol):
    name: str

    def capacity(self) -> Resources:
        """Everything this executor may hand out at once."""

    def launch(self, launch: Launch) -> Instance: ...

    def master_address(self) -> str:
        """The address instance ``algo-1`` is reachable at from the others (torch's MASTER_ADDR)."""


def _die_with_parent() -> None:
    # A killed worker must not leave its scripts running: they get SIGKILL when the worker goes.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


@functools.cache
def _setpriv() -> str | None:
    return shutil.which("setpriv")


def start_process(launch: Launch) -> subprocess.Popen[bytes]:
    launch.log.parent.mkdir(parents=True, exist_ok=True)
    # The parent-death signal through setpriv (util-linux) keeps Python's fast process start; a preexec_fn
    # would force the slow fork path and hold the worker thread.
    setpriv = _setpriv() if os.name == "posix" else None
    argv = [setpriv, "--pdeathsig", "KILL", *launch.argv] if setpriv else launch.argv
    with open(launch.log, "ab") as log:
        return subprocess.Popen(
            argv,
            env=launch.env,
            cwd=launch.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if setpriv or os.name != "posix" else _die_with_parent,  # noqa: PLW1509
        )


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


class LocalInstance:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def signal(self, sig: int) -> None:
        signal_group(self.process, sig)

    def wait(self, timeout: float) -> None:
        """Return when the process ends or after ``timeout`` seconds, whichever comes first."""
        if self.process.poll() is not None:
            return
        try:
            fd = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):  # no pidfd (not Linux, or an old kernel): sleep-poll instead
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return
        try:
            select.select([fd], [], [], timeout)
        finally:
            os.close(fd)


class LocalExecutor:
    """Instances as subprocesses of this worker; the machine's cpus, memory and GPUs are the slots."""

    name = "local"

    def __init__(self, capacity: Resources | None = None) -> None:
        self._capacity = capacity

    def capacity(self) -> Resources:
        if self._capacity is None:
            import psutil

            from kibako.jobs.system import gpu_count

            self._capacity = Resources(
                cpus=os.cpu_count() or 1,
                memory_mib=int(psutil.virtual_memory().total // (1024 * 1024)),
                gpus=gpu_count(),
            )
        return self._capacity

    def launch(self, launch: Launch) -> Instance:
        return LocalInstance(start_process(launch))

    def master_address(self) -> str:
        return "127.0.0.1"


def executor_for(name: str, capacity: Resources | None = None) -> Any:
    """The executor called ``name`` (``KIBAKO_EXECUTOR``): ``local``, or ``ray`` / ``ray://...`` / ``auto``."""
    if name == "local":
        return LocalExecutor(capacity)
    if name == "ray" or name == "auto" or name.startswith("ray://"):
        from kibako.jobs.ray_executor import RayExecutor

        return RayExecutor(None if name == "ray" else name)
    from kibako.errors import ValidationError

    raise ValidationError(f"KIBAKO_EXECUTOR is 'local', 'ray', 'auto' or 'ray://host:port', not {name!r}")
