"""kibako jobs train|process|list|describe|logs|stop, and kibako worker"""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, finish_submitted, message, table
from kibako.cli._parse import hyperparameters, pairs

app = typer.Typer(
    help="Training and processing jobs: SageMaker scripts, run here unchanged.", no_args_is_help=True
)

_KINDS = ("Training", "Processing", "Transform")


def _field(desc: dict[str, Any], suffix: str) -> Any:
    """``TrainingJobName`` / ``ProcessingJobName`` / ``TransformJobName`` (by ``suffix``), whichever is there."""
    return next((desc[f"{k}{suffix}"] for k in _KINDS if desc.get(f"{k}{suffix}") is not None), None)


def _finish(job: Any, wait: bool, as_json: bool) -> None:
    desc = job.describe()
    status = _field(desc, "JobStatus")
    finish_submitted(job.name, desc, status, wait=wait, as_json=as_json, summary=_print_summary)


def _print_summary(desc: dict[str, Any]) -> None:
    status = _field(desc, "JobStatus")
    lines = [
        f"  status     {status}" + (f" ({desc['SecondaryStatus']})" if desc.get("SecondaryStatus") else "")
    ]
    if desc.get("FailureReason"):
        lines.append(f"  reason     {desc['FailureReason']}")
    if desc.get("ModelArtifacts"):
        lines.append(f"  model      {desc['ModelArtifacts']['S3ModelArtifacts']}")
    for metric in desc.get("FinalMetricDataList", []):
        lines.append(f"  {metric['MetricName']:<10} {metric['Value']:.6g}")
    if "TrainingTimeInSeconds" in desc:
        training, billable = desc["TrainingTimeInSeconds"], desc["BillableTimeInSeconds"]
        savings = (
            f"  (savings {100 * (1 - billable / training):.0f}%)"
            if desc.get("EnableManagedSpotTraining")
            else ""
        )
        lines.append(f"  time       {training} s training, {billable} s billable{savings}")
    if desc.get("Interruptions"):
        lines.append(f"  interrupted {desc['Interruptions']} time(s), resumed from checkpoints")
    lines.append(f"  run        {desc.get('RunId')}")
    for warning in desc.get("Warnings", []):
        lines.append(f"  warning    {warning}")
    message("\n".join(lines))


@app.command("train")
@handle_errors
def train(
    entry_point: str = typer.Option(
        ..., "--entry-point", help="The training script (relative to --source-dir)."
    ),
    source_dir: str = typer.Option(
        None, "--source-dir", help="The folder holding the script and its modules."
    ),
    inputs: list[str] = typer.Option(None, "--input", help="CHANNEL=PATH_OR_URI (repeatable)."),
    hps: list[str] = typer.Option(None, "--hp", help="KEY=VALUE hyperparameter (repeatable)."),
    metrics: list[str] = typer.Option(None, "--metric", help="NAME=REGEX, e.g. 'loss=loss: ([0-9.]+)'."),
    instance_type: str = typer.Option(
        None, "--instance-type", help="e.g. ml.m5.large (read as cpus/memory)."
    ),
    cpus: int = typer.Option(None, "--cpus", help="CPUs per instance."),
    memory: float = typer.Option(None, "--memory", help="Memory per instance, GiB."),
    gpus: int = typer.Option(None, "--gpus", help="GPUs per instance."),
    instance_count: int = typer.Option(1, "--instance-count", help="Instances (workers algo-1..N)."),
    spot: bool = typer.Option(False, "--spot", help="Managed spot training (interruptions, billable time)."),
    interrupt_at: list[float] = typer.Option(
        None, "--interrupt-at", help="Interrupt attempt k at S seconds."
    ),
    checkpoint_uri: str = typer.Option(None, "--checkpoint-uri", help="Where checkpoints are synced."),
    max_run: int = typer.Option(None, "--max-run", help="MaxRuntimeInSeconds."),
    max_wait: int = typer.Option(None, "--max-wait", help="MaxWaitTimeInSeconds (spot only)."),
    grace: int = typer.Option(None, "--grace", help="Seconds between SIGTERM and kill (default 120)."),
    experiment: str = typer.Option(None, "--experiment", help="The experiment of the job's run."),
    name: str = typer.Option(None, "--name", help="Job name (default: script name and time)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the job to end; exit 3 if it did not complete."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print DescribeTrainingJob."),
) -> None:
    """Run a SageMaker script-mode training script as a training job."""
    kb = client()
    job = kb.jobs.train(
        entry_point,
        source_dir,
        inputs=pairs(inputs, "--input", "train=data/train.csv"),
        hyperparameters=hyperparameters(hps),
        metric_definitions=pairs(metrics, "--metric", "'loss=loss: ([0-9.]+)'"),
        name=name,
        instance_type=instance_type,
        instance_count=instance_count,
        cpus=cpus,
        memory_gib=memory,
        gpus=gpus,
        spot=spot,
        interrupt_at=interrupt_at or None,
        checkpoint_uri=checkpoint_uri,
        max_run=max_run,
        max_wait=max_wait,
        grace_seconds=grace,
        experiment=experiment,
        wait=wait,
    )
    _finish(job, wait, as_json)


@app.command("process")
@handle_errors
def process(
    entry_point: str = typer.Option(..., "--entry-point", help="The processing script."),
    inputs: list[str] = typer.Option(None, "--input", help="SOURCE=/opt/ml/processing/... (repeatable)."),
    outputs: list[str] = typer.Option(
        None, "--output", help="/opt/ml/processing/...=DESTINATION ('' = default)."
    ),
    args: list[str] = typer.Option(None, "--arg", help="An argument for the script (repeatable)."),
    instance_type: str = typer.Option(None, "--instance-type"),
    cpus: int = typer.Option(None, "--cpus"),
    memory: float = typer.Option(None, "--memory"),
    name: str = typer.Option(None, "--name"),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the job to end; exit 3 if it did not complete."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print DescribeProcessingJob."),
) -> None:
    """Run a processing script with inputs and outputs under /opt/ml/processing."""
    kb = client()
    job = kb.jobs.process(
        entry_point,
        arguments=args or [],
        inputs=pairs(inputs, "--input", "data/raw.csv=/opt/ml/processing/input/data"),
        outputs=pairs(outputs, "--output", "/opt/ml/processing/output/train="),
        name=name,
        instance_type=instance_type,
        cpus=cpus,
        memory_gib=memory,
        wait=wait,
    )
    _finish(job, wait, as_json)


@app.command("list")
@handle_errors
def list_jobs(
    status: str = typer.Option(None, "--status", help="InProgress, Completed, Failed, Stopping or Stopped."),
    kind: str = typer.Option(None, "--type", help="TrainingJob, ProcessingJob or TransformJob."),
    max_results: int = typer.Option(100, "--max"),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: {JobSummaries: [...]}."),
) -> None:
    """List jobs, newest first."""
    jobs = client().jobs.list(status=status, kind=kind, max_results=max_results)
    if as_json:
        emit_json({"JobSummaries": jobs})
        return
    table(
        None,
        ["name", "type", "status", "secondary", "created", "ended"],
        [
            [
                _field(j, "JobName"),
                j["JobType"],
                _field(j, "JobStatus"),
                j.get("SecondaryStatus", ""),
                (j.get("CreationTime") or "")[:19],
                (_field(j, "EndTime") or "")[:19],
            ]
            for j in jobs
        ],
    )


@app.command("describe")
@handle_errors
def describe(
    name: str, as_json: bool = typer.Option(False, "--json", help="DescribeTrainingJob's shape.")
) -> None:
    """Show a job: status, transitions, model, metrics and times."""
    desc = client().jobs.describe(name)
    if as_json:
        emit_json(desc)
        return
    typer.echo(_field(desc, "JobName"))
    _print_summary(desc)
    transitions = desc.get("SecondaryStatusTransitions") or []
    if transitions:
        table(
            "transitions",
            ["status", "start", "end", "message"],
            [
                [t["Status"], t["StartTime"][11:23], (t.get("EndTime") or "")[11:23], t["StatusMessage"]]
                for t in transitions
            ],
        )


@app.command("logs")
@handle_errors
def logs(
    name: str,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends."),
) -> None:
    """Print a job's log (every instance, every attempt)."""
    kb = client()
    if not follow:
        sys.stdout.write(kb.jobs.logs(name))
        return
    offsets: dict[str, int] = {}
    while True:
        part = kb.jobs.read_logs(name, offsets)
        for text in part["Logs"].values():
            sys.stdout.write(text)
        sys.stdout.flush()
        offsets = part["Offsets"]
        if part["Ended"] and not any(part["Logs"].values()):
            return
        if not any(part["Logs"].values()):
            time.sleep(0.5)


@app.command("stop")
@handle_errors
def stop(name: str) -> None:
    """Stop a job: SIGTERM, then a kill after its grace period; its status becomes Stopped."""
    client().jobs.stop(name)
    message(f"stopping {name}")


@handle_errors
def worker(
    until_idle: bool = typer.Option(False, "--until-idle", help="Exit once no job is running or waiting."),
    executor: str = typer.Option(None, "--executor", help="local, ray, auto or ray://host:port."),
) -> None:
    """Run queued training and processing jobs from this store (as many at once as the slots allow)."""
    import signal

    from kibako.core.config import Config
    from kibako.jobs.worker import Worker
    from kibako.sdk.services import Services

    config = Config.from_env(**({"executor": executor} if executor else {}))
    services = Services.open(config)
    runner = Worker(services)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    c = runner.capacity
    message(
        f"worker {runner.id}: {c.cpus} cpus, {c.memory_mib // 1024} GiB, {c.gpus} gpus ({runner.executor.name})"
    )
    try:
        runner.run(until_idle=until_idle)
    finally:
        services.close()
