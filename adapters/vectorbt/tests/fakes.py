"""A deterministic in-memory stand-in for ``MT5ClientSync`` (only what ``MT5Data`` calls)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pymt5_vectorbt.parsing import MT5_TIMEFRAMES

RATES_DTYPE = np.dtype(
    [
        ("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
        ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8"),
    ]
)
#: Symbols that trade only Monday to Friday; everything else trades every day (like crypto).
WEEKDAY_ONLY = {"EURUSD", "GBPUSD"}


def _seconds(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


class FakeClient:
    """Bars that are a pure function of (symbol, time); the bar containing ``now`` is still forming.

    The forming bar's close moves with ``now``, so an update must replace it.
    """

    def __init__(self, now: str | pd.Timestamp) -> None:
        self.now = pd.Timestamp(now)
        self.calls: list[tuple[str, str, int, int]] = []
        self.logins: list[tuple[int, str]] = []
        self.closed = False

    def login(self, login: int, password: str) -> None:
        self.logins.append((login, password))

    def close(self) -> None:
        self.closed = True

    def advance(self, **delta: float) -> None:
        self.now += pd.Timedelta(**delta)

    def bars(self, symbol: str, timeframe: str, start: Any = None, end: Any = None) -> np.ndarray:
        assert not self.closed, "bars() on a closed client"
        seconds = MT5_TIMEFRAMES[timeframe] * 60
        lo, hi, now = _seconds(start), _seconds(end), int(self.now.timestamp())
        self.calls.append((symbol, timeframe, lo, hi))
        first = -(-lo // seconds) * seconds
        times = np.arange(first, min(hi, now) + 1, seconds, dtype=np.int64)
        if symbol in WEEKDAY_ONLY:
            times = times[pd.to_datetime(times, unit="s").day_of_week < 5]
        seed = sum(map(ord, symbol))
        base = 1.0 + seed / 1000 + 0.01 * np.sin(times / 7919.0 + seed)
        out = np.zeros(len(times), RATES_DTYPE)
        out["time"] = times
        out["open"] = base
        out["close"] = base + 0.001 * np.cos(times / 3571.0)
        forming = times + seconds > now
        out["close"][forming] += (now - times[forming]) * 1e-7  # moves until the bar closes
        out["high"] = np.maximum(out["open"], out["close"]) + 0.0005
        out["low"] = np.minimum(out["open"], out["close"]) - 0.0005
        out["tick_volume"] = 10 + times % 97
        out["spread"] = 12
        return out
