"""The artifact store over HTTP, for clients that reach the server but not the store itself."""

from __future__ import annotations

import tempfile
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from kibako.api.auth import require_role
from kibako.core.wire import encode

router = APIRouter(prefix="/api/v1/artifacts")


def _store(request: Request) -> Any:
    return request.app.state.services.artifacts


@router.get("/list")
def list_artifacts(request: Request, prefix: str = "", recursive: bool = False) -> Response:
    from kibako.api.app import json_response

    require_role(request, "viewer")
    return json_response(encode(_store(request).list(prefix, recursive=recursive)))


@router.get("/uri/{key:path}")
def uri(request: Request, key: str) -> Response:
    from kibako.api.app import json_response

    require_role(request, "viewer")
    store = _store(request)
    return json_response({"uri": store.uri(key), "exists": store.exists(key)})


@router.get("/files/{key:path}")
def download(request: Request, key: str) -> StreamingResponse:
    require_role(request, "viewer")
    store = _store(request)
    handle = store.open(key, "rb")

    def blocks() -> Any:
        with handle:
            while block := handle.read(1 << 20):
                yield block

    return StreamingResponse(blocks(), media_type="application/octet-stream")


@router.put("/files/{key:path}")
async def upload(request: Request, key: str) -> Response:
    from starlette.concurrency import run_in_threadpool

    from kibako.api.app import json_response

    await run_in_threadpool(require_role, request, "editor")
    store = _store(request)
    # Spool to disk, not memory: uploads may be models of many gigabytes.
    with tempfile.NamedTemporaryFile(prefix="kibako-upload-") as spool:
        async for block in request.stream():
            await run_in_threadpool(spool.write, block)
        await run_in_threadpool(spool.flush)
        stored = await run_in_threadpool(store.put_file, spool.name, key)
    return json_response(encode(stored))
