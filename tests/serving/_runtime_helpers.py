"""Helpers for the inference runtime tests: a real sklearn model, test-double models, a live runtime process.

The runtime loads models through ``KIBAKO_RUNTIME_LOADER=tests.serving._runtime_helpers:load``: flavors that
start with ``test-`` are doubles (a model that raises, one that stalls, one that fails to load); anything
else goes to ``kibako.inference.load_model``, so the sklearn model is loaded exactly as in production.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOADER = "tests.serving._runtime_helpers:load"
SECRET = "s3cret"
ROW = b"5.1,3.5,1.4,0.2"


# -- models ---------------------------------------------------------------------------------------------------


def save_sklearn_model(folder: Path, n_features: int = 4, seed: int = 0) -> Path:
    """A LogisticRegression on ``n_features`` features, saved with joblib as ``folder/model.joblib``."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.joblib"
    joblib.dump(LogisticRegression().fit(x, y), path)
    return path


class _Raising:
    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        if body == b"ok":
            return b"fine", "text/plain"
        raise RuntimeError("boom: the model is broken")

    def close(self) -> None:
        pass


class _Slow:
    """Marks ``{folder}/started`` then sleeps the seconds in the body (capped): a model that stalls on demand."""

    def __init__(self, folder: str) -> None:
        self.started = Path(folder) / "started"

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        self.started.touch()
        time.sleep(min(float(body or b"0"), 5.0))
        return body, "text/plain"

    def close(self) -> None:
        pass


class _Echo:
    def __init__(self, tag: str) -> None:
        self.tag = tag.encode()

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> tuple[bytes, str]:
        return self.tag + b":" + body, accept or content_type

    def close(self) -> None:
        pass


def load(path: str, flavor: str | None = None, model_class: str | None = None) -> Any:
    """The loader the test runtimes use (see the module docstring)."""
    if flavor == "test-raise":
        return _Raising()
    if flavor == "test-slow":
        return _Slow(path)
    if flavor == "test-wait-load":  # loading lasts until the test creates {path}/release
        deadline = time.monotonic() + 30
        while not (Path(path) / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return _Echo("waited")
    if flavor == "test-echo":
        return _Echo(model_class or "echo")
    if flavor == "test-fail-load":
        raise RuntimeError(f"cannot load {path}: this model never loads")
    from kibako.inference import load_model

    return load_model(path, flavor=flavor, model_class=model_class)


# -- configs --------------------------------------------------------------------------------------------------


def variant(name: str, model_dir: Path | str, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model_name": extra.pop("model_name", f"m-{name}"),
        "model_dir": str(model_dir),
        "weight": weight,
        **extra,
    }


def config(variants: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"endpoint_name": "ep", "config_name": "cfg-1", "variants": variants, "secret": SECRET, **extra}


# -- a live runtime -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Runtime:
    """``python -m kibako.serving.runtime`` on a free loopback port, ready once ``/ping`` says 200."""

    def __init__(self, tmp: Path, document: dict[str, Any], seed: int | None = 7, wait: bool = True) -> None:
        self.config_file = tmp / f"runtime-{time.monotonic_ns()}.json"
        self.config_file.write_text(json.dumps(document))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, KIBAKO_RUNTIME_LOADER=LOADER, PYTHONPATH=str(REPO))
        if seed is not None:
            env["KIBAKO_RUNTIME_SEED"] = str(seed)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kibako.serving.runtime",
                "--config",
                str(self.config_file),
                "--port",
                str(self.port),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the runtime exited {self.proc.returncode}: {self.stderr()}")
            try:
                if self.get("/ping").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"the runtime was not ready in {timeout} s: {self.stderr()}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def invoke(self, body: bytes = ROW, content_type: str = "text/csv", **headers: str) -> Reply:
        extra = {k.replace("_", "-"): v for k, v in headers.items()}
        return self.request("POST", "/invocations", body, {"Content-Type": content_type, **extra})

    def admin(self, method: str, path: str, document: Any = None) -> Reply:
        body = None if document is None else json.dumps(document).encode()
        return self.request(method, "/_kibako/" + path, body, {"X-Kibako-Secret": SECRET})

    def stats(self, drain: bool = True) -> dict[str, Any]:
        reply = self.admin("GET", "stats?drain=1" if drain else "stats")
        assert reply.status == 200, reply.body
        return reply.json()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")[-3000:] if self.proc.stderr else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def capture_lines(root: Path) -> list[dict[str, Any]]:
    """Every capture record under ``root``, parsed."""
    return [
        json.loads(line) for path in sorted(root.rglob("*.jsonl")) for line in path.read_text().splitlines()
    ]


def capture_files(root: Path) -> Iterator[Path]:
    return iter(sorted(root.rglob("*.jsonl")))


class KeepAlive:
    """One keep-alive HTTP/1.1 connection (urllib opens a new one per request)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        self.conn.request("POST", path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return Reply(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})

    def close(self) -> None:
        self.conn.close()
