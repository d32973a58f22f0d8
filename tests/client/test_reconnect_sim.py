"""Drops, reconnects, keep-alive and the no-duplicate-order guarantee, with simulator faults.

Every wait is on an event or a future and is bounded by :func:`within`, so a regression fails with a
message instead of hanging the suite. Faults that count frames are armed only once the connection is
quiet: the client of this module sends no periodic keep-alive that could be counted instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from pymt5_core.client import MT5Client
from pymt5_core.errors import ConnectionLost, RequestTimeout
from pymt5_core.events import ConnectionState, LinkState, SessionState
from pymt5_core.models import Tick
from pymt5_core.sim import SimServer
from pymt5_core.wire.enums import Command, Retcode

T = TypeVar("T")
#: Seconds any single wait of this module may take before the test fails.
LIMIT = 20.0


async def within(awaitable: Awaitable[T], what: str, seconds: float = LIMIT) -> T:
    """Await ``awaitable``; fail the test (instead of hanging) when it takes over ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        pytest.fail(f"timed out after {seconds:g} s waiting for {what}")


@pytest.fixture
async def client(sim: SimServer, make_client: Callable[..., MT5Client]) -> AsyncIterator[MT5Client]:
    c = make_client(sim.url, keepalive_interval=3600.0)
    await within(c.connect(), "connect")
    await within(c.login(sim.demo_account.login, sim.demo_account.password), "login")
    # The keep-alive sent at login is answered before this second ping (one request per command in flight).
    await within(c.session.request(Command.PING), "a ping answer")
    yield c
    await within(c.disconnect(), "disconnect")


def ready_again(event_waiter: Any, client: MT5Client) -> asyncio.Future[ConnectionState]:
    """A future of the READY transition that follows a reconnect."""
    return event_waiter(client, ConnectionState, lambda e: e.state is SessionState.READY and e.attempt > 0)


async def next_tick(stream: Any, predicate: Callable[[Tick], bool] = lambda t: True) -> Tick:
    """The next tick of ``stream`` matching ``predicate`` (bounded)."""

    async def find() -> Tick:
        while not predicate(tick := await stream.__anext__()):
            pass
        return tick

    return await within(find(), "a tick")


@pytest.mark.parametrize("fault", ["after_status", "after_result"])
async def test_trade_result_lost_with_the_connection_is_reconciled_without_a_duplicate(
        client: MT5Client, sim: SimServer, fault: str) -> None:
    await client.quote("EURUSD")
    await client.symbol("EURUSD")
    states: list[SessionState] = []
    client.on(ConnectionState, lambda e: states.append(e.state))
    if fault == "after_status":
        sim.faults.drop_after_frames(1)  # the order executes; only the status answer gets out, no push 19
    else:
        sim.faults.drop_at_command(Command.TRADE_REQUEST, "after")  # everything is sent, then the link dies
    try:
        result = await within(client.buy("EURUSD", 0.1, comment="once"), "the trade result")
    except ConnectionLost as exc:  # acceptable only when the outcome could not be settled
        assert exc.outcome_unknown
        result = None
    positions = sim.engine.positions(sim.demo_account.login)
    assert len(positions) == 1  # exactly one: the request was never re-sent
    await client.session.wait_ready(LIMIT)
    assert [p.ticket for p in client.mirror.positions.values()] == [int(positions[0]["position_id"])]
    assert result is not None and result.retcode == Retcode.DONE and result.volume == pytest.approx(0.1)
    assert result.order == int(positions[0]["trade_order"])
    if fault == "after_status":
        assert result.reconciled and SessionState.RECONNECTING in states and states[-1] is SessionState.READY


async def test_trade_request_dropped_before_execution_raises_outcome_unknown(client: MT5Client,
                                                                               sim: SimServer) -> None:
    await client.quote("EURUSD")
    sim.faults.drop_at_command(Command.TRADE_REQUEST, "before")  # the server never processes it
    with pytest.raises(ConnectionLost) as info:
        await within(client.buy("EURUSD", 0.1), "the trade result")
    assert info.value.outcome_unknown
    assert sim.engine.positions(sim.demo_account.login) == []
    assert client.mirror.positions == {}
    await client.session.wait_ready(LIMIT)
    ok = await client.buy("EURUSD", 0.1)  # the session works again; a new request is a new order
    assert ok.retcode == Retcode.DONE and len(sim.engine.positions(sim.demo_account.login)) == 1


async def test_pending_order_reconciled_after_a_drop(client: MT5Client, sim: SimServer) -> None:
    quote = await client.quote("EURUSD")
    await client.symbol("EURUSD")
    sim.faults.drop_after_frames(1)  # the order is placed, only the status answer gets out
    price = round(quote.bid - 0.01, 5)
    result = await within(client.buy_limit("EURUSD", 0.1, price, comment="lim"), "the trade result")
    assert result.reconciled and client.mirror.orders[result.order].price_open == price
    assert len(sim.engine.orders(sim.demo_account.login)) == 1 == len(client.mirror.orders)


async def test_drop_resyncs_the_mirror_and_resubscribes_ticks(client: MT5Client, sim: SimServer, pump,
                                                              event_waiter) -> None:
    login = sim.demo_account.login
    await client.buy("EURUSD", 0.1)
    balance = (await client.account()).balance

    def while_disconnected(event: ConnectionState) -> None:
        # Runs at the drop, before the reconnect starts: another terminal of the account changes it.
        if event.state is SessionState.RECONNECTING:
            off()
            sim.engine.deposit(login, 500.0)

    off = client.on(ConnectionState, while_disconnected)
    stream = client.ticks("USDJPY")
    async with pump(sim):
        await next_tick(stream)
        ready = ready_again(event_waiter, client)
        await client.session.drop("test: network failure")
        await within(ready, "the reconnect")
        resumed_ms = sim.clock.now_ms()
        tick = await next_tick(stream, lambda t: t.time_msc > resumed_ms)  # only a renewed subscription gives it
    await stream.aclose()
    assert tick.symbol == "USDJPY"
    assert (await client.account()).balance == pytest.approx(balance + 500.0)
    assert {t: p.volume_wire for t, p in client.mirror.positions.items()} == {
        int(p["position_id"]): int(p["trade_volume"]) for p in sim.engine.positions(login)}
    assert client.session.token is not None and any(client.session.token)


async def test_server_dropping_frames_triggers_reconnect_and_new_ticks(client: MT5Client, sim: SimServer, pump,
                                                                       event_waiter) -> None:
    stream = client.ticks("EURUSD")
    async with pump(sim):
        await next_tick(stream)
        ready = ready_again(event_waiter, client)
        sim.faults.drop_after_frames(3)
        await within(ready, "the reconnect")
        resumed_ms = sim.clock.now_ms()
        await next_tick(stream, lambda t: t.time_msc > resumed_ms)
    await stream.aclose()
    assert client.state is SessionState.READY


async def test_unanswered_keepalive_marks_the_link_dead(sim: SimServer, make_client, event_waiter) -> None:
    async with make_client(sim.url, keepalive_interval=0.05, dead_after=0.2) as c:
        await c.login(sim.demo_account.login, sim.demo_account.password)
        reconnecting = event_waiter(c, ConnectionState, lambda e: e.state is SessionState.RECONNECTING)
        ready = ready_again(event_waiter, c)
        await c.session.request(Command.PING)  # a first answered ping arms the dead-link check
        sim.faults.delay(Command.PING, 30.0, times=1)
        event = await within(reconnecting, "the dead-link detection")
        assert "dead link" in event.reason
        await within(ready, "the reconnect")
        assert c.latency is not None


async def test_link_state_push_blocks_trading_locally(client: MT5Client, sim: SimServer, event_waiter) -> None:
    from pymt5_core.errors import TradeRejected

    await client.quote("EURUSD")
    down = event_waiter(client, LinkState, lambda e: not e.connected)
    sim.faults.link_down()
    assert not (await within(down, "push 15 (link down)")).connected
    with pytest.raises(TradeRejected) as info:
        await client.buy("EURUSD", 0.1)
    assert info.value.retcode == Retcode.CONNECTION
    up = event_waiter(client, LinkState, lambda e: e.connected)
    sim.faults.link_up()
    await within(up, "push 15 (link up)")
    assert (await client.buy("EURUSD", 0.1)).retcode == Retcode.DONE


async def test_reconnect_retries_while_logins_are_refused(client: MT5Client, sim: SimServer, event_waiter) -> None:
    attempts: list[int] = []

    def on_state(event: ConnectionState) -> None:
        if event.state is SessionState.RECONNECTING:
            attempts.append(event.attempt)
            if len(attempts) == 2:
                sim.faults.allow_logins()

    client.on(ConnectionState, on_state)
    ready = ready_again(event_waiter, client)
    sim.faults.refuse_logins(2)
    await client.session.drop("test")
    event = await within(ready, "the reconnect")
    assert event.attempt >= 2
    assert (await client.account()).login == sim.demo_account.login


async def test_requests_wait_for_the_reconnect(client: MT5Client, sim: SimServer) -> None:
    await client.session.drop("test")
    assert client.state is SessionState.RECONNECTING
    bars = await within(client.bars("EURUSD", "H1", count=5), "bars")  # waits until READY, then runs
    assert len(bars) == 5


async def test_close_stops_reconnecting(client: MT5Client, sim: SimServer) -> None:
    sim.faults.refuse_logins(3)
    await client.session.drop("test")
    await within(client.close(), "the close")
    assert client.state is SessionState.CLOSED


# --- regressions found by the seeded fault suite (tests/reliability) ---------------------------------------

#: Bound of a wait that hung before the fix (a failure, not a timing assertion).
BOUND = 5.0


async def test_undecryptable_answer_ends_the_link_instead_of_leaving_the_caller_waiting(
        client: MT5Client, sim: SimServer, event_waiter) -> None:
    ready = ready_again(event_waiter, client)
    sim.faults.corrupt_next_frame(Command.SYMBOL_GROUPS)
    async with asyncio.timeout(BOUND):  # no request timeout: before the fix this waited forever
        with pytest.raises(ConnectionLost):
            await client.session.request(Command.SYMBOL_GROUPS, timeout=None)
        await ready
    assert (await client.session.request(Command.SYMBOL_GROUPS)).code == 0


async def test_an_undecryptable_page_too_long_for_one_read_ends_the_link_and_the_retry_succeeds(
        client: MT5Client, sim: SimServer, event_waiter) -> None:
    # 20,000 M1 bars are a 960 kB answer: the transport feeds it to the session piece by piece as it arrives.
    end = datetime.fromtimestamp(await client.wait_server_time("EURUSD") / 1000 - 86_400 * 3, UTC)
    ready = ready_again(event_waiter, client)
    sim.faults.corrupt_next_frame(Command.RATES)
    async with asyncio.timeout(BOUND):
        with pytest.raises(ConnectionLost, match="undecryptable"):
            await client.bars("EURUSD", "M1", end=end, count=20_000)
        await ready
    bars = await client.bars("EURUSD", "M1", end=end, count=20_000)
    assert len(bars) == 20_000 and (bars["close"] > 0).all()


async def test_undecryptable_push_is_not_lost_the_reconnect_resyncs_the_mirror(
        client: MT5Client, sim: SimServer, event_waiter) -> None:
    await client.quote("EURUSD")
    ready = ready_again(event_waiter, client)
    sim.faults.corrupt_next_frame(Command.TRADE_UPDATE)  # the push 10 that opens the position
    async with asyncio.timeout(BOUND):
        try:
            await client.buy("EURUSD", 0.1)
        except ConnectionLost as exc:
            assert exc.outcome_unknown
        await ready
    await client.session.request(Command.PING)
    truth = sim.engine.positions(sim.demo_account.login)
    assert [p.ticket for p in client.mirror.positions.values()] == [int(p["position_id"]) for p in truth] != []


@pytest.mark.parametrize("reconnect", [True, False])
async def test_start_up_answer_missing_at_login_does_not_leave_the_session_syncing(
        sim: SimServer, make_client, reconnect: bool) -> None:
    sim.faults.delay(Command.SYMBOL_GROUPS, 30.0, times=1)  # far beyond the request timeout
    async with make_client(sim.url, timeout=0.3, reconnect=reconnect) as c, asyncio.timeout(BOUND):
        if reconnect:  # a fresh link, login and start-up take over; login returns once READY
            account = await c.login(sim.demo_account.login, sim.demo_account.password)
            assert account.login == sim.demo_account.login and c.state is SessionState.READY
        else:
            with pytest.raises(RequestTimeout):
                await c.login(sim.demo_account.login, sim.demo_account.password)
            assert c.state is SessionState.DISCONNECTED


async def test_tick_stream_started_as_the_link_drops_resumes_after_the_reconnect(
        client: MT5Client, sim: SimServer, pump, event_waiter) -> None:
    ready = ready_again(event_waiter, client)
    sim.faults.drop_at_command(Command.SUBSCRIBE_TICKS, "before")
    stream = client.ticks("EURUSD")
    async with pump(sim):
        tick = await stream.__anext__()  # before the fix: ConnectionLost out of the iteration
        await ready
    await stream.aclose()
    assert tick.symbol == "EURUSD" and client.state is SessionState.READY


async def test_resubscription_after_a_reconnect_does_not_repeat_the_last_tick(
        client: MT5Client, sim: SimServer, event_waiter) -> None:
    got: list[Tick] = []
    client.on(Tick, got.append)
    stream = client.ticks("EURUSD")
    first = asyncio.ensure_future(stream.__anext__())
    while not first.done():
        await sim.advance(250)
        await client.session.request(Command.PING)
    ready = ready_again(event_waiter, client)
    await client.session.drop("test")  # the clock stands still: the server's latest tick is the one we have
    await ready
    await client.session.request(Command.PING)  # the subscription snapshot has been handled
    await stream.aclose()
    seen = [(t.time_msc, t.bid, t.ask) for t in got]
    assert seen and len(seen) == len(set(seen))


async def test_an_older_identical_deal_in_the_history_is_not_taken_for_a_lost_request(
        sim: SimServer, make_client: Callable[..., MT5Client]) -> None:
    login, password = sim.demo_account.login, sim.demo_account.password
    earlier = make_client(sim.url, keepalive_interval=3600.0)
    await within(earlier.connect(), "connect")
    await within(earlier.login(login, password), "login")
    await within(earlier.buy("EURUSD", 0.1), "the earlier buy")  # a deal this test's client never sees pushed
    await within(earlier.disconnect(), "disconnect")
    await sim.advance(3_600_000)
    client = make_client(sim.url, keepalive_interval=3600.0)
    await within(client.connect(), "connect")
    await within(client.login(login, password), "login")
    try:
        await client.quote("EURUSD")
        sim.faults.drop_at_command(Command.TRADE_REQUEST, "before")  # the identical request never executes
        with pytest.raises(ConnectionLost) as info:
            await within(client.buy("EURUSD", 0.1), "the trade result")
        assert info.value.outcome_unknown
        assert len(sim.engine.positions(login)) == 1
        assert any(d.symbol == "EURUSD" for d in client.mirror.deals.values())  # the old deal was loaded
    finally:
        await within(client.disconnect(), "disconnect")
