"""EventBridge-shaped events written to the store's outbox inside the caller's transaction.

An event is stored as soon as the state change it reports commits, and never without it. Delivery to rules
and targets reads the outbox in ``seq`` order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kibako.core.clock import Clock, from_ms
from kibako.core.wire import query, wire_type
from kibako.store import schema

DEFAULT_BUS = "default"
_INSERT = insert(schema.events)  # built once: every state change in every service goes through here


@wire_type
@dataclass(frozen=True)
class Event:
    """One event in EventBridge's envelope (``to_envelope`` gives the exact JSON)."""

    id: str
    source: str
    detail_type: str
    time: datetime
    account: str
    region: str
    resources: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    bus: str = DEFAULT_BUS

    def to_envelope(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": self.id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": self.account,
            "time": self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": list(self.resources),
            "detail": self.detail,
        }


class Outbox:
    """Writes and lists events; ``publish`` joins the transaction it is given."""

    def __init__(self, store: Any, clock: Clock, *, account: str, region: str) -> None:
        self.store = store
        self.clock = clock
        self.account = account
        self.region = region

    def publish(
        self,
        tx: Connection,
        source: str,
        detail_type: str,
        detail: dict[str, Any],
        resources: list[str] | None = None,
        *,
        bus: str = DEFAULT_BUS,
    ) -> str:
        """Store one event in the open transaction ``tx``; returns its id."""
        event_id = str(uuid.uuid4())
        tx.execute(
            _INSERT,
            {
                "id": event_id,
                "bus": bus,
                "source": source,
                "detail_type": detail_type,
                "time_ms": self.clock.time_ms(),
                "account": self.account,
                "region": self.region,
                "resources": list(resources or []),
                "detail": detail,
                "dispatched_ms": None,
            },
        )
        return event_id

    @query
    def list_events(
        self,
        detail_type: str | None = None,
        source: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[Event]:
        """Events in the order they were written, optionally of one detail type or source."""
        t = schema.events
        stmt = select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(max(1, min(limit, 10_000)))
        if detail_type:
            stmt = stmt.where(t.c.detail_type == detail_type)
        if source:
            stmt = stmt.where(t.c.source == source)
        with self.store.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [
            Event(
                id=r["id"],
                source=r["source"],
                detail_type=r["detail_type"],
                time=from_ms(r["time_ms"]),
                account=r["account"],
                region=r["region"],
                resources=list(r["resources"]),
                detail=dict(r["detail"]),
                seq=r["seq"],
                bus=r["bus"],
            )
            for r in rows
        ]
