"""Integration harness: a simulator on its own loop thread, and a scripted Backtrader strategy."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import backtrader as bt
import pytest

#: A Monday 10:00 UTC: forex sessions are open (the simulator closes them at weekends). It lies in the
#: future so that the client's notion of "now" (the later of wall time and server time) is the server's.
MONDAY_MS = calendar.timegm(dt.datetime(2027, 3, 15, 10, 0).timetuple()) * 1000
#: Virtual seconds per real second: one M1 bar every 0.1 s.
SPEED = 600.0


class SimThread:
    """A :class:`SimServer` running on a background event loop, driven from synchronous test code."""

    def __init__(self, **kwargs: Any) -> None:
        from pymt5_core.sim import SimServer
        from pymt5_core.sim.market.clock import VirtualClock

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)
        self._thread.start()
        if "clock" not in kwargs:
            kwargs["clock"] = VirtualClock(speed=kwargs.pop("speed", SPEED), start_ms=MONDAY_MS)
        kwargs.setdefault("seed", 1)

        async def start() -> Any:
            sim = SimServer(**kwargs)
            await sim.start()
            return sim

        self.sim = self.call(start())

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def on_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the simulator's loop (engine state is only touched there)."""

        async def run() -> Any:
            return fn(*args)

        return self.call(run())

    def close(self) -> None:
        self.call(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def make_sim():
    pytest.importorskip("pymt5_core.client", reason="blocked on pymt5_core.client (not landed yet)")
    sims: list[SimThread] = []

    def factory(**kwargs: Any) -> SimThread:
        sims.append(SimThread(**kwargs))
        return sims[-1]

    yield factory
    for s in sims:
        s.close()


class Scripted(bt.Strategy):
    """Records everything and calls ``script(strategy, live_bar_number)`` on each live bar.

    Params: ``script`` (None), ``max_live`` (30 live bars, then stop), ``on_store`` (None: called as
    ``on_store(strategy, msg)`` for each store notification, also while no bar arrives).
    The script sets ``self.finished = True`` to stop the run at the next bar.
    """

    params = (("script", None), ("max_live", 30), ("on_store", None))

    def __init__(self) -> None:
        self.orders: list[tuple[int, str, float, float]] = []  # (ref, status, executed size, price)
        self.trades: list[Any] = []
        self.statuses: list[str] = []
        self.store_msgs: list[str] = []
        self.bars: list[tuple[dt.datetime, float]] = []
        self.live_bars = 0
        self.finished = False
        self.state: dict[str, Any] = {}

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        self.statuses.append(data._getstatusname(status))

    def notify_store(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.store_msgs.append(msg)
        if self.p.on_store is not None:
            self.p.on_store(self, msg)

    def notify_order(self, order: Any) -> None:
        self.orders.append((order.ref, order.getstatusname(), order.executed.size, order.executed.price))

    def notify_trade(self, trade: Any) -> None:
        if trade.isclosed:
            self.trades.append(trade)

    def next(self) -> None:
        self.bars.append((self.data.datetime.datetime(0), self.data.close[0]))
        if self.data._laststatus != self.data.LIVE:
            return
        self.live_bars += 1
        if self.finished or self.live_bars > self.p.max_live:
            self.env.runstop()
            return
        if self.p.script is not None:
            self.p.script(self, self.live_bars)

    def statuses_of(self, ref: int) -> list[str]:
        return [s for r, s, _, _ in self.orders if r == ref]

    def last_status(self, ref: int) -> str:
        """The last notified status of order ``ref`` ("" before the first notification)."""
        statuses = self.statuses_of(ref)
        return statuses[-1] if statuses else ""


def run_cerebro(store: Any, strategy_kwargs: dict[str, Any], *, data_kwargs: dict[str, Any] | None = None,
                watchdog: float = 40.0) -> tuple[bt.Cerebro, Scripted]:
    """Run Cerebro with one MT5 feed and the scripted strategy; a watchdog stops a stuck run."""
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.setbroker(store.getbroker())
    kwargs = {"dataname": "EURUSD", "timeframe": bt.TimeFrame.Minutes, "compression": 1, "backfill_bars": 10,
              "qcheck": 0.2}
    kwargs.update(data_kwargs or {})
    cerebro.adddata(store.getdata(**kwargs))
    cerebro.addstrategy(Scripted, **strategy_kwargs)
    timer = threading.Timer(watchdog, cerebro.runstop)
    timer.start()
    try:
        strat = cerebro.run()[0]
    finally:
        timer.cancel()
    return cerebro, strat


@pytest.fixture
def scripted() -> type[Scripted]:
    """The recording strategy class."""
    return Scripted


@pytest.fixture
def run() -> Callable[..., tuple[bt.Cerebro, Scripted]]:
    """:func:`run_cerebro`."""
    return run_cerebro
