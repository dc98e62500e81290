"""The HTTP app. Service calls are one generic route derived from the services' marked methods:
``POST /api/v1/rpc/{service}/{method}`` with the arguments as a JSON object."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kibako.api._arguments import checked_call
from kibako.api.artifacts import router as artifacts_router
from kibako.api.auth import require_role
from kibako.api.endpoints import router as endpoints_router
from kibako.core.version import __version__
from kibako.core.wire import decode, encode, exposed_methods
from kibako.errors import KibakoError, NotFoundError, ValidationError
from kibako.sdk.services import SERVICE_CLASSES, Services


def json_response(value: Any, status: int = 200) -> Response:
    # allow_nan: metric values may be NaN or infinite, and both ends of this wire are ours.
    return Response(json.dumps(value, allow_nan=True), status_code=status, media_type="application/json")


def create_app(services: Services) -> FastAPI:
    """The API over ``services``; every route but ``/api/v1/health`` needs a bearer token."""
    app = FastAPI(title="kibako", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.services = services
    exposed = {name: exposed_methods(cls) for name, cls in SERVICE_CLASSES.items()}

    @app.exception_handler(KibakoError)
    async def _kibako_error(_request: Request, exc: KibakoError) -> Response:
        return json_response({"error": exc.to_dict()}, exc.http_status)

    @app.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/api/v1/rpc/{service}/{method}")
    async def rpc(service: str, method: str, request: Request) -> Response:
        methods = exposed.get(service)
        if methods is None or method not in methods:
            raise NotFoundError(f"no method {service}.{method}")
        await run_in_threadpool(require_role, request, methods[method][0])
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ValidationError(f"the request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ValidationError("the request body must be a JSON object of the method's arguments")
        if "actor" in methods[method][1].parameters:
            body["actor"] = request.state.caller  # the server, not the client, says who made a change
        call = checked_call(SERVICE_CLASSES[service], method, getattr(services.by_name(service), method))
        result = await run_in_threadpool(call, decode(body))
        return json_response(encode(result))

    app.include_router(artifacts_router)
    app.include_router(endpoints_router)
    return app
