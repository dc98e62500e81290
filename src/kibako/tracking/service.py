"""Experiment tracking: experiments, runs and what they log. Every face (SDK, HTTP, CLI) calls this."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from kibako.core.clock import Clock, from_ms
from kibako.core.ids import arn, new_id
from kibako.core.wire import command, query
from kibako.errors import ConflictError, NotFoundError, RunFinishedError, ValidationError
from kibako.events.outbox import Outbox
from kibako.lineage.models import ARTIFACT, EXECUTION
from kibako.lineage.service import LineageService
from kibako.store import schema
from kibako.tracking import _rows, _validate
from kibako.tracking._columns import metric_columns
from kibako.tracking._load import load_runs, run_artifact_uri
from kibako.tracking._metrics import envelope, read_points, write_points
from kibako.tracking.models import (
    COMPLETED,
    FINAL_STATUSES,
    IN_PROGRESS,
    Comparison,
    Experiment,
    MetricHistory,
    ParamChange,
    Run,
    RunPage,
)

EVENT_SOURCE = "kibako.experiments"
RUN_STATE_CHANGE = "Experiment Run State Change"


class TrackingService:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        outbox: Outbox,
        lineage: LineageService,
        *,
        region: str,
        account: str,
        artifact_root: str = "",
    ) -> None:
        self.store = store
        self.clock = clock
        self.outbox = outbox
        self.lineage = lineage
        self.region = region
        self.account = account
        self.artifact_root = artifact_root
        # Experiment name (or id) -> (id, name). Experiments are never renamed or deleted, so what was found
        # once stays true; this saves a query on every run start. A delete must clear this first.
        self._known_experiments: dict[str, tuple[str, str]] = {}

    # -- experiments --------------------------------------------------------------------------------------

    @command
    def create_experiment(
        self, name: str, description: str = "", tags: dict[str, str] | None = None, exist_ok: bool = False
    ) -> Experiment:
        """Create an experiment; with ``exist_ok`` return the existing one of that name instead of failing."""
        _rows.check_name("experiment", name)
        clean_tags = _validate.string_items("tag", tags)
        with self.store.write() as tx:
            found = _rows.experiment_row(tx, name)
            if found is not None:
                if exist_ok:
                    return self._experiment(tx, found)
                raise ConflictError(
                    f"experiment {name!r} exists already; pick another name or use it as it is"
                )
            self._insert_experiment(tx, name, description, clean_tags)
            return self._experiment(tx, _rows.experiment_row(tx, name))

    @query
    def get_experiment(self, name_or_id: str) -> Experiment:
        with self.store.read() as conn:
            row = _rows.experiment_row(conn, name_or_id)
            if row is None:
                raise NotFoundError(
                    f"no experiment named {name_or_id!r}; 'kibako experiments list' shows them"
                )
            return self._experiment(conn, row)

    @query
    def list_experiments(self) -> list[Experiment]:
        c = schema.contexts
        with self.store.read() as conn:
            rows = conn.execute(select(c).where(c.c.type == "Experiment").order_by(c.c.created_ms, c.c.id))
            return [self._experiment(conn, r) for r in rows.mappings().all()]

    # -- runs ---------------------------------------------------------------------------------------------

    @command
    def start_run(
        self,
        experiment: str,
        name: str | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        """Start a run (status InProgress) in ``experiment``, creating the experiment if it is new."""
        _rows.check_name("experiment", experiment)
        if name is not None:
            _rows.check_name("run", name)
        clean_tags = _validate.string_items("tag", tags)
        run_id = new_id()
        now = self.clock.time_ms()
        with self.store.write() as tx:
            known = self._known_experiments.get(experiment)
            if known is None:
                row = _rows.experiment_row(tx, experiment)
                known = (
                    (row["id"], row["name"])
                    if row
                    else (self._insert_experiment(tx, experiment, "", {}), experiment)
                )
            experiment_id, experiment_name = known
            if parent_run_id is not None:
                _rows.run_row(tx, parent_run_id)
            run = Run(
                id=run_id,
                name=name or f"run-{run_id[-8:]}",
                arn=arn("experiment-trial-component", run_id, region=self.region, account=self.account),
                experiment_id=experiment_id,
                experiment_name=experiment_name,
                status=IN_PROGRESS,
                start_time=from_ms(now),
                end_time=None,
                parent_run_id=parent_run_id,
                tags=clean_tags,
                artifact_uri=run_artifact_uri(self.artifact_root, run_id),
            )
            tx.execute(
                _rows.INSERT_RUN,
                {
                    "id": run_id,
                    "type": "Run",
                    "name": run.name,
                    "arn": run.arn,
                    "context_id": experiment_id,
                    "parent_id": parent_run_id,
                    "status": IN_PROGRESS,
                    "start_ms": now,
                    "end_ms": None,
                    "properties": {},
                    "created_ms": now,
                    "updated_ms": now,
                },
            )
            _rows.write_tags(tx, run_id, clean_tags)
            # MemberOf (experiment) and ChildOf (parent) live in the run's own columns; lineage reads them there.
            self._publish_state(tx, run_id, run.name, run.arn, run.experiment_name, IN_PROGRESS, now, None)
        # Only after the commit: a rolled-back insert must not be remembered.
        self._known_experiments[experiment] = self._known_experiments[experiment_id] = known
        return run

    @command
    def end_run(self, run_id: str, status: str = COMPLETED) -> None:
        """End a run as Completed, Failed or Stopped (``get_run`` reads it back)."""
        if status not in FINAL_STATUSES:
            raise ValidationError(f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        now = self.clock.time_ms()
        with self.store.write() as tx:
            ended = tx.execute(_rows.END_RUN, {"run_id": run_id, "new_status": status, "end_ms": now}).first()
            if ended is None:
                row = _rows.run_row(tx, run_id)  # NotFoundError when there is no such run
                raise RunFinishedError(f"run {run_id} has ended already ({row['status']})")
            name, run_arn, start_ms, experiment_id = ended
            experiment_name = self._experiment_name(tx, experiment_id)
            self._publish_state(tx, run_id, name, run_arn, experiment_name, status, start_ms, now)

    @command
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Sequence[Any]] = (),
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        """Write metric points ``(key, value, step, timestamp_ms)``, params and tags in one transaction.

        A param logged again with a new value becomes the current value; the old one stays in its history.
        All of the batch is checked first: on any bad item nothing is written.
        """
        points = metric_columns(metrics)
        clean_params = _validate.string_items("param", params)
        clean_tags = _validate.string_items("tag", tags)
        now = self.clock.time_ms()
        with self.store.write() as tx:
            row = _rows.run_row(tx, run_id)
            if row["status"] != IN_PROGRESS:
                raise RunFinishedError(
                    f"run {run_id} ended as {row['status']}; start a new run to log more, or log before it ends"
                )
            write_points(tx, run_id, points)
            if clean_params:
                _rows.write_params(tx, run_id, clean_params, now)
            _rows.write_tags(tx, run_id, clean_tags)

    @command
    def log_io(
        self,
        run_id: str,
        direction: str,
        uri: str,
        digest: str,
        type: str,
        name: str | None = None,
        size: int | None = None,
        role: str = "",
    ) -> str:
        """Record that a run read (``input``) or made (``output``) the artifact with ``digest``; returns its id.

        The artifact is one lineage node per content: the same bytes under two URIs are one node.
        """
        if direction not in ("input", "output"):
            raise ValidationError(f"direction is 'input' or 'output', not {direction!r}")
        if not digest.startswith("sha256:") or len(digest) != 71:
            raise ValidationError(f"digest must be 'sha256:' and 64 hex digits, got {digest!r}")
        with self.store.write() as tx:
            _rows.run_row(tx, run_id)
            artifact_id = self.lineage.record_artifact(
                tx, uri=uri, digest=digest, type=type, name=name, size=size
            )
            if direction == "input":
                self.lineage.record_edge(
                    tx, (ARTIFACT, artifact_id), (EXECUTION, run_id), "ContributedTo", role
                )
            else:
                self.lineage.record_edge(tx, (EXECUTION, run_id), (ARTIFACT, artifact_id), "Produced", role)
        return artifact_id

    # -- reads --------------------------------------------------------------------------------------------

    @query
    def get_run(self, run_id: str) -> Run:
        with self.store.read() as conn:
            runs = load_runs(conn, [run_id], self.artifact_root)
        if not runs:
            raise NotFoundError(f"no run with id {run_id!r}; 'kibako runs list' shows the runs")
        return runs[0]

    @query
    def search_runs(
        self,
        experiments: list[str] | None = None,
        filter: str = "",
        order_by: list[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs matching ``filter`` (e.g. ``metrics.auc > 0.8 and params.model = 'xgb'``), in ``order_by``
        order (e.g. ``["metrics.auc DESC"]``), a page at a time; pass ``next_token`` back for the next page."""
        from kibako.tracking.search import search_run_ids

        with self.store.read() as conn:
            experiment_ids = None
            if experiments is not None:
                experiment_ids = []
                for name in experiments:
                    row = _rows.experiment_row(conn, name)
                    if row is None:
                        raise NotFoundError(f"no experiment named {name!r}")
                    experiment_ids.append(row["id"])
            ids, token = search_run_ids(
                conn,
                experiment_ids=experiment_ids,
                filter_string=filter,
                order_by=order_by,
                max_results=max_results,
                page_token=page_token,
            )
            return RunPage(load_runs(conn, ids, self.artifact_root), token)

    @query
    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricHistory:
        """All points of one metric, or, with ``max_points``, an envelope that keeps every peak."""
        if max_points is not None and max_points < 3:
            raise ValidationError("max_points must be 3 or more")
        with self.store.read() as conn:
            _rows.run_row(conn, run_id)
            found = read_points(conn, run_id, key)
        if found is None:
            raise NotFoundError(f"run {run_id} has no metric {key!r}")
        steps, stamps, values = found
        total = len(steps)
        if max_points is not None and total > max_points:
            keep = envelope(total, values, max_points)
            steps, stamps, values = steps[keep], stamps[keep], values[keep]
        return MetricHistory(
            run_id, key, steps.tolist(), stamps.tolist(), values.tolist(), total, len(steps) < total
        )

    @query
    def get_param_history(self, run_id: str, key: str) -> list[ParamChange]:
        """Every value a param has had, oldest first."""
        h = schema.param_history
        with self.store.read() as conn:
            _rows.run_row(conn, run_id)
            rows = conn.execute(
                select(h.c.value, h.c.logged_ms)
                .where(h.c.execution_id == run_id, h.c.key == key)
                .order_by(h.c.seq)
            ).all()
        if not rows:
            raise NotFoundError(f"run {run_id} has no param {key!r}")
        return [ParamChange(r.value, from_ms(r.logged_ms)) for r in rows]

    @query
    def compare_runs(self, run_ids: list[str], hide_identical: bool = False) -> Comparison:
        """Params and last metric values of several runs side by side."""
        if not run_ids:
            raise ValidationError("name at least one run to compare")
        with self.store.read() as conn:
            runs = load_runs(conn, run_ids, self.artifact_root)
        missing = sorted(set(run_ids) - {r.id for r in runs})
        if missing:
            raise NotFoundError(f"no run with id {', '.join(repr(m) for m in missing)}")
        param_keys = sorted({k for r in runs for k in r.params})
        metric_keys = sorted({k for r in runs for k in r.metrics})
        params = {k: [r.params.get(k) for r in runs] for k in param_keys}
        metrics = {k: [r.metrics[k].last if k in r.metrics else None for r in runs] for k in metric_keys}
        if hide_identical and len(runs) > 1:
            params = {k: v for k, v in params.items() if len(set(v)) > 1}
            metrics = {k: v for k, v in metrics.items() if len({repr(x) for x in v}) > 1}
        return Comparison(runs, params, metrics)

    @query
    def openlineage_events(self, run_id: str) -> list[dict[str, Any]]:
        """The run as OpenLineage run events: START, then COMPLETE, FAIL or ABORT once it has ended."""
        from kibako.core.version import __version__
        from kibako.lineage.openlineage import run_events

        return run_events(self.get_run(run_id), producer=f"urn:kibako:{__version__}")

    def _experiment_name(self, conn: Connection, experiment_id: str) -> str:
        known = self._known_experiments.get(experiment_id)
        if known is None:
            row = _rows.experiment_row(conn, experiment_id)
            known = self._known_experiments[experiment_id] = (row["id"], row["name"])
        return known[1]

    # -- helpers ------------------------------------------------------------------------------------------

    def _insert_experiment(self, tx: Connection, name: str, description: str, tags: dict[str, str]) -> str:
        now = self.clock.time_ms()
        experiment_id = new_id()
        tx.execute(
            insert(schema.contexts).values(
                id=experiment_id,
                type="Experiment",
                name=name,
                arn=arn("experiment", name, region=self.region, account=self.account),
                description=description,
                properties={},
                created_ms=now,
                updated_ms=now,
            )
        )
        _rows.write_tags(tx, experiment_id, tags)
        return experiment_id

    @staticmethod
    def _experiment(conn: Connection, row: Any) -> Experiment:
        t = schema.tags
        tags = dict(conn.execute(select(t.c.key, t.c.value).where(t.c.entity_id == row["id"])).tuples().all())
        return Experiment(
            row["id"],
            row["name"],
            row["arn"],
            row["description"],
            tags,
            from_ms(row["created_ms"]),
        )

    def _publish_state(
        self,
        tx: Connection,
        run_id: str,
        name: str,
        run_arn: str,
        experiment_name: str,
        status: str,
        start_ms: int | None,
        end_ms: int | None,
    ) -> None:
        detail = {
            "RunId": run_id,
            "RunName": name,
            "ExperimentName": experiment_name,
            "Status": status,
            "StartTime": start_ms,
            "EndTime": end_ms,
        }
        self.outbox.publish(tx, EVENT_SOURCE, RUN_STATE_CHANGE, detail, [run_arn])
