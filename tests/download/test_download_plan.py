"""download() planning, cache and validation on a small fake client (no network)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pymt5_core._timeframes import RATES_DTYPE, aggregate, parse_timeframe
from pymt5_core.cache import BarCache, CachedBars
from pymt5_core.download import download, to_unix
from pymt5_core.errors import InvalidRequest

# The module object even when the package exports the function under the same name.
_DOWNLOAD_MODULE = importlib.import_module("pymt5_core.download")

T0 = 1_700_006_400  # 2023-11-15 00:00 UTC
_PERIOD = {"M1": 60, "M5": 300, "H1": 3600, "H4": 14_400, "D1": 86_400}


class FakeClient:
    """A blocking client with deterministic bars up to ``now``; records every bars() call."""

    server_time_offset = 0
    url = "ws://fake.example:1"

    current: FakeClient | None = None

    def __init__(self, now: int) -> None:
        self.now = now
        FakeClient.current = self
        self.calls: list[tuple[str, str, int, int]] = []

    def bars(self, symbol: str, timeframe: str, start: int, end: int) -> np.ndarray:
        self.calls.append((symbol, timeframe, start, end))
        p = _PERIOD[timeframe]
        first = -(-max(start, T0 - 400 * 86_400) // p) * p
        times = np.arange(first, min(end, self.now) + 1, p, dtype=np.int64)
        bars = np.zeros(len(times), RATES_DTYPE)
        bars["time"] = times
        base = 1.0 + (times - T0) / 1e7 + (0.5 if symbol == "GBPUSD" else 0.0)
        bars["open"], bars["close"] = base, base + 1e-4
        bars["high"], bars["low"] = base + 2e-4, base - 1e-4
        bars["tick_volume"] = 10
        if len(bars) and self.now < bars["time"][-1] + p:  # the forming bar changes as time passes
            bars["close"][-1] = base[-1] + self.now % 97 * 1e-6
        return bars


@pytest.fixture(autouse=True)
def _fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeClient.current = None
    monkeypatch.setattr(_DOWNLOAD_MODULE, "_clock", lambda: FakeClient.current.now if FakeClient.current else T0)


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_one_symbol_gives_flat_columns_and_utc_index() -> None:
    client = FakeClient(now=T0 + 10 * 86_400)
    df = download("EURUSD", "H1", _utc(T0), _utc(T0 + 86_400), client=client, progress=False)
    assert list(df.columns) == ["open", "high", "low", "close", "tick_volume", "spread", "real_volume"]
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC" and df.index.name == "time"
    assert len(df) == 25 and df.index[0] == pd.Timestamp(T0, unit="s", tz="UTC")


def test_many_symbols_give_field_symbol_columns_or_symbol_field() -> None:
    client = FakeClient(now=T0 + 10 * 86_400)
    df = download(["EURUSD", "GBPUSD"], "H1", _utc(T0), _utc(T0 + 86_400), client=client, progress=False)
    assert df.columns.names == ["field", "symbol"] and df.shape == (25, 14)
    assert (df["close"]["GBPUSD"] - df["close"]["EURUSD"]).round(9).eq(0.5).all()
    by_ticker = download("EURUSD GBPUSD", "H1", _utc(T0), _utc(T0 + 86_400), client=client, progress=False,
                         group_by="ticker")
    assert by_ticker.columns.names == ["symbol", "field"]
    assert by_ticker["GBPUSD"]["open"].equals(df["open"]["GBPUSD"])


def test_aggregated_timeframe_is_built_from_the_base_period() -> None:
    client = FakeClient(now=T0 + 10 * 86_400)
    h2 = download("EURUSD", "H2", _utc(T0 + 3600), _utc(T0 + 86_400), client=client, progress=False)
    h1 = download("EURUSD", "H1", _utc(T0), _utc(T0 + 86_400), client=client, progress=False)
    assert {c[1] for c in client.calls} == {"H1"}
    assert h2.index[0] == pd.Timestamp(T0 + 7200, unit="s", tz="UTC")  # the 00:00 bar opens before start
    assert h2["high"].iloc[0] == h1["high"].iloc[2:4].max() and h2["tick_volume"].iloc[0] == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2024, 1, 1)}, "naive"),
        ({"start": _utc(T0 + 86_400), "end": _utc(T0)}, "before start"),
        ({"timeframe": "M7"}, "unknown timeframe"),
        ({"symbols": []}, "no symbol"),
        ({"group_by": "field"}, "group_by"),
    ],
)
def test_bad_input_raises_before_anything_is_sent(kwargs: dict[str, Any], message: str) -> None:
    client = FakeClient(now=T0)
    args: dict[str, Any] = {"symbols": "EURUSD", "timeframe": "H1", "start": _utc(T0 - 86_400), "end": _utc(T0)}
    args.update(kwargs)
    with pytest.raises(InvalidRequest, match=message):
        download(args.pop("symbols"), client=client, progress=False, **args)
    assert client.calls == []


def test_missing_credentials_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidRequest, match="PYMT5_URL"):
        download("EURUSD", "H1", _utc(T0 - 86_400), _utc(T0))


def test_strings_are_utc_and_naive_datetimes_are_refused() -> None:
    assert to_unix("2023-11-15") == T0
    assert to_unix("2023-11-15T01:00:00+01:00") == T0
    with pytest.raises(InvalidRequest, match="naive"):
        to_unix(datetime(2023, 11, 15))


def test_cache_fetches_only_what_is_missing(tmp_path: Path) -> None:
    client = FakeClient(now=T0 + 30 * 86_400)
    first = download("EURUSD", "H1", _utc(T0 + 5 * 86_400), _utc(T0 + 10 * 86_400), client=client,
                     cache_dir=tmp_path, progress=False)
    assert len(client.calls) == 1
    client.calls.clear()
    again = download("EURUSD", "H1", _utc(T0 + 5 * 86_400), _utc(T0 + 10 * 86_400), client=client,
                     cache_dir=tmp_path, progress=False)
    assert client.calls == [] and again.equals(first)
    wider = download("EURUSD", "H1", _utc(T0 + 3 * 86_400), _utc(T0 + 12 * 86_400), client=client,
                     cache_dir=tmp_path, progress=False)
    assert client.calls == [("EURUSD", "H1", T0 + 3 * 86_400, T0 + 5 * 86_400 - 1),
                            ("EURUSD", "H1", T0 + 10 * 86_400 + 1, T0 + 12 * 86_400)]
    client.calls.clear()
    assert wider.equals(download("EURUSD", "H1", _utc(T0 + 3 * 86_400), _utc(T0 + 12 * 86_400), client=client,
                                 progress=False))


def test_cache_refetches_the_forming_bar(tmp_path: Path) -> None:
    client = FakeClient(now=T0 + 86_400 + 1800)  # mid-way through the 24:00 H1 bar
    end = _utc(T0 + 2 * 86_400)
    download("EURUSD", "H1", _utc(T0), end, client=client, cache_dir=tmp_path, progress=False)
    client.calls.clear()
    client.now += 3600 * 3
    df = download("EURUSD", "H1", _utc(T0), end, client=client, cache_dir=tmp_path, progress=False)
    assert client.calls == [("EURUSD", "H1", T0 + 86_400, T0 + 2 * 86_400)]  # from the forming bar on
    assert df.index[-1] == pd.Timestamp(T0 + 86_400 + 3 * 3600, unit="s", tz="UTC")
    fresh = FakeClient(now=client.now).bars("EURUSD", "H1", T0, T0 + 2 * 86_400)
    assert np.array_equal(df["close"].to_numpy(), fresh["close"])


def test_cache_missing_ranges() -> None:
    bars = np.zeros(2, RATES_DTYPE)
    bars["time"] = [1000, 4600]
    cached = CachedBars(bars, 1000, 9000, fetched_at=9000)
    assert BarCache.missing(cached, 1000, 9000, 3600) == []
    assert BarCache.missing(cached, 0, 9000, 3600) == [(0, 999)]
    assert BarCache.missing(cached, 0, 20_000, 3600) == [(0, 999), (9001, 20_000)]
    assert BarCache.missing(cached, 20_000, 30_000, 3600) == [(20_000, 30_000)]  # disjoint: whole range
    forming = CachedBars(bars, 1000, 5000, fetched_at=5000)  # the 4600 bar closes at 8200, after the fetch
    assert BarCache.missing(forming, 1000, 9000, 3600) == [(4600, 9000)]


def test_aggregate_matches_a_groupby() -> None:
    rng = np.random.default_rng(7)
    bars = np.zeros(500, RATES_DTYPE)
    bars["time"] = T0 + np.sort(rng.choice(2000, 500, replace=False)) * 60
    bars["open"], bars["high"], bars["low"], bars["close"] = rng.random((4, 500))
    bars["tick_volume"] = rng.integers(1, 100, 500)
    bars["spread"] = rng.integers(0, 30, 500)
    out = aggregate(bars, parse_timeframe("M6").seconds)
    df = pd.DataFrame(bars)
    g = df.groupby(df["time"] // 360 * 360)
    assert np.array_equal(out["time"], g.size().index.to_numpy())
    assert np.allclose(out["high"], g["high"].max()) and np.allclose(out["low"], g["low"].min())
    assert np.allclose(out["open"], g["open"].first()) and np.allclose(out["close"], g["close"].last())
    assert np.array_equal(out["tick_volume"], g["tick_volume"].sum())
    assert np.array_equal(out["spread"], g["spread"].min())
