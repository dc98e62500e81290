"""Checking the arguments of a call that came over the wire against the method's own type hints, so a wrong
type is a 400 that names the argument, never a 500 from deep inside a service."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from kibako.errors import ValidationError


@functools.cache
def _adapters(cls: type, method: str) -> tuple[inspect.Signature, dict[str, Any]]:
    from pydantic import TypeAdapter

    fn = getattr(cls, method)
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = list(signature.parameters.values())[1:]  # drop self
    adapters = {p.name: TypeAdapter(hints[p.name]) for p in params if p.name in hints}
    return signature.replace(parameters=params), adapters


def checked_call(cls: type, method: str, bound_method: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
    """A function that checks ``arguments`` (by name) and then calls ``bound_method`` with them."""
    from pydantic import ValidationError as PydanticValidationError

    signature, adapters = _adapters(cls, method)

    def call(arguments: dict[str, Any]) -> Any:
        try:
            bound = signature.bind(**arguments)
        except TypeError as exc:
            raise ValidationError(f"{method}: {exc}") from None
        checked: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            adapter = adapters.get(name)
            if adapter is None:
                checked[name] = value
                continue
            try:
                checked[name] = adapter.validate_python(value)
            except PydanticValidationError as exc:
                reason = exc.errors()[0]["msg"].lower()
                raise ValidationError(f"{method}: argument {name!r}: {reason}") from None
        return bound_method(**checked)

    return call
