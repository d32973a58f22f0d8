"""Bad input to MT5Data.download: InvalidRequest, and no bar request (nor connection) reaches the server.

Naive dates are not refused: they are read in ``vbt.settings.datetime["naive_tz"]``, vectorbt's convention.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pandas as pd
import pytest
import vectorbt as vbt
from pymt5_vectorbt import MT5Data

from pymt5_core.client import MT5Client
from pymt5_core.errors import InvalidRequest
from pymt5_core.sync import connect
from pymt5_core.wire.enums import Command


def _received(sim: Any) -> Counter[int]:
    async def copy() -> Counter[int]:
        return Counter(sim.server.received)

    return sim.run(copy())


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    # (id, symbols, keyword arguments)
    ("unknown-symbol", "NOPE.X", {}),
    ("one-unknown-symbol", ["EURUSD", "NOPE.X"], {}),
    ("symbols-a-set", {"EURUSD"}, {}),
    ("symbols-empty", [], {}),
    ("symbol-not-a-str", [5], {}),
    ("symbol-blank", " ", {}),
    ("unsupported-timeframe", "EURUSD", {"timeframe": "7m"}),
    ("timeframe-a-number", "EURUSD", {"timeframe": 60}),
    ("start-not-a-date", "EURUSD", {"start": ["2024"]}),
    ("end-before-start", "EURUSD", {"start": "2024-03-11", "end": "2024-03-10"}),
]


@pytest.mark.parametrize(("symbols", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_download_with_a_client_refuses_before_any_bar_request(sim: Any, symbols: Any,
                                                               kwargs: dict[str, Any]) -> None:
    with connect(sim.url, sim.login, sim.password) as client:
        before = _received(sim)
        with pytest.raises(InvalidRequest):
            MT5Data.download(symbols, client=client, show_progress=False, **kwargs)
        assert (_received(sim) - before)[Command.RATES] == 0


CREDENTIALS: list[tuple[str, dict[str, Any]]] = [
    ("no-server", {"url": None}),
    ("server-not-ws", {"url": "http://127.0.0.1/terminal"}),
    ("login-a-word", {"login": "abc"}),
    ("login-negative", {"login": -5}),
    ("password-not-a-str", {"password": 1234}),
    ("client-option-out-of-range", {"timeout": -1}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in CREDENTIALS], ids=[c[0] for c in CREDENTIALS])
def test_download_without_a_client_refuses_before_connecting(sim: Any, kwargs: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    credentials = {"url": sim.url, "login": sim.login, "password": sim.password, **kwargs}
    before = _received(sim)
    with pytest.raises(InvalidRequest):
        MT5Data.download("EURUSD", timeframe="1h", show_progress=False, **credentials)
    assert _received(sim) == before


def test_download_refuses_an_async_client() -> None:
    with pytest.raises(InvalidRequest, match="download_async"):
        MT5Data.download("EURUSD", client=MT5Client("ws://127.0.0.1:9/terminal"))  # type: ignore[arg-type]


def test_download_async_refuses_before_any_bar_request(sim: Any) -> None:
    async def run() -> Counter[int]:
        async with MT5Client(sim.url) as client:
            await client.login(sim.login, sim.password)
            before = await asyncio.to_thread(_received, sim)
            with pytest.raises(InvalidRequest):
                await MT5Data.download_async(["EURUSD", "NOPE.X"], client=client, timeframe="1h")
            await client.session.request(Command.PING)
            return await asyncio.to_thread(_received, sim) - before

    assert asyncio.run(run()) == Counter({Command.PING: 1})


def test_naive_dates_are_read_in_vectorbts_naive_tz(sim: Any) -> None:
    start = (sim.now() - pd.Timedelta(hours=6)).floor("h")
    saved = vbt.settings.datetime["naive_tz"]
    vbt.settings.datetime["naive_tz"] = "Etc/GMT-2"  # UTC+2: a naive 14:00 is 12:00 UTC
    try:
        with connect(sim.url, sim.login, sim.password) as client:
            naive = MT5Data.download("EURUSD", client=client, timeframe="1h", show_progress=False,
                                     start=(start + pd.Timedelta(hours=2)).tz_localize(None))
    finally:
        vbt.settings.datetime["naive_tz"] = saved
    assert naive.get().index[0] == start
