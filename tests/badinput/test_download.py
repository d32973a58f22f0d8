"""Bad input to ``pymt5_core.download``: InvalidRequest before any bar request (or any connection)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from pymt5_core.client import MT5Client
from pymt5_core.download import download, download_async
from pymt5_core.errors import InvalidRequest
from pymt5_core.sync import MT5ClientSync
from pymt5_core.wire.enums import Command

from .conftest import START, SYMBOL, UNKNOWN, SimThread, ping, sent_between

DAY_BEFORE = START - timedelta(days=1)

CASES: list[tuple[str, dict[str, Any]]] = [
    ("no-symbol", {"symbols": ""}),
    ("empty-list", {"symbols": []}),
    ("blank-name-in-list", {"symbols": [SYMBOL, " "]}),
    ("symbols-a-number", {"symbols": 5}),
    ("name-not-a-str", {"symbols": [SYMBOL, 5]}),
    ("unknown-symbol", {"symbols": UNKNOWN}),
    ("one-unknown-symbol", {"symbols": [SYMBOL, UNKNOWN]}),
    ("unknown-timeframe", {"timeframe": "M7"}),
    ("timeframe-code-unknown", {"timeframe": 12345}),
    ("timeframe-a-bool", {"timeframe": True}),
    ("naive-start", {"start": datetime(2026, 11, 17)}),
    ("naive-end", {"start": DAY_BEFORE, "end": datetime(2026, 11, 18)}),
    ("start-not-a-date", {"start": "not a date"}),
    ("start-nan", {"start": math.nan}),
    ("start-a-bool", {"start": True}),
    ("start-a-list", {"start": [2026, 11, 17]}),
    ("end-before-start", {"start": START, "end": DAY_BEFORE}),
    ("end-before-start-dates", {"start": date(2026, 11, 18), "end": date(2026, 11, 17)}),
    ("bad-group-by", {"group_by": "rows"}),
]


def _arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"symbols": SYMBOL, "timeframe": "H1", "start": DAY_BEFORE, "end": START, "progress": False, **kwargs}


@pytest.mark.parametrize("kwargs", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_download_refuses_before_any_bar_request(sync_client: MT5ClientSync, sim_thread: SimThread,
                                                 kwargs: dict[str, Any]) -> None:
    ping(sync_client)
    before = sim_thread.received()
    with pytest.raises(InvalidRequest):
        download(**_arguments(kwargs), client=sync_client)
    ping(sync_client)
    assert sent_between(before, sim_thread.received()) == Counter({Command.PING: 1})


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("kwargs", [c[1] for c in CASES], ids=[c[0] for c in CASES])
async def test_download_async_refuses_before_any_bar_request(async_client: MT5Client, sim_thread: SimThread,
                                                             kwargs: dict[str, Any]) -> None:
    await async_client.session.request(Command.PING)
    before = await asyncio.to_thread(sim_thread.received)
    with pytest.raises(InvalidRequest):
        await download_async(**_arguments(kwargs), client=async_client)
    await async_client.session.request(Command.PING)
    assert sent_between(before, await asyncio.to_thread(sim_thread.received)) == Counter({Command.PING: 1})


def test_download_refuses_an_async_client() -> None:
    client = MT5Client("ws://127.0.0.1:9/terminal")
    with pytest.raises(InvalidRequest, match="download_async"):
        download(SYMBOL, client=client)  # type: ignore[arg-type]


CREDENTIALS: list[tuple[str, dict[str, Any]]] = [
    ("no-server", {"url": None}),
    ("server-not-ws", {"url": "http://127.0.0.1/terminal"}),
    ("login-a-word", {"login": "abc"}),
    ("login-negative", {"login": -3}),
    ("no-password", {"password": None}),
    ("password-not-a-str", {"password": 1234}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in CREDENTIALS], ids=[c[0] for c in CREDENTIALS])
def test_download_refuses_bad_credentials_before_connecting(sim_thread: SimThread, kwargs: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMT5_URL", "PYMT5_LOGIN", "PYMT5_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    credentials = {"url": sim_thread.url, "login": sim_thread.login, "password": sim_thread.password, **kwargs}
    before = sim_thread.received()
    with pytest.raises(InvalidRequest):
        download(**_arguments({}), **credentials)
    assert sim_thread.received() == before  # not even a connection
