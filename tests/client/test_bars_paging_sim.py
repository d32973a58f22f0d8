"""Paged bars downloads against the simulator: ``bars_df`` decodes pages as they come, like ``bars``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from pymt5_core.client import MT5Client
from pymt5_core.rates import rates_frame
from pymt5_core.sim import SimServer
from pymt5_core.wire.enums import Period

#: The simulator clock at the start of every test (see conftest).
START = datetime(2026, 11, 18, 12, tzinfo=UTC)


async def test_bars_df_over_many_pages_equals_the_rates_frame_of_bars(
    sim: SimServer, make_client: Callable[..., MT5Client]
) -> None:
    c = make_client(sim.url, bars_per_request=200)
    async with c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        start, end = START - timedelta(days=6), START - timedelta(days=1)
        by_range = await c.bars("EURUSD", "M5", start, end)
        df_range = await c.bars_df("EURUSD", "M5", start, end)
        by_count = await c.bars("EURUSD", "M1", end=end, count=5_000)
        df_count = await c.bars_df("EURUSD", "M1", end=end, count=5_000)
        floored = await c.bars_df("EURUSD", "M1", start, end, count=10**9)  # a count far above the range
    truth = sim.model.bars("EURUSD", Period.M5, int(start.timestamp()), int(end.timestamp()), now_ms=sim.clock.now_ms())
    assert len(by_range) == len(truth) > 3 * 200
    np.testing.assert_array_equal(by_range["time"], truth["time"])
    np.testing.assert_array_equal(by_range["close"], truth["close"])
    assert len(by_count) == 5_000 and by_count["time"][-1] <= end.timestamp()
    pd.testing.assert_frame_equal(df_range, rates_frame(by_range), check_exact=True)
    pd.testing.assert_frame_equal(df_count, rates_frame(by_count), check_exact=True)
    m1 = sim.model.bars("EURUSD", Period.M1, int(start.timestamp()), int(end.timestamp()), now_ms=sim.clock.now_ms())
    assert len(floored) == len(m1) and (floored["close"].to_numpy() == m1["close"]).all()
    assert floored.index[0].timestamp() >= start.timestamp()
