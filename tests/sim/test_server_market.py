"""Market data over the wire: tick and statistics pushes, depth of market, bars, the live bar."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import BOOK_SNAPSHOT, Command, Period, StatsField, TickField
from tests.sim.conftest import START_MS, WireClient, WireClientFactory

EURUSD, ESZ7 = 1, 24


def expected_ticks(sim: Any, symbol: str, from_ms: int, to_ms: int) -> np.ndarray[Any, Any]:
    return sim.model.ticks(symbol, from_ms, to_ms)


def assert_ticks_match(records: np.ndarray[Any, Any], model: np.ndarray[Any, Any], digits: int) -> None:
    """Tick records equal the model's ticks: time, §9.1 scaling, fields, and zeros where a bit is clear."""
    assert len(records) == len(model)
    scale = 10**digits
    assert (records["tick_time"].astype(np.int64) * 1000 + records["time_ms_delta"] == model["time_ms"]).all()
    assert (records["fields"] == model["fields"]).all()
    assert (records["bid"] == np.rint(model["bid"] * scale)).all()
    assert (records["ask"] == np.rint(model["ask"] * scale)).all()
    has_last = (model["fields"] & TickField.LAST) != 0
    assert (records["last"][has_last] == np.rint(model["last"][has_last] * scale)).all()
    assert (records["last"][~has_last] == 0).all()
    has_volume = (model["fields"] & TickField.VOLUME) != 0
    assert (records["tick_volume"][has_volume] == model["volume"][has_volume]).all()
    assert (records["tick_volume"][~has_volume] == 0).all()


async def test_subscription_pushes_a_snapshot_then_the_ticks_of_each_interval(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    await client.request(Command.SUBSCRIBE_TICKS, msg.build_id_list([EURUSD, ESZ7]))
    snapshot = msg.read_ticks((await client.next(Command.TICKS)).body)
    quote = sim.model.quote_at("EURUSD", START_MS)
    first = snapshot[snapshot["symbol_id"] == EURUSD][0]
    assert first["bid"] == round(quote.bid * 1e5) and first["fields"] == TickField.BID | TickField.ASK
    stats = msg.read_symbol_stats((await client.next(Command.SYMBOL_STATS)).body)
    assert sorted(stats["symbol_id"].tolist()) == [EURUSD, ESZ7]

    await sim.advance(10_000)
    ticks = msg.read_ticks((await client.next(Command.TICKS)).body)
    assert client.pending(Command.TICKS) == []  # one push for every symbol of the interval
    for sid, name, digits in ((EURUSD, "EURUSD", 5), (ESZ7, "ESZ7", 2)):
        assert_ticks_match(ticks[ticks["symbol_id"] == sid], expected_ticks(sim, name, START_MS + 1,
                                                                              START_MS + 10_000), digits)
    assert (ticks[ticks["symbol_id"] == ESZ7]["fields"] & TickField.LAST).all()

    stats = msg.read_symbol_stats((await client.next(Command.SYMBOL_STATS)).body)
    euro = stats[stats["symbol_id"] == EURUSD][0]
    last = expected_ticks(sim, "EURUSD", START_MS + 1, START_MS + 10_000)[-1]
    assert euro["fields"] & StatsField.BID_LAST and euro["bid_last"] == round(last["bid"] * 1e5)
    assert euro["bid_low"] <= euro["bid_last"] <= euro["bid_high"]
    assert int(euro["lasttime"]) * 1000 + int(euro["lasttime_msc"]) == last["time_ms"]
    future = stats[stats["symbol_id"] == ESZ7][0]
    assert future["fields"] & StatsField.TRADE_DEALS and future["trade_deals"] > 0


async def test_each_connection_gets_only_its_own_symbols(wire_client: WireClientFactory, sim: Any) -> None:
    one, two, idle = [await wire_client(login=True) for _ in range(3)]
    await one.request(Command.SUBSCRIBE_TICKS, msg.build_id_list([EURUSD]))
    await two.request(Command.SUBSCRIBE_TICKS, msg.build_id_list([EURUSD, 2, 3]))
    for client in (one, two):
        await client.next(Command.TICKS)
        await client.next(Command.SYMBOL_STATS)
    await sim.advance(5_000)
    assert set(msg.read_ticks((await one.next(Command.TICKS)).body)["symbol_id"].tolist()) == {EURUSD}
    assert set(msg.read_ticks((await two.next(Command.TICKS)).body)["symbol_id"].tolist()) == {EURUSD, 2, 3}
    assert idle.pending() == []
    await two.request(Command.SUBSCRIBE_TICKS, msg.build_id_list([]))  # an empty list stops everything
    await sim.advance(5_000)
    await one.next(Command.TICKS)
    assert (await two.request(Command.PING)).code == 0 and two.pending(Command.TICKS) == []


def apply_book(book: dict[int, dict[float, int]], block: msg.BookBlock) -> None:
    """SPEC §9.4, as the official client applies push 23."""
    if block.books_flags & BOOK_SNAPSHOT:
        book[1].clear()
        book[2].clear()
    for level in block.levels:
        kind = int(level["book_type"])
        if kind == 0:
            book[1].clear()
            book[2].clear()
            continue
        side = book[2 if kind in (2, 4) else 1]
        price, volume = int(level["price"]), int(level["volume"])
        if volume == 0:
            side.pop(price, None)
        elif price in side:
            side[price] += volume
            if side[price] <= 0:
                del side[price]
        else:
            side[price] = volume


def model_book(sim: Any, t_ms: int) -> dict[int, dict[float, int]]:
    bids, asks = sim.model.book("ESZ7", t_ms)
    return {2: {round(p * 100): round(v * 1e8) for p, v in bids}, 1: {round(p * 100): round(v * 1e8) for p, v in asks}}


async def test_book_subscription_sends_a_snapshot_then_deltas(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    await client.request(Command.SUBSCRIBE_BOOK, msg.build_id_list([ESZ7]))
    (block,) = msg.read_book((await client.next(Command.BOOK)).body)
    assert block.symbol_id == ESZ7 and block.books_flags & BOOK_SNAPSHOT and len(block.levels) == 20
    book: dict[int, dict[float, int]] = {1: {}, 2: {}}
    apply_book(book, block)
    assert book == model_book(sim, START_MS)
    deltas = 0
    for step in range(1, 9):
        await sim.advance(5_000)
        for frame in [f for f in client.pending(Command.BOOK)]:
            await client.next(Command.BOOK)
            for block in msg.read_book(frame.body):
                assert not block.books_flags & BOOK_SNAPSHOT
                assert len(block.levels) < 40  # a delta, not a resent book
                apply_book(book, block)
                deltas += 1
        assert book == model_book(sim, START_MS + step * 5_000)
    assert deltas > 0
    await client.request(Command.SUBSCRIBE_BOOK, msg.build_id_list([]))
    await sim.advance(30_000)
    assert (await client.request(Command.PING)).code == 0 and client.pending(Command.BOOK) == []


@pytest.mark.parametrize("period", [Period.M1, Period.M15, Period.H1, Period.D1, Period.W1, Period.MN1])
async def test_bars_are_the_model_bars(wire_client: WireClientFactory, sim: Any, period: Period) -> None:
    client = await wire_client(login=True)
    now_s = START_MS // 1000
    from_s = now_s - 40 * period.seconds
    frame = await client.request(Command.RATES, msg.build_rates_request("XAUUSD", period, from_s, now_s))
    assert frame.body == sim.model.bars_wire("XAUUSD", period, from_s, now_s, now_ms=START_MS)
    assert len(msg.read_bars(frame.body, period)) > 0  # aligned as the official client requires
    unknown = await client.request(Command.RATES, msg.build_rates_request("NOPE", period, from_s, now_s))
    assert (unknown.code, unknown.body) == (0, b"")


async def test_a_live_bar_built_from_pushed_ticks_equals_the_completed_bar(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    await client.request(Command.SUBSCRIBE_TICKS, msg.build_id_list([EURUSD]))
    received = [msg.read_ticks((await client.next(Command.TICKS)).body)]
    for _ in range(4):
        await sim.advance(15_000)
        received.append(msg.read_ticks((await client.next(Command.TICKS)).body))
    await sim.advance(1)
    ticks = np.concatenate(received)
    times = ticks["tick_time"].astype(np.int64) * 1000 + ticks["time_ms_delta"]
    minute = ticks[(times >= START_MS) & (times < START_MS + 60_000)]
    bid = minute["bid"] / 1e5
    start_s = START_MS // 1000
    frame = await client.request(Command.RATES, msg.build_rates_request("EURUSD", Period.M1, start_s, start_s))
    (bar,) = msg.read_bars(frame.body, Period.M1)
    assert bar["time"] == start_s
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == pytest.approx(
        (bid[0], bid.max(), bid.min(), bid[-1]), abs=1e-9
    )
    assert bar["tick_volume"] == len(minute)


async def test_a_running_clock_streams_by_itself() -> None:
    from pymt5_core.sim import SimServer, VirtualClock

    async with SimServer(seed=3, clock=VirtualClock(120, START_MS)) as sim:
        client = await WireClient.open(sim.url)
        assert (await client.login(sim.demo_account.login, sim.demo_account.password)).code == 0
        await client.request(Command.SUBSCRIBE_TICKS, msg.build_id_list(list(range(1, 8))))
        seen: set[int] = set()
        last_time = 0
        for _ in range(6):  # the snapshot, then pushes of the background task
            ticks = msg.read_ticks((await client.next(Command.TICKS)).body)
            seen |= set(ticks["symbol_id"].tolist())
            times = ticks["tick_time"].astype(np.int64) * 1000 + ticks["time_ms_delta"]
            for sid in set(ticks["symbol_id"].tolist()):
                assert (np.diff(times[ticks["symbol_id"] == sid]) >= 0).all()
            last_time = max(last_time, int(times.max()))
        assert last_time > 0 and len(seen) > 1
        await client.close()
