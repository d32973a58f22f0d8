"""Against a server whose clock runs years behind this machine's, time-relative requests follow the server.

Expirations are checked against the server's time and bars without an end count back from it, as the
official terminal does; the wall clock of the test machine plays no part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

import pymt5_core.mt5 as mt5
from pymt5_core.client import MT5Client
from pymt5_core.errors import TradeRejected
from pymt5_core.models import Tick
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.wire.enums import Command, Retcode

#: Wednesday 2020-11-18 12:00 UTC, six years before the tests were written: markets open.
PAST = datetime(2020, 11, 18, 12, tzinfo=UTC)
PAST_S = int(PAST.timestamp())


@pytest.fixture
async def past_sim() -> AsyncIterator[SimServer]:
    async with SimServer(seed=11, clock=VirtualClock.manual(PAST_S * 1000)) as server:
        yield server


@pytest.fixture
async def past_client(past_sim: SimServer, make_client: Callable[..., MT5Client]) -> AsyncIterator[MT5Client]:
    client = make_client(past_sim.url, bars_per_request=500)  # small pages: the range is paged
    await client.connect()
    await client.login(past_sim.demo_account.login, past_sim.demo_account.password)
    yield client
    await client.disconnect()


async def test_order_expiring_in_the_server_future_is_accepted(past_client: MT5Client, past_sim: SimServer) -> None:
    quote = await past_client.quote("EURUSD")
    expires = PAST + timedelta(days=1)  # years before the wall clock, a day after the server's clock
    result = await past_client.buy_limit("EURUSD", 0.1, round(quote.bid - 0.01, 5), expiration=expires)
    assert result.retcode == Retcode.DONE
    [order] = past_sim.engine.orders(past_sim.demo_account.login)
    assert int(order["time_expiration"]) == int(expires.timestamp())


async def test_order_expiring_in_the_server_past_is_refused_before_sending(past_client: MT5Client,
                                                                           past_sim: SimServer) -> None:
    quote = await past_client.quote("EURUSD")
    sent = past_sim.received[Command.TRADE_REQUEST]
    with pytest.raises(TradeRejected) as info:
        await past_client.buy_limit("EURUSD", 0.1, round(quote.bid - 0.01, 5), expiration=PAST - timedelta(hours=1))
    assert info.value.retcode == Retcode.INVALID_EXPIRATION
    assert past_sim.received[Command.TRADE_REQUEST] == sent


async def test_server_time_follows_the_server_clock(past_client: MT5Client, past_sim: SimServer,
                                                    event_waiter) -> None:
    assert past_client.server_time is None  # nothing received yet: unknown, not the wall clock
    await past_client.quote("EURUSD")
    before = past_client.server_time
    assert before is not None and abs(before - PAST_S * 1000) < 600_000
    later = event_waiter(past_client, Tick, lambda t: t.symbol == "EURUSD" and t.time_msc > before + 1_800_000)
    await past_sim.advance(3_600_000)
    tick = await asyncio.wait_for(later, 10)
    assert past_client.server_time is not None and past_client.server_time >= tick.time_msc


@pytest.mark.parametrize(("timeframe", "seconds"), [("M1", 60), ("H1", 3600)])
async def test_bars_by_count_end_at_the_server_time(past_client: MT5Client, timeframe: str, seconds: int) -> None:
    bars = await past_client.bars("EURUSD", timeframe, count=800)  # more than one page
    assert len(bars) == 800
    last = int(bars["time"][-1])
    assert PAST_S - 2 * seconds < last <= PAST_S


async def test_compat_copy_rates_from_pos_counts_back_from_the_server_time(past_sim: SimServer) -> None:
    login, password = past_sim.demo_account.login, past_sim.demo_account.password
    assert await asyncio.to_thread(mt5.initialize, server=past_sim.url, login=login, password=password)
    try:
        rates = await asyncio.to_thread(mt5.copy_rates_from_pos, "EURUSD", mt5.TIMEFRAME_H2, 0, 10)
    finally:
        await asyncio.to_thread(mt5.shutdown)
    assert rates is not None, mt5.last_error()
    assert len(rates) == 10 and PAST_S - 2 * 7200 < int(rates["time"][-1]) <= PAST_S
