"""Tokens and roles on the server: no token no access, viewers read, editors write, admins manage tokens."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import kibako
from kibako.errors import AuthError, PermissionDeniedError, ServerUnreachableError
from tests.conftest import LiveServer, free_port


def test_no_token_gets_401(live_server: LiveServer) -> None:
    response = httpx.post(f"{live_server.url}/api/v1/rpc/tracking/list_experiments", json={})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "AuthError"
    with pytest.raises(AuthError):
        kibako.connect(live_server.url).list_experiments()


def test_unknown_token_gets_401(live_server: LiveServer) -> None:
    with pytest.raises(AuthError, match="unknown or revoked"):
        kibako.connect(live_server.url, token="kb_made_up").list_experiments()


def test_viewer_reads_but_cannot_write(live_server: LiveServer) -> None:
    editor = kibako.connect(live_server.url, token=live_server.token("editor"))
    with editor.run("shared") as run:
        run.log_metric("auc", 0.9)
    viewer = kibako.connect(live_server.url, token=live_server.token("viewer"))
    assert viewer.get_run(run.id).metrics["auc"].last == 0.9
    with pytest.raises(PermissionDeniedError, match="viewer token cannot"):
        viewer.run("shared")
    assert len(editor.search_runs("shared").runs) == 1, "the refused call created nothing"


def test_editor_cannot_create_tokens_but_admin_can(live_server: LiveServer) -> None:
    editor = kibako.connect(live_server.url, token=live_server.token("editor"))
    with pytest.raises(PermissionDeniedError):
        editor.tokens.create_token("admin")
    admin = kibako.connect(live_server.url, token=live_server.token("admin"))
    made = admin.tokens.create_token("viewer", "ci")
    assert made.token.startswith("kb_") and made.info.role == "viewer"
    assert kibako.connect(live_server.url, token=made.token).list_experiments() == []


def test_revoked_token_is_refused(live_server: LiveServer) -> None:
    admin = kibako.connect(live_server.url, token=live_server.token("admin"))
    made = admin.tokens.create_token("viewer")
    admin.tokens.revoke_token(made.info.id)
    with pytest.raises(AuthError):
        kibako.connect(live_server.url, token=made.token).list_experiments()


def test_tokens_are_stored_hashed(live_server: LiveServer) -> None:
    secret = live_server.token("viewer")
    from sqlalchemy import select

    from kibako.store import schema

    with live_server.services.store.read() as conn:
        stored = conn.execute(select(schema.tokens.c.token_hash)).scalars().all()
    assert secret not in stored and all(len(h) == 64 for h in stored)


def test_health_needs_no_token(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/api/v1/health").json()["status"] == "ok"


@pytest.mark.slow
def test_server_prints_an_admin_token_once_on_first_start(tmp_path: Path) -> None:
    env = {"KIBAKO_HOME": str(tmp_path / "h"), "PATH": "/usr/bin:/bin"}

    def start() -> tuple[subprocess.Popen[str], str]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "kibako.cli", "server", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/api/v1/health")
                return proc, url
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError(proc.stderr.read() if proc.stderr else "server did not start")

    proc, url = start()
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    token = out.split("admin token (shown once, keep it): ", 1)[1].split()[0]
    proc, url = start()
    try:
        assert kibako.connect(url, token=token).tokens.list_tokens()[0].role == "admin"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "admin token" not in out, "the second start prints no token"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"run_id": {"a": 1}}', "argument 'run_id'"),
        ("[1, 2]", "JSON object"),
        ("not json", "not JSON"),
        ('{"run_id": "x", "nope": 1}', "unexpected keyword"),
    ],
    ids=["wrong-type", "not-an-object", "not-json", "unknown-argument"],
)
def test_bad_rpc_bodies_are_400_with_our_error_shape(live_server: LiveServer, body: str, words: str) -> None:
    response = httpx.post(
        f"{live_server.url}/api/v1/rpc/tracking/get_run",
        content=body,
        headers={"Authorization": f"Bearer {live_server.token('viewer')}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "ValidationError"
    assert words in response.json()["error"]["message"]


def test_wrong_argument_type_from_the_sdk_is_a_validation_error(live_server: LiveServer) -> None:
    kb = kibako.connect(live_server.url, token=live_server.token("viewer"))
    with pytest.raises(kibako.ValidationError, match="max_depth"):
        kb.lineage.query("x", max_depth="deep")


def test_unreachable_server_is_a_clear_error() -> None:
    kb = kibako.connect(f"http://127.0.0.1:{free_port()}", token="kb_x")
    with pytest.raises(ServerUnreachableError, match="could not reach"):
        kb.list_experiments()
