"""The SDK over HTTP. Each remote service is built from the service class's ``@query``/``@command``/``@admin``
methods and their signatures, so a method added to a service is reachable remotely with no code here."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kibako.core.config import Config
from kibako.core.wire import decode, encode, exposed_methods
from kibako.errors import AuthError, KibakoError, RemoteError, ServerUnreachableError, error_class

API = "/api/v1"


class HttpClient:
    """One keep-alive HTTP connection pool to a kibako server, with the bearer token on every request."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 60.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def call(self, service: str, method: str, arguments: dict[str, Any]) -> Any:
        body = json.dumps(encode(arguments))
        response = self.send(
            "POST",
            f"{API}/rpc/{service}/{method}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        return decode(self.read(response))

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; a server that cannot be reached is a RemoteError that says what to check."""
        import httpx

        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"could not reach the kibako server at {self.base_url} ({exc}); is 'kibako server' running "
                "there, and is KIBAKO_URI right?"
            ) from None

    def read(self, response: Any) -> Any:
        """The JSON body of a good answer; the server's own error class for a bad one."""
        try:
            payload = json.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if response.status_code < 400:
            return payload
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            raise RemoteError(f"{self.base_url} answered HTTP {response.status_code}: {response.text[:200]}")
        cls = error_class(str(error.get("type")))
        if cls is AuthError and response.status_code == 401:
            raise AuthError(
                error.get("message", "") + " (set KIBAKO_TOKEN to a token from 'kibako tokens create')"
            )
        exc = cls.__new__(cls)
        KibakoError.__init__(exc, error.get("message", ""), **(error.get("fields") or {}))
        raise exc

    def close(self) -> None:
        self.http.close()


class RemoteService:
    """Stands in for a service class: same method names and signatures, calls go to the server."""

    def __init__(self, service_class: type, name: str, http: HttpClient) -> None:
        self._name = name
        for method, (_role, signature) in exposed_methods(service_class).items():
            setattr(self, method, _remote_method(http, name, method, signature))

    def __repr__(self) -> str:
        return f"RemoteService({self._name!r})"


def _remote_method(
    http: HttpClient, service: str, method: str, signature: inspect.Signature
) -> Callable[..., Any]:
    params = list(signature.parameters.values())[1:]  # drop self
    bound_signature = signature.replace(parameters=params)

    def call(*args: Any, **kwargs: Any) -> Any:
        bound = bound_signature.bind(*args, **kwargs)
        return http.call(service, method, dict(bound.arguments))

    call.__name__ = method
    call.__signature__ = bound_signature  # type: ignore[attr-defined]
    return call


class RemoteArtifacts:
    """The artifact store reached through the server (for clients that cannot reach the store itself)."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def put_path(self, local_path: Path, key: str) -> Any:
        """Upload a file or every file of a folder; the digest is computed here, from the bytes sent."""
        from kibako.artifacts.digest import path_digest
        from kibako.artifacts.models import StoredArtifact

        local_path = Path(local_path)
        files = (
            [local_path] if local_path.is_file() else sorted(p for p in local_path.rglob("*") if p.is_file())
        )
        for path in files:
            sub = key if path == local_path else f"{key}/{path.relative_to(local_path).as_posix()}"
            with open(path, "rb") as handle:
                self.http.read(self.http.send("PUT", f"{API}/artifacts/files/{quote(sub)}", content=handle))
        where = self.http.read(self.http.send("GET", f"{API}/artifacts/uri/{quote(key)}"))
        size = sum(p.stat().st_size for p in files)
        return StoredArtifact(key, where["uri"], size, path_digest(local_path), local_path.is_dir())

    def get_bytes(self, key: str) -> bytes:
        response = self.http.send("GET", f"{API}/artifacts/files/{quote(key)}")
        if response.status_code >= 400:
            self.http.read(response)
        return response.content

    def list(self, prefix: str = "", recursive: bool = False) -> list[Any]:
        response = self.http.send(
            "GET", f"{API}/artifacts/list", params={"prefix": prefix, "recursive": recursive}
        )
        return decode(self.http.read(response))


def connect_remote(config: Config) -> Any:
    from kibako.sdk.client import Kibako
    from kibako.sdk.services import SERVICE_CLASSES

    assert config.uri
    http = HttpClient(config.uri, config.token)
    remote = {name: RemoteService(cls, name, http) for name, cls in SERVICE_CLASSES.items()}
    return Kibako(
        config,
        tracking=remote["tracking"],
        lineage=remote["lineage"],
        events=remote["events"],
        tokens=remote["tokens"],
        artifacts=RemoteArtifacts(http),
        jobs=remote["jobs"],
        tuning=remote["tuning"],
        registry=remote["registry"],
        serving=remote["serving"],
        http=http,
        closer=http.close,
    )
