"""Reading repeatable KEY=VALUE options, shared by the commands that take them."""

from __future__ import annotations

import json
from typing import Any

from kibako.errors import ValidationError


def pairs(values: list[str] | None, what: str, example: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` as ``{"a": "1", "b": "x"}``; an item without ``=`` is an error naming ``what``."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"{what} is KEY=VALUE, e.g. {example}; got {item!r}")
        out[key] = value
    return out


def hyperparameters(values: list[str] | None) -> dict[str, Any]:
    """``--hp`` items: ``lr=0.1`` gives the number 0.1, ``opt=adam`` the string (JSON when it reads as JSON)."""
    out: dict[str, Any] = {}
    for key, raw in pairs(values, "--hp", "epochs=5").items():
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out
