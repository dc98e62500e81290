"""The store contract, run against every backend: local folder, fsspec memory, and S3 through moto (slow)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kibako.artifacts import (
    ArtifactEntry,
    ArtifactStore,
    StoredArtifact,
    bytes_digest,
    dir_digest,
    file_digest,
)
from kibako.errors import ArtifactKeyError, ConflictError, NotFoundError, ValidationError

MakeTree = Callable[[Path, dict[str, bytes]], Path]
ReadTree = Callable[[Path], dict[str, bytes]]


def test_file_round_trip_keeps_bytes_and_reports_size_and_digest(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "model.bin"
    src.write_bytes(data)
    stored = store.put_file(src, "models/churn/model.bin")
    assert stored == StoredArtifact(
        key="models/churn/model.bin",
        uri=store.uri("models/churn/model.bin"),
        size=len(data),
        digest=file_digest(src),
        is_dir=False,
    )
    out = store.get_file("models/churn/model.bin", tmp_path / "out" / "model.bin")
    assert out.read_bytes() == data


def test_dir_round_trip_keeps_every_file_and_the_digest(
    store: ArtifactStore, source_tree: Path, read_tree: ReadTree, tmp_path: Path
) -> None:
    stored = store.put_dir(source_tree, "runs/1/output")
    assert stored.is_dir
    assert stored.digest == dir_digest(source_tree)
    assert stored.size == sum(len(v) for v in read_tree(source_tree).values())
    out = store.get_dir("runs/1/output", tmp_path / "copy")
    assert read_tree(out) == read_tree(source_tree)
    assert dir_digest(out) == stored.digest


def test_bytes_round_trip(store: ArtifactStore) -> None:
    stored = store.put_bytes(b"\x00binary\xff", "blobs/a.bin")
    assert (stored.size, stored.digest) == (8, bytes_digest(b"\x00binary\xff"))
    assert store.get_bytes("blobs/a.bin") == b"\x00binary\xff"


def test_empty_file_round_trip(store: ArtifactStore) -> None:
    store.put_bytes(b"", "empty")
    assert store.get_bytes("empty") == b""
    assert store.list() == [ArtifactEntry(key="empty", size=0)]


def test_key_is_normalized_before_use(store: ArtifactStore) -> None:
    stored = store.put_bytes(b"x", "./a//b/")
    assert stored.key == "a/b"
    assert store.get_bytes("a/b") == b"x"


def test_put_path_stores_a_file_or_a_folder(store: ArtifactStore, source_tree: Path) -> None:
    as_dir = store.put_path(source_tree, "tree")
    as_file = store.put_path(source_tree / "model.pkl", "file")
    assert (as_dir.is_dir, as_file.is_dir) == (True, False)
    assert store.get_bytes("tree/config/params.json") == b'{"lr": 0.1}'
    assert store.get_bytes("file") == (source_tree / "model.pkl").read_bytes()


def test_putting_a_file_again_replaces_it(store: ArtifactStore) -> None:
    store.put_bytes(b"first version, longer", "k")
    store.put_bytes(b"second", "k")
    assert store.get_bytes("k") == b"second"


def test_putting_a_folder_again_removes_files_it_no_longer_has(
    store: ArtifactStore, make_tree: MakeTree, read_tree: ReadTree, tmp_path: Path
) -> None:
    store.put_dir(make_tree(tmp_path / "v1", {"keep.txt": b"1", "old/gone.txt": b"x"}), "out")
    store.put_dir(make_tree(tmp_path / "v2", {"keep.txt": b"2", "new.txt": b"n"}), "out")
    assert [e.key for e in store.list("out", recursive=True)] == ["out/keep.txt", "out/new.txt"]
    assert read_tree(store.get_dir("out", tmp_path / "copy")) == {"keep.txt": b"2", "new.txt": b"n"}


def test_list_shows_direct_children_sorted_with_folders(store: ArtifactStore) -> None:
    for key in ["b.txt", "a/x.txt", "a/y/z.txt", "c/d.txt", "aa.txt"]:
        store.put_bytes(key.encode(), key)
    assert store.list() == [
        ArtifactEntry(key="a", size=0, is_dir=True),
        ArtifactEntry(key="aa.txt", size=6),
        ArtifactEntry(key="b.txt", size=5),
        ArtifactEntry(key="c", size=0, is_dir=True),
    ]
    assert store.list("a") == [
        ArtifactEntry(key="a/x.txt", size=7),
        ArtifactEntry(key="a/y", size=0, is_dir=True),
    ]
    assert store.list("a/") == store.list("a")


def test_list_recursive_shows_every_file_below(store: ArtifactStore) -> None:
    for key in ["b.txt", "a/x.txt", "a/y/z.txt"]:
        store.put_bytes(b"1", key)
    assert [e.key for e in store.list(recursive=True)] == ["a/x.txt", "a/y/z.txt", "b.txt"]
    assert store.list("a", recursive=True) == [
        ArtifactEntry(key="a/x.txt", size=1),
        ArtifactEntry(key="a/y/z.txt", size=1),
    ]


@pytest.mark.parametrize("recursive", [False, True], ids=["flat", "recursive"])
def test_list_of_a_missing_prefix_is_empty(store: ArtifactStore, recursive: bool) -> None:
    assert store.list("nothing/here", recursive=recursive) == []
    assert store.list(recursive=recursive) == []


def test_list_of_a_file_key_lists_that_file(store: ArtifactStore) -> None:
    store.put_bytes(b"abc", "dir/file.txt")
    assert store.list("dir/file.txt") == [ArtifactEntry(key="dir/file.txt", size=3)]


def test_list_does_not_match_keys_that_merely_share_a_prefix(store: ArtifactStore) -> None:
    store.put_bytes(b"1", "run/a")
    store.put_bytes(b"1", "run-2/b")
    assert [e.key for e in store.list("run", recursive=True)] == ["run/a"]


def test_exists_for_file_folder_and_missing_key(store: ArtifactStore) -> None:
    store.put_bytes(b"1", "dir/file")
    assert store.exists("dir/file")
    assert store.exists("dir")
    assert not store.exists("dir/other")
    assert not store.exists("di")


MISSING_KEY_CALLS = [
    pytest.param(lambda s, tmp: s.get_file("no/such", tmp / "f"), id="get_file"),
    pytest.param(lambda s, tmp: s.get_dir("no/such", tmp / "d"), id="get_dir"),
    pytest.param(lambda s, tmp: s.get_bytes("no/such"), id="get_bytes"),
    pytest.param(lambda s, tmp: s.open("no/such"), id="open-rb"),
    pytest.param(lambda s, tmp: s.delete("no/such"), id="delete"),
]


@pytest.mark.parametrize("call", MISSING_KEY_CALLS)
def test_missing_key_raises_not_found_naming_the_key(
    store: ArtifactStore, tmp_path: Path, call: Callable[[ArtifactStore, Path], object]
) -> None:
    store.put_bytes(b"1", "no/other")
    with pytest.raises(NotFoundError, match="'no/such'") as caught:
        call(store, tmp_path)
    assert caught.value.fields["key"] == "no/such"
    assert not (tmp_path / "f").exists()


def test_delete_removes_a_file(store: ArtifactStore) -> None:
    store.put_bytes(b"1", "a/one")
    store.put_bytes(b"2", "a/two")
    store.delete("a/one")
    assert not store.exists("a/one")
    assert [e.key for e in store.list(recursive=True)] == ["a/two"]


def test_delete_removes_a_folder_and_everything_in_it(store: ArtifactStore, source_tree: Path) -> None:
    store.put_dir(source_tree, "tree")
    store.put_bytes(b"stay", "tree-sibling")
    store.delete("tree")
    assert not store.exists("tree")
    assert store.list(recursive=True) == [ArtifactEntry(key="tree-sibling", size=4)]


def test_open_writes_then_reads(store: ArtifactStore) -> None:
    with store.open("streams/log.txt", "wb") as f:
        f.write(b"line 1\n")
        f.write(b"line 2\n")
    with store.open("streams/log.txt") as f:
        assert f.read() == b"line 1\nline 2\n"


def test_write_abandoned_by_an_exception_leaves_no_key(store: ArtifactStore) -> None:
    with pytest.raises(RuntimeError, match="source failed"), store.open("partial.bin", "wb") as f:
        f.write(b"first half")
        raise RuntimeError("source failed")
    assert not store.exists("partial.bin")
    assert store.list(recursive=True) == []


def test_write_abandoned_by_an_exception_keeps_the_old_content(store: ArtifactStore) -> None:
    store.put_bytes(b"old and complete", "k")
    with pytest.raises(RuntimeError), store.open("k", "wb") as f:
        f.write(b"new but")
        raise RuntimeError("interrupted")
    assert store.get_bytes("k") == b"old and complete"


def test_open_refuses_other_modes(store: ArtifactStore) -> None:
    with pytest.raises(ValidationError, match="'rb' or 'wb'"):
        store.open("k", "a")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s, tmp: s.put_bytes(b"x", "folder"), id="put_bytes-over-folder"),
        pytest.param(lambda s, tmp: s.open("folder", "wb"), id="open-wb-over-folder"),
        pytest.param(lambda s, tmp: s.put_dir(tmp, "folder/file"), id="put_dir-over-file"),
    ],
)
def test_a_file_and_a_folder_cannot_replace_each_other(
    store: ArtifactStore, source_tree: Path, call: Callable[[ArtifactStore, Path], object]
) -> None:
    store.put_bytes(b"inside", "folder/file")
    with pytest.raises(ConflictError, match="delete it first"):
        call(store, source_tree)
    assert store.get_bytes("folder/file") == b"inside"
    assert [e.key for e in store.list(recursive=True)] == ["folder/file"]


@pytest.mark.parametrize(
    ("call", "hint"),
    [
        pytest.param(lambda s, tmp: s.get_file("folder", tmp / "f"), "get_dir", id="get_file-of-folder"),
        pytest.param(lambda s, tmp: s.get_bytes("folder"), "get_dir", id="get_bytes-of-folder"),
        pytest.param(lambda s, tmp: s.open("folder"), "get_dir", id="open-of-folder"),
        pytest.param(lambda s, tmp: s.get_dir("folder/file", tmp / "d"), "get_file", id="get_dir-of-file"),
    ],
)
def test_reading_the_wrong_kind_says_which_call_to_use(
    store: ArtifactStore, tmp_path: Path, call: Callable[[ArtifactStore, Path], object], hint: str
) -> None:
    store.put_bytes(b"inside", "folder/file")
    with pytest.raises(ValidationError, match=hint):
        call(store, tmp_path)


def test_a_folder_with_no_files_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ValidationError, match="holds no files"):
        store.put_dir(tmp_path / "empty", "nothing")
    assert not store.exists("nothing")


def test_a_folder_holding_an_unstorable_name_is_refused_whole(
    store: ArtifactStore, make_tree: MakeTree, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", {"fine.txt": b"1", "bad\\name.txt": b"2"})
    with pytest.raises(ArtifactKeyError, match="backslash"):
        store.put_dir(src, "tree")
    assert store.list(recursive=True) == []


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s, tmp: s.put_file(tmp / "missing.txt", "k"), id="put_file"),
        pytest.param(lambda s, tmp: s.put_dir(tmp / "missing", "k"), id="put_dir"),
    ],
)
def test_missing_local_source_raises_not_found(
    store: ArtifactStore, tmp_path: Path, call: Callable[[ArtifactStore, Path], object]
) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        call(store, tmp_path)
    assert not store.exists("k")


def test_get_dir_keeps_other_local_files(store: ArtifactStore, make_tree: MakeTree, tmp_path: Path) -> None:
    store.put_dir(make_tree(tmp_path / "src", {"a.txt": b"new"}), "tree")
    dest = make_tree(tmp_path / "dest", {"a.txt": b"old", "mine.txt": b"keep me"})
    store.get_dir("tree", dest)
    assert (dest / "a.txt").read_bytes() == b"new"
    assert (dest / "mine.txt").read_bytes() == b"keep me"


def test_uri_names_the_key_under_the_root(store: ArtifactStore) -> None:
    stored = store.put_bytes(b"1", "a/b.txt")
    assert stored.uri == store.uri("a/b.txt")
    assert store.uri("a//b.txt") == f"{store.root_uri}/a/b.txt"
