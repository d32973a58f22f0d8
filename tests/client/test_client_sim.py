"""The client against the simulator: login, configuration, bars, ticks, depth of market, history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pymt5_core.client import RATES_DTYPE, MT5Client
from pymt5_core.errors import AuthError, InvalidRequest, NotConnected, OTPRequired, TradeServerUnavailable
from pymt5_core.events import AccountUpdate, ConnectionState, SessionState
from pymt5_core.models import BookUpdate, Tick
from pymt5_core.sim import SimServer
from pymt5_core.wire.enums import Period

#: The simulator clock at the start of every test (see conftest).
START = datetime(2026, 11, 18, 12, tzinfo=UTC)


async def test_login_loads_account_symbols_groups_and_server_facts(client: MT5Client, sim: SimServer) -> None:
    account = await client.account()
    assert account.login == sim.demo_account.login
    assert account.currency == "USD" and account.leverage == 100 and account.hedging
    assert account.balance == account.equity == account.margin_free == 10_000.0
    assert account.margin == 0.0 and account.profit == 0.0
    assert client.server_build > 0 and client.server_time_offset == account.server_time_offset
    names = [s.name for s in await client.symbols()]
    assert "EURUSD" in names and len(names) == account.symbols_count
    assert "Forex\\Majors" in await client.groups()
    assert client.state is SessionState.READY


async def test_symbol_loads_full_configuration_once(client: MT5Client) -> None:
    info = await client.symbol("EURUSD")
    assert info.full and info.digits == 5 and info.contract_size == 100_000.0
    assert info.volume_min == 0.01 and info.volume_step == 0.01 and info.currency_profit == "USD"
    assert info.path == "Forex\\Majors\\EURUSD"
    listed = {s.name: s for s in await client.symbols()}
    assert listed["EURUSD"].full and not listed["AUDJPY"].full
    with pytest.raises(InvalidRequest):
        await client.symbol("NOPE")


async def test_wrong_password_raises_auth_error(sim: SimServer, make_client) -> None:
    c = make_client(sim.url)
    async with c:
        with pytest.raises(AuthError) as info:
            await c.login(sim.demo_account.login, "wrong-password")
        assert "wrong-password" not in str(info.value) and info.value.code == 3
        assert c.state is not SessionState.READY
        with pytest.raises(NotConnected):
            await c.account()


async def test_otp_account_needs_the_one_time_password(sim: SimServer, make_client) -> None:
    c = make_client(sim.url)
    async with c:
        with pytest.raises(OTPRequired):
            await c.login(5000004, "Secure1234!")
        account = await c.login(5000004, "Secure1234!", otp="123456")
        assert account.login == 5000004


async def test_login_retries_codes_2_and_100_then_fails(sim: SimServer, make_client) -> None:
    sim.faults.refuse_logins(2)
    c = make_client(sim.url)
    states: list[SessionState] = []
    c.on(ConnectionState, lambda e: states.append(e.state))
    async with c:
        with pytest.raises(TradeServerUnavailable):
            await c.login(sim.demo_account.login, sim.demo_account.password)
    assert states.count(SessionState.LOGGING_IN) >= 1 and SessionState.READY not in states


async def test_login_succeeds_once_the_trade_server_is_back(sim: SimServer, make_client) -> None:
    sim.faults.refuse_logins(100)
    c = make_client(sim.url)
    async with c:
        attempts = 0

        def on_state(event: ConnectionState) -> None:
            nonlocal attempts
            if event.state is SessionState.LOGGING_IN:
                attempts += 1
                if attempts == 2:
                    sim.faults.allow_logins()

        c.on(ConnectionState, on_state)
        account = await c.login(sim.demo_account.login, sim.demo_account.password)
        assert account.login == sim.demo_account.login and attempts >= 2


# --- bars ---------------------------------------------------------------------------------------------


async def test_bars_page_over_a_long_range_and_equal_the_model(sim: SimServer, make_client) -> None:
    c = make_client(sim.url, bars_per_request=3_000)
    async with c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        start, end = START - timedelta(days=30), START - timedelta(days=1)
        bars = await c.bars("EURUSD", "M1", start, end)
    assert bars.dtype == RATES_DTYPE
    truth = sim.model.bars("EURUSD", Period.M1, int(start.timestamp()), int(end.timestamp()), now_ms=sim.clock.now_ms())
    assert len(bars) == len(truth) > 3 * 3_000
    assert np.all(np.diff(bars["time"]) > 0)
    np.testing.assert_array_equal(bars["time"], truth["time"])
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(bars[name], truth[name])
    np.testing.assert_array_equal(bars["tick_volume"], truth["tick_volume"])
    assert not bars["spread"].any()


async def test_bars_by_count_and_epoch_seconds_and_pandas_timestamps(client: MT5Client) -> None:
    last10 = await client.bars("EURUSD", "H1", count=10)
    assert len(last10) == 10 and np.all(np.diff(last10["time"]) == 3600)
    start = pd.Timestamp(START - timedelta(days=2))
    first5 = await client.bars("EURUSD", Period.H1, start, count=5)
    assert len(first5) == 5 and first5["time"][0] >= start.timestamp()
    by_epoch = await client.bars("EURUSD", "H4", int(start.timestamp()), int(START.timestamp()))
    assert len(by_epoch) > 0 and np.all(by_epoch["time"] % (4 * 3600) == 0)


async def test_bars_df_has_a_utc_time_index(client: MT5Client) -> None:
    df = await client.bars_df("USDJPY", "D1", START - timedelta(days=20), START)
    assert df.index.name == "time" and str(df.index.tz) == "UTC"
    assert list(df.columns) == ["open", "high", "low", "close", "tick_volume", "spread", "real_volume"]
    assert len(df) >= 10


async def test_bars_refuse_naive_datetimes_and_bad_timeframes(client: MT5Client) -> None:
    with pytest.raises(InvalidRequest):
        await client.bars("EURUSD", "H1", datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(InvalidRequest):
        await client.bars("EURUSD", "H2", START - timedelta(days=1), START)
    with pytest.raises(InvalidRequest):
        await client.bars("NOPE", "H1", START - timedelta(days=1), START)


# --- ticks and book -----------------------------------------------------------------------------------


async def test_ticks_stream_merges_quotes_and_unsubscribes_on_close(client: MT5Client, sim: SimServer, pump) -> None:
    stream = client.ticks(["EURUSD", "USDJPY"])
    seen: dict[str, Tick] = {}
    async with pump(sim):
        async for tick in stream:
            assert tick.bid > 0 and tick.ask >= tick.bid and tick.time.tzinfo is not None
            assert round(tick.bid, 3 if tick.symbol == "USDJPY" else 5) == tick.bid
            if tick.symbol in seen:
                assert tick.time_msc >= seen[tick.symbol].time_msc
            seen[tick.symbol] = tick
            if len(seen) == 2 and sum(1 for _ in seen) and tick.time_msc > START.timestamp() * 1000 + 2000:
                break
    await stream.aclose()
    assert set(seen) == {"EURUSD", "USDJPY"}
    quote = sim.model.quote_at("EURUSD", seen["EURUSD"].time_msc)
    assert quote is not None and seen["EURUSD"].bid == pytest.approx(quote.bid)
    assert client._watch == {}  # unsubscribed


async def test_tick_callbacks_and_quote(client: MT5Client, sim: SimServer, pump, event_waiter) -> None:
    got = event_waiter(client, Tick, lambda t: t.symbol == "GBPUSD")
    async with pump(sim):
        quote = await client.quote("GBPUSD")
        tick = await got
    assert quote.symbol == "GBPUSD" and quote.bid > 0 and tick.symbol == "GBPUSD"
    info = await client.symbol("GBPUSD")
    assert info.bid > 0 and info.time_msc > 0


async def test_book_stream_keeps_sorted_levels(client: MT5Client, sim: SimServer, pump) -> None:
    updates: list[BookUpdate] = []
    async with pump(sim), client.book("ESZ7") as stream:
        async for update in stream:
            updates.append(update)
            if len(updates) >= 3:
                break
    last = updates[-1]
    assert last.symbol == "ESZ7" and last.bids and last.asks
    assert [lvl.price for lvl in last.bids] == sorted((lvl.price for lvl in last.bids), reverse=True)
    assert [lvl.price for lvl in last.asks] == sorted((lvl.price for lvl in last.asks), reverse=True)
    assert last.best_bid is not None and last.best_ask is not None and last.best_bid < last.best_ask
    assert all(lvl.volume > 0 for lvl in (*last.bids, *last.asks))


# --- history and events -------------------------------------------------------------------------------


async def test_history_returns_the_initial_deposit(client: MT5Client) -> None:
    deals, orders = await client.history(START - timedelta(days=365), None)
    assert any(d.type == 2 and d.profit == 10_000.0 for d in deals)
    assert orders == []
    assert all(t in client.mirror.deals for t in (d.ticket for d in deals))


async def test_on_rejects_non_event_types_and_unsubscribes(client: MT5Client) -> None:
    with pytest.raises(InvalidRequest):
        client.on(int, print)  # type: ignore[arg-type]
    calls: list[object] = []
    off = client.on(AccountUpdate, calls.append)
    off()
    off()  # idempotent


async def test_async_callbacks_are_run(client: MT5Client, sim: SimServer, pump) -> None:
    done = asyncio.get_running_loop().create_future()

    async def on_tick(tick: Tick) -> None:
        if not done.done():
            done.set_result(tick)

    client.on(Tick, on_tick)
    async with pump(sim):
        stream = client.ticks("EURUSD")
        await stream.__anext__()
        tick = await done
        await stream.aclose()
    assert tick.symbol == "EURUSD"
