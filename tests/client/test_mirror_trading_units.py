"""Unit tests of the pure layers: the state mirror (SPEC §8.9) and trade-request building (SPEC §8.2-8.10)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymt5_core.errors import TradeRejected
from pymt5_core.events import AccountUpdate, OrderEvent, TradeTransaction, TransactionType
from pymt5_core.mirror import StateMirror
from pymt5_core.models import AccountInfo, Event, Order, Position, RequestAction, SymbolInfo, TradeRequest
from pymt5_core.trading import Quote, TradeContext, build_trade_fields, effective_settings, path_matches
from pymt5_core.wire import debug
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages import (
    NEUTRAL_TRADE_SETTINGS,
    AccountBody,
    DealUpdate,
    OrderUpdate,
    build_trade_update,
    read_trade_update,
)


def record(layout: str, **values: Any) -> dict[str, Any]:
    """A decoded record of ``layout`` with every field zero/empty except ``values``."""
    base = LAYOUTS[layout].unpack_dict(bytes(LAYOUTS[layout].size))
    base.update(values)
    return base


def account_body(balance: float = 1000.0) -> AccountBody:
    main = record("AccountMain", balance=balance, account_currency="USD", margin_leverage=100, currency_digits=2,
                  margin_mode=2)
    return AccountBody(main=main, trade_settings=[NEUTRAL_TRADE_SETTINGS])


def position(ticket: int, volume: float, symbol: str = "EURUSD", **values: Any) -> dict[str, Any]:
    return record("Position", position_id=ticket, trade_symbol=symbol, trade_volume=round(volume * 1e8), **values)


def deal(ticket: int, position_id: int, symbol: str = "EURUSD", **values: Any) -> dict[str, Any]:
    return record("Deal", deal=ticket, position_id=position_id, trade_symbol=symbol, **values)


def order(ticket: int, state: int = 1, **values: Any) -> dict[str, Any]:
    return record("Order", trade_order=ticket, trade_symbol="EURUSD", order_type=2, order_state=state,
                  volume_initial=10_000_000, **values)


@pytest.fixture
def mirror() -> tuple[StateMirror, list[Event]]:
    events: list[Event] = []
    m = StateMirror(events.append)
    m.reset(1, account_body(), [], [])
    events.clear()
    return m, events


def test_deal_record_opens_a_position_records_the_deal_and_sets_balance(mirror) -> None:
    m, events = mirror
    m.apply_trade_update([DealUpdate(0, deal(10, 5), position(5, 0.1), balance=990.0)])
    assert set(m.positions) == {5} and set(m.deals) == {10}
    assert m.account is not None and m.account.balance == 990.0
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["AccountUpdate", "TradeTransaction", "TradeTransaction"]
    assert isinstance(events[0], AccountUpdate) and "balance" in events[0].changed


def test_unknown_position_closed_skips_the_rest_of_the_record(mirror) -> None:
    m, events = mirror
    m.apply_trade_update([DealUpdate(1, deal(11, 6), position(6, 0.0))])
    assert m.deals == {} and m.positions == {} and events == []


def test_duplicate_deals_are_dropped_and_repeats_emit_nothing(mirror) -> None:
    m, events = mirror
    update = DealUpdate(1, deal(12, 7), position(7, 0.2))
    m.apply_trade_update([update])
    count = len(events)
    m.apply_trade_update([update])
    assert len(events) == count and list(m.deals) == [12]


def test_a_deal_mark_knows_the_deals_held_when_it_was_taken_even_after_removals(mirror) -> None:
    m, _ = mirror
    for ticket in (20, 21):
        m.apply_trade_update([DealUpdate(0, deal(ticket, 8), position(8, 0.1))])
    mark, later = m.mark_deals(), m.mark_deals()
    m.apply_trade_update([DealUpdate(0, deal(22, 8), position(8, 0.1))])
    m.apply_trade_update([DealUpdate(1, deal(20, 8, profit=5.0), position(8, 0.1))])  # an update keeps its place
    assert m.known_deals(mark) == {20, 21}
    m.unmark_deals(later)
    m.apply_trade_update([DealUpdate(2, deal(21, 8), position(8, 0.1))])
    m.apply_trade_update([DealUpdate(0, deal(21, 8), position(8, 0.1))])  # back, now after 22
    assert m.known_deals(mark) == {20, 21} and set(m.deals) == {20, 21, 22}
    assert later.frozen is None  # an unmarked mark costs nothing any more


def test_account_updates_are_worked_out_only_for_listeners() -> None:
    events: list[Event] = []
    listening: set[type[Event]] = set()
    m = StateMirror(events.append, lambda event_type: event_type in listening)
    m.reset(1, account_body(), [], [])
    m.apply_trade_update([DealUpdate(0, deal(30, 9), position(9, 0.1), balance=900.0)])
    assert m.account is not None and m.account.balance == 900.0
    assert not any(isinstance(e, AccountUpdate) for e in events)
    listening.add(AccountUpdate)
    m.apply_trade_update([DealUpdate(0, deal(31, 9), position(9, 0.2), balance=800.0)])
    (update,) = [e for e in events if isinstance(e, AccountUpdate)]
    assert update.account.balance == 800.0 and update.changed == {"balance", "equity", "margin_free"}


def test_a_deal_push_with_unchanged_money_keeps_the_account_and_announces_nothing() -> None:
    events: list[Event] = []
    m = StateMirror(events.append, lambda event_type: True)
    m.reset(1, account_body(balance=900.0), [], [])
    cached = m.account_as_sent
    events.clear()
    m.apply_trade_update([DealUpdate(0, deal(50, 9), position(9, 0.1), balance=900.0)])
    assert m.account_as_sent is cached and not any(isinstance(e, AccountUpdate) for e in events)
    m.apply_trade_update([DealUpdate(0, deal(51, 9), position(9, 0.0), balance=900.0, commission_daily=-1.0)])
    assert m.account_as_sent is not cached and m.account_as_sent is not None
    assert m.account_as_sent.commission_daily == -1.0
    (update,) = [e for e in events if isinstance(e, AccountUpdate)]
    assert update.changed == {"commission_daily"}


def test_account_fields_come_from_their_record_fields() -> None:
    main = record("AccountMain", account_type=2, account_name="Name", server_name="Server", company="Company",
                  account_currency="EUR", currency_digits=3, margin_leverage=30, balance=1500.5, credit=20.25,
                  margin_so_call=80.0, margin_so_so=40.0, margin_so_mode=1, margin_mode=0, margin_free_mode=2,
                  rights=8, server_build=4321, timezone_shift=7200, daylightmode=1, commission_daily=1.5,
                  commission_monthly=2.5, acc_profit=3.5, otp_status=6)
    m = StateMirror()
    m.reset(77, AccountBody(main=main, trade_settings=[NEUTRAL_TRADE_SETTINGS], symbols_count=12), [], [])
    assert dataclasses.asdict(m.account_as_sent) == {
        "login": 77, "trade_mode": 2, "name": "Name", "server": "Server", "company": "Company", "currency": "EUR",
        "currency_digits": 3, "leverage": 30, "balance": 1500.5, "credit": 20.25, "profit": 0.0, "equity": 1520.75,
        "margin": 0.0, "margin_free": 1520.75, "margin_level": 0.0, "margin_so_call": 80.0, "margin_so_so": 40.0,
        "margin_so_mode": 1, "margin_mode": 0, "margin_free_mode": 2, "rights": 8, "trade_allowed": False,
        "server_build": 4321, "server_time_offset": 10800, "commission_daily": 1.5, "commission_monthly": 2.5,
        "acc_profit": 3.5, "symbols_count": 12, "otp_status": 6,
    }


class FixedValuation:
    """Positions valued as they come, a fixed margin."""

    def revalue(self, position: Position) -> Position:
        return position

    def margin(self, positions: Any, leverage: int, hedging: bool) -> float:
        return 123.4567


@pytest.mark.parametrize("free_profit", [0, 1])
def test_account_values_worked_out_from_the_positions_and_the_margin(free_profit: int) -> None:
    main = record("AccountMain", balance=1000.0, credit=50.0, account_currency="USD", margin_leverage=100,
                  currency_digits=2, margin_mode=2, margin_free_profit_mode=free_profit)
    m = StateMirror()
    m.valuation = FixedValuation()
    m.reset(1, AccountBody(main=main, trade_settings=[NEUTRAL_TRADE_SETTINGS]),
            [position(1, 0.1, profit=10.004, storage=-0.5, commission=-0.25), position(2, 0.2, profit=-3.5)], [])
    account = m.account
    assert account is not None
    equity = 1000.0 + 50.0 + 6.504 - 0.75
    free = (equity - 6.504 if free_profit else equity) - 123.4567
    assert (account.profit, account.equity, account.margin, account.margin_free, account.margin_level) == (
        6.5, round(equity, 2), 123.46, round(free, 2), round(equity / 123.4567 * 100.0, 2))
    assert m.account_as_sent is not None and (m.account_as_sent.profit, m.account_as_sent.margin) == (0.0, 0.0)
    assert m.account_as_sent.equity == m.account_as_sent.margin_free == 1050.0


def test_trade_transactions_are_built_only_for_listeners_and_the_order_log_always() -> None:
    events: list[Event] = []
    listening: set[type[Event]] = set()
    m = StateMirror(events.append, lambda event_type: event_type in listening)
    m.reset(1, account_body(), [], [])
    m.apply_trade_update([OrderUpdate(0, 0, order(40))])
    m.apply_trade_update([DealUpdate(0, deal(41, 9), position(9, 0.1), balance=900.0)])
    assert not any(isinstance(e, TradeTransaction) for e in events)
    assert [e.state for e in m.order_log(40)] == [1] and 9 in m.positions and 41 in m.deals
    listening.add(TradeTransaction)
    m.apply_trade_update([OrderUpdate(0, 2, order(40, state=4)), OrderUpdate(1, 0, order(40, state=4))])
    types = [e.type for e in events if isinstance(e, TradeTransaction)]
    assert types == [TransactionType.ORDER_DELETE, TransactionType.HISTORY_ADD]


def test_position_found_by_symbol_when_the_id_is_zero_and_removed_at_volume_zero(mirror) -> None:
    m, _ = mirror
    m.apply_trade_update([DealUpdate(1, deal(0, 0), position(8, 0.3))])
    m.apply_trade_update([DealUpdate(1, deal(13, 8), position(0, 0.0))])
    assert m.positions == {} and 13 in m.deals


def test_order_lifecycle_and_history_rules(mirror) -> None:
    m, events = mirror
    m.apply_trade_update([OrderUpdate(0, 0, order(20))])
    m.apply_trade_update([OrderUpdate(0, 1, order(20, price_order=1.1))])
    m.apply_trade_update([OrderUpdate(0, 2, order(20, state=2)), OrderUpdate(1, 0, order(20, state=2))])
    m.apply_trade_update([OrderUpdate(1, 0, order(20, state=4))])  # "add unless present": ignored
    assert m.orders == {} and m.history_orders[20].state == 2
    log = m.order_log(20)
    assert [(e.state, e.removed) for e in log] == [(1, False), (2, True)]
    types = [e.type for e in events if isinstance(e, TradeTransaction)]
    assert types == [TransactionType.ORDER_ADD, TransactionType.ORDER_UPDATE, TransactionType.ORDER_DELETE,
                     TransactionType.HISTORY_ADD]
    assert all(isinstance(e, OrderEvent) for e in events if not isinstance(e, TradeTransaction))


def test_pushes_held_during_a_snapshot_are_applied_after_it(mirror) -> None:
    m, _ = mirror
    m.hold()
    m.apply_trade_update([DealUpdate(1, deal(30, 9), position(9, 0.1))])
    m.reset(1, account_body(500.0), [position(4, 1.0)], [order(21)])
    assert set(m.positions) == {4}
    m.release()
    assert set(m.positions) == {4, 9} and set(m.orders) == {21} and m.account.balance == 500.0


def test_snapshot_diff_reports_positions_gone_while_disconnected(mirror) -> None:
    m, events = mirror
    m.reset(1, account_body(), [position(1, 0.1)], [])
    events.clear()
    m.reset(1, account_body(), [], [])
    closed = [e for e in events if isinstance(e, TradeTransaction) and e.position is not None]
    assert len(closed) == 1 and closed[0].position.volume == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from([0.0, 0.1, 0.2]), st.integers(0, 1)), max_size=30))
def test_mirror_invariants_under_random_deal_pushes(steps: list[tuple[int, float, int]]) -> None:
    m = StateMirror()
    m.reset(1, account_body(), [], [])
    deal_ticket = 100
    for ticket, volume, kind in steps:
        deal_ticket += 1
        m.apply_trade_update([DealUpdate(kind, deal(deal_ticket, ticket), position(ticket, volume))])
        assert all(p.volume_wire > 0 for p in m.positions.values())
        assert all(t == p.ticket for t, p in m.positions.items())
        assert len(set(m.deals)) == len(m.deals)


def test_pushes_as_read_from_the_wire_change_the_mirror_like_the_same_records_as_dicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read updates keep their records undecoded (the mirror builds its models from the bytes); the same
    pushes made of dicts must give the same events, tables and order log."""
    monkeypatch.setattr(debug, "ENABLED", False)  # the PYMT5_DEBUG checks read every record
    pushes = [
        [OrderUpdate(0, 0, order(50))],
        [DealUpdate(0, deal(51, 9, trade_order=50), position(9, 0.1), balance=990.0)],
        [OrderUpdate(0, 2, order(50, state=4)), OrderUpdate(1, 0, order(50, state=4))],  # one record, twice
        [OrderUpdate(0, 0, order(52)), OrderUpdate(0, 1, order(52, price_order=1.2))],
        [DealUpdate(1, deal(0, 0), position(9, 0.3)), DealUpdate(1, deal(53, 9), position(0, 0.0))],
        [DealUpdate(0, deal(54, 10), position(10, 0.2), deals=[deal(55, 10)], positions=[position(11, 0.1)])],
        [DealUpdate(2, deal(51, 9), position(10, 0.2)), DealUpdate(0, deal(0, 0), position(12, 0.0))],
        [OrderUpdate(0, 2, order(52, state=2)), OrderUpdate(1, 0, order(52, state=2))],
    ]
    runs = []
    for read in (False, True):
        events: list[Event] = []
        m = StateMirror(events.append)
        m.reset(1, account_body(), [], [])
        for updates in pushes:
            if read:
                updates = read_trade_update(build_trade_update(updates))
                assert all(u.order_at is not None if isinstance(u, OrderUpdate) else u.deal_at is not None
                           for u in updates)
            m.apply_trade_update(updates)
        runs.append((events, dict(m.positions), dict(m.orders), dict(m.history_orders), dict(m.deals),
                     {t: m.order_log(t) for t in (50, 52)}, m.account))
    assert runs[0] == runs[1]
    assert runs[0][0] and set(runs[0][4]) == {53, 54, 55} and runs[0][3]


# --- trade requests ------------------------------------------------------------------------------------


def test_group_masks_and_sentinels() -> None:
    path = "Forex\\Majors\\EURUSD"
    assert path_matches("*", path) and path_matches("Forex\\*", path) and path_matches("*USD, !Metals*", path)
    assert not path_matches("EURUSD", path) and not path_matches("!Forex*", path)
    assert not path_matches("*, !Forex\\*", path)
    own = {"trade_stops_level": 5, "volume_min": 1_000_000, "margin_rates_initial": [1.0, 1.0]}
    groups = [{"symbol_path": "Forex\\*", "trade_stops_level": 50, "volume_min": 0,
               "margin_rates_initial": [2.0, 1.7976931348623157e308]},
              {"symbol_path": "*", "trade_stops_level": 2**31 - 1, "volume_min": 2_000_000,
               "margin_rates_initial": [1.7976931348623157e308] * 2}]
    eff = effective_settings(own, groups, path)  # only the last matching record takes effect
    assert eff == {"trade_stops_level": 5, "volume_min": 2_000_000, "margin_rates_initial": [1.0, 1.0]}
    assert effective_settings(own, groups[:1], path)["margin_rates_initial"] == [2.0, 1.0]


def symbol(**changes: Any) -> SymbolInfo:
    base = SymbolInfo(
        name="EURUSD", symbol_id=1, description="", path="Forex\\EURUSD", digits=5, calc_mode=0, full=True,
        point=1e-5, currency_base="EUR", currency_profit="USD", currency_margin="EUR", contract_size=100_000,
        tick_size=1e-5, tick_value=1.0, trade_mode=4, exec_mode=2, filling_flags=3, expiration_flags=15,
        order_flags=127, stops_level=10, volume_min=0.01, volume_max=100, volume_step=0.01,
        margin_rates_initial=(1.0,) * 8,
    )
    return dataclasses.replace(base, **changes)


def context(positions: dict[int, Position] | None = None, orders: dict[int, Order] | None = None,
            margin_mode: int = 2) -> TradeContext:
    account = AccountInfo(1, 1, "", "", "", "USD", 2, 100, 1e4, 0, 0, 1e4, 0, 1e4, 0, 100, 50, 0, margin_mode, 0, 0,
                          True, 1, 0, 0, 0, 0, 10)
    return TradeContext(account, Quote(1.10000, 1.10010), positions or {}, orders or {}, now_s=1_800_000_000)


def a_position(ticket: int = 7, kind: int = 0, volume: float = 0.5) -> Position:
    return Position.from_wire(position(ticket, volume, trade_action=kind, price_open=1.1, price_close=1.1))


@pytest.mark.parametrize(
    ("exec_mode", "action", "price", "filling", "deviation"),
    [(0, 1, 1.1001, 0, 0), (1, 2, 1.1001, 0, 15), (2, 3, 0.0, 1, 0), (3, 4, 0.0, 1, 0)],
)
def test_market_open_per_execution_mode(exec_mode: int, action: int, price: float, filling: int,
                                        deviation: int) -> None:
    fields = build_trade_fields(TradeRequest(RequestAction.DEAL, "EURUSD", 0.1, 0, deviation=15),
                                symbol(exec_mode=exec_mode), context())
    assert (fields["trade_action"], fields["price_order"], fields["type_filling"]) == (action, price, filling)
    assert fields["price_deviation"] == deviation and fields["type_flags"] == 2
    assert fields["trade_volume"] == 10_000_000 and fields["digits"] == 5


def test_market_filling_preference_falls_back_to_fok_then_return() -> None:
    req = TradeRequest(RequestAction.DEAL, "EURUSD", 0.1, 1)
    assert build_trade_fields(req, symbol(filling_flags=1), context())["type_filling"] == 0
    assert build_trade_fields(req, symbol(filling_flags=0), context())["type_filling"] == 2


def test_close_pending_and_close_by_fields() -> None:
    pos = a_position()
    opposite = a_position(8, 1, 0.2)
    ctx = context({7: pos, 8: opposite})
    close = build_trade_fields(TradeRequest(RequestAction.DEAL, "EURUSD", 0.2, 1, position=7), symbol(), ctx)
    assert close["trade_type"] == 1 and close["type_flags"] == 3 and close["trade_position"] == 7
    pending = build_trade_fields(TradeRequest(RequestAction.PENDING, "EURUSD", 0.1, 2, price=1.09),
                                 symbol(), ctx)
    assert pending["trade_action"] == 5 and pending["type_filling"] == 2 and pending["price_order"] == 1.09
    by = build_trade_fields(TradeRequest(RequestAction.CLOSE_BY, "EURUSD", position=7, position_by=8), symbol(), ctx)
    assert (by["trade_action"], by["trade_type"], by["position_by"], by["type_flags"]) == (10, 1, 8, 3)


@pytest.mark.parametrize(
    ("request_", "sym", "ctx", "code"),
    [
        (TradeRequest(1, "EURUSD", 0.0, 0), {}, {}, 10014),
        (TradeRequest(1, "EURUSD", 0.013, 0), {}, {}, 10014),
        (TradeRequest(5, "EURUSD", 0.1, 2, price=1.090001), {}, {}, 10015),
        (TradeRequest(5, "EURUSD", 0.1, 2, price=1.10005), {}, {}, 10015),
        (TradeRequest(1, "EURUSD", 0.1, 0, sl=1.09995), {}, {}, 10016),
        (TradeRequest(1, "EURUSD", 0.1, 0, type_filling=3), {}, {}, 10030),
        (TradeRequest(1, "EURUSD", 0.1, 0), {"order_flags": 126}, {}, 10035),
        (TradeRequest(1, "EURUSD", 0.1, 0), {"trade_mode": 0}, {}, 10017),
        (TradeRequest(1, "EURUSD", 0.1, 1), {"trade_mode": 1}, {}, 10042),
        (TradeRequest(1, "EURUSD", 0.1, 0), {"trade_mode": 2}, {}, 10043),
        (TradeRequest(1, "EURUSD", 0.1, 0), {"trade_mode": 3}, {}, 10044),
        (TradeRequest(6, "EURUSD", position=7), {}, {"positions": {7: a_position()}}, 10025),
        (TradeRequest(1, "EURUSD", 0.1, 1, position=9), {}, {}, 10013),
        (TradeRequest(1, "EURUSD", 0.1, 1, position=7), {}, {"positions": {7: a_position(volume=0.0)}}, 10036),
        (TradeRequest(5, "EURUSD", 0.1, 2, price=1.09, type_time=2, expiration=5), {}, {}, 10022),
        (TradeRequest(5, "EURUSD", 0.1, 2, price=1.09, type_time=1), {"expiration_flags": 1}, {}, 10022),
        (TradeRequest(10, "EURUSD", position=7, position_by=8), {},
         {"positions": {7: a_position(), 8: a_position(8, 1)}, "margin_mode": 0}, 10035),
    ],
)
def test_local_checks_use_the_official_retcodes(request_: TradeRequest, sym: dict[str, Any], ctx: dict[str, Any],
                                                code: int) -> None:
    with pytest.raises(TradeRejected) as info:
        build_trade_fields(request_, symbol(**sym), context(**ctx))
    assert info.value.retcode == code
