"""MT5Data against the simulator over loopback, with the real blocking client."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import vectorbt as vbt
from pymt5_vectorbt import COLUMNS, MAP_COLUMNS, MT5Data
from pymt5_vectorbt.demo import ma_cross

from pymt5_core.download import download as core_download
from pymt5_core.errors import InvalidRequest


def _creds(sim: Any) -> dict[str, Any]:
    return {"url": sim.url, "login": sim.login, "password": sim.password, "show_progress": False}


def test_two_symbols_equal_the_core_download_of_the_same_range(sim: Any) -> None:
    start = sim.now() - pd.Timedelta(days=3)
    data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1h", start=start, **_creds(sim))
    core = core_download(["EURUSD", "GBPUSD"], "H1", start, None, url=sim.url, login=sim.login,
                         password=sim.password, progress=False, group_by="ticker")
    assert data.symbols == ["EURUSD", "GBPUSD"]
    for symbol in data.symbols:
        expected = core[symbol].rename(columns=MAP_COLUMNS).astype("float64")
        expected.columns.name = None
        pd.testing.assert_frame_equal(data.data[symbol], expected, check_freq=False)
        assert tuple(data.data[symbol].columns) == COLUMNS
    close = data.get("Close")
    assert str(close.index.tz) == "UTC" and close.index.is_unique
    assert close.index[-1] == sim.now().floor("h")  # the forming bar is there
    assert close.notna().all().all()


def test_update_after_the_clock_moved_appends_bars_and_replaces_the_forming_one(sim: Any) -> None:
    data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1m", start=sim.now() - pd.Timedelta(hours=2),
                            **_creds(sim))
    before = data.get("Close")
    assert before.index[-1] == pd.Timestamp("2024-03-11 12:00", tz="UTC")
    sim.advance(pd.Timedelta(minutes=5))
    updated = data.update()
    after = updated.get("Close")
    assert after.index.is_unique and after.index.is_monotonic_increasing
    assert after.index[-1] == pd.Timestamp("2024-03-11 12:05", tz="UTC")
    assert len(after) == len(before) + 5
    pd.testing.assert_frame_equal(after.iloc[: len(before) - 1], before.iloc[:-1], check_freq=False)
    # The 12:00 bar was still forming at download time; the update holds its final values.
    final = core_download(["EURUSD"], "M1", before.index[-1], before.index[-1], url=sim.url, login=sim.login,
                          password=sim.password, progress=False, group_by="ticker")["EURUSD"]
    assert updated.data["EURUSD"].loc[before.index[-1], "Close"] == final["close"].iloc[0]


def test_forex_and_crypto_over_a_weekend_align_with_nan(sim: Any) -> None:
    window = {"start": "2024-03-08 12:00 UTC", "end": "2024-03-11 06:00 UTC"}
    with pytest.warns(UserWarning, match="mismatching index"):
        data = MT5Data.download(["EURUSD", "BTCUSD"], timeframe="1h", **window, **_creds(sim))
    close = data.get("Close")
    saturday = close.loc["2024-03-09"]
    assert len(saturday) == 24
    assert saturday["EURUSD"].isna().all() and saturday["BTCUSD"].notna().all()
    with pytest.warns(UserWarning, match="Dropping"):
        common = MT5Data.download(["EURUSD", "BTCUSD"], timeframe="1h", missing_index="drop", **window, **_creds(sim))
    assert common.get("Close").notna().all().all()
    assert len(common.get("Close")) == close["EURUSD"].notna().sum()


def test_an_aggregated_timeframe_and_a_passed_client(sim: Any) -> None:
    from pymt5_core.sync import MT5ClientSync

    with MT5ClientSync(sim.url) as client:
        client.login(sim.login, sim.password)
        data = MT5Data.download("EURUSD", timeframe="2h", start="2024-03-11 00:00 UTC", client=client,
                                show_progress=False)
        assert client.bars("EURUSD", "H1", pd.Timestamp("2024-03-11", tz="UTC"), None) is not None  # still open
    index = data.get().index
    assert (index.hour % 2 == 0).all() and index[0] == pd.Timestamp("2024-03-11", tz="UTC")
    assert data.wrapper.freq == pd.Timedelta(hours=2)


def test_ma_cross_portfolio_on_simulator_bars(sim: Any) -> None:
    data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1h", start=sim.now() - pd.Timedelta(days=20),
                            **_creds(sim))
    pf = ma_cross(data, fast=5, slow=20)
    assert isinstance(pf, vbt.Portfolio)
    trades = pf.trades.count()
    assert (trades > 0).all()
    assert pf.total_return().notna().all()


def test_bad_timeframe_is_rejected_before_connecting(sim: Any) -> None:
    with pytest.raises(ValueError, match="unsupported timeframe '7m'"):
        MT5Data.download("EURUSD", timeframe="7m", **_creds(sim))


SCRIPT = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import vectorbt as vbt
    from pymt5_vectorbt import MT5Data

    url, login, password = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = MT5Data.download(["EURUSD", "GBPUSD"], timeframe="1h", start="2024-02-20 UTC", url=url, login=login,
                            password=password, show_progress=False)
    data = data.update()
    close = data.get("Close")
    fast, slow = close.rolling(5).mean(), close.rolling(20).mean()
    pf = vbt.Portfolio.from_signals(close, fast.vbt.crossed_above(slow), fast.vbt.crossed_below(slow),
                                    freq=data.wrapper.freq)
    pf.stats(column="EURUSD")
    data.stats(column="Close")
    print("ok", len(close), round(float(pf.total_return().sum()), 6))
    """
)


def test_the_whole_path_is_quiet_under_python_w_error(sim: Any, tmp_path: Path) -> None:
    script = tmp_path / "quiet.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "adapters" / "vectorbt")])}
    done = subprocess.run([sys.executable, "-W", "error", str(script), sim.url, str(sim.login), sim.password],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ")
    # Only the client's own shutdown may print (an "Exception ignored" ResourceWarning at exit).
    for category in ("Pandas4Warning", "FutureWarning", "DeprecationWarning", "UserWarning", "RuntimeWarning"):
        assert category not in done.stderr, done.stderr[-3000:]


def test_async_client_download_and_update(sim: Any) -> None:
    from pymt5_core.client import MT5Client

    async def scenario() -> tuple[MT5Data, MT5Data]:
        async with MT5Client(sim.url) as client:
            await client.login(sim.login, sim.password)
            data = await MT5Data.download_async(["EURUSD", "GBPUSD"], client=client, timeframe="1h",
                                                start=sim.now() - pd.Timedelta(days=2))
            await sim.server.advance(2 * 3_600_000)
            return data, await data.update_async(client=client)

    data, updated = sim.run(scenario())  # on the simulator's loop, like any asyncio application
    before, after = data.get("Close"), updated.get("Close")
    assert after.index.is_unique and len(after) == len(before) + 2
    pd.testing.assert_frame_equal(after.iloc[: len(before) - 1], before.iloc[:-1], check_freq=False)


def test_an_async_client_in_the_blocking_api_points_to_the_async_twin(sim: Any) -> None:
    from pymt5_core.client import MT5Client

    client = MT5Client(sim.url)
    with pytest.raises(InvalidRequest, match="download_async"):
        MT5Data.download("EURUSD", client=client, timeframe="1h", show_progress=False)  # type: ignore[arg-type]
