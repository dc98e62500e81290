"""``model.tar.gz``: a folder packed the way SageMaker packs ``/opt/ml/model``, and unpacked safely.

Packing is deterministic (sorted names, zeroed times and owners), so the same model folder always gives the
same bytes and the same digest. Unpacking refuses members that would land outside the target folder.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from kibako.errors import ValidationError


def pack_dir(folder: Path, archive: Path) -> Path:
    """Write every file under ``folder`` to the gzip'd tar ``archive`` (members relative to ``folder``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder; pack the folder the model was saved to")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with open(archive, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(folder.rglob("*")):
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if path.is_file() and not path.is_symlink():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                elif path.is_dir():
                    tar.addfile(info)
    return archive


def unpack(archive: Path | bytes, target: Path) -> Path:
    """Extract a ``model.tar.gz`` into ``target``; links and paths that leave ``target`` are refused."""
    target.mkdir(parents=True, exist_ok=True)
    source = io.BytesIO(archive) if isinstance(archive, bytes) else open(archive, "rb")
    with source, tarfile.open(fileobj=source, mode="r:*") as tar:
        try:
            tar.extractall(target, filter="data")
        except tarfile.FilterError as exc:
            raise ValidationError(f"the archive holds an unsafe member and was not unpacked: {exc}") from None
    return target
