"""What only a local-folder store does: atomic renames, staging names, permissions, configuration."""

from __future__ import annotations

import builtins
import gc
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from kibako.artifacts import ArtifactStore
from kibako.artifacts import _local as local_module
from kibako.core.config import Config
from kibako.errors import ConflictError, ValidationError

MakeTree = Callable[[Path, dict[str, bytes]], Path]


class _FailingReader(io.RawIOBase):
    """A source that hands out ``good`` bytes and then fails, like a disk or network going away."""

    def __init__(self, good: bytes) -> None:
        super().__init__()
        self._good = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._good:
            chunk, self._good = self._good, b""
            return chunk
        raise OSError("source went away halfway")


def _fail_when_reading(monkeypatch: pytest.MonkeyPatch, module: Any, failing: Path) -> None:
    """Make ``module``'s ``open`` of ``failing`` return a source that breaks after its first block."""
    real_open = builtins.open

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if Path(file) == failing and "r" in mode:
            return _FailingReader(b"first block only")  # type: ignore[return-value]
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(module, "open", fake_open, raising=False)


def _names_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


def test_root_folder_is_created_by_the_first_write_not_before(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    store = ArtifactStore(str(root))
    assert not root.exists()
    assert store.list() == []
    assert not store.exists("a")
    store.put_bytes(b"1", "a")
    assert (root / "a").read_bytes() == b"1"


@pytest.mark.parametrize("prefix", ["file://", "local://", ""], ids=["file-url", "local-url", "plain-path"])
def test_local_roots_are_plain_folders(tmp_path: Path, prefix: str) -> None:
    store = ArtifactStore(f"{prefix}{tmp_path}/s")
    assert store.is_local
    assert store.put_bytes(b"1", "k").uri == str(tmp_path / "s" / "k")


def test_relative_and_home_roots_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ArtifactStore("rel").root_uri == str(tmp_path / "rel")
    assert ArtifactStore("~/arts").root_uri == str(tmp_path / "home" / "arts")


def test_storage_options_with_a_local_root_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="storage_options apply to fsspec URLs"):
        ArtifactStore(str(tmp_path), storage_options={"anon": True})


def test_from_config_uses_the_configured_artifact_uri(tmp_path: Path) -> None:
    config = Config.from_env({"KIBAKO_HOME": str(tmp_path / "home")})
    store = ArtifactStore.from_config(config)
    assert store.root_uri == str(tmp_path / "home" / "artifacts")
    override = Config.from_env({"KIBAKO_ARTIFACT_URI": str(tmp_path / "elsewhere")})
    assert ArtifactStore.from_config(override).root_uri == str(tmp_path / "elsewhere")


def test_repr_can_be_pasted_back(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    assert eval(repr(store), {"ArtifactStore": ArtifactStore}).root_uri == store.root_uri


def test_put_file_failing_midway_leaves_nothing_under_the_key(
    local_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 1000)
    _fail_when_reading(monkeypatch, local_module, src)
    with pytest.raises(OSError, match="halfway"):
        local_store.put_file(src, "models/big.bin")
    assert not local_store.exists("models/big.bin")
    assert _names_under(tmp_path / "store") <= {"models"}


def test_put_file_failing_midway_keeps_the_previous_version(
    local_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.put_bytes(b"version 1", "k")
    src = tmp_path / "v2.bin"
    src.write_bytes(b"version 2, much longer")
    _fail_when_reading(monkeypatch, local_module, src)
    with pytest.raises(OSError, match="halfway"):
        local_store.put_file(src, "k")
    assert local_store.get_bytes("k") == b"version 1"
    assert _names_under(tmp_path / "store") == {"k"}


def test_put_dir_failing_midway_keeps_the_previous_folder(
    local_store: ArtifactStore, make_tree: MakeTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.put_dir(make_tree(tmp_path / "v1", {"a.txt": b"1", "b.txt": b"1"}), "out")
    v2 = make_tree(tmp_path / "v2", {"a.txt": b"2", "b.txt": b"2", "c.txt": b"2"})
    _fail_when_reading(monkeypatch, local_module, v2 / "b.txt")
    with pytest.raises(OSError, match="halfway"):
        local_store.put_dir(v2, "out")
    assert local_store.get_bytes("out/a.txt") == b"1"
    assert _names_under(tmp_path / "store") == {"out", "out/a.txt", "out/b.txt"}


def test_get_file_failing_midway_leaves_no_local_file(
    local_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.put_bytes(b"y" * 1000, "k")
    monkeypatch.setattr(local_store._backend, "open_read", lambda key: _FailingReader(b"some"))
    dest = tmp_path / "dl" / "k"
    with pytest.raises(OSError, match="halfway"):
        local_store.get_file("k", dest)
    assert _names_under(tmp_path / "dl") == set()


def test_abandoned_writer_is_discarded_when_garbage_collected(
    local_store: ArtifactStore, tmp_path: Path
) -> None:
    writer = local_store.open("k", "wb")
    writer.write(b"never closed")
    del writer
    gc.collect()
    assert not local_store.exists("k")
    assert _names_under(tmp_path / "store") == set()


def test_unfinished_writes_are_hidden_from_listings(local_store: ArtifactStore, tmp_path: Path) -> None:
    local_store.put_bytes(b"1", "a/real")
    (tmp_path / "store" / "a" / ".kibako-tmp-0123abcd").write_bytes(b"crashed halfway")
    (tmp_path / "store" / ".kibako-tmp-feed").mkdir()
    (tmp_path / "store" / ".kibako-tmp-feed" / "f").write_bytes(b"crashed halfway")
    assert [e.key for e in local_store.list(recursive=True)] == ["a/real"]
    assert [e.key for e in local_store.list("a")] == ["a/real"]
    assert [e.key for e in local_store.list()] == ["a"]


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda s, tmp: s.put_bytes(b"1", "k"), id="put_bytes"),
        pytest.param(lambda s, tmp: s.put_file(tmp / "src.txt", "k"), id="put_file"),
        pytest.param(lambda s, tmp: s.put_dir(tmp / "srcdir", "k"), id="put_dir"),
    ],
)
def test_stored_files_get_ordinary_permissions(
    local_store: ArtifactStore, tmp_path: Path, write: Callable[[ArtifactStore, Path], object]
) -> None:
    (tmp_path / "src.txt").write_bytes(b"1")
    (tmp_path / "srcdir").mkdir()
    (tmp_path / "srcdir" / "f").write_bytes(b"1")
    umask = os.umask(0o022)
    os.umask(umask)
    write(local_store, tmp_path)
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert stored
    assert {p.stat().st_mode & 0o777 for p in stored} == {0o666 & ~umask}


def test_delete_removes_folders_left_empty(local_store: ArtifactStore, tmp_path: Path) -> None:
    local_store.put_bytes(b"1", "a/b/c/file")
    local_store.put_bytes(b"1", "a/other")
    local_store.delete("a/b/c/file")
    assert _names_under(tmp_path / "store") == {"a", "a/other"}
    assert local_store.list("a") == local_store.list("a", recursive=True)


def test_a_file_where_a_folder_of_the_key_must_go_is_a_conflict(local_store: ArtifactStore) -> None:
    local_store.put_bytes(b"1", "a")
    with pytest.raises(ConflictError, match="a file stands where one of its folders must go"):
        local_store.put_bytes(b"2", "a/b")
    assert local_store.get_bytes("a") == b"1"


def test_get_file_into_a_folder_path_is_refused(local_store: ArtifactStore, tmp_path: Path) -> None:
    local_store.put_bytes(b"1", "k")
    with pytest.raises(ValidationError, match="pass the path of the file"):
        local_store.get_file("k", tmp_path)
