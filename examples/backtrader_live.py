"""Run an ordinary Backtrader SMA-crossover strategy live on MT5.

By default it starts the bundled simulator (a fast virtual clock: one M1 bar every 0.1 s); set
``PYMT5_URL``, ``PYMT5_LOGIN`` and ``PYMT5_PASSWORD`` to trade a real (demo!) account instead::

    python examples/backtrader_live.py
    PYMT5_URL=wss://... PYMT5_LOGIN=123 PYMT5_PASSWORD=... python examples/backtrader_live.py

Only the three setup lines marked below differ from a backtest.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import os
import threading

import backtrader as bt
from pymt5_backtrader import MT5Store


class SmaCross(bt.Strategy):
    """Go long when the fast SMA crosses above the slow one, short when it crosses below."""

    params = (("fast", 5), ("slow", 20), ("stake", 0.1), ("live_bars", 30))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.live = False
        self.count = 0
        self.closing = None

    def notify_data(self, data, status, *args, **kwargs):
        print("data status:", data._getstatusname(status))
        self.live = status == data.LIVE

    def notify_store(self, msg, *args, **kwargs):
        print("store:", msg, kwargs or "")

    def notify_order(self, order):
        if order.status in (order.Completed, order.Canceled, order.Margin, order.Rejected, order.Expired):
            print(f"{self.data.datetime.datetime(0)} order {order.ref} {order.getstatusname()} "
                  f"{order.executed.size:+g} @ {order.executed.price:.5f}")
            if self.closing is not None and order.ref == self.closing.ref:
                self.env.runstop()  # flat again: stop

    def notify_trade(self, trade):
        if trade.isclosed:
            print(f"trade closed: pnl {trade.pnl:.2f} net {trade.pnlcomm:.2f}")

    def next(self):
        if not self.live or self.closing is not None:
            return  # do not trade on backfilled history, nor while closing
        self.count += 1
        if self.count >= self.p.live_bars:
            self.closing = self.close()  # None when already flat
            if self.closing is None:
                self.env.runstop()
        elif self.cross > 0:
            self.order_target_size(target=self.p.stake)
        elif self.cross < 0:
            self.order_target_size(target=-self.p.stake)


def start_simulator() -> tuple[str, int, str]:
    """Start the simulator on a background thread (a future Monday morning, 600x) and return its credentials."""
    from pymt5_core.sim import SimServer
    from pymt5_core.sim.market.clock import VirtualClock

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    monday = calendar.timegm(dt.datetime(2027, 3, 15, 10, 0).timetuple()) * 1000
    sim = SimServer(seed=1, clock=VirtualClock(speed=600, start_ms=monday))
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(30)
    return sim.url, sim.demo_account.login, sim.demo_account.password


def main() -> None:
    if os.environ.get("PYMT5_URL"):
        url, login, password = os.environ["PYMT5_URL"], int(os.environ["PYMT5_LOGIN"]), os.environ["PYMT5_PASSWORD"]
    else:
        url, login, password = start_simulator()
        print("simulator at", url)

    cerebro = bt.Cerebro()
    store = MT5Store(url=url, login=login, password=password)  # setup line 1
    cerebro.setbroker(store.getbroker())  # setup line 2
    cerebro.adddata(store.getdata(dataname=os.environ.get("PYMT5_SYMBOL", "EURUSD"),  # setup line 3
                                  timeframe=bt.TimeFrame.Minutes, compression=1, backfill_bars=50))
    cerebro.addstrategy(SmaCross)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    strat = cerebro.run()[0]
    print(f"cash {cerebro.broker.getcash():.2f} value {cerebro.broker.getvalue():.2f}")
    print("closed trades:", strat.analyzers.trades.get_analysis().get("total", {}).get("closed", 0))


if __name__ == "__main__":
    main()
