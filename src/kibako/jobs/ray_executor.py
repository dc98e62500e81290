"""Instances as Ray actors (``KIBAKO_EXECUTOR=ray``, ``auto`` or ``ray://host:port``).

Each instance of a job is one Ray actor that holds the instance's cpus, memory and GPUs and starts the
instance's command on its node with the same ``start_process`` the local executor uses: the command's output
is appended to the same log file, and polling and signalling are actor calls. Once the command has ended, its
exit code is kept and the actor killed, which gives its resources back to the cluster. An actor that dies
(its node was lost) reads as an instance killed by SIGKILL (exit code -9), with a note in its log.

``RayExecutor(None)`` follows ``ray.init()``'s own rules (``RAY_ADDRESS``, else a new local Ray); ``"auto"``
attaches to the cluster this machine is part of; ``"ray://host:port"`` connects through Ray Client. Ray is
imported on first use, never when this module is imported.

A cluster of more than one machine needs:

- ``KIBAKO_HOME`` on a filesystem every node mounts at the same path (NFS or the like): the worker prepares
  each instance's folder and reads its log and model folder there, while the instance runs on another node.
  ``KIBAKO_DATABASE_URL`` (PostgreSQL) and ``KIBAKO_ARTIFACT_URI`` (an object store) reachable from every node.
- kibako installed on every node (the actor is kibako's code), and the scripts' dependencies. The command
  names the worker's Python; a node where that path does not exist runs it with the node's own Python.
- The /opt/ml sandbox (``unshare`` as root, or ``bwrap``) is chosen on the worker's machine, so the nodes
  need the same one.

Placement: the runner asks for ``MASTER_ADDR`` (:meth:`RayExecutor.master_address`) before it launches the
instances, so the executor picks the node first (the worker's own node when it is part of the cluster and has
CPUs, else the node with the most CPUs) and then pins instance ``algo-1`` (``RANK=0``) to it; the other
instances go wherever Ray has room. ``MASTER_PORT`` is chosen free on the worker's machine, which on another
node is only very likely free. Each instance's resources are clamped to what one node has, and to its share of
the cluster, so no instance waits for a node that cannot exist and a multi-instance job is never left with
one instance waiting for another's resources.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from kibako.jobs.executors import Launch, signal_group, start_process
from kibako.jobs.resources import Resources

MIB = 1024 * 1024
LOST = -9  # what a lost actor reads as: the instance was killed
START_FAILED = 127  # the command could not be started on its node (as a shell says for "cannot execute")
POLL_WAIT_SECONDS = 0.1
INFO_WAIT_SECONDS = 15.0
SIGNAL_WAIT_SECONDS = 5.0
REAP_SECONDS = 2.0


class RayExecutor:
    """One Ray actor per instance; the slots are the whole cluster's cpus, memory and GPUs."""

    name = "ray"

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._remote_class: Any = None
        self._masters: dict[str, str] = {}  # a MASTER_ADDR handed out -> the node algo-1 is then pinned to

    def _ray(self) -> Any:
        import ray

        with self._lock:
            if not ray.is_initialized():
                ray.init(self.address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
            if self._remote_class is None:
                self._remote_class = ray.remote(InstanceActor)
        return ray

    def capacity(self) -> Resources:
        total = self._ray().cluster_resources()
        return Resources(
            cpus=int(total.get("CPU", 0)),
            memory_mib=int(total.get("memory", 0) // MIB),
            gpus=int(total.get("GPU", 0)),
        )

    def launch(self, launch: Launch) -> RayInstance:
        ray = self._ray()
        nodes = _alive_nodes(ray)
        pinned = self._pinned_node(launch, nodes)
        world = int(launch.env.get("WORLD_SIZE") or 1)
        cpus, gpus, memory = fit(
            launch.resources, [pinned] if pinned else nodes, ray.cluster_resources(), world
        )
        options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": gpus, "max_restarts": 0}
        if memory > 0:
            options["memory"] = memory
        if pinned is not None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(pinned["NodeID"], soft=False)
        actor = self._remote_class.options(**options).remote(launch, sys.executable)
        return RayInstance(
            actor, launch.log, local_ip=None if _client_mode(ray) else ray.util.get_node_ip_address()
        )

    def master_address(self) -> str:
        ray = self._ray()
        here = None if _client_mode(ray) else ray.util.get_node_ip_address()
        node = choose_master(_alive_nodes(ray), here)
        if node is None:
            return here or "127.0.0.1"
        address = str(node["NodeManagerAddress"])
        with self._lock:
            self._masters[address] = str(node["NodeID"])
        return address

    def _pinned_node(self, launch: Launch, nodes: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The node instance ``algo-1`` of a multi-instance job must run on: the one its MASTER_ADDR names."""
        address = launch.env.get("MASTER_ADDR")
        if not address or launch.env.get("RANK") != "0":
            return None
        with self._lock:
            node_id = self._masters.get(address)
        by_id = [n for n in nodes if n["NodeID"] == node_id]
        by_address = sorted(
            (n for n in nodes if n["NodeManagerAddress"] == address), key=lambda n: n["NodeID"]
        )
        found = by_id or by_address
        return found[0] if found else None


class InstanceActor:
    """Runs on the instance's node (as ``ray.remote(InstanceActor)``): starts the command and answers for it.

    Its calls run one at a time on the actor's main thread, which lives as long as the actor: the command's
    parent-death signal is tied to that thread, so killing the actor kills the command too.
    """

    def __init__(self, launch: Launch, worker_python: str) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        try:
            self.process = start_process(_on_this_node(launch, worker_python))
        except Exception as exc:  # noqa: BLE001 - reported as the instance's failure, with the reason in its log
            self.error = f"{type(exc).__name__}: {exc}"
            _note(launch.log, f"could not start the instance on {socket.gethostname()}: {self.error}")

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "pid": self.process.pid if self.process else None,
            "node_ip": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": socket.gethostname(),
            "error": self.error,
        }

    def poll(self) -> int | None:
        return START_FAILED if self.process is None else self.process.poll()

    def signal(self, sig: int) -> int | None:
        """Signal the command's process group; after SIGKILL, wait a moment for its exit code."""
        if self.process is None:
            return START_FAILED
        signal_group(self.process, sig)
        if sig == signal.SIGKILL:
            try:
                self.process.wait(REAP_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        return self.process.poll()


class RayInstance:
    """The worker's handle on one instance's actor (the Instance protocol)."""

    def __init__(self, actor: Any, log: Path, *, local_ip: str | None) -> None:
        self._actor = actor
        self._log = log
        self._local_ip = local_ip  # None through Ray Client: no instance is on the worker's machine
        self._info_ref = actor.info.remote()
        self._info: dict[str, Any] | None = None
        self._pending: Any = None  # the poll call in flight, reused until it answers
        self._code: int | None = None

    @property
    def pid(self) -> int:
        """The command's pid, only for an instance on this machine: the runner samples its system metrics with
        psutil, which cannot see another node's processes (elsewhere, reading it raises AttributeError)."""
        info = self.info()
        if (
            info
            and info["pid"] is not None
            and self._local_ip is not None
            and info["node_ip"] == self._local_ip
        ):
            return int(info["pid"])
        raise AttributeError("pid: the instance does not run on this machine")

    def info(self) -> dict[str, Any] | None:
        """Where the instance runs (pid, node_ip, node_id, hostname), once its actor has started."""
        if self._info is None:
            import ray
            from ray.exceptions import GetTimeoutError, RayError

            try:
                self._info = ray.get(self._info_ref, timeout=INFO_WAIT_SECONDS)
            except GetTimeoutError:
                return None
            except RayError:
                self._info = {}
        return self._info or None

    def hostname(self) -> str | None:
        info = self.info()
        return info["hostname"] if info else None

    def node_ip(self) -> str | None:
        info = self.info()
        return info["node_ip"] if info else None

    def poll(self) -> int | None:
        if self._code is not None:
            return self._code
        import ray
        from ray.exceptions import ActorUnavailableError, RayError

        if self._pending is None:
            self._pending = self._actor.poll.remote()
        ready, _ = ray.wait([self._pending], timeout=POLL_WAIT_SECONDS)
        if not ready:
            return None  # the actor is still starting (or waiting for room on the cluster)
        ref, self._pending = self._pending, None
        try:
            code = ray.get(ref)
        except ActorUnavailableError:
            return None
        except RayError as exc:
            _note(self._log, f"the Ray actor running this instance is gone: {_brief(exc)}")
            return self._end(LOST)
        return None if code is None else self._end(int(code))

    def signal(self, sig: int) -> None:
        if self._code is not None:
            return
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        ref = self._actor.signal.remote(sig)
        if sig != signal.SIGKILL:
            # Calls reach an actor in order: one still starting gets the signal right after it starts the command.
            ray.wait([ref], timeout=POLL_WAIT_SECONDS)
            return
        try:
            code = ray.get(ref, timeout=SIGNAL_WAIT_SECONDS)
        except (GetTimeoutError, RayError):
            code = None  # not started yet, or gone: killing the actor takes the command with it
        self._end(LOST if code is None else int(code))

    def _end(self, code: int) -> int:
        self._code = code
        import ray

        try:
            ray.kill(self._actor)
        except Exception:  # noqa: BLE001 - already gone
            pass
        return code


# -- placement ---------------------------------------------------------------------------------------------


def choose_master(nodes: list[dict[str, Any]], here: str | None) -> dict[str, Any] | None:
    """The node for instance ``algo-1``: this machine's node when it has CPUs, else the one with the most."""
    candidates = [n for n in nodes if n["Resources"].get("CPU", 0) > 0] or nodes
    if not candidates:
        return None
    local = sorted((n for n in candidates if n["NodeManagerAddress"] == here), key=lambda n: n["NodeID"])
    if local:
        return local[0]
    return max(candidates, key=lambda n: (n["Resources"].get("CPU", 0), n["NodeID"]))


def fit(
    asked: Resources, nodes: list[dict[str, Any]], cluster: dict[str, float], world: int = 1
) -> tuple[float, float, int]:
    """(cpus, gpus, memory bytes) for one instance: what it asked for, at most what the largest of ``nodes``
    has and at most its share of the ``cluster`` among ``world`` instances."""

    def most(key: str) -> float:
        return max((float(n["Resources"].get(key, 0.0)) for n in nodes), default=0.0)

    def share(key: str) -> float:
        return float(cluster.get(key, 0.0)) / max(world, 1)

    cpus = _quantity(min(asked.cpus, most("CPU"), share("CPU")))
    gpus = _quantity(min(asked.gpus, most("GPU"), share("GPU")))
    memory = int(min(asked.memory_mib * MIB, most("memory"), share("memory")))
    return cpus, gpus, max(memory, 0)


def _quantity(value: float) -> float:
    # Ray takes fractions of a CPU or GPU below one, and whole numbers above.
    if value <= 0:
        return 0
    return float(math.floor(value)) if value >= 1 else math.floor(value * 10_000) / 10_000


def _alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _client_mode(ray: Any) -> bool:
    return bool(ray.util.client.ray.is_connected())


# -- on the node -------------------------------------------------------------------------------------------


def _on_this_node(launch: Launch, worker_python: str) -> Launch:
    """The launch as this node runs it: its own Python if the worker's is not here, and the GPUs Ray gave it."""
    argv = launch.argv
    if not os.path.exists(worker_python):
        argv = [sys.executable if arg == worker_python else arg for arg in argv]
    env = dict(launch.env)
    import ray

    gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU") or []
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    return replace(launch, argv=argv, env=env)


def _note(log: Path, message: str) -> None:
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            f.write(f"==== kibako: {message} ====\n".encode())
    except OSError:
        pass


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:2000]
