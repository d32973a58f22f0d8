"""The market's array types: bars, ticks and quotes, and the command 11 body built from bars."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from pymt5_core.wire import LAYOUTS

__all__ = ["BAR_DTYPE", "TICK_DTYPE", "Bars", "Quote", "Ticks", "bars_to_wire", "empty_bars", "empty_ticks"]

#: Bars of any period: open time (Unix s), bid OHLC, tick count, minimum spread (points), lots traded.
BAR_DTYPE = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<i8"),
        ("spread", "<i4"),
        ("real_volume", "<f8"),
    ],
    align=True,
)

#: Ticks: time (Unix ms), prices, volume (lots x 1e8) and the Tick ``fields`` mask of the values carried
#: (1 bid, 2 ask, 4 last, 8 volume).
TICK_DTYPE = np.dtype(
    [
        ("time_ms", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<i8"),
        ("fields", "<u4"),
    ],
    align=True,
)

#: A structured array of :data:`BAR_DTYPE`.
Bars = npt.NDArray[Any]
#: A structured array of :data:`TICK_DTYPE`.
Ticks = npt.NDArray[Any]


class Quote(NamedTuple):
    """The latest tick of a symbol at some instant; ``last`` is 0 for non-exchange symbols."""

    time_ms: int
    bid: float
    ask: float
    last: float


def empty_bars(n: int = 0) -> Bars:
    """Return a zeroed bar array."""
    return np.zeros(n, dtype=BAR_DTYPE)


def empty_ticks(n: int = 0) -> Ticks:
    """Return a zeroed tick array."""
    return np.zeros(n, dtype=TICK_DTYPE)


def bars_to_wire(bars: Bars) -> bytes:
    """Encode bars as the body of command 11: uncounted 48-byte Bar records (SPEC §5.19)."""
    out = LAYOUTS["Bar"].empty_array(len(bars))
    for name in ("time", "open", "high", "low", "close", "tick_volume", "real_volume"):
        out[name] = bars[name]
    return out.tobytes()
