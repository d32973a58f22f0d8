"""Server-side CPU time to build the command 11 body for 1,000,000 M1 bars of a Forex symbol.

Run: ``python benchmarks/bench_sim_bars.py``. Each run starts from a fresh price model, so the time
includes the symbol's one-off daily path. The baseline is ``numpy.frombuffer`` + ``tobytes`` of the same
bytes, the least any server must spend to hand them over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from pymt5_core.sim.market import PriceModel
from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.enums import Period

BARS = 1_000_000
TARGET_S = 1.0
RUNS = 3
DAY = 86_400


def forex_range(start: int, bars: int) -> tuple[int, int]:
    """The range from Monday ``start`` that holds exactly ``bars`` M1 bars of a Monday-Friday 24h symbol."""
    weeks, rest = divmod(bars, 5 * 1440)
    days, minutes = divmod(rest, 1440)
    return start, start + weeks * 7 * DAY + days * DAY + minutes * 60 - 1


def best_cpu(task: Callable[[], object]) -> tuple[float, object]:
    """The lowest CPU time of a few runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(RUNS):
        started = time.process_time()
        result = task()
        best = min(best, time.process_time() - started)
    return best, result


def main() -> None:
    start, end = forex_range(int(datetime(2022, 1, 3, tzinfo=UTC).timestamp()), BARS)
    seconds, body = best_cpu(lambda: PriceModel(seed=1).bars_wire("EURUSD", Period.M1, start, end))
    assert isinstance(body, bytes)
    count = len(body) // LAYOUTS["Bar"].size
    baseline, _ = best_cpu(lambda: np.frombuffer(body, dtype=LAYOUTS["Bar"].dtype).tobytes())
    print(f"sim bars: {count:,} M1 bars in {seconds:.2f} s CPU (target <= {TARGET_S:.0f} s): "
          f"ratio {seconds / TARGET_S:.2f}")
    print(f"baseline frombuffer+tobytes of the same {len(body):,} bytes: {baseline * 1e3:.1f} ms CPU; "
          f"sim/baseline ratio {seconds / baseline:.0f}x")
    h1_seconds, h1_body = best_cpu(lambda: PriceModel(seed=1).bars_wire("EURUSD", Period.H1, start, end))
    assert isinstance(h1_body, bytes)
    print(f"sim bars: the same range as {len(h1_body) // 48:,} H1 bars in {h1_seconds:.2f} s CPU")


if __name__ == "__main__":
    main()
