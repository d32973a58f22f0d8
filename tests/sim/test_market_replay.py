"""Replay of recorded bars and ticks in place of the synthetic market."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pymt5_core.sim.market import Catalogue, PriceModel, ReplayData
from pymt5_core.wire.enums import Period

START = int(datetime(2024, 6, 4, 9, 0, tzinfo=UTC).timestamp())
CATALOGUE = Catalogue.default()


def recorded_bars(minutes: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    close = 1.07 + np.cumsum(rng.normal(0, 0.0002, minutes))
    open_ = np.concatenate([[1.07], close[:-1]])
    wiggle = np.abs(rng.normal(0, 0.0001, (2, minutes)))
    return pd.DataFrame(
        {
            "time": pd.to_datetime(START + 60 * np.arange(minutes), unit="s").strftime("%Y-%m-%dT%H:%M:%S"),
            "open": open_,
            "high": np.maximum(open_, close) + wiggle[0],
            "low": np.minimum(open_, close) - wiggle[1],
            "close": close,
            "tick_volume": rng.integers(1, 50, minutes),
        }
    )


def recorded_ticks(symbol: str, price: float, count: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(len(symbol))
    times = START + np.sort(rng.uniform(0, 1_800, count)).round(3)
    bid = np.round(price + np.cumsum(rng.normal(0, price * 1e-5, count)), 2)
    return pd.DataFrame({"symbol": symbol, "time": times, "bid": bid, "ask": bid + 0.25, "volume": 1.0})


def test_replayed_csv_bars_replace_the_model_inside_their_range(tmp_path: Path) -> None:
    path = tmp_path / "eurusd.csv"
    recorded_bars().to_csv(path, index=False)
    model = PriceModel(CATALOGUE, seed=4, replay=ReplayData.from_csv(path, symbol="EURUSD"))
    synthetic = PriceModel(CATALOGUE, seed=4)

    bars = model.m1("EURUSD", START - 3_600, START + 3 * 3_600 - 1)
    inside = bars[(bars["time"] >= START) & (bars["time"] < START + 7_200)]
    frame = recorded_bars()
    np.testing.assert_array_equal(inside["close"], frame["close"].round(5))
    assert np.all(inside["tick_volume"] >= frame["tick_volume"])
    assert np.all(inside["spread"] == CATALOGUE["EURUSD"].spread_points)
    outside = bars[bars["time"] < START]
    np.testing.assert_array_equal(outside, synthetic.m1("EURUSD", START - 3_600, START - 1))
    assert len(bars) == 4 * 60

    ticks = model.ticks("EURUSD", START * 1000, (START + 600) * 1000 - 1)
    for bar in inside[:10]:
        bids = ticks["bid"][ticks["time_ms"] // 60_000 * 60 == bar["time"]]
        assert (bids[0], bids.max(), bids.min(), bids[-1]) == tuple(bar[["open", "high", "low", "close"]])
        assert len(bids) == bar["tick_volume"]

    hour = model.bars("EURUSD", Period.H1, START, START)[0]
    assert (hour["open"], hour["close"]) == (inside["open"][0], inside["close"][59])


def test_replayed_parquet_ticks_make_the_bars_and_the_quotes(tmp_path: Path) -> None:
    path = tmp_path / "ticks.parquet"
    frame = pd.concat([recorded_ticks("ESZ7", 5300.0), recorded_ticks("XAUUSD", 2350.0)])
    frame.to_parquet(path)
    replay = ReplayData.from_parquet(path)
    assert set(replay.symbols) == {"ESZ7", "XAUUSD"}
    model = PriceModel(CATALOGUE, seed=4, replay=replay)

    ticks = model.ticks("ESZ7", START * 1000, (START + 1_800) * 1000)
    recorded = frame[frame["symbol"] == "ESZ7"]
    assert len(ticks) == len(recorded)
    np.testing.assert_array_equal(ticks["bid"], recorded["bid"])
    assert np.all(ticks["volume"] == 100_000_000) and np.all(ticks["fields"] == 11)

    bars = model.m1("ESZ7", START, START + 1_799)
    assert len(bars) == 30 and bars["tick_volume"].sum() == len(recorded)
    assert bars["open"][0] == ticks["bid"][0] and bars["real_volume"].sum() == len(recorded)
    assert np.all(bars["spread"] == 25)

    quote = model.quote_at("XAUUSD", (START + 900) * 1000)
    gold = frame[(frame["symbol"] == "XAUUSD") & (frame["time"] <= START + 900)].iloc[-1]
    assert quote is not None and quote.bid == gold["bid"] and quote.time_ms == round(gold["time"] * 1000)


def test_replay_rejects_data_it_cannot_use(tmp_path: Path) -> None:
    bars = recorded_bars(5)
    with pytest.raises(ValueError, match="symbol"):
        ReplayData.from_frame(bars)
    with pytest.raises(ValueError, match="neither"):
        ReplayData.from_frame(bars[["time", "open"]], symbol="EURUSD")
    shifted = bars.assign(time=START + 30 + 60 * np.arange(5))
    with pytest.raises(ValueError, match="whole minutes"):
        ReplayData.from_frame(shifted, symbol="EURUSD")
    with pytest.raises(KeyError, match="NOPE"):
        PriceModel(CATALOGUE, replay=ReplayData.from_frame(bars, symbol="NOPE"))
    broken = ReplayData.from_frame(bars.assign(high=bars["low"] - 0.001), symbol="EURUSD")
    with pytest.raises(ValueError, match="high/low"):
        PriceModel(CATALOGUE, replay=broken).m1("EURUSD", START, START + 600)
