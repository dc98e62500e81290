"""Shared fixtures for the artifact store: stores on every backend, and a real moto S3 server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kibako.artifacts import ArtifactStore

S3_BUCKET = "kibako-test"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` (relative posix path -> content) under ``root``; ``root`` back."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` as relative posix path -> content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


MakeTree = Callable[[Path, dict[str, bytes]], Path]
ReadTree = Callable[[Path], dict[str, bytes]]


@pytest.fixture
def make_tree() -> MakeTree:
    """Write a dict of relative posix path -> content under a folder."""
    return _make_tree


@pytest.fixture
def read_tree() -> ReadTree:
    """Read every file under a folder back as relative posix path -> content."""
    return _read_tree


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _moto_server_command() -> str:
    beside_python = Path(sys.executable).parent / "moto_server"
    found = str(beside_python) if beside_python.exists() else shutil.which("moto_server")
    if found is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    return found


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto S3 server on a free loopback port, with the test bucket created; its URL."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    proc = subprocess.Popen(
        [_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A server that never comes up is killed, which ends the blocking read below.
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "Running on" in line:
                break
        watchdog.cancel()
        if proc.poll() is not None:
            pytest.fail(f"moto_server did not start:\n{''.join(seen)}")
        # Keep draining the server's log so a full pipe never blocks it.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        watchdog.cancel()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point S3 clients at the moto server through the environment, as a user would; the endpoint."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    # Keep a developer's own AWS configuration out of the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("KIBAKO_S3_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3_bucket() -> str:
    """The bucket the moto server is started with."""
    return S3_BUCKET


@pytest.fixture
def local_store(tmp_path: Path) -> ArtifactStore:
    """A store in a fresh local folder."""
    return ArtifactStore(str(tmp_path / "store"))


@pytest.fixture(
    params=[
        "local",
        "memory",
        pytest.param("s3", marks=[pytest.mark.slow]),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """The same store contract on every backend: a local folder, fsspec's memory store, and S3 (moto)."""
    if request.param == "local":
        yield ArtifactStore(str(tmp_path / "store"))
    elif request.param == "memory":
        root = f"memory://kibako-test-{uuid.uuid4().hex}"
        store = ArtifactStore(root)
        yield store
        import fsspec

        fs = fsspec.filesystem("memory")
        if fs.exists(root):
            fs.rm(root, recursive=True)
    else:
        request.getfixturevalue("s3_env")
        yield ArtifactStore(f"s3://{S3_BUCKET}/{uuid.uuid4().hex}")


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A small local folder with nested files, one empty file and a non-ASCII name."""
    return _make_tree(
        tmp_path / "source",
        {
            "model.pkl": b"model-bytes" * 100,
            "config/params.json": b'{"lr": 0.1}',
            "config/deep/empty.txt": b"",
            "データ/表.csv": b"a,b\n1,2\n",
        },
    )
