"""kibako runs list|show|compare"""

from __future__ import annotations

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, fmt_number, fmt_time, table

app = typer.Typer(
    help="Runs: what was tried, with params, metrics, inputs and outputs.", no_args_is_help=True
)


@app.command("list")
@handle_errors
def list_runs(
    experiment: list[str] = typer.Option(
        None, "--experiment", "-e", help="Only runs of this experiment (repeatable)."
    ),
    filter: str = typer.Option(
        "", "--filter", "-f", help="e.g. \"metrics.auc > 0.8 and params.model = 'rf'\""
    ),
    order_by: list[str] = typer.Option(
        None, "--order-by", "-o", help="e.g. 'metrics.auc DESC' (repeatable)."
    ),
    max_results: int = typer.Option(50, "--max", help="Page size."),
    page_token: str = typer.Option(None, "--page-token", help="The next_token of the previous page."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """List runs, filtered and ordered."""
    page = client().search_runs(experiment or None, filter, order_by or None, max_results, page_token)
    if as_json:
        emit_json({"runs": page.runs, "next_token": page.next_token})
        return
    metric_keys = sorted({k for r in page.runs for k in r.metrics})[:6]
    table(
        None,
        ["run", "id", "experiment", "status", "started"] + metric_keys,
        [
            [r.name, r.id, r.experiment_name, r.status, fmt_time(r.start_time)]
            + [fmt_number(r.metrics[k].last) if k in r.metrics else "" for k in metric_keys]
            for r in page.runs
        ],
    )
    if page.next_token:
        typer.echo(f"more: --page-token {page.next_token}", err=True)


@app.command("show")
@handle_errors
def show(run_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one run: params, metric summaries, tags, inputs and outputs."""
    run = client().get_run(run_id)
    if as_json:
        emit_json(run)
        return
    typer.echo(
        f"{run.name}  ({run.id})\n  experiment {run.experiment_name}   status {run.status}   "
        f"started {fmt_time(run.start_time)}   ended {fmt_time(run.end_time)}"
    )
    if run.params:
        table("params", ["key", "value"], [[k, v] for k, v in sorted(run.params.items())])
    if run.metrics:
        table(
            "metrics",
            ["key", "last", "min", "max", "avg", "count", "last step"],
            [
                [
                    k,
                    fmt_number(m.last),
                    fmt_number(m.min),
                    fmt_number(m.max),
                    fmt_number(m.avg),
                    m.count,
                    m.last_step,
                ]
                for k, m in sorted(run.metrics.items())
            ],
        )
    if run.tags:
        table("tags", ["key", "value"], [[k, v] for k, v in sorted(run.tags.items())])
    for label, refs in (("inputs", run.inputs), ("outputs", run.outputs)):
        if refs:
            table(
                label,
                ["type", "name", "digest", "uri"],
                [[a.type, a.name, a.digest[:19], a.uri] for a in refs],
            )


@app.command("compare")
@handle_errors
def compare(
    run_ids: list[str] = typer.Argument(..., help="The run ids to compare."),
    all_fields: bool = typer.Option(False, "--all", help="Also show params and metrics that are the same."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compare runs side by side (fields equal in every run are hidden unless --all)."""
    comparison = client().compare_runs(run_ids, hide_identical=not all_fields)
    if as_json:
        emit_json(
            {
                "run_ids": [r.id for r in comparison.runs],
                "params": comparison.params,
                "metrics": comparison.metrics,
            }
        )
        return
    names = [r.name for r in comparison.runs]
    rows = [[f"params.{k}", *v] for k, v in comparison.params.items()]
    rows += [[f"metrics.{k}", *[fmt_number(x) for x in v]] for k, v in comparison.metrics.items()]
    table(None, ["field", *names], rows)
