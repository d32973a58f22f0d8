"""Trading engine: lifecycles, the SPEC §8.8 frame order, validation codes, money and triggers."""

from __future__ import annotations

from typing import Any

import pytest

from pymt5_core.sim.accounts import AccountConfig
from pymt5_core.sim.engine import AccountEvent, EngineEvent, Reason, Submission, TradeResultEvent
from pymt5_core.wire.enums import DealEntry, OrderState, Retcode
from pymt5_core.wire.messages.trading import DealUpdate, OrderUpdate, build_trade_result, build_trade_update
from tests.sim.test_engine_fakes import (
    EUR_NET,
    JPY_HEDGE,
    T0,
    USD_HEDGE,
    Mirror,
    Spec,
    World,
    default_specs,
    make_world,
    request,
)

USD, EUR, JPY = USD_HEDGE.login, EUR_NET.login, JPY_HEDGE.login


def shape(events: list[EngineEvent]) -> list[Any]:
    """Each frame as a compact signature: push 10 records as (flag_mask, transaction_type[, state]), 19 as code."""
    out: list[Any] = []
    for _, ev in events:
        if isinstance(ev, TradeResultEvent):
            out.append(("19", ev.result["retcode"]))
        elif isinstance(ev, AccountEvent):
            out.append("14")
        else:
            recs = ev if isinstance(ev, list) else [ev]
            out.append(tuple((r.flag_mask, r.transaction_type, r.order["order_state"]) if isinstance(r, OrderUpdate)
                             else (2, r.transaction_type) for r in recs))
    return out


def deals_of(events: list[EngineEvent]) -> list[DealUpdate]:
    return [r for _, ev in events for r in (ev if isinstance(ev, list) else [ev]) if isinstance(r, DealUpdate)]


def encode_all(events: list[EngineEvent]) -> None:
    """Every frame must encode with the wire builders."""
    for _, ev in events:
        if isinstance(ev, TradeResultEvent):
            assert len(build_trade_result(ev.echo, ev.result)) == 380
        elif not isinstance(ev, AccountEvent):
            build_trade_update(ev if isinstance(ev, list) else [ev])


def buy(world: World, login: int = USD, symbol: str = "EURUSD", volume: float = 0.1, **kw: Any) -> Submission:
    return world.engine.submit(login, request(3, symbol, volume, 0, type_filling=1, **kw))


def sell(world: World, login: int = USD, symbol: str = "EURUSD", volume: float = 0.1, **kw: Any) -> Submission:
    return world.engine.submit(login, request(3, symbol, volume, 1, type_filling=1, **kw))


@pytest.fixture
def world() -> World:
    return make_world()


# --- market orders and the frame order of §8.8 ------------------------------------------------------


def test_market_buy_follows_simulator_guidance(world: World) -> None:
    sub = buy(world, action_id=1234)
    assert sub.status == 0
    assert shape(sub.events) == [((0, 0, 1),), ((2, 0),), ((0, 2, 4), (1, 0, 4)), ("19", 10009)]
    encode_all(sub.events)
    deal = deals_of(sub.events)[0]
    assert deal.deal["price_open"] == 1.10010 and deal.deal["entry"] == DealEntry.IN
    assert deal.position["trade_volume"] == 10_000_000 and deal.position["position_id"] == deal.deal["position_id"]
    assert deal.balance == 10_000.0
    done = sub.events[2][1]
    assert isinstance(done, list) and done[1].order["time_done"] == T0 // 1000
    result = sub.result
    assert result is not None
    assert result["deal"] == deal.deal["deal"] and result["volume"] == 10_000_000 and result["price"] == 1.1001
    echo = sub.events[-1][1]
    assert isinstance(echo, TradeResultEvent) and echo.echo["action_id"] == 1234
    (pos,) = world.engine.positions(USD)
    assert pos["trade_order"] == result["trade_order"] == pos["position_id"]
    assert pos["price_close"] == 1.1 and pos["profit"] == pytest.approx(-1.0)


def test_a_request_reads_each_quote_once_and_sees_changes_made_between_requests(world: World,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    read = world.quotes.quote_at
    monkeypatch.setattr(world.quotes, "quote_at", lambda symbol, t_ms: asked.append(symbol) or read(symbol, t_ms))
    buy(world, EUR)  # price, margin before and after, conversion to EUR, order and position records
    assert sorted(asked) == ["EURUSD"]
    world.quotes.set("EURUSD", 1.20000, 1.20010)  # the clock has not moved
    assert buy(world, EUR).result["price"] == 1.2001  # type: ignore[index]


def test_close_position_fully_and_partially(world: World) -> None:
    ticket = buy(world, volume=0.3).result["trade_order"]  # type: ignore[index]
    world.quotes.set("EURUSD", 1.10110, 1.10120)
    part = sell(world, volume=0.1, trade_position=ticket, type_flags=3)
    (deal,) = deals_of(part.events)
    assert deal.deal["entry"] == DealEntry.OUT and deal.deal["profit"] == pytest.approx(10.0)
    assert deal.position["trade_volume"] == 20_000_000
    assert shape(part.events)[0] == ((0, 0, 1),)
    rest = sell(world, volume=0.2, trade_position=ticket)
    (deal,) = deals_of(rest.events)
    assert deal.position["trade_volume"] == 0 and deal.balance == pytest.approx(10_030.0)
    assert world.engine.positions(USD) == []
    again = sell(world, volume=0.2, trade_position=ticket)
    assert again.status == Retcode.POSITION_CLOSED
    assert sell(world, volume=0.2, trade_position=999).status == Retcode.INVALID


def test_hedging_keeps_one_position_per_fill(world: World) -> None:
    buy(world)
    buy(world)
    sell(world)
    assert len(world.engine.positions(USD)) == 3


def test_netting_aggregates_reduces_and_reverses(world: World) -> None:
    buy(world, EUR, volume=0.1)
    world.quotes.set("EURUSD", 1.10100, 1.10110)
    buy(world, EUR, volume=0.1)
    (pos,) = world.engine.positions(EUR)
    assert pos["trade_volume"] == 20_000_000 and pos["price_open"] == pytest.approx(1.1006)
    sub = sell(world, EUR, volume=0.5)
    (deal,) = deals_of(sub.events)
    assert deal.deal["entry"] == DealEntry.INOUT
    (pos,) = world.engine.positions(EUR)
    assert pos["trade_action"] == 1 and pos["trade_volume"] == 30_000_000 and pos["price_open"] == 1.101
    assert pos["position_id"] == deal.deal["position_id"]
    sub = buy(world, EUR, volume=0.3)
    assert deals_of(sub.events)[0].deal["entry"] == DealEntry.OUT and world.engine.positions(EUR) == []


def test_profit_and_margin_convert_to_a_non_usd_account(world: World) -> None:
    buy(world, EUR, volume=1.0)  # EUR account, EURUSD: margin 1000 EUR at 1:100
    assert world.engine.margin(EUR) == pytest.approx(1000.0)
    world.quotes.set("EURUSD", 1.10110, 1.10120)
    (pos,) = world.engine.positions(EUR)
    mid = (1.10110 + 1.10120) / 2
    assert pos["profit"] == pytest.approx(round(100.0 / mid, 2))
    assert world.engine.equity(EUR) == pytest.approx(10_000 + round(100.0 / mid, 2))


def test_jpy_account_converts_through_cross_rates(world: World) -> None:
    buy(world, JPY, volume=1.0)  # EURUSD on a JPY account: EUR -> USD -> JPY has no direct pair
    margin = world.engine.margin(JPY)
    eur_jpy = (165.000 + 165.020) / 2
    assert margin == pytest.approx(100_000 / 500 * eur_jpy)
    world.quotes.set("EURUSD", 1.10110, 1.10120)
    (pos,) = world.engine.positions(JPY)
    assert pos["profit"] == 15_001  # 100 USD at the USDJPY mid 150.005, rounded half up to 0 digits
    assert world.engine.account_body(JPY).main["currency_digits"] == 0


def test_cfd_and_futures_margin(world: World) -> None:
    buy(world, symbol="US500", volume=1.0)
    assert world.engine.margin(USD) == pytest.approx(4500.5 * 0.05)
    w2 = make_world()
    w2.engine.submit(USD, request(4, "FUT", 1, 0, type_filling=0))
    assert w2.engine.margin(USD) == pytest.approx(500.0)


def test_hedged_margin_uses_the_hedged_rate(world: World) -> None:
    buy(world, volume=1.0)
    single = world.engine.margin(USD)
    sell(world, volume=1.0)
    assert world.engine.margin(USD) == pytest.approx(single / 2 + world.engine.margin(USD) / 2)
    assert world.engine.margin(USD) == pytest.approx(single, rel=1e-3)


# --- execution modes ----------------------------------------------------------------------------


def test_instant_execution_and_requotes() -> None:
    world = make_world()
    ok = world.engine.submit(USD, request(2, "GBPUSD", 0.1, 0, price_order=1.25010))
    assert ok.retcode == Retcode.DONE
    far = world.engine.submit(USD, request(2, "GBPUSD", 0.1, 0, price_order=1.25000, price_deviation=5))
    assert far.retcode == Retcode.REQUOTE
    assert far.result is not None and (far.result["bid"], far.result["ask"]) == (1.25, 1.2501)
    assert shape(far.events) == [("19", 10004)]
    world.engine.force_requote("GBPUSD")
    assert world.engine.submit(USD, request(2, "GBPUSD", 0.1, 0, price_order=1.25010)).retcode == Retcode.REQUOTE
    assert world.engine.submit(USD, request(2, "GBPUSD", 0.1, 0, price_order=1.25010)).retcode == Retcode.DONE
    assert world.engine.submit(USD, request(2, "GBPUSD", 0.1, 0)).status == Retcode.INVALID_PRICE


def test_requote_probability_is_deterministic_by_seed() -> None:
    def run(seed: int) -> list[int]:
        specs = [s if s.name != "GBPUSD" else Spec("GBPUSD", exec_mode=1, requote_probability=0.5)
                 for s in default_specs()]
        world = make_world(seed=seed, specs=specs)
        world.quotes.set("GBPUSD", 1.25, 1.2501)
        return [world.engine.submit(USD, request(2, "GBPUSD", 0.01, 0, price_order=1.2501)).retcode
                for _ in range(20)]

    first = run(7)
    assert first == run(7) and {10004, 10009} <= set(first)


def test_request_execution_and_price_request(world: World) -> None:
    prices = world.engine.submit(USD, request(0, "USDCHF", 0.1, 0))
    assert prices.retcode == Retcode.PRICES and prices.result is not None and prices.result["ask"] == 0.9001
    done = world.engine.submit(USD, request(1, "USDCHF", 0.1, 0, price_order=0.9001))
    assert done.retcode == Retcode.DONE


def test_action_must_match_the_execution_mode(world: World) -> None:
    assert world.engine.submit(USD, request(2, "EURUSD", 0.1, 0, price_order=1.1001)).status == Retcode.INVALID
    assert world.engine.submit(USD, request(3, "GBPUSD", 0.1, 0)).status == Retcode.INVALID


def test_exchange_partial_fill_ioc_fok_and_return(world: World) -> None:
    ioc = world.engine.submit(USD, request(4, "FUT", 10, 0, type_filling=1))
    assert ioc.retcode == Retcode.DONE_PARTIAL and ioc.result is not None
    assert ioc.result["volume"] == 5 * 10**8 and ioc.result["price"] == pytest.approx((1001 * 2 + 1002 * 3) / 5)
    assert shape(ioc.events) == [((0, 0, 1),), ((2, 0), (2, 0)), ((0, 2, 3), (1, 0, 3)), ("19", 10010)]
    fok = world.engine.submit(USD, request(4, "FUT", 10, 0, type_filling=0))
    assert fok.retcode == Retcode.REJECT and shape(fok.events) == [("19", 10006)]
    ret = world.engine.submit(USD, request(4, "FUT", 6, 1, type_filling=2))
    assert ret.retcode == Retcode.DONE_PARTIAL
    (order,) = world.engine.orders(USD)
    assert order["order_state"] == OrderState.PARTIAL and order["volume_current"] == 10**8
    world.quotes.books["FUT"] = ([(1000, 5)], [])
    events = world.engine.on_quotes(T0 + 1000)
    assert shape(events) == [((2, 0),), ((0, 2, 4), (1, 0, 4))]
    assert world.engine.orders(USD) == []


# --- pending orders -----------------------------------------------------------------------------


def place(world: World, type_: int, price: float, login: int = USD, **kw: Any) -> Submission:
    return world.engine.submit(login, request(5, "EURUSD", 0.1, type_, price_order=price, type_filling=2, **kw))


def test_pending_place_modify_remove(world: World) -> None:
    placed = place(world, 2, 1.09000, price_sl=1.08000)
    assert shape(placed.events) == [((0, 0, 1),), ("19", 10009)]
    ticket = placed.result["trade_order"]  # type: ignore[index]
    modify = request(7, "EURUSD", 0.1, 2, trade_order=ticket, price_order=1.09500, price_sl=1.08500)
    mod = world.engine.submit(USD, modify)
    assert shape(mod.events) == [((0, 1, 1),), ("19", 10009)]
    assert world.engine.submit(USD, modify).status == Retcode.NO_CHANGES
    (order,) = world.engine.orders(USD)
    assert order["price_order"] == 1.095 and order["price_sl"] == 1.085
    removed = world.engine.submit(USD, request(8, "EURUSD", 0.1, 2, trade_order=ticket))
    assert shape(removed.events) == [((0, 2, 2), (1, 0, 2)), ("19", 10009)]
    assert world.engine.orders(USD) == []
    assert world.engine.submit(USD, request(8, "EURUSD", 0.1, 2, trade_order=ticket)).status == Retcode.INVALID


@pytest.mark.parametrize(("type_", "price", "trigger_bid"), [
    (2, 1.09000, 1.08980),  # buy limit: ask falls to the price
    (3, 1.11000, 1.11000),  # sell limit: bid rises to the price
    (4, 1.11000, 1.11000),  # buy stop: ask rises to the price
    (5, 1.09000, 1.09000),  # sell stop: bid falls to the price
])
def test_pending_orders_trigger(world: World, type_: int, price: float, trigger_bid: float) -> None:
    place(world, type_, price)
    assert world.engine.on_quotes(T0 + 500) == []
    world.quotes.set("EURUSD", trigger_bid, trigger_bid + 0.0001)
    events = world.engine.on_quotes(T0 + 1000)
    assert shape(events) == [((2, 0),), ((0, 2, 4), (1, 0, 4))]
    (pos,) = world.engine.positions(USD)
    assert pos["trade_action"] == type_ % 2
    if type_ in (2, 3):
        assert pos["price_open"] == price


def test_stop_limit_activates_into_a_limit_order(world: World) -> None:
    place(world, 6, 1.11000, price_trigger=1.10900)
    world.quotes.set("EURUSD", 1.10995, 1.11005)
    events = world.engine.on_quotes(T0 + 1000)
    assert shape(events) == [((0, 1, 1),)]
    (order,) = world.engine.orders(USD)
    assert order["order_type"] == 2 and order["price_order"] == 1.109 and order["price_trigger"] == 0
    world.quotes.set("EURUSD", 1.10880, 1.10890)
    events = world.engine.on_quotes(T0 + 2000)
    assert shape(events) == [((2, 0),), ((0, 2, 4), (1, 0, 4))]
    assert world.engine.positions(USD)[0]["price_open"] == 1.109


def test_pending_activation_without_money_is_rejected() -> None:
    world = make_world(accounts=[AccountConfig(9, "pw", balance=100.0)])
    world.engine.submit(9, request(5, "EURUSD", 1.0, 4, price_order=1.11, type_filling=2))
    world.quotes.set("EURUSD", 1.11, 1.1101)
    events = world.engine.on_quotes(T0 + 1000)
    assert shape(events) == [((0, 2, 5), (1, 0, 5))]


@pytest.mark.parametrize(("type_time", "expiration", "expires_at"), [
    (1, 0, 1_700_006_400),  # DAY: next 00:00 UTC
    (2, T0 // 1000 + 60, T0 // 1000 + 60),  # SPECIFIED
    (3, T0 // 1000 + 86_400, 1_700_092_800),  # SPECIFIED_DAY: end of that day
])
def test_expirations(world: World, type_time: int, expiration: int, expires_at: int) -> None:
    place(world, 2, 1.09, type_time=type_time, time_expiration=expiration)
    assert world.engine.on_quotes(expires_at * 1000 - 1) == []
    events = world.engine.on_quotes(expires_at * 1000)
    assert shape(events) == [((0, 2, 6), (1, 0, 6))]
    _, orders = world.engine.history(USD)
    assert orders[-1]["order_state"] == OrderState.EXPIRED


def test_gtc_never_expires(world: World) -> None:
    place(world, 2, 1.09)
    assert world.engine.on_quotes(T0 + 400 * 86_400_000) == []
    assert len(world.engine.orders(USD)) == 1


# --- SL/TP --------------------------------------------------------------------------------------


def test_sltp_modification_and_trigger(world: World) -> None:
    ticket = buy(world).result["trade_order"]  # type: ignore[index]
    sltp = request(6, "EURUSD", 0.1, 0, trade_position=ticket, price_sl=1.09, price_tp=1.11)
    sub = world.engine.submit(USD, sltp)
    assert shape(sub.events) == [((2, 1),), ("19", 10009)]
    (update,) = deals_of(sub.events)
    assert update.deal["deal"] == 0 and update.position["sl"] == 1.09
    assert world.engine.submit(USD, sltp).status == Retcode.NO_CHANGES
    world.quotes.set("EURUSD", 1.11, 1.1101)
    events = world.engine.on_quotes(T0 + 1000)
    assert shape(events) == [((0, 0, 1),), ((2, 0),), ((0, 2, 4), (1, 0, 4))]
    (deal,) = deals_of(events)
    assert deal.deal["trade_reason"] == Reason.TP == 4 and deal.position["trade_volume"] == 0


def test_stop_loss_on_a_short(world: World) -> None:
    sell(world, price_sl=1.1020)
    world.quotes.set("EURUSD", 1.1019, 1.1020)
    (deal,) = deals_of(world.engine.on_quotes(T0 + 1000))
    assert deal.deal["trade_reason"] == Reason.SL == 3 and deal.deal["price_open"] == 1.102


def test_no_triggers_while_the_market_is_closed() -> None:
    world = make_world()
    saturday = 1_700_265_600_000  # 2023-11-18 00:00 UTC
    world.engine.submit(USD, request(5, "WEEKDAY", 0.1, 2, price_order=1.09, type_filling=2))
    world.quotes.set("WEEKDAY", 1.08, 1.0801)
    assert world.engine.on_quotes(saturday) == []
    world.clock.t = saturday
    assert world.engine.submit(USD, request(3, "WEEKDAY", 0.1, 0)).status == Retcode.MARKET_CLOSED
    assert make_world(always_open=True).engine.submit(USD, request(3, "WEEKDAY", 0.1, 0)).status == 0


# --- close by, stop-out, swaps, balance -----------------------------------------------------------


def test_close_by(world: World) -> None:
    a = buy(world, volume=0.3).result["trade_order"]  # type: ignore[index]
    world.quotes.set("EURUSD", 1.10200, 1.10210)
    b = sell(world, volume=0.1).result["trade_order"]  # type: ignore[index]
    sub = world.engine.submit(USD, request(10, "EURUSD", 0.3, 1, trade_position=a, position_by=b))
    assert shape(sub.events) == [((0, 0, 1),), ((2, 0), (2, 0)), ((0, 2, 4), (1, 0, 4)), ("19", 10009)]
    first, second = deals_of(sub.events)
    assert first.deal["entry"] == second.deal["entry"] == DealEntry.OUT_BY
    assert first.deal["profit"] == pytest.approx(19.0) and second.deal["profit"] == 0
    assert first.position["trade_volume"] == 20_000_000 and second.position["trade_volume"] == 0
    assert world.engine.submit(EUR, request(10, "EURUSD", 0.1, 1, trade_position=a, position_by=b)).status == \
        Retcode.INVALID_ORDER


def test_stop_out_closes_the_most_losing_position() -> None:
    world = make_world(accounts=[AccountConfig(9, "pw", balance=1_000.0, leverage=100)])
    world.engine.submit(9, request(3, "EURUSD", 0.5, 0, type_filling=1))
    world.engine.submit(9, request(3, "US500", 1.0, 0, type_filling=1))
    world.quotes.set("EURUSD", 1.0850, 1.0851)  # -750 USD on EURUSD
    events = world.engine.on_quotes(T0 + 1000)
    deals = deals_of(events)
    assert deals and deals[0].deal["trade_symbol"] == "EURUSD" and deals[0].deal["trade_reason"] == Reason.SO
    assert deals[0].deal["comment"].startswith("[so ")


def test_swaps_roll_over_at_midnight_triple_on_wednesday() -> None:
    specs = [Spec(swap_long=-5.0, swap_short=1.0) if s.name == "EURUSD" else s for s in default_specs()]
    world = make_world(specs=specs)
    buy(world, volume=1.0)
    events = world.engine.on_quotes(1_700_006_400_000)  # Tuesday's rollover
    (update,) = deals_of(events)
    assert update.transaction_type == 1 and update.position["storage"] == pytest.approx(-5.0)
    world.engine.on_quotes(1_700_092_800_000)  # Wednesday's rollover counts three days
    assert world.engine.positions(USD)[0]["storage"] == pytest.approx(-20.0)
    ticket = world.engine.positions(USD)[0]["position_id"]
    (deal,) = deals_of(sell(world, volume=1.0, trade_position=ticket).events)
    assert deal.deal["storage"] == pytest.approx(-20.0) and deal.balance == pytest.approx(10_000 - 20 - 10)


def test_deposit_emits_a_balance_deal_and_push_14(world: World) -> None:
    events = world.engine.deposit(USD, 500.0)
    assert shape(events) == [((2, 0),), "14"]
    (update,) = deals_of(events)
    assert update.deal["trade_action"] == 2 and update.balance == 10_500.0
    encode_all(events)
    deals, _ = world.engine.history(USD)
    assert [d["profit"] for d in deals] == [10_000.0, 500.0]


def test_force_next_rejects_via_push_19(world: World) -> None:
    world.engine.force_next(Retcode.TRADE_DISABLED)
    sub = buy(world)
    assert sub.status == 0 and shape(sub.events) == [("19", 10017)]
    assert buy(world).retcode == Retcode.DONE


def test_account_body_and_demo_accounts(world: World) -> None:
    body = world.engine.account_body(EUR)
    assert body.main["account_currency"] == "EUR" and body.main["margin_mode"] == 0 and body.symbols_count == 13
    assert body.trade_settings and body.trade_settings[0]["symbol_path"] == "*"
    demo = world.engine.open_demo_account("New", currency="USD", leverage=200, balance=5000)
    assert demo.login == JPY + 1 and world.engine.account_body(demo.login).main["balance"] == 5000
    assert "pw" not in repr(demo) and demo.password not in repr(demo)


def test_history_window(world: World) -> None:
    buy(world)
    world.clock.t = T0 + 3_600_000
    buy(world)
    deals, orders = world.engine.history(USD, T0 // 1000 + 1)
    assert len(deals) == 1 and len(orders) == 1
    assert len(world.engine.history(USD)[0]) == 3


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("req", "code"), [
    (request(3, "NOPE", 0.1, 0), Retcode.INVALID),
    (request(3, "EURUSD", 0.001, 0), Retcode.INVALID_VOLUME),
    (request(3, "EURUSD", 0.015, 0), Retcode.INVALID_VOLUME),
    (request(3, "EURUSD", 101, 0), Retcode.INVALID_VOLUME),
    (request(3, "EURUSD", 0.1, 0, price_sl=1.1), Retcode.INVALID_STOPS),
    (request(3, "EURUSD", 0.1, 0, price_tp=1.0999), Retcode.INVALID_STOPS),
    (request(3, "US500", 1, 0, price_sl=4499.95), Retcode.INVALID_STOPS),  # stops level 10 points
    (request(3, "DISABLED", 0.1, 0), Retcode.TRADE_DISABLED),
    (request(3, "LONGONLY", 0.1, 1), Retcode.LONG_ONLY),
    (request(3, "SHORTONLY", 0.1, 0), Retcode.SHORT_ONLY),
    (request(3, "CLOSEONLY", 0.1, 0), Retcode.CLOSE_ONLY),
    (request(3, "EURUSD", 1000, 0, volume_max=0), Retcode.INVALID_VOLUME),
    (request(3, "EURUSD", 0.1, 0, type_filling=3), Retcode.INVALID_FILL),
    (request(4, "FUT", 1, 0, type_filling=3), Retcode.INVALID_FILL),
    (request(3, "EURUSD", 0.1, 2), Retcode.INVALID_ORDER),
    (request(3, "NOSTOPS", 0.1, 0, price_sl=1.0), Retcode.INVALID_ORDER),
    (request(5, "NOSTOPS", 0.1, 6, price_order=1.2, price_trigger=1.15), Retcode.INVALID_ORDER),
    (request(5, "EURUSD", 0.1, 2, price_order=1.1001), Retcode.INVALID_PRICE),
    (request(5, "EURUSD", 0.1, 2, price_order=1.090005), Retcode.INVALID_PRICE),
    (request(5, "EURUSD", 0.1, 4, price_order=1.09), Retcode.INVALID_PRICE),
    (request(5, "EURUSD", 0.1, 6, price_order=1.12, price_trigger=1.13), Retcode.INVALID_PRICE),
    (request(5, "EURUSD", 0.1, 2, price_order=1.09, price_sl=1.095), Retcode.INVALID_STOPS),
    (request(5, "EURUSD", 0.1, 2, price_order=1.09, type_time=2, time_expiration=T0 // 1000 - 1),
     Retcode.INVALID_EXPIRATION),
    (request(5, "EURUSD", 0.1, 2, price_order=1.09, type_time=4), Retcode.INVALID_EXPIRATION),
    (request(6, "EURUSD", 0.1, 0, trade_position=77, price_sl=1.0), Retcode.INVALID),
    (request(7, "EURUSD", 0.1, 2, trade_order=77, price_order=1.0), Retcode.INVALID),
    (request(9, "EURUSD", 0.1, 0), Retcode.INVALID),
    (request(3, "EURUSD", 1000, 0), Retcode.INVALID_VOLUME),
])
def test_validation_codes(world: World, req: dict[str, Any], code: int) -> None:
    req.pop("volume_max", None)
    sub = world.engine.submit(USD, req)
    assert (sub.status, sub.events) == (code, [])


def test_no_money(world: World) -> None:
    assert buy(world, volume=99).status == Retcode.NO_MONEY


def test_price_off_without_quotes(world: World) -> None:
    del world.quotes.prices["EURUSD"]
    assert buy(world).status == Retcode.PRICE_OFF


def test_expiration_kind_must_be_allowed() -> None:
    specs = [Spec(time_flags=1) if s.name == "EURUSD" else s for s in default_specs()]
    world = make_world(specs=specs)
    assert place(world, 2, 1.09, type_time=1).status == Retcode.INVALID_EXPIRATION


def test_freeze_level_blocks_modification() -> None:
    specs = [Spec(freeze_level=200) if s.name == "EURUSD" else s for s in default_specs()]
    world = make_world(specs=specs)
    ticket = place(world, 2, 1.09900).result["trade_order"]  # type: ignore[index]
    sub = world.engine.submit(USD, request(8, "EURUSD", 0.1, 2, trade_order=ticket))
    assert sub.status == Retcode.FROZEN


def test_unknown_login() -> None:
    assert make_world().engine.submit(42, request(3)).status == Retcode.INVALID


def test_mirror_sees_a_full_lifecycle(world: World) -> None:
    mirror = Mirror.snapshot(world.engine, USD)
    events = buy(world, price_tp=1.1100).events + place(world, 3, 1.1050).events
    world.quotes.set("EURUSD", 1.1110, 1.1111)
    events += world.engine.on_quotes(T0 + 1000)
    mirror.apply(events, USD)
    mirror.assert_matches(world.engine, USD)
