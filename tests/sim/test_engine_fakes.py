"""Test doubles for the trading engine (symbols, quotes, clock) and a push 10 replayer (SPEC §8.9)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pymt5_core.sim.accounts import AccountConfig
from pymt5_core.sim.engine import AccountEvent, EngineEvent, TradeResultEvent, TradingEngine
from pymt5_core.wire.messages.trading import DealUpdate, OrderUpdate

T0 = 1_700_000_000_000  # Tuesday 2023-11-14 22:13:20 UTC
ALWAYS = tuple(((0, 1440),) for _ in range(7))
WEEKDAYS = ((), *(((0, 1440),) for _ in range(5)), ())


@dataclass(frozen=True)
class Spec:
    """A symbol with EURUSD-like defaults."""

    name: str = "EURUSD"
    digits: int = 5
    currency_base: str = "EUR"
    currency_profit: str = "USD"
    currency_margin: str = "EUR"
    calc_mode: int = 0
    exec_mode: int = 2
    trade_mode: int = 4
    contract_size: float = 100_000.0
    tick_size: float = 0.00001
    tick_value: float = 1.0
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    stops_level: int = 0
    freeze_level: int = 0
    fill_flags: int = 3
    time_flags: int = 15
    order_flags: int = 127
    margin_initial: float = 0.0
    margin_rates_initial: tuple[float, ...] = (1.0,) * 8
    margin_hedged: float = 50_000.0
    swap_long: float = 0.0
    swap_short: float = 0.0
    trade_sessions: tuple[tuple[tuple[int, int], ...], ...] = ALWAYS
    book_depth: int = 0
    requote_probability: float = 0.0

    @property
    def point(self) -> float:
        return 10.0**-self.digits


def default_specs() -> list[Spec]:
    return [
        Spec(),
        Spec("USDJPY", 3, "USD", "JPY", "USD", tick_size=0.001),
        Spec("EURJPY", 3, "EUR", "JPY", "EUR", tick_size=0.001),
        Spec("GBPUSD", exec_mode=1, currency_base="GBP", currency_margin="GBP"),
        Spec("USDCHF", exec_mode=0, currency_base="USD", currency_profit="CHF", currency_margin="USD"),
        Spec("US500", 2, "USD", "USD", "USD", calc_mode=2, contract_size=1.0, tick_size=0.25, volume_min=0.1,
             volume_step=0.1, margin_rates_initial=(0.05,) * 8, stops_level=10),
        Spec("FUT", 0, "USD", "USD", "USD", calc_mode=33, exec_mode=3, contract_size=1.0, tick_size=1.0,
             tick_value=10.0, volume_min=1, volume_step=1, margin_initial=500.0, book_depth=5, fill_flags=7),
        Spec("LONGONLY", trade_mode=1),
        Spec("SHORTONLY", trade_mode=2),
        Spec("CLOSEONLY", trade_mode=3),
        Spec("DISABLED", trade_mode=0),
        Spec("WEEKDAY", trade_sessions=WEEKDAYS),
        Spec("NOSTOPS", order_flags=1 | 2 | 4),
    ]


class Catalogue:
    def __init__(self, specs: Iterable[Spec]) -> None:
        self.specs = {s.name: s for s in specs}

    def get(self, name: str) -> Spec | None:
        return self.specs.get(name)

    def __len__(self) -> int:
        return len(self.specs)


@dataclass(frozen=True)
class Q:
    bid: float
    ask: float
    last: float = 0.0


@dataclass
class Quotes:
    prices: dict[str, Q] = field(default_factory=dict)
    books: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = field(default_factory=dict)

    def quote_at(self, symbol: str, t_ms: int) -> Q | None:
        return self.prices.get(symbol)

    def book(self, symbol: str, t_ms: int, depth: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        return self.books.get(symbol, ([], []))

    def set(self, symbol: str, bid: float, ask: float | None = None, last: float = 0.0) -> None:
        self.prices[symbol] = Q(bid, bid if ask is None else ask, last)


@dataclass
class Clock:
    t: int = T0

    def now_ms(self) -> int:
        return self.t


def default_quotes() -> Quotes:
    q = Quotes()
    q.set("EURUSD", 1.10000, 1.10010)
    q.set("USDJPY", 150.000, 150.010)
    q.set("EURJPY", 165.000, 165.020)
    q.set("GBPUSD", 1.25000, 1.25010)
    q.set("USDCHF", 0.90000, 0.90010)
    q.set("US500", 4500.00, 4500.50)
    q.set("FUT", 1000, 1001, 1000)
    for name in ("LONGONLY", "SHORTONLY", "CLOSEONLY", "DISABLED", "WEEKDAY", "NOSTOPS"):
        q.set(name, 1.10000, 1.10010)
    q.books["FUT"] = ([(1000, 4), (999, 1)], [(1001, 2), (1002, 3)])
    return q


USD_HEDGE = AccountConfig(1001, "pw", name="usd", currency="USD", leverage=100, margin_mode=2, balance=10_000.0)
EUR_NET = AccountConfig(1002, "pw", name="eur", currency="EUR", leverage=100, margin_mode=0, balance=10_000.0)
JPY_HEDGE = AccountConfig(1003, "pw", name="jpy", currency="JPY", leverage=500, margin_mode=2, balance=1_000_000.0)


@dataclass
class World:
    engine: TradingEngine
    quotes: Quotes
    clock: Clock
    catalogue: Catalogue


def make_world(*, accounts: Sequence[AccountConfig] = (USD_HEDGE, EUR_NET, JPY_HEDGE), seed: int = 0,
               specs: Iterable[Spec] | None = None, always_open: bool = False) -> World:
    quotes, clock = default_quotes(), Clock()
    catalogue = Catalogue(default_specs() if specs is None else specs)
    engine = TradingEngine(catalogue, quotes, clock, accounts, seed=seed, always_open=always_open)
    return World(engine, quotes, clock, catalogue)


def request(action: int, symbol: str = "EURUSD", volume: float = 0.1, type_: int = 0, **fields: Any) -> dict[str, Any]:
    """A TradeRequest record; ``volume`` in lots."""
    base: dict[str, Any] = {"action_id": fields.pop("action_id", 1000), "trade_action": action,
                            "trade_symbol": symbol, "trade_volume": round(volume * 1e8), "trade_type": type_}
    base.update(fields)
    return base


# --- replaying push 10 (SPEC §8.9) ------------------------------------------------------------------

VOLATILE = {"profit", "price_close", "rate_profit", "rate_margin", "price_current"}


def stable(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in VOLATILE}


@dataclass
class Mirror:
    """A client-side view built only from the initial snapshot and push 10 frames."""

    balance: float
    positions: dict[int, dict[str, Any]]
    orders: dict[int, dict[str, Any]]
    history: dict[int, dict[str, Any]]
    deals: dict[int, dict[str, Any]]

    @classmethod
    def snapshot(cls, engine: TradingEngine, login: int) -> Mirror:
        deals, orders = engine.history(login)
        return cls(engine.account_body(login).main["balance"], {p["position_id"]: p for p in engine.positions(login)},
                   {o["trade_order"]: o for o in engine.orders(login)}, {o["trade_order"]: o for o in orders},
                   {d["deal"]: d for d in deals})

    def apply(self, events: Iterable[EngineEvent], login: int) -> None:
        for who, ev in events:
            if who != login or isinstance(ev, (TradeResultEvent, AccountEvent)):
                continue
            records = ev if isinstance(ev, list) else [ev]
            kinds = {type(r) for r in records}
            assert len(kinds) == 1, "a push 10 frame mixes order and deal records"
            for r in records:
                if isinstance(r, OrderUpdate):
                    self._order(r)
                else:
                    assert isinstance(r, DealUpdate)
                    self._deal(r)

    def _order(self, u: OrderUpdate) -> None:
        ticket = u.order["trade_order"]
        if u.flag_mask == 0:
            if u.transaction_type == 2:
                self.orders.pop(ticket, None)
            else:
                self.orders[ticket] = u.order
        elif u.transaction_type == 0:
            self.history.setdefault(ticket, u.order)
        elif u.transaction_type == 1:
            self.history[ticket] = u.order
        else:
            self.history.pop(ticket, None)

    def _deal(self, u: DealUpdate) -> None:
        if u.transaction_type == 0:
            self.balance = u.balance
        if u.position["trade_symbol"] or u.deal["trade_symbol"]:
            if not self._position(u.position):
                return
            for p in u.positions:
                self._position(p)
        for d in [u.deal, *u.deals] if u.deal["deal"] else u.deals:
            if u.transaction_type == 0:
                self.deals.setdefault(d["deal"], d)
            elif u.transaction_type == 1:
                self.deals[d["deal"]] = d
            else:
                self.deals.pop(d["deal"], None)

    def _position(self, p: dict[str, Any]) -> bool:
        key = p["position_id"] or next((k for k, v in self.positions.items() if v["trade_symbol"] == p["trade_symbol"]),
                                       None)
        if key in self.positions:
            if p["trade_volume"] > 0:
                self.positions[key] = p
            else:
                del self.positions[key]
            return True
        if p["trade_volume"] > 0:
            self.positions[p["position_id"]] = p
            return True
        return False

    def assert_matches(self, engine: TradingEngine, login: int) -> None:
        deals, orders = engine.history(login)
        assert self.balance == engine.account_body(login).main["balance"]
        assert {k: stable(v) for k, v in self.positions.items()} == {
            p["position_id"]: stable(p) for p in engine.positions(login)}
        assert {k: stable(v) for k, v in self.orders.items()} == {
            o["trade_order"]: stable(o) for o in engine.orders(login)}
        assert {k: stable(v) for k, v in self.history.items()} == {o["trade_order"]: stable(o) for o in orders}
        assert {k: stable(v) for k, v in self.deals.items()} == {d["deal"]: stable(d) for d in deals}


def test_world_defaults_are_consistent() -> None:
    world = make_world()
    assert world.engine.account_body(1001).main["balance"] == 10_000.0
    assert replace(Spec(), name="X").name == "X"
    mirror = Mirror.snapshot(world.engine, 1001)
    mirror.assert_matches(world.engine, 1001)
