"""kibako experiments ..."""

from __future__ import annotations

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, fmt_time, table

app = typer.Typer(help="Experiments: groups of runs.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_experiments(
    as_json: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """List experiments."""
    experiments = client().list_experiments()
    if as_json:
        emit_json({"experiments": experiments})
        return
    table(
        None,
        ["name", "id", "created", "description"],
        [[e.name, e.id, fmt_time(e.created), e.description] for e in experiments],
    )
