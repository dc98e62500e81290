"""``kb.endpoints``: deploying models behind endpoints and invoking them from Python."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kibako.errors import ConflictError, KibakoError, ServerUnreachableError, error_class


@dataclass(frozen=True)
class Invocation:
    """An endpoint's answer: the body, its content type and the production variant that served it."""

    body: bytes
    content_type: str
    variant: str

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode()


@dataclass(frozen=True)
class Variant:
    """A production (or shadow) variant of :meth:`Endpoints.deploy`: a registry version or a model name."""

    model: str
    weight: float = 1.0


class Endpoints:
    def __init__(self, serving: Any, jobs: Any, tracking: Any, *, http: Any = None) -> None:
        self.service = serving
        self._tracking = tracking
        self._jobs = jobs  # kb.jobs: starts a worker to host the endpoint when the embedded store has none
        self._http = http  # the server's client, when remote: invocations go through its proxy route
        self._direct: Any = None

    def __repr__(self) -> str:
        return "kb.endpoints"

    # -- deploying ---------------------------------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        variants: Mapping[str, Variant | str | tuple[str, float]],
        *,
        shadow: Mapping[str, Variant | str] | None = None,
        capture_percent: int | None = None,
        capture_destination: str | None = None,
        wait: bool = True,
        timeout: float = 300.0,
    ) -> dict[str, Any]:
        """Create a model per variant, an endpoint config and the endpoint, in one call.

        ``variants`` maps a variant name to a registry version (``"churn/3"``, ``"churn@champion"``) with an
        optional weight: ``{"A": ("churn/3", 9), "B": ("churn/4", 1)}`` sends 90% of requests to A.
        ``capture_percent`` turns data capture on for that share of requests. Returns DescribeEndpoint.
        """
        production = {k: _variant(v) for k, v in variants.items()}
        shadows = {k: _variant(v) for k, v in (shadow or {}).items()}
        suffix = str(int(time.time() * 1000))
        config: dict[str, Any] = {
            "EndpointConfigName": f"{name}-{suffix}",
            "ProductionVariants": [
                {
                    "VariantName": k,
                    "ModelName": self._model(name, k, v, suffix),
                    "InitialVariantWeight": v.weight,
                }
                for k, v in production.items()
            ],
            "ShadowProductionVariants": [
                {
                    "VariantName": k,
                    "ModelName": self._model(name, k, v, suffix),
                    "InitialVariantWeight": v.weight,
                }
                for k, v in shadows.items()
            ],
        }
        if capture_percent is not None:
            capture: dict[str, Any] = {"EnableCapture": True, "InitialSamplingPercentage": capture_percent}
            if capture_destination:
                capture["DestinationS3Uri"] = capture_destination
            config["DataCaptureConfig"] = capture
        self.service.create_endpoint_config(config)
        self.service.create_endpoint(
            {"EndpointName": name, "EndpointConfigName": config["EndpointConfigName"]}
        )
        return self._started(name, wait, timeout)

    def create(
        self, name: str, config_name: str, *, wait: bool = True, timeout: float = 300.0
    ) -> dict[str, Any]:
        self.service.create_endpoint({"EndpointName": name, "EndpointConfigName": config_name})
        return self._started(name, wait, timeout)

    def update(
        self, name: str, config_name: str, *, wait: bool = True, timeout: float = 300.0
    ) -> dict[str, Any]:
        """Move the endpoint to another endpoint config; requests are answered throughout."""
        self.service.update_endpoint({"EndpointName": name, "EndpointConfigName": config_name})
        return self.wait(name, timeout=timeout) if wait else self.describe(name)

    def update_weights(
        self, name: str, weights: Mapping[str, float], *, wait: bool = True, timeout: float = 60.0
    ) -> dict[str, Any]:
        """New traffic weights for the named production variants, applied live."""
        self.service.update_endpoint_weights_and_capacities(
            {
                "EndpointName": name,
                "DesiredWeightsAndCapacities": [
                    {"VariantName": k, "DesiredWeight": w} for k, w in weights.items()
                ],
            }
        )
        return self.wait(name, timeout=timeout) if wait else self.describe(name)

    def delete(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Delete the endpoint; its capture files are flushed first, its runs and lineage stay."""
        self.service.delete_endpoint(name)
        deadline = time.monotonic() + timeout
        while wait:
            try:
                self.describe(name)
            except KibakoError as exc:
                if exc.http_status == 404:
                    return
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"endpoint {name} is still being deleted after {timeout} s")
            time.sleep(0.1)

    # -- reading -----------------------------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.service.describe_endpoint(name))

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        return list(self.service.list_endpoints(status))

    def wait(self, name: str, status: str = "InService", timeout: float = 300.0) -> dict[str, Any]:
        """Block until the endpoint is ``status`` (or Failed, which raises)."""
        deadline = time.monotonic() + timeout
        while True:
            desc = self.describe(name)
            if desc["EndpointStatus"] == status:
                return desc
            if desc["EndpointStatus"] == "Failed":
                raise ConflictError(f"endpoint {name} Failed: {desc.get('FailureReason', 'no reason given')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"endpoint {name} is {desc['EndpointStatus']} after {timeout} s")
            time.sleep(0.05)

    def metrics(self, name: str) -> dict[str, Any]:
        """The endpoint's per-variant series (``A/Invocations``, ``A/ModelLatency`` in microseconds, ...), as
        they were drained from its process every few seconds: ``{key: MetricHistory}``."""
        run = self._tracking.get_run(self.describe(name)["RunId"])
        return {key: self._tracking.get_metric_history(run.id, key) for key in sorted(run.metrics)}

    # -- invoking ----------------------------------------------------------------------------------------------

    def invoke(
        self,
        name: str,
        body: bytes | str,
        *,
        content_type: str = "text/csv",
        accept: str | None = None,
        target_variant: str | None = None,
        inference_id: str | None = None,
    ) -> Invocation:
        """InvokeEndpoint: send ``body`` to the endpoint; the answer names the variant that served it. Errors
        keep their HTTP meaning: 400 (a body that does not decode), 415 (a content type the model cannot read),
        500 (the model raised)."""
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        if target_variant:
            headers["X-Amzn-SageMaker-Target-Variant"] = target_variant
        if inference_id:
            headers["X-Amzn-SageMaker-Inference-Id"] = inference_id
        data = body.encode() if isinstance(body, str) else body
        if self._http is not None:
            response = self._http.send(
                "POST", f"/api/v1/endpoints/{quote(name)}/invocations", content=data, headers=headers
            )
        else:
            response = self._post(self.describe(name), data, headers)
        if response.status_code >= 400:
            raise _invocation_error(name, response)
        return Invocation(
            response.content,
            response.headers.get("content-type", ""),
            response.headers.get("x-amzn-invoked-production-variant", ""),
        )

    def _post(self, desc: dict[str, Any], data: bytes, headers: dict[str, str]) -> Any:
        import httpx

        url = desc.get("Url")
        if desc["EndpointStatus"] not in ("InService", "Updating", "RollingBack") or not url:
            raise ConflictError(
                f"endpoint {desc['EndpointName']} is {desc['EndpointStatus']}; it answers once InService"
            )
        if self._direct is None:
            self._direct = httpx.Client(timeout=60.0)
        try:
            return self._direct.post(f"{url}/invocations", content=data, headers=headers)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"endpoint {desc['EndpointName']} did not answer at {url}: {exc}"
            ) from None

    # -- internals ---------------------------------------------------------------------------------------------

    def _model(self, endpoint: str, variant: str, spec: Variant, suffix: str) -> str:
        """A CreateModel for ``spec.model``: a registry version, or an existing model's name as it is."""
        if "/" not in spec.model and "@" not in spec.model and not spec.model.startswith("arn:"):
            return spec.model
        name = f"{endpoint}-{variant}-{suffix}"[:63]
        self.service.create_model({"ModelName": name, "PrimaryContainer": {"ModelPackageName": spec.model}})
        return name

    def _started(self, name: str, wait: bool, timeout: float) -> dict[str, Any]:
        if self._http is None:
            self._jobs.ensure_worker()  # embedded with no worker alive: one starts and hosts the endpoint
        return self.wait(name, timeout=timeout) if wait else self.describe(name)

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()


def _variant(value: Variant | str | tuple[str, float]) -> Variant:
    if isinstance(value, Variant):
        return value
    if isinstance(value, tuple):
        return Variant(value[0], float(value[1]))
    return Variant(value)


def _invocation_error(name: str, response: Any) -> KibakoError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    message = payload.get("Message") or payload.get("message") or response.text[:500]
    if isinstance(payload.get("error"), dict):
        message = payload["error"].get("message", message)
    cls = {400: "ValidationError", 404: "NotFoundError", 409: "ConflictError", 413: "ValidationError"}.get(
        response.status_code, "UnsupportedMediaTypeError" if response.status_code == 415 else "RemoteError"
    )
    error = error_class(cls)(f"endpoint {name} answered HTTP {response.status_code}: {message}")
    error.fields["status_code"] = response.status_code
    return error
