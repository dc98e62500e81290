"""Crashes and contention: a killed logger loses nothing it flushed; four writers share one SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kibako

LOGGER = textwrap.dedent(
    """
    import sys, kibako
    kb = kibako.connect(home=sys.argv[1])
    run = kb.run("crash", name="victim", flush_interval=3600)
    print(run.id, flush=True)
    step = 0
    while True:
        for _ in range(1000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            step += 1
        run.flush()
        print(step, flush=True)
    """
)

WRITER = textwrap.dedent(
    """
    import sys, kibako
    kb = kibako.connect(home=sys.argv[1])
    who = sys.argv[2]
    with kb.run("shared", name=who, max_buffered=500) as run:
        for step in range(10_000):
            run.log_metric("loss", step * 0.5, step=step)
            if step % 1000 == 0:
                run.log_param(f"p{step}", who)
    print(run.id)
    """
)


@pytest.mark.slow
def test_kill_9_while_logging_keeps_every_flushed_point(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-c", LOGGER, str(home)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    flushed = 0
    while flushed < 20_000:
        flushed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    kb = kibako.connect(home=str(home))
    with kb.tracking.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    run = kb.get_run(run_id)
    assert run.status == "InProgress", "nobody ended the killed run"
    history = kb.tracking.get_metric_history(run_id, "loss")
    assert history.total_points >= flushed
    assert history.steps[:flushed] == list(range(flushed))


@pytest.mark.slow
def test_four_processes_logging_at_once_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), f"w{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    kb = kibako.connect(home=str(home))
    runs = kb.search_runs("shared", max_results=10).runs
    assert sorted(r.name for r in runs) == ["w0", "w1", "w2", "w3"]
    for run in runs:
        assert run.status == "Completed"
        assert run.metrics["loss"].count == 10_000
        assert run.metrics["loss"].last == 4999.5
        assert len(run.params) == 10


def test_process_exit_writes_what_is_buffered(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, kibako
        kb = kibako.connect(home=sys.argv[1])
        run = kb.run("exit", flush_interval=3600)
        for step in range(500):
            run.log_metric("loss", step, step=step)
        run.log_param("lr", 0.1)
        print(run.id)
        """
    )
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", script, str(home)], capture_output=True, text=True, check=True
    )
    run = kibako.connect(home=str(home)).get_run(done.stdout.strip())
    assert run.metrics["loss"].count == 500 and run.params == {"lr": "0.1"}
    assert run.status == "Completed"


def test_uncaught_exception_ends_open_runs_as_failed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, kibako
        kb = kibako.connect(home=sys.argv[1])
        run = kb.run("crash")
        run.log_metric("loss", 1.0)
        print(run.id, flush=True)
        raise RuntimeError("boom")
        """
    )
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True)
    assert done.returncode == 1 and "boom" in done.stderr
    run = kibako.connect(home=str(home)).get_run(done.stdout.strip())
    assert run.status == "Failed"
    assert run.metrics["loss"].count == 1


def test_uncaught_ctrl_c_ends_open_runs_as_stopped(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, kibako
        kb = kibako.connect(home=sys.argv[1])
        run = kb.run("crash")
        print(run.id, flush=True)
        raise KeyboardInterrupt
        """
    )
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True)
    assert done.returncode != 0
    assert kibako.connect(home=str(home)).get_run(done.stdout.strip()).status == "Stopped"
