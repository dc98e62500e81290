"""kibako lineage show"""

from __future__ import annotations

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json

app = typer.Typer(help="Lineage: where data, runs and models came from and went.", no_args_is_help=True)


@app.command("show")
@handle_errors
def show(
    node: str = typer.Argument(..., help="Id or ARN of a run, artifact or experiment."),
    direction: str = typer.Option(
        "both", "--direction", "-d", help="up (sources), down (what it made), both."
    ),
    depth: int = typer.Option(10, "--depth", help="How many edges away to go."),
    as_json: bool = typer.Option(False, "--json", help="SageMaker QueryLineage response shape."),
    openlineage: bool = typer.Option(False, "--openlineage", help="For a run: its OpenLineage run events."),
) -> None:
    """Draw the lineage of a node as a tree."""
    kb = client()
    if openlineage:
        emit_json(kb.tracking.openlineage_events(node))
        return
    graph = kb.lineage.query(node, direction=direction, max_depth=depth, include_edges=True)
    if as_json:
        emit_json(graph.to_query_lineage_response())
        return
    from kibako.lineage.render import render_text

    typer.echo(render_text(graph, direction))
