"""What the process does for its open runs: write their buffers on a timer, and end them at exit.

Open runs are held strongly until they end, so a run object dropped without ``end()`` still has its buffer
written and is ended at exit: Failed when the process is dying of an uncaught exception, Stopped when of an
uncaught Ctrl-C, else Completed (``sys.exit(n)`` cannot be told apart from a normal exit here: use ``with``).
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kibako.sdk.run import ActiveRun

log = logging.getLogger("kibako")

_open: set[ActiveRun] = set()
_guard = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
_uncaught: list[BaseException] = []
TICK_SECONDS = 0.25


def register(run: ActiveRun) -> None:
    """Track an open run; starts the timer thread and the exit hooks the first time."""
    global _thread
    with _guard:
        _open.add(run)
        if _thread is None:
            _install_excepthook()
            _thread = threading.Thread(target=_loop, name="kibako-flusher", daemon=True)
            _thread.start()


def forget(run: ActiveRun) -> None:
    with _guard:
        _open.discard(run)


def _loop() -> None:
    while not _wake.wait(TICK_SECONDS):
        with _guard:
            runs = list(_open)
        for run in runs:
            try:
                run._flush_if_due()
            except Exception as exc:  # keep the buffer; the next tick, flush() or end() tries again
                log.warning("kibako: could not write run %s yet: %s", run.id, exc)


def _install_excepthook() -> None:
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        # At an interactive prompt an error shown is not the end of the session.
        if not (hasattr(sys, "ps1") or sys.flags.interactive):
            _uncaught.append(exc)
        previous(exc_type, exc, tb)

    sys.excepthook = hook


@atexit.register
def _end_open_runs() -> None:
    _wake.set()
    from kibako.errors import RunFinishedError
    from kibako.tracking.models import COMPLETED, FAILED, STOPPED

    if not _uncaught:
        status = COMPLETED
    else:
        status = STOPPED if isinstance(_uncaught[-1], KeyboardInterrupt) else FAILED
    with _guard:
        runs = list(_open)
    for run in runs:
        try:
            run.end(status)
        except RunFinishedError:
            pass  # ended some other way (e.g. tracking.end_run): nothing left to do
        except Exception as exc:  # the store or server may be gone at exit; say so, nothing more can be done
            log.warning("kibako: could not end run %s at exit: %s", run.id, exc)
