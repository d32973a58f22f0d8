"""Timeframes: parsing names and codes, and building the periods the web protocol lacks.

The web protocol serves nine bar periods (M1, M5, M15, M30, H1, H4, D1, W1, MN1). The official
``MetaTrader5`` package has twelve more (M2 ... M20, H2 ... H12). Each of those divides an hour or a day,
so it is built exactly from the largest served period that divides it: every bar whose open time falls
in ``[t, t + period)`` with ``t`` a multiple of the period since the epoch (midnight-aligned, as MT5
aligns them) goes into one bar: first open, highest high, lowest low, last close, summed tick and real
volumes, smallest spread. :func:`aggregate` does that with ``np.*.reduceat``, without a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import InvalidRequest

__all__ = ["RATES_DTYPE", "TICKS_DTYPE", "Timeframe", "aggregate", "parse_timeframe"]

#: The official package's dtype for ``copy_rates_*``.
RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
        ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8"),
    ]
)
#: The official package's dtype for ``copy_ticks_*``.
TICKS_DTYPE = np.dtype(
    [
        ("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"), ("volume", "<u8"),
        ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8"),
    ]
)

_SERVED = {"M1": 1, "M5": 5, "M15": 15, "M30": 30, "H1": 0x4001, "H4": 0x4004, "D1": 0x4018, "W1": 0x8001,
           "MN1": 0xC001}
#: name -> (code, minutes, base period name). Base = the largest served period dividing it.
_BUILT = {
    "M2": (2, 2, "M1"), "M3": (3, 3, "M1"), "M4": (4, 4, "M1"), "M6": (6, 6, "M1"), "M10": (10, 10, "M5"),
    "M12": (12, 12, "M1"), "M20": (20, 20, "M5"), "H2": (0x4002, 120, "H1"), "H3": (0x4003, 180, "H1"),
    "H6": (0x4006, 360, "H1"), "H8": (0x4008, 480, "H4"), "H12": (0x400C, 720, "H4"),
}
_SERVED_MINUTES = {"M1": 1, "M5": 5, "M15": 15, "M30": 30, "H1": 60, "H4": 240, "D1": 1440, "W1": 10080,
                   "MN1": 43200}


@dataclass(frozen=True, slots=True)
class Timeframe:
    """One bar period.

    Attributes:
        name: the MT5 name (``"M1"``, ``"H2"``, ...).
        code: the ``TIMEFRAME_*`` value, equal to the wire period code for served periods.
        seconds: nominal length (a month counts as 30 days).
        base: the served period the server is asked for; equal to ``name`` when served directly.
    """

    name: str
    code: int
    seconds: int
    base: str

    @property
    def served(self) -> bool:
        """True when the server provides this period directly (no aggregation)."""
        return self.base == self.name

    @property
    def base_code(self) -> int:
        """The wire period code of :attr:`base`."""
        return _SERVED[self.base]

    @property
    def factor(self) -> int:
        """How many base bars make one bar of this period (1 for served periods)."""
        return self.seconds // (_SERVED_MINUTES[self.base] * 60)


_BY_NAME: dict[str, Timeframe] = {
    **{name: Timeframe(name, code, _SERVED_MINUTES[name] * 60, name) for name, code in _SERVED.items()},
    **{name: Timeframe(name, code, minutes * 60, base) for name, (code, minutes, base) in _BUILT.items()},
}
_BY_CODE: dict[int, Timeframe] = {tf.code: tf for tf in _BY_NAME.values()}


def parse_timeframe(value: object) -> Timeframe:
    """Accept ``"M1"``/``"h4"``, a ``TIMEFRAME_*`` code or a :class:`~pymt5_core.wire.enums.Period`.

    Raises:
        InvalidRequest: anything else, with the list of valid names.
    """
    if isinstance(value, Timeframe):
        return value
    found: Timeframe | None = None
    if isinstance(value, str):
        found = _BY_NAME.get(value.strip().upper())
    elif isinstance(value, int) and not isinstance(value, bool):
        found = _BY_CODE.get(int(value))
    if found is None:
        raise InvalidRequest(f"unknown timeframe {value!r}; use one of {', '.join(_BY_NAME)}")
    return found


def aggregate(bars: npt.NDArray[Any], seconds: int) -> npt.NDArray[Any]:
    """Merge rates (oldest first, any structured dtype with the rates fields) into ``seconds``-long bars.

    Bars are grouped by ``time // seconds``; the result keeps the input dtype.
    """
    if len(bars) == 0:
        return bars.copy()
    times = bars["time"].astype(np.int64)
    keys = times - times % seconds
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(bars)] - 1
    out = np.zeros(len(starts), dtype=bars.dtype)
    out["time"] = keys[starts]
    out["open"] = bars["open"][starts]
    out["high"] = np.maximum.reduceat(bars["high"], starts)
    out["low"] = np.minimum.reduceat(bars["low"], starts)
    out["close"] = bars["close"][ends]
    names = bars.dtype.names or ()
    for name in ("tick_volume", "real_volume"):
        if name in names:
            out[name] = np.add.reduceat(bars[name], starts)
    if "spread" in names:
        out["spread"] = np.minimum.reduceat(bars["spread"], starts)
    return out
