"""Progress bars for large transfers, and keeping ``import kibako.artifacts`` light."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from kibako.artifacts import ArtifactStore
from kibako.artifacts import _progress as progress_module
from kibako.artifacts._progress import fsspec_callback, transfer_progress


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_no_bar_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with transfer_progress("upload", 10_000, stream=out, threshold=10) as advance:
        advance(10_000)
    assert out.getvalue() == ""


def test_no_bar_for_a_small_transfer_on_a_terminal() -> None:
    out = _Terminal()
    with transfer_progress("upload", 10, stream=out, threshold=10) as advance:
        advance(10)
    assert out.getvalue() == ""


def test_bar_is_drawn_for_a_large_transfer_on_a_terminal() -> None:
    out = _Terminal()
    with transfer_progress("models/big.bin", 4096, stream=out, threshold=10) as advance:
        advance(2048)
        advance(2048)
    drawn = out.getvalue()
    assert "models/big.bin" in drawn
    assert "4.1/4.1 kB" in drawn


def test_the_default_threshold_is_64_mib() -> None:
    assert progress_module.LARGE_TRANSFER_BYTES == 64 * 1024 * 1024
    out = _Terminal()
    with transfer_progress("x", 64 * 1024 * 1024, stream=out):
        pass
    assert out.getvalue() == ""


@pytest.mark.parametrize("direction", ["put", "get"])
def test_store_draws_a_bar_on_stderr_for_large_files(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direction: str
) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"z" * 5000)
    if direction == "get":
        store.put_file(src, "big")
    monkeypatch.setattr(progress_module, "LARGE_TRANSFER_BYTES", 1000)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    if direction == "put":
        store.put_file(src, "big")
    else:
        store.get_file("big", tmp_path / "out.bin")
    assert "big" in terminal.getvalue()
    assert "5.0/5.0 kB" in terminal.getvalue()


def test_store_counts_a_folders_total_for_its_bar(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/c"):
        (src / name).write_bytes(b"q" * 1000)
    monkeypatch.setattr(progress_module, "LARGE_TRANSFER_BYTES", 2500)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    store.put_dir(src, "tree")
    assert "3.0/3.0 kB" in terminal.getvalue()


def test_store_draws_nothing_for_files_under_the_threshold(
    local_store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    local_store.put_bytes(b"small", "k")
    local_store.get_file("k", tmp_path / "k")
    assert terminal.getvalue() == ""


def test_fsspec_callback_forwards_increments_from_running_totals() -> None:
    seen: list[int] = []
    callback = fsspec_callback(seen.append)
    callback.set_size(100)
    callback.relative_update(30)
    callback.relative_update(70)
    callback.absolute_update(100)
    assert seen == [30, 70]


@pytest.mark.slow
def test_importing_artifacts_stays_light() -> None:
    code = (
        "import sys, kibako.artifacts\n"
        "print(sorted(m for m in ('fsspec', 's3fs', 'botocore', 'aiobotocore', 'rich') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
