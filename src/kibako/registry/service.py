"""The model registry's use cases, shaped as SageMaker's ModelPackage API (requests and responses keep AWS's
field names), with MLflow's aliases beside them.

Every change is written with its "SageMaker Model Package State Change" event in one transaction, and every
change after creation goes to the version's history: who, when, what, and the comment given.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kibako.artifacts.digest import path_digest
from kibako.core.clock import Clock
from kibako.core.ids import arn, new_id, parse_arn
from kibako.core.wire import command, query
from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.events.outbox import Outbox
from kibako.jobs import transfer
from kibako.jobs.rows import iso
from kibako.lineage.models import ARTIFACT, CONTEXT
from kibako.lineage.service import LineageService
from kibako.registry import models
from kibako.registry.models import GROUP
from kibako.registry.search import compile_filter
from kibako.store import schema

# Request fields a version keeps as given, and what DescribeModelPackage returns of its stored fields.
_KEPT_FIELDS = (
    "InferenceSpecification",
    "ModelMetrics",
    "DriftCheckBaselines",
    "MetadataProperties",
    "Domain",
    "Task",
    "SamplePayloadUrl",
    "SourceUri",
    "Tags",
    "SourceJobName",
    "AdditionalInferenceSpecifications",
)
_DESCRIBED_FIELDS = tuple(k for k in _KEPT_FIELDS if k != "Tags") + (
    "ApprovalDescription",
    "CustomerMetadataProperties",
    "ModelCard",
    "ModelLifeCycle",
)
_RESOURCE = "model-package"
_GROUP_RESOURCE = "model-package-group"


class RegistryService:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        outbox: Outbox,
        lineage: LineageService,
        jobs: Any,
        artifacts: Any,
        *,
        region: str,
        account: str,
    ) -> None:
        self.store = store
        self.artifacts = artifacts  # the ArtifactStore imported models are kept in
        self.clock = clock
        self.outbox = outbox
        self.lineage = lineage
        self.jobs = jobs
        self.region = region
        self.account = account

    # -- groups ------------------------------------------------------------------------------------------------

    @command
    def create_model_package_group(self, request: dict[str, Any]) -> dict[str, Any]:
        """CreateModelPackageGroup: ``{"ModelPackageGroupName", "ModelPackageGroupDescription"?, "Tags"?}``."""
        name = models.check_group_name(request.get("ModelPackageGroupName"))
        description = models.check_description(
            request.get("ModelPackageGroupDescription"), "ModelPackageGroupDescription"
        )
        now = self.clock.time_ms()
        group_arn = arn(_GROUP_RESOURCE, name.lower(), region=self.region, account=self.account)
        row = {
            "id": new_id(),
            "type": GROUP,
            "name": name,
            "arn": group_arn,
            "description": description,
            "properties": {"Tags": request.get("Tags") or [], "CreatedBy": _actor(None)},
            "created_ms": now,
            "updated_ms": now,
        }
        with self.store.write() as tx:
            if self._group_row(tx, name, missing_ok=True) is not None:
                raise ConflictError(f"model package group {name!r} exists already")
            tx.execute(insert(schema.contexts).values(**row))
            desc = _group_description(row, 0)
            self.outbox.publish(tx, models.EVENT_SOURCE, models.GROUP_STATE_CHANGE, desc, [group_arn])
        return {"ModelPackageGroupArn": group_arn}

    @query
    def describe_model_package_group(self, name: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = self._group_row(conn, name)
            count = conn.execute(
                select(func.count()).where(schema.model_packages.c.group_id == row["id"])
            ).scalar_one()
        return _group_description(row, int(count))

    @query
    def list_model_package_groups(
        self, name_contains: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        """ModelPackageGroupSummaryList, newest first."""
        c = schema.contexts
        stmt = select(c).where(c.c.type == GROUP).order_by(c.c.created_ms.desc()).limit(max_results)
        if name_contains:
            stmt = stmt.where(c.c.name.contains(name_contains, autoescape=True))
        with self.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        return [
            {k: v for k, v in _group_description(r, None).items() if k != "ModelPackageCount"} for r in rows
        ]

    # -- versions ----------------------------------------------------------------------------------------------

    @command
    def create_model_package(self, request: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        """CreateModelPackage for a versioned package: the next version of ``ModelPackageGroupName``.

        Local additions: ``SourceJobName`` (a training job whose model and final metrics this version takes)
        and ``MetricValues`` (numbers to search by, beside the ModelMetrics reports). Returns the new version's
        DescribeModelPackage.
        """
        req = _plain(request)
        group_name = models.check_group_name(req.get("ModelPackageGroupName"))
        if req.get("SourceJobName"):
            req = self._from_job(req)
        containers = models.check_containers(req.get("InferenceSpecification"))
        description = models.check_description(req.get("ModelPackageDescription"))
        approval = models.check_approval_status(req.get("ModelApprovalStatus", models.PENDING))
        metadata = models.check_metadata(req.get("CustomerMetadataProperties"))
        card = models.check_card(req["ModelCard"]) if req.get("ModelCard") else None
        lifecycle = models.check_lifecycle(req["ModelLifeCycle"]) if req.get("ModelLifeCycle") else None
        values = self._metric_values(req)
        model_uri = containers[0]["ModelDataUrl"]
        digest, size = _digest_of(model_uri)
        who = _actor(actor)
        now = self.clock.time_ms()
        props: dict[str, Any] = {k: req[k] for k in _KEPT_FIELDS if req.get(k) is not None}
        props.update(CustomerMetadataProperties=metadata, CreatedBy=who, LastModifiedBy=who)
        if req.get("ApprovalDescription"):
            props["ApprovalDescription"] = models.check_description(
                req["ApprovalDescription"], "ApprovalDescription"
            )
        if card:
            props["ModelCard"] = card
        if lifecycle:
            props["ModelLifeCycle"] = lifecycle
        for _ in range(5):  # two registrations racing for the same number: the loser takes the next one
            try:
                return self._insert_version(
                    group_name, props, approval, description, values, model_uri, digest, size, who, now
                )
            except IntegrityError:
                continue
        raise ConflictError(f"could not number a new version of {group_name!r}; try again")

    def _insert_version(
        self,
        group_name: str,
        props: dict[str, Any],
        approval: str,
        description: str,
        values: dict[str, float | None],
        model_uri: str,
        digest: str,
        size: int | None,
        who: str,
        now: int,
    ) -> dict[str, Any]:
        p = schema.model_packages
        with self.store.write() as tx:
            group = self._group_row(tx, group_name, hint=True)
            last = tx.execute(select(func.max(p.c.version)).where(p.c.group_id == group["id"])).scalar()
            version = int(last or 0) + 1
            package_id = new_id()
            artifact_id = self.lineage.record_artifact(
                tx, uri=model_uri, digest=digest, type="Model", size=size, name=f"{group['name']}-v{version}"
            )
            self.lineage.record_edge(
                tx, (ARTIFACT, artifact_id), (CONTEXT, group["id"]), "MemberOf", f"v{version}"
            )
            package_arn = arn(
                _RESOURCE, f"{group['name'].lower()}/{version}", region=self.region, account=self.account
            )
            tx.execute(
                insert(p).values(
                    id=package_id,
                    group_id=group["id"],
                    version=version,
                    arn=package_arn,
                    artifact_id=artifact_id,
                    status=models.COMPLETED,
                    approval_status=approval,
                    description=description,
                    properties=props,
                    created_ms=now,
                    updated_ms=now,
                )
            )
            if values:
                tx.execute(
                    insert(schema.model_package_metrics),
                    [{"package_id": package_id, "key": k, "value": v} for k, v in values.items()],
                )
            change = {"ModelApprovalStatus": approval, "Created": True}
            if props.get("ApprovalDescription"):
                change["ApprovalDescription"] = props["ApprovalDescription"]
            self._record(tx, package_id, who, now, change)
            return self._announce(tx, package_id)

    @command
    def import_model(
        self,
        source: str,
        group: str,
        flavor: str | None = None,
        model_class: str | None = None,
        sample: str | None = None,
        sample_content_type: str = "text/csv",
        description: str = "",
        approval_status: str = models.PENDING,
        metadata: dict[str, str] | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """ImportModel: register a model made elsewhere (a file, a folder, a ``model.tar.gz``, local or at a
        URI). Its flavor is detected (or checked against ``flavor``), it is loaded and predicts ``sample`` (or
        a sample made from the model's own input shape), then it is stored as ``model.tar.gz`` and becomes the
        next version of ``group`` (created if new). A model that does not load or predict is refused and
        nothing is registered."""
        from kibako.registry.importing import checked_archive

        models.check_group_name(group)
        request = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": description,
            "ModelApprovalStatus": approval_status,
            "CustomerMetadataProperties": metadata or {},
        }
        models.check_approval_status(approval_status)
        models.check_metadata(metadata)
        archive = checked_archive(
            self.artifacts, source, group, flavor, model_class, sample, sample_content_type
        )
        container: dict[str, Any] = {
            "Image": models.FLAVOR_IMAGES[archive.flavor],
            "ModelDataUrl": archive.uri,
            "Flavor": archive.flavor,
        }
        if model_class:
            container["ModelClass"] = model_class
        request["InferenceSpecification"] = {
            "Containers": [container],
            "SupportedContentTypes": ["text/csv", "application/json", "application/x-npy"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json", "application/x-npy"],
        }
        request["SourceUri"] = source
        with self.store.read() as conn:
            missing = self._group_row(conn, group, missing_ok=True) is None
        if missing:
            try:
                self.create_model_package_group({"ModelPackageGroupName": group})
            except ConflictError:
                pass  # created meanwhile by another import
        return self.create_model_package(request, actor)

    @query
    def describe_model_package(self, name: str) -> dict[str, Any]:
        """DescribeModelPackage. ``name`` is the version's ARN, ``group/3``, ``group@alias``, ``group/latest``
        or an MLflow URI (``models:/group/3``, ``models:/group@champion``)."""
        with self.store.read() as conn:
            return self._describe(conn, self._package_id(conn, name))

    @query
    def list_model_packages(
        self,
        group: str,
        approval_status: str | None = None,
        max_results: int = 100,
        sort_order: str = "Descending",
    ) -> list[dict[str, Any]]:
        """ModelPackageSummaryList of a group, newest version first unless ``sort_order="Ascending"``."""
        p = schema.model_packages
        with self.store.read() as conn:
            g = self._group_row(conn, group)
            stmt = select(p).where(p.c.group_id == g["id"]).limit(max_results)
            stmt = stmt.order_by(p.c.version.asc() if sort_order == "Ascending" else p.c.version.desc())
            if approval_status:
                stmt = stmt.where(p.c.approval_status == models.check_approval_status(approval_status))
            return [_summary(dict(r._mapping), g["name"]) for r in conn.execute(stmt)]

    @command
    def update_model_package(self, request: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        """UpdateModelPackage: only ModelApprovalStatus, ApprovalDescription, CustomerMetadataProperties(ToRemove),
        ModelCard and ModelLifeCycle can change; the model itself never does. Returns the new description."""
        req = _plain(request)
        name = req.get("ModelPackageArn") or req.get("ModelPackageName")
        if not isinstance(name, str) or not name:
            raise ValidationError("UpdateModelPackage needs ModelPackageArn")
        fixed = sorted(set(req) - set(models.MUTABLE_FIELDS) - {"ModelPackageArn", "ModelPackageName"})
        if fixed:
            raise ValidationError(
                f"{', '.join(fixed)} cannot change after a version is created; register a new version instead"
            )
        change: dict[str, Any] = {}
        if "ModelApprovalStatus" in req:
            change["ModelApprovalStatus"] = models.check_approval_status(req["ModelApprovalStatus"])
        if "ApprovalDescription" in req:
            change["ApprovalDescription"] = models.check_description(
                req["ApprovalDescription"], "ApprovalDescription"
            )
        metadata = models.check_metadata(req.get("CustomerMetadataProperties"))
        removed = req.get("CustomerMetadataPropertiesToRemove") or []
        if not isinstance(removed, list) or not all(isinstance(k, str) for k in removed):
            raise ValidationError("CustomerMetadataPropertiesToRemove is a list of names")
        lifecycle = models.check_lifecycle(req["ModelLifeCycle"]) if "ModelLifeCycle" in req else None
        if not (change or metadata or removed or lifecycle or "ModelCard" in req):
            raise ValidationError(
                "nothing to update: give ModelApprovalStatus, a comment, metadata or a card"
            )
        who = _actor(actor)
        now = self.clock.time_ms()
        p = schema.model_packages
        with self.store.write() as tx:
            package_id = self._package_id(tx, name)
            row = tx.execute(select(p).where(p.c.id == package_id)).one()._mapping
            props = dict(row["properties"])
            if metadata or removed:
                merged = {**props.get("CustomerMetadataProperties", {}), **metadata}
                for key in removed:
                    merged.pop(key, None)
                props["CustomerMetadataProperties"] = merged
                change["CustomerMetadataProperties"] = merged
            if "ModelCard" in req:
                props["ModelCard"] = change["ModelCard"] = models.check_card(
                    req["ModelCard"], props.get("ModelCard")
                )
            if lifecycle:
                props["ModelLifeCycle"] = change["ModelLifeCycle"] = lifecycle
            if "ApprovalDescription" in change:
                props["ApprovalDescription"] = change["ApprovalDescription"]
            props["LastModifiedBy"] = who
            values: dict[str, Any] = {"properties": props, "updated_ms": now}
            if "ModelApprovalStatus" in change:
                values["approval_status"] = change["ModelApprovalStatus"]
            tx.execute(update(p).where(p.c.id == package_id).values(**values))
            self._record(tx, package_id, who, now, change)
            return self._announce(tx, package_id)

    @command
    def set_approval(
        self, name: str, status: str, comment: str = "", actor: str | None = None
    ) -> dict[str, Any]:
        """Approve, reject or send back to PendingManualApproval, with a comment kept in the audit trail."""
        request: dict[str, Any] = {"ModelPackageArn": name, "ModelApprovalStatus": status}
        if comment:
            request["ApprovalDescription"] = comment
        return self.update_model_package(request, actor)

    @query
    def list_model_package_history(self, name: str) -> list[dict[str, Any]]:
        """The audit trail of a version, oldest first: ``{"Time", "Actor", "Change"}``."""
        h = schema.model_package_history
        with self.store.read() as conn:
            package_id = self._package_id(conn, name)
            rows = conn.execute(select(h).where(h.c.package_id == package_id).order_by(h.c.seq)).all()
        return [{"Time": iso(r.at_ms), "Actor": r.actor, "Change": r.change} for r in rows]

    # -- aliases -----------------------------------------------------------------------------------------------

    @command
    def set_alias(self, group: str, alias: str, version: int, actor: str | None = None) -> dict[str, Any]:
        """Point ``alias`` (e.g. ``champion``) of ``group`` at ``version``, moving it from any other version."""
        alias = models.check_alias(alias)
        who = _actor(actor)
        now = self.clock.time_ms()
        a = schema.model_aliases
        with self.store.write() as tx:
            package_id = self._package_id(tx, f"{group}/{int(version)}")
            g = self._group_row(tx, group)
            tx.execute(delete(a).where(a.c.group_id == g["id"], a.c.alias == alias))
            tx.execute(insert(a).values(group_id=g["id"], alias=alias, package_id=package_id, updated_ms=now))
            self._record(tx, package_id, who, now, {"AliasSet": alias})
            return self._announce(tx, package_id)

    @command
    def delete_alias(self, group: str, alias: str, actor: str | None = None) -> None:
        a = schema.model_aliases
        with self.store.write() as tx:
            g = self._group_row(tx, group)
            found = tx.execute(
                select(a.c.package_id).where(a.c.group_id == g["id"], a.c.alias == alias)
            ).scalar()
            if found is None:
                raise NotFoundError(f"model package group {group!r} has no alias {alias!r}")
            tx.execute(delete(a).where(a.c.group_id == g["id"], a.c.alias == alias))
            self._record(tx, str(found), _actor(actor), self.clock.time_ms(), {"AliasRemoved": alias})
            self._announce(tx, str(found))

    # -- search ------------------------------------------------------------------------------------------------

    @query
    def search_model_packages(
        self, filter: str = "", group: str | None = None, max_results: int = 100
    ) -> list[dict[str, Any]]:
        """Versions matching a filter in the runs' search language, e.g.
        ``metrics.auc > 0.9 and (status = 'Approved' or tags.team = 'risk')`` (see docs/registry.md);
        newest first. ``metrics.*`` are a version's metric numbers, ``tags.*`` its customer metadata."""
        p = schema.model_packages
        c = schema.contexts
        stmt = (
            select(p, c.c.name.label("group_name"))
            .join(c, c.c.id == p.c.group_id)
            .order_by(p.c.created_ms.desc(), p.c.id.desc())
            .limit(max_results)
        )
        condition = compile_filter(filter)
        if condition is not None:
            stmt = stmt.where(condition)
        with self.store.read() as conn:
            if group:
                stmt = stmt.where(p.c.group_id == self._group_row(conn, group)["id"])
            rows = conn.execute(stmt).all()
            return [self._describe(conn, r.id) for r in rows]

    # -- internals ---------------------------------------------------------------------------------------------

    def _group_row(self, conn: Connection, name: str, *, missing_ok: bool = False, hint: bool = False) -> Any:
        c = schema.contexts
        if name.startswith("arn:"):
            parsed = parse_arn(name)
            name = parsed[1] if parsed else name
        row = conn.execute(select(c).where(c.c.type == GROUP, c.c.name == name)).first()
        if row is None:
            row = conn.execute(
                select(c).where(c.c.type == GROUP, func.lower(c.c.name) == name.lower())
            ).first()
        if row is None:
            if missing_ok:
                return None
            extra = (
                " (create it first: CreateModelPackageGroup, or kb.models.register creates it)"
                if hint
                else ""
            )
            raise NotFoundError(f"model package group {name!r} does not exist{extra}")
        return dict(row._mapping)

    def _package_id(self, conn: Connection, ref: str) -> str:
        p = schema.model_packages
        text = ref.strip()
        if text.startswith("models:/"):
            text = text[len("models:/") :]
        if text.startswith("arn:"):
            found = conn.execute(select(p.c.id).where(p.c.arn == text)).scalar()
            if found is None:
                raise NotFoundError(f"model package {ref!r} does not exist")
            return str(found)
        if "@" in text:
            group, alias = text.split("@", 1)
            g = self._group_row(conn, group)
            a = schema.model_aliases
            found = conn.execute(
                select(a.c.package_id).where(a.c.group_id == g["id"], a.c.alias == alias)
            ).scalar()
            if found is None:
                raise NotFoundError(f"model package group {group!r} has no alias {alias!r}")
            return str(found)
        group, _, version = text.rpartition("/")
        if not group:
            raise ValidationError(
                f"{ref!r} names no version: give GROUP/VERSION, GROUP@ALIAS, GROUP/latest or the version's ARN"
            )
        g = self._group_row(conn, group)
        stmt = select(p.c.id).where(p.c.group_id == g["id"])
        if version == "latest":
            stmt = stmt.order_by(p.c.version.desc()).limit(1)
        else:
            number = version[1:] if version[:1] in ("v", "V") else version
            if not number.isdigit():
                raise ValidationError(f"version {version!r} is not a number")
            stmt = stmt.where(p.c.version == int(number))
        found = conn.execute(stmt).scalar()
        if found is None:
            raise NotFoundError(f"model package group {group!r} has no version {version}")
        return str(found)

    def _describe(self, conn: Connection, package_id: str) -> dict[str, Any]:
        p = schema.model_packages
        row = dict(conn.execute(select(p).where(p.c.id == package_id)).one()._mapping)
        group = conn.execute(
            select(schema.contexts.c.name).where(schema.contexts.c.id == row["group_id"])
        ).scalar()
        m = schema.model_package_metrics
        metrics = {
            r.key: r.value
            for r in conn.execute(select(m.c.key, m.c.value).where(m.c.package_id == package_id))
        }
        a = schema.model_aliases
        aliases = sorted(conn.execute(select(a.c.alias).where(a.c.package_id == package_id)).scalars())
        props = row["properties"]
        out: dict[str, Any] = {
            **_summary(row, group),
            "LastModifiedTime": iso(row["updated_ms"]),
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CertifyForMarketplace": False,
        }
        for key in _DESCRIBED_FIELDS:
            if key in props:
                out[key] = props[key]
        out["CreatedBy"] = {"UserProfileName": props.get("CreatedBy", "")}
        out["LastModifiedBy"] = {"UserProfileName": props.get("LastModifiedBy", "")}
        out["Aliases"] = aliases
        out["MetricValues"] = metrics
        out["ModelArtifactId"] = row["artifact_id"]
        return out

    def _announce(self, tx: Connection, package_id: str) -> dict[str, Any]:
        desc = self._describe(tx, package_id)
        self.outbox.publish(tx, models.EVENT_SOURCE, models.STATE_CHANGE, desc, [desc["ModelPackageArn"]])
        return desc

    def _record(self, tx: Connection, package_id: str, who: str, now: int, change: dict[str, Any]) -> None:
        h = schema.model_package_history
        last = tx.execute(select(func.max(h.c.seq)).where(h.c.package_id == package_id)).scalar()
        tx.execute(
            insert(h).values(
                package_id=package_id, seq=int(last or 0) + 1, at_ms=now, actor=who, change=change
            )
        )

    def _from_job(self, req: dict[str, Any]) -> dict[str, Any]:
        """A request naming ``SourceJobName`` takes that training job's model (and its final metrics)."""
        desc = self.jobs.describe_training_job(str(req["SourceJobName"]))
        if desc.get("TrainingJobStatus") != "Completed":
            raise ConflictError(
                f"training job {req['SourceJobName']!r} is {desc.get('TrainingJobStatus')}; "
                "only a Completed job's model can be registered"
            )
        model = (desc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if not model:
            raise ValidationError(f"training job {req['SourceJobName']!r} has no model artifact")
        out = dict(req)
        if not out.get("InferenceSpecification"):
            image = (desc.get("AlgorithmSpecification") or {}).get("TrainingImage") or models.FLAVOR_IMAGES[
                "sklearn"
            ]
            out["InferenceSpecification"] = {
                "Containers": [{"Image": image, "ModelDataUrl": model}],
                "SupportedContentTypes": ["text/csv", "application/json", "application/x-npy"],
                "SupportedResponseMIMETypes": ["text/csv", "application/json", "application/x-npy"],
            }
        values = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList") or []}
        out["MetricValues"] = {**values, **(out.get("MetricValues") or {})}
        return out

    def _metric_values(self, req: dict[str, Any]) -> dict[str, float | None]:
        """The numbers to search by: ``MetricValues`` given inline, and every number in the ModelMetrics
        reports (a Model Monitor report's ``{"auc": {"value": 0.9}}`` gives ``auc``)."""
        values: dict[str, float | None] = {}
        for block in (req.get("ModelMetrics") or {}).values():
            if not isinstance(block, dict):
                continue
            for source in block.values():
                if isinstance(source, dict) and source.get("S3Uri"):
                    values.update(_report_numbers(_read_report(str(source["S3Uri"]))))
        inline = req.get("MetricValues") or {}
        if not isinstance(inline, dict):
            raise ValidationError("MetricValues maps metric names to numbers")
        for key, value in inline.items():
            if value is not None and not isinstance(value, int | float):
                raise ValidationError(f"MetricValues[{key!r}] is {value!r}, not a number")
            values[str(key)[:250]] = None if value is None else float(value)
        return values


def _plain(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise ValidationError(f"a request is a JSON object, got {type(request).__name__}")
    return json.loads(json.dumps(request))


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextlib.contextmanager
def _fetched(uri: str, what: str) -> Iterator[Path]:
    """The file or folder at ``uri``: itself when it is local, else a temporary copy. ValidationError when it
    is not there, so nothing is registered."""
    if uri.startswith("file://") or "://" not in uri:
        local = Path(uri.removeprefix("file://")).expanduser()
        if not local.exists():
            raise ValidationError(f"{what} {uri} does not exist")
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="kibako-fetch-") as tmp:
        try:
            transfer.fetch(uri, Path(tmp))
        except NotFoundError:
            raise ValidationError(f"{what} {uri} does not exist") from None
        entries = list(Path(tmp).iterdir())
        yield entries[0] if len(entries) == 1 else Path(tmp)


def _digest_of(uri: str) -> tuple[str, int | None]:
    """The content digest and size of the model at ``uri``."""
    with _fetched(uri, "ModelDataUrl") as path:
        return path_digest(path), (path.stat().st_size if path.is_file() else None)


def _read_report(uri: str) -> Any:
    with _fetched(uri, "the metrics report") as path:
        if not path.is_file():
            raise ValidationError(f"the metrics report {uri} is not one JSON file")
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise ValidationError(f"the metrics report {uri} is not JSON: {exc}") from None


def _report_numbers(report: Any, prefix: str = "") -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    if isinstance(report, dict):
        if "value" in report and isinstance(report["value"], int | float) and prefix:
            found[prefix.rsplit(".", 1)[-1]] = float(report["value"])
            return found
        for key, value in report.items():
            found.update(_report_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(report, int | float) and not isinstance(report, bool) and prefix:
        found[prefix] = float(report)
    return found


def _group_description(row: dict[str, Any], count: int | None) -> dict[str, Any]:
    props = row.get("properties") or {}
    return {
        "ModelPackageGroupName": row["name"],
        "ModelPackageGroupArn": row["arn"],
        "ModelPackageGroupDescription": row["description"],
        "CreationTime": iso(row["created_ms"]),
        "CreatedBy": {"UserProfileName": props.get("CreatedBy", "")},
        "ModelPackageGroupStatus": "Completed",
        "ModelPackageCount": count,
    }


def _summary(row: dict[str, Any], group: str) -> dict[str, Any]:
    return {
        "ModelPackageName": group,
        "ModelPackageGroupName": group,
        "ModelPackageVersion": row["version"],
        "ModelPackageArn": row["arn"],
        "ModelPackageDescription": row["description"],
        "CreationTime": iso(row["created_ms"]),
        "ModelPackageStatus": row["status"],
        "ModelApprovalStatus": row["approval_status"],
    }
