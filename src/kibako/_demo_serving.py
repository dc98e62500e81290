"""The demo's registry and endpoint part: the trained models become versions of a group, one is approved and
named ``champion``, and both serve behind an endpoint split 90/10 with every request captured."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

GROUP = "churn"
ENDPOINT = "churn-demo"


def registry_and_endpoint(
    kb: Any, spot_job: str, best_trial: str, dataset: Path, console: Any, err: Any
) -> None:
    from kibako.jobs.worker import Worker

    first = kb.models.register(spot_job, GROUP, description="spot job, resumed from its checkpoint")
    second = kb.models.register(best_trial, GROUP, description="best trial of the tuning job")
    ranked = sorted((first, second), key=lambda v: v["MetricValues"].get("val_auc") or 0.0, reverse=True)
    champion, challenger = ranked[0]["ModelPackageVersion"], ranked[1]["ModelPackageVersion"]
    auc = ranked[0]["MetricValues"].get("val_auc") or 0.0
    kb.models.approve(f"{GROUP}/{champion}", f"val_auc {auc:.4f}, the better of the two on the held-out 20%")
    kb.models.set_alias(GROUP, "champion", champion)
    console.print(f"\n[bold]Model registry[/] group {GROUP}:", highlight=False)
    for version in kb.models.list(GROUP):
        desc = kb.models.get(version["ModelPackageArn"])
        auc = desc["MetricValues"].get("val_auc")
        aliases = f"  @{', @'.join(desc['Aliases'])}" if desc["Aliases"] else ""
        console.print(
            f"  v{desc['ModelPackageVersion']}  {desc['ModelApprovalStatus']:<22} val_auc={auc:.4f}{aliases}",
            highlight=False,
        )
    err.print(f"\n[bold]Endpoint[/] {ENDPOINT}: champion (v{champion}) 90%, v{challenger} 10%, 100% captured")
    worker = Worker(kb.jobs._services, poll_seconds=0.05)  # as `kibako server` runs one
    thread = threading.Thread(target=worker.run, name="kibako-demo-worker", daemon=True)
    thread.start()
    try:
        desc = kb.endpoints.deploy(
            ENDPOINT,
            {"A": (f"{GROUP}@champion", 9), "B": (f"{GROUP}/{challenger}", 1)},
            capture_percent=100,
        )
        rows = dataset.read_text().splitlines()[1:201]
        served: Counter[str] = Counter()
        churners = 0
        for i, row in enumerate(rows):
            answer = kb.endpoints.invoke(ENDPOINT, row.rsplit(",", 1)[0], inference_id=f"demo-{i}")
            served[answer.variant] += 1
            churners += int(float(answer.text().strip()))
        console.print(
            f"\n[bold]Endpoint[/] {ENDPOINT} ({desc['EndpointStatus']} at {desc['Url']}): {len(rows)} requests, "
            f"A served {served['A']}, B served {served['B']}; {churners} predicted to churn",
            highlight=False,
        )
        kb.endpoints.delete(ENDPOINT)  # a clean stop: every captured record is flushed first
    finally:
        worker.stop()
        thread.join()
    root = Path(desc["DataCaptureConfig"]["DestinationS3Uri"]) / ENDPOINT
    files = sorted(root.rglob("*.jsonl"))
    records = sum(len(f.read_text().splitlines()) for f in files)
    console.print(f"  captured {records} records in {len(files)} files, e.g.", highlight=False)
    for file in files[:2]:
        console.print(f"    {file.relative_to(root.parent)}", markup=False, highlight=False)
    console.print(
        "\nTry next:\n"
        f"  kibako models list --group {GROUP}\n"
        f"  kibako models history {GROUP} 1\n"
        f"  kibako endpoints create {ENDPOINT} --variant A={GROUP}:champion --capture 100",
        markup=False,
        highlight=False,
    )
