"""A script written for the official ``MetaTrader5`` package, running on pymt5-core.

The only change is the import (and the server URL in ``initialize``).

    PYMT5_URL=wss://... PYMT5_LOGIN=... PYMT5_PASSWORD=... python examples/mt5_compat.py

Without ``PYMT5_URL`` it starts the embedded simulator in a background thread.
"""

from __future__ import annotations

import os

import pandas as pd

import pymt5_core.mt5 as mt5  # was: import MetaTrader5 as mt5

if not os.environ.get("PYMT5_URL"):
    from download_pandas import simulator_in_background  # the simulator on a background thread

    url, login, password = simulator_in_background()
    os.environ.update(PYMT5_URL=url, PYMT5_LOGIN=str(login), PYMT5_PASSWORD=password)

if not mt5.initialize():
    raise SystemExit(f"initialize() failed: {mt5.last_error()}")
print(mt5.version(), mt5.account_info().balance)

tick = mt5.symbol_info_tick("EURUSD")
print("EURUSD", tick.bid, tick.ask)

rates = mt5.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_H2, 0, 10)  # H2: built from H1
frame = pd.DataFrame(rates)
frame["time"] = pd.to_datetime(frame["time"], unit="s")
print(frame.tail(3))

request = {
    "action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1, "type": mt5.ORDER_TYPE_BUY,
    "price": tick.ask, "deviation": 20, "magic": 234000, "comment": "python script open",
    "type_time": mt5.ORDER_TIME_GTC, "type_filling": mt5.ORDER_FILLING_IOC,
}
result = mt5.order_send(request)
print("order_send:", result.retcode, result.comment)
for position in mt5.positions_get(symbol="EURUSD") or ():
    print(position._asdict())
mt5.shutdown()
