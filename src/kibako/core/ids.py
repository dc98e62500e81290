"""Identifiers: sortable unique ids and AWS-shaped ARNs."""

from __future__ import annotations

import os
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]


def new_id(prefix: str = "") -> str:
    """A 26-character, time-ordered, lower-case id (48 bits of milliseconds, 80 random bits)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    # Two characters (10 bits) at a time: ids are made on every run start and every event.
    return prefix + "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])


def arn(resource: str, name: str, *, region: str, account: str, service: str = "sagemaker") -> str:
    """An ARN in AWS's shape, e.g. ``arn:aws:sagemaker:us-east-1:000000000000:experiment/churn``."""
    return f"arn:aws:{service}:{region}:{account}:{resource}/{name}"


def parse_arn(value: str) -> tuple[str, str] | None:
    """``(resource, name)`` of an ARN, or None when ``value`` is not one."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or "/" not in parts[5]:
        return None
    resource, name = parts[5].split("/", 1)
    return resource, name


def id_to_uuid(value: str) -> str:
    """The UUID holding the same 128 bits as an id from ``new_id`` (for formats that want UUIDs)."""
    import uuid

    number = 0
    for char in value[-26:]:
        number = number * 32 + _CROCKFORD.index(char)
    return str(uuid.UUID(int=number & ((1 << 128) - 1)))
