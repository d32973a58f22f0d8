"""Where a symbol's market data comes from: the synthetic model, replayed data, or both spliced."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pymt5_core.sim.market.records import Bars, Ticks

__all__ = ["MarketSource", "SplicedSource"]


class MarketSource(Protocol):
    """M1 bars and ticks of one symbol, consistent with each other."""

    def m1(self, from_s: int, to_s: int) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``, in time order."""
        ...

    def ticks(self, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``, in time order."""
        ...


class SplicedSource:
    """Data from ``inner`` during ``[start_s, end_s)`` and from ``outer`` before and after."""

    def __init__(self, inner: MarketSource, outer: MarketSource, start_s: int, end_s: int) -> None:
        self._inner, self._outer = inner, outer
        self._start_s, self._end_s = start_s, end_s

    def m1(self, from_s: int, to_s: int) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``, in time order."""
        start, end = self._start_s, self._end_s - 1
        parts = [
            self._outer.m1(from_s, min(to_s, start - 1)),
            self._inner.m1(max(from_s, start), min(to_s, end)),
            self._outer.m1(max(from_s, end + 1), to_s),
        ]
        return np.concatenate(parts)

    def ticks(self, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``, in time order."""
        start, end = self._start_s * 1000, self._end_s * 1000 - 1
        parts = [
            self._outer.ticks(from_ms, min(to_ms, start - 1)),
            self._inner.ticks(max(from_ms, start), min(to_ms, end)),
            self._outer.ticks(max(from_ms, end + 1), to_ms),
        ]
        return np.concatenate(parts)
