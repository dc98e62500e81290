"""The metadata store's tables: one graph (contexts, executions, artifacts, associations) plus the facts
hung on executions (params, tags, metric summaries and packed metric points), the event outbox and tokens.

Every change here needs a migration in ``migrations/versions``; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _partial_index(name: str, column: str, condition: str) -> Index:
    """An index over only the rows where ``condition`` holds (both SQLite and PostgreSQL have them)."""
    return Index(name, column, sqlite_where=text(condition), postgresql_where=text(condition))


# Times are integer milliseconds since the epoch (UTC): compact, indexable, the same in SQLite and PostgreSQL.

contexts = Table(
    "contexts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(64), nullable=False),  # Experiment, Pipeline, ModelPackageGroup, Endpoint, ...
    Column("name", String(500), nullable=False),
    Column("arn", String(1024), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("properties", JSON, nullable=False, default=dict),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("type", "name"),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(64), nullable=False),  # Run, TrainingJob, ProcessingJob, ...
    Column("name", String(500), nullable=False),
    Column("arn", String(1024), nullable=False, unique=True),
    Column("context_id", String(32), ForeignKey("contexts.id"), nullable=True),  # experiment of a run
    Column("parent_id", String(32), ForeignKey("executions.id"), nullable=True),
    Column("status", String(32), nullable=False),
    Column("start_ms", BigInteger, nullable=True),
    Column("end_ms", BigInteger, nullable=True),
    Column("properties", JSON, nullable=False, default=dict),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "context_id", "created_ms"),
    # Partial: most runs have no parent, and an index entry for each of them would be a page written per start.
    _partial_index("ix_executions_parent_id", "parent_id", "parent_id IS NOT NULL"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(64), nullable=False),  # Dataset, Model, File, Report, Checkpoint, ...
    Column("name", String(500), nullable=False),
    Column("arn", String(1024), nullable=False, unique=True),
    Column("uri", Text, nullable=False),
    Column("digest", String(80), nullable=False, unique=True),  # "sha256:<hex>": one node per content
    Column("size", BigInteger, nullable=True),
    Column("media_type", String(255), nullable=True),
    Column("properties", JSON, nullable=False, default=dict),
    Column("created_ms", BigInteger, nullable=False),
)

associations = Table(
    "associations",
    metadata,
    Column("source_id", String(32), primary_key=True),
    Column("destination_id", String(32), primary_key=True),
    Column(
        "type", String(32), primary_key=True
    ),  # ContributedTo, Produced, DerivedFrom, ... MemberOf, ChildOf
    Column("role", String(255), primary_key=True, default=""),
    Column("source_kind", String(16), nullable=False),  # Artifact, Execution, Context
    Column("destination_kind", String(16), nullable=False),
    Column("properties", JSON, nullable=False, default=dict),
    Column("created_ms", BigInteger, nullable=False),
    Index(None, "destination_id"),
)

params = Table(
    "params",
    metadata,
    Column("execution_id", String(32), ForeignKey("executions.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "key", "value", "execution_id"),  # covering: a filter on a param never reads the table
)

param_history = Table(
    "param_history",
    metadata,
    Column("execution_id", String(32), ForeignKey("executions.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("value", Text, nullable=False),
    Column("logged_ms", BigInteger, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("entity_id", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(32), ForeignKey("executions.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("nan_count", BigInteger, nullable=False, default=0),
    Column("min_value", Float, nullable=True),  # over non-NaN values
    Column("max_value", Float, nullable=True),
    Column("sum_value", Float, nullable=True),
    Column("sum_squares", Float, nullable=True),
    Column(
        "last_value", Float, nullable=True
    ),  # value at the highest (step, timestamp); NULL with count>0 = NaN
    Column("last_step", BigInteger, nullable=True),
    Column("last_ms", BigInteger, nullable=True),
    Column("chunks", Integer, nullable=False, default=0),
    UniqueConstraint("execution_id", "key"),
    # Covering indexes: filters on a metric, and ordering runs by one, never read the table.
    Index(None, "key", "last_value", "execution_id"),
    Index(None, "execution_id", "key", "last_value"),
)

metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("metric_id", Integer, ForeignKey("metrics.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # see kibako.store.points
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),  # a random UUID, unique by construction; no index to keep
    Column("bus", String(255), nullable=False, default="default"),
    Column("source", String(255), nullable=False),
    Column("detail_type", String(255), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("account", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("resources", JSON, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("dispatched_ms", BigInteger, nullable=True),
    # The delivery queue: only events not yet dispatched, in order; it stays small however long the log grows.
    _partial_index("ix_events_pending", "seq", "dispatched_ms IS NULL"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)

# The job queue: one row per training or processing job (its node is in ``executions``). Workers claim a job by
# setting ``worker_id`` and a lease; a job whose lease ran out is claimed again, so no job is lost and no job
# runs twice at once.
jobs = Table(
    "jobs",
    metadata,
    Column("execution_id", String(32), ForeignKey("executions.id"), primary_key=True),
    Column("kind", String(32), nullable=False),  # TrainingJob, ProcessingJob
    Column("state", String(16), nullable=False),  # queued, running, done
    Column("request", JSON, nullable=False),  # the normalised Create*Job request
    Column("cpus", Integer, nullable=False),  # what the job needs on one machine, all instances together
    Column("memory_mib", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("queued_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker_id", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("stop_requested_ms", BigInteger, nullable=True),
    # The queue: only jobs not done, oldest first; it stays small however many jobs have finished.
    _partial_index("ix_jobs_pending", "queued_ms", "state != 'done'"),
)

# Workers say they are alive; a submitter that finds none starts one.
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("executor", String(16), nullable=False),
    Column("capacity", JSON, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("heartbeat_ms", BigInteger, nullable=False),
)

# The model registry. A group is a context (type ModelPackageGroup); each version is a row here, numbered per
# group, pointing at its Model artifact node. What may change after creation (approval, metadata, the card,
# aliases) is written to the history, so the audit trail says who changed what, when and why.
model_packages = Table(
    "model_packages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("group_id", String(32), ForeignKey("contexts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("arn", String(1024), nullable=False, unique=True),
    Column("artifact_id", String(32), ForeignKey("artifacts.id"), nullable=True),
    Column("status", String(16), nullable=False),  # ModelPackageStatus
    Column("approval_status", String(32), nullable=False),  # PendingManualApproval, Approved, Rejected
    Column("description", Text, nullable=False, default=""),
    Column(
        "properties", JSON, nullable=False, default=dict
    ),  # InferenceSpecification, ModelMetrics, card, ...
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("group_id", "version"),
    Index(None, "approval_status", "created_ms"),
)

# The numbers of a version's metrics (from its reports and its training job), one row each, so a search on a
# metric is an indexed range scan.
model_package_metrics = Table(
    "model_package_metrics",
    metadata,
    Column("package_id", String(32), ForeignKey("model_packages.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Index(None, "key", "value", "package_id"),
)

model_package_history = Table(
    "model_package_history",
    metadata,
    Column("package_id", String(32), ForeignKey("model_packages.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("change", JSON, nullable=False),  # the fields set, e.g. {"ModelApprovalStatus": "Approved", ...}
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("group_id", String(32), ForeignKey("contexts.id"), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("package_id", String(32), ForeignKey("model_packages.id"), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index(None, "package_id"),
)
