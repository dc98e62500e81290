"""The batch transform runtime: ``python -m kibako.serving.batch``, run inside a transform job.

It loads the model once, then transforms every input file (sorted; with several instances each takes its
share) into ``<file>.out`` under the output folder:

- SplitType None: the whole file is one request, and the answer is written as it is.
- SplitType Line: each non-blank line is a record. SingleRecord sends one record per request; MultiRecord as
  many as fit in MaxPayloadInMB. CSV records are sent joined by newlines; JSON records (application/json or
  application/jsonlines, one JSON value per line, each one row) as one JSON array. Each answer is split back
  into one output per record (a CSV answer by lines, a JSON answer by the items of its ``predictions`` list),
  so the output has one record per input record, in order, whatever the batching.
- DataProcessing: InputFilter is applied to each record before it is sent; JoinSource Input joins each output
  to its input record (CSV: the input columns, then the output columns; JSON: the input object with a
  ``SageMakerOutput`` key, or ``{"SageMakerInput": ..., "SageMakerOutput": ...}`` when the input is not an
  object); OutputFilter is applied to what is written. AssembleWith Line writes one record per line; None
  concatenates them (as SageMaker does).

Requests run on MaxConcurrentTransforms threads; files are streamed line by line, and at most twice that many
requests are held at once, so memory stays bounded whatever the input's size. Progress goes to stdout (the
job's log). On failure the exit code is 1, and the reason, naming the file and line, is written to the failure
file, which becomes the job's FailureReason.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kibako.core.jsonpath import JsonPathError
from kibako.errors import KibakoError, PayloadError, UnsupportedMediaTypeError
from kibako.jobs.transform import JSON, Settings, family, settings
from kibako.serving._batch_values import Output, as_fields, as_json, csv_fields, csv_text, split_answer

MB = 1024 * 1024


class BatchError(Exception):
    """The job fails with this reason (already prefixed ClientError: or AlgorithmError:)."""


@dataclass
class Record:
    """One input record: where it is, what it was, and what is sent for it (after InputFilter)."""

    line: int  # 1-based line in its file; 0 for a whole file (SplitType None)
    value: Any  # parsed (a CSV row as a list of strings, or a JSON value); None when nothing needs it
    payload: bytes


@dataclass
class Batch:
    file: str
    records: list[Record]
    body: bytes

    @property
    def where(self) -> str:
        first, last = self.records[0].line, self.records[-1].line
        if first == 0:
            return self.file
        return f"{self.file} line {first}" if first == last else f"{self.file} lines {first}-{last}"


class Transformer:
    """Runs one job's files through a loaded handler, as :mod:`kibako.serving.batch` describes."""

    def __init__(self, handler: Any, config: Settings, output_dir: Path) -> None:
        self.handler = handler
        self.config = config
        self.output_dir = output_dir
        self.kind = family(config.content_type)
        answer = family(config.accept)
        self.accept: str | None = JSON if answer == "jsonlines" else (config.accept or None)
        self.request_type = JSON if self.kind in ("json", "jsonlines") else config.content_type
        self.requests = 0
        self.records = 0
        # Split answers into records only where something needs them one by one.
        self.per_record = (
            config.join
            or not config.output_filter.is_root
            or (config.assemble_line and config.split == "Line")
        )

    # -- files ---------------------------------------------------------------------------------------------

    def run(self, files: list[tuple[Path, str]]) -> None:
        started = time.monotonic()
        for path, name in files:
            self.transform_file(path, name)
        print(
            f"transform: done: {len(files)} file(s), {self.records} record(s), {self.requests} request(s) in "
            f"{time.monotonic() - started:.2f} s",
            flush=True,
        )

    def transform_file(self, path: Path, name: str) -> None:
        target = self.output_dir / f"{name}.out"
        target.parent.mkdir(parents=True, exist_ok=True)
        requests, records = self.requests, self.records
        print(f"transform: {name}: started", flush=True)
        with open(target, "wb") as out:
            batches = self._whole(path, name) if self.config.split == "None" else self._batches(path, name)
            self._pump(batches, out)
        print(
            f"transform: {name}: {self.records - records} record(s) in {self.requests - requests} request(s) "
            f"-> {target.name}",
            flush=True,
        )

    def _pump(self, batches: Iterator[Batch], out: IO[bytes]) -> None:
        """Send batches on the worker threads, writing answers in input order as they come back."""
        window: deque[tuple[Batch, Future[tuple[bytes, str]]]] = deque()
        limit = 2 * self.config.concurrency
        pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="kibako-transform")
        try:
            for batch in batches:
                window.append((batch, pool.submit(self._invoke, batch)))
                if len(window) >= limit:
                    self._write(*window.popleft(), out)
            while window:
                self._write(*window.popleft(), out)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # a request stuck in the model must not hold us
            raise
        pool.shutdown()

    # -- reading -------------------------------------------------------------------------------------------

    def _open(self, path: Path) -> IO[bytes]:
        if self.config.compression == "Gzip":
            return gzip.open(path, "rb")
        return open(path, "rb")

    def _whole(self, path: Path, name: str) -> Iterator[Batch]:
        try:
            with self._open(path) as f:
                body = f.read()
        except (OSError, EOFError) as exc:
            raise BatchError(f"ClientError: {name}: cannot read the file: {exc}") from None
        limit = self.config.max_payload_bytes
        if limit and len(body) > limit:
            raise BatchError(
                f"ClientError: {name} is {len(body) / MB:.1f} MB, larger than MaxPayloadInMB "
                f"({limit // MB}); set SplitType Line to send it record by record, or raise MaxPayloadInMB "
                "(0: no limit)"
            )
        value: Any = None
        if self.kind == "jsonlines":
            lines = [line for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()]
            body = ("[" + ",".join(lines) + "]").encode()
        elif self.kind == "json" and (self.config.join or not self.config.input_filter.is_root):
            value = self._json(body.decode("utf-8", errors="replace"), name, 0)
            if not self.config.input_filter.is_root:
                body = json.dumps(self._filtered(value, name, 0), separators=(",", ":")).encode()
        yield Batch(name, [Record(0, value, body)], body)

    def _batches(self, path: Path, name: str) -> Iterator[Batch]:
        single = self.config.strategy == "SingleRecord"
        limit = self.config.max_payload_bytes
        wrap = 2 if self.kind in ("json", "jsonlines") else 0
        pending: list[Record] = []
        size = wrap
        for record in self._records(path, name):
            grown = size + len(record.payload) + (1 if pending else 0)
            if pending and (single or grown > limit):
                yield self._batch(name, pending)
                pending, grown = [], wrap + len(record.payload)
            if grown > limit:
                raise BatchError(
                    f"ClientError: {name} line {record.line}: the record is {len(record.payload) / MB:.2f} MB, "
                    f"larger than MaxPayloadInMB ({limit // MB})"
                )
            pending.append(record)
            size = grown
        if pending:
            yield self._batch(name, pending)

    def _batch(self, name: str, records: list[Record]) -> Batch:
        payloads = [r.payload for r in records]
        if self.kind in ("json", "jsonlines"):
            body = b"[" + b",".join(payloads) + b"]"
        else:
            body = b"\n".join(payloads)
        return Batch(name, records, body)

    def _records(self, path: Path, name: str) -> Iterator[Record]:
        config = self.config
        keep = config.join  # the original record is needed only to join it
        text = ""
        for number, line in self._lines(path, name):
            if self.kind in ("csv", "json", "jsonlines"):
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise BatchError(f"ClientError: {name} line {number}: not UTF-8 text ({exc})") from None
            if self.kind == "csv":
                value = self._csv(text, name, number) if keep or not config.input_filter.is_root else None
                payload = line
                if not config.input_filter.is_root:
                    payload = csv_text(self._filtered(value, name, number)).encode()
            elif self.kind in ("json", "jsonlines"):
                value = self._json(text, name, number)
                sent = self._filtered(value, name, number)
                payload = (
                    text.strip().encode()
                    if config.input_filter.is_root and isinstance(value, list | dict)
                    else json.dumps(sent if isinstance(sent, list | dict) else [sent]).encode()
                )
                if not keep:
                    value = None
            else:
                value, payload = None, line
            yield Record(number, value, payload)

    def _lines(self, path: Path, name: str) -> Iterator[tuple[int, bytes]]:
        """The file's non-blank lines (without their line ends) and their numbers, read as they are needed."""
        number = 0
        try:
            with self._open(path) as f:
                for number, raw in enumerate(f, 1):
                    line = raw.rstrip(b"\r\n")
                    if line.strip():
                        yield number, line
        except (OSError, EOFError) as exc:
            raise BatchError(f"ClientError: {name} line {number + 1}: cannot read the file: {exc}") from None

    def _csv(self, text: str, name: str, line: int) -> list[str]:
        try:
            return csv_fields(text)
        except csv.Error as exc:
            raise BatchError(f"ClientError: {name} line {line}: not a CSV record: {exc}") from None

    def _json(self, text: str, name: str, line: int) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{name} line {line}" if line else name
            raise BatchError(
                f"ClientError: {where}: not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None

    def _filtered(self, value: Any, name: str, line: int) -> Any:
        try:
            return self.config.input_filter.apply(value)
        except JsonPathError as exc:
            where = f"{name} line {line}" if line else name
            raise BatchError(f"ClientError: {where}: InputFilter: {exc}") from None

    # -- the model -----------------------------------------------------------------------------------------

    def _invoke(self, batch: Batch) -> tuple[bytes, str]:
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                answer: tuple[bytes, str] = self.handler.invoke(batch.body, self.request_type, self.accept)
                return answer
            except (PayloadError, UnsupportedMediaTypeError):
                raise
            except Exception:
                if attempt == attempts - 1:
                    raise
                print(f"transform: {batch.where}: the model failed; retrying ({attempt + 1})", flush=True)
        raise AssertionError("unreachable")

    def _answer(self, batch: Batch, future: Future[tuple[bytes, str]]) -> tuple[bytes, str]:
        try:
            return future.result(timeout=self.config.timeout)
        except FutureTimeout:
            raise BatchError(
                f"AlgorithmError: {batch.where}: the model did not answer within InvocationsTimeoutInSeconds "
                f"({self.config.timeout} s)"
            ) from None
        except (PayloadError, UnsupportedMediaTypeError) as exc:
            raise BatchError(f"ClientError: {self._culprit(batch, exc)}") from None
        except Exception as exc:
            detail = exc.message if isinstance(exc, KibakoError) else f"{type(exc).__name__}: {exc}"
            raise BatchError(f"AlgorithmError: {batch.where}: the model failed: {detail}") from None

    def _culprit(self, batch: Batch, error: KibakoError) -> str:
        """The first record of a refused batch that the model refuses on its own, named by file and line."""
        if len(batch.records) > 1:
            for record in batch.records:
                single = self._batch(batch.file, [record])
                try:
                    self.handler.invoke(single.body, self.request_type, self.accept)
                except (PayloadError, UnsupportedMediaTypeError) as exc:
                    return f"{single.where}: the model cannot read the record: {exc.message}"
                except Exception:  # noqa: BLE001 - the batch's own error is reported below
                    break
        return f"{batch.where}: the model cannot read the request: {error.message}"

    # -- writing -------------------------------------------------------------------------------------------

    def _write(self, batch: Batch, future: Future[tuple[bytes, str]], out: IO[bytes]) -> None:
        body, content_type = self._answer(batch, future)
        self.requests += 1
        self.records += len(batch.records)
        whole = self.config.split == "None"
        outputs = split_answer(body, content_type, len(batch.records), whole) if self.per_record else None
        if outputs is None:
            if self.config.join or not self.config.output_filter.is_root:
                raise BatchError(
                    f"AlgorithmError: {batch.where}: the model answered {content_type or 'something'} that "
                    f"cannot be split into {len(batch.records)} record(s) to join or filter"
                )
            out.write(body)
            if self.config.assemble_line and not body.endswith(b"\n"):
                out.write(b"\n")
            return
        answer = family(self.config.accept) or family(content_type)
        for record, output in zip(batch.records, outputs, strict=True):
            text = self._render(record, output, answer, batch.file)
            out.write(text.encode())
            if self.config.assemble_line:
                out.write(b"\n")

    def _render(self, record: Record, output: Output, answer: str, name: str) -> str:
        config = self.config
        where = f"{name} line {record.line}" if record.line else name
        if config.join:
            if self.kind == "csv":
                joined: Any = list(record.value) + as_fields(output)
            else:
                result = as_json(output)
                if isinstance(record.value, dict):
                    joined = {**record.value, "SageMakerOutput": result}
                else:
                    joined = {"SageMakerInput": record.value, "SageMakerOutput": result}
            selected = self._output_filter(joined, where)
            if self.kind == "csv":
                return csv_text(selected)
            return json.dumps(selected, separators=(",", ":"))
        if config.output_filter.is_root:
            if output.kind == "csv":
                return str(output.data)
            return json.dumps(output.data, separators=(",", ":"))
        if output.kind == "csv":
            return csv_text(self._output_filter(as_fields(output), where))
        selected = self._output_filter(output.data, where)
        return csv_text(selected) if answer == "csv" else json.dumps(selected, separators=(",", ":"))

    def _output_filter(self, value: Any, where: str) -> Any:
        try:
            return self.config.output_filter.apply(value)
        except JsonPathError as exc:
            raise BatchError(f"ClientError: {where}: OutputFilter: {exc}") from None


# -- the job's side ------------------------------------------------------------------------------------------


def input_files(folder: Path, config_dir: Path) -> list[tuple[Path, str]]:
    """Every file under ``folder`` (sorted), with its name relative to it; this instance's share of them."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    named = [(p, p.relative_to(folder).as_posix()) for p in files]
    try:
        resource = json.loads((config_dir / "resourceconfig.json").read_text())
        hosts = list(resource["hosts"])
        index = hosts.index(resource["current_host"])
    except (OSError, ValueError, KeyError):
        return named
    return named[index :: len(hosts)]


def model_path(folder: Path) -> Path:
    """The model to load: the one file fetched (a model file or a model.tar.gz), else the folder."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_file() else folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kibako.serving.batch", description=__doc__)
    parser.add_argument("--config", required=True, help="the CreateTransformJob request (JSON)")
    parser.add_argument("--input", required=True, help="the folder holding the input files")
    parser.add_argument("--model", required=True, help="the folder holding the model")
    parser.add_argument("--output", required=True, help="where <file>.out files are written")
    parser.add_argument("--failure", default="", help="where the reason of a failure is written")
    args = parser.parse_args(argv)
    try:
        request = json.loads(Path(args.config).read_text())
        config = settings(request)
        files = input_files(Path(args.input), Path(args.config).parent)
        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        print(
            f"transform: {len(files)} file(s), SplitType {config.split}, BatchStrategy {config.strategy}, "
            f"MaxPayloadInMB {config.max_payload_bytes // MB}, MaxConcurrentTransforms {config.concurrency}",
            flush=True,
        )
        handler = _load(Path(args.model), request)
        try:
            Transformer(handler, config, output).run(files)
        finally:
            handler.close()
    except BatchError as exc:
        return _fail(str(exc), args.failure)
    except KibakoError as exc:
        return _fail(f"ClientError: {exc.message}", args.failure)
    return 0


def _load(folder: Path, request: dict[str, Any]) -> Any:
    from kibako.inference import load_model

    path = model_path(folder)
    try:
        return load_model(path, flavor=request.get("Flavor"), model_class=request.get("ModelClass"))
    except KibakoError as exc:
        reason = f"ClientError: the model {request.get('ModelName')!r} cannot be loaded: {exc.message}"
        raise BatchError(reason) from None


def _stopped(signum: int, frame: Any) -> None:
    """SIGTERM (the job was stopped): unwind, so that what was written so far is flushed and uploaded."""
    print("transform: stopping (SIGTERM); what was written so far is kept", flush=True)
    raise SystemExit(128 + signum)


def _fail(reason: str, failure: str) -> int:
    print(f"transform: failed: {reason}", flush=True)
    if failure:
        path = Path(failure)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason[:1024])
    return 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stopped)
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        os._exit(code)  # a request may still run on a worker thread (a model that hangs): do not wait for it
    sys.exit(code)
