"""kibako tokens create|list|revoke"""

from __future__ import annotations

import typer

from kibako.cli._context import client, handle_errors
from kibako.cli._output import emit_json, fmt_time, table

app = typer.Typer(help="Bearer tokens for the server.", no_args_is_help=True)


@app.command("create")
@handle_errors
def create(
    role: str = typer.Option(
        ..., "--role", help="viewer (read), editor (read and write) or admin (also tokens)."
    ),
    name: str = typer.Option("", "--name", help="A label to recognise the token by."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a token; it is shown this once."""
    made = client().tokens.create_token(role, name)
    if as_json:
        emit_json({"id": made.info.id, "name": made.info.name, "role": made.info.role, "token": made.token})
        return
    typer.echo(made.token)
    typer.echo(
        f"{made.info.role} token {made.info.name!r} ({made.info.id}); it will not be shown again", err=True
    )


@app.command("list")
@handle_errors
def list_tokens(as_json: bool = typer.Option(False, "--json")) -> None:
    """List tokens (never their secrets)."""
    tokens = client().tokens.list_tokens()
    if as_json:
        emit_json({"tokens": tokens})
        return
    table(
        None,
        ["id", "name", "role", "created", "revoked"],
        [[t.id, t.name, t.role, fmt_time(t.created), "yes" if t.revoked else ""] for t in tokens],
    )


@app.command("revoke")
@handle_errors
def revoke(token_id: str) -> None:
    """Revoke a token by its id."""
    client().tokens.revoke_token(token_id)
    typer.echo(f"revoked {token_id}", err=True)
