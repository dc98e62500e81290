"""Checking CreateModel, CreateEndpointConfig and endpoint requests as SageMaker does, and the statuses and
event names of endpoints."""

from __future__ import annotations

import json
import re
from typing import Any

from kibako.errors import ValidationError

MODEL, ENDPOINT_CONFIG, ENDPOINT = "Model", "EndpointConfig", "Endpoint"  # context / execution types
EVENT_SOURCE = "aws.sagemaker"
MODEL_STATE_CHANGE = "SageMaker Model State Change"
CONFIG_STATE_CHANGE = "SageMaker Endpoint Config State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"

CREATING, IN_SERVICE, UPDATING, SYSTEM_UPDATING = "Creating", "InService", "Updating", "SystemUpdating"
ROLLING_BACK, FAILED, DELETING, DELETED = "RollingBack", "Failed", "Deleting", "Deleted"
STATUSES = (CREATING, IN_SERVICE, UPDATING, SYSTEM_UPDATING, ROLLING_BACK, FAILED, DELETING)

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Inference images of SageMaker's framework containers: each runs here in the server's own Python.
INFERENCE_IMAGES = (
    "sagemaker-scikit-learn",
    "sagemaker-xgboost",
    "pytorch-inference",
    "sagemaker-pytorch",
    "kibako/",
)


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            f"{field} {value!r} is not valid: 1-63 letters, digits and hyphens, starting and ending with a letter "
            "or digit"
        )
    return value


def plain(request: Any, what: str) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise ValidationError(f"a {what} request is a JSON object, got {type(request).__name__}")
    return json.loads(json.dumps(request))


def check_model(request: Any) -> dict[str, Any]:
    """A CreateModel request: ``ModelName`` and a ``PrimaryContainer`` (or one ``Containers`` entry) with
    ``ModelDataUrl`` or ``ModelPackageName``. Local additions on the container: ``Flavor``, ``ModelClass``."""
    req = plain(request, "CreateModel")
    check_name(req.get("ModelName"), "ModelName")
    container = req.get("PrimaryContainer")
    if container is None and isinstance(req.get("Containers"), list) and len(req["Containers"]) == 1:
        container = req["Containers"][0]
    if not isinstance(container, dict):
        raise ValidationError(
            "CreateModel needs PrimaryContainer (one container; inference pipelines are not run)"
        )
    if not container.get("ModelDataUrl") and not container.get("ModelPackageName"):
        raise ValidationError("PrimaryContainer needs ModelDataUrl or ModelPackageName")
    image = container.get("Image")
    if image and not any(known in str(image) for known in INFERENCE_IMAGES):
        raise ValidationError(
            f"image {image!r} is not one of SageMaker's framework inference images "
            f"({', '.join(i for i in INFERENCE_IMAGES if '/' not in i)}); give one of those, or leave Image out"
        )
    env = container.get("Environment") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValidationError("PrimaryContainer.Environment maps names to strings")
    req["PrimaryContainer"] = container
    req.pop("Containers", None)
    return req


def check_endpoint_config(request: Any) -> dict[str, Any]:
    """A CreateEndpointConfig request: ProductionVariants (names unique, weights >= 0), ShadowProductionVariants,
    DataCaptureConfig (InitialSamplingPercentage 0-100, CaptureOptions Input/Output)."""
    req = plain(request, "CreateEndpointConfig")
    check_name(req.get("EndpointConfigName"), "EndpointConfigName")
    variants = req.get("ProductionVariants")
    if not isinstance(variants, list) or not 1 <= len(variants) <= 10:
        raise ValidationError("ProductionVariants must list 1 to 10 variants")
    shadows = req.get("ShadowProductionVariants") or []
    if not isinstance(shadows, list) or len(shadows) > 1:
        raise ValidationError("ShadowProductionVariants lists at most one variant (as on SageMaker)")
    names: list[str] = []
    for where, items in (("ProductionVariants", variants), ("ShadowProductionVariants", shadows)):
        for i, v in enumerate(items):
            if not isinstance(v, dict):
                raise ValidationError(f"{where}[{i}] is an object")
            names.append(check_name(v.get("VariantName"), f"{where}[{i}].VariantName"))
            check_name(v.get("ModelName"), f"{where}[{i}].ModelName")
            weight = v.setdefault("InitialVariantWeight", 1.0)
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise ValidationError(
                    f"{where}[{i}].InitialVariantWeight must be a number >= 0, not {weight!r}"
                )
            count = v.setdefault("InitialInstanceCount", 1)
            if not isinstance(count, int) or count < 1:
                raise ValidationError(f"{where}[{i}].InitialInstanceCount must be a whole number >= 1")
    if len(set(names)) != len(names):
        raise ValidationError(
            "variant names must be unique across ProductionVariants and ShadowProductionVariants"
        )
    if sum(float(v["InitialVariantWeight"]) for v in variants) <= 0:
        raise ValidationError("at least one production variant needs a weight above 0")
    capture = req.get("DataCaptureConfig")
    if capture is not None:
        req["DataCaptureConfig"] = check_capture(capture)
    req["ShadowProductionVariants"] = shadows
    return req


def check_capture(capture: Any) -> dict[str, Any]:
    if not isinstance(capture, dict):
        raise ValidationError("DataCaptureConfig is an object")
    out = dict(capture)
    out.setdefault("EnableCapture", True)
    pct = out.get("InitialSamplingPercentage")
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        raise ValidationError("DataCaptureConfig.InitialSamplingPercentage is required: a whole number 0-100")
    options = out.setdefault("CaptureOptions", [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}])
    if (
        not isinstance(options, list)
        or not 1 <= len(options) <= 32
        or any(not isinstance(o, dict) or o.get("CaptureMode") not in ("Input", "Output") for o in options)
    ):
        raise ValidationError(
            'DataCaptureConfig.CaptureOptions lists {"CaptureMode": "Input" | "Output"} (1-32)'
        )
    dest = out.get("DestinationS3Uri")
    if dest is not None and (not isinstance(dest, str) or len(dest) > 512):
        raise ValidationError("DataCaptureConfig.DestinationS3Uri is a URI of at most 512 characters")
    headers = out.get("CaptureContentTypeHeader") or {}
    if not isinstance(headers, dict):
        raise ValidationError("DataCaptureConfig.CaptureContentTypeHeader is an object")
    for key in ("CsvContentTypes", "JsonContentTypes"):
        value = headers.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(t, str) for t in value)):
            raise ValidationError(f"CaptureContentTypeHeader.{key} is a list of content types")
    return out


def event_status(status: str) -> str:
    """The status as the endpoint's EventBridge event spells it (``InService`` -> ``IN_SERVICE``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()
