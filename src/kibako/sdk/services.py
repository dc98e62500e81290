"""The embedded platform: every service wired to one store, one artifact store and one clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kibako.auth.service import TokenService
from kibako.core.clock import Clock, SystemClock
from kibako.core.config import Config
from kibako.events.outbox import Outbox
from kibako.jobs.service import JobService
from kibako.lineage.service import LineageService
from kibako.registry.service import RegistryService
from kibako.serving.service import ServingService
from kibako.store.engine import Store
from kibako.tracking.service import TrackingService
from kibako.tuning.service import TuningService

# Service name on the wire -> class. The HTTP API and the remote client are both built from this table.
SERVICE_CLASSES: dict[str, type] = {
    "tracking": TrackingService,
    "lineage": LineageService,
    "events": Outbox,
    "tokens": TokenService,
    "jobs": JobService,
    "tuning": TuningService,
    "registry": RegistryService,
    "serving": ServingService,
}


@dataclass
class Services:
    config: Config
    store: Store
    artifacts: Any
    clock: Clock
    outbox: Outbox
    lineage: LineageService
    tracking: TrackingService
    tokens: TokenService
    jobs: JobService
    tuning: TuningService
    registry: RegistryService
    serving: ServingService

    @classmethod
    def open(cls, config: Config, clock: Clock | None = None) -> Services:
        from kibako.artifacts.store import ArtifactStore

        clock = clock or SystemClock()
        config.home.mkdir(parents=True, exist_ok=True)
        store = Store(config.database_url)
        artifacts = ArtifactStore(config.artifact_uri)
        where = {"region": config.region, "account": config.account}
        outbox = Outbox(store, clock, **where)
        lineage = LineageService(store, clock, **where)
        tracking = TrackingService(store, clock, outbox, lineage, artifact_root=config.artifact_uri, **where)
        jobs = JobService(
            store,
            clock,
            outbox,
            lineage,
            tracking,
            artifact_root=config.artifact_uri,
            home=config.home,
            **where,
        )
        tuning = TuningService(jobs)  # registers tuning jobs with the queue, so every worker can run them
        registry = RegistryService(store, clock, outbox, lineage, jobs, artifacts, **where)
        serving = ServingService(jobs, registry, artifact_root=config.artifact_uri)  # registers endpoints too
        return cls(
            config,
            store,
            artifacts,
            clock,
            outbox,
            lineage,
            tracking,
            TokenService(store, clock),
            jobs,
            tuning,
            registry,
            serving,
        )

    def by_name(self, name: str) -> Any:
        return {
            "tracking": self.tracking,
            "lineage": self.lineage,
            "events": self.outbox,
            "tokens": self.tokens,
            "jobs": self.jobs,
            "tuning": self.tuning,
            "registry": self.registry,
            "serving": self.serving,
        }[name]

    def close(self) -> None:
        self.store.dispose()
