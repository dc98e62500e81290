"""What a job asks for: an instance type read as cpus, memory and GPUs, or those given directly."""

from __future__ import annotations

from dataclasses import dataclass

from kibako.errors import ValidationError

# vCPUs, memory in GiB, GPUs: the published sizes of common SageMaker instance types.
INSTANCE_TYPES: dict[str, tuple[int, float, int]] = {
    "ml.t3.medium": (2, 4, 0),
    "ml.m5.large": (2, 8, 0),
    "ml.m5.xlarge": (4, 16, 0),
    "ml.m5.2xlarge": (8, 32, 0),
    "ml.m5.4xlarge": (16, 64, 0),
    "ml.m5.12xlarge": (48, 192, 0),
    "ml.c5.xlarge": (4, 8, 0),
    "ml.c5.2xlarge": (8, 16, 0),
    "ml.c5.4xlarge": (16, 32, 0),
    "ml.r5.xlarge": (4, 32, 0),
    "ml.g4dn.xlarge": (4, 16, 1),
    "ml.g4dn.12xlarge": (48, 192, 4),
    "ml.g5.xlarge": (4, 16, 1),
    "ml.g5.2xlarge": (8, 32, 1),
    "ml.p3.2xlarge": (8, 61, 1),
    "ml.p3.8xlarge": (32, 244, 4),
}


@dataclass(frozen=True)
class Resources:
    """One instance's share of the machine: cpus, memory in MiB and GPUs."""

    cpus: int
    memory_mib: int
    gpus: int


def resolve(
    instance_type: str | None = None,
    *,
    cpus: int | None = None,
    memory_gib: float | None = None,
    gpus: int | None = None,
) -> Resources:
    """Resources for an instance type, with any of cpus, memory and GPUs given directly taking precedence.

    With neither, a job gets one CPU, 1 GiB and no GPU.
    """
    base_cpus, base_memory, base_gpus = 1, 1.0, 0
    if instance_type is not None:
        known = INSTANCE_TYPES.get(instance_type)
        if known is None:
            raise ValidationError(
                f"unknown instance type {instance_type!r}; use one of {', '.join(sorted(INSTANCE_TYPES))}, "
                "or give --cpus, --memory and --gpus"
            )
        base_cpus, base_memory, base_gpus = known
    chosen = Resources(
        cpus=base_cpus if cpus is None else cpus,
        memory_mib=round((base_memory if memory_gib is None else memory_gib) * 1024),
        gpus=base_gpus if gpus is None else gpus,
    )
    if chosen.cpus < 1 or chosen.memory_mib < 1 or chosen.gpus < 0:
        raise ValidationError(f"a job needs at least 1 CPU and some memory, and no negative GPUs: {chosen}")
    return chosen
