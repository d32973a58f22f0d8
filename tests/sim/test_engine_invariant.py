"""Replaying every emitted push 10 (SPEC §8.9) onto the initial snapshot reproduces the engine's state."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pymt5_core.sim.engine import TradeResultEvent
from pymt5_core.wire.enums import Retcode
from tests.sim.test_engine_fakes import EUR_NET, JPY_HEDGE, T0, USD_HEDGE, Mirror, make_world, request

LOGINS = (USD_HEDGE.login, EUR_NET.login, JPY_HEDGE.login)
SYMBOLS = ("EURUSD", "USDJPY", "US500")


def random_request(rng: random.Random, positions: list[dict[str, Any]], orders: list[dict[str, Any]],
                   prices: dict[str, tuple[float, float]]) -> dict[str, Any]:
    symbol = rng.choice(SYMBOLS)
    bid, ask = prices[symbol]
    step = 0.1 if symbol == "US500" else 0.01
    volume = step * rng.randint(1, 30)
    kind = rng.random()
    if kind < 0.35:
        side = rng.randint(0, 1)
        return request(3, symbol, volume, side, type_filling=1)
    if kind < 0.5 and positions:
        pos = rng.choice(positions)
        part = min(pos["trade_volume"], round(rng.choice([0.5, 1.0]) * pos["trade_volume"] / 1e6) * 1_000_000)
        return {**request(3, pos["trade_symbol"], 0, 1 - pos["trade_action"], type_filling=1),
                "trade_volume": part or pos["trade_volume"], "trade_position": pos["position_id"]}
    if kind < 0.7:
        type_ = rng.randint(2, 7)
        away = (ask - bid) * rng.randint(3, 40)
        prices_by_type = {2: ask - away, 3: bid + away, 4: ask + away, 5: bid - away, 6: ask + away, 7: bid - away}
        price = prices_by_type[type_]
        limit = price - away / 2 if type_ == 6 else price + away / 2 if type_ == 7 else 0.0
        tick = 0.25 if symbol == "US500" else 10 ** -(3 if "JPY" in symbol else 5)

        def snap(p: float) -> float:
            return round(round(p / tick) * tick, 5)

        return request(5, symbol, volume, type_, price_order=snap(price), price_trigger=snap(limit) if limit else 0.0,
                       type_filling=2, type_time=rng.choice([0, 1, 2]), time_expiration=T0 // 1000 + 7200)
    if kind < 0.8 and orders:
        order = rng.choice(orders)
        return request(8, order["trade_symbol"], 0, order["order_type"], trade_order=order["trade_order"])
    if kind < 0.9 and positions:
        pos = rng.choice(positions)
        b, a = prices[pos["trade_symbol"]]
        width = (a - b) * 50
        buy = pos["trade_action"] == 0
        sl = round(b - width if buy else a + width, 5)
        tp = round(b + width if buy else a - width, 5)
        return request(6, pos["trade_symbol"], 0, pos["trade_action"], trade_position=pos["position_id"],
                       price_sl=sl if pos["trade_symbol"] != "US500" else 0.0,
                       price_tp=tp if pos["trade_symbol"] != "US500" else 0.0)
    if positions and len(positions) > 1:
        a, b = rng.sample(positions, 2)
        return request(10, a["trade_symbol"], 0, 1 - a["trade_action"], trade_position=a["position_id"],
                       position_by=b["position_id"])
    return request(3, symbol, volume, rng.randint(0, 1), type_filling=1)


@pytest.mark.parametrize("seed", range(6))
def test_replayed_events_reproduce_the_engine_state(seed: int) -> None:
    rng = random.Random(seed)
    world = make_world(seed=seed)
    mirrors = {login: Mirror.snapshot(world.engine, login) for login in LOGINS}
    prices = {"EURUSD": (1.10000, 1.10010), "USDJPY": (150.000, 150.010), "US500": (4500.00, 4500.50)}
    outcomes: set[int] = set()
    for step in range(250):
        world.clock.t = T0 + step * 600_000
        if rng.random() < 0.4:
            for name, (bid, ask) in prices.items():
                move = (ask - bid) * rng.randint(-30, 30)
                decimals = 2 if name == "US500" else 3 if "JPY" in name else 5
                tick = 0.25 if name == "US500" else 10**-decimals
                new_bid = round(round((bid + move) / tick) * tick, decimals)
                prices[name] = (new_bid, round(new_bid + (ask - bid), decimals))
                world.quotes.set(name, *prices[name])
            events = world.engine.on_quotes(world.clock.t)
            for login in LOGINS:
                mirrors[login].apply(events, login)
        login = rng.choice(LOGINS)
        sub = world.engine.submit(login, random_request(rng, world.engine.positions(login),
                                                        world.engine.orders(login), prices))
        outcomes.add(sub.retcode)
        for who, ev in sub.events:
            assert who == login
            if isinstance(ev, TradeResultEvent):
                assert ev is sub.events[-1][1], "push 19 comes last"
        mirrors[login].apply(sub.events, login)
        for who in LOGINS:
            mirrors[who].assert_matches(world.engine, who)
    assert Retcode.DONE in outcomes
