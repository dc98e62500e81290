"""``kb.models``: the model registry from Python. Descriptions are AWS's DescribeModelPackage dicts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kibako.core.ids import new_id
from kibako.errors import ConflictError, NotFoundError


class Models:
    def __init__(self, registry: Any, jobs: Any, artifacts: Any, *, remote: bool) -> None:
        self.service = registry
        self._jobs = jobs
        self._artifacts = artifacts
        self._remote = remote

    def __repr__(self) -> str:
        return "kb.models"

    # -- registering -------------------------------------------------------------------------------------------

    def register(
        self,
        source: str,
        group: str,
        *,
        description: str = "",
        metrics: dict[str, float] | None = None,
        metadata: dict[str, str] | None = None,
        approval_status: str = "PendingManualApproval",
        flavor: str | None = None,
    ) -> dict[str, Any]:
        """Register the next version of ``group`` (created if new) from a training job's name (its model, its
        final metrics and lineage back to the job and its data) or from a model's URI or path.

        >>> kb.models.register("churn-train-1", "churn")["ModelPackageVersion"]
        1
        """
        self._ensure_group(group)
        request: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": description,
            "ModelApprovalStatus": approval_status,
            "CustomerMetadataProperties": metadata or {},
            "MetricValues": metrics or {},
        }
        if self._is_job(source):
            request["SourceJobName"] = source
        else:
            uri = source if "://" in source else str(Path(source).expanduser().resolve())
            container: dict[str, Any] = {"ModelDataUrl": uri}
            if flavor:
                container["Flavor"] = flavor
            request["InferenceSpecification"] = {"Containers": [container]}
        return dict(self.service.create_model_package(request))

    def import_model(
        self,
        path: str | os.PathLike[str],
        group: str,
        *,
        flavor: str | None = None,
        model_class: str | None = None,
        sample: str | bytes | None = None,
        sample_content_type: str = "text/csv",
        description: str = "",
        metadata: dict[str, str] | None = None,
        approval_status: str = "PendingManualApproval",
    ) -> dict[str, Any]:
        """Import a model made elsewhere (scikit-learn, XGBoost, LightGBM, PyTorch, ONNX, an MLflow model folder
        or a SageMaker ``model.tar.gz``): it must load and predict ``sample`` (or a sample made from its input
        shape), else nothing is registered. See docs/model-flavors.md."""
        source = str(path)
        if "://" not in source:
            local = Path(source).expanduser().resolve()
            if self._remote:  # the server cannot read this machine's files: send them first
                source = self._artifacts.put_path(local, f"imports/{new_id()}/{local.name}").uri
            else:
                source = str(local)
        text = sample.decode() if isinstance(sample, bytes) else sample
        return dict(
            self.service.import_model(
                source,
                group,
                flavor,
                model_class,
                text,
                sample_content_type,
                description,
                approval_status,
                metadata or {},
            )
        )

    # -- reading -----------------------------------------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any]:
        """A version by ``group/3``, ``group@alias``, ``group/latest``, ``models:/group/3`` or its ARN."""
        return dict(self.service.describe_model_package(ref))

    def list(
        self, group: str, approval_status: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        return list(self.service.list_model_packages(group, approval_status, max_results))

    def groups(self, name_contains: str | None = None) -> list[dict[str, Any]]:
        return list(self.service.list_model_package_groups(name_contains))

    def search(
        self, filter: str = "", group: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        """Versions by metric, approval status, group or creation time, e.g.
        ``kb.models.search("metrics.auc > 0.9 and status = 'Approved'")``."""
        return list(self.service.search_model_packages(filter, group, max_results))

    def history(self, ref: str) -> list[dict[str, Any]]:
        """The version's audit trail: every change after creation, with who made it, when, and the comment."""
        return list(self.service.list_model_package_history(ref))

    # -- changing ----------------------------------------------------------------------------------------------

    def approve(self, ref: str, comment: str = "") -> dict[str, Any]:
        return dict(self.service.set_approval(ref, "Approved", comment))

    def reject(self, ref: str, comment: str = "") -> dict[str, Any]:
        return dict(self.service.set_approval(ref, "Rejected", comment))

    def set_alias(self, group: str, alias: str, version: int) -> dict[str, Any]:
        """Point ``alias`` (e.g. ``champion``) at ``version``; ``group@alias`` then names it everywhere."""
        return dict(self.service.set_alias(group, alias, version))

    def delete_alias(self, group: str, alias: str) -> None:
        self.service.delete_alias(group, alias)

    def set_metadata(self, ref: str, **values: str) -> dict[str, Any]:
        arn = self.get(ref)["ModelPackageArn"]
        return dict(
            self.service.update_model_package({"ModelPackageArn": arn, "CustomerMetadataProperties": values})
        )

    def update_card(
        self, ref: str, content: dict[str, Any] | None = None, status: str | None = None
    ) -> dict[str, Any]:
        """Write the version's model card (content as the model card JSON schema; status Draft, PendingReview,
        Approved or Archived; an Archived card is frozen)."""
        card: dict[str, Any] = {}
        if content is not None:
            card["ModelCardContent"] = json.dumps(content)
        if status is not None:
            card["ModelCardStatus"] = status
        arn = self.get(ref)["ModelPackageArn"]
        return dict(self.service.update_model_package({"ModelPackageArn": arn, "ModelCard": card}))

    # -- internals ---------------------------------------------------------------------------------------------

    def _ensure_group(self, group: str) -> None:
        try:
            self.service.describe_model_package_group(group)
        except NotFoundError:
            try:
                self.service.create_model_package_group({"ModelPackageGroupName": group})
            except ConflictError:
                pass

    def _is_job(self, source: str) -> bool:
        if "/" in source or "://" in source or Path(source).exists():
            return False
        try:
            self._jobs.describe_training_job(source)
        except NotFoundError:
            return False
        return True
