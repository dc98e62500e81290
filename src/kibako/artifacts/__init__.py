"""The artifact store: files and folders under keys, in a local folder or any fsspec object store.

Importing this package stays light: fsspec is imported when a store on an fsspec URL is opened, s3fs by
fsspec when an ``s3://`` store is, and Rich only when a progress bar is drawn.
"""

from kibako.artifacts.digest import bytes_digest, dir_digest, file_digest, path_digest
from kibako.artifacts.keys import normalize_key
from kibako.artifacts.models import ArtifactEntry, StoredArtifact
from kibako.artifacts.store import ArtifactStore

__all__ = [
    "ArtifactEntry",
    "ArtifactStore",
    "StoredArtifact",
    "bytes_digest",
    "dir_digest",
    "file_digest",
    "normalize_key",
    "path_digest",
]
