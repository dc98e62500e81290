"""System metrics of a running job: CPU, memory and process count over its process tree, and GPUs via NVML.

``SystemSampler(pid, sink)`` samples the process and all its descendants every ``interval`` seconds in a
daemon thread and hands each sample to ``sink(values, timestamp_ms)``. Keys:

- ``system/cpu_percent``: the sum of ``cpu_percent`` over the tree (100 per busy core);
- ``system/memory_mib``: the sum of resident memory over the tree, in MiB;
- ``system/num_processes``: how many processes the tree holds;
- ``system/gpu{i}/utilization_percent`` and ``system/gpu{i}/memory_mib`` (used) for every GPU NVML sees, when
  the ``nvidia-ml-py`` package is installed and ``nvmlInit()`` succeeds; without it there are no GPU keys.

GPU values are machine-wide (the whole device), not the job's share of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from kibako.errors import ValidationError

log = logging.getLogger("kibako")

MIB = 1024 * 1024

_UNTRIED = object()
# The initialised ``pynvml`` module, None when NVML is unavailable, or _UNTRIED before the first use. Tests may
# set it to a fake module object (anything with the few ``nvml*`` functions used below).
_NVML: Any = _UNTRIED
_nvml_guard = threading.Lock()


def _nvml() -> Any | None:
    """The ``pynvml`` module, initialised once per process; None when it does not import or init fails."""
    global _NVML
    with _nvml_guard:
        if _NVML is _UNTRIED:
            try:
                import pynvml

                pynvml.nvmlInit()
                _NVML = pynvml
            except Exception:  # ImportError, NVMLError (no driver, no device), or a broken install
                _NVML = None
        return _NVML


def gpu_count() -> int:
    """How many GPUs NVML sees; 0 when NVML is not installed or does not initialise."""
    nvml = _nvml()
    if nvml is None:
        return 0
    try:
        return int(nvml.nvmlDeviceGetCount())
    except Exception:
        return 0


def gpu_values() -> dict[str, float]:
    """Utilisation and used memory of every GPU, as ``system/gpu{i}/...`` keys; empty without NVML.

    A GPU that fails to answer (fallen off the bus, reset) is left out of this sample rather than failing it.
    """
    nvml = _nvml()
    if nvml is None:
        return {}
    values: dict[str, float] = {}
    for index in range(gpu_count()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            utilization = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            used_mib = nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
        except Exception:
            continue
        values[f"system/gpu{index}/utilization_percent"] = utilization
        values[f"system/gpu{index}/memory_mib"] = float(used_mib)
    return values


def _now_ms() -> int:
    return int(time.time() * 1000)


class SystemSampler:
    """Samples a process tree (and the GPUs) every ``interval`` seconds and hands each sample to ``sink``.

    ``start()`` runs a daemon thread; ``stop()`` ends it promptly, taking one last sample when none was taken
    yet (so even a job shorter than ``interval`` reports once). The thread never raises: when the process has
    ended, sampling stops quietly, and an error in ``sink`` is logged and sampling goes on. ``sample()`` takes
    one sample now, with or without the thread. Also a context manager (``with`` starts and stops it).
    """

    def __init__(
        self,
        pid: int,
        sink: Callable[[dict[str, float], int], None],
        *,
        interval: float = 5.0,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if not interval > 0:
            raise ValidationError(f"the sampling interval must be positive, got {interval!r} seconds")
        self.pid = pid
        self.sink = sink
        self.interval = interval
        self.clock_ms = clock_ms or _now_ms
        self._processes: dict[int, Any] = {}  # pid -> psutil.Process, kept so cpu_percent has a baseline
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent = 0

    @property
    def samples_sent(self) -> int:
        """How many samples the thread has handed to the sink."""
        return self._sent

    def sample(self) -> dict[str, float]:
        """One sample of the process tree and the GPUs, now.

        Raises ``ProcessLookupError`` when the process has ended (or is a zombie awaiting its parent). CPU
        percentages are measured since this sampler last saw each process, so a process's first sample reads
        0.0.
        """
        values = self._tree_values()
        values.update(gpu_values())
        return values

    def _tree_values(self) -> dict[str, float]:
        import psutil

        with self._guard:
            try:
                root = self._same_process(psutil.Process(self.pid))
                if root.status() == psutil.STATUS_ZOMBIE:
                    raise psutil.NoSuchProcess(self.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                self._processes.clear()
                raise ProcessLookupError(f"process {self.pid} has ended") from None
            cpu, rss, seen = 0.0, 0, {}
            for found in tree:
                process = self._same_process(found)
                try:
                    with process.oneshot():
                        cpu += process.cpu_percent(interval=None)
                        rss += process.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue  # ended between listing and reading, or not ours to read
                seen[process.pid] = process
            self._processes = seen
        return {
            "system/cpu_percent": cpu,
            "system/memory_mib": rss / MIB,
            "system/num_processes": float(len(seen)),
        }

    def _same_process(self, found: Any) -> Any:
        """The Process object kept from earlier samples for this process, else ``found``.

        psutil's ``==`` compares pid and creation time, so a reused pid gets a fresh object (and baseline).
        """
        known = self._processes.get(found.pid)
        return known if known is not None and known == found else found

    def start(self) -> SystemSampler:
        """Start sampling in a daemon thread; returns the sampler. Starting twice is an error."""
        if self._thread is not None:
            raise RuntimeError("this sampler has been started already")
        self._thread = threading.Thread(target=self._loop, name=f"kibako-system-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (waiting up to ``timeout`` seconds for a sample in progress); a no-op if not started."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _loop(self) -> None:
        try:
            self._tree_values()  # the baseline for cpu_percent; nothing is sent
        except ProcessLookupError:
            return
        except Exception:
            log.warning("system metrics of process %s cannot be read", self.pid, exc_info=True)
            return
        while not self._stopping.wait(self.interval):
            if not self._send():
                return
        if self._sent == 0:
            self._send()

    def _send(self) -> bool:
        """Take a sample and hand it to the sink; False when sampling should end."""
        try:
            values = self.sample()
        except ProcessLookupError:
            return False
        except Exception:
            log.warning("system metrics of process %s cannot be read", self.pid, exc_info=True)
            return False
        try:
            self.sink(values, self.clock_ms())
        except Exception:
            log.warning("the system metrics sink failed", exc_info=True)
        self._sent += 1
        return True
