"""Ticks drawn from M1 bars, and M1 bars summed up from ticks.

The ticks of a minute follow the bar exactly: the first bid is the open, the last the close, the bids
reach the high and the low and never leave them, and there are ``tick_volume`` of them. The bid walks
open → low → high → close on a rising bar and open → high → low → close on a falling one, with some
noise between these waypoints. ``ask = bid + spread * point``. Exchange symbols also get a last price
(the bid or the ask) and a volume; the volumes of a minute add up to the bar's real volume.

Every random choice hashes (bar time, tick index), so the ticks of a minute never depend on the range
asked for. Prices are computed in integer points, so they convert to floats exactly as the bars do.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pymt5_core.sim.market.records import Bars, Ticks, empty_bars, empty_ticks
from pymt5_core.sim.market.rng import hash_uniform
from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.wire.codec import LOTS_SCALE, lots_to_wire
from pymt5_core.wire.enums import TickField

__all__ = ["bars_from_ticks", "min_ticks", "synthesize_ticks"]

IntArray = npt.NDArray[np.int64]

# Independent quantities hashed from the same (bar time, tick index) counters.
_TIME, _PRICE, _SIDE, _SIZE = range(4)
_QUOTE_FIELDS = TickField.BID | TickField.ASK
_TRADE_FIELDS = _QUOTE_FIELDS | TickField.LAST | TickField.VOLUME


def _waypoints(o: IntArray, h: IntArray, low: IntArray, c: IntArray) -> IntArray:
    rising = (c >= o)[:, None]
    return np.where(rising, np.stack([o, low, h, c], axis=1), np.stack([o, h, low, c], axis=1))


def min_ticks(o: IntArray, h: IntArray, low: IntArray, c: IntArray) -> IntArray:
    """Return the fewest ticks that can draw each bar (1 to 4), prices in points."""
    rising = c >= o
    first, second = np.where(rising, low, h), np.where(rising, h, low)
    count: IntArray = 1 + (first != o) + (second != first) + (c != second)
    return count


def _points(bars: Bars, name: str, scale: int) -> IntArray:
    points: IntArray = np.rint(bars[name] * scale).astype(np.int64)
    return points


def synthesize_ticks(bars: Bars, spec: SymbolSpec, key: int) -> Ticks:
    """Return the ticks of M1 bars, in time order.

    Args:
        bars: M1 bars whose ``tick_volume`` is at least :func:`min_ticks` of each bar.
        spec: the symbol (digits, tick size, volume step, exchange or not).
        key: the symbol's tick stream key (:func:`~pymt5_core.sim.market.rng.stream_key`).
    """
    scale = 10**spec.digits
    o, h, low, c = (_points(bars, name, scale) for name in ("open", "high", "low", "close"))
    n = bars["tick_volume"].astype(np.int64)
    wp = _waypoints(o, h, low, c)
    # Waypoints equal to the previous one share its rank and so its position.
    rank = np.cumsum(np.diff(wp, axis=1, prepend=wp[:, :1] - 1) != 0, axis=1) - 1
    segments = np.maximum(rank[:, 3], 1)[:, None]
    pos = (2 * rank * (n - 1)[:, None] + segments) // (2 * segments)

    bar = np.repeat(np.arange(len(bars)), n)
    first = np.cumsum(n) - n
    j = np.arange(len(bar)) - first[bar]
    seg = (j >= pos[bar, 1]).astype(np.int64) + (j >= pos[bar, 2])
    a, b = pos[bar, seg], pos[bar, seg + 1]
    va, vb = wp[bar, seg], wp[bar, seg + 1]
    times = bars["time"][bar]

    line = va + (j - a) / np.maximum(b - a, 1) * (vb - va)
    amplitude = np.maximum(np.abs(vb - va) * 0.5, spec.tick_points)
    noisy = line + (hash_uniform(key ^ _PRICE, times, j) - 0.5) * amplitude
    grid = spec.tick_points
    bid = np.clip(np.rint(noisy / grid).astype(np.int64) * grid, low[bar], h[bar])
    bid = np.where(j == a, va, np.where(j == b, vb, bid))
    ask = bid + bars["spread"][bar]

    ticks = empty_ticks(len(bar))
    ticks["time_ms"] = times * 1000 + ((j + hash_uniform(key ^ _TIME, times, j)) * 60_000 // n[bar]).astype(
        np.int64
    )
    ticks["bid"] = bid / scale
    ticks["ask"] = ask / scale
    if spec.is_exchange:
        at_bid = hash_uniform(key ^ _SIDE, times, j) < 0.5
        ticks["last"] = np.where(at_bid, bid, ask) / scale
        ticks["volume"] = _split_volume(bars, spec, n, bar, first, j, hash_uniform(key ^ _SIZE, times, j))
        ticks["fields"] = _TRADE_FIELDS
    else:
        ticks["fields"] = _QUOTE_FIELDS
    return ticks


def _split_volume(
    bars: Bars,
    spec: SymbolSpec,
    n: IntArray,
    bar: IntArray,
    first: IntArray,
    j: IntArray,
    u: npt.NDArray[np.float64],
) -> IntArray:
    """Share each bar's real volume among its ticks, at least one volume step each, in wire units."""
    steps = np.rint(bars["real_volume"] / spec.volume_step).astype(np.int64)
    extra = np.maximum(steps - n, 0)
    weight = 1 + (u * 4).astype(np.int64)
    # Integer sums keep the split exact whatever the range of bars.
    cumulative = np.cumsum(weight)
    within = cumulative - (cumulative[first] - weight[first])[bar]
    total = within[first + n - 1][bar]
    allotted = extra[bar] * within // total
    before = np.where(j == 0, 0, np.roll(allotted, 1))
    volume: IntArray = (1 + allotted - before) * lots_to_wire(spec.volume_step)
    return volume


def bars_from_ticks(ticks: Ticks, spec: SymbolSpec) -> Bars:
    """Sum time-ordered ticks up into M1 bars of bid prices (spread = the smallest in the minute)."""
    if len(ticks) == 0:
        return empty_bars()
    minutes = ticks["time_ms"] // 60_000
    starts = np.flatnonzero(np.diff(minutes, prepend=minutes[0] - 1))
    ends = np.append(starts[1:], len(ticks))
    bid = ticks["bid"]
    bars = empty_bars(len(starts))
    bars["time"] = minutes[starts] * 60
    bars["open"] = bid[starts]
    bars["close"] = bid[ends - 1]
    bars["high"] = np.maximum.reduceat(bid, starts)
    bars["low"] = np.minimum.reduceat(bid, starts)
    bars["tick_volume"] = ends - starts
    spread = np.rint((ticks["ask"] - bid) * 10**spec.digits).astype(np.int32)
    bars["spread"] = np.minimum.reduceat(spread, starts)
    bars["real_volume"] = np.add.reduceat(ticks["volume"], starts) / LOTS_SCALE
    return bars
