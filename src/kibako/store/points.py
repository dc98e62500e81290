"""Packed metric points: one chunk of (step, timestamp, value) triples as a single compressed blob.

Layout (version 1): ``b"KP1"``, then zlib(level 1) of: count (uint32), first step (int64), first timestamp
(int64), n-1 step deltas (int64), n-1 timestamp deltas (int64), n values (float64), all little-endian.
Deltas of regular steps and times compress to almost nothing, so a point costs a few bytes, and NaN and
infinity are kept exactly as float64 keeps them.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_MAGIC = b"KP1"
_HEAD = struct.Struct("<Iqq")


def pack(steps: np.ndarray, timestamps: np.ndarray, values: np.ndarray) -> bytes:
    n = len(steps)
    if n == 0:
        raise ValueError("a chunk holds at least one point")
    s = steps.astype("<i8", copy=False)
    t = timestamps.astype("<i8", copy=False)
    body = (
        _HEAD.pack(n, int(s[0]), int(t[0]))
        + np.diff(s).astype("<i8").tobytes()
        + np.diff(t).astype("<i8").tobytes()
        + values.astype("<f8", copy=False).tobytes()
    )
    return _MAGIC + zlib.compress(body, 1)


def unpack(payload: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if payload[:3] != _MAGIC:
        raise ValueError("not a packed metric chunk")
    body = zlib.decompress(payload[3:])
    n, first_step, first_ts = _HEAD.unpack_from(body)
    off = _HEAD.size
    width = 8 * (n - 1)
    ds = np.frombuffer(body, "<i8", n - 1, off)
    dt = np.frombuffer(body, "<i8", n - 1, off + width)
    values = np.frombuffer(body, "<f8", n, off + 2 * width).copy()
    steps = np.empty(n, "<i8")
    steps[0] = first_step
    np.cumsum(ds, out=steps[1:])
    steps[1:] += first_step
    ts = np.empty(n, "<i8")
    ts[0] = first_ts
    np.cumsum(dt, out=ts[1:])
    ts[1:] += first_ts
    return steps, ts, values
