"""Python environments for a job's ``requirements.txt``, built once and cached.

A job whose source folder holds a ``requirements.txt`` runs in a virtual environment made for it:
``python -m venv --system-site-packages`` on the base interpreter, then ``pip install -r requirements.txt``.
Everything the base environment has stays importable (numpy, torch, kibako itself), so pip only installs
what is missing and an already-satisfied requirements file builds in seconds with no download. When the base
interpreter is itself a virtual environment (kibako's own ``.venv``), ``--system-site-packages`` would reach
only the interpreter that environment was made from, so a ``.pth`` file adds the base environment's
site-packages too, after the new environment's own.

Environments live at ``cache_root / <key>``, where the key is the first 16 hex digits of the sha256 of the
requirements file's bytes and the base interpreter's ``sys.version`` and ``sys.prefix``. Only
``requirements.txt`` itself is hashed: a file it includes with ``-r`` can change without a rebuild.

The environment is built in place under a file lock (``cache_root / <key>.lock``), and its ``.complete``
marker is written last: jobs with the same requirements build it once, and a half-built folder (a killed
build) is never used but removed and built afresh. It is not built in a temporary folder and renamed: pip
writes the folder's absolute path into the scripts it installs (``bin/pip``, a package's command-line tools),
and a rename would leave their ``#!`` lines pointing at a folder that no longer exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kibako.errors import ValidationError

REQUIREMENTS = "requirements.txt"
COMPLETE_MARKER = ".complete"
BASE_PTH = "_kibako_base.pth"
PIP_OUTPUT_LINES = 20

_DESCRIBE = (
    "import importlib.util, json, site, sys\n"
    "in_venv = sys.prefix != sys.base_prefix\n"
    "dirs = [d for d in site.getsitepackages() if in_venv and d.startswith(sys.prefix)]\n"
    "pip = importlib.util.find_spec('pip') is not None\n"
    "print(json.dumps({'version': sys.version, 'prefix': sys.prefix, 'site_dirs': dirs, 'pip': pip}))\n"
)


@dataclass(frozen=True)
class _Base:
    """What the environments built on one base interpreter need to know about it."""

    version: str
    prefix: str
    site_dirs: tuple[str, ...]  # its own site-packages when it is a virtual environment, else none
    has_pip: bool


@functools.cache
def _describe(base_python: str) -> _Base:
    """The base interpreter's ``sys.version``, ``sys.prefix``, site-packages folders when it is itself a
    virtual environment, and whether it has pip (run once per interpreter path and cached)."""
    try:
        done = subprocess.run(
            [base_python, "-c", _DESCRIBE], capture_output=True, text=True, check=True, timeout=60
        )
        found = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ValidationError(f"cannot run the base Python {base_python}: {exc}") from None
    return _Base(str(found["version"]), str(found["prefix"]), tuple(found["site_dirs"]), bool(found["pip"]))


def environment_key(requirements: bytes, base_version: str, base_prefix: str = "") -> str:
    """The cache key of an environment: 16 hex digits of the sha256 of its inputs."""
    digest = hashlib.sha256(requirements)
    digest.update(b"\0" + base_version.encode() + b"\0" + base_prefix.encode())
    return digest.hexdigest()[:16]


def python_for(
    source_dir: Path | None,
    *,
    base_python: str = sys.executable,
    cache_root: Path,
    progress: Callable[[str], None] | None = None,
) -> str:
    """The interpreter to run a job's script with: ``base_python`` when ``source_dir`` holds no
    ``requirements.txt``, else a cached environment with those requirements installed (built on first use).

    Raises ``ValidationError`` when pip fails, with the end of its output; nothing is left behind, so a retry
    builds afresh.
    """
    if source_dir is None:
        return base_python
    requirements = Path(source_dir) / REQUIREMENTS
    if not requirements.is_file():
        return base_python
    say = progress or (lambda message: None)
    base = _describe(base_python)
    key = environment_key(requirements.read_bytes(), base.version, base.prefix)
    cache_root = Path(cache_root)
    cache_root.mkdir(parents=True, exist_ok=True)
    env_dir = cache_root / key
    python = env_dir / "bin" / "python"
    if _complete(env_dir):
        say(f"using cached environment {env_dir}")
        return str(python)
    with _locked(cache_root / f"{key}.lock", lambda: say(f"waiting for another job building {env_dir}")):
        if _complete(env_dir):  # built by the job that held the lock
            say(f"using cached environment {env_dir}")
            return str(python)
        say(f"installing {REQUIREMENTS} into {env_dir}")
        try:
            _build(env_dir, requirements, base_python, base)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
    return str(python)


def _complete(env_dir: Path) -> bool:
    return (env_dir / COMPLETE_MARKER).is_file() and (env_dir / "bin" / "python").exists()


@contextlib.contextmanager
def _locked(path: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, held for the block (released by the OS if the process dies)."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(env_dir: Path, requirements: Path, base_python: str, base: _Base) -> None:
    if env_dir.exists():
        shutil.rmtree(env_dir)  # left by a build that was killed: never finished, never used
    # The base's own pip, seen through the base's site-packages, installs into this environment just as well,
    # and skipping ensurepip makes a build take about a second instead of seven.
    without_pip = ["--without-pip"] if base.has_pip else []
    _run(
        [base_python, "-m", "venv", "--system-site-packages", *without_pip, str(env_dir)],
        f"creating {env_dir}",
    )
    python = str(env_dir / "bin" / "python")
    if base.site_dirs:
        # The base is itself a virtual environment: --system-site-packages reaches only the interpreter it
        # was made from, so add the base environment's site-packages (after this one's, which wins), with
        # their own .pth files (editable installs) processed too.
        purelib = (
            _run(
                [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                f"reading {env_dir}",
            )
            .strip()
            .splitlines()[-1]
        )
        lines = "".join(f"import site; site.addsitedir({folder!r})\n" for folder in base.site_dirs)
        (Path(purelib) / BASE_PTH).write_text(lines)
    _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(requirements)],
        f"installing {requirements}",
        cwd=requirements.parent,  # relative paths in the file (-r other.txt, ./package) resolve as pip expects
    )
    (env_dir / COMPLETE_MARKER).write_text("")


def _run(argv: list[str], doing: str, cwd: Path | None = None) -> str:
    """Run a build step; its stdout, or ``ValidationError`` with the end of its output when it fails."""
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    except OSError as exc:
        raise ValidationError(f"{doing} failed: {exc}") from None
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-PIP_OUTPUT_LINES:])
        raise ValidationError(f"{doing} failed:\n{tail}")
    return done.stdout
