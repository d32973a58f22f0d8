"""Backtrader adapter benchmarks against the simulator over loopback.

1. Latency from a tick pushed by the simulator to the strategy's ``next()`` (``use_ticks=True`` feed,
   manual clock): the clock is advanced, and the time from the ``sim.advance()`` call to ``next()`` is
   measured for the first tick of each step. Reports p50 and p99 in milliseconds.
2. Cost of the adapter vs Backtrader on a plain ``PandasData`` feed of the same bars: one Cerebro run
   over ``historical=True`` MT5 bars (download included) against a run over a DataFrame of those bars,
   same SMA strategy. Reports both times and their ratio.

Run: ``PYTHONPATH=.:adapters/backtrader python benchmarks/bench_backtrader.py [--steps 300] [--bars 5000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import datetime as dt
import json
import statistics
import threading
import time
from typing import Any

import backtrader as bt
import pandas as pd
from pymt5_backtrader import MT5Store

MONDAY_MS = calendar.timegm(dt.datetime(2027, 3, 15, 10, 0).timetuple()) * 1000


class _Sim:
    def __init__(self, clock: Any) -> None:
        from pymt5_core.sim import SimServer

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.sim = SimServer(seed=1, clock=clock)
        self.call(self.sim.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.call(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


class _Stamp(bt.Strategy):
    params = (("seen", None),)

    def next(self) -> None:
        if self.data._laststatus == self.data.LIVE:
            self.p.seen(time.perf_counter())


def bench_latency(steps: int) -> dict[str, float]:
    from pymt5_core.sim.market.clock import VirtualClock

    sim = _Sim(VirtualClock.manual(MONDAY_MS))
    account = sim.sim.demo_account
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password)
    got = threading.Event()
    first: list[float] = []

    def seen(t: float) -> None:
        if not got.is_set():
            first.append(t)
            got.set()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(store.getdata(dataname="EURUSD", use_ticks=True, timeframe=bt.TimeFrame.Minutes,
                                  qcheck=0.001, first_tick_wait=0.05))
    cerebro.addstrategy(_Stamp, seen=seen)
    latencies: list[float] = []

    def drive() -> None:
        for _ in range(steps * 20):
            if len(latencies) >= steps:
                break
            got.clear()
            first.clear()
            t0 = time.perf_counter()
            sim.call(sim.sim.advance(250))
            if got.wait(0.5):
                latencies.append((first[0] - t0) * 1000)
        cerebro.runstop()

    runner = threading.Thread(target=drive)
    sim.call(sim.sim.advance(1000))
    runner.start()
    cerebro.run()
    runner.join()
    sim.close()
    latencies.sort()
    return {"ticks": len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


class _Sma(bt.Strategy):
    def __init__(self) -> None:
        self.sma = bt.ind.SMA(period=20)
        self.n = 0

    def next(self) -> None:
        self.n += 1


def bench_overhead(bars: int) -> dict[str, float]:
    from pymt5_core.sim.market.clock import VirtualClock

    sim = _Sim(VirtualClock.manual(MONDAY_MS))
    account = sim.sim.demo_account
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password)
    end = dt.datetime(2026, 3, 16, 9, 0)
    start = end - dt.timedelta(minutes=bars)

    def run(data: Any) -> tuple[float, int]:
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(data)
        cerebro.addstrategy(_Sma)
        t0 = time.perf_counter()
        strat = cerebro.run()[0]
        return time.perf_counter() - t0, strat.n

    adapter_s, n_adapter = run(store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, historical=True,
                                             fromdate=start, todate=end))
    store.start()
    try:
        rates = store.run(store.client.bars("EURUSD", "M1", start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)))
    finally:
        store.stop()
    frame = pd.DataFrame({k: rates[k] for k in ("open", "high", "low", "close", "tick_volume")})
    frame.index = pd.to_datetime(rates["time"] + 60, unit="s")
    frame = frame.rename(columns={"tick_volume": "volume"})
    pandas_s, n_pandas = run(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
    sim.close()
    return {"bars": n_adapter, "bars_pandas": n_pandas, "adapter_s": adapter_s, "pandas_s": pandas_s,
            "ratio": adapter_s / pandas_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="ticks to time")
    parser.add_argument("--bars", type=int, default=5000, help="M1 bars for the overhead run")
    args = parser.parse_args()
    results = {"latency": bench_latency(args.steps), "overhead": bench_overhead(args.bars)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
