"""The stored form of a job: its Execution row joined with its queue row, and the AWS-shaped descriptions
and summaries read from it. Shared by the job service and the services that queue other kinds of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kibako.errors import NotFoundError
from kibako.jobs import models
from kibako.jobs.resources import Resources
from kibako.store import schema

QUEUED, RUNNING, DONE = "queued", "running", "done"

# Names as AWS spells them per kind: (name, arn, status, start, end) keys of a description.
FIELDS = {
    models.TRAINING: (
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
        "TrainingStartTime",
        "TrainingEndTime",
    ),
    models.PROCESSING: (
        "ProcessingJobName",
        "ProcessingJobArn",
        "ProcessingJobStatus",
        "ProcessingStartTime",
        "ProcessingEndTime",
    ),
    models.TRANSFORM: (
        "TransformJobName",
        "TransformJobArn",
        "TransformJobStatus",
        "TransformStartTime",
        "TransformEndTime",
    ),
}
WHAT = {
    models.TRAINING: "training job",
    models.PROCESSING: "processing job",
    models.TRANSFORM: "transform job",
}


# -- rows and descriptions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str
    arn: str
    status: str
    created_ms: int
    updated_ms: int
    properties: dict[str, Any]
    request: dict[str, Any]
    kind: str = models.TRAINING
    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def of(cls, r: Any) -> JobRow:
        return cls(
            r["id"],
            r["name"],
            r["arn"],
            r["status"],
            r["created_ms"],
            r["updated_ms"],
            dict(r["properties"] or {}),
            dict(r["request"]),
            r["type"],
            r["start_ms"],
            r["end_ms"],
        )


def insert_job(tx: Connection, row: JobRow, needs: Resources) -> None:
    """A new job: its Execution node, and its row in the queue."""
    tx.execute(
        insert(schema.executions),
        {
            "id": row.id,
            "type": row.kind,
            "name": row.name,
            "arn": row.arn,
            "context_id": None,
            "parent_id": None,
            "status": row.status,
            "start_ms": None,
            "end_ms": None,
            "properties": row.properties,
            "created_ms": row.created_ms,
            "updated_ms": row.updated_ms,
        },
    )
    tx.execute(
        insert(schema.jobs),
        {
            "execution_id": row.id,
            "kind": row.kind,
            "state": QUEUED,
            "request": row.request,
            "cpus": needs.cpus,
            "memory_mib": needs.memory_mib,
            "gpus": needs.gpus,
            "queued_ms": row.created_ms,
            "attempts": 0,
        },
    )


def load(
    conn: Connection, name: str, kind: str | None = None, *, lock: bool = False, missing: str | None = None
) -> JobRow:
    """The job called ``name`` (or with that ARN), of ``kind`` or else a training, processing or transform job;
    NotFoundError (with ``missing`` as its message, when given) if there is none."""
    e = schema.executions
    stmt = select(e, schema.jobs.c.request).join(schema.jobs, schema.jobs.c.execution_id == e.c.id)
    stmt = stmt.where(e.c.arn == name) if name.startswith("arn:") else stmt.where(e.c.name == name)
    stmt = stmt.where(e.c.type == kind) if kind else stmt.where(e.c.type.in_(models.KINDS))
    if lock:
        stmt = stmt.with_for_update(of=e)
    found = conn.execute(stmt).mappings().first()
    if found is None:
        what = WHAT.get(kind or "", "job")
        raise NotFoundError(
            missing or f"no {what} named {name!r}; `kibako jobs list` shows the jobs there are"
        )
    return JobRow.of(found)


def load_by_id(conn: Connection, job_id: str, *, lock: bool = False) -> JobRow:
    e = schema.executions
    stmt = (
        select(e, schema.jobs.c.request)
        .join(schema.jobs, schema.jobs.c.execution_id == e.c.id)
        .where(e.c.id == job_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=e)
    return JobRow.of(conn.execute(stmt).mappings().one())


def write(tx: Connection, job_id: str, values: dict[str, Any]) -> None:
    tx.execute(update(schema.executions).where(schema.executions.c.id == job_id).values(**values))


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def transition(status: str, now: int, message: str) -> dict[str, Any]:
    return {"Status": status, "StartTime": now, "EndTime": None, "StatusMessage": message}


def description(row: JobRow) -> dict[str, Any]:
    """The Describe*Job response: the request as given (with its defaults) and the job's state."""
    name_key, arn_key, status_key, start_key, end_key = FIELDS[row.kind]
    p = row.properties
    out: dict[str, Any] = dict(row.request)
    out[name_key] = row.name
    out[arn_key] = row.arn
    out[status_key] = row.status
    out["CreationTime"] = iso(row.created_ms)
    out["LastModifiedTime"] = iso(row.updated_ms)
    if row.start_ms is not None:
        out[start_key] = iso(row.start_ms)
    if row.end_ms is not None:
        out[end_key] = iso(row.end_ms)
    if row.kind == models.TRAINING:
        out["SecondaryStatus"] = p.get("SecondaryStatus")
        out["SecondaryStatusTransitions"] = [
            {
                "Status": t["Status"],
                "StartTime": iso(t["StartTime"]),
                **({"EndTime": iso(t["EndTime"])} if t.get("EndTime") is not None else {}),
                "StatusMessage": t.get("StatusMessage", ""),
            }
            for t in p.get("SecondaryStatusTransitions", [])
        ]
    for key in (
        "FailureReason",
        "ExitMessage",
        "ModelArtifacts",
        "FinalMetricDataList",
        "TrainingTimeInSeconds",
        "BillableTimeInSeconds",
        "OutputDataArtifacts",
        "Interruptions",
        "Warnings",
    ):
        if key in p and not (row.kind == models.TRANSFORM and key.endswith("TimeInSeconds")):
            out[key] = p[key]
    out["RunId"] = p.get("RunId")
    out["Attempts"] = p.get("Attempts", 0)
    return out


def summary(row: JobRow) -> dict[str, Any]:
    name_key, arn_key, status_key, _, end_key = FIELDS[row.kind]
    summary = {
        "JobType": row.kind,
        name_key: row.name,
        arn_key: row.arn,
        "CreationTime": iso(row.created_ms),
        "LastModifiedTime": iso(row.updated_ms),
        status_key: row.status,
    }
    if row.end_ms is not None:
        summary[end_key] = iso(row.end_ms)
    if row.kind == models.TRAINING:
        summary["SecondaryStatus"] = row.properties.get("SecondaryStatus")
    if row.kind == models.TRANSFORM and row.properties.get("FailureReason"):
        summary["FailureReason"] = row.properties["FailureReason"]  # TransformJobSummary has it
    return summary
