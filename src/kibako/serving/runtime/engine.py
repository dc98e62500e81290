"""The runtime's state outside HTTP: loading, the live routing table, config swaps, shadow copies, shutdown.

Everything here is blocking and thread-safe; the ASGI app (``app.py``) calls it from the event loop through
threads. Models are invoked on :attr:`Engine.pool` (see ``app.py`` for why a pool and not inline), shadow
copies on their own threads behind a bounded queue, so a slow shadow model never holds up production
traffic: when the queue is full the copy is dropped and counted as ``ShadowDropped``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kibako.errors import ConflictError, PayloadError, UnsupportedMediaTypeError
from kibako.serving.runtime.capture import CaptureWriter
from kibako.serving.runtime.config import RuntimeConfig
from kibako.serving.runtime.routing import (
    Handler,
    Loader,
    Route,
    RoutingTable,
    build_table,
    default_loader,
    new_rng,
    retire,
)
from kibako.serving.runtime.stats import StatsBook

log = logging.getLogger("kibako.serving.runtime")

JSON = "application/json"
THREADS_ENV = "KIBAKO_RUNTIME_THREADS"
SHADOW_QUEUE_SIZE = 1000
SHADOW_THREADS = 2
RETIRE_POLL_S = 0.02
CLOSE_TIMEOUT_S = 30.0

T = TypeVar("T")

# (table, shadow route, body, content type, accept, inference id)
_ShadowItem = tuple[RoutingTable, Route, bytes, str, str | None, str | None]


def error_body(code: str, message: str) -> bytes:
    """The one JSON error shape of the runtime: ``{"ErrorCode": ..., "Message": ...}``."""
    return json.dumps({"ErrorCode": code, "Message": message}).encode()


def call_model(
    handler: Handler, body: bytes, content_type: str, accept: str | None
) -> tuple[int, bytes, str, int]:
    """Invoke ``handler``; (status, body, content type, nanoseconds in the model). Never raises.

    PayloadError is the caller's fault (400), UnsupportedMediaTypeError too (415); anything else the model
    raised is a 500 with the error text, and the server goes on serving.
    """
    start = time.perf_counter_ns()
    try:
        out, out_type = handler.invoke(body, content_type, accept)
        status = 200
    except PayloadError as exc:
        status, out, out_type = 400, error_body("ValidationError", exc.message), JSON
    except UnsupportedMediaTypeError as exc:
        status, out, out_type = 415, error_body("UnsupportedMediaType", exc.message), JSON
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        status, out, out_type = 500, error_body("ModelError", f"the model raised {text}"), JSON
    return status, out, out_type, time.perf_counter_ns() - start


def default_threads() -> int:
    """``KIBAKO_RUNTIME_THREADS``, else CPUs + 4 (at most 16).

    sklearn and friends hold the GIL while they predict, so more threads than cores only help models that
    release it (numpy on big inputs, torch, onnxruntime) or wait on I/O.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(16, (os.cpu_count() or 1) + 4)


class InvokePool:
    """Threads that run blocking calls for the event loop and hand the results back to it.

    Why not ``loop.run_in_executor``: its concurrent and asyncio futures, chained callbacks and thread-count
    bookkeeping cost about 24 µs per call on the benchmark machine; a SimpleQueue in and one
    ``call_soon_threadsafe`` out cost about 4 µs, which is throughput on a 1-process server.
    """

    def __init__(self, threads: int) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"kibako-invoke-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, fn, args = item
            try:
                outcome, failed = fn(*args), False
            except BaseException as exc:  # handed to the awaiting request, never lost in this thread
                outcome, failed = exc, True
            try:
                loop.call_soon_threadsafe(_resolve, future, outcome, failed)
            except RuntimeError:  # the loop closed while this ran (shutdown): nobody awaits it any more
                pass

    def close(self, timeout: float = 5.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)


def _resolve(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # the request was cancelled (client gone)
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Engine:
    """One endpoint's models and routing; :meth:`load` once, then :meth:`reconfigure` any number of times."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        loader: Loader | None = None,
        invoke_threads: int | None = None,
        shadow_queue_size: int = SHADOW_QUEUE_SIZE,
        spool_root: Path | None = None,
    ) -> None:
        self.config = config
        self.stats = StatsBook()
        self.table: RoutingTable | None = None
        self.load_error: str | None = None
        self._loader = loader
        self._rng = new_rng()
        self._spool_root = spool_root
        self.pool = InvokePool(invoke_threads or default_threads())
        self._admin_lock = threading.Lock()
        self._retiring: list[RoutingTable] = []
        self._retire_lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._shadow_q: queue.Queue[_ShadowItem | None] = queue.Queue(maxsize=shadow_queue_size)
        self._shadow_threads = [
            threading.Thread(target=self._shadow_worker, name=f"kibako-shadow-{i}", daemon=True)
            for i in range(SHADOW_THREADS)
        ]
        for thread in self._shadow_threads:
            thread.start()
        self._closed = False

    # -- configs -------------------------------------------------------------------------------------------

    def _make_capture(self, config: RuntimeConfig) -> CaptureWriter | None:
        capture = config.capture
        if capture is None or not capture.enabled or capture.sampling_percentage == 0:
            return None
        return CaptureWriter(config.endpoint_name, capture, spool_root=self._spool_root)

    def load(self) -> None:
        """Load the first config's models (blocking); /ping answers 200 once this returns."""
        try:
            loader = self._loader or default_loader()
            self._loader = loader
            table, _ = build_table(self.config, None, loader, self.stats, self._rng, self._make_capture)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            raise
        self.table = table

    def reconfigure(self, config: RuntimeConfig) -> dict[str, Any]:
        """Serve ``config``: load new models while the old table serves, then swap tables in one step.

        Raises ConflictError for a config this runtime cannot take (another endpoint, still loading) and
        whatever loading raised (the old config then stays in place, untouched).
        """
        with self._admin_lock:
            current = self.table
            if current is None or self._loader is None:
                raise ConflictError("the runtime is still loading its first config; try again after /ping")
            if config.endpoint_name != current.config.endpoint_name:
                raise ConflictError(
                    f"this runtime serves endpoint {current.config.endpoint_name!r}, "
                    f"not {config.endpoint_name!r}"
                )
            table, loaded = build_table(
                config, current, self._loader, self.stats, self._rng, self._make_capture
            )
            self.table = table  # the swap: one reference, atomic; in-flight requests keep the old table
            self.config = config
            self._retire_later(current)
        names = [v.name for v in config.variants + config.shadow_variants]
        return {
            "EndpointName": config.endpoint_name,
            "EndpointConfigName": config.config_name,
            "LoadedVariants": loaded,
            "ReusedVariants": [n for n in names if n not in loaded],
        }

    def _retire_later(self, old: RoutingTable) -> None:
        with self._retire_lock:
            self._retiring.append(old)
            if self._reaper is None or not self._reaper.is_alive():
                self._reaper = threading.Thread(target=self._reap, name="kibako-retire", daemon=True)
                self._reaper.start()

    def _reap(self) -> None:
        """Close retired tables' models and writers once no request or shadow copy uses them."""
        while True:
            with self._retire_lock:
                if not self._retiring:
                    self._reaper = None
                    return
                done = [t for t in self._retiring if t.idle]
            for old in done:
                self._retire_one(old)
            time.sleep(RETIRE_POLL_S)

    def _retire_one(self, old: RoutingTable) -> None:
        with self._retire_lock:
            if old not in self._retiring:
                return
            self._retiring.remove(old)
            live = [t for t in [self.table, *self._retiring] if t is not None]
        retire(old, live)

    # -- shadow copies -------------------------------------------------------------------------------------

    def submit_shadows(
        self,
        table: RoutingTable,
        body: bytes,
        content_type: str,
        accept: str | None,
        inference_id: str | None,
    ) -> None:
        """Queue one copy of a request per shadow variant; a full queue drops it (``ShadowDropped``)."""
        for route in table.shadows:
            table.acquire()
            try:
                self._shadow_q.put_nowait((table, route, body, content_type, accept, inference_id))
            except queue.Full:
                table.release()
                route.stats.shadow_dropped()

    def _shadow_worker(self) -> None:
        while True:
            item = self._shadow_q.get()
            try:
                if item is None:
                    return
                self._run_shadow(*item)
            except Exception:  # one bad copy must not end the worker
                log.exception("shadow invocation failed")
            finally:
                self._shadow_q.task_done()

    @staticmethod
    def _run_shadow(
        table: RoutingTable,
        route: Route,
        body: bytes,
        content_type: str,
        accept: str | None,
        inference_id: str | None,
    ) -> None:
        try:
            status, out, out_type, model_ns = call_model(route.model.handler, body, content_type, accept)
            route.stats.invocation(status, model_ns // 1000, None)
            capture = table.capture
            if status == 200 and capture is not None and capture.sampled():
                capture.record(route.name, body, content_type, out, out_type, inference_id)
                route.stats.captured()
        finally:
            table.release()

    # -- flush and shutdown --------------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write (and fsync or upload) every capture record so far; False when capture is off."""
        table = self.table
        if table is None or table.capture is None:
            return False
        table.capture.flush(sync=True)
        return True

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Finish queued shadow copies, then close every model and capture writer (blocking, idempotent)."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        while self._shadow_q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        for _ in self._shadow_threads:
            try:
                self._shadow_q.put(None, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                break
        for thread in self._shadow_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        while True:
            with self._retire_lock:
                pending = list(self._retiring)
            if not pending or time.monotonic() >= deadline:
                break
            for old in pending:
                if old.idle:
                    self._retire_one(old)
            time.sleep(RETIRE_POLL_S)
        with self._retire_lock:
            tables = [t for t in [self.table, *self._retiring] if t is not None]
            self.table = None
            self._retiring.clear()
        for i, old in enumerate(tables):
            retire(old, tables[i + 1 :])  # each shared model and writer closes once, with the last table
        self.pool.close()
