"""Wire form of service calls: the JSON the HTTP API and the remote client exchange.

Service methods marked ``@query`` (viewers may call), ``@command`` (editors) or ``@admin`` are exposed over
HTTP under their own name; the remote client is built from the same marks, so the two faces cannot drift.
Values cross the wire as JSON, with three tagged forms: registered dataclasses (``{"__type__": name, ...}``),
datetimes (``{"__dt__": iso}``) and tuples (lists). NaN and infinity travel as JSON's common extensions.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

Role = Literal["viewer", "editor", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "editor": 1, "admin": 2}

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_TYPES: dict[str, type] = {}


def _mark(role: Role) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        fn.__kibako_role__ = role  # type: ignore[attr-defined]
        return fn

    return decorate


query = _mark("viewer")
"""Marks a read-only service method: exposed over HTTP to every role."""
command = _mark("editor")
"""Marks a service method that changes state: exposed over HTTP to editors and admins."""
admin = _mark("admin")
"""Marks a service method only admins may call over HTTP."""


def exposed_methods(cls: type) -> dict[str, tuple[Role, inspect.Signature]]:
    """The methods of a service class that are marked for the wire, with their role and signature."""
    found: dict[str, tuple[Role, inspect.Signature]] = {}
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        role = getattr(fn, "__kibako_role__", None)
        if role and not name.startswith("_"):
            found[name] = (role, inspect.signature(fn))
    return found


def wire_type(cls: type[T]) -> type[T]:
    """Registers a dataclass so that it crosses the wire as itself."""
    _TYPES[cls.__name__] = cls
    return cls


def encode(value: Any) -> Any:
    """Python value to JSON-able value."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        body = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        body["__type__"] = type(value).__name__
        return body
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    raise TypeError(f"cannot send a {type(value).__name__} over the wire")


def decode(value: Any) -> Any:
    """JSON-able value back to the Python value ``encode`` was given."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__dt__" in value and len(value) == 1:
        return datetime.fromisoformat(value["__dt__"])
    if "__type__" in value:
        name = value["__type__"]
        cls = _TYPES.get(name)
        if cls is None:
            raise TypeError(f"unknown wire type {name!r}")
        return cls(**{k: decode(v) for k, v in value.items() if k != "__type__"})
    return {k: decode(v) for k, v in value.items()}
