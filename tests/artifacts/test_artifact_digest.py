from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kibako.artifacts import bytes_digest, dir_digest, file_digest, path_digest
from kibako.artifacts import digest as digest_module
from kibako.artifacts.digest import files_under, listing_digest
from kibako.errors import NotFoundError

MakeTree = Callable[[Path, dict[str, bytes]], Path]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_file_digest_is_prefixed_sha256_of_content(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello kibako")
    assert file_digest(path) == "sha256:" + _sha(b"hello kibako")


def test_file_digest_streams_files_larger_than_one_block(tmp_path: Path) -> None:
    data = os.urandom(digest_module.BLOCK_SIZE * 2 + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert file_digest(path) == "sha256:" + _sha(data)


def test_bytes_digest_equals_file_digest_of_same_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\x00\x01\x02")
    assert bytes_digest(b"\x00\x01\x02") == file_digest(path)
    assert bytes_digest(memoryview(b"\x00\x01\x02")) == file_digest(path)


def test_dir_digest_follows_the_documented_line_format(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path / "d", {"b.txt": b"B", "a/x.txt": b"X", "a.txt": b"A"})
    lines = sorted(
        f"{rel}\0{_sha(content)}\n" for rel, content in [("b.txt", b"B"), ("a/x.txt", b"X"), ("a.txt", b"A")]
    )
    assert dir_digest(root) == "sha256:" + _sha("".join(lines).encode())


def test_dir_digest_does_not_depend_on_creation_or_walk_order(
    tmp_path: Path, make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"sub{i % 3}/file{i}.txt": str(i).encode() for i in range(12)}
    forward = make_tree(tmp_path / "forward", files)
    backward = make_tree(tmp_path / "backward", dict(reversed(list(files.items()))))
    expected = dir_digest(forward)
    real_walk = os.walk

    def reversed_walk(top: Path) -> object:
        for dirpath, dirnames, filenames in real_walk(top):
            dirnames.reverse()
            yield dirpath, dirnames, list(reversed(filenames))

    monkeypatch.setattr(digest_module.os, "walk", reversed_walk)
    assert dir_digest(forward) == expected
    assert dir_digest(backward) == expected


def test_listing_digest_ignores_the_order_of_its_entries() -> None:
    entries = [("a", _sha(b"1")), ("b/c", _sha(b"2")), ("b", _sha(b"3"))]
    assert listing_digest(entries) == listing_digest(list(reversed(entries)))


def _change_content(root: Path) -> None:
    (root / "a.txt").write_bytes(b"A!")


def _rename(root: Path) -> None:
    (root / "a.txt").rename(root / "renamed.txt")


def _move_into_folder(root: Path) -> None:
    (root / "a.txt").rename(root / "sub" / "a.txt")


def _add_file(root: Path) -> None:
    (root / "new.txt").write_bytes(b"")


def _remove_file(root: Path) -> None:
    (root / "sub" / "b.txt").unlink()


def _swap_contents(root: Path) -> None:
    (root / "a.txt").write_bytes(b"B")
    (root / "sub" / "b.txt").write_bytes(b"A")


@pytest.mark.parametrize(
    "change",
    [_change_content, _rename, _move_into_folder, _add_file, _remove_file, _swap_contents],
    ids=["content", "rename", "move-into-folder", "add-empty-file", "remove-file", "swap-contents"],
)
def test_dir_digest_changes_when_the_tree_changes(
    tmp_path: Path, make_tree: MakeTree, change: object
) -> None:
    root = make_tree(tmp_path / "d", {"a.txt": b"A", "sub/b.txt": b"B"})
    before = dir_digest(root)
    change(root)  # type: ignore[operator]
    assert dir_digest(root) != before


def test_dir_digest_ignores_empty_folders(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path / "d", {"a.txt": b"A"})
    before = dir_digest(root)
    (root / "empty" / "deeper").mkdir(parents=True)
    assert dir_digest(root) == before


def test_dir_digest_is_the_same_for_a_copied_tree(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path / "d", {"a.txt": b"A", "x/y/z.bin": os.urandom(5000)})
    shutil.copytree(root, tmp_path / "copy")
    assert dir_digest(tmp_path / "copy") == dir_digest(root)


def test_files_under_lists_relative_posix_paths_sorted(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path / "d", {"z.txt": b"", "a/b/c.txt": b"", "m.txt": b""})
    assert [rel for rel, _ in files_under(root)] == ["a/b/c.txt", "m.txt", "z.txt"]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_path_digest_picks_file_or_folder_digest(tmp_path: Path, make_tree: MakeTree, kind: str) -> None:
    if kind == "file":
        path = tmp_path / "f.txt"
        path.write_bytes(b"content")
        assert path_digest(path) == file_digest(path)
    else:
        path = make_tree(tmp_path / "d", {"f.txt": b"content"})
        assert path_digest(path) == dir_digest(path)
        assert path_digest(path) != file_digest(path / "f.txt")


def test_path_digest_of_missing_path_raises_not_found_naming_it(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nothing-here"):
        path_digest(tmp_path / "nothing-here")
