"""Trading against the simulator: every order type and lifecycle, local checks, server rejections.

The simulator's engine is the truth: after each operation the client's mirror must agree with it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pymt5_core.client import MT5Client
from pymt5_core.errors import InvalidRequest, TradeRejected
from pymt5_core.events import OrderEvent, TradeTransaction, TransactionType
from pymt5_core.models import RequestAction, TradeRequest, TradeResult
from pymt5_core.sim import SimServer
from pymt5_core.wire.enums import Command, OrderFilling, OrderState, OrderType, Retcode


def engine_positions(sim: SimServer, login: int) -> dict[int, int]:
    """Position ticket -> volume (lots x 1e8) on the server."""
    return {int(p["position_id"]): int(p["trade_volume"]) for p in sim.engine.positions(login)}


def engine_orders(sim: SimServer, login: int) -> set[int]:
    return {int(o["trade_order"]) for o in sim.engine.orders(login)}


def assert_mirror_matches(client: MT5Client, sim: SimServer) -> None:
    login = sim.demo_account.login if client.mirror.login == sim.demo_account.login else client.mirror.login
    assert {t: p.volume_wire for t, p in client.mirror.positions.items()} == engine_positions(sim, login)
    assert set(client.mirror.orders) == engine_orders(sim, login)


async def test_market_buy_partial_and_full_close(client: MT5Client, sim: SimServer) -> None:
    opened = await client.buy("EURUSD", 0.3, comment="entry")
    assert opened.retcode == Retcode.DONE and opened.deal and opened.order and opened.volume == 0.3
    assert opened.request is not None and opened.request.symbol == "EURUSD"
    position = client.mirror.positions[opened.order]
    assert position.volume == 0.3 and position.comment == "entry" and position.type == 0
    assert_mirror_matches(client, sim)
    account = await client.account()
    assert account.margin > 0 and account.margin_free < account.equity
    part = await client.close(position.ticket, 0.1)
    assert part.retcode == Retcode.DONE and client.mirror.positions[position.ticket].volume == pytest.approx(0.2)
    rest = await client.close(position.ticket)
    assert rest.volume == pytest.approx(0.2) and position.ticket not in client.mirror.positions
    assert_mirror_matches(client, sim)
    deals = [d for d in client.mirror.deals.values() if d.position_id == position.ticket]
    assert [d.entry for d in deals] == [0, 1, 1]


async def test_sell_with_stops_then_modify_stops(client: MT5Client, sim: SimServer) -> None:
    quote = await client.quote("EURUSD")
    result = await client.sell("EURUSD", 0.1, sl=round(quote.ask + 0.005, 5), tp=round(quote.ask - 0.005, 5))
    pos = client.mirror.positions[result.order]
    assert pos.type == 1 and pos.sl == round(quote.ask + 0.005, 5)
    changed = await client.modify(pos.ticket, sl=round(quote.ask + 0.006, 5))
    assert changed.retcode == Retcode.DONE
    updated = client.mirror.positions[pos.ticket]
    assert updated.sl == round(quote.ask + 0.006, 5) and updated.tp == pos.tp
    with pytest.raises(TradeRejected) as info:
        await client.modify(pos.ticket, sl=updated.sl)
    assert info.value.retcode == Retcode.NO_CHANGES


@pytest.mark.parametrize(
    ("method", "offset", "order_type"),
    [("buy_limit", -0.01, OrderType.BUY_LIMIT), ("sell_limit", 0.01, OrderType.SELL_LIMIT),
     ("buy_stop", 0.01, OrderType.BUY_STOP), ("sell_stop", -0.01, OrderType.SELL_STOP)],
)
async def test_pending_orders_place_modify_cancel(client: MT5Client, sim: SimServer, method: str, offset: float,
                                                  order_type: int) -> None:
    quote = await client.quote("EURUSD")
    events: list[OrderEvent] = []
    client.on(OrderEvent, events.append)
    price = round(quote.bid + offset, 5)
    placed = await getattr(client, method)("EURUSD", 0.2, price, comment="pend")
    order = client.mirror.orders[placed.order]
    assert order.type == order_type and order.price_open == price and order.state == OrderState.PLACED
    moved = round(price + (0.001 if offset > 0 else -0.001), 5)
    await client.modify(order.ticket, price=moved)
    assert client.mirror.orders[order.ticket].price_open == moved
    await client.cancel(order.ticket)
    assert order.ticket not in client.mirror.orders
    assert_mirror_matches(client, sim)
    log = client.mirror.order_log(order.ticket)
    assert log[0].state == OrderState.PLACED and log[-1].removed and log[-1].state == OrderState.CANCELED
    assert any(e.ticket == order.ticket for e in events)


async def test_stop_limit_orders(client: MT5Client, sim: SimServer) -> None:
    quote = await client.quote("EURUSD")
    buy = await client.buy_stop_limit("EURUSD", 0.1, round(quote.ask + 0.01, 5), round(quote.ask + 0.008, 5))
    sell = await client.sell_stop_limit("EURUSD", 0.1, round(quote.bid - 0.01, 5), round(quote.bid - 0.008, 5))
    assert client.mirror.orders[buy.order].price_stoplimit == round(quote.ask + 0.008, 5)
    assert client.mirror.orders[sell.order].type == OrderType.SELL_STOP_LIMIT
    await client.modify(buy.order, stoplimit=round(quote.ask + 0.007, 5))
    assert client.mirror.orders[buy.order].price_stoplimit == round(quote.ask + 0.007, 5)
    with pytest.raises(TradeRejected) as info:
        await client.buy_stop_limit("EURUSD", 0.1, round(quote.ask + 0.01, 5), round(quote.ask + 0.02, 5))
    assert info.value.retcode == Retcode.INVALID_PRICE
    assert_mirror_matches(client, sim)


async def test_limit_order_fills_when_the_market_reaches_it(client: MT5Client, sim: SimServer, pump,
                                                            event_waiter) -> None:
    quote = await client.quote("EURUSD")
    placed = await client.buy_stop("EURUSD", 0.1, round(quote.ask + 0.0003, 5))
    filled = event_waiter(client, OrderEvent, lambda e: e.ticket == placed.order and e.state == OrderState.FILLED)
    async with pump(sim, 1000):
        event = await filled
    assert event.previous == OrderState.PLACED and placed.order not in client.mirror.orders
    assert any(p.symbol == "EURUSD" for p in client.mirror.positions.values())
    assert_mirror_matches(client, sim)


async def test_close_by_on_a_hedging_account(client: MT5Client, sim: SimServer) -> None:
    long = await client.buy("EURUSD", 0.2)
    short = await client.sell("EURUSD", 0.1)
    result = await client.close_by(long.order, short.order)
    assert result.retcode == Retcode.DONE
    assert short.order not in client.mirror.positions
    assert client.mirror.positions[long.order].volume == pytest.approx(0.1)
    assert_mirror_matches(client, sim)


async def test_instant_and_request_execution_symbols(client: MT5Client, sim: SimServer) -> None:
    instant = await client.buy("GBPUSD", 0.1, deviation=50)  # instant execution, FOK only
    assert instant.request is not None and instant.retcode == Retcode.DONE
    request = await client.sell("EURCHF", 0.1)  # request execution
    assert request.retcode == Retcode.DONE
    assert_mirror_matches(client, sim)


async def test_netting_account_keeps_one_position_per_symbol(sim: SimServer, make_client) -> None:
    async with make_client(sim.url) as c:
        await c.login(5000002, "Netting1234!")
        await c.buy("EURUSD", 0.1)
        await c.buy("EURUSD", 0.2)
        positions = await c.positions()
        assert len(positions) == 1 and positions[0].volume == pytest.approx(0.3)
        assert {t: p.volume_wire for t, p in c.mirror.positions.items()} == engine_positions(sim, 5000002)
        with pytest.raises(TradeRejected) as info:
            await c.close_by(positions[0].ticket, positions[0].ticket)
        assert info.value.retcode in (Retcode.INVALID_ORDER, Retcode.INVALID)


@pytest.mark.parametrize(
    ("call", "retcode"),
    [
        (lambda c, q: c.buy("EURUSD", 0.001), Retcode.INVALID_VOLUME),
        (lambda c, q: c.buy("EURUSD", 1000.0), Retcode.INVALID_VOLUME),
        (lambda c, q: c.buy("EURUSD", 0.015), Retcode.INVALID_VOLUME),
        (lambda c, q: c.buy_limit("EURUSD", 0.1, q.bid - 0.000011), Retcode.INVALID_PRICE),
        (lambda c, q: c.buy_limit("EURUSD", 0.1, round(q.ask + 0.01, 5)), Retcode.INVALID_PRICE),
        (lambda c, q: c.buy("EURUSD", 0.1, sl=round(q.bid + 0.001, 5)), Retcode.INVALID_STOPS),
        (lambda c, q: c.buy("GBPUSD", 0.1, tp=round(q.bid + 0.00002, 5)), Retcode.INVALID_STOPS),
        (lambda c, q: c.buy("GBPUSD", 0.1, filling=OrderFilling.IOC), Retcode.INVALID_FILL),
        (lambda c, q: c.buy_limit("EURUSD", 0.1, round(q.bid - 0.01, 5), expiration=1), Retcode.INVALID_EXPIRATION),
        (lambda c, q: c.close(999_999), Retcode.INVALID),
        (lambda c, q: c.cancel(999_999), Retcode.INVALID),
    ],
)
async def test_local_checks_raise_before_anything_is_sent(client: MT5Client, sim: SimServer, call: Callable,
                                                          retcode: int) -> None:
    await client.quote("EURUSD")
    await client.quote("GBPUSD")
    quote = await client.symbol("EURUSD")
    sim.faults.drop_at_command(Command.TRADE_REQUEST)  # a command 12 reaching the server would drop the link
    with pytest.raises(TradeRejected) as info:
        await call(client, quote)
    assert info.value.retcode == retcode
    assert sim.faults.armed == 1  # the rule never fired: no command 12 was received
    assert engine_orders(sim, sim.demo_account.login) == set()
    assert engine_positions(sim, sim.demo_account.login) == {}


async def test_trade_mode_checks_use_the_pushed_configuration(client: MT5Client, sim: SimServer,
                                                              event_waiter) -> None:
    from pymt5_core.events import SymbolUpdate

    await client.symbol("EURUSD")
    for mode, buy_code, sell_code in ((0, 10017, 10017), (1, None, 10042), (2, 10043, None), (3, 10044, 10044)):
        updated = event_waiter(client, SymbolUpdate, lambda e, m=mode: e.symbol.trade_mode == m)
        sim.update_symbol("EURUSD", trade_mode=mode)
        await updated
        sim.faults.drop_at_command(Command.TRADE_REQUEST)
        for side, code in (("buy", buy_code), ("sell", sell_code)):
            if code is None:
                continue
            with pytest.raises(TradeRejected) as info:
                await getattr(client, side)("EURUSD", 0.1)
            assert info.value.retcode == code
        assert sim.faults.armed == 1
        sim.faults.reset()


async def test_server_rejection_is_raised_with_its_result(client: MT5Client, sim: SimServer) -> None:
    await client.quote("EURUSD")
    sim.faults.force_reject(Retcode.NO_MONEY)
    with pytest.raises(TradeRejected) as info:
        await client.buy("EURUSD", 0.1)
    assert info.value.retcode == Retcode.NO_MONEY
    assert isinstance(info.value.result, TradeResult) and info.value.result.retcode == Retcode.NO_MONEY
    assert client.mirror.positions == {}


async def test_order_send_with_a_request_object_and_transactions(client: MT5Client, sim: SimServer) -> None:
    transactions: list[TradeTransaction] = []
    results: list[TradeResult] = []
    client.on(TradeTransaction, transactions.append)
    client.on(TradeResult, results.append)
    result = await client.order_send(TradeRequest(RequestAction.DEAL, "USDJPY", 0.1, OrderType.BUY, comment="x"))
    kinds = {t.type for t in transactions}
    assert {TransactionType.DEAL_ADD, TransactionType.POSITION, TransactionType.HISTORY_ADD} <= kinds
    assert results and results[-1] == result and result.request_id >= 1000
    with pytest.raises(InvalidRequest):
        await client.order_send(TradeRequest(RequestAction.DEAL, "", 0.1))


async def test_margin_and_profit_are_computed_locally(client: MT5Client) -> None:
    await client.symbol("EURUSD")
    eurusd = await client.quote("EURUSD")
    margin = client.order_calc_margin(OrderType.BUY, "EURUSD", 1.0, 1.1)  # 1 lot / leverage 100, EUR -> USD
    assert margin == pytest.approx(1000.0 * (eurusd.bid + eurusd.ask) / 2, abs=0.01)
    assert client.order_calc_profit(OrderType.BUY, "EURUSD", 1.0, 1.1, 1.101) == pytest.approx(100.0)
    assert client.order_calc_profit(OrderType.SELL, "EURUSD", 0.5, 1.1, 1.101) == pytest.approx(-50.0)
    await client.symbol("USDJPY")
    await client.quote("USDJPY")
    profit = client.order_calc_profit(OrderType.BUY, "USDJPY", 1.0, 150.0, 151.0)
    assert profit == pytest.approx(100_000 / (await client.quote("USDJPY")).bid, rel=0.01)
    with pytest.raises(InvalidRequest):
        client.order_calc_margin(OrderType.BUY, "AUDJPY", 1.0, 98.0)  # configuration not loaded yet


async def test_a_lost_trade_result_is_settled_from_the_pushes_when_the_wait_times_out(client: MT5Client,
                                                                                      sim: SimServer) -> None:
    client.timeout = 0.2
    sim.faults.corrupt_next_frame(Command.TRADE_RESULT)  # the client drops it as undecryptable
    result = await client.buy("EURUSD", 0.1)
    assert result.reconciled and result.retcode == Retcode.DONE
    assert client.mirror.positions[result.order].volume == pytest.approx(0.1)
    assert_mirror_matches(client, sim)
