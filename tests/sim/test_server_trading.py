"""Trading through command 12: every order type, the SPEC §8.8 frame order, routing, the trade-server link."""

from __future__ import annotations

from typing import Any

import pytest

from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command, Retcode
from pymt5_core.wire.frames import ResponseFrame
from tests.sim.conftest import START_MS, WireClient, WireClientFactory

MARKET_FILLED = [("12", 0), ((0, 0, 1),), ((2, 0),), ((0, 2, 4), (1, 0, 4)), ("19", 10009)]
PLACED = [("12", 0), ((0, 0, 1),), ("19", 10009)]


def request(action: int, symbol: str = "EURUSD", volume: float = 0.1, type_: int = 0, **fields: Any) -> bytes:
    values: dict[str, Any] = {"action_id": fields.pop("action_id", 1), "trade_action": action,
                              "trade_symbol": symbol, "trade_volume": round(volume * 1e8), "trade_type": type_}
    values.update(fields)
    return msg.build_trade_request(values)


def signature(frame: ResponseFrame) -> Any:
    """A frame as a compact shape: 12 and 19 with their code, push 10 as (flag_mask, transaction_type[, state])."""
    if frame.command == Command.TRADE_REQUEST:
        return "12", msg.read_trade_status(frame.body)
    if frame.command == Command.TRADE_RESULT:
        return "19", msg.read_trade_result(frame.body)[1]["retcode"]
    if frame.command == Command.ACCOUNT_UPDATE:
        return "14"
    assert frame.command == Command.TRADE_UPDATE, frame
    return tuple(
        (u.flag_mask, u.transaction_type, u.order["order_state"]) if isinstance(u, msg.OrderUpdate)
        else (2, u.transaction_type)
        for u in msg.read_trade_update(frame.body)
    )


async def frames_until_result(client: WireClient) -> list[ResponseFrame]:
    """Every frame in arrival order up to push 19 (or a failing command 12 answer)."""
    frames = []
    while True:
        frame = await client.next()
        frames.append(frame)
        if frame.command == Command.TRADE_RESULT:
            return frames
        if frame.command == Command.TRADE_REQUEST and msg.read_trade_status(frame.body) != 0:
            return frames


async def trade(client: WireClient, payload: bytes) -> tuple[list[Any], list[ResponseFrame]]:
    await client.send(Command.TRADE_REQUEST, payload)
    frames = await frames_until_result(client)
    return [signature(f) for f in frames], frames


def result_of(frames: list[ResponseFrame]) -> dict[str, Any]:
    return dict(msg.read_trade_result(frames[-1].body)[1])


def prices(sim: Any, symbol: str = "EURUSD") -> tuple[float, float]:
    quote = sim.model.quote_at(symbol, sim.clock.now_ms())
    return quote.bid, quote.ask


async def test_market_order_follows_the_guidance_order_on_every_connection_of_the_login(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    twin = await wire_client(login=True)
    other = await wire_client()
    assert (await other.login(5000002, "Netting1234!")).code == 0
    shape, frames = await trade(client, request(3, type_filling=1, type_flags=2, action_id=77))
    assert shape == MARKET_FILLED
    echo, result = msg.read_trade_result(frames[-1].body)
    assert echo["action_id"] == 77 and result["deal"] > 0 and result["trade_order"] > 0
    assert result["volume"] == 10_000_000 and result["price"] == prices(sim)[1]
    (deal,) = msg.read_trade_update(frames[2].body)
    assert isinstance(deal, msg.DealUpdate) and deal.position["trade_volume"] == 10_000_000
    twin_frames = await frames_until_result(twin)
    assert [signature(f) for f in twin_frames] == MARKET_FILLED[1:]  # the pushes, not the answer
    assert (await other.request(Command.PING)).code == 0 and other.pending() == []
    positions, _ = msg.read_opened((await client.request(Command.OPENED)).body)
    assert positions["position_id"].tolist() == [result["trade_order"]]


async def test_every_pending_order_type_can_be_placed_modified_and_removed(
    wire_client: WireClientFactory, sim: Any
) -> None:
    client = await wire_client(login=True)
    bid, ask = prices(sim)
    away = 0.005
    placements = {
        2: {"price_order": round(bid - away, 5)},  # buy limit
        3: {"price_order": round(ask + away, 5)},  # sell limit
        4: {"price_order": round(ask + away, 5)},  # buy stop
        5: {"price_order": round(bid - away, 5)},  # sell stop
        # stop limits: price_order is the stop price, price_trigger the limit price of the order placed then
        6: {"price_order": round(ask + away, 5), "price_trigger": round(ask + away - 0.001, 5)},  # buy stop limit
        7: {"price_order": round(bid - away, 5), "price_trigger": round(bid - away + 0.001, 5)},  # sell stop limit
    }
    tickets = {}
    for type_, fields in placements.items():
        shape, frames = await trade(client, request(5, type_=type_, type_filling=2, type_flags=2, **fields))
        assert shape == PLACED, type_
        tickets[type_] = result_of(frames)["trade_order"]
    _, orders = msg.read_opened((await client.request(Command.OPENED)).body)
    assert sorted(orders["order_type"].tolist()) == [2, 3, 4, 5, 6, 7]

    moved = round(bid - 2 * away, 5)
    shape, _ = await trade(client, request(7, type_=2, trade_order=tickets[2], price_order=moved))
    assert shape == [("12", 0), ((0, 1, 1),), ("19", 10009)]
    for type_, ticket in tickets.items():
        shape, _ = await trade(client, request(8, type_=type_, trade_order=ticket))
        assert shape == [("12", 0), ((0, 2, 2), (1, 0, 2)), ("19", 10009)]
    _, orders = msg.read_opened((await client.request(Command.OPENED)).body)
    assert len(orders) == 0
    shape, _ = await trade(client, request(8, type_=2, trade_order=tickets[2]))
    assert shape == [("12", Retcode.INVALID)]  # an immediate failure: no push 19


async def test_sltp_close_and_close_by(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    bid, ask = prices(sim)
    _, frames = await trade(client, request(3, volume=0.3, type_filling=1, type_flags=2))
    long_ticket = result_of(frames)["trade_order"]
    shape, frames = await trade(client, request(6, trade_position=long_ticket, price_sl=round(bid - 0.01, 5),
                                                price_tp=round(ask + 0.01, 5)))
    assert shape == [("12", 0), ((2, 1),), ("19", 10009)]
    (update,) = msg.read_trade_update(frames[1].body)
    assert isinstance(update, msg.DealUpdate) and update.deal["deal"] == 0

    shape, frames = await trade(client, request(3, type_=1, volume=0.1, trade_position=long_ticket,
                                                type_filling=1, type_flags=3))
    assert shape == MARKET_FILLED
    (closing,) = msg.read_trade_update(frames[2].body)
    assert isinstance(closing, msg.DealUpdate) and closing.position["trade_volume"] == 20_000_000

    _, frames = await trade(client, request(3, type_=1, volume=0.1, type_filling=1, type_flags=2))
    short_ticket = result_of(frames)["trade_order"]
    shape, _ = await trade(client, request(10, type_=1, volume=0.2, trade_position=long_ticket,
                                           position_by=short_ticket, type_flags=3))
    assert shape == [("12", 0), ((0, 0, 1),), ((2, 0), (2, 0)), ((0, 2, 4), (1, 0, 4)), ("19", 10009)]
    positions, _ = msg.read_opened((await client.request(Command.OPENED)).body)
    assert positions["trade_volume"].tolist() == [10_000_000]


async def test_instant_execution_requote_and_forced_reject(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    _, ask = prices(sim, "GBPUSD")
    sim.faults.force_requote("GBPUSD")
    shape, frames = await trade(client, request(2, "GBPUSD", price_order=ask, type_filling=0, type_flags=2))
    assert shape == [("12", 0), ("19", Retcode.REQUOTE)]
    assert result_of(frames)["ask"] == ask
    shape, _ = await trade(client, request(2, "GBPUSD", price_order=ask, type_filling=0, type_flags=2))
    assert shape == MARKET_FILLED
    sim.faults.force_reject(Retcode.REJECT)
    shape, _ = await trade(client, request(3, type_filling=1, type_flags=2))
    assert shape == [("12", 0), ("19", Retcode.REJECT)]


async def test_exchange_execution_fills_against_the_book(wire_client: WireClientFactory, sim: Any) -> None:
    login, password, _ = sim.open_demo_account({"name": "Whale", "deposit": 1_000_000.0})
    client = await wire_client()
    assert (await client.login(login, password)).code == 0
    shape, frames = await trade(client, request(4, "ESZ7", volume=1, type_filling=1, type_flags=2))
    assert shape[0] == ("12", 0) and shape[-1] == ("19", Retcode.DONE)
    assert result_of(frames)["volume"] == 100_000_000


async def test_triggers_after_advance_reach_the_account_connections(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    bid, ask = prices(sim)
    for type_, price in ((4, round(ask + 0.00003, 5)), (5, round(bid - 0.00003, 5))):
        shape, _ = await trade(client, request(5, type_=type_, price_order=price, type_filling=2, type_flags=2))
        assert shape == PLACED
    await sim.advance(120_000)
    frames = [await client.next(Command.TRADE_UPDATE)]
    frames += client.pending(Command.TRADE_UPDATE)
    shapes = [signature(f) for f in frames]
    assert shapes[:2] == [((2, 0),), ((0, 2, 4), (1, 0, 4))]  # the activation of the first stop reached
    positions, _ = msg.read_opened((await client.request(Command.OPENED)).body)
    assert len(positions) >= 1


async def test_trade_server_link_down_fails_trades_with_10031(wire_client: WireClientFactory, sim: Any) -> None:
    client = await wire_client(login=True)
    anonymous = await wire_client()
    sim.faults.link_down()
    assert msg.read_link_state((await client.next(Command.LINK_STATE)).body) == 1
    shape, _ = await trade(client, request(3, type_filling=1, type_flags=2))
    assert shape == [("12", Retcode.CONNECTION)]
    late = await wire_client()
    await late.login(sim.demo_account.login, sim.demo_account.password)
    assert msg.read_link_state((await late.next(Command.LINK_STATE)).body) == 1  # told at login
    sim.faults.link_up()
    assert msg.read_link_state((await client.next(Command.LINK_STATE)).body) == 0
    shape, _ = await trade(client, request(3, type_filling=1, type_flags=2))
    assert shape == MARKET_FILLED
    assert (await anonymous.request(Command.PING)).code == 0 and anonymous.pending() == []


async def test_history_after_trading(wire_client: WireClientFactory) -> None:
    client = await wire_client(login=True)
    await trade(client, request(3, type_filling=1, type_flags=2))
    deals, orders = msg.read_history((await client.request(Command.HISTORY,
                                                           msg.build_history_request(START_MS // 1000 - 86_400))).body)
    assert len(deals) == 2 and len(orders) == 1  # the deposit and the buy; the filled order


@pytest.mark.parametrize("payload", [b"", b"\x00" * 10])
async def test_truncated_trade_request_gets_code_1(wire_client: WireClientFactory, payload: bytes) -> None:
    client = await wire_client(login=True)
    assert (await client.request(Command.TRADE_REQUEST, payload)).code == 1
