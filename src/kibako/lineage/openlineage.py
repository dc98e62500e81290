"""A run as OpenLineage run events (START, then COMPLETE, FAIL or ABORT), so lineage tools can read it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from kibako.core.ids import id_to_uuid

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
END_EVENT = {"Completed": "COMPLETE", "Failed": "FAIL", "Stopped": "ABORT"}


def dataset(uri: str, digest: str, producer: str) -> dict[str, Any]:
    """An OpenLineage dataset: namespace from the URI's scheme and host, name from its path."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        namespace, name = "file", parsed.path or uri
    else:
        namespace, name = f"{parsed.scheme}://{parsed.netloc}", parsed.path.lstrip("/")
    return {
        "namespace": namespace,
        "name": name,
        "facets": {
            "version": {
                "_producer": producer,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
                "datasetVersion": digest,
            }
        },
    }


def run_events(run: Any, producer: str, namespace: str = "kibako") -> list[dict[str, Any]]:
    """START (and the end event when the run has ended) for ``run`` (a tracking Run)."""
    run_facets: dict[str, Any] = {}
    if run.parent_run_id:
        run_facets["parent"] = {
            "_producer": producer,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json",
            "run": {"runId": id_to_uuid(run.parent_run_id)},
            "job": {"namespace": namespace, "name": run.experiment_name},
        }
    base = {
        "producer": producer,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": id_to_uuid(run.id), "facets": run_facets},
        "job": {"namespace": namespace, "name": f"{run.experiment_name}.{run.name}", "facets": {}},
        "inputs": [dataset(a.uri, a.digest, producer) for a in run.inputs],
        "outputs": [dataset(a.uri, a.digest, producer) for a in run.outputs],
    }
    events = [{"eventType": "START", "eventTime": run.start_time.isoformat(), **base}]
    if run.status in END_EVENT and run.end_time is not None:
        events.append({"eventType": END_EVENT[run.status], "eventTime": run.end_time.isoformat(), **base})
    return events
