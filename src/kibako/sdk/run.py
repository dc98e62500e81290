"""A run being logged to: buffered, batched writes with both SageMaker-style and MLflow-style names."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kibako.errors import RunFinishedError, ValidationError
from kibako.sdk import _background
from kibako.tracking import _validate
from kibako.tracking.models import COMPLETED, FAILED, STOPPED, Run

if TYPE_CHECKING:
    from kibako.sdk.client import Kibako


class ActiveRun:
    """A run in progress. Use it as a context manager: leaving the block writes everything and ends the run
    (Completed, Failed on an exception, Stopped on Ctrl-C).

    Logging is buffered: points are written in batches when ``max_buffered`` points are waiting, every
    ``flush_interval`` seconds (a background thread sees to it), on ``flush()``, on leaving the block and at
    process exit. With ``sync=True`` every call is durable before it returns.
    """

    def __init__(
        self,
        client: Kibako,
        run: Run,
        *,
        sync: bool = False,
        max_buffered: int = 10_000,
        flush_interval: float = 2.0,
    ) -> None:
        self._client = client
        self._run = run
        self.sync = sync
        self.max_buffered = max_buffered
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        self._points: list[Any] = []
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._next_step: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._ended = False
        # False for a job's run seen from inside its script: the job ends that run, the script only writes to it.
        self.owns_run = True
        _background.register(self)

    # -- identity -----------------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._run.id

    @property
    def name(self) -> str:
        return self._run.name

    @property
    def experiment_name(self) -> str:
        return self._run.experiment_name

    @property
    def info(self) -> Run:
        """The run as stored now (after writing what is buffered)."""
        self.flush()
        return self._client.tracking.get_run(self.id)

    def __repr__(self) -> str:
        return f"ActiveRun({self.experiment_name!r}, {self.name!r}, id={self.id!r})"

    # -- params and tags ------------------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several params; logging a param again with a new value keeps the old one in its history."""
        clean = _validate.string_items("param", params)
        with self._lock:
            self._check_open()
            self._buffer_params(clean)
            self._after_log()

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    log_parameter = log_param
    log_parameters = log_params

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        clean = _validate.string_items("tag", tags)
        with self._lock:
            self._check_open()
            self._tags.update(clean)
            self._after_log()

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    # -- metrics --------------------------------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one value. Without ``step``, each key counts its own steps from 0; ``timestamp`` is in ms."""
        with self._lock:
            self._check_open()
            self._add_point(key, value, step, timestamp)
            self._after_log()

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        with self._lock:
            self._check_open()
            for key, value in metrics.items():
                self._add_point(key, value, step, timestamp)
            self._after_log()

    def log_batch(
        self,
        metrics: Iterable[tuple[str, float, int, int]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log points ``(key, value, step, timestamp_ms)``, params and tags together."""
        from kibako.tracking._columns import metric_columns

        columns = metric_columns(list(metrics))
        clean_params = _validate.string_items("param", params)
        clean_tags = _validate.string_items("tag", tags)
        with self._lock:
            self._check_open()
            # The checked values, as plain Python numbers: NumPy scalars do not cross the wire.
            self._points.extend(
                zip(
                    columns.keys,
                    columns.values.tolist(),
                    columns.steps.tolist(),
                    columns.timestamps.tolist(),
                    strict=True,
                )
            )
            next_step = self._next_step
            for key, step in zip(columns.keys, columns.steps.tolist(), strict=True):
                if step >= next_step.get(key, 0):
                    next_step[key] = step + 1
            self._buffer_params(clean_params)
            self._tags.update(clean_tags)
            self._after_log()

    def _buffer_params(self, params: dict[str, str]) -> None:
        # A param that changes while still buffered is written first, so its history keeps every value.
        if any(self._params.get(k, v) != v for k, v in params.items()):
            self.flush()
        self._params.update(params)

    def _add_point(self, key: str, value: float, step: int | None, timestamp: int | None) -> None:
        next_step = self._next_step
        if step is None:
            step = next_step.get(key, 0)
        if timestamp is None:
            timestamp = time.time_ns() // 1_000_000
        self._points.append(_validate.metric_point(key, value, step, timestamp))
        if step >= next_step.get(key, 0):
            next_step[key] = step + 1

    # -- files, inputs and outputs --------------------------------------------------------------------------

    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
        """Store a file or a folder with the run, under ``artifact_path`` if given; returns its key."""
        self._check_open()
        path = Path(local_path)
        if not path.exists():
            raise ValidationError(f"{path} does not exist; pass the path of a file or folder to store")
        if artifact_path:
            from kibako.artifacts.keys import normalize_key

            artifact_path = normalize_key(artifact_path)  # refuses '..', absolute paths and the like
        key = "/".join(p for p in (f"runs/{self.id}/artifacts", artifact_path or "", path.name) if p)
        self._client.artifacts.put_path(path, key)
        return key

    def log_file(
        self, local_path: str | os.PathLike[str], name: str | None = None, is_output: bool = True
    ) -> str:
        """SageMaker-style: store a file with the run as an output artifact, or, with ``is_output=False``,
        record it as an input by its digest (inputs are referenced, not copied)."""
        if is_output:
            return self.log_output(local_path, name=name, type="File")
        return self.log_input(local_path, name=name, type="File")

    def log_input(
        self,
        path_or_uri: str | os.PathLike[str],
        *,
        name: str | None = None,
        type: str = "Dataset",
        role: str = "",
    ) -> str:
        """Record a dataset (or any file or folder) the run read, by the digest of its content; returns the
        lineage artifact id. The data is not copied."""
        from kibako.artifacts.digest import path_digest

        self._check_open()
        path = Path(path_or_uri)
        if not path.exists():
            raise ValidationError(f"{path} does not exist; an input is a local file or folder")
        digest = path_digest(path)
        size = _size(path)
        return self._client.tracking.log_io(
            self.id, "input", str(path.resolve()), digest, type, name or path.name, size, role
        )

    def log_output(
        self,
        local_path: str | os.PathLike[str],
        *,
        name: str | None = None,
        type: str = "Model",
        role: str = "",
    ) -> str:
        """Store a file or folder the run made (a model, a report) and record it as the run's output;
        returns the lineage artifact id."""
        self._check_open()
        path = Path(local_path)
        if not path.exists():
            raise ValidationError(f"{path} does not exist; pass the path of the file or folder the run made")
        stored = self._client.artifacts.put_path(path, f"runs/{self.id}/outputs/{name or path.name}")
        return self._client.tracking.log_io(
            self.id, "output", stored.uri, stored.digest, type, name or path.name, stored.size, role
        )

    log_model = log_output

    # -- lifecycle ------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything buffered now."""
        with self._lock:
            if not (self._points or self._params or self._tags):
                self._last_flush = time.monotonic()
                return
            points, params, tags = self._points, self._params, self._tags
            self._client.tracking.log_batch(self.id, points, params, tags)
            self._points, self._params, self._tags = [], {}, {}
            self._last_flush = time.monotonic()

    def end(self, status: str = COMPLETED) -> None:
        """Write what is buffered and end the run. If writing fails, the run stays open and keeps its buffer,
        so ``end()`` can be called again."""
        with self._lock:
            if self._ended:
                raise RunFinishedError(f"run {self.id} has ended already")
            self.flush()
            if self.owns_run:
                self._client.tracking.end_run(self.id, status)
            self._ended = True
        _background.forget(self)

    def _flush_if_due(self) -> None:
        """Called by the background thread: write the buffer if it has waited ``flush_interval``."""
        if not self._lock.acquire(blocking=False):
            return  # the owner is writing right now
        try:
            due = time.monotonic() - self._last_flush >= self.flush_interval
            if due and not self._ended and (self._points or self._params or self._tags):
                self.flush()
        finally:
            self._lock.release()

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self._ended:
            return
        if exc_type is None or (issubclass(exc_type, SystemExit) and not getattr(exc, "code", 1)):
            self.end(COMPLETED)
        else:
            self.end(STOPPED if issubclass(exc_type, KeyboardInterrupt) else FAILED)

    def _check_open(self) -> None:
        if self._ended:
            raise RunFinishedError(
                f"run {self.name!r} ({self.id}) has ended; log inside its 'with' block, or start a new run"
            )

    def _after_log(self) -> None:
        if (
            self.sync
            or len(self._points) >= self.max_buffered
            or time.monotonic() - self._last_flush >= self.flush_interval
        ):
            self.flush()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
