"""MT5Data against a deterministic fake client: vectorbt semantics without a server."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import vectorbt as vbt
from pymt5_vectorbt import COLUMNS, MT5Data
from pymt5_vectorbt import data as data_module

from pymt5_core.errors import InvalidRequest, UnknownSymbol


def _download(client: Any, symbols: Any = ("EURUSD", "GBPUSD"), **kwargs: Any) -> MT5Data:
    kwargs = {"timeframe": "1h", "start": "2024-03-06 UTC", "end": "2024-03-09 UTC", "show_progress": False,
              **kwargs}
    return MT5Data.download(list(symbols) if isinstance(symbols, tuple) else symbols, client=client, **kwargs)


def test_download_gives_vectorbt_ohlcv_columns_on_a_utc_index(fake_client: Any) -> None:
    data = _download(fake_client)
    assert data.symbols == ["EURUSD", "GBPUSD"]
    for frame in data.data.values():
        assert tuple(frame.columns) == COLUMNS
        assert str(frame.index.tz) == "UTC"
        assert frame.index.is_unique and frame.index.is_monotonic_increasing
    close = data.get("Close")
    assert list(close.columns) == ["EURUSD", "GBPUSD"]
    assert close.index[0] == pd.Timestamp("2024-03-06", tz="UTC")
    assert close.index[-1] == pd.Timestamp("2024-03-08 20:00", tz="UTC")  # the forming bar at "now"
    assert data.wrapper.freq == pd.Timedelta(hours=1)
    assert not fake_client.closed  # a client the user passed stays open


def test_single_symbol_download_returns_the_frame_itself(fake_client: Any) -> None:
    data = _download(fake_client, "EURUSD")
    assert data.symbols == ["EURUSD"]
    assert isinstance(data.get(), pd.DataFrame)
    assert isinstance(data.get("Close"), pd.Series)


def test_symbols_with_different_sessions_are_aligned_with_nan_by_default(fake_client: Any) -> None:
    fake_client.now = pd.Timestamp("2024-03-11 02:00", tz="UTC")  # Monday: the weekend lies in the range
    with pytest.warns(UserWarning, match="mismatching index"):
        data = _download(fake_client, ["EURUSD", "BTCUSD"], end="2024-03-11 UTC")
    close = data.get("Close")
    weekend = close.loc["2024-03-09":"2024-03-10"]
    assert len(weekend) == 48
    assert weekend["EURUSD"].isna().all() and weekend["BTCUSD"].notna().all()


def test_missing_index_drop_keeps_only_common_bars(fake_client: Any) -> None:
    fake_client.now = pd.Timestamp("2024-03-11 02:00", tz="UTC")
    with pytest.warns(UserWarning, match="Dropping"):
        data = _download(fake_client, ["EURUSD", "BTCUSD"], end="2024-03-11 UTC", missing_index="drop")
    assert (data.get("Close").index.day_of_week < 5).all()
    assert data.get("Close").notna().all().all()


def test_update_appends_new_bars_and_replaces_the_forming_one(fake_client: Any) -> None:
    data = _download(fake_client, end=None)
    before = data.get("Close")
    fake_client.advance(hours=3)  # Friday 23:30
    fake_client.calls.clear()
    updated = data.update(client=fake_client)
    after = updated.get("Close")
    assert after.index.is_unique
    assert after.index[-1] == pd.Timestamp("2024-03-08 23:00", tz="UTC")
    assert len(after) == len(before) + 3
    pd.testing.assert_frame_equal(after.iloc[: len(before) - 1], before.iloc[:-1])  # closed bars untouched
    assert (after.loc[before.index[-1]] != before.iloc[-1]).all()  # the forming bar was replaced
    assert min(call[2] for call in fake_client.calls) == before.index[-1].timestamp()  # from the last bar on


def test_update_twice_without_new_bars_changes_nothing_but_the_last_bar(fake_client: Any) -> None:
    data = _download(fake_client, end=None)
    again = data.update(client=fake_client)
    pd.testing.assert_frame_equal(again.get("Open"), data.get("Open"))


def test_download_opens_one_session_for_all_symbols_and_closes_it(fake_client: Any, monkeypatch: Any) -> None:
    sessions: list[Any] = []

    def connect(url: str, login: int, password: str, options: dict[str, Any]) -> Any:
        sessions.append((url, options))
        fake_client.login(login, password)
        return fake_client

    monkeypatch.setattr(data_module, "_connect", connect)
    data = MT5Data.download(["EURUSD", "GBPUSD", "BTCUSD"], timeframe="H1", start="2024-03-08 UTC",
                            url="ws://x", login="123", password="pw", show_progress=False)
    assert sessions == [("ws://x", {})]
    assert fake_client.logins == [(123, "pw")] and fake_client.closed
    assert "client" not in data.download_kwargs

    fake_client.closed = False
    updated = data.update()  # reconnects with the stored credentials
    assert len(sessions) == 2 and fake_client.logins[-1] == (123, "pw") and fake_client.closed
    assert updated.get("Close").index.is_unique


def test_download_lists_the_symbols_once_and_refuses_unknown_ones_before_any_bars(fake_client: Any) -> None:
    listings: list[str] = []

    def symbols() -> list[Any]:
        listings.append("symbols")
        return [SimpleNamespace(name=name) for name in ("EURUSD", "GBPUSD", "BTCUSD")]

    fake_client.symbols = symbols
    _download(fake_client, ["EURUSD", "GBPUSD", "BTCUSD"])
    assert listings == ["symbols"]  # once for the download, not again for each symbol
    fake_client.calls.clear()
    with pytest.raises(UnknownSymbol) as info:
        _download(fake_client, ["EURUSD", "NOPE.X", "NADA.Y"])
    assert info.value.symbols == ("NOPE.X", "NADA.Y") and fake_client.calls == []


def test_credentials_come_from_vbt_settings(fake_client: Any, monkeypatch: Any) -> None:
    seen: list[str] = []
    def connect(url: str, login: int, password: str, options: dict[str, Any]) -> Any:
        seen.append(url)
        fake_client.login(login, password)
        return fake_client

    monkeypatch.setattr(data_module, "_connect", connect)
    cfg = vbt.settings.data["mt5"]
    monkeypatch.setitem(cfg, "url", "ws://from-settings")
    monkeypatch.setitem(cfg, "login", 7)
    monkeypatch.setitem(cfg, "password", "secret")
    MT5Data.download("EURUSD", timeframe="1d", start="2024-03-01 UTC", show_progress=False)
    assert seen == ["ws://from-settings"] and fake_client.logins == [(7, "secret")]


def test_settings_entry_survives_a_settings_reset() -> None:
    vbt.settings.reset()
    assert set(vbt.settings.data["mt5"]) >= {"url", "login", "password"}


def test_missing_credentials_raise_before_connecting(monkeypatch: Any) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(data_module, "_connect", pytest.fail)
    with pytest.raises(InvalidRequest, match="no server"):
        MT5Data.download("EURUSD", timeframe="1h", show_progress=False)
    with pytest.raises(InvalidRequest, match="no credentials"):
        MT5Data.download("EURUSD", timeframe="1h", url="ws://x", show_progress=False)


@pytest.mark.parametrize("timeframe", ["7m", "1y", "2M"])
def test_bad_timeframe_raises_value_error_before_any_request(fake_client: Any, timeframe: str) -> None:
    with pytest.raises(ValueError, match="unsupported timeframe"):
        _download(fake_client, timeframe=timeframe)
    assert fake_client.calls == []


def test_end_before_start_and_unparsable_dates_are_invalid_requests(fake_client: Any) -> None:
    with pytest.raises(InvalidRequest, match="before start"):
        _download(fake_client, start="2024-03-08 UTC", end="2024-03-01 UTC")
    with pytest.raises(InvalidRequest, match="cannot parse"):
        _download(fake_client, start="not a date at all")


def test_per_symbol_arguments_with_symbol_dict(fake_client: Any) -> None:
    start = vbt.symbol_dict({"EURUSD": "2024-03-07 UTC", "GBPUSD": "2024-03-08 UTC"})
    with pytest.warns(UserWarning, match="mismatching index"):
        data = _download(fake_client, start=start)
    assert data.data["EURUSD"]["Close"].first_valid_index() == pd.Timestamp("2024-03-07", tz="UTC")
    assert data.data["GBPUSD"]["Close"].first_valid_index() == pd.Timestamp("2024-03-08", tz="UTC")


def test_save_and_load_round_trip(fake_client: Any, tmp_path: Any) -> None:
    data = _download(fake_client)
    data.save(tmp_path / "mt5")
    loaded = MT5Data.load(tmp_path / "mt5")
    pd.testing.assert_frame_equal(loaded.get("Close"), data.get("Close"))


def test_ma_cross_backtest_runs_without_warnings(fake_client: Any) -> None:
    data = _download(fake_client, start="2024-02-01 UTC")
    close = data.get("Close")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast, slow = close.rolling(5).mean(), close.rolling(20).mean()
        pf = vbt.Portfolio.from_signals(close, fast.vbt.crossed_above(slow), fast.vbt.crossed_below(slow),
                                        freq=data.wrapper.freq, init_cash=10_000)
        stats = pf.stats(column="EURUSD")
    assert stats["Total Trades"] > 0


def test_end_none_is_the_servers_now_including_its_time_offset(fake_client: Any) -> None:
    fake_client.server_time_offset = 3 * 3600  # MT5 labels bars in server time, e.g. UTC+3
    before = pd.Timestamp.now(tz="UTC").timestamp()
    _download(fake_client, "EURUSD", end=None)
    requested_end = max(call[3] for call in fake_client.calls)
    assert before + 3 * 3600 - 1 <= requested_end <= pd.Timestamp.now(tz="UTC").timestamp() + 3 * 3600 + 1
