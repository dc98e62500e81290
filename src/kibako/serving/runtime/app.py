"""The runtime's HTTP face: a raw ASGI app (no framework) for uvicorn with httptools and uvloop.

Routes: ``GET /ping``; ``POST /invocations`` and ``POST /endpoints/{endpoint}/invocations``; the admin routes
``POST /_kibako/config``, ``GET /_kibako/config``, ``GET /_kibako/stats[?drain=1]`` and
``POST /_kibako/flush``, which need ``X-Kibako-Secret``. Every error answers
``{"ErrorCode": ..., "Message": ...}`` as JSON.

Why a raw ASGI app on uvicorn (httptools, uvloop, access log off): a framework's routing, request objects
and dependency injection cost more per request than this whole router, and the runtime must answer at least
twice as many requests per second as ``mlflow models serve`` (FastAPI) with one process. Measured on the
2-core development machine with an echo model and 10 keep-alive connections: a minimal ASGI app under
uvicorn 21k req/s, a hand-written asyncio Protocol on httptools 75k req/s, this runtime 7-13k req/s (the
machine was shared, hence the range). With the benchmark's sklearn model, whose ``invoke`` takes 250-500 µs,
the model dominates and a raw Protocol could win at most ~15%, so uvicorn stays: it brings HTTP/1.1
correctness (keep-alive, pipelining, flow control, malformed requests) and the graceful SIGTERM drain.

Where ``handler.invoke`` runs: a model starts on the invoke threads
(:class:`~kibako.serving.runtime.engine.InvokePool`), so a slow model never stalls ``/ping``, the admin
routes or other variants. Once its last 20 calls each took at most 2 ms, it is called inline on the event
loop for bodies up to 64 KB, and its first slower call sends it back to the threads: the loop is held
longer than 2 ms only by the one call in which a so-far fast model turns slow. Why not threads always: each request then pays two thread
wake-ups, which on a busy 2-core machine cost 0.1-0.25 ms at p50 and more at p99 (router overhead p99 fell
from 1.7 ms to 0.17 ms with the inline path, ``benchmarks/serving_router_overhead.py``), and throughput on
the sklearn model was 5% lower than inline (2,037 against 2,155 req/s, alternating rounds). The pool itself
is a SimpleQueue plus ``call_soon_threadsafe``, not ``run_in_executor``: 4 µs per call against 24, and with
an echo model 13.4k req/s against 8.2k, measured back to back. ``KIBAKO_RUNTIME_THREADS`` sets the number of
invoke threads (default: CPUs + 4, at most 16).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from kibako.errors import ConflictError, ValidationError
from kibako.serving.runtime.config import RuntimeConfig
from kibako.serving.runtime.engine import JSON, Engine, call_model, error_body
from kibako.serving.runtime.routing import INLINE_MAX_BODY

log = logging.getLogger("kibako.serving.runtime")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoints' request limit
MAX_DISCARD_BYTES = 64 * 1024 * 1024
MAX_INFERENCE_ID = 64
MAX_ADMIN_BODY_BYTES = 1024 * 1024
TARGET_HEADER = b"x-amzn-sagemaker-target-variant"
INFERENCE_ID_HEADER = b"x-amzn-sagemaker-inference-id"
SECRET_HEADER = b"x-kibako-secret"
_JSON_HEADERS = [(b"content-type", JSON.encode())]
_DEFAULT_CONTENT_TYPE = ""  # none sent: the handler says so (415), capture records it as base64


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    first = await receive()
    if first["type"] == "http.disconnect":
        raise _Disconnected
    body: bytes = first.get("body", b"")
    if not first.get("more_body"):  # the common case: the whole body came in one message
        if len(body) > limit:
            raise _TooLarge
        return body
    chunks, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _discard_body(receive: Receive) -> None:
    """Read and drop the rest of a body, up to :data:`MAX_DISCARD_BYTES` (past that the connection closes)."""
    dropped = 0
    while dropped < MAX_DISCARD_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            return
        dropped += len(message.get("body", b""))


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, code: str, message: str) -> None:
    await _answer(send, status, error_body(code, message), _JSON_HEADERS)


class RuntimeApp:
    """ASGI app over one :class:`Engine`; ``on_fatal`` is called when the first load fails."""

    def __init__(self, engine: Engine, on_fatal: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self._on_fatal = on_fatal
        self._loading: asyncio.Future[None] | None = None
        self._endpoint_path = f"/endpoints/{engine.config.endpoint_name}/invocations"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path == "/invocations" or path == self._endpoint_path:
                if scope["method"] != "POST":
                    return await _error(send, 405, "MethodNotAllowed", f"use POST for {path}")
                return await self._invocations(scope, receive, send)
            if path == "/ping":
                ready = self.engine.table is not None
                return await _answer(send, 200 if ready else 503, b"", [])
            if path.startswith("/_kibako/"):
                return await self._admin(scope, receive, send, path[len("/_kibako/") :])
            if path.startswith("/endpoints/") and path.endswith("/invocations"):
                name = path[len("/endpoints/") : -len("/invocations")]
                message = f"endpoint {name!r} is not served here; this runtime serves {self.engine.config.endpoint_name!r}"
                return await _error(send, 404, "NotFound", message)
            return await _error(send, 404, "NotFound", f"no route {path}")
        if kind == "lifespan":
            return await self._lifespan(receive, send)

    # -- invocations ---------------------------------------------------------------------------------------

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter_ns()
        engine = self.engine
        table = engine.table
        if table is None:
            return await _error(send, 503, "ServiceUnavailable", "the models are still loading; poll /ping")
        content_type = _DEFAULT_CONTENT_TYPE
        accept = target = inference_id = None
        content_length = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == TARGET_HEADER:
                target = value.decode("latin-1")
            elif name == INFERENCE_ID_HEADER:
                inference_id = value.decode("latin-1")
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
        if target is not None:
            route = table.production.get(target)
            if route is None:
                engine.stats.unrouted.invocation(400, None, None)
                names = ", ".join(table.variant_names)
                message = f"target variant {target!r} is not a production variant of this endpoint; variants: {names}"
                return await _error(send, 400, "ValidationError", message)
        else:
            route = table.pick()
            if route is None:
                engine.stats.unrouted.invocation(503, None, None)
                message = "every production variant has weight 0; name one in X-Amzn-SageMaker-Target-Variant"
                return await _error(send, 503, "ServiceUnavailable", message)
        if inference_id is not None and not 0 < len(inference_id) <= MAX_INFERENCE_ID:
            route.stats.invocation(400, None, None)
            message = f"X-Amzn-SageMaker-Inference-Id must be 1-{MAX_INFERENCE_ID} characters"
            return await _error(send, 400, "ValidationError", message)
        table.acquire()
        try:
            if content_length > MAX_BODY_BYTES:
                raise _TooLarge
            body = await _read_body(receive, MAX_BODY_BYTES)
            model = route.model
            if model.inline and len(body) <= INLINE_MAX_BODY:
                status, out, out_type, model_ns = call_model(model.handler, body, content_type, accept)
            else:
                status, out, out_type, model_ns = await engine.pool.submit(
                    asyncio.get_running_loop(), call_model, model.handler, body, content_type, accept
                )
            model.observe(model_ns)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", out_type.encode("latin-1")),
                        (b"content-length", str(len(out)).encode()),
                        (b"x-amzn-invoked-production-variant", route.name.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": out})
            capture = table.capture
            if status == 200 and capture is not None and capture.sampled():
                capture.record(route.name, body, content_type, out, out_type, inference_id)
                route.stats.captured()
            if table.shadows:
                engine.submit_shadows(table, body, content_type, accept, inference_id)
            total_ns = time.perf_counter_ns() - started
            route.stats.invocation(status, model_ns // 1000, (total_ns - model_ns) // 1000)
        except _TooLarge:
            # Read the rest before answering: a client still sending when the connection closes sees a
            # reset, not the 413 (the bytes are dropped as they come, so memory stays flat).
            await _discard_body(receive)
            route.stats.invocation(413, None, None)
            message = f"the request body is larger than the {MAX_BODY_BYTES // (1024 * 1024)} MB limit"
            await _error(send, 413, "PayloadTooLarge", message)
        except _Disconnected:
            pass
        finally:
            table.release()

    # -- admin ---------------------------------------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send, action: str) -> None:
        secret = self.engine.config.secret
        given = next((v for k, v in scope["headers"] if k == SECRET_HEADER), b"")
        if not secret or not hmac.compare_digest(given, secret.encode()):
            return await _error(
                send, 403, "AccessDenied", "the admin routes need the runtime's X-Kibako-Secret"
            )
        method = scope["method"]
        loop = asyncio.get_running_loop()
        if action == "stats" and method == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            drain = query.get("drain", ["0"])[-1].lower() in ("1", "true", "yes")
            return await _answer(send, 200, json.dumps(self._stats(drain)).encode(), _JSON_HEADERS)
        if action == "config" and method == "GET":
            document = self.engine.config.to_json()
            document["secret"] = "***"
            return await _answer(send, 200, json.dumps(document).encode(), _JSON_HEADERS)
        if action == "flush" and method == "POST":
            flushed = await loop.run_in_executor(None, self.engine.flush)
            return await _answer(send, 200, json.dumps({"Flushed": flushed}).encode(), _JSON_HEADERS)
        if action == "config" and method == "POST":
            return await self._reconfigure(receive, send)
        return await _error(send, 404, "NotFound", f"no admin route {method} /_kibako/{action}")

    def _stats(self, drain: bool) -> dict[str, Any]:
        engine = self.engine
        config = engine.config
        keep = {v.name for v in config.variants + config.shadow_variants}
        document = {"EndpointName": config.endpoint_name, "EndpointConfigName": config.config_name}
        document.update(engine.stats.read(drain, keep))
        return document

    async def _reconfigure(self, receive: Receive, send: Send) -> None:
        try:
            raw = await _read_body(receive, MAX_ADMIN_BODY_BYTES)
            config = RuntimeConfig.from_json(json.loads(raw))
        except _TooLarge:
            return await _error(send, 413, "PayloadTooLarge", "the config is larger than 1 MB")
        except _Disconnected:
            return
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            return await _error(send, 400, "ValidationError", f"the config is not valid: {exc}")
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, self.engine.reconfigure, config)
        except ConflictError as exc:  # still loading the first config, or another endpoint's config
            return await _error(send, 409, "Conflict", exc.message)
        except (
            Exception
        ) as exc:  # a model that does not load (ModelLoadError or worse): the old config serves
            log.warning("new config %s not applied: %s", config.config_name, exc)
            message = f"the new config was not applied, the old one still serves: {type(exc).__name__}: {exc}"
            return await _error(send, 422, "ModelLoadError", message)
        await _answer(send, 200, json.dumps(answer).encode(), _JSON_HEADERS)

    # -- lifespan ------------------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load in the background: the socket must accept connections at once, /ping says when ready.
                self._loading = loop.run_in_executor(None, self.engine.load)
                self._loading.add_done_callback(self._loaded)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await loop.run_in_executor(None, self.engine.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _loaded(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            log.info("endpoint %s ready", self.engine.config.endpoint_name)
            return
        reason = f"loading the models of endpoint {self.engine.config.endpoint_name!r} failed: {self.engine.load_error or error}"
        log.error(reason)
        if self._on_fatal is not None:
            self._on_fatal(reason)
