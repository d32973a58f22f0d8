"""download_async()/download() against the real client and the simulator over loopback."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pymt5_core.client import MT5Client
from pymt5_core.download import download_async
from pymt5_core.errors import InvalidRequest
from pymt5_core.sim import SimServer
from pymt5_core.sim.market.clock import VirtualClock

# The module object even when the package exports the function under the same name.
_DOWNLOAD_MODULE = importlib.import_module("pymt5_core.download")

NOW = 1_710_331_200  # Wednesday 2024-03-13 12:00 UTC: markets open
DAY = 86_400
SIM_NOW = NOW + 1800  # the simulator's clock: half-way through the 12:00 H1 bar


@pytest.fixture
async def client() -> AsyncIterator[MT5Client]:
    clock = VirtualClock(0.0, start_ms=SIM_NOW * 1000)
    async with SimServer(seed=1, clock=clock) as sim, MT5Client(sim.url, reconnect=False) as c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        yield c


class Counting:
    """Wraps a client and records every bars() request download makes."""

    def __init__(self, client: MT5Client) -> None:
        self._client = client
        self.calls: list[tuple[str, str, int, int]] = []
        self.server_time_offset = client.server_time_offset

    async def bars(self, symbol: str, timeframe: str, start: int, end: int) -> Any:
        self.calls.append((symbol, timeframe, start, end))
        return await self._client.bars(symbol, timeframe, start, end)


@pytest.fixture(autouse=True)
def _sim_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_DOWNLOAD_MODULE, "_clock", lambda: SIM_NOW)


async def test_one_symbol_equals_client_bars(client: MT5Client) -> None:
    df = await download_async("EURUSD", "M15", NOW - 2 * DAY, NOW - 1, client=client, progress=False)
    bars = await client.bars("EURUSD", "M15", NOW - 2 * DAY, NOW - 1)
    assert len(df) == len(bars) > 150
    assert str(df.index.tz) == "UTC" and df.index.is_monotonic_increasing and df.index.name == "time"
    assert (df.index == pd.to_datetime(bars["time"], unit="s", utc=True)).all()
    for name in ("open", "high", "low", "close", "tick_volume", "spread", "real_volume"):
        assert np.array_equal(df[name].to_numpy(), bars[name]), name


async def test_many_symbols_share_one_index(client: MT5Client) -> None:
    symbols = ["EURUSD", "GBPUSD", "USDJPY"]
    df = await download_async(symbols, "H1", NOW - 3 * DAY, NOW - 1, client=client, progress=False)
    assert df.columns.names == ["field", "symbol"]
    assert df.shape[1] == 7 * 3 and list(df["close"].columns) == symbols
    gbp = await client.bars("GBPUSD", "H1", NOW - 3 * DAY, NOW - 1)
    assert np.array_equal(df["close"]["GBPUSD"].dropna().to_numpy(), gbp["close"])
    by_ticker = await download_async(symbols, "H1", NOW - 3 * DAY, NOW - 1, client=client, progress=False,
                                     group_by="ticker")
    assert by_ticker.columns.names == ["symbol", "field"]
    pd.testing.assert_series_equal(by_ticker["USDJPY"]["close"], df["close"]["USDJPY"], check_names=False)


async def test_h2_is_aggregated_from_h1(client: MT5Client) -> None:
    h2 = await download_async("EURUSD", "H2", NOW - DAY, NOW - 1, client=client, progress=False)
    h1 = await client.bars("EURUSD", "H1", NOW - DAY, NOW - 1)
    assert len(h2) == 12 and (h2.index.hour % 2 == 0).all()
    assert h2["open"].iloc[0] == h1["open"][0] and h2["close"].iloc[0] == h1["close"][1]
    assert h2["high"].iloc[0] == h1["high"][:2].max() and h2["tick_volume"].iloc[0] == h1["tick_volume"][:2].sum()


async def test_cache_fetches_only_missing_ranges(client: MT5Client, tmp_path: Path) -> None:
    counting = Counting(client)
    first = await download_async("EURUSD", "H1", NOW - 4 * DAY, NOW - 2 * DAY, client=counting,  # type: ignore[arg-type]
                                 cache_dir=tmp_path, progress=False)
    assert len(counting.calls) == 1
    counting.calls.clear()
    again = await download_async("EURUSD", "H1", NOW - 4 * DAY, NOW - 2 * DAY, client=counting,  # type: ignore[arg-type]
                                 cache_dir=tmp_path, progress=False)
    assert counting.calls == []
    pd.testing.assert_frame_equal(first, again)
    wider = await download_async("EURUSD", "H1", NOW - 5 * DAY, NOW - 1, client=counting,  # type: ignore[arg-type]
                                 cache_dir=tmp_path, progress=False)
    assert counting.calls == [("EURUSD", "H1", NOW - 5 * DAY, NOW - 4 * DAY - 1),
                              ("EURUSD", "H1", NOW - 2 * DAY + 1, NOW - 1)]
    direct = await client.bars("EURUSD", "H1", NOW - 5 * DAY, NOW - 1)
    assert np.array_equal(wider["close"].to_numpy(), direct["close"])


async def test_cache_refetches_the_forming_bar(client: MT5Client, tmp_path: Path) -> None:
    counting = Counting(client)
    await download_async("EURUSD", "H1", NOW - DAY, NOW + 3600, client=counting, cache_dir=tmp_path,  # type: ignore[arg-type]
                         progress=False)
    counting.calls.clear()
    await download_async("EURUSD", "H1", NOW - DAY, NOW + 3600, client=counting, cache_dir=tmp_path,  # type: ignore[arg-type]
                         progress=False)
    assert counting.calls == [("EURUSD", "H1", NOW, NOW + 3600)]  # the bar opened at NOW is still forming


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("EURUSD", "H1", pd.Timestamp("2024-03-01"), None), "naive"),
        (("EURUSD", "H1", NOW, NOW - DAY), "before start"),
        (("EURUSD", "M7", NOW - DAY, NOW), "unknown timeframe"),
    ],
)
async def test_bad_input_is_refused_before_sending(client: MT5Client, args: tuple[Any, ...], message: str) -> None:
    counting = Counting(client)
    with pytest.raises(InvalidRequest, match=message):
        await download_async(*args, client=counting, progress=False)  # type: ignore[arg-type]
    assert counting.calls == []


async def test_unknown_symbol_is_an_invalid_request(client: MT5Client) -> None:
    with pytest.raises(InvalidRequest):
        await download_async("NOSUCH", "H1", NOW - DAY, NOW, client=client, progress=False)
