"""Backtrader adapter benchmarks against the simulator over loopback.

1. Latency from a tick pushed by the simulator to the strategy's ``next()`` (``use_ticks=True`` feed,
   manual clock): the clock is advanced in 250 ms steps, and the time from the ``sim.advance()`` call to
   the ``next()`` of the step's first tick is measured. The simulator's market is seeded, so the driver
   asks its price model which steps bring an EURUSD tick (about one in three at this hour) and waits for
   ``next()`` only on those; the other steps just move the clock. Before each timed step everything is
   left idle for ``--idle`` seconds, as between the ticks of a live feed: a tick that follows another at
   once finds threads and caches warm and arrives in less than half the time (see ``--idle 0``), while
   pauses from 0.05 s to 0.5 s give the same figures within the noise. Reports p50 and p99 in
   milliseconds, and the due ticks that never reached ``next()`` (``missed``, expected 0).
2. Cost of the adapter vs Backtrader on a plain ``PandasData`` feed of the same bars: a Cerebro run
   over ``historical=True`` MT5 bars (download included) against a run over a DataFrame of those bars,
   same SMA strategy; after a warm-up, ``--runs`` of each in alternation, the best of each kept (a run
   is about 0.1 s, so a single one swings with the machine's load). The downloads after the warm-up are
   served from the simulator's cache of finished pages. Reports both times and their ratio.

Run: ``PYTHONPATH=.:adapters/backtrader python benchmarks/bench_backtrader.py [--steps 300] [--idle 0.05]
[--bars 5000]``.
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


STEP_MS = 250
WARMUP_TICKS = 5  # ticks delivered before timing starts (the subscription's first moments)
TICK_TIMEOUT_S = 5.0  # a due tick that has not reached next() by then is counted as missed
MAX_MISSED = 10  # stop early when ticks go missing: the figures would describe a broken feed


def _epoch_ms(stamp: dt.datetime) -> int:
    return round((stamp - dt.datetime(1970, 1, 1)).total_seconds() * 1000)


class _Stamp(bt.Strategy):
    params = (("seen", None), ("live", None))

    def notify_data(self, data: Any, status: int, *args: Any, **kwargs: Any) -> None:
        if status == data.LIVE:
            self.p.live.set()

    def next(self) -> None:
        if self.data._laststatus == self.data.LIVE:
            self.p.seen(time.perf_counter(), _epoch_ms(self.data.datetime.datetime(0)))


def bench_latency(steps: int, idle: float) -> dict[str, float]:
    from pymt5_core.sim.market.clock import VirtualClock

    sim = _Sim(VirtualClock.manual(MONDAY_MS))
    account = sim.sim.demo_account
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password)
    live = threading.Event()
    got = threading.Event()
    expected = [-1]  # time of the tick the driver waits for (ms)
    arrival: list[float] = []

    def seen(t: float, tick_ms: int) -> None:
        if tick_ms == expected[0] and not got.is_set():
            arrival.append(t)
            got.set()

    async def first_due() -> int | None:
        """Time of the first EURUSD tick the next step will push, if any (same interval as the pump's)."""
        now = sim.sim.clock.now_ms()
        due = sim.sim.model.ticks("EURUSD", now + 1, now + STEP_MS)
        return int(due["time_ms"][0]) if len(due) else None

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(store.getdata(dataname="EURUSD", use_ticks=True, timeframe=bt.TimeFrame.Minutes,
                                  qcheck=0.001, first_tick_wait=0.05))
    cerebro.addstrategy(_Stamp, seen=seen, live=live)
    latencies: list[float] = []
    counts = {"clock_steps": 0, "missed": 0, "warmup": 0}
    failure: list[BaseException] = []

    def drive() -> None:
        try:
            if not live.wait(60):
                raise RuntimeError("the feed never went LIVE")
            while len(latencies) + counts["missed"] < steps and counts["clock_steps"] < steps * 50:
                if counts["missed"] >= MAX_MISSED:
                    break
                counts["clock_steps"] += 1
                tick_ms = sim.call(first_due())
                if tick_ms is None:
                    sim.call(sim.sim.advance(STEP_MS))
                    continue
                got.clear()
                arrival.clear()
                expected[0] = tick_ms
                time.sleep(idle)
                t0 = time.perf_counter()
                sim.call(sim.sim.advance(STEP_MS))
                delivered = got.wait(TICK_TIMEOUT_S)
                if counts["warmup"] < WARMUP_TICKS:
                    counts["warmup"] += 1
                elif delivered:
                    latencies.append((arrival[0] - t0) * 1000)
                else:
                    counts["missed"] += 1
        except BaseException as exc:  # re-raised on the main thread once Cerebro has stopped
            failure.append(exc)
        finally:
            cerebro.runstop()

    runner = threading.Thread(target=drive)
    sim.call(sim.sim.advance(1000))
    runner.start()
    cerebro.run()
    runner.join()
    sim.close()
    if failure:
        raise failure[0]
    latencies.sort()
    return {"ticks": len(latencies), "missed": counts["missed"], "clock_steps": counts["clock_steps"],
            "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


class _Sma(bt.Strategy):
    def __init__(self) -> None:
        self.sma = bt.ind.SMA(period=20)
        self.n = 0

    def next(self) -> None:
        self.n += 1


def bench_overhead(bars: int, runs: int) -> dict[str, float]:
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

    def adapter_run() -> tuple[float, int]:
        return run(store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, historical=True,
                                 fromdate=start, todate=end))

    adapter_run()  # warm-up: later downloads are served from the simulator's cache of finished pages
    store.start()
    try:
        rates = store.run(store.client.bars("EURUSD", "M1", start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)))
    finally:
        store.stop()
    frame = pd.DataFrame({k: rates[k] for k in ("open", "high", "low", "close", "tick_volume")})
    frame.index = pd.to_datetime(rates["time"] + 60, unit="s")
    frame = frame.rename(columns={"tick_volume": "volume"})
    adapter: list[float] = []
    plain: list[float] = []
    for _ in range(runs):  # alternated, so that load from elsewhere on the machine hits both alike
        adapter_s, n_adapter = adapter_run()
        pandas_s, n_pandas = run(bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes))
        adapter.append(adapter_s)
        plain.append(pandas_s)
    sim.close()
    return {"bars": n_adapter, "bars_pandas": n_pandas, "runs": runs, "adapter_s": min(adapter),
            "pandas_s": min(plain), "ratio": min(adapter) / min(plain)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="ticks to time")
    parser.add_argument("--idle", type=float, default=0.05, help="seconds of quiet before each timed tick")
    parser.add_argument("--bars", type=int, default=5000,
                        help="minutes of M1 history for the overhead run (the window's weekend holds no bars)")
    parser.add_argument("--runs", type=int, default=5, help="overhead runs of each feed (the best is kept)")
    args = parser.parse_args()
    results = {"latency": bench_latency(args.steps, args.idle), "overhead": bench_overhead(args.bars, args.runs)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
