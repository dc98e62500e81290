"""kibako transform start|describe|list|stop: SageMaker batch transform jobs."""

from __future__ import annotations

from typing import Any

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, finish_submitted, message, table

app = typer.Typer(
    help="Batch transform jobs: a model's predictions for every record of a file or folder.",
    no_args_is_help=True,
)


def _summary(desc: dict[str, Any]) -> None:
    lines = [f"  status     {desc['TransformJobStatus']}"]
    if desc.get("FailureReason"):
        lines.append(f"  reason     {desc['FailureReason']}")
    lines.append(f"  model      {desc.get('ModelName')}")
    lines.append(f"  input      {desc['TransformInput']['DataSource']['S3DataSource']['S3Uri']}")
    lines.append(f"  output     {desc['TransformOutput']['S3OutputPath']}")
    source, processing = desc["TransformInput"], desc.get("DataProcessing") or {}
    lines.append(
        f"  records    SplitType {source.get('SplitType')}, {desc.get('BatchStrategy')}, "
        f"MaxPayloadInMB {desc.get('MaxPayloadInMB')}"
    )
    if processing and (
        processing.get("JoinSource") == "Input"
        or {processing.get("InputFilter"), processing.get("OutputFilter")} != {"$"}
    ):
        lines.append(
            f"  filters    InputFilter {processing.get('InputFilter')}, JoinSource {processing.get('JoinSource')}, "
            f"OutputFilter {processing.get('OutputFilter')}"
        )
    lines.append(f"  run        {desc.get('RunId')}")
    for warning in desc.get("Warnings", []):
        lines.append(f"  warning    {warning}")
    message("\n".join(lines))


@app.command("start")
@handle_errors
def start(
    model: str = typer.Option(
        ..., "--model", help="A model made with CreateModel, or a registry version such as churn/3."
    ),
    input: str = typer.Option(..., "--input", help="A file or folder (every file under it), or a URI."),
    output: str = typer.Option(..., "--output", help="Where <file>.out results go (a folder or a URI)."),
    content_type: str = typer.Option(
        None,
        "--content-type",
        help="text/csv, application/json, application/jsonlines (default: from the extension).",
    ),
    split_type: str = typer.Option(
        None, "--split-type", help="Line (one record per line) or None (default)."
    ),
    strategy: str = typer.Option(None, "--strategy", help="MultiRecord (default) or SingleRecord."),
    max_payload: int = typer.Option(None, "--max-payload", help="MaxPayloadInMB, 0-100 (default 6)."),
    max_concurrent: int = typer.Option(None, "--max-concurrent", help="MaxConcurrentTransforms (default 1)."),
    accept: str = typer.Option(None, "--accept", help="The results' type, e.g. text/csv."),
    assemble_with: str = typer.Option(None, "--assemble-with", help="Line or None (default)."),
    join_source: str = typer.Option(
        None, "--join-source", help="Input (join each result to its record) or None."
    ),
    input_filter: str = typer.Option(None, "--input-filter", help="JSONPath of what is sent, e.g. '$[1:]'."),
    output_filter: str = typer.Option(
        None, "--output-filter", help="JSONPath of what is kept, e.g. '$[0,-1]'."
    ),
    compression: str = typer.Option(
        None, "--compression", help="Gzip or None (default: Gzip for .gz files)."
    ),
    instance_type: str = typer.Option(
        None, "--instance-type", help="e.g. ml.m5.large (read as cpus/memory)."
    ),
    instance_count: int = typer.Option(1, "--instance-count", help="Instances; the files are shared out."),
    name: str = typer.Option(None, "--name", help="Job name (default: the model's name and the time)."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the job to end; exit 3 if it did not complete."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print DescribeTransformJob."),
) -> None:
    """Run a batch transform job."""
    job = client().jobs.transform(
        model,
        input,
        output,
        content_type=content_type,
        split_type=split_type,
        strategy=strategy,
        max_payload_mb=max_payload,
        max_concurrent=max_concurrent,
        accept=accept,
        assemble_with=assemble_with,
        join_source=join_source,
        input_filter=input_filter,
        output_filter=output_filter,
        compression=compression,
        instance_type=instance_type,
        instance_count=instance_count,
        name=name,
        wait=wait,
    )
    desc = job.describe()
    status = desc["TransformJobStatus"]
    finish_submitted(job.name, desc, status, wait=wait, as_json=as_json, summary=_summary)


@app.command("describe")
@handle_errors
def describe(name: str, as_json: bool = typer.Option(False, "--json", help="DescribeTransformJob.")) -> None:
    """Show a transform job: status, model, input, output and options."""
    desc = client().endpoints.service.describe_transform_job(name)
    if as_json:
        emit_json(desc)
        return
    typer.echo(desc["TransformJobName"])
    _summary(desc)


@app.command("list")
@handle_errors
def list_jobs(
    status: str = typer.Option(None, "--status", help="InProgress, Completed, Failed, Stopping or Stopped."),
    max_results: int = typer.Option(100, "--max"),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: {TransformJobSummaries: [...]}."),
) -> None:
    """List transform jobs, newest first."""
    jobs = client().endpoints.service.list_transform_jobs(status, max_results)
    if as_json:
        emit_json({"TransformJobSummaries": jobs})
        return
    table(
        None,
        ["name", "status", "created", "ended", "reason"],
        [
            [
                j["TransformJobName"],
                j["TransformJobStatus"],
                (j.get("CreationTime") or "")[:19],
                (j.get("TransformEndTime") or "")[:19],
                (j.get("FailureReason") or "")[:80],
            ]
            for j in jobs
        ],
    )


@app.command("stop")
@handle_errors
def stop(name: str) -> None:
    """Stop a transform job; what it wrote so far is uploaded, and its status becomes Stopped."""
    client().endpoints.service.stop_transform_job(name)
    message(f"stopping {name}")
