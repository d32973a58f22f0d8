"""vectorbt adapter benchmark: ``MT5Data.download`` vs ``pymt5_core.download`` of the same bars.

5 symbols x 1 year of M1 bars from the simulator over loopback (manual clock, seed 1), each way run
``--rounds`` times alternately after one warm-up of each; the best times and their ratio are printed.
The difference is the adapter's own work: vectorbt column names, float64 columns, index alignment
across symbols (``Data.from_data``) and the per-symbol session handling.

Run: ``PYTHONPATH=.:adapters/vectorbt python benchmarks/bench_vectorbt.py [--days 365] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

try:
    from pymt5_vectorbt import MT5Data
except ImportError:  # a checkout without the adapter installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adapters" / "vectorbt"))
    from pymt5_vectorbt import MT5Data

from pymt5_core.download import download

SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD"]
NOW = pd.Timestamp("2024-06-03 00:00", tz="UTC")


class _Sim:
    """The simulator with a manual clock on a daemon thread's event loop."""

    def __init__(self) -> None:
        from pymt5_core.sim import SimServer, VirtualClock

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = SimServer(seed=1, clock=VirtualClock.manual(int(NOW.timestamp() * 1000)))
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        acct = self.server.demo_account
        self.creds: dict[str, Any] = {"url": self.server.url, "login": acct.login, "password": acct.password}


def _timed(run: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sim = _Sim()
    start = NOW - pd.Timedelta(days=args.days)

    def core() -> pd.DataFrame:
        return download(SYMBOLS, "M1", start, NOW, progress=False, **sim.creds)

    def adapter() -> MT5Data:
        return MT5Data.download(SYMBOLS, timeframe="1m", start=start, end=NOW, show_progress=False,
                                missing_index="nan", **sim.creds)

    import warnings

    warnings.filterwarnings("ignore", message="Symbols have mismatching index")  # BTCUSD trades on weekends
    core()
    adapter()
    core_times, adapter_times = [], []
    for _ in range(args.rounds):
        seconds, frame = _timed(core)
        core_times.append(seconds)
        seconds, data = _timed(adapter)
        adapter_times.append(seconds)
    bars = int(frame["close"].notna().sum().sum())
    rows = len(data.wrapper.index)
    assert bars == int(data.get("Close").notna().sum().sum()), "both ways must return the same bars"
    result = {
        "symbols": len(SYMBOLS), "days": args.days, "bars": bars, "aligned_rows": rows,
        "core_s": round(min(core_times), 3), "mt5data_s": round(min(adapter_times), 3),
        "ratio_mt5data_over_core": round(min(adapter_times) / min(core_times), 3),
        "mt5data_bars_per_s": round(bars / min(adapter_times)),
    }
    print(f"{len(SYMBOLS)} symbols x {args.days} days of M1: {bars:,} bars ({rows:,} aligned rows)")
    print(f"pymt5_core.download  {result['core_s']:.2f} s")
    print(f"MT5Data.download     {result['mt5data_s']:.2f} s   ratio {result['ratio_mt5data_over_core']:.2f}x")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
