"""Artifact keys: relative POSIX paths that stay inside the store."""

from __future__ import annotations

import re

from kibako.errors import ArtifactKeyError

# S3 refuses longer object keys; holding every backend to it keeps a local store portable.
MAX_KEY_BYTES = 1024
# Unfinished local writes live under names like this next to their target; a key may not take one.
RESERVED_PREFIX = ".kibako-tmp-"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_key(key: str) -> str:
    """The canonical form of an artifact key, or ArtifactKeyError saying why it is refused.

    Keys are relative POSIX paths inside the store: ``models/churn/model.tar.gz``. ``./`` segments,
    duplicate and trailing slashes are collapsed; absolute paths, ``..`` segments, backslashes, drive letters,
    URL schemes, control characters (NUL included) and empty keys are refused.

    Example: ``normalize_key("runs//1/./model.pkl") == "runs/1/model.pkl"``.
    """
    if not isinstance(key, str):
        raise ArtifactKeyError(f"artifact key must be a string, got {type(key).__name__} {key!r}", key=key)
    if "\x00" in key:
        raise ArtifactKeyError(f"artifact key {key!r} holds a NUL byte; remove it", key=key)
    if _CONTROL.search(key):
        raise ArtifactKeyError(
            f"artifact key {key!r} holds a control character (such as a newline or tab); remove it", key=key
        )
    if _SCHEME.match(key):
        raise ArtifactKeyError(
            f"artifact key {key!r} is a URL; keys are paths relative to the store root "
            "(set the root with KIBAKO_ARTIFACT_URI and pass only the part after it)",
            key=key,
        )
    if "\\" in key:
        raise ArtifactKeyError(
            f"artifact key {key!r} holds a backslash; separate folders with '/', e.g. "
            f"{key.replace(chr(92), '/')!r}",
            key=key,
        )
    if _DRIVE.match(key):
        raise ArtifactKeyError(
            f"artifact key {key!r} starts with a drive letter; keys are paths relative to the store root",
            key=key,
        )
    if key.startswith("/"):
        raise ArtifactKeyError(
            f"artifact key {key!r} is an absolute path; keys are relative to the store root, "
            f"e.g. {key.lstrip('/')!r}",
            key=key,
        )
    parts = [part for part in key.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArtifactKeyError(
            f"artifact key {key!r} has a '..' segment, which could leave the store; name the path directly",
            key=key,
        )
    if not parts:
        raise ArtifactKeyError(
            f"artifact key {key!r} is empty; name a file or folder such as 'models/model.tar.gz'", key=key
        )
    for part in parts:
        if part.startswith(RESERVED_PREFIX):
            raise ArtifactKeyError(
                f"artifact key {key!r} has a segment starting with {RESERVED_PREFIX!r}, which is reserved "
                "for unfinished writes; choose another name",
                key=key,
            )
    normalized = "/".join(parts)
    try:
        encoded = normalized.encode("utf-8")
    except UnicodeEncodeError:
        raise ArtifactKeyError(
            f"artifact key {key!r} is not valid UTF-8 (a file name with undecodable bytes?); rename it",
            key=key,
        ) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise ArtifactKeyError(
            f"artifact key {normalized[:60]!r}... is {len(encoded)} bytes long; the limit is {MAX_KEY_BYTES}",
            key=key,
        )
    return normalized
