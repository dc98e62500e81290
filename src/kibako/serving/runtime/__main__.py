"""``python -m kibako.serving.runtime --config FILE --port N [--host 127.0.0.1]``: serve one endpoint.

The config file is ``RuntimeConfig.to_json()``. The socket listens at once; ``GET /ping`` answers 503 until
every model is loaded, then 200. If the first load fails the process exits 1 with the reason on stderr.
SIGTERM or SIGINT stop accepting connections, let in-flight requests finish, flush and close the capture
files, and exit 0. One process, one event loop: uvicorn with httptools and uvloop, access log off.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kibako.serving.runtime", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", required=True, type=Path, help="RuntimeConfig JSON file")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def _ignore(sig: int, frame: FrameType | None) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import uvicorn

    from kibako.errors import ValidationError
    from kibako.serving.runtime.app import RuntimeApp
    from kibako.serving.runtime.config import RuntimeConfig
    from kibako.serving.runtime.engine import Engine

    try:
        config = RuntimeConfig.from_json(json.loads(args.config.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        print(f"error: cannot read the runtime config {str(args.config)!r}: {exc}", file=sys.stderr)
        return 2
    failure: list[str] = []
    server: uvicorn.Server | None = None

    def fatal(reason: str) -> None:
        failure.append(reason)
        if server is not None:
            server.should_exit = True

    app = RuntimeApp(Engine(config), on_fatal=fatal)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            http="httptools",
            loop="uvloop",
            lifespan="on",
            access_log=False,
            server_header=False,
            log_level=args.log_level,
            timeout_graceful_shutdown=60,
        )
    )
    # uvicorn re-raises the stop signal once its graceful shutdown is over, so that the default action ends
    # the process; with these no-op handlers underneath, a clean stop ends with status 0 instead of -15.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _ignore)
    server.run()
    if failure:
        print(f"error: {failure[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
