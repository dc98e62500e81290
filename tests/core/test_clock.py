"""The clock is injected: services take their time from it, so tests can freeze and move it."""

from __future__ import annotations

from datetime import UTC, datetime

from kibako.testing import FrozenClock, temporary_platform


def test_run_times_come_from_the_injected_clock() -> None:
    clock = FrozenClock(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    with temporary_platform(clock) as platform:
        tracking = platform.tracking
        run = tracking.start_run("clocked")
        clock.advance(90)
        tracking.log_batch(run.id, metrics=[("loss", 0.5, 0, clock.time_ms())])
        clock.advance(30)
        tracking.end_run(run.id)
        stored = tracking.get_run(run.id)
    assert stored.start_time == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    assert stored.end_time == datetime(2026, 4, 1, 9, 2, tzinfo=UTC)
    assert stored.metrics["loss"].last_time == datetime(2026, 4, 1, 9, 1, 30, tzinfo=UTC)


def test_events_are_stamped_by_the_injected_clock() -> None:
    clock = FrozenClock(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    with temporary_platform(clock) as platform:
        platform.tracking.start_run("clocked")
        (event,) = platform.outbox.list_events()
    assert event.to_envelope()["time"] == "2026-04-01T09:00:00Z"
