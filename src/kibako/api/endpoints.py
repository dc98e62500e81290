"""InvokeEndpoint through the server (``POST /api/v1/endpoints/{name}/invocations``), for clients that reach
the server but not the worker hosting the endpoint. Headers pass both ways as SageMaker's runtime has them."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from kibako.api.auth import require_role
from kibako.errors import ConflictError, ServerUnreachableError

router = APIRouter(prefix="/api/v1/endpoints")

_FORWARDED = (
    "content-type",
    "accept",
    "x-amzn-sagemaker-target-variant",
    "x-amzn-sagemaker-inference-id",
)


@router.post("/{name}/invocations")
async def invoke(request: Request, name: str) -> Response:
    await run_in_threadpool(require_role, request, "viewer")
    serving = request.app.state.services.serving
    desc = await run_in_threadpool(serving.describe_endpoint, name)
    if not desc.get("Url"):
        raise ConflictError(f"endpoint {name} is {desc['EndpointStatus']}; it answers once InService")
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    client: httpx.AsyncClient | None = getattr(request.app.state, "endpoint_client", None)
    if client is None:
        client = request.app.state.endpoint_client = httpx.AsyncClient(timeout=60.0)
    try:
        answer = await client.post(
            f"{desc['Url']}/invocations", content=await request.body(), headers=headers
        )
    except httpx.TransportError as exc:
        raise ServerUnreachableError(f"endpoint {name} did not answer at {desc['Url']}: {exc}") from None
    out = {
        k: v
        for k, v in answer.headers.items()
        if k.lower() in ("content-type", "x-amzn-invoked-production-variant")
    }
    return Response(answer.content, status_code=answer.status_code, headers=out)
