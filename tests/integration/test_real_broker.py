"""Read-only checks against a real MT5 web terminal endpoint.

Skipped unless ``PYMT5_URL`` (e.g. ``wss://web.metatrader.app/terminal``), ``PYMT5_LOGIN`` and
``PYMT5_PASSWORD`` are set. Nothing here places orders; set ``PYMT5_TRADE=1`` on a demo account to also
open and close a minimal position. ``PYMT5_SYMBOL`` picks the symbol (default EURUSD).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pymt5_core.client import RATES_DTYPE, MT5Client
from pymt5_core.wire.enums import Retcode

URL = os.environ.get("PYMT5_URL", "")
LOGIN = os.environ.get("PYMT5_LOGIN", "")
PASSWORD = os.environ.get("PYMT5_PASSWORD", "")
SYMBOL = os.environ.get("PYMT5_SYMBOL", "EURUSD")

pytestmark = pytest.mark.skipif(not (URL and LOGIN and PASSWORD),
                                reason="set PYMT5_URL, PYMT5_LOGIN and PYMT5_PASSWORD to run against a real broker")


@pytest.fixture
async def broker() -> AsyncIterator[MT5Client]:
    async with MT5Client(URL, timeout=30.0) as client:
        await client.login(int(LOGIN), PASSWORD)
        yield client


async def test_account_and_symbols(broker: MT5Client) -> None:
    account = await broker.account()
    assert account.login == int(LOGIN) and account.currency and account.leverage > 0
    assert broker.server_build > 0
    names = {s.name for s in await broker.symbols()}
    assert SYMBOL in names
    info = await broker.symbol(SYMBOL)
    assert info.full and info.digits > 0 and info.volume_min > 0


async def test_bars_page_and_align(broker: MT5Client) -> None:
    end = datetime.now(UTC)
    bars = await broker.bars(SYMBOL, "M1", end - timedelta(days=10), end)
    assert bars.dtype == RATES_DTYPE and len(bars) > 1000
    assert np.all(np.diff(bars["time"]) > 0) and np.all(bars["time"] % 60 == 0)
    last = await broker.bars(SYMBOL, "H1", count=50)
    assert len(last) == 50


async def test_a_tick_arrives(broker: MT5Client) -> None:
    quote = await broker.quote(SYMBOL, timeout=60.0)
    assert quote.bid > 0 and quote.ask >= quote.bid


async def test_history_of_the_last_month(broker: MT5Client) -> None:
    deals, orders = await broker.history(datetime.now(UTC) - timedelta(days=31), None)
    assert isinstance(deals, list) and isinstance(orders, list)


@pytest.mark.skipif(os.environ.get("PYMT5_TRADE") != "1", reason="set PYMT5_TRADE=1 (demo account) to trade")
async def test_minimal_round_trip_on_a_demo_account(broker: MT5Client) -> None:
    info = await broker.symbol(SYMBOL)
    opened = await broker.buy(SYMBOL, info.volume_min, comment="pymt5 it")
    assert opened.retcode in (Retcode.DONE, Retcode.PLACED)
    closed = await broker.close(opened.order)
    assert closed.success
