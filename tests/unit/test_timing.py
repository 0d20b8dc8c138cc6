"""The failure time floor, driven by a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from sso_bridge.rum.timing import FailureFloor


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def floor_with(clock: FakeClock, **options: Any) -> FailureFloor:
    return FailureFloor(clock=clock, sleep=clock.sleep, random_fraction=lambda: 0.5, **options)


def verification(floor: FailureFloor, clock: FakeClock, seconds: float) -> None:
    started = clock()
    clock.now += seconds
    floor.observe(started)


def test_no_sample_no_floor_beyond_the_jitter() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.004)
    assert floor.floor() == 0.0
    floor.hold(clock())
    assert clock.slept == [pytest.approx(0.002)]


def test_a_fast_failure_waits_until_the_slowest_recent_verification() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.0)
    for seconds in (0.007, 0.3, 0.05):  # md5-crypt, PBKDF2, argon2 users side by side
        verification(floor, clock, seconds)
    assert floor.floor() == pytest.approx(0.3)
    started = clock()
    clock.now += 0.006  # an unusable hash answered in 6 ms
    floor.hold(started)
    assert clock() - started == pytest.approx(0.3)


def test_a_failure_already_slower_than_the_floor_is_not_delayed() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.0)
    verification(floor, clock, 0.1)
    started = clock()
    clock.now += 0.2
    floor.hold(started)
    assert clock.slept == []


def test_old_samples_are_forgotten_and_the_window_is_bounded() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.0, max_age=60.0, window=3)
    verification(floor, clock, 0.9)  # an outlier under load
    clock.now += 61
    verification(floor, clock, 0.1)
    assert floor.floor() == pytest.approx(0.1)
    verification(floor, clock, 0.5)
    for _ in range(3):
        verification(floor, clock, 0.02)
    assert floor.floor() == pytest.approx(0.02)  # only the last three samples count


def test_the_floor_never_passes_its_ceiling() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.0, ceiling=1.0)
    verification(floor, clock, 5.0)
    assert floor.floor() == 1.0


def test_jitter_is_added_on_top_of_the_floor() -> None:
    clock = FakeClock()
    floor = FailureFloor(clock=clock, sleep=clock.sleep, jitter=0.01, random_fraction=lambda: 1.0)
    verification(floor, clock, 0.2)
    started = clock()
    floor.hold(started)
    assert clock() - started == pytest.approx(0.21)


def test_hold_reports_the_seconds_slept() -> None:
    clock = FakeClock()
    floor = floor_with(clock, jitter=0.0)
    verification(floor, clock, 0.25)
    started = clock()
    clock.now += 0.05
    assert floor.hold(started) == pytest.approx(0.2)
    assert floor.hold(clock() - 1.0) == 0.0
