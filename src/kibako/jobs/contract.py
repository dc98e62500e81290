"""The SageMaker training contract, laid out in a job's own folder.

A job folder has the shape of ``/opt/ml``: ``input/config/{hyperparameters,inputdataconfig,resourceconfig}.json``,
``input/data/<channel>``, ``model``, ``output/{data,intermediate,failure}``, ``checkpoints`` and ``code``. The
script sees it either at ``/opt/ml`` itself (when the executor can mount it there) or at the folder's own
path; ``seen_at`` says which, and every path in the environment and config files uses it.

Hyperparameters follow the SageMaker SDK: each value is stored JSON-encoded as a string in
``hyperparameters.json`` (``5`` as ``"5"``, ``"adam"`` as ``"\\"adam\\""``), decoded again for ``SM_HPS``, and
passed to the script as ``--name value`` arguments; ``sagemaker_*`` keys are settings, never arguments.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kibako.errors import ValidationError

FAILURE_REASON_LIMIT = 1024
SETTING_PREFIX = "sagemaker_"


@dataclass(frozen=True)
class JobPaths:
    """The contract's paths under one base (the job folder, or ``/opt/ml`` as the script sees it)."""

    base: Path

    @property
    def input(self) -> Path:
        return self.base / "input"

    @property
    def config(self) -> Path:
        return self.base / "input" / "config"

    @property
    def data(self) -> Path:
        return self.base / "input" / "data"

    @property
    def model(self) -> Path:
        return self.base / "model"

    @property
    def output(self) -> Path:
        return self.base / "output"

    @property
    def output_data(self) -> Path:
        return self.base / "output" / "data"

    @property
    def intermediate(self) -> Path:
        return self.base / "output" / "intermediate"

    @property
    def failure(self) -> Path:
        return self.base / "output" / "failure"

    @property
    def checkpoints(self) -> Path:
        return self.base / "checkpoints"

    @property
    def code(self) -> Path:
        return self.base / "code"

    def channel(self, name: str) -> Path:
        return self.data / name


@dataclass(frozen=True)
class TrainingContract:
    """What a training script needs to find, and how it is started."""

    job_name: str
    job_arn: str
    entry_point: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Path] = field(default_factory=dict)
    source_dir: Path | None = None
    hosts: tuple[str, ...] = ("algo-1",)
    current_host: str = "algo-1"
    num_cpus: int = 1
    num_gpus: int = 0
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedJob:
    """A laid-out job folder, and the environment and arguments to start its script with."""

    folder: JobPaths
    seen: JobPaths
    env: dict[str, str]
    argv: list[str]


def encode_hyperparameters(values: dict[str, Any]) -> dict[str, str]:
    """Each value JSON-encoded as a string, as the SageMaker SDK writes them; refuses what JSON cannot hold."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValidationError(f"hyperparameter names are non-empty strings, got {name!r}")
        try:
            out[name] = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"hyperparameter {name!r} = {value!r} cannot be written as JSON ({exc}); pass numbers, strings, "
                "booleans, lists or dicts"
            ) from None
    return out


def decode_hyperparameter(raw: str) -> Any:
    """A stored value back to Python; a plain string that is not JSON stays as it is (as the toolkit does)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def script_arguments(stored: dict[str, str]) -> list[str]:
    """``--name value`` pairs for every hyperparameter that is not a ``sagemaker_*`` setting."""
    argv: list[str] = []
    for name in sorted(stored):
        if name.startswith(SETTING_PREFIX):
            continue
        value = decode_hyperparameter(stored[name])
        argv += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    return argv


def prepare(contract: TrainingContract, root: Path, *, seen_at: Path | None = None) -> PreparedJob:
    """Lay out ``root`` as the job's ``/opt/ml`` and compute the script's environment and arguments.

    Checks come first (the entry point exists, every channel exists, hyperparameters are JSON): on bad input
    nothing is created, so a retry never meets a half-made folder.
    """
    stored = encode_hyperparameters(contract.hyperparameters)
    source = contract.source_dir
    script = (source / contract.entry_point) if source else Path(contract.entry_point)
    if not script.is_file():
        raise ValidationError(
            f"entry point {script} does not exist; give the script's path (and --source-dir)"
        )
    for name, path in contract.channels.items():
        if not name or "/" in name:
            raise ValidationError(f"channel name {name!r} must be non-empty and hold no '/'")
        if not Path(path).exists():
            raise ValidationError(f"channel {name!r}: {path} does not exist")
    if contract.current_host not in contract.hosts:
        raise ValidationError(f"current host {contract.current_host!r} is not one of {list(contract.hosts)}")
    if root.exists() and any(root.iterdir()):
        raise ValidationError(f"job folder {root} is not empty; each job needs a fresh folder")

    folder = JobPaths(root)
    seen = JobPaths(seen_at or root)
    try:
        _lay_out(contract, folder, script if source is None else source)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # a failed copy must not leave a folder that blocks a retry
        raise
    return _start_spec(contract, stored, seen, folder)


def _lay_out(contract: TrainingContract, folder: JobPaths, code: Path) -> None:
    for path in (
        folder.config,
        folder.data,
        folder.model,
        folder.output_data,
        folder.intermediate,
        folder.checkpoints,
        folder.code,
    ):
        path.mkdir(parents=True, exist_ok=True)
    _copy_code(code, folder.code)
    for name, path in contract.channels.items():
        _place_channel(Path(path), folder.channel(name))
    input_config, resource_config = _configs(contract)
    _write_json(folder.config / "hyperparameters.json", encode_hyperparameters(contract.hyperparameters))
    _write_json(folder.config / "inputdataconfig.json", input_config)
    _write_json(folder.config / "resourceconfig.json", resource_config)


def _configs(contract: TrainingContract) -> tuple[dict[str, Any], dict[str, Any]]:
    input_config = {
        name: {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for name in sorted(contract.channels)
    }
    resource_config = {
        "current_host": contract.current_host,
        "hosts": sorted(contract.hosts),
        "network_interface_name": "eth0",
    }
    return input_config, resource_config


def _start_spec(
    contract: TrainingContract, stored: dict[str, str], seen: JobPaths, folder: JobPaths
) -> PreparedJob:
    input_config, resource_config = _configs(contract)
    entry_name = Path(contract.entry_point).name
    argv = script_arguments(stored)
    hps = {k: decode_hyperparameter(v) for k, v in stored.items() if not k.startswith(SETTING_PREFIX)}
    channels = sorted(contract.channels)
    env = {
        "TRAINING_JOB_NAME": contract.job_name,
        "TRAINING_JOB_ARN": contract.job_arn,
        "SM_MODEL_DIR": str(seen.model),
        "SM_INPUT_DIR": f"{seen.input}/",
        "SM_INPUT_CONFIG_DIR": str(seen.config),
        "SM_OUTPUT_DIR": str(seen.output),
        "SM_OUTPUT_DATA_DIR": str(seen.output_data),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(seen.intermediate),
        "SM_CHANNELS": json.dumps(channels),
        "SM_HPS": json.dumps(hps),
        "SM_USER_ARGS": json.dumps(argv),
        "SM_CURRENT_HOST": contract.current_host,
        "SM_HOSTS": json.dumps(sorted(contract.hosts)),
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_NUM_CPUS": str(contract.num_cpus),
        "SM_NUM_GPUS": str(contract.num_gpus),
        "SM_NUM_NEURONS": "0",
        "SM_LOG_LEVEL": "20",
        "SM_RESOURCE_CONFIG": json.dumps(resource_config),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_config),
        "SM_MODULE_DIR": str(seen.code),
        "SM_MODULE_NAME": Path(entry_name).stem,
        "SM_USER_ENTRY_POINT": entry_name,
    }
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = str(seen.channel(name))
    for name, value in hps.items():
        env[f"SM_HP_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    env["SM_TRAINING_ENV"] = json.dumps(
        {
            "job_name": contract.job_name,
            "channel_input_dirs": {n: str(seen.channel(n)) for n in channels},
            "current_host": contract.current_host,
            "hosts": sorted(contract.hosts),
            "hyperparameters": hps,
            "input_config_dir": str(seen.config),
            "input_data_config": input_config,
            "input_dir": str(seen.input),
            "model_dir": str(seen.model),
            "module_dir": str(seen.code),
            "module_name": Path(entry_name).stem,
            "num_cpus": contract.num_cpus,
            "num_gpus": contract.num_gpus,
            "output_data_dir": str(seen.output_data),
            "output_dir": str(seen.output),
            "resource_config": resource_config,
            "user_entry_point": entry_name,
        }
    )
    env.update(contract.environment)
    return PreparedJob(folder, seen, env, argv)


def failure_reason(folder: JobPaths, exit_code: int, log_tail: str = "") -> str:
    """What a failed job reports: the script's failure file (first 1,024 characters), else the exit code and
    the end of its log."""
    if folder.failure.is_file():
        text = folder.failure.read_text(errors="replace").strip()
        if text:
            return text[:FAILURE_REASON_LIMIT]
    reason = f"AlgorithmError: the script exited with code {exit_code}"
    if log_tail.strip():
        reason += f": {log_tail.strip()}"
    return reason[:FAILURE_REASON_LIMIT]


def _copy_code(source: Path, code_dir: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, code_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(source, code_dir / source.name)


def _place_channel(source: Path, target: Path) -> None:
    """A channel's files copied into ``input/data/<name>``. Copies, not links: a script that writes to or
    deletes its input must never reach the user's own data."""
    if source.is_file():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / source.name)
        return
    shutil.copytree(source, target, dirs_exist_ok=True)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True))
