"""kibako server"""

from __future__ import annotations

import typer

from kibako.cli._context import handle_errors


@handle_errors
def server(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
) -> None:
    """Serve the HTTP API for this store, with a worker that runs its jobs (prints an admin token on the first
    start)."""
    import threading

    import uvicorn

    from kibako.api.app import create_app
    from kibako.core.config import Config
    from kibako.jobs.worker import Worker
    from kibako.sdk.services import Services

    services = Services.open(Config.from_env())
    first = services.tokens.first_admin_token()
    if first is not None:
        typer.echo(f"admin token (shown once, keep it): {first.token}")
    typer.echo(f"kibako server on http://{host}:{port}  (store: {services.config.database_url})", err=True)
    worker = Worker(services)
    jobs = threading.Thread(target=worker.run, name="kibako-worker", daemon=True)
    jobs.start()
    try:
        uvicorn.run(create_app(services), host=host, port=port, log_level="warning")
    finally:
        worker.stop()
        jobs.join()
        services.close()
