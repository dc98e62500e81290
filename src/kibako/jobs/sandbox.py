"""Making a job's folder appear at ``/opt/ml``, so scripts that hard-code container paths run unchanged.

Each job instance runs in a private mount namespace where its own folder is bind-mounted at ``/opt/ml``:
through ``unshare -m`` when running as root, else through bubblewrap (``bwrap``) when it is installed. Where
neither works, the job sees its folder at its own path (every ``SM_*`` variable says where), and its
description warns that hard-coded ``/opt/ml`` paths will not resolve.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

OPT_ML = Path("/opt/ml")
FALLBACK_WARNING = (
    "this machine cannot mount a private /opt/ml (needs root for unshare, or bubblewrap installed: "
    "apt-get install bubblewrap); the job sees its folder at its own path through the SM_* variables, so "
    "scripts that hard-code /opt/ml paths will not find them"
)

# Mounts the folder given as $0 at /opt/ml inside the new namespace, then becomes the job's command (exec keeps
# the pid, so signals and the parent-death signal reach the script itself).
_MOUNT_THEN_EXEC = 'mount --bind "$0" /opt/ml && exec "$@"'


@functools.cache
def method() -> str | None:
    """``"unshare"``, ``"bwrap"`` or None: how this machine gives a process its own ``/opt/ml``."""
    if os.environ.get("KIBAKO_JOB_SANDBOX", "auto") == "off":
        return None
    if not OPT_ML.is_dir():
        try:
            OPT_ML.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
    probe = Path(__file__).parent  # any folder will do to try a bind mount
    unshare = shutil.which("unshare")
    if (
        unshare
        and os.geteuid() == 0
        and _works([unshare, "-m", "sh", "-c", _MOUNT_THEN_EXEC, str(probe), "true"])
    ):
        return "unshare"
    bwrap = shutil.which("bwrap")
    if bwrap and _works([bwrap, "--dev-bind", "/", "/", "--bind", str(probe), str(OPT_ML), "true"]):
        return "bwrap"
    return None


def wrap(argv: list[str], folder: Path) -> list[str]:
    """``argv`` run so that ``folder`` is seen at ``/opt/ml``; unchanged when no method is available."""
    how = method()
    if how == "unshare":
        return [shutil.which("unshare") or "unshare", "-m", "sh", "-c", _MOUNT_THEN_EXEC, str(folder), *argv]
    if how == "bwrap":
        return [
            shutil.which("bwrap") or "bwrap",
            "--dev-bind", "/", "/",
            "--bind", str(folder), str(OPT_ML),
            "--die-with-parent",
            "--",
            *argv,
        ]  # fmt: skip
    return argv


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
