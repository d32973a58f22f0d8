"""Backtrader adapter for pymt5-core: run a Backtrader strategy live on MetaTrader 5.

::

    store = MT5Store(url=..., login=..., password=...)
    cerebro.setbroker(store.getbroker())
    cerebro.adddata(store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, compression=1))
"""

from __future__ import annotations

from pymt5_backtrader.broker import MT5Broker, MT5CommInfo
from pymt5_backtrader.feed import MT5Data
from pymt5_backtrader.store import MT5Store

__all__ = ["MT5Broker", "MT5CommInfo", "MT5Data", "MT5Store"]
