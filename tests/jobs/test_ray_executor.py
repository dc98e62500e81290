"""The Ray executor: jobs run end to end with each instance in a Ray actor of the session's local Ray."""

from __future__ import annotations

import json
import signal
import tarfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kibako.core.config import Config
from kibako.jobs.executors import Launch
from kibako.jobs.ray_executor import RayExecutor, RayInstance, choose_master, fit
from kibako.jobs.resources import Resources
from kibako.jobs.worker import Worker
from kibako.sdk.jobs import FINAL
from kibako.sdk.services import Services

pytestmark = pytest.mark.ray

TRAIN = """
import os, pathlib
parent = pathlib.Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
print(f"parent: {parent}", flush=True)
for epoch in range(3):
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.3f}", flush=True)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("trained")
"""

DDP = """
import json, os, pathlib, socket
import torch
import torch.distributed as dist

config = json.loads(pathlib.Path(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json").read_text())
print(f"current_host={config['current_host']} hosts={','.join(config['hosts'])} rank={os.environ['RANK']}"
      f" machine={socket.gethostname()}", flush=True)
dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
if dist.get_rank() == 0:
    result = {"sum": value.item(), "world": dist.get_world_size(), "master": os.environ["MASTER_ADDR"]}
    pathlib.Path(os.environ["SM_MODEL_DIR"], "allreduce.json").write_text(json.dumps(result))
dist.destroy_process_group()
"""

STUBBORN = """
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM, carrying on", flush=True))
print(f"started pid={os.getpid()}", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(Config.from_env({"KIBAKO_HOME": str(tmp_path / "home")}))
    yield opened
    opened.close()


def _submit(
    services: Services,
    tmp_path: Path,
    name: str,
    script: str,
    *,
    count: int = 1,
    grace: int | None = None,
    metrics: dict[str, str] | None = None,
) -> str:
    source = tmp_path / f"src-{name}"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(script))
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": 300}
    if grace is not None:
        stopping["GracePeriodInSeconds"] = grace
    services.jobs.create_training_job(
        {
            "TrainingJobName": name,
            "AlgorithmSpecification": {
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": k, "Regex": v} for k, v in (metrics or {}).items()],
            },
            "HyperParameters": {
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(str(source)),
            },
            "ResourceConfig": {"InstanceCount": count, "VolumeSizeInGB": 30, "Cpus": 1, "MemoryInGiB": 0.5},
            "StoppingCondition": stopping,
        }
    )
    return name


def _status(services: Services, name: str) -> str:
    return str(services.jobs.describe_job(name)["TrainingJobStatus"])


def _run(services: Services, executor: RayExecutor, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    # A short lease: the runner learns of a stop request when it renews the lease (every third of it).
    worker = Worker(services, executor, poll_seconds=0.05, lease_seconds=1.5)
    worker.run(until=lambda: _status(services, name) in FINAL or time.monotonic() > deadline)
    assert worker.errors == []
    return dict(services.jobs.describe_job(name))


def _in_background(services: Services, executor: RayExecutor, name: str) -> threading.Thread:
    thread = threading.Thread(target=_run, args=(services, executor, name), daemon=True)
    thread.start()
    return thread


def _wait_for(condition: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _all_cpus_free(ray: Any) -> None:
    """Every instance's actor was killed once its command ended, so the cluster has all its CPUs again."""
    _wait_for(lambda: ray.available_resources().get("CPU") == ray.cluster_resources()["CPU"], 15, "free CPUs")


def _log(services: Services, name: str, host: str = "algo-1") -> str:
    path = services.config.home / "jobs" / name / "logs" / f"{host}.log"
    return path.read_text() if path.exists() else ""


def _model_files(desc: dict[str, Any], tmp_path: Path) -> Path:
    uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    archive = Path(uri.removeprefix("file://"))
    assert archive.name == "model.tar.gz" and archive.is_file()
    out = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    return out


def test_a_job_runs_in_a_ray_actor_end_to_end(ray_cluster: Any, services: Services, tmp_path: Path) -> None:
    name = _submit(services, tmp_path, "ray-train", TRAIN, metrics={"loss": r"loss=([0-9.]+)"})
    executor = RayExecutor()
    assert executor.capacity().cpus == 2

    desc = _run(services, executor, name)

    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert (_model_files(desc, tmp_path) / "model.txt").read_text() == "trained"
    assert {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]} == {
        "loss": pytest.approx(0.333)
    }
    run = services.tracking.get_run(desc["RunId"])
    assert run.metrics["loss"].last_step == 2
    log = _log(services, name)
    assert "parent: ray::InstanceActor" in log  # the script's parent is the Ray worker holding the actor
    _all_cpus_free(ray_cluster)


def test_two_instances_run_torch_ddp_across_actors(
    ray_cluster: Any, services: Services, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    name = _submit(services, tmp_path, "ray-ddp", DDP, count=2)

    desc = _run(services, RayExecutor(), name, timeout=90)

    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    result = json.loads((_model_files(desc, tmp_path) / "allreduce.json").read_text())
    assert result["sum"] == 3.0 and result["world"] == 2
    assert result["master"] == ray_cluster.util.get_node_ip_address()
    for rank, host in enumerate(["algo-1", "algo-2"]):
        assert f"current_host={host} hosts=algo-1,algo-2 rank={rank}" in _log(services, name, host)
    _all_cpus_free(ray_cluster)


def test_stopping_a_running_job_signals_then_kills_it(
    ray_cluster: Any, services: Services, tmp_path: Path
) -> None:
    import psutil

    name = _submit(services, tmp_path, "ray-stop", STUBBORN, grace=2)
    thread = _in_background(services, RayExecutor(), name)
    _wait_for(lambda: "started pid=" in _log(services, name), 30, "the script to start")
    pid = int(_log(services, name).split("started pid=")[1].split()[0])

    asked = time.monotonic()
    services.jobs.stop_job(name)
    _wait_for(lambda: _status(services, name) in FINAL, 20, "the job to end")
    took = time.monotonic() - asked
    thread.join(10)

    assert _status(services, name) == "Stopped"
    assert 2 <= took < 2 + 3  # SIGTERM was ignored, so SIGKILL came once the 2 s grace period was over
    assert "got SIGTERM, carrying on" in _log(services, name)
    _wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 5, "the script to go"
    )
    _all_cpus_free(ray_cluster)


class _Recording(RayExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.instances: list[RayInstance] = []

    def launch(self, launch: Launch) -> RayInstance:
        instance = super().launch(launch)
        self.instances.append(instance)
        return instance


def test_a_lost_actor_fails_the_job_instead_of_raising(
    ray_cluster: Any, services: Services, tmp_path: Path
) -> None:
    name = _submit(services, tmp_path, "ray-lost", STUBBORN)
    executor = _Recording()
    thread = _in_background(services, executor, name)
    _wait_for(lambda: "started pid=" in _log(services, name), 30, "the script to start")
    instance = executor.instances[0]
    assert instance.pid == int(_log(services, name).split("started pid=")[1].split()[0])  # on this node
    assert instance.node_ip() == ray_cluster.util.get_node_ip_address()

    ray_cluster.kill(instance._actor)  # as if its node were lost
    _wait_for(lambda: _status(services, name) in FINAL, 20, "the job to end")
    thread.join(10)

    desc = services.jobs.describe_job(name)
    assert desc["TrainingJobStatus"] == "Failed"
    assert "exited with code -9" in desc["FailureReason"]
    assert "the Ray actor running this instance is gone" in _log(services, name)
    _all_cpus_free(ray_cluster)


def test_a_command_that_cannot_start_fails_with_the_reason_in_its_log(
    ray_cluster: Any, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "algo-1.log"
    launch = Launch(["/nonexistent/python", "x.py"], {}, tmp_path, log, Resources(1, 256, 0))
    instance = RayExecutor().launch(launch)

    _wait_for(lambda: instance.poll() is not None, 30, "the instance to end")

    assert instance.poll() == 127
    # Either the actor could not start it, or setpriv (which starts it with the parent-death signal) says why.
    assert "/nonexistent/python" in log.read_text() and "No such file" in log.read_text()
    instance.signal(signal.SIGTERM)  # nothing to signal any more: no error
    _all_cpus_free(ray_cluster)


def _node(node_id: str, address: str, cpus: float, memory_gib: float = 8, gpus: float = 0) -> dict[str, Any]:
    resources = {"CPU": cpus, "memory": memory_gib * 1024**3, **({"GPU": gpus} if gpus else {})}
    return {"NodeID": node_id, "NodeManagerAddress": address, "Alive": True, "Resources": resources}


def test_instance_zero_goes_to_the_workers_node_or_the_largest() -> None:
    head, big, small = _node("a", "10.0.0.1", 0), _node("b", "10.0.0.2", 16), _node("c", "10.0.0.3", 4)
    assert choose_master([head, big, small], "10.0.0.3") is small  # this machine's node
    assert choose_master([head, big, small], "10.0.0.1") is big  # this machine's node has no CPUs
    assert choose_master([head, big, small], None) is big  # through Ray Client
    assert choose_master([], "10.0.0.1") is None


def test_an_instance_asks_ray_for_no_more_than_a_node_and_its_share() -> None:
    nodes = [_node("a", "10.0.0.1", 4, 8), _node("b", "10.0.0.2", 2, 4, gpus=1)]
    cluster = {"CPU": 6.0, "memory": 12 * 1024**3, "GPU": 1.0}
    assert fit(Resources(2, 1024, 0), nodes, cluster) == (2, 0, 1024**3)
    assert fit(Resources(16, 64 * 1024, 4), nodes, cluster) == (4, 1, 8 * 1024**3)
    assert fit(Resources(4, 1024, 1), nodes, cluster, world=2) == (3, 0.5, 1024**3)
    assert fit(Resources(4, 1024, 0), nodes[1:], cluster, world=1) == (2, 0, 1024**3)  # pinned to node b
