"""kibako tuning start|describe|list|stop"""

from __future__ import annotations

from typing import Any

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, finish_submitted, message, table
from kibako.cli._parse import hyperparameters, pairs

app = typer.Typer(
    help="Hyperparameter tuning jobs: many training jobs of one script, searching for the best hyperparameters.",
    no_args_is_help=True,
)


def _ranges(values: list[str] | None) -> dict[str, str]:
    from kibako.errors import ValidationError

    ranges = pairs(values, "--range", "lr=float:1e-5:1e-1:log")
    if not ranges:
        raise ValidationError(
            "give at least one --range NAME=int:MIN:MAX | float:MIN:MAX[:log] | cat:A,B,C to tune"
        )
    return ranges


@app.command("start")
@handle_errors
def start(
    entry_point: str = typer.Option(
        ..., "--entry-point", help="The training script (relative to --source-dir)."
    ),
    source_dir: str = typer.Option(
        None, "--source-dir", help="The folder holding the script and its modules."
    ),
    objective: str = typer.Option(
        ..., "--objective", help="The metric to optimise (one of the --metric names)."
    ),
    maximize: bool = typer.Option(None, "--maximize/--minimize", help="Maximise or minimise the objective."),
    metrics: list[str] = typer.Option(
        None, "--metric", help="NAME=REGEX over the script's output (repeatable)."
    ),
    ranges: list[str] = typer.Option(
        None, "--range", help="NAME=int:1:10 | float:1e-5:1e-1[:log|reverselog] | cat:a,b,c (repeatable)."
    ),
    inputs: list[str] = typer.Option(None, "--input", help="CHANNEL=PATH_OR_URI (repeatable)."),
    hps: list[str] = typer.Option(None, "--hp", help="KEY=VALUE static hyperparameter (repeatable)."),
    strategy: str = typer.Option("Bayesian", "--strategy", help="Bayesian, Random, Grid or Hyperband."),
    max_jobs: int = typer.Option(
        None, "--max-jobs", help="MaxNumberOfTrainingJobs (Grid: every combination)."
    ),
    max_parallel: int = typer.Option(1, "--max-parallel", help="MaxParallelTrainingJobs."),
    early_stopping: str = typer.Option("Off", "--early-stopping", help="Auto or Off."),
    seed: int = typer.Option(None, "--seed", help="RandomSeed: the same seed proposes the same trials."),
    instance_type: str = typer.Option(None, "--instance-type", help="Each trial's instance type."),
    cpus: int = typer.Option(None, "--cpus", help="CPUs per trial."),
    memory: float = typer.Option(None, "--memory", help="Memory per trial, GiB."),
    gpus: int = typer.Option(None, "--gpus", help="GPUs per trial."),
    max_run: int = typer.Option(None, "--max-run", help="Each trial's MaxRuntimeInSeconds."),
    name: str = typer.Option(
        None, "--name", help="Tuning job name, up to 32 characters (default: script and time)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the tuning job to end; exit 3 if it did not complete."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print DescribeHyperParameterTuningJob."),
) -> None:
    """Start a hyperparameter tuning job over a SageMaker script-mode training script."""
    from kibako.errors import ValidationError

    if maximize is None:
        raise ValidationError("say which way is better: --maximize or --minimize")
    kb = client()
    job = kb.tuning.start(
        entry_point,
        source_dir,
        ranges=_ranges(ranges),
        objective_metric=objective,
        objective_type="Maximize" if maximize else "Minimize",
        metric_definitions=pairs(metrics, "--metric", "'loss=loss: ([0-9.]+)'"),
        inputs=pairs(inputs, "--input", "train=data/train.csv"),
        static_hyperparameters=hyperparameters(hps),
        strategy=strategy,
        max_jobs=max_jobs,
        max_parallel=max_parallel,
        early_stopping=early_stopping,
        seed=seed,
        instance_type=instance_type,
        cpus=cpus,
        memory_gib=memory,
        gpus=gpus,
        max_run=max_run,
        name=name,
        wait=wait,
    )
    desc = job.describe()
    status = desc["HyperParameterTuningJobStatus"]
    finish_submitted(job.name, desc, status, wait=wait, as_json=as_json, summary=_print_summary)


def _print_summary(desc: dict[str, Any]) -> None:
    config = desc["HyperParameterTuningJobConfig"]
    objective = config["HyperParameterTuningJobObjective"]
    counts = desc["TrainingJobStatusCounters"]
    lines = [
        f"  status     {desc['HyperParameterTuningJobStatus']}",
        f"  strategy   {config['Strategy']}, {objective['Type'].lower()} {objective['MetricName']}, early "
        f"stopping {config.get('TrainingJobEarlyStoppingType', 'Off')}",
        f"  trials     {counts['Completed']} completed, {counts['InProgress']} in progress, {counts['Stopped']} "
        f"stopped, {counts['NonRetryableError']} failed (of {config['ResourceLimits']['MaxNumberOfTrainingJobs']})",
    ]
    if desc.get("FailureReason"):
        lines.append(f"  reason     {desc['FailureReason']}")
    best = desc.get("BestTrainingJob")
    if best:
        value = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        tuned = ", ".join(f"{k}={v}" for k, v in best["TunedHyperParameters"].items())
        lines.append(
            f"  best       {best['TrainingJobName']}: {objective['MetricName']}={value:.6g} ({tuned})"
        )
    message("\n".join(lines))


@app.command("describe")
@handle_errors
def describe(
    name: str, as_json: bool = typer.Option(False, "--json", help="DescribeHyperParameterTuningJob's shape.")
) -> None:
    """Show a tuning job: status, counters, the best training job and every trial, best first."""
    kb = client()
    desc = kb.tuning.describe(name)
    if as_json:
        emit_json(desc)
        return
    typer.echo(desc["HyperParameterTuningJobName"])
    _print_summary(desc)
    trials = kb.tuning.trials(name)
    if not trials:
        return
    tuned = list(trials[0]["TunedHyperParameters"])
    table(
        "trials",
        ["training job", "status", "objective", *tuned],
        [
            [
                t["TrainingJobName"],
                t["TrainingJobStatus"] + (" (early)" if t.get("EarlyStopped") else ""),
                _objective(t),
                *[t["TunedHyperParameters"].get(k, "") for k in tuned],
            ]
            for t in trials
        ],
    )


def _objective(trial: dict[str, Any]) -> str:
    metric = trial.get("FinalHyperParameterTuningJobObjectiveMetric")
    if metric is not None:
        return f"{metric['Value']:.6g}"
    return "" if trial["ObjectiveStatus"] == "Pending" else "-"


@app.command("list")
@handle_errors
def list_tuning_jobs(
    status: str = typer.Option(None, "--status", help="InProgress, Completed, Failed, Stopping or Stopped."),
    max_results: int = typer.Option(100, "--max"),
    as_json: bool = typer.Option(False, "--json", help="{HyperParameterTuningJobSummaries: [...]}."),
) -> None:
    """List tuning jobs, newest first."""
    jobs = client().tuning.list(status=status, max_results=max_results)
    if as_json:
        emit_json({"HyperParameterTuningJobSummaries": jobs})
        return
    table(
        None,
        ["name", "status", "strategy", "completed", "running", "of", "created", "ended"],
        [
            [
                j["HyperParameterTuningJobName"],
                j["HyperParameterTuningJobStatus"],
                j["Strategy"],
                j["TrainingJobStatusCounters"]["Completed"],
                j["TrainingJobStatusCounters"]["InProgress"],
                j["ResourceLimits"]["MaxNumberOfTrainingJobs"],
                (j.get("CreationTime") or "")[:19],
                (j.get("HyperParameterTuningEndTime") or "")[:19],
            ]
            for j in jobs
        ],
    )


@app.command("stop")
@handle_errors
def stop(name: str) -> None:
    """Stop a tuning job: no more trials start and the running ones are stopped."""
    client().tuning.stop(name)
    message(f"stopping {name}")
