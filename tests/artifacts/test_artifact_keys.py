from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kibako.artifacts import ArtifactStore, normalize_key
from kibako.artifacts.keys import MAX_KEY_BYTES
from kibako.errors import ArtifactKeyError, ValidationError

GOOD_KEYS = [
    pytest.param("model.pkl", "model.pkl", id="plain"),
    pytest.param("a/b/c.txt", "a/b/c.txt", id="nested"),
    pytest.param("./a//b/./c/", "a/b/c", id="dot-and-duplicate-slashes"),
    pytest.param("a/b/", "a/b", id="trailing-slash"),
    pytest.param("runs/run:1/model", "runs/run:1/model", id="colon-inside"),
    pytest.param(".hidden/a..b", ".hidden/a..b", id="dots-inside-names"),
    pytest.param("モデル/学習 データ.csv", "モデル/学習 データ.csv", id="japanese-and-space"),
    pytest.param("x" * MAX_KEY_BYTES, "x" * MAX_KEY_BYTES, id="at-length-limit"),
]

BAD_KEYS = [
    pytest.param("/etc/passwd", "absolute path", id="absolute"),
    pytest.param("../escape", "'..' segment", id="dotdot-leading"),
    pytest.param("a/../../escape", "'..' segment", id="dotdot-inside"),
    pytest.param("a/..", "'..' segment", id="dotdot-trailing"),
    pytest.param("a\\b", "backslash", id="backslash"),
    pytest.param("..\\escape", "backslash", id="backslash-dotdot"),
    pytest.param("C:", "drive letter", id="drive-bare"),
    pytest.param("c:/windows/x", "drive letter", id="drive-slash"),
    pytest.param("a\x00b", "NUL byte", id="nul"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("", "empty", id="empty"),
    pytest.param("./", "empty", id="only-dot"),
    pytest.param("//", "absolute path", id="only-slashes"),
    pytest.param("s3://bucket/key", "is a URL", id="s3-url"),
    pytest.param("file:///etc/passwd", "is a URL", id="file-url"),
    pytest.param("a/.kibako-tmp-1234", "reserved", id="reserved-staging-name"),
    pytest.param("bad\udcffname", "UTF-8", id="undecodable-name"),
    pytest.param("x" * (MAX_KEY_BYTES + 1), "the limit is 1024", id="too-long"),
]


@pytest.mark.parametrize(("key", "expected"), GOOD_KEYS)
def test_good_key_is_normalized(key: str, expected: str) -> None:
    assert normalize_key(key) == expected


@pytest.mark.parametrize(("key", "reason"), BAD_KEYS)
def test_bad_key_is_refused_saying_why(key: str, reason: str) -> None:
    with pytest.raises(ArtifactKeyError, match=reason) as caught:
        normalize_key(key)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.fields["key"] == key


def test_non_string_key_is_refused() -> None:
    with pytest.raises(ArtifactKeyError, match="must be a string"):
        normalize_key(Path("a/b"))  # type: ignore[arg-type]


def test_refusal_suggests_the_fix() -> None:
    with pytest.raises(ArtifactKeyError, match=r"e\.g\. 'models/a'"):
        normalize_key("/models/a")
    with pytest.raises(ArtifactKeyError, match=r"e\.g\. 'a/b'"):
        normalize_key("a\\b")


def _put_bytes(store: ArtifactStore, key: str, src: Path) -> object:
    return store.put_bytes(b"payload", key)


def _put_file(store: ArtifactStore, key: str, src: Path) -> object:
    return store.put_file(src / "file.txt", key)


def _put_dir(store: ArtifactStore, key: str, src: Path) -> object:
    return store.put_dir(src, key)


def _open_write(store: ArtifactStore, key: str, src: Path) -> object:
    with store.open(key, "wb") as f:
        f.write(b"payload")
    return None


WRITES: list[object] = [
    pytest.param(_put_bytes, id="put_bytes"),
    pytest.param(_put_file, id="put_file"),
    pytest.param(_put_dir, id="put_dir"),
    pytest.param(_open_write, id="open-wb"),
]


def _all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_key_with_dotdot_is_refused_and_nothing_written(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    before = _all_files(tmp_path)
    with pytest.raises(ArtifactKeyError, match=r"'\.\.' segment"):
        store.put_bytes(b"evil", "../escaped.txt")
    assert not (tmp_path / "escaped.txt").exists()
    assert _all_files(tmp_path) == before


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(("key", "reason"), BAD_KEYS)
def test_refused_key_writes_nothing_anywhere(
    tmp_path: Path, write: Callable[[ArtifactStore, str, Path], object], key: str, reason: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "file.txt").write_bytes(b"payload")
    store = ArtifactStore(str(tmp_path / "area" / "store"))
    before = _all_files(tmp_path)
    with pytest.raises(ArtifactKeyError, match=reason):
        write(store, key, src)
    assert _all_files(tmp_path) == before


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s: s.get_bytes("../x"), id="get_bytes"),
        pytest.param(lambda s: s.exists("/abs"), id="exists"),
        pytest.param(lambda s: s.list("../"), id="list"),
        pytest.param(lambda s: s.uri("C:/x"), id="uri"),
        pytest.param(lambda s: s.delete("a/../.."), id="delete"),
        pytest.param(lambda s: s.open("s3://b/k"), id="open"),
    ],
)
def test_reads_refuse_bad_keys_too(
    local_store: ArtifactStore, operation: Callable[[ArtifactStore], object]
) -> None:
    with pytest.raises(ArtifactKeyError):
        operation(local_store)
