"""Writing and querying the lineage graph. Other services record their edges through ``record_*`` inside
their own transactions; users query with ``query``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from kibako.core.clock import Clock, from_ms
from kibako.core.ids import arn, new_id
from kibako.core.wire import command, query
from kibako.errors import NotFoundError, ValidationError
from kibako.lineage.models import (
    ARTIFACT,
    ASSOCIATION_TYPES,
    CONTEXT,
    DIRECTIONS,
    EXECUTION,
    STRUCTURAL_TYPES,
    Edge,
    LineageGraph,
    Vertex,
)
from kibako.store import schema
from kibako.store.sql import insert_ignore

_TABLES = {ARTIFACT: schema.artifacts, EXECUTION: schema.executions, CONTEXT: schema.contexts}
MAX_VERTICES = 10_000


class LineageService:
    def __init__(self, store: Any, clock: Clock, *, region: str, account: str) -> None:
        self.store = store
        self.clock = clock
        self.region = region
        self.account = account

    # -- writing, inside another service's transaction --------------------------------------------------

    def record_artifact(
        self,
        tx: Connection,
        *,
        uri: str,
        digest: str,
        type: str,
        name: str | None = None,
        size: int | None = None,
        media_type: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> str:
        """The id of the artifact with ``digest``, created if new: one node per content, whatever its URI."""
        t = schema.artifacts
        found = tx.execute(select(t.c.id).where(t.c.digest == digest)).scalar()
        if found:
            return str(found)
        artifact_id = new_id()
        insert_ignore(
            tx,
            t,
            [
                {
                    "id": artifact_id,
                    "type": type,
                    "name": name or uri.rstrip("/").rsplit("/", 1)[-1],
                    "arn": arn("artifact", artifact_id, region=self.region, account=self.account),
                    "uri": uri,
                    "digest": digest,
                    "size": size,
                    "media_type": media_type,
                    "properties": properties or {},
                    "created_ms": self.clock.time_ms(),
                }
            ],
            ["digest"],
        )
        # Another writer may have won the race for this digest: read back whichever row stands.
        return str(tx.execute(select(t.c.id).where(t.c.digest == digest)).scalar_one())

    def record_edge(
        self,
        tx: Connection,
        source: tuple[str, str],
        destination: tuple[str, str],
        type: str,
        role: str = "",
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Add the edge ``source -> destination`` (each ``(kind, id)``); a repeat of the same edge is a no-op."""
        if type not in ASSOCIATION_TYPES:
            raise ValidationError(f"association type {type!r} is not one of {', '.join(ASSOCIATION_TYPES)}")
        insert_ignore(
            tx,
            schema.associations,
            [
                {
                    "source_id": source[1],
                    "source_kind": source[0],
                    "destination_id": destination[1],
                    "destination_kind": destination[0],
                    "type": type,
                    "role": role,
                    "properties": properties or {},
                    "created_ms": self.clock.time_ms(),
                }
            ],
            ["source_id", "destination_id", "type", "role"],
        )

    # -- the public face ----------------------------------------------------------------------------------

    @command
    def add_association(self, source: str, destination: str, type: str, role: str = "") -> Edge:
        """Link two existing nodes (ids or ARNs) with an association of ``type``, e.g. ``DerivedFrom``."""
        with self.store.write() as tx:
            src = self._resolve(tx, source)
            dst = self._resolve(tx, destination)
            self.record_edge(tx, (src.kind, src.id), (dst.kind, dst.id), type, role)
        return Edge(src.id, dst.id, type, role)

    @query
    def get_vertex(self, id_or_arn: str) -> Vertex:
        """One node by id or ARN."""
        with self.store.read() as conn:
            return self._resolve(conn, id_or_arn)

    @query
    def query(
        self,
        start: str | list[str],
        direction: str = "both",
        max_depth: int = 10,
        include_edges: bool = True,
        association_types: list[str] | None = None,
        vertex_types: list[str] | None = None,
        kinds: list[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        max_vertices: int = MAX_VERTICES,
    ) -> LineageGraph:
        """Walk from ``start`` (ids or ARNs) up to its sources, down to what it made, or both.

        ``up`` follows edges backwards (a model to the run that produced it to the data it read); ``down``
        follows them forwards; ``both`` is the union of the two walks, never a turn in the middle of a path.
        The structural edges (MemberOf, ChildOf) are walked only when ``association_types`` names them.
        ``vertex_types`` (Dataset, Model, Run...), ``kinds`` (Artifact, Execution, Context) and the creation
        window keep only matching vertices in the answer (the walk still passes through the others); the start
        vertices are always kept.
        """
        if direction not in DIRECTIONS:
            raise ValidationError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
        if max_depth < 0:
            raise ValidationError("max_depth must be 0 or more")
        created_after, created_before = _utc(created_after), _utc(created_before)
        walk_types = association_types or [t for t in ASSOCIATION_TYPES if t not in STRUCTURAL_TYPES]
        starts = [start] if isinstance(start, str) else list(start)
        with self.store.read() as conn:
            start_vertices = [self._resolve(conn, s) for s in starts]
            start_ids = [v.id for v in start_vertices]
            seen: set[str] = set(start_ids)
            edges: dict[tuple[str, str, str, str], Edge] = {}
            truncated = False
            for forward in [False] if direction == "up" else [True] if direction == "down" else [False, True]:
                found, walk_edges, cut = self._walk(
                    conn, start_ids, forward, max_depth, walk_types, max_vertices
                )
                seen |= found
                truncated = truncated or cut
                for e in walk_edges:
                    edges[(e.source_id, e.destination_id, e.type, e.role)] = e
            vertices = {v.id: v for v in self._load_vertices(conn, seen)}
        keep = {
            vid
            for vid, v in vertices.items()
            if vid in start_ids
            or (
                (not vertex_types or v.type in vertex_types)
                and (not kinds or v.kind in kinds)
                and (created_after is None or v.created > created_after)
                and (created_before is None or v.created < created_before)
            )
        }
        ordered = [vertices[v] for v in start_ids] + sorted(
            (v for vid, v in vertices.items() if vid in keep and vid not in start_ids),
            key=lambda v: (v.created, v.id),
        )
        kept_edges = [e for e in edges.values() if e.source_id in keep and e.destination_id in keep]
        return LineageGraph(start_ids, ordered, kept_edges if include_edges else [], truncated)

    # -- helpers ------------------------------------------------------------------------------------------

    def _walk(
        self,
        conn: Connection,
        start_ids: list[str],
        forward: bool,
        max_depth: int,
        association_types: list[str] | None,
        max_vertices: int,
    ) -> tuple[set[str], list[Edge], bool]:
        a = schema.associations
        here = a.c.source_id if forward else a.c.destination_id
        seen = set(start_ids)
        frontier = list(start_ids)
        edges: list[Edge] = []
        for _ in range(max_depth):
            if not frontier:
                break
            next_frontier: list[str] = []
            for batch in _batches(frontier, 500):
                stmt = select(a.c.source_id, a.c.destination_id, a.c.type, a.c.role).where(here.in_(batch))
                if association_types:
                    stmt = stmt.where(a.c.type.in_(association_types))
                found = [Edge(*row) for row in conn.execute(stmt).all()]
                found += _structural_edges(conn, batch, forward, association_types)
                for edge in found:
                    edges.append(edge)
                    other = edge.destination_id if forward else edge.source_id
                    if other not in seen:
                        if len(seen) >= max_vertices:
                            return seen, [e for e in edges if {e.source_id, e.destination_id} <= seen], True
                        seen.add(other)
                        next_frontier.append(other)
            frontier = next_frontier
        return seen, edges, False

    def _resolve(self, conn: Connection, id_or_arn: str) -> Vertex:
        column = "arn" if id_or_arn.startswith("arn:") else "id"
        for kind, table in _TABLES.items():
            row = conn.execute(select(table).where(table.c[column] == id_or_arn)).mappings().first()
            if row is not None:
                return _vertex(kind, row)
        raise NotFoundError(
            f"no lineage entity with {column} {id_or_arn!r}; check the id, or list runs with "
            "'kibako runs list'"
        )

    def _load_vertices(self, conn: Connection, ids: Iterable[str]) -> list[Vertex]:
        wanted = list(ids)
        out: list[Vertex] = []
        for kind, table in _TABLES.items():
            for batch in _batches(wanted, 500):
                rows = conn.execute(select(table).where(table.c.id.in_(batch))).mappings().all()
                out.extend(_vertex(kind, r) for r in rows)
        return out


def _vertex(kind: str, row: Any) -> Vertex:
    return Vertex(
        id=row["id"],
        arn=row["arn"],
        kind=kind,
        type=row["type"],
        name=row["name"],
        created=from_ms(row["created_ms"]),
        uri=row.get("uri"),
        digest=row.get("digest"),
        status=row.get("status"),
        properties=dict(row["properties"] or {}),
    )


def _structural_edges(
    conn: Connection, batch: list[str], forward: bool, association_types: list[str] | None
) -> list[Edge]:
    """MemberOf and ChildOf edges of executions, read from the columns that hold them (an execution's
    ``context_id`` and ``parent_id``) rather than stored twice."""
    e = schema.executions
    edges: list[Edge] = []
    for edge_type, column in (("MemberOf", e.c.context_id), ("ChildOf", e.c.parent_id)):
        if not association_types or edge_type not in association_types:
            continue  # the default walk follows data flow only
        near = e.c.id if forward else column
        rows = conn.execute(select(e.c.id, column).where(near.in_(batch), column.is_not(None))).all()
        edges += [Edge(child, parent, edge_type) for child, parent in rows]
    return edges


def _utc(moment: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC, as every time kibako stores is."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
