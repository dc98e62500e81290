"""System metrics of a job's process tree: CPU, memory, process count, GPUs through NVML (faked here)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

import kibako
from kibako.jobs import system
from kibako.jobs.system import SystemSampler, gpu_count, gpu_values

CHILD = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(grandchild.pid, flush=True)
try:
    time.sleep(60)
finally:
    grandchild.kill()
"""
IDLE = "import time; time.sleep(60)"
BUSY = "while True: pass"
TREE_KEYS = {"system/cpu_percent", "system/memory_mib", "system/num_processes"}


@dataclass
class Tree:
    child: subprocess.Popen[str]
    grandchild_pid: int


def _spawn(grandchild_code: str) -> Tree:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, grandchild_code], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return Tree(child, int(child.stdout.readline()))


def _end(tree: Tree) -> None:
    import psutil

    try:
        psutil.Process(tree.grandchild_pid).kill()
    except psutil.NoSuchProcess:
        pass
    tree.child.kill()
    tree.child.communicate()


@pytest.fixture
def idle_tree() -> Iterator[Tree]:
    tree = _spawn(IDLE)
    yield tree
    _end(tree)


@pytest.fixture
def busy_tree() -> Iterator[Tree]:
    tree = _spawn(BUSY)
    yield tree
    _end(tree)


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import pynvml`` fails, as on a machine without nvidia-ml-py."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(system, "_NVML", system._UNTRIED)


def _fake_nvml(*, gpus: int = 2, init_error: bool = False, broken: set[int] | None = None) -> SimpleNamespace:
    calls = {"init": 0}

    def init() -> None:
        calls["init"] += 1
        if init_error:
            raise RuntimeError("NVML Shared Library Not Found")

    def handle(index: int) -> int:
        if index in (broken or set()):
            raise RuntimeError("GPU is lost")
        return index

    return SimpleNamespace(
        calls=calls,
        nvmlInit=init,
        nvmlDeviceGetCount=lambda: gpus,
        nvmlDeviceGetHandleByIndex=handle,
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=10 * (h + 1), memory=5),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=(h + 1) * 512 * 1024 * 1024, total=2**34),
    )


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fake ``pynvml`` that imports and initialises: two GPUs, at 10% / 512 MiB and 20% / 1024 MiB."""
    fake = _fake_nvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(system, "_NVML", system._UNTRIED)
    return fake


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_sample_covers_the_process_and_its_descendants(idle_tree: Tree, no_nvml: None) -> None:
    values = SystemSampler(idle_tree.child.pid, lambda v, t: None).sample()
    assert set(values) == TREE_KEYS
    assert values["system/num_processes"] == 2
    assert 1 < values["system/memory_mib"] < 4096
    alone = SystemSampler(idle_tree.grandchild_pid, lambda v, t: None).sample()
    assert alone["system/num_processes"] == 1
    assert alone["system/memory_mib"] < values["system/memory_mib"]


def test_cpu_percent_counts_a_busy_descendant_from_the_second_sample(busy_tree: Tree, no_nvml: None) -> None:
    sampler = SystemSampler(busy_tree.child.pid, lambda v, t: None)
    assert sampler.sample()["system/cpu_percent"] == 0.0  # psutil's first reading of each process
    time.sleep(0.3)
    assert sampler.sample()["system/cpu_percent"] > 10


def test_the_thread_hands_samples_to_the_sink_with_the_clock(idle_tree: Tree, no_nvml: None) -> None:
    received: list[tuple[dict[str, float], int]] = []
    two = threading.Event()

    def sink(values: dict[str, float], timestamp_ms: int) -> None:
        received.append((values, timestamp_ms))
        if len(received) >= 2:
            two.set()

    with SystemSampler(idle_tree.child.pid, sink, interval=0.05, clock_ms=lambda: 1234):
        assert two.wait(10)
    assert all(set(values) == TREE_KEYS and stamp == 1234 for values, stamp in received)
    assert received[0][0]["system/num_processes"] == 2
    count = len(received)
    time.sleep(0.2)
    assert len(received) == count  # stopped: nothing more arrives


def test_stop_is_prompt_and_takes_one_sample_when_none_was_taken(idle_tree: Tree, no_nvml: None) -> None:
    received: list[dict[str, float]] = []
    sampler = SystemSampler(idle_tree.child.pid, lambda v, t: received.append(v), interval=60)
    sampler.start()
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 2
    assert len(received) == 1 and set(received[0]) == TREE_KEYS
    assert sampler.samples_sent == 1


def test_stop_without_start_does_nothing() -> None:
    received: list[dict[str, float]] = []
    SystemSampler(1, lambda v, t: received.append(v)).stop()
    assert received == []


def test_starting_twice_is_refused(idle_tree: Tree, no_nvml: None) -> None:
    with SystemSampler(idle_tree.child.pid, lambda v, t: None, interval=60) as sampler:
        with pytest.raises(RuntimeError, match="started already"):
            sampler.start()


def test_a_vanished_process_ends_sampling_quietly(no_nvml: None) -> None:
    process = subprocess.Popen([sys.executable, "-c", IDLE])
    received = threading.Event()
    sampler = SystemSampler(process.pid, lambda v, t: received.set(), interval=0.05).start()
    assert received.wait(10)
    process.kill()
    process.wait()
    assert sampler._thread is not None
    sampler._thread.join(10)  # ends by itself, without stop()
    assert not sampler._thread.is_alive()
    sampler.stop()
    with pytest.raises(ProcessLookupError, match=str(process.pid)):
        sampler.sample()


def test_a_zombie_counts_as_ended(no_nvml: None) -> None:
    import psutil

    process = subprocess.Popen([sys.executable, "-c", IDLE])
    try:
        process.kill()
        _wait_for(lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE)
        with pytest.raises(ProcessLookupError):
            SystemSampler(process.pid, lambda v, t: None).sample()
    finally:
        process.wait()


def test_a_process_that_never_existed_sends_nothing(no_nvml: None) -> None:
    import psutil

    pid = max(psutil.pids()) + 100_000
    received: list[dict[str, float]] = []
    with SystemSampler(pid, lambda v, t: received.append(v), interval=0.05):
        pass
    assert received == []


def test_a_failing_sink_does_not_stop_sampling(
    idle_tree: Tree, no_nvml: None, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    second = threading.Event()

    def sink(values: dict[str, float], timestamp_ms: int) -> None:
        calls.append(timestamp_ms)
        if len(calls) == 1:
            raise OSError("disk full")
        second.set()

    with SystemSampler(idle_tree.child.pid, sink, interval=0.05):
        assert second.wait(10)
    assert "sink failed" in caplog.text


def test_a_non_positive_interval_is_refused() -> None:
    with pytest.raises(kibako.ValidationError, match="interval must be positive"):
        SystemSampler(1, lambda v, t: None, interval=0)


def test_without_nvml_there_are_no_gpus(no_nvml: None) -> None:
    assert gpu_count() == 0
    assert gpu_values() == {}


def test_nvml_that_fails_to_initialise_means_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_nvml(init_error=True)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(system, "_NVML", system._UNTRIED)
    assert gpu_count() == 0
    assert gpu_values() == {}
    assert fake.calls["init"] == 1  # not retried on every sample


def test_gpu_values_come_from_nvml_initialised_once(idle_tree: Tree, fake_nvml: Any) -> None:
    assert gpu_count() == 2
    values = SystemSampler(idle_tree.child.pid, lambda v, t: None).sample()
    assert {k: v for k, v in values.items() if k.startswith("system/gpu")} == {
        "system/gpu0/utilization_percent": 10.0,
        "system/gpu0/memory_mib": 512.0,
        "system/gpu1/utilization_percent": 20.0,
        "system/gpu1/memory_mib": 1024.0,
    }
    assert TREE_KEYS <= set(values)
    assert fake_nvml.calls["init"] == 1


def test_a_gpu_that_fails_to_answer_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "_NVML", _fake_nvml(gpus=3, broken={1}))
    assert sorted(gpu_values()) == [
        "system/gpu0/memory_mib",
        "system/gpu0/utilization_percent",
        "system/gpu2/memory_mib",
        "system/gpu2/utilization_percent",
    ]
