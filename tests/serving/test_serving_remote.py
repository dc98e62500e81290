"""The registry and endpoints through a live server: the remote SDK imports (uploading the file), approves,
deploys, and invokes through the server's InvokeEndpoint route; viewers read but cannot change."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from tests.conftest import LiveServer

import kibako
from kibako.errors import PermissionDeniedError, ValidationError
from kibako.jobs.worker import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def hosted(live_server: LiveServer) -> Iterator[LiveServer]:
    worker = Worker(live_server.services, poll_seconds=0.05, lease_seconds=5)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    yield live_server
    worker.stop()
    thread.join(60)
    assert not worker.errors


def test_remote_import_approve_deploy_and_invoke(hosted: LiveServer, tmp_path: Path) -> None:
    x = np.random.RandomState(0).rand(100, 4)
    joblib.dump(LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int)), tmp_path / "model.joblib")
    kb = kibako.connect(hosted.url, token=hosted.token("editor"))
    version = kb.models.import_model(tmp_path / "model.joblib", "remote")
    assert version["InferenceSpecification"]["Containers"][0]["Flavor"] == "sklearn"
    approved = kb.models.approve("remote/1", "fine")
    assert approved["ModelApprovalStatus"] == "Approved"
    assert kb.models.history("remote/1")[-1]["Actor"].startswith(
        "token:"
    )  # the server names who, not the client
    desc = kb.endpoints.deploy("remote-ep", {"A": "remote/1"}, capture_percent=50)
    assert desc["EndpointStatus"] == "InService"
    answer = kb.endpoints.invoke("remote-ep", "0.9,0.1,0.1,0.1")
    assert answer.variant == "A" and answer.text().strip() in ("0", "1")
    with pytest.raises(ValidationError, match="400"):
        kb.endpoints.invoke("remote-ep", "0.9,abc")
    viewer = kibako.connect(hosted.url, token=hosted.token("viewer"))
    assert viewer.models.get("remote/1")["ModelApprovalStatus"] == "Approved"
    assert viewer.endpoints.invoke("remote-ep", "0.1,0.1,0.1,0.1").variant == "A"
    with pytest.raises(PermissionDeniedError):
        viewer.models.reject("remote/1", "no")
    kb.endpoints.delete("remote-ep")
    assert kb.endpoints.list() == []
