"""Vertices and edges of the lineage graph (pure dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kibako.core.wire import wire_type

ARTIFACT = "Artifact"
EXECUTION = "Execution"
CONTEXT = "Context"

ASSOCIATION_TYPES = (
    "ContributedTo",
    "AssociatedWith",
    "DerivedFrom",
    "Produced",
    "SameAs",
    "MemberOf",
    "ChildOf",
)
STRUCTURAL_TYPES = ("MemberOf", "ChildOf")  # grouping, not data flow: walked only when asked for
# SageMaker's LineageType of each kind of ours: runs and jobs are trial components there.
LINEAGE_TYPES = {ARTIFACT: "Artifact", EXECUTION: "TrialComponent", CONTEXT: "Context"}
DIRECTIONS = {"up": "Ascendants", "down": "Descendants", "both": "Both"}


@wire_type
@dataclass(frozen=True)
class Vertex:
    """A node: ``kind`` is Artifact, Execution or Context; ``type`` its subtype (Dataset, Run, Experiment...)."""

    id: str
    arn: str
    kind: str
    type: str
    name: str
    created: datetime
    uri: str | None = None
    digest: str | None = None
    status: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Vertex({self.kind}:{self.type} {self.name!r}, id={self.id!r})"


@wire_type
@dataclass(frozen=True)
class Edge:
    source_id: str
    destination_id: str
    type: str
    role: str = ""


@wire_type
@dataclass(frozen=True)
class LineageGraph:
    """The answer to a lineage query: vertices (start included) and, when asked, the edges between them."""

    start_ids: list[str]
    vertices: list[Vertex]
    edges: list[Edge]
    truncated: bool = False

    def vertex(self, vertex_id: str) -> Vertex:
        return next(v for v in self.vertices if v.id == vertex_id)

    def to_query_lineage_response(self) -> dict[str, Any]:
        """The shape of SageMaker's QueryLineage response."""
        return {
            "Vertices": [
                {"Arn": v.arn, "Type": v.type, "LineageType": LINEAGE_TYPES[v.kind]} for v in self.vertices
            ],
            "Edges": [
                {
                    "SourceArn": self.vertex(e.source_id).arn,
                    "DestinationArn": self.vertex(e.destination_id).arn,
                    "AssociationType": e.type,
                }
                for e in self.edges
            ],
        }
