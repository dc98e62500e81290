"""The root command. Sub-commands are plain Typer apps; heavy imports happen inside commands."""

from __future__ import annotations

import typer

from kibako.cli import (
    endpoints,
    experiments,
    jobs,
    lineage,
    models,
    runs,
    server,
    tokens,
    transform,
    tuning,
)
from kibako.cli._context import handle_errors

app = typer.Typer(
    name="kibako",
    help="kibako: the whole ML lifecycle in one box.\n\nExit codes: 0 ok, 1 error, 2 usage, 3 a waited-for run "
    "ended Failed or Stopped.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(lineage.app, name="lineage")
app.add_typer(tokens.app, name="tokens")
app.add_typer(jobs.app, name="jobs")
app.add_typer(tuning.app, name="tuning")
app.add_typer(models.app, name="models")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(transform.app, name="transform")
app.command("server")(server.server)
app.command("worker")(jobs.worker)


@app.command("version")
def version() -> None:
    """Print the version."""
    from kibako.core.version import __version__

    typer.echo(__version__)


@app.command("demo")
@handle_errors
def demo(
    home: str = typer.Option(None, "--home", help="Where to keep the demo's store (default: KIBAKO_HOME)."),
) -> None:
    """Run the end-to-end demo on the embedded store."""
    from kibako.demo import main as run_demo

    run_demo(home)


def main() -> None:
    app()
