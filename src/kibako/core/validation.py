"""Limits on what users may log, shared by every face (MLflow's limits, so MLflow users meet no surprise)."""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 5000
MAX_NAME_LENGTH = 500
_KEY = re.compile(r"^[/\w.\- :]+$")


def check_key(kind: str, key: object) -> str | None:
    """Why ``key`` is not a valid metric, param or tag name, or None when it is."""
    if not isinstance(key, str) or not key:
        return f"{kind} name must be a non-empty string, got {key!r}"
    if len(key) > MAX_KEY_LENGTH:
        return f"{kind} name {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
    if not _KEY.match(key) or ".." in key.split("/") or key.startswith("/"):
        return (
            f"{kind} name {key!r} may hold only letters, digits, '_', '-', '.', ' ', ':' and '/' "
            "(and no '..' segment or leading '/')"
        )
    return None


def check_value(kind: str, key: str, value: str, limit: int) -> str | None:
    """Why ``value`` is too long for ``kind``, or None."""
    if len(value) > limit:
        return f"{kind} {key!r} has a value of {len(value)} characters; the limit is {limit}"
    return None
