"""Data capture in SageMaker's format: one JSON line per sampled request, in hourly folders per variant.

A line looks like (``endpointInput`` / ``endpointOutput`` only when CaptureOptions asks for them, and
``inferenceId`` only when the caller sent ``X-Amzn-SageMaker-Inference-Id``)::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3,4", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "0", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid4>", "inferenceId": "abc", "inferenceTime": "2022-02-14T17:25:49Z"},
     "eventVersion": "0"}

Files go to ``{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/{MM}-{SS}-{mmm}-{uuid4}.jsonl`` where the
folder is the UTC hour of the record's ``inferenceTime`` and the name is the minute, second and millisecond
the file was opened (SageMaker names its files the same way).

Why it is built like this:

* The request path only appends a tuple to a deque (lock-free, well under a microsecond); the JSON, the
  event id and the base64 are made by one background thread, which writes everything pending every
  :data:`FLUSH_INTERVAL_S` seconds. A crash (SIGKILL) therefore loses at most the last half second or so;
  a clean :meth:`CaptureWriter.close` loses nothing.
* Lines reach the file with one ``os.write`` per batch on an ``O_APPEND`` descriptor, so a killed process
  leaves whole lines (the kernel has them; only a power cut can still cut a line). Files are fsynced when
  they are closed: on rotation, on ``flush(sync=True)`` and on close.
* A file is closed and a new one started at each UTC hour boundary, past :data:`MAX_FILE_BYTES`, or after
  :data:`MAX_FILE_AGE_S` seconds: small enough to upload quickly and to bound how late a remote file is.
* A local destination is written in place. An fsspec destination (``s3://…``) is written into a local spool
  folder and each closed file is uploaded through :class:`kibako.artifacts.ArtifactStore`, then removed.
  Files a crashed process left in the spool are uploaded at start-up (their last, partial line cut off);
  open spool files hold an ``flock``, so a second runtime never uploads a file that is still being written.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path

from kibako.core.config import Config
from kibako.serving.runtime.config import CaptureConfig

try:  # POSIX only; without it the spool recovery simply cannot tell live files from leftovers
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("kibako.serving.runtime.capture")

FLUSH_INTERVAL_S = 0.5
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FILE_AGE_S = 300.0
UPLOAD_RETRY_S = 30.0
WRITE_CHUNK = 512

# The variant nibble of an RFC 4122 UUID is 10xx: map any random hex digit onto 8, 9, a or b.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_quote = encode_basestring_ascii  # json's C string encoder: quotes and escapes, ASCII-safe

# (inference time, variant, input body, input type, output body, output type, inference id)
_Pending = tuple[float, str, bytes, str, bytes, str, str | None]


@dataclass
class _OpenFile:
    fd: int
    path: Path
    key: str  # the path under the destination
    opened: float
    size: int = 0


def is_remote(destination: str) -> bool:
    """Whether ``destination`` is an fsspec URL (``s3://…``) rather than a local folder."""
    return "://" in destination and not destination.startswith("file://")


def _local_root(destination: str) -> Path:
    return Path(destination.removeprefix("file://")).expanduser().resolve()


def default_spool_root() -> Path:
    """Where remote captures wait for upload: ``$KIBAKO_HOME/serving/capture-spool``."""
    return Config.from_env().home / "serving" / "capture-spool"


class CaptureWriter:
    """Buffers capture records and writes them in the background; one per endpoint config.

    Example::

        writer = CaptureWriter("churn", CaptureConfig(destination="/tmp/capture"))
        if writer.sampled():
            writer.record("AllTraffic", b"1,2", "text/csv", b"0", "text/csv", inference_id=None)
        writer.close()  # everything recorded is on disk (or uploaded) now
    """

    def __init__(
        self,
        endpoint_name: str,
        config: CaptureConfig,
        *,
        spool_root: Path | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_file_age_s: float = MAX_FILE_AGE_S,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.config = config
        self._pct = config.sampling_percentage if config.enabled else 0
        self._csv = frozenset(config.csv_content_types)
        self._json = frozenset(config.json_content_types)
        self._max_bytes = max_file_bytes
        self._max_age = max_file_age_s
        self._interval = flush_interval_s
        self._rng = random.Random()
        self._pending: collections.deque[_Pending] = collections.deque()
        self._io_lock = threading.Lock()  # one writer at a time: the thread, flush() or close()
        self._files: dict[tuple[str, int], _OpenFile] = {}
        self._stop = threading.Event()
        self._closed = False
        self._remote = is_remote(config.destination)
        self._uploads: list[_OpenFile] = []  # closed spool files not uploaded yet
        self._next_upload_try = 0.0
        self._stamp_second = -1
        self._stamp = ""
        if self._remote:
            digest = hashlib.sha256(config.destination.encode()).hexdigest()[:16]
            self._root = (spool_root or default_spool_root()) / digest
            self._root.mkdir(parents=True, exist_ok=True)
            (self._root / "destination.txt").write_text(config.destination + "\n")
            self._collect_leftovers()
        else:
            self._root = _local_root(config.destination)
        self._thread = threading.Thread(target=self._run, name=f"kibako-capture-{endpoint_name}", daemon=True)
        self._thread.start()

    # -- request path --------------------------------------------------------------------------------------

    def sampled(self) -> bool:
        """Whether this request is captured (``sampling_percentage`` of them, independently at random)."""
        pct = self._pct
        return pct >= 100 or (pct > 0 and self._rng.random() * 100 < pct)

    def record(
        self,
        variant: str,
        input_body: bytes,
        input_type: str,
        output_body: bytes,
        output_type: str,
        inference_id: str | None = None,
        when: float | None = None,
    ) -> None:
        """Queue one record (``when``: its inference time, default now); written within about a second."""
        self._pending.append(
            (when or time.time(), variant, input_body, input_type, output_body, output_type, inference_id)
        )

    # -- control -------------------------------------------------------------------------------------------

    def flush(self, sync: bool = True) -> None:
        """Write everything queued so far; with ``sync``, fsync it and (remote) upload the open files."""
        with self._io_lock:
            self._write_pending()
            if sync:
                for key in list(self._files):
                    if self._remote:
                        self._finish(key)
                    else:
                        os.fsync(self._files[key].fd)
                self._upload_finished(force=True)

    def close(self) -> None:
        """Stop the thread, write what is queued, close (fsync) every file and upload remote ones."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout=30)
        with self._io_lock:
            self._write_pending()
            for key in list(self._files):
                self._finish(key)
            self._upload_finished(force=True)

    # -- background ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._io_lock:
                    self._write_pending()
                    self._rotate(time.time())
                    self._upload_finished(force=False)
            except Exception:  # never let one bad batch (disk full, bad body) end capture for good
                log.exception("data capture: writing a batch failed")

    def _write_pending(self) -> None:
        pending = self._pending
        while pending:
            # Chunks keep each stretch of GIL-holding work short: os.write releases the GIL between chunks,
            # so the event loop is never starved by a large backlog (the convoy effect).
            count = min(len(pending), WRITE_CHUNK)
            batches: dict[tuple[str, int], list[str]] = {}
            popleft = pending.popleft
            randoms = os.urandom(16 * count).hex()
            for i in range(count):
                item = popleft()
                key = (item[1], int(item[0] // 3600))
                batch = batches.get(key)
                if batch is None:
                    batch = batches[key] = []
                batch.append(self._line(item, randoms[32 * i : 32 * i + 32]))
            for key, lines in batches.items():
                opened = self._files.get(key) or self._open(key)
                data = "".join(lines).encode()
                view = memoryview(data)
                while view:  # a regular file takes it all at once; loop only to be safe against short writes
                    view = view[os.write(opened.fd, view) :]
                opened.size += len(data)

    def _line(self, item: _Pending, random_hex: str) -> str:
        """One record as a JSON line, assembled by hand: about 4 µs where json.dumps of dicts took 14."""
        when, _variant, input_body, input_type, output_body, output_type, inference_id = item
        halves = []
        if self.config.capture_input:
            halves.append('"endpointInput":' + self._half(input_body, input_type, "INPUT"))
        if self.config.capture_output:
            halves.append('"endpointOutput":' + self._half(output_body, output_type, "OUTPUT"))
        h = random_hex  # a version-4 UUID from 128 random bits, as uuid.uuid4() makes it
        event_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
        second = int(when)
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        inference = f',"inferenceId":{_quote(inference_id)}' if inference_id else ""
        return (
            '{"captureData":{'
            + ",".join(halves)
            + '},"eventMetadata":{"eventId":"'
            + event_id
            + '"'
            + inference
            + ',"inferenceTime":"'
            + self._stamp
            + '"},"eventVersion":"0"}\n'
        )

    def _half(self, body: bytes, content_type: str, mode: str) -> str:
        media = content_type.split(";", 1)[0].strip().lower()
        encoding = "CSV" if media in self._csv else "JSON" if media in self._json else "BASE64"
        data: str | None = None
        if encoding != "BASE64":
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:  # a listed type with bytes that are not text: keep them exactly
                encoding = "BASE64"
        if data is None:
            data = base64.b64encode(body).decode("ascii")
        return (
            '{"observedContentType":'
            + _quote(content_type)
            + ',"mode":"'
            + mode
            + '","data":'
            + _quote(data)
            + ',"encoding":"'
            + encoding
            + '"}'
        )

    def _open(self, key: tuple[str, int]) -> _OpenFile:
        variant, hour = key
        now = time.time()
        folder_rel = f"{self.endpoint_name}/{variant}/" + time.strftime(
            "%Y/%m/%d/%H", time.gmtime(hour * 3600)
        )
        stamp = time.strftime("%M-%S", time.gmtime(now)) + f"-{int(now % 1 * 1000):03d}"
        rel = f"{folder_rel}/{stamp}-{uuid.uuid4()}.jsonl"
        path = self._root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self._remote and fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        opened = self._files[key] = _OpenFile(fd=fd, path=path, key=rel, opened=now)
        return opened

    def _rotate(self, now: float) -> None:
        hour = int(now // 3600)
        for key, opened in list(self._files.items()):
            if key[1] != hour or opened.size >= self._max_bytes or now - opened.opened >= self._max_age:
                self._finish(key)

    def _finish(self, key: tuple[str, int]) -> None:
        """Close one file for good: fsync it; a spool file then waits in the upload list."""
        opened = self._files.pop(key)
        try:
            os.fsync(opened.fd)
        finally:
            os.close(opened.fd)  # also drops the flock
        if self._remote:
            self._uploads.append(opened)

    # -- remote destinations -------------------------------------------------------------------------------

    def _collect_leftovers(self) -> None:
        """Queue for upload the spool files a crashed runtime of this endpoint left behind."""
        for path in sorted((self._root / self.endpoint_name).rglob("*.jsonl")):
            if not _unlocked(path):
                continue  # another live runtime is still writing it
            _cut_partial_line(path)
            rel = path.relative_to(self._root).as_posix()
            self._uploads.append(_OpenFile(fd=-1, path=path, key=rel, opened=0.0))
        if self._uploads:
            log.warning("data capture: uploading %d file(s) left by an earlier run", len(self._uploads))

    def _upload_finished(self, force: bool) -> None:
        if not self._uploads or (not force and time.monotonic() < self._next_upload_try):
            return
        from kibako.artifacts import ArtifactStore  # fsspec and s3fs only for remote destinations

        store = ArtifactStore(self.config.destination)
        remaining: list[_OpenFile] = []
        for item in self._uploads:
            try:
                if item.path.stat().st_size:
                    store.put_file(item.path, item.key)
                item.path.unlink()
            except FileNotFoundError:
                continue
            except Exception as exc:  # keep it in the spool; the next round (or the next start) retries
                log.warning("data capture: upload of %s failed (%s); will retry", item.key, exc)
                remaining.append(item)
        self._uploads = remaining
        self._next_upload_try = time.monotonic() + UPLOAD_RETRY_S if remaining else 0.0


def _unlocked(path: Path) -> bool:
    if fcntl is None:
        return True
    with contextlib.suppress(OSError), open(path, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    return False


def _cut_partial_line(path: Path) -> None:
    """Drop a last line the crash cut short, so every line of an uploaded file is whole JSON."""
    with open(path, "r+b") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end != len(data):
            handle.truncate(end)
