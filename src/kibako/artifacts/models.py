"""What the artifact store hands back: records of stored artifacts and listing entries."""

from __future__ import annotations

from dataclasses import dataclass

from kibako.core.wire import wire_type


@wire_type
@dataclass(frozen=True)
class StoredArtifact:
    """A file or folder just written to the store.

    ``size`` is in bytes (the total of every file for a folder); ``digest`` is ``sha256:<hex>`` as
    :mod:`kibako.artifacts.digest` computes it.
    """

    key: str
    uri: str
    size: int
    digest: str
    is_dir: bool = False


@wire_type
@dataclass(frozen=True, order=True)
class ArtifactEntry:
    """One entry of a listing: a key relative to the store root, its size in bytes (0 for a folder)."""

    key: str
    size: int
    is_dir: bool = False
