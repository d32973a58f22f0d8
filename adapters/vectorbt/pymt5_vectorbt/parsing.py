"""Translation between vectorbt's vocabulary and pymt5's: timeframes and columns.

Pure functions and tables only; nothing here talks to a server.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd

from pymt5_core.errors import InvalidRequest

__all__ = [
    "COLUMNS",
    "MAP_COLUMNS",
    "MT5_TIMEFRAMES",
    "parse_timeframe",
    "rates_to_vbt_frame",
    "timeframe_to_timedelta",
]

#: MT5 timeframe name -> nominal length in minutes (a month counts as 30 days).
MT5_TIMEFRAMES: dict[str, int] = {
    "M1": 1, "M2": 2, "M3": 3, "M4": 4, "M5": 5, "M6": 6, "M10": 10, "M12": 12, "M15": 15, "M20": 20,
    "M30": 30, "H1": 60, "H2": 120, "H3": 180, "H4": 240, "H6": 360, "H8": 480, "H12": 720,
    "D1": 1440, "W1": 10080, "MN1": 43200,
}
_BY_MINUTES = {minutes: name for name, minutes in MT5_TIMEFRAMES.items() if name != "MN1"}

#: vectorbt/pandas-style unit -> minutes per unit; ``"M"`` (capital) is a month as in vectorbt and ccxt.
_UNIT_MINUTES: dict[str, int] = {
    "m": 1, "min": 1, "t": 1, "minute": 1, "minutes": 1,
    "h": 60, "hour": 60, "hours": 60,
    "d": 1440, "day": 1440, "days": 1440,
    "w": 10080, "week": 10080, "weeks": 10080,
}
_MONTH_UNITS = {"M", "mo", "mon", "month", "months", "MS"}
_VBT_STYLE = re.compile(r"^\s*(\d*)\s*([A-Za-z]+)\s*$")

#: MetaTrader5 rates field -> vectorbt column. ``Volume`` is the tick volume, as every MT5 chart shows it.
MAP_COLUMNS: dict[str, str] = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "tick_volume": "Volume",
    "spread": "Spread",
    "real_volume": "Real Volume",
}
#: The columns of every frame :class:`~pymt5_vectorbt.MT5Data` returns, in order.
COLUMNS: tuple[str, ...] = tuple(MAP_COLUMNS.values())


def parse_timeframe(value: str | timedelta) -> str:
    """Return the MT5 timeframe name for a vectorbt-style string, an MT5 name or a timedelta.

    ``"1m"``, ``"15min"``, ``"1h"``, ``"4h"``, ``"1d"``, ``"1w"`` and ``"1M"`` (month) map to ``M1``,
    ``M15``, ``H1``, ``H4``, ``D1``, ``W1`` and ``MN1``; MT5 names (``"H4"``, ``"m15"``, ``"MN1"``) pass
    through. Any other length that MT5 has (``"2h"``, ``"20m"``, ...) maps too.

    Raises:
        InvalidRequest: a length MT5 has no timeframe for (it is a ``ValueError``), or an unparsable value.
    """
    if isinstance(value, timedelta):  # pd.Timedelta is a timedelta too
        seconds = value.total_seconds()
        name = _BY_MINUTES.get(int(seconds // 60)) if seconds % 60 == 0 else None
        if name is None:
            raise _unsupported(value)
        return name
    if not isinstance(value, str):
        raise InvalidRequest(f"timeframe must be a string such as '1h' or 'H1', not {type(value).__name__}")
    if value.strip().upper() in MT5_TIMEFRAMES:
        return value.strip().upper()
    match = _VBT_STYLE.match(value)
    if match is None:
        raise _unsupported(value)
    amount = int(match.group(1) or 1)
    unit = match.group(2)
    if unit in _MONTH_UNITS:
        if amount == 1:
            return "MN1"
        raise _unsupported(value)
    per_unit = _UNIT_MINUTES.get(unit.lower())
    name = _BY_MINUTES.get(amount * per_unit) if per_unit is not None else None
    if name is None:
        raise _unsupported(value)
    return name


def _unsupported(value: object) -> InvalidRequest:
    return InvalidRequest(
        f"unsupported timeframe {value!r}; use a vectorbt-style length MT5 has "
        "(1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, 1M, or 2m, 3m, 4m, 6m, 10m, 12m, 20m, 2h, 3h, 6h, 8h, 12h) "
        f"or an MT5 name ({', '.join(MT5_TIMEFRAMES)})"
    )


def timeframe_to_timedelta(timeframe: str | timedelta) -> pd.Timedelta:
    """Return the nominal bar length of a timeframe (a month counts as 30 days).

    Raises:
        InvalidRequest: see :func:`parse_timeframe`.
    """
    return pd.Timedelta(minutes=MT5_TIMEFRAMES[parse_timeframe(timeframe)])


def rates_to_vbt_frame(rates: pd.DataFrame) -> pd.DataFrame:
    """Turn a rates frame (``pymt5_core.download``/``bars_df`` columns) into :data:`COLUMNS`, all float64.

    Every column is kept even when it is all zeros (e.g. ``Real Volume`` of a forex pair): dropping
    columns per symbol would make vectorbt's column alignment fail across symbols and across updates.
    Everything is float64 so that alignment, which fills gaps with NaN, never changes a dtype.
    """
    frame = rates[list(MAP_COLUMNS)].rename(columns=MAP_COLUMNS).astype("float64")
    frame.columns.name = None
    frame.index.name = "time"
    return frame
