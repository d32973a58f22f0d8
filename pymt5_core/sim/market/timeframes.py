"""Bar periods: UTC alignment of bar open times (SPEC §7.17, §9.5) and aggregation of M1 bars.

Weeks start on Sunday 00:00 UTC, as MT5 weeks do; months on the 1st at 00:00 UTC.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pymt5_core.sim.market.records import Bars, empty_bars
from pymt5_core.wire.enums import Period

__all__ = ["aggregate", "bar_open_times", "first_bar_at_or_after", "next_bar_open"]

_WEEK = 7 * 86_400
# 1970-01-04 was the first Sunday after the epoch.
_FIRST_SUNDAY = 3 * 86_400


def bar_open_times(times: npt.NDArray[np.int64], period: Period) -> npt.NDArray[np.int64]:
    """Return the open time of the ``period`` bar that contains each Unix time."""
    if period == Period.MN1:
        months = times.astype("datetime64[s]").astype("datetime64[M]")
        return months.astype("datetime64[s]").astype(np.int64)
    if period == Period.W1:
        return (times - _FIRST_SUNDAY) // _WEEK * _WEEK + _FIRST_SUNDAY
    return times // period.seconds * period.seconds


def next_bar_open(t: int, period: Period) -> int:
    """Return the open time of the bar after the one that contains ``t``."""
    start = _scalar_open(t, period)
    if period == Period.MN1:
        month = np.array([start], dtype="datetime64[s]").astype("datetime64[M]") + 1
        return int(month.astype("datetime64[s]").astype(np.int64)[0])
    if period == Period.W1:
        return start + _WEEK
    return start + period.seconds


def first_bar_at_or_after(t: int, period: Period) -> int:
    """Return the earliest bar open time that is not before ``t``."""
    start = _scalar_open(t, period)
    return start if start == t else next_bar_open(t, period)


def _scalar_open(t: int, period: Period) -> int:
    return int(bar_open_times(np.array([t], dtype=np.int64), period)[0])


def aggregate(m1: Bars, period: Period) -> Bars:
    """Merge time-ordered M1 bars into ``period`` bars; only periods holding an M1 bar appear.

    Open is the first M1 open, close the last close, high/low the extremes; tick and real volumes add up
    and the spread is the smallest one. M1 bars come back as they are (not copied).
    """
    if period == Period.M1 or len(m1) == 0:
        return m1
    opens = bar_open_times(m1["time"], period)
    starts = np.flatnonzero(np.diff(opens, prepend=opens[0] - 1))
    ends = np.append(starts[1:], len(m1)) - 1
    out = empty_bars(len(starts))
    out["time"] = opens[starts]
    out["open"] = m1["open"][starts]
    out["close"] = m1["close"][ends]
    out["high"] = np.maximum.reduceat(m1["high"], starts)
    out["low"] = np.minimum.reduceat(m1["low"], starts)
    out["tick_volume"] = np.add.reduceat(m1["tick_volume"], starts)
    out["spread"] = np.minimum.reduceat(m1["spread"], starts)
    out["real_volume"] = np.add.reduceat(m1["real_volume"], starts)
    return out
