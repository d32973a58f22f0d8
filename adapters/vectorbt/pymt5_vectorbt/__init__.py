"""vectorbt adapter for pymt5-core: ``MT5Data``, MetaTrader 5 bars as a ``vbt.Data`` source.

Importing the package registers ``vbt.settings.data["mt5"]`` and opts out of one pandas 3 warning that
vectorbt 1.2 triggers (see ``pymt5_vectorbt._compat``).
"""

from pymt5_vectorbt.data import MT5Data
from pymt5_vectorbt.parsing import (
    COLUMNS,
    MAP_COLUMNS,
    MT5_TIMEFRAMES,
    parse_timeframe,
    rates_to_vbt_frame,
    timeframe_to_timedelta,
)

__all__ = [
    "COLUMNS",
    "MAP_COLUMNS",
    "MT5_TIMEFRAMES",
    "MT5Data",
    "parse_timeframe",
    "rates_to_vbt_frame",
    "timeframe_to_timedelta",
]
