"""``kibako.connect()``: one object that reaches every capability, embedded or over HTTP."""

from __future__ import annotations

import os
from typing import Any

from kibako.core.config import Config
from kibako.sdk.run import ActiveRun
from kibako.tracking.models import Comparison, Experiment, Run, RunPage


class Kibako:
    """The SDK's entry point. ``tracking``, ``lineage``, ``events`` and ``tokens`` are the services themselves
    (embedded) or their remote twins (with ``KIBAKO_URI``); both have the same methods."""

    def __init__(
        self,
        config: Config,
        *,
        tracking: Any,
        lineage: Any,
        events: Any,
        tokens: Any,
        artifacts: Any,
        jobs: Any = None,
        tuning: Any = None,
        registry: Any = None,
        serving: Any = None,
        http: Any = None,
        services: Any = None,
        closer: Any = None,
    ) -> None:
        from kibako.sdk.endpoints import Endpoints
        from kibako.sdk.jobs import Jobs
        from kibako.sdk.models import Models
        from kibako.sdk.tuning import Tuning

        self.config = config
        self.tracking = tracking
        self.lineage = lineage
        self.events = events
        self.tokens = tokens
        self.artifacts = artifacts
        self.jobs = Jobs(self, jobs, services)
        self.tuning = Tuning(tuning, self.jobs, services)
        self.models = Models(registry, jobs, artifacts, remote=http is not None)
        self.endpoints = Endpoints(serving, self.jobs, tracking, http=http)
        self._closer = closer

    def __repr__(self) -> str:
        where = self.config.uri or str(self.config.home)
        return f"kibako.connect({where!r})"

    # -- runs -----------------------------------------------------------------------------------------------

    def run(
        self,
        experiment: str,
        name: str | None = None,
        *,
        parent: ActiveRun | Run | str | None = None,
        tags: dict[str, str] | None = None,
        sync: bool = False,
        max_buffered: int = 10_000,
        flush_interval: float = 2.0,
    ) -> ActiveRun:
        """Start a run in ``experiment`` (created if new); use it with ``with``. ``parent`` nests it.

        Inside a training or processing job (``KIBAKO_RUN_ID`` is set), this is the job's own run: what the
        script logs lands beside the metrics scraped from its output, and the job, not the block, ends the run.
        """
        job_run = os.environ.get("KIBAKO_RUN_ID")
        if job_run and parent is None:
            attached = ActiveRun(
                self,
                self.tracking.get_run(job_run),
                sync=sync,
                max_buffered=max_buffered,
                flush_interval=flush_interval,
            )
            attached.owns_run = False
            # Steps go on from what earlier attempts of the job logged, so a resumed script never repeats one.
            attached._next_step.update({k: m.last_step + 1 for k, m in attached.info.metrics.items()})
            return attached
        parent_id = parent if isinstance(parent, str) or parent is None else parent.id
        run = self.tracking.start_run(experiment, name=name, parent_run_id=parent_id, tags=tags)
        return ActiveRun(self, run, sync=sync, max_buffered=max_buffered, flush_interval=flush_interval)

    start_run = run

    def get_run(self, run_id: str) -> Run:
        return self.tracking.get_run(run_id)

    def search_runs(
        self,
        experiment: str | list[str] | None = None,
        filter: str = "",
        order_by: list[str] | str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs matching an MLflow-style filter with ``and``/``or`` and parentheses; see docs/search.md."""
        experiments = [experiment] if isinstance(experiment, str) else experiment
        order = [order_by] if isinstance(order_by, str) else order_by
        return self.tracking.search_runs(experiments, filter, order, max_results, page_token)

    def compare_runs(self, run_ids: list[str], hide_identical: bool = False) -> Comparison:
        return self.tracking.compare_runs(run_ids, hide_identical)

    def list_experiments(self) -> list[Experiment]:
        return self.tracking.list_experiments()

    def list_artifacts(self, run_id: str, path: str = "") -> list[Any]:
        """Files a run stored with ``log_artifact``."""
        prefix = "/".join(p for p in (f"runs/{run_id}/artifacts", path) if p)
        return self.artifacts.list(prefix, recursive=True)

    def close(self) -> None:
        self.endpoints.close()
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> Kibako:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(uri: str | None = None, *, home: str | None = None, token: str | None = None) -> Kibako:
    """Reach kibako: a server when ``uri`` (or ``KIBAKO_URI``) is set, else the embedded store under ``home``
    (or ``KIBAKO_HOME``, default ``~/.kibako``).

    >>> kb = kibako.connect()
    >>> with kb.run("churn", name="baseline") as run:
    ...     run.log_metric("auc", 0.91)
    """
    env = dict(os.environ)
    if home is not None:
        # An explicit home means a store of its own, whatever the environment points at.
        env["KIBAKO_HOME"] = str(home)
        for key in ("KIBAKO_DATABASE_URL", "KIBAKO_ARTIFACT_URI", "KIBAKO_URI"):
            env.pop(key, None)
    if uri is not None:
        env["KIBAKO_URI"] = uri
    if token is not None:
        env["KIBAKO_TOKEN"] = token
    config = Config.from_env(env)
    if config.is_remote:
        from kibako.sdk.remote import connect_remote

        return connect_remote(config)
    from kibako.sdk.services import Services

    services = Services.open(config)
    return Kibako(
        config,
        tracking=services.tracking,
        lineage=services.lineage,
        events=services.outbox,
        tokens=services.tokens,
        artifacts=services.artifacts,
        jobs=services.jobs,
        tuning=services.tuning,
        registry=services.registry,
        serving=services.serving,
        services=services,
        closer=services.close,
    )
