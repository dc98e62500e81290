"""Shared fixtures: a fresh embedded store per test, a live server on a loopback port, PostgreSQL when set."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kibako
from kibako.core.config import Config

PG_URL = os.environ.get("KIBAKO_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's own store or server settings."""
    for key in ("KIBAKO_URI", "KIBAKO_TOKEN", "KIBAKO_DATABASE_URL", "KIBAKO_ARTIFACT_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KIBAKO_HOME", str(tmp_path / "home"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real HTTP app under uvicorn, in a thread, on a free loopback port."""

    def __init__(self, home: Path) -> None:
        import uvicorn

        from kibako.api.app import create_app
        from kibako.sdk.services import Services

        self.services = Services.open(Config.from_env({"KIBAKO_HOME": str(home)}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(self.services), host="127.0.0.1", port=self.port, log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def token(self, role: str) -> str:
        return self.services.tokens.create_token(role).token

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.services.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path / "server-home")
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "remote"])
def kb(request: pytest.FixtureRequest, home: Path) -> Iterator[kibako.Kibako]:
    """The SDK, embedded and against a live server: every tracking test runs both ways."""
    if request.param == "embedded":
        client = kibako.connect(home=str(home))
        yield client
        client.close()
        return
    server = request.getfixturevalue("live_server")
    client = kibako.connect(server.url, token=server.token("editor"))
    yield client
    client.close()
