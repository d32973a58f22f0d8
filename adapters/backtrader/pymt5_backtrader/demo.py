"""A short live Backtrader run on an already-started simulator, for ``pymt5 demo``."""

from __future__ import annotations

import datetime as _dt
from typing import Any, TextIO

import backtrader as bt

from pymt5_backtrader.store import MT5Store

__all__ = ["DemoCross", "demo_section"]


class DemoCross(bt.Strategy):
    """A plain SMA crossover that flips a 0.1-lot position and stops itself after ``bars`` live bars.

    Params: ``fast`` (3), ``slow`` (8), ``size`` (0.1), ``bars`` (12), ``out`` (None = print to stdout).
    """

    params = (("fast", 3), ("slow", 8), ("size", 0.1), ("bars", 12), ("out", None))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.live_bars = 0
        self.live = False
        self.closing: Any = None

    def log(self, text: str) -> None:
        print(f"  {self.data.datetime.datetime(0):%Y-%m-%d %H:%M} {text}", file=self.p.out)

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.live = status == data.LIVE
        print(f"  data: {data._getstatusname(status)}", file=self.p.out)

    def notify_order(self, order: Any) -> None:
        if self.closing is not None and order.ref == self.closing.ref and not order.alive():
            self.env.runstop()  # flat again (or the close failed): stop
        if order.status in (order.Completed, order.Partial):
            self.log(f"order {order.ref} {order.getstatusname()}: {'BUY' if order.isbuy() else 'SELL'} "
                     f"{order.executed.size:+g} @ {order.executed.price:.5f} comm {order.executed.comm:.2f}")
        elif order.status != order.Submitted:
            self.log(f"order {order.ref} {order.getstatusname()}")

    def notify_trade(self, trade: Any) -> None:
        if trade.isclosed:
            self.log(f"trade closed: pnl {trade.pnl:.2f}, net {trade.pnlcomm:.2f}")

    def next(self) -> None:
        if not self.live or self.closing is not None:
            return
        self.live_bars += 1
        if self.live_bars >= self.p.bars:
            self.closing = self.close()  # None when already flat
            if self.closing is None:
                self.env.runstop()
        elif self.cross > 0 and self.position.size <= 0:
            self.order_target_size(target=self.p.size)
        elif self.cross < 0 and self.position.size >= 0:
            self.order_target_size(target=-self.p.size)
        elif not self.position and self.live_bars == 1:
            self.buy(size=self.p.size)  # trade at least once in a short demo


def demo_section(url: str, login: int, password: str, *, symbol: str = "EURUSD", bars: int = 12,
                 out: TextIO | None = None) -> dict[str, float]:
    """Run a short live Backtrader session on a running simulator and print its orders and trades.

    Args:
        url: the simulator's ``sim.url``.
        login: account number, password: its password.
        symbol: the symbol to trade (M1 bars).
        bars: live bars to run before the strategy stops itself.
        out: where to print (default stdout).

    Returns:
        ``{"cash": ..., "value": ..., "trades": closed trades}`` at the end of the run.
    """
    store = MT5Store(url=url, login=login, password=password)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.setbroker(store.getbroker())
    cerebro.adddata(store.getdata(dataname=symbol, timeframe=bt.TimeFrame.Minutes, compression=1,
                                  backfill_bars=20))
    cerebro.addstrategy(DemoCross, bars=bars, out=out)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    print(f"Backtrader live on {symbol} M1 ({_dt.datetime.now(_dt.UTC):%H:%M:%S} UTC)", file=out)
    strat = cerebro.run()[0]
    broker = cerebro.getbroker()
    analysis = strat.analyzers.trades.get_analysis()
    total = analysis.get("total", {}).get("closed", 0) if analysis else 0
    print(f"  cash {broker.getcash():.2f}, value {broker.getvalue():.2f}, closed trades {total}", file=out)
    return {"cash": broker.getcash(), "value": broker.getvalue(), "trades": float(total)}
