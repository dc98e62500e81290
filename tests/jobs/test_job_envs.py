"""A job's requirements.txt gets a cached environment on top of the base one; a failed install leaves nothing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import kibako
from kibako.jobs import envs
from kibako.jobs.envs import environment_key, python_for


@pytest.fixture(autouse=True)
def _offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip looks at no index: satisfied requirements need none, missing ones fail at once."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command the module runs, in order (still run for real)."""
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append([str(a) for a in argv])
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(envs.subprocess, "run", counting)
    return calls


def _source(tmp_path: Path, requirements: str | None) -> Path:
    source = tmp_path / "code"
    source.mkdir()
    (source / "train.py").write_text("print('hi')\n")
    if requirements is not None:
        (source / "requirements.txt").write_text(requirements)
    return source


def _venv_builds(calls: list[list[str]]) -> int:
    return sum(1 for argv in calls if argv[1:3] == ["-m", "venv"])


def test_no_requirements_runs_on_the_base_python(tmp_path: Path) -> None:
    cache = tmp_path / "envs"
    assert python_for(None, cache_root=cache) == sys.executable
    assert python_for(_source(tmp_path, None), base_python="/opt/py", cache_root=cache) == "/opt/py"
    assert not cache.exists()


def test_requirements_build_one_cached_environment_that_sees_the_base_packages(
    tmp_path: Path, run_calls: list[list[str]]
) -> None:
    source = _source(tmp_path, "numpy\n")
    cache = tmp_path / "envs"
    messages: list[str] = []
    results: list[str] = []
    jobs = [
        threading.Thread(
            target=lambda: results.append(python_for(source, cache_root=cache, progress=messages.append))
        )
        for _ in range(2)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
    assert len(results) == 2 and results[0] == results[1]  # two jobs at once: one build, under the lock
    assert _venv_builds(run_calls) == 1
    python = Path(results[0])
    env_dir = python.parent.parent
    assert env_dir.parent == cache and len(env_dir.name) == 16
    assert (env_dir / ".complete").is_file()
    assert f"installing requirements.txt into {env_dir}" in messages
    assert f"using cached environment {env_dir}" in messages

    shown = subprocess.run(
        [str(python), "-c", "import sys, numpy, kibako; print(sys.prefix); print(numpy.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert Path(shown[0]) == env_dir  # runs in the new environment, imports from the base one
    assert not Path(shown[1]).is_relative_to(env_dir)

    run_calls.clear()
    messages.clear()
    assert python_for(source, cache_root=cache, progress=messages.append) == str(python)
    assert run_calls == []  # cached: nothing is run, not even the base Python
    assert messages == [f"using cached environment {env_dir}"]


def test_a_half_built_environment_is_built_afresh(tmp_path: Path, run_calls: list[list[str]]) -> None:
    source = _source(tmp_path, "numpy\n")
    cache = tmp_path / "envs"
    python = Path(python_for(source, cache_root=cache))
    env_dir = python.parent.parent
    (env_dir / ".complete").unlink()  # as a build killed before its end leaves it
    (env_dir / "leftover").write_text("")
    assert python_for(source, cache_root=cache) == str(python)
    assert _venv_builds(run_calls) == 2
    assert (env_dir / ".complete").is_file()
    assert not (env_dir / "leftover").exists()


def test_a_failed_install_raises_and_leaves_nothing_behind(
    tmp_path: Path, run_calls: list[list[str]]
) -> None:
    source = _source(tmp_path, "kibako-no-such-package-xyz==1.0\n")
    cache = tmp_path / "envs"
    for attempt in (1, 2):  # a retry builds afresh, and fails the same way
        with pytest.raises(kibako.ValidationError) as caught:
            python_for(source, cache_root=cache)
        message = caught.value.message
        assert message.startswith(f"installing {source / 'requirements.txt'} failed:\n")
        assert "kibako-no-such-package-xyz" in message
        assert len(message.splitlines()) <= 21
        assert [p.suffix for p in cache.iterdir()] == [".lock"]
        assert _venv_builds(run_calls) == attempt


def test_the_key_depends_on_the_requirements_and_the_interpreter() -> None:
    key = environment_key(b"numpy\n", "3.11.7 (main)", "/venv")
    assert len(key) == 16 and int(key, 16) >= 0
    assert environment_key(b"numpy\n", "3.11.7 (main)", "/venv") == key
    assert environment_key(b"numpy==2.0\n", "3.11.7 (main)", "/venv") != key
    assert environment_key(b"numpy\n", "3.12.1 (main)", "/venv") != key
    assert environment_key(b"numpy\n", "3.11.7 (main)", "/other") != key


def test_a_base_python_that_does_not_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(kibako.ValidationError, match="cannot run the base Python"):
        python_for(
            _source(tmp_path, "numpy\n"), base_python=str(tmp_path / "nope"), cache_root=tmp_path / "e"
        )


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="needs the tests to run in a virtual environment")
def test_a_plain_interpreter_as_the_base_shares_its_own_packages(tmp_path: Path) -> None:
    base = getattr(sys, "_base_executable", sys.executable)
    python = python_for(_source(tmp_path, "pip\n"), base_python=base, cache_root=tmp_path / "envs")
    shown = subprocess.run(
        [python, "-c", "import sys, pip; print(sys.prefix); print(pip.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert Path(shown[0]) == Path(python).parent.parent
    assert not Path(shown[1]).is_relative_to(sys.prefix)  # from the plain interpreter, not from our venv
    assert not list(Path(shown[0]).glob("lib/python*/site-packages/_kibako_base.pth"))


@pytest.mark.slow  # ensurepip alone takes seconds
def test_a_base_without_pip_gets_pip_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = envs._describe
    monkeypatch.setattr(envs, "_describe", lambda base: dataclasses.replace(real(base), has_pip=False))
    python = Path(python_for(_source(tmp_path, "numpy\n"), cache_root=tmp_path / "envs"))
    assert (python.parent / "pip").exists()
    assert (python.parent.parent / ".complete").is_file()
