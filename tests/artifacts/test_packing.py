"""model.tar.gz packing: deterministic bytes, a faithful round trip, and no escape on unpacking."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import kibako
from kibako.artifacts.digest import file_digest
from kibako.artifacts.packing import pack_dir, unpack


def _model(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "sub" / "config.json").write_text('{"layers": 3}')
    return folder


def test_packing_is_deterministic(tmp_path: Path) -> None:
    first = pack_dir(_model(tmp_path / "m1"), tmp_path / "a.tar.gz")
    second = pack_dir(_model(tmp_path / "m2"), tmp_path / "b.tar.gz")
    assert file_digest(first) == file_digest(second)


def test_pack_and_unpack_round_trip(tmp_path: Path) -> None:
    archive = pack_dir(_model(tmp_path / "m"), tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["sub", "sub/config.json", "weights.bin"], "relative, like SageMaker"
    out = unpack(archive, tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    assert (out / "sub" / "config.json").read_text() == '{"layers": 3}'
    assert unpack(archive.read_bytes(), tmp_path / "out2").joinpath("weights.bin").exists()


def test_unpacking_refuses_members_that_escape(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(kibako.ValidationError, match="unsafe member"):
        unpack(buffer.getvalue(), tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_packing_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(kibako.ValidationError, match="not a folder"):
        pack_dir(tmp_path / "nope", tmp_path / "x.tar.gz")
    assert not (tmp_path / "x.tar.gz").exists()
