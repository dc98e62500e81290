"""The registry's vocabulary: names, statuses and the checks on what a request may say (AWS's rules, and
MLflow's for aliases)."""

from __future__ import annotations

import json
import re
from typing import Any

from kibako.errors import ValidationError

GROUP = "ModelPackageGroup"  # the context type of a group
EVENT_SOURCE = "aws.sagemaker"
STATE_CHANGE = "SageMaker Model Package State Change"
GROUP_STATE_CHANGE = "SageMaker Model Package Group State Change"

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED)
COMPLETED = "Completed"  # ModelPackageStatus: a local registration is complete when it is written
CARD_STATUSES = ("Draft", "PendingReview", "Approved", "Archived")
MAX_CARD_CHARS = 100_000
MAX_DESCRIPTION = 1024

# A version's fields that may change after it is created; everything else (above all the model) is fixed.
MUTABLE_FIELDS = (
    "ModelApprovalStatus",
    "ApprovalDescription",
    "CustomerMetadataProperties",
    "CustomerMetadataPropertiesToRemove",
    "ModelCard",
    "ModelLifeCycle",
)

_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ALIAS = re.compile(r"^[\w\-]{1,255}$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)

# Framework images a flavor is served with, as SageMaker names them (the registry records one per version).
FLAVOR_IMAGES = {
    "sklearn": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2",
    "xgboost": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "pytorch": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311",
    "lightgbm": "kibako/lightgbm-inference:local",
    "onnx": "kibako/onnx-inference:local",
    "mlflow": "kibako/mlflow-pyfunc:local",
    "sagemaker": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2",
}


def check_group_name(name: Any) -> str:
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        raise ValidationError(
            f"ModelPackageGroupName {name!r} is not valid: 1-63 letters, digits and hyphens, starting and ending "
            "with a letter or digit"
        )
    return name


def check_approval_status(value: Any) -> str:
    if value not in APPROVAL_STATUSES:
        raise ValidationError(f"ModelApprovalStatus is one of {', '.join(APPROVAL_STATUSES)}, not {value!r}")
    return str(value)


def check_alias(alias: Any) -> str:
    """MLflow's rule: word characters and hyphens, at most 255; ``latest`` and ``v<digits>`` are reserved."""
    if not isinstance(alias, str) or not _ALIAS.match(alias):
        raise ValidationError(f"alias {alias!r} is not valid: use 1-255 letters, digits, '_' or '-'")
    if _RESERVED_ALIAS.match(alias):
        raise ValidationError(f"alias {alias!r} is reserved ('latest' and 'v<number>' name versions already)")
    return alias


def check_description(value: Any, field: str = "ModelPackageDescription") -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise ValidationError(f"{field} must be a string of at most {MAX_DESCRIPTION} characters")
    return value


def check_metadata(value: Any, field: str = "CustomerMetadataProperties") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 1 <= len(k) <= 128 and len(v) <= 256
        for k, v in value.items()
    ):
        raise ValidationError(f"{field} maps names (1-128 characters) to string values (at most 256)")
    return dict(value)


def check_card(value: Any, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ModelCard block (ModelCardContent as a JSON string, ModelCardStatus); an Archived card is frozen."""
    if not isinstance(value, dict):
        raise ValidationError("ModelCard is an object with ModelCardContent and ModelCardStatus")
    if current and current.get("ModelCardStatus") == "Archived":
        raise ValidationError("the model card is Archived; an archived card cannot change")
    status = value.get("ModelCardStatus", (current or {}).get("ModelCardStatus", "Draft"))
    if status not in CARD_STATUSES:
        raise ValidationError(f"ModelCardStatus is one of {', '.join(CARD_STATUSES)}, not {status!r}")
    content = value.get("ModelCardContent", (current or {}).get("ModelCardContent", "{}"))
    if isinstance(content, dict):
        content = json.dumps(content)
    if not isinstance(content, str) or len(content) > MAX_CARD_CHARS:
        raise ValidationError(f"ModelCardContent is a JSON string of at most {MAX_CARD_CHARS} characters")
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        raise ValidationError(f"ModelCardContent is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or "model_package_details" in parsed:
        raise ValidationError(
            "ModelCardContent is a JSON object following the model card schema, without model_package_details"
        )
    return {"ModelCardContent": content, "ModelCardStatus": status}


def check_lifecycle(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("Stage"), str) or not value["Stage"]:
        raise ValidationError("ModelLifeCycle needs Stage (and may have StageStatus, StageDescription)")
    out = {k: value[k] for k in ("Stage", "StageStatus", "StageDescription") if k in value}
    if any(not isinstance(v, str) for v in out.values()) or len(out["Stage"]) > 63:
        raise ValidationError(
            "ModelLifeCycle fields are strings; Stage and StageStatus at most 63 characters"
        )
    return out


def check_containers(spec: Any) -> list[dict[str, Any]]:
    """The containers of an InferenceSpecification; each needs a ModelDataUrl here (no image runs locally
    without one)."""
    if not isinstance(spec, dict):
        raise ValidationError("InferenceSpecification is an object with Containers")
    containers = spec.get("Containers")
    if not isinstance(containers, list) or not containers:
        raise ValidationError("InferenceSpecification.Containers must list at least one container")
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not isinstance(c.get("ModelDataUrl"), str) or not c["ModelDataUrl"]:
            raise ValidationError(f"InferenceSpecification.Containers[{i}].ModelDataUrl is required")
    return containers
