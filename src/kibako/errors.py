"""The one error tree of kibako.

Every error carries a one-line ``headline`` (what went wrong, for a CLI or a page) and a ``message``
(the details and what to do). The CLI prints both and exits 1; the HTTP API maps each class to a status.

    KibakoError
    ├── ValidationError          bad input: nothing was changed
    │   ├── FilterSyntaxError    a search filter that does not parse (has ``position``)
    │   ├── ArtifactKeyError     an artifact key that escapes the store
    │   ├── ModelLoadError       a model file that cannot be loaded or does not predict
    │   ├── PayloadError         an inference request body that does not decode (HTTP 400)
    │   └── UnsupportedMediaTypeError  a content type or Accept a model cannot handle (HTTP 415)
    ├── NotFoundError            the named thing does not exist
    ├── ConflictError            the thing exists already, or is in a state that forbids the call
    │   └── RunFinishedError     logging to a run that has ended
    ├── AuthError                no token, or an unknown one (HTTP 401)
    │   └── PermissionDeniedError  the token's role may not do this (HTTP 403)
    ├── StoreError               the metadata store failed (after retries)
    └── RemoteError              a server answered with something we cannot read
        └── ServerUnreachableError  no server answered at all
"""

from __future__ import annotations

from typing import Any


class KibakoError(Exception):
    """Base of every error kibako raises on purpose."""

    headline = "kibako error"
    http_status = 500

    def __init__(self, message: str = "", **fields: Any) -> None:
        super().__init__(message or self.headline)
        self.message = message or self.headline
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "message": self.message, "fields": self.fields}


class ValidationError(KibakoError):
    headline = "invalid input"
    http_status = 400


class FilterSyntaxError(ValidationError):
    headline = "the filter does not parse"

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        pointer = f"\n  {text}\n  {' ' * position}^" if text else ""
        super().__init__(f"{message} at position {position}{pointer}", text=text, position=position)
        self.position = position
        self.text = text


class ArtifactKeyError(ValidationError):
    headline = "artifact key escapes the store"


class ModelLoadError(ValidationError):
    headline = "the model cannot be loaded"


class PayloadError(ValidationError):
    headline = "the request body does not decode"


class UnsupportedMediaTypeError(ValidationError):
    headline = "unsupported content type"
    http_status = 415


class NotFoundError(KibakoError):
    headline = "not found"
    http_status = 404


class ConflictError(KibakoError):
    headline = "conflict"
    http_status = 409


class RunFinishedError(ConflictError):
    headline = "the run has ended"


class AuthError(KibakoError):
    headline = "not authenticated"
    http_status = 401


class PermissionDeniedError(AuthError):
    headline = "permission denied"
    http_status = 403


class StoreError(KibakoError):
    headline = "the metadata store failed"
    http_status = 503


class RemoteError(KibakoError):
    headline = "the server answered with an error"
    http_status = 502


class ServerUnreachableError(RemoteError):
    headline = "cannot reach the server"
    http_status = 503


def error_class(name: str) -> type[KibakoError]:
    """The error class called ``name``, or ``RemoteError`` when there is none (used by the remote client)."""
    found = globals().get(name)
    if isinstance(found, type) and issubclass(found, KibakoError):
        return found
    return RemoteError
