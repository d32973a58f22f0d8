"""Market time for the simulator: wall time, sped up, slowed down, paused or moved by hand."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["VirtualClock"]


class VirtualClock:
    """Market time = ``start + (wall - wall0) * speed``, in Unix milliseconds.

    Args:
        speed: market milliseconds per wall millisecond; 0 pauses the clock.
        start_ms: the market time now (default: the current wall time, UTC).
        time_source: wall time in seconds (injectable for tests).

    Raises:
        ValueError: a negative speed.
    """

    def __init__(
        self, speed: float = 1.0, start_ms: int | None = None, time_source: Callable[[], float] = time.time
    ) -> None:
        self._check_speed(speed)
        self._source = time_source
        self._wall0 = time_source()
        self._start_ms = math.floor(self._wall0 * 1000) if start_ms is None else start_ms
        self._speed = speed

    @classmethod
    def manual(cls, start_ms: int) -> VirtualClock:
        """Return a paused clock that moves only through :meth:`advance` and :meth:`set`."""
        return cls(speed=0.0, start_ms=start_ms)

    def now_ms(self) -> int:
        """Return the market time in Unix milliseconds."""
        return self._start_ms + math.floor((self._source() - self._wall0) * 1000 * self._speed)

    @property
    def speed(self) -> float:
        """Market milliseconds per wall millisecond; changing it never makes the time jump."""
        return self._speed

    @speed.setter
    def speed(self, speed: float) -> None:
        self._check_speed(speed)
        self.set(self.now_ms())
        self._speed = speed

    def advance(self, ms: int) -> None:
        """Move the market time forward by ``ms`` milliseconds (backward if negative)."""
        self._start_ms += ms

    def set(self, t_ms: int) -> None:
        """Make the market time ``t_ms`` now."""
        self._wall0 = self._source()
        self._start_ms = t_ms

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not speed >= 0 or math.isinf(speed):
            raise ValueError(f"clock speed must be a finite number >= 0, got {speed}")

    def __repr__(self) -> str:
        return f"<VirtualClock now={self.now_ms()} speed={self._speed}>"
