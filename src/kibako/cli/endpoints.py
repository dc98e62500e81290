"""kibako endpoints create|list|describe|update-weights|invoke|delete"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, message, table
from kibako.cli._parse import pairs

app = typer.Typer(help="Endpoints: variants by weight, shadow traffic, data capture.", no_args_is_help=True)


def _variant(text: str, where: str) -> tuple[str, tuple[str, float]]:
    name, eq, spec = text.partition("=")
    parts = spec.split(":")
    if not eq or len(parts) not in (2, 3):
        raise typer.BadParameter(
            f"{where} takes NAME=GROUP:VERSION[:WEIGHT], e.g. A=churn:3:90, not {text!r}"
        )
    group, version = parts[0], parts[1]
    ref = f"{group}/{version}" if version.isdigit() or version == "latest" else f"{group}@{version}"
    try:
        weight = float(parts[2]) if len(parts) == 3 else 1.0
    except ValueError:
        raise typer.BadParameter(f"the weight in {text!r} is not a number") from None
    return name, (ref, weight)


def _show(desc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(desc)
        return
    typer.echo(desc["EndpointArn"])
    lines = [f"  status     {desc['EndpointStatus']}", f"  config     {desc['EndpointConfigName']}"]
    if desc.get("Url"):
        lines.append(f"  url        {desc['Url']}/invocations")
    for v in desc.get("ProductionVariants", []):
        lines.append(f"  variant    {v['VariantName']} weight {v['CurrentWeight']:g}")
    for v in desc.get("ShadowProductionVariants") or []:
        lines.append(f"  shadow     {v['VariantName']}")
    capture = desc.get("DataCaptureConfig")
    if capture:
        lines.append(f"  capture    {capture['CurrentSamplingPercentage']}% to {capture['DestinationS3Uri']}")
    if desc.get("FailureReason"):
        lines.append(f"  note       {desc['FailureReason']}")
    message("\n".join(lines))


@app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="The endpoint's name."),
    variants: list[str] = typer.Option(..., "--variant", help="NAME=GROUP:VERSION[:WEIGHT] (repeatable)."),
    shadows: list[str] = typer.Option(
        None, "--shadow", help="NAME=GROUP:VERSION: gets a copy of every request."
    ),
    capture: int = typer.Option(None, "--capture", help="Capture this percentage of requests (0-100)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until InService."),
    as_json: bool = typer.Option(False, "--json", help="DescribeEndpoint as JSON."),
) -> None:
    """Deploy registry versions behind an endpoint (a worker hosts it; one starts when none is running)."""
    production = dict(_variant(v, "--variant") for v in variants)
    shadow = {k: ref for k, (ref, _w) in (_variant(s, "--shadow") for s in shadows or [])}
    desc = client().endpoints.deploy(name, production, shadow=shadow, capture_percent=capture, wait=wait)
    _show(desc, as_json)


@app.command("list")
@handle_errors
def list_endpoints(as_json: bool = typer.Option(False, "--json", help="ListEndpoints as JSON.")) -> None:
    """List endpoints."""
    found = client().endpoints.list()
    if as_json:
        emit_json({"Endpoints": found})
        return
    table(
        None,
        ["endpoint", "status", "created"],
        [[e["EndpointName"], e["EndpointStatus"], e["CreationTime"]] for e in found],
    )


@app.command("describe")
@handle_errors
def describe(
    name: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="DescribeEndpoint as JSON."),
) -> None:
    """Show an endpoint."""
    _show(client().endpoints.describe(name), as_json)


@app.command("update-weights")
@handle_errors
def update_weights(
    name: str = typer.Argument(...),
    weights: list[str] = typer.Option(..., "--weight", help="VARIANT=WEIGHT (repeatable)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change the traffic weights of production variants, live."""
    try:
        parsed = {k: float(v) for k, v in pairs(weights, "--weight", "A=9").items()}
    except ValueError:
        raise typer.BadParameter("--weight takes VARIANT=NUMBER") from None
    _show(client().endpoints.update_weights(name, parsed), as_json)


@app.command("invoke")
@handle_errors
def invoke(
    name: str = typer.Argument(...),
    body: str = typer.Option(None, "--body", help="The request body."),
    body_file: Path = typer.Option(None, "--body-file", help="A file holding the request body."),
    content_type: str = typer.Option("text/csv", "--content-type"),
    accept: str = typer.Option(None, "--accept"),
    target_variant: str = typer.Option(None, "--target-variant", help="Send to this variant."),
    inference_id: str = typer.Option(None, "--inference-id", help="Kept in the captured record."),
) -> None:
    """Send one request; the answer goes to stdout, the variant that served it to stderr."""
    if (body is None) == (body_file is None):
        raise typer.BadParameter("give one of --body or --body-file")
    data = body.encode() if body is not None else body_file.read_bytes()
    answer = client().endpoints.invoke(
        name,
        data,
        content_type=content_type,
        accept=accept,
        target_variant=target_variant,
        inference_id=inference_id,
    )
    sys.stdout.buffer.write(answer.body)
    if not answer.body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    message(f"variant {answer.variant} ({answer.content_type})")


@app.command("delete")
@handle_errors
def delete(name: str = typer.Argument(...)) -> None:
    """Delete an endpoint (capture files are flushed first; runs and lineage stay)."""
    client().endpoints.delete(name)
    message(f"endpoint {name} deleted")
