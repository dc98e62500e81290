"""Hosting an endpoint on a worker: its inference process (``python -m kibako.serving.runtime``), held with a
lease on the job queue for as long as the endpoint lives.

The host starts the process and waits for ``/ping`` (Creating -> InService), carries out changes written by
the service (UpdateEndpoint and new weights through ``POST /_kibako/config``, which swaps variants without
dropping a request; a config whose models do not load rolls back), restarts a process that died
(SystemUpdating -> InService), drains the per-variant counters into the endpoint's run every few seconds,
and on delete stops the process gracefully (capture files flushed) before the endpoint is retired. When its
worker goes, the endpoint goes back to the queue and the next worker brings it back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from kibako.errors import KibakoError
from kibako.jobs import transfer
from kibako.jobs.executors import Launch, signal_group, start_process
from kibako.jobs.resources import Resources
from kibako.jobs.service import DONE, QUEUED, Claim, LeaseLostError
from kibako.serving import models
from kibako.serving.runtime.config import CaptureConfig, RuntimeConfig, VariantConfig

READY_SECONDS = float(os.environ.get("KIBAKO_ENDPOINT_READY_SECONDS", "240"))  # SageMaker: 4 minutes
METRICS_SECONDS = float(os.environ.get("KIBAKO_ENDPOINT_METRICS_SECONDS", "10"))
STOP_GRACE_SECONDS = 30.0  # SIGTERM, then SIGKILL 30 s later, as SageMaker stops a container
TICK_SECONDS = 0.2


def host_endpoint(serving: Any, claim: Claim, worker_id: str, lease_ms: int, stopping: Any) -> None:
    EndpointHost(serving, claim, worker_id, lease_ms, stopping).run()


class EndpointHost:
    def __init__(self, serving: Any, claim: Claim, worker_id: str, lease_ms: int, stopping: Any) -> None:
        self.serving = serving
        self.jobs = serving.jobs
        self.claim = claim
        self.id = claim.job_id
        self.name = str(claim.description["EndpointName"])
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.stopping = stopping
        self.process: Any = None
        self.url = ""
        self.secret = secrets.token_hex(16)
        self.port: int | None = None
        home = Path(self.jobs.home or Path.home() / ".kibako")
        self.cache = home / "serving" / "models"
        self.folder = home / "serving" / "endpoints" / self.name
        self.log = home / "logs" / "endpoints" / f"{self.name}.log"
        self.run_id = str(claim.properties["RunId"])
        self.step = int(claim.properties.get("MetricsStep", 0))

    # -- the loop ----------------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._serve()
        except LeaseLostError:
            pass  # another worker holds the endpoint now: it runs the process; this one writes nothing
        except Exception as exc:
            self._stop_process()
            with contextlib.suppress(KibakoError):
                self._update(models.FAILED, {"FailureReason": _reason(exc), "Url": None}, release=DONE)
            raise
        finally:
            self._stop_process()

    def _serve(self) -> None:
        row = self.serving.load_row(self.id)
        if row.status == models.DELETING:
            self.serving.retire(self.id)
            return
        config_name = row.properties["EndpointConfigName"]
        weights = dict(row.properties["Weights"])
        try:
            config, fields = self._runtime_config(config_name, weights)
            self._start(config)
        except Exception as exc:  # noqa: BLE001 - any failure to deploy is the endpoint's FailureReason
            self._update(models.FAILED, {"FailureReason": _reason(exc), "Url": None}, release=DONE)
            return
        self._update(models.IN_SERVICE, {**fields, "FailureReason": None}, started=row.start_ms is None)
        self.serving.record_deployment(self.id, fields["ModelDataUrls"])
        next_renew = next_metrics = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_renew:
                lease = self.jobs.renew(self.id, self.worker_id, self.lease_ms)
                if not lease.held:
                    return
                next_renew = now + self.lease_ms / 3000
            row = self.serving.load_row(self.id)
            if row.status == models.DELETING:
                self._drain_metrics()
                self._stop_process()
                self.serving.retire(self.id)
                return
            if self.stopping():
                self._drain_metrics()
                self._stop_process()
                self._update(
                    models.SYSTEM_UPDATING,
                    {"Url": None, "FailureReason": "waiting for a worker to host the endpoint"},
                    release=QUEUED,
                )
                return
            if self.process.poll() is not None:
                self._restart(config)
            if row.status == models.UPDATING:
                config = self._apply(row, config)
            if now >= next_metrics:
                self._drain_metrics()
                next_metrics = now + METRICS_SECONDS
            time.sleep(TICK_SECONDS)

    # -- deploying ---------------------------------------------------------------------------------------------

    def _runtime_config(
        self, config_name: str, weights: dict[str, float]
    ) -> tuple[RuntimeConfig, dict[str, Any]]:
        """The runtime's config for endpoint config ``config_name`` (models fetched to the local cache), and the
        description fields that go with it (``ModelDataUrls``: the models it serves)."""
        config = self.serving.describe_endpoint_config(config_name)
        uris: list[str] = []

        def variant(v: dict[str, Any], weight: float) -> VariantConfig:
            container = self.serving.describe_model(v["ModelName"])["PrimaryContainer"]
            uris.append(container["ModelDataUrl"])
            return VariantConfig(
                name=v["VariantName"],
                model_name=v["ModelName"],
                model_dir=str(self._fetch(container["ModelDataUrl"])),
                flavor=container.get("Flavor"),
                model_class=container.get("ModelClass"),
                weight=weight,
            )

        production = [
            variant(v, weights.get(v["VariantName"], float(v["InitialVariantWeight"])))
            for v in config["ProductionVariants"]
        ]
        shadows = [variant(v, float(v["InitialVariantWeight"])) for v in config["ShadowProductionVariants"]]
        capture = None
        fields: dict[str, Any] = {
            "EndpointConfigName": config_name,
            "Weights": {v.name: v.weight for v in production},
            "ShadowProductionVariants": [
                {"VariantName": v.name, "CurrentWeight": v.weight, "CurrentInstanceCount": 1} for v in shadows
            ]
            or None,
            "DataCaptureConfig": None,
        }
        dc = config.get("DataCaptureConfig")
        if dc:
            modes = {o["CaptureMode"] for o in dc["CaptureOptions"]}
            headers = dc.get("CaptureContentTypeHeader") or {}
            capture = CaptureConfig(
                enabled=bool(dc["EnableCapture"]),
                sampling_percentage=int(dc["InitialSamplingPercentage"]),
                destination=str(dc["DestinationS3Uri"]),
                capture_input="Input" in modes,
                capture_output="Output" in modes,
                csv_content_types=[t.lower() for t in headers.get("CsvContentTypes") or ["text/csv"]],
                json_content_types=[
                    t.lower() for t in headers.get("JsonContentTypes") or ["application/json"]
                ],
            )
            fields["DataCaptureConfig"] = {
                "EnableCapture": capture.enabled,
                "CaptureStatus": "Started" if capture.enabled else "Stopped",
                "CurrentSamplingPercentage": capture.sampling_percentage,
                "DestinationS3Uri": capture.destination,
            }
        runtime = RuntimeConfig(
            endpoint_name=self.name,
            config_name=config_name,
            variants=production,
            shadow_variants=shadows,
            capture=capture,
            secret=self.secret,
        )
        fields["ModelDataUrls"] = uris
        return runtime, fields

    def _fetch(self, uri: str) -> Path:
        """The model at ``uri`` in this machine's cache (fetched once per URI; a model URI never changes)."""
        folder = self.cache / hashlib.sha256(uri.encode()).hexdigest()[:20]
        if not folder.exists():
            partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            transfer.fetch(uri, partial)
            with contextlib.suppress(OSError):  # another worker may have filled the cache meanwhile
                partial.rename(folder)
            shutil.rmtree(partial, ignore_errors=True)
        entries = list(folder.iterdir())
        return entries[0] if len(entries) == 1 and entries[0].is_file() else folder

    def _start(self, config: RuntimeConfig) -> None:
        config_file = self._write_config(config)
        port = _free_port(self.claim.properties.get("Port"))
        self.url = f"http://127.0.0.1:{port}"
        argv = [
            sys.executable,
            "-m",
            "kibako.serving.runtime",
            "--config",
            str(config_file),
            "--port",
            str(port),
        ]
        self.process = start_process(Launch(argv, dict(os.environ), Path.cwd(), self.log, Resources(0, 0, 0)))
        self._wait_ready()
        self.port = port

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the inference process exited with code {self.process.poll()}: {self._log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=2.0).status_code == 200:
                    return
            self.jobs.renew(self.id, self.worker_id, self.lease_ms)
            time.sleep(0.05)
        raise RuntimeError(
            f"the endpoint did not answer /ping within {READY_SECONDS:.0f} s: {self._log_tail()}"
        )

    def _restart(self, config: RuntimeConfig) -> None:
        reason = f"the inference process ended (code {self.process.poll()}); restarted: {self._log_tail()}"
        self._update(models.SYSTEM_UPDATING, {"FailureReason": reason})
        try:
            self._start(config)
        except Exception as exc:  # noqa: BLE001
            self._update(models.FAILED, {"FailureReason": _reason(exc), "Url": None}, release=DONE)
            raise LeaseLostError("the endpoint failed") from exc
        self._update(models.IN_SERVICE, {"Url": self.url, "Port": self.port})

    def _apply(self, row: Any, current: RuntimeConfig) -> RuntimeConfig:
        """Carry out an UpdateEndpoint or new weights; roll back (old variants keep serving) on failure."""
        import httpx

        props = row.properties
        config_name = props.get("PendingConfigName") or props["EndpointConfigName"]
        weights = dict(props.get("PendingWeights") or props["Weights"])
        clear = {"PendingConfigName": None, "PendingWeights": None}
        try:
            if props.get("PendingConfigName"):
                weights = {}  # a new config starts from its own initial weights
            new, fields = self._runtime_config(config_name, weights)
            answer = httpx.post(
                f"{self.url}/_kibako/config",
                json=new.to_json(),
                headers={"X-Kibako-Secret": self.secret},
                timeout=READY_SECONDS,
            )
            if answer.status_code != 200:
                raise RuntimeError(answer.text[:2000])
        except Exception as exc:  # noqa: BLE001 - the old config keeps serving
            self._update(
                models.ROLLING_BACK, {**clear, "FailureReason": f"update rolled back: {_reason(exc)}"}
            )
            self._update(models.IN_SERVICE, {})
            return current
        self._update(models.IN_SERVICE, {**fields, **clear, "FailureReason": None})
        self.serving.record_deployment(self.id, fields["ModelDataUrls"])  # only models that did serve
        self._write_config(new)
        return new

    def _write_config(self, config: RuntimeConfig) -> Path:
        """The config the process reads when it (re)starts: always the one being served."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "runtime.json"
        path.write_text(json.dumps(config.to_json()))
        return path

    # -- metrics -----------------------------------------------------------------------------------------------

    def _drain_metrics(self) -> None:
        """Move the runtime's per-variant counters into the endpoint's run, one point per window."""
        import httpx

        if not self.url:
            return
        try:
            stats = httpx.get(
                f"{self.url}/_kibako/stats",
                params={"drain": "1"},
                headers={"X-Kibako-Secret": self.secret},
                timeout=5.0,
            ).json()
        except (httpx.HTTPError, ValueError):
            return
        points = metric_points(stats, self.step, int(time.time() * 1000))
        if not points:
            return
        with contextlib.suppress(KibakoError):
            self.serving.tracking.log_batch(self.run_id, points)
            self.step += 1
            self.jobs.update(self.id, self.worker_id, fields={"MetricsStep": self.step})

    # -- ending ------------------------------------------------------------------------------------------------

    def _stop_process(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        signal_group(self.process, signal.SIGTERM)  # the runtime finishes requests and flushes capture files
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except Exception:  # noqa: BLE001
            signal_group(self.process, signal.SIGKILL)
            self.process.wait()

    def _update(
        self, status: str, fields: dict[str, Any], *, release: str | None = None, started: bool = False
    ) -> None:
        fields = {**fields}
        if status == models.IN_SERVICE and self.url:
            fields.setdefault("Url", self.url)
            fields.setdefault("Port", self.port)
        self.jobs.update(
            self.id, self.worker_id, status=status, fields=fields, release=release, started=started
        )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:].strip()
        except OSError:
            return ""


def metric_points(stats: dict[str, Any], step: int, ts_ms: int) -> list[tuple[str, float, int, int]]:
    """The runtime's stats window as metric points ``(key, value, step, ts)``: per variant, the counts and the
    latency figures (microseconds, as CloudWatch's ModelLatency)."""
    points: list[tuple[str, float, int, int]] = []
    for variant, figures in (stats.get("Variants") or {}).items():
        for key in (
            "Invocations",
            "Invocation4XXErrors",
            "Invocation5XXErrors",
            "CapturedRecords",
            "ShadowDropped",
        ):
            points.append((f"{variant}/{key}", float(figures.get(key, 0)), step, ts_ms))
        for key in ("ModelLatency", "OverheadLatency"):
            summary = figures.get(key) or {}
            if summary.get("count"):
                points.append((f"{variant}/{key}", float(summary["sum"]) / summary["count"], step, ts_ms))
                if summary.get("p99") is not None:
                    points.append((f"{variant}/{key}P99", float(summary["p99"]), step, ts_ms))
    return points


def _free_port(preferred: Any = None) -> int:
    """``preferred`` (the port the endpoint had before) when it is free, so its URL survives a restart."""
    for port in ([int(preferred)] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
