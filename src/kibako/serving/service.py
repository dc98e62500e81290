"""Models, endpoint configs and endpoints, shaped as SageMaker's API.

A model and an endpoint config are contexts (immutable once created, as on SageMaker). An endpoint is lasting
work on the job queue: a worker claims it, runs its inference process (``kibako.serving.hosting``) and holds
it while it serves; when that worker goes, another (or the same, restarted) claims it and the endpoint comes
back InService. Changes (UpdateEndpoint, new weights, delete) are written here and carried out by the worker
that hosts the endpoint, without dropping requests.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kibako.core.clock import Clock
from kibako.core.ids import arn, new_id
from kibako.core.wire import command, query
from kibako.errors import ConflictError, NotFoundError, ValidationError
from kibako.jobs.rows import JobRow, iso, load_by_id
from kibako.jobs.service import JobService, WorkKind
from kibako.lineage.models import ARTIFACT, EXECUTION
from kibako.serving import models
from kibako.serving.models import ENDPOINT, ENDPOINT_CONFIG, MODEL
from kibako.store import schema

EXPERIMENT = "endpoints"  # each endpoint's invocation and latency series live in a run of this experiment
_RESOURCES = {MODEL: "model", ENDPOINT_CONFIG: "endpoint-config", ENDPOINT: "endpoint"}


class ServingService:
    def __init__(
        self,
        jobs: JobService,
        registry: Any,
        *,
        artifact_root: str,
    ) -> None:
        self.jobs = jobs
        self.registry = registry
        self.store = jobs.store
        self.clock: Clock = jobs.clock
        self.outbox = jobs.outbox
        self.lineage = jobs.lineage
        self.tracking = jobs.tracking
        self.region = jobs.region
        self.account = jobs.account
        self.artifact_root = artifact_root.rstrip("/")
        from kibako.serving.hosting import host_endpoint

        jobs.register_kind(
            ENDPOINT,
            WorkKind(
                event=models.ENDPOINT_STATE_CHANGE,
                describe=self.describe_row,
                run=lambda jobs_, claim, worker, lease, stopping: host_endpoint(
                    self, claim, worker, lease, stopping
                ),
                lasting=True,
                detail=self._event_detail,
            ),
        )

    # -- models ------------------------------------------------------------------------------------------------

    @command
    def create_model(self, request: dict[str, Any]) -> dict[str, str]:
        """CreateModel. ``PrimaryContainer.ModelPackageName`` (a registry version: ARN, ``group/3`` or
        ``group@alias``) takes that version's model, flavor and image."""
        req = models.check_model(request)
        container = req["PrimaryContainer"]
        if container.get("ModelPackageName"):
            package = self.registry.describe_model_package(str(container["ModelPackageName"]))
            first = package["InferenceSpecification"]["Containers"][0]
            for key in ("Image", "ModelDataUrl", "Flavor", "ModelClass"):
                if key in first and key not in container:
                    container[key] = first[key]
            container["ModelPackageArn"] = package["ModelPackageArn"]
        return {"ModelArn": self._create_context(MODEL, req["ModelName"], req, models.MODEL_STATE_CHANGE)}

    @query
    def describe_model(self, name: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = self._context(conn, MODEL, name)
        return {**row["properties"], "ModelArn": row["arn"], "CreationTime": iso(row["created_ms"])}

    @query
    def list_models(self, max_results: int = 100) -> list[dict[str, Any]]:
        return [
            {"ModelName": r["name"], "ModelArn": r["arn"], "CreationTime": iso(r["created_ms"])}
            for r in self._contexts(MODEL, max_results)
        ]

    @command
    def delete_model(self, name: str) -> None:
        self._delete_context(MODEL, name)

    # -- endpoint configs --------------------------------------------------------------------------------------

    @command
    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, str]:
        """CreateEndpointConfig. Capture goes to ``DataCaptureConfig.DestinationS3Uri``, by default the
        artifact store's ``data-capture/`` folder."""
        req = models.check_endpoint_config(request)
        with self.store.read() as conn:
            for variant in req["ProductionVariants"] + req["ShadowProductionVariants"]:
                self._context(conn, MODEL, variant["ModelName"])
        capture = req.get("DataCaptureConfig")
        if capture is not None and not capture.get("DestinationS3Uri"):
            capture["DestinationS3Uri"] = f"{self.artifact_root}/data-capture"
        name = req["EndpointConfigName"]
        return {
            "EndpointConfigArn": self._create_context(ENDPOINT_CONFIG, name, req, models.CONFIG_STATE_CHANGE)
        }

    @query
    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row = self._context(conn, ENDPOINT_CONFIG, name)
        return {**row["properties"], "EndpointConfigArn": row["arn"], "CreationTime": iso(row["created_ms"])}

    @query
    def list_endpoint_configs(self, max_results: int = 100) -> list[dict[str, Any]]:
        return [
            {
                "EndpointConfigName": r["name"],
                "EndpointConfigArn": r["arn"],
                "CreationTime": iso(r["created_ms"]),
            }
            for r in self._contexts(ENDPOINT_CONFIG, max_results)
        ]

    @command
    def delete_endpoint_config(self, name: str) -> None:
        self._delete_context(ENDPOINT_CONFIG, name)

    # -- endpoints ---------------------------------------------------------------------------------------------

    @command
    def create_endpoint(self, request: dict[str, Any]) -> dict[str, str]:
        """CreateEndpoint: ``{"EndpointName", "EndpointConfigName", "Tags"?}``. The endpoint is Creating until a
        worker has its variants loaded and answering ``/ping``; then InService."""
        req = models.plain(request, "CreateEndpoint")
        name = models.check_name(req.get("EndpointName"), "EndpointName")
        config = self.describe_endpoint_config(str(req.get("EndpointConfigName")))
        endpoint_arn = self._arn(ENDPOINT, name)
        with self.store.read() as conn:
            if self._endpoint_row(conn, name, missing_ok=True) is not None:
                raise ConflictError(f"endpoint {name!r} exists already; update it or delete it first")
        run = self.tracking.start_run(EXPERIMENT, name=name, tags={"kibako.endpoint": endpoint_arn})
        props = {
            "RunId": run.id,
            "EndpointConfigName": config["EndpointConfigName"],
            "Weights": _weights(config),
        }
        try:
            self.jobs.enqueue(ENDPOINT, name, endpoint_arn, req, props, status=models.CREATING)
        except BaseException:
            self.tracking.end_run(run.id, "Failed")
            raise
        return {"EndpointArn": endpoint_arn}

    @query
    def describe_endpoint(self, name: str) -> dict[str, Any]:
        """DescribeEndpoint, plus ``Url`` (where the endpoint answers while InService) and ``RunId``."""
        with self.store.read() as conn:
            return self.describe_row(self._endpoint_row(conn, name))

    @query
    def list_endpoints(self, status: str | None = None, max_results: int = 100) -> list[dict[str, Any]]:
        e = schema.executions
        stmt = (
            select(e.c.id)
            .where(e.c.type == ENDPOINT, e.c.status != models.DELETED)
            .order_by(e.c.created_ms.desc())
            .limit(max_results)
        )
        if status:
            if status not in models.STATUSES:
                raise ValidationError(f"status is one of {', '.join(models.STATUSES)}, not {status!r}")
            stmt = stmt.where(e.c.status == status)
        with self.store.read() as conn:
            rows = [load_by_id(conn, i) for i in conn.execute(stmt).scalars()]
        return [
            {
                "EndpointName": r.name,
                "EndpointArn": r.arn,
                "EndpointStatus": r.status,
                "CreationTime": iso(r.created_ms),
                "LastModifiedTime": iso(r.updated_ms),
            }
            for r in rows
        ]

    @command
    def update_endpoint(self, request: dict[str, Any]) -> dict[str, str]:
        """UpdateEndpoint: move an InService endpoint to another config; requests keep being answered by the
        old variants until the new ones are loaded. A config whose models fail to load rolls back."""
        req = models.plain(request, "UpdateEndpoint")
        config = self.describe_endpoint_config(str(req.get("EndpointConfigName")))
        return self._change(str(req.get("EndpointName")), {"PendingConfigName": config["EndpointConfigName"]})

    @command
    def update_endpoint_weights_and_capacities(self, request: dict[str, Any]) -> dict[str, str]:
        """UpdateEndpointWeightsAndCapacities: new weights for named variants, applied live."""
        req = models.plain(request, "UpdateEndpointWeightsAndCapacities")
        name = str(req.get("EndpointName"))
        items = req.get("DesiredWeightsAndCapacities")
        if not isinstance(items, list) or not items:
            raise ValidationError("DesiredWeightsAndCapacities lists {VariantName, DesiredWeight}")
        with self.store.read() as conn:
            current = dict(self._endpoint_row(conn, name).properties["Weights"])
        for item in items:
            variant = item.get("VariantName") if isinstance(item, dict) else None
            if variant not in current:
                raise ValidationError(
                    f"endpoint {name!r} has no production variant {variant!r}; it has {', '.join(current)}"
                )
            weight = item.get("DesiredWeight", current[variant])
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise ValidationError(f"DesiredWeight of {variant} must be a number >= 0")
            current[variant] = float(weight)
        if sum(current.values()) <= 0:
            raise ValidationError("at least one production variant needs a weight above 0")
        return self._change(name, {"PendingWeights": current})

    @command
    def delete_endpoint(self, name: str) -> None:
        """DeleteEndpoint: the hosting worker stops the endpoint (capture files are flushed first); an endpoint
        no worker holds is deleted at once. Its runs, captures and lineage are kept."""
        j = schema.jobs
        now = self.clock.time_ms()
        with self.store.write() as tx:
            row = self._endpoint_row(tx, name)
            state = tx.execute(select(j.c.state, j.c.lease_until_ms).where(j.c.execution_id == row.id)).one()
            hosted = state.state == "running" and (state.lease_until_ms or 0) >= now
            if hosted:
                tx.execute(update(j).where(j.c.execution_id == row.id).values(stop_requested_ms=now))
                self._set_status(tx, row, models.DELETING, {})
                return
        self.retire(row.id)

    def retire(self, endpoint_id: str) -> None:
        """End a deleted endpoint: off the queue, its name free again, its history kept under a new ARN."""
        now = self.clock.time_ms()
        with self.store.write() as tx:
            row = load_by_id(tx, endpoint_id)
            tx.execute(delete(schema.jobs).where(schema.jobs.c.execution_id == row.id))
            self._set_status(tx, row, models.DELETED, {})
            tx.execute(
                update(schema.executions)
                .where(schema.executions.c.id == row.id)
                .values(arn=f"{row.arn}/deleted/{row.id}", end_ms=now)
            )
        self.tracking.end_run(str(row.properties["RunId"]), "Completed")

    # -- batch transform -------------------------------------------------------------------------------------

    @command
    def create_transform_job(self, request: dict[str, Any]) -> dict[str, str]:
        """CreateTransformJob: the model named by ``ModelName`` runs over every record of the input as a job
        on the queue (see docs/transform.md); returns ``{"TransformJobArn": ...}``. The stored request gains
        the model's ``ModelDataUrl``, ``Flavor``, ``ModelClass`` and ``ModelEnvironment`` (local fields)."""
        req = models.plain(request, "CreateTransformJob")
        model_name = req.get("ModelName")
        if not isinstance(model_name, str) or not model_name:
            raise ValidationError("ModelName is required: the name of a model made with CreateModel")
        try:
            container = self.describe_model(model_name)["PrimaryContainer"]
        except NotFoundError:
            raise ValidationError(
                f"Could not find model {model_name!r}; create it first with CreateModel (a registry version "
                "such as 'churn/3' is turned into one by `kibako transform start --model` and kb.jobs.transform)"
            ) from None
        for key in ("ModelDataUrl", "Flavor", "ModelClass", "ModelEnvironment"):
            req.pop(key, None)  # always the model's own: a copied DescribeTransformJob cannot point elsewhere
        req["ModelDataUrl"] = container["ModelDataUrl"]
        for key in ("Flavor", "ModelClass"):
            if container.get(key):
                req[key] = container[key]
        if container.get("Environment"):
            req["ModelEnvironment"] = dict(container["Environment"])
        return self.jobs.create_transform_job(req)

    @query
    def describe_transform_job(self, name: str) -> dict[str, Any]:
        """DescribeTransformJob (with the local fields the request was given)."""
        return self.jobs.describe_transform_job(name)

    @query
    def list_transform_jobs(self, status: str | None = None, max_results: int = 100) -> list[dict[str, Any]]:
        """ListTransformJobs' TransformJobSummaries, newest first."""
        return self.jobs.list_jobs("TransformJob", status, max_results)

    @command
    def stop_transform_job(self, name: str) -> None:
        """StopTransformJob: a queued job stops at once; a running one is stopped, keeping what it wrote."""
        self.jobs.stop_transform_job(name)

    # -- used by the hosting worker ------------------------------------------------------------------------------

    def record_deployment(self, endpoint_id: str, model_uris: list[str]) -> None:
        """Lineage: each model a deployment serves ContributedTo the endpoint."""
        with self.store.write() as tx:
            a = schema.artifacts
            for uri in model_uris:
                found = tx.execute(select(a.c.id).where(a.c.uri == uri)).scalar()
                if found:
                    self.lineage.record_edge(
                        tx, (ARTIFACT, str(found)), (EXECUTION, endpoint_id), "ContributedTo"
                    )

    def load_row(self, endpoint_id: str) -> JobRow:
        with self.store.read() as conn:
            return load_by_id(conn, endpoint_id)

    def describe_row(self, row: JobRow) -> dict[str, Any]:
        p = row.properties
        config_name = p.get("EndpointConfigName")
        out: dict[str, Any] = {
            "EndpointName": row.name,
            "EndpointArn": row.arn,
            "EndpointConfigName": config_name,
            "EndpointStatus": row.status,
            "CreationTime": iso(row.created_ms),
            "LastModifiedTime": iso(row.updated_ms),
        }
        weights = p.get("Weights", {})
        desired = p.get("PendingWeights") or weights
        out["ProductionVariants"] = [
            {
                "VariantName": v,
                "CurrentWeight": w,
                "DesiredWeight": desired.get(v, w),
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
                "DeployedImages": [],
            }
            for v, w in weights.items()
        ]
        for key in (
            "ShadowProductionVariants",
            "DataCaptureConfig",
            "FailureReason",
            "Url",
            "PendingConfigName",
        ):
            if p.get(key) is not None:
                out[key] = p[key]
        out["RunId"] = p.get("RunId")
        return out

    def _event_detail(self, row: JobRow) -> dict[str, Any]:
        """The endpoint's EventBridge detail: as DescribeEndpoint, but the status spelled ``IN_SERVICE`` and
        times in epoch milliseconds, as AWS sends them."""
        detail = self.describe_row(row)
        detail["EndpointStatus"] = models.event_status(row.status)
        detail["CreationTime"] = row.created_ms
        detail["LastModifiedTime"] = row.updated_ms
        return detail

    # -- internals ---------------------------------------------------------------------------------------------

    def _change(self, name: str, fields: dict[str, Any]) -> dict[str, str]:
        with self.store.write() as tx:
            row = self._endpoint_row(tx, name)
            if row.status != models.IN_SERVICE:
                raise ConflictError(
                    f"endpoint {name!r} is {row.status}; it can be updated once it is InService"
                )
            self._set_status(tx, row, models.UPDATING, fields)
        return {"EndpointArn": row.arn}

    def _set_status(self, tx: Connection, row: JobRow, status: str, fields: dict[str, Any]) -> None:
        now = self.clock.time_ms()
        props = {**row.properties, **fields}
        tx.execute(
            update(schema.executions)
            .where(schema.executions.c.id == row.id)
            .values(status=status, properties=props, updated_ms=now)
        )
        fresh = JobRow(row.id, row.name, row.arn, status, row.created_ms, now, props, row.request, row.kind)
        self.outbox.publish(
            tx, models.EVENT_SOURCE, models.ENDPOINT_STATE_CHANGE, self._event_detail(fresh), [row.arn]
        )

    def _endpoint_row(self, conn: Connection, name: str, *, missing_ok: bool = False) -> Any:
        e = schema.executions
        column = e.c.arn if name.startswith("arn:") else e.c.name
        found = conn.execute(
            select(e.c.id).where(e.c.type == ENDPOINT, column == name, e.c.status != models.DELETED)
        ).scalar()
        if found is None:
            if missing_ok:
                return None
            raise NotFoundError(
                f"Could not find endpoint {name!r}; `kibako endpoints list` shows the endpoints"
            )
        return load_by_id(conn, str(found))

    def _arn(self, kind: str, name: str) -> str:
        return arn(_RESOURCES[kind], name.lower(), region=self.region, account=self.account)

    def _create_context(self, kind: str, name: str, properties: dict[str, Any], event: str) -> str:
        now = self.clock.time_ms()
        context_arn = self._arn(kind, name)
        with self.store.write() as tx:
            c = schema.contexts
            if tx.execute(select(c.c.id).where(c.c.type == kind, c.c.name == name)).first():
                raise ConflictError(f"{_RESOURCES[kind]} {name!r} exists already; names are unique")
            tx.execute(
                insert(c).values(
                    id=new_id(),
                    type=kind,
                    name=name,
                    arn=context_arn,
                    description="",
                    properties=properties,
                    created_ms=now,
                    updated_ms=now,
                )
            )
            detail = {**properties, f"{kind}Arn": context_arn, "CreationTime": now}
            self.outbox.publish(tx, models.EVENT_SOURCE, event, detail, [context_arn])
        return context_arn

    def _context(self, conn: Connection, kind: str, name: str) -> dict[str, Any]:
        c = schema.contexts
        column = c.c.arn if name.startswith("arn:") else c.c.name
        row = conn.execute(select(c).where(c.c.type == kind, column == name)).first()
        if row is None:
            raise NotFoundError(f"Could not find {_RESOURCES[kind].replace('-', ' ')} {name!r}")
        return dict(row._mapping)

    def _contexts(self, kind: str, max_results: int) -> list[dict[str, Any]]:
        c = schema.contexts
        stmt = select(c).where(c.c.type == kind).order_by(c.c.created_ms.desc()).limit(max_results)
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def _delete_context(self, kind: str, name: str) -> None:
        with self.store.write() as tx:
            row = self._context(tx, kind, name)
            tx.execute(delete(schema.contexts).where(schema.contexts.c.id == row["id"]))


def _weights(config: dict[str, Any]) -> dict[str, float]:
    return {v["VariantName"]: float(v["InitialVariantWeight"]) for v in config["ProductionVariants"]}
