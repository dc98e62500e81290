"""The serving benchmarks' parts that run outside the kibako process: MLflow export, load generator, servers.

Standard library only at import time (uvloop is used when the interpreter has it), because it runs in three
places: the peer environment (``save-mlflow``: the same joblib model saved as an MLflow model), a separate
load-generator process (``load``), and the benchmark scripts themselves (the server helpers below).

The load generator drives ``concurrency`` keep-alive HTTP/1.1 connections, each sending its next request as
soon as the previous answer is complete (like ``ab -k -c N``), for a warm-up and then a measured time. It
answers one JSON line: requests, seconds, req/s, p50/p99/max latency in ms, non-200 count and the statuses.

    python _serving_peer.py load '{"url": "http://127.0.0.1:8080/invocations", "concurrency": 10,
                                   "seconds": 10, "warmup": 2, "body": "1,2,3", "headers": {...}}'
    .bench-venv/bin/python _serving_peer.py save-mlflow '{"joblib": "model.joblib", "out": "mlflow-model"}'
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import percentile

# ------------------------------------------------------------------------------------------- load generator


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, read the whole answer, record, send again until the run ends."""

    def __init__(self, request: bytes, run: _Run) -> None:
        self.request, self.run = request, run
        self.buffer = bytearray()
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send()

    def _send(self) -> None:
        if self.run.stopping():
            assert self.transport is not None
            self.transport.close()
            return
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                total = end + 4 + length
                if len(self.buffer) < total:
                    return
            elif b"transfer-encoding: chunked" in head:
                tail = self.buffer.find(b"0\r\n\r\n", end + 4)
                if tail < 0:
                    return
                total = tail + 5
            else:
                total = end + 4
            status = int(head[9:12])
            del self.buffer[:total]
            self.run.record(status, time.perf_counter() - self.sent)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Run:
    def __init__(self, warmup: float, seconds: float) -> None:
        now = time.perf_counter()
        self.measure_from = now + warmup
        self.until = self.measure_from + seconds
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.first = self.last = 0.0

    def stopping(self) -> bool:
        return time.perf_counter() >= self.until

    def record(self, status: int, latency: float) -> None:
        now = time.perf_counter()
        if now < self.measure_from or now > self.until:
            return
        if not self.latencies:
            self.first = now - latency
        self.last = now
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1


def _request_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return str(parts.hostname), int(parts.port or 80), ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, request = _request_bytes(spec["url"], spec["body"].encode(), spec.get("headers", {}))
    run = _Run(float(spec.get("warmup", 1.0)), float(spec["seconds"]))
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(int(spec.get("concurrency", 10))):
        _, conn = await loop.create_connection(lambda: _Connection(request, run), host, port)
        conns.append(conn)
    await asyncio.wait_for(
        asyncio.gather(*(c.closed for c in conns)), timeout=run.until - time.perf_counter() + 60
    )
    return summarize(run.latencies, run.statuses, run.last - run.first)


def summarize(latencies: list[float], statuses: dict[int, int], seconds: float) -> dict[str, Any]:
    n = len(latencies)
    if not n:
        return {"requests": 0, "seconds": seconds, "rps": 0.0, "statuses": statuses, "errors": 0}
    return {
        "requests": n,
        "seconds": round(seconds, 3),
        "rps": n / seconds if seconds > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "errors": n - statuses.get(200, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def load_main(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        import uvloop

        return uvloop.run(_drive(spec))
    except ImportError:
        return asyncio.run(_drive(spec))


def run_load(spec: dict[str, Any], python: str | None = None) -> dict[str, Any]:
    """Run the load generator in its own process (so it does not share a GIL with anything measured)."""
    proc = subprocess.run(
        [python or sys.executable, str(Path(__file__).resolve()), "load", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=float(spec["seconds"]) + float(spec.get("warmup", 1.0)) + 120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ servers

SECRET = "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    """Poll ``url`` (a /ping) until it answers 200; fail early if the process ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 in {timeout} s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM the server (its whole process group), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def start(command: list[str], env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own process group (mlflow's CLI forks uvicorn; both must stop together)."""
    handle = open(log_file, "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(command, env=env, stdout=handle, stderr=handle, start_new_session=True)


def http_json(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one figure: req/s over all of them, the median round's p50 and p99."""
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)

    def median(key: str) -> float:
        values = sorted(r[key] for r in rounds if key in r)
        return values[len(values) // 2] if values else 0.0

    return {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(r.get("errors", 0) for r in rounds),
        "rounds_rps": [round(r["rps"], 1) for r in rounds],
    }


def interleave(
    specs: dict[str, dict[str, Any]], rounds: int, log: Any, prime_s: float = 0.0
) -> dict[str, dict[str, Any]]:
    """Load each server in turn, ``rounds`` times, in ABBA order: slow drift of a shared machine hits both.

    ``prime_s`` seconds of unmeasured load go to each server first (lazy imports, caches, JIT-free warm-up).
    """
    for name, spec in specs.items() if prime_s > 0 else ():
        primed = run_load({**spec, "seconds": prime_s, "warmup": 0.0})
        log(f"priming {name}: {primed['rps']:,.0f} req/s (not counted)")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in specs}
    for i in range(rounds):
        order = list(specs.items())
        for name, spec in order if i % 2 == 0 else order[::-1]:
            result = run_load(spec)
            log(
                f"round {i + 1}/{rounds} {name}: {result['rps']:,.0f} req/s, p50 {result.get('p50_ms', 0):.2f} ms, "
                f"p99 {result.get('p99_ms', 0):.2f} ms, non-200 {result.get('errors')}"
            )
            results[name].append(result)
    return {name: combine(rs) for name, rs in results.items()}


# ------------------------------------------------------------------------------------------ our servers


def save_model(folder: Path, n_features: int) -> Path:
    """A LogisticRegression on ``n_features`` features saved with joblib (both sides serve this file)."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, n_features))
    y = (x @ rng.normal(size=n_features) > 0).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.joblib"
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), path)
    return path


def csv_row(n_features: int) -> str:
    return ",".join(f"{0.1 * ((i % 7) - 3):.1f}" for i in range(n_features))


def start_runtime(
    workdir: Path, name: str, variants: list[dict[str, Any]], capture: dict[str, Any] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m kibako.serving.runtime`` for a config of ``variants``; (process, base URL) once ready."""
    port = free_port()
    config = {
        "endpoint_name": "bench",
        "config_name": name,
        "variants": variants,
        "shadow_variants": [],
        "capture": capture,
        "secret": SECRET,
    }
    config_file = workdir / f"{name}.json"
    config_file.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k not in ("KIBAKO_RUNTIME_LOADER", "KIBAKO_RUNTIME_SEED")}
    command = [sys.executable, "-m", "kibako.serving.runtime", "--config", str(config_file), "--port"]
    proc = start([*command, str(port)], env, workdir / f"{name}.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url + "/ping", 120)
    return proc, url


def runtime_stats(url: str) -> dict[str, Any]:
    return http_json(url + "/_kibako/stats?drain=1", headers={"X-Kibako-Secret": SECRET})


def start_bare(workdir: Path, model: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The baseline for router overhead: a bare uvicorn app that calls ``handler.invoke`` inline."""
    port = free_port()
    spec = json.dumps({"model": str(model), "port": port})
    proc = start(
        [sys.executable, str(Path(__file__).resolve()), "bare", spec], dict(os.environ), workdir / "bare.log"
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url + "/ping", 120)
    return proc, url


def bare_server(spec: dict[str, Any]) -> None:
    """Serve one model with nothing around it: same uvicorn settings as the runtime, no routing at all."""
    import uvicorn

    from kibako.inference import load_model

    handler = load_model(spec["model"])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, status, out, out_type = b"", 200, b"", "text/plain"
        if scope["path"] != "/ping":
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            content_type = next((v.decode() for k, v in scope["headers"] if k == b"content-type"), "")
            out, out_type = handler.invoke(body, content_type, None)
        headers = [(b"content-type", out_type.encode()), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    options = {"http": "httptools", "loop": "uvloop", "lifespan": "off", "access_log": False}
    uvicorn.run(
        app, host="127.0.0.1", port=int(spec["port"]), log_level="warning", server_header=False, **options
    )


# ------------------------------------------------------------------------------------------------- mlflow


def save_mlflow(spec: dict[str, Any]) -> dict[str, Any]:
    """Save the joblib model as an MLflow sklearn model (runs in the peer environment)."""
    import joblib
    import mlflow.sklearn

    model = joblib.load(spec["joblib"])
    mlflow.sklearn.save_model(model, spec["out"])
    return {"saved": spec["out"], "mlflow": mlflow.__version__}


def main() -> None:
    what, raw = sys.argv[1], sys.argv[2]
    spec = json.loads(raw)
    if what == "load":
        answer = load_main(spec)
    elif what == "save-mlflow":
        answer = save_mlflow(spec)
    elif what == "bare":
        bare_server(spec)
        return
    else:
        raise SystemExit(f"unknown command {what!r}")
    print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
