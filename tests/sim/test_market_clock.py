"""The simulator's virtual clock."""

from __future__ import annotations

import pytest

from pymt5_core.sim.market import VirtualClock


class FakeWall:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_clock_runs_at_its_speed_from_its_start() -> None:
    wall = FakeWall()
    clock = VirtualClock(speed=60.0, start_ms=5_000, time_source=wall)
    assert clock.now_ms() == 5_000
    wall.now += 1.5
    assert clock.now_ms() == 5_000 + 90_000


def test_the_default_start_is_the_wall_time() -> None:
    wall = FakeWall()
    assert VirtualClock(time_source=wall).now_ms() == 1_000_000


def test_changing_the_speed_does_not_make_the_time_jump() -> None:
    wall = FakeWall()
    clock = VirtualClock(speed=10.0, start_ms=0, time_source=wall)
    wall.now += 2
    clock.speed = 1.0
    assert clock.now_ms() == 20_000
    wall.now += 2
    assert clock.now_ms() == 22_000
    clock.speed = 0.0
    wall.now += 100
    assert clock.now_ms() == 22_000


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = VirtualClock.manual(1_700_000_000_000)
    assert clock.now_ms() == 1_700_000_000_000
    clock.advance(1_500)
    assert clock.now_ms() == 1_700_000_001_500
    clock.set(42)
    assert clock.now_ms() == 42


@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf")])
def test_a_bad_speed_is_rejected(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        VirtualClock(speed=speed)
