"""Bad input at every function of ``pymt5_core.mt5``: the official package's semantics, nothing sent.

The official ``MetaTrader5`` package never raises for bad arguments: the function returns ``None`` (or
``False``) and :func:`last_error` gives the ``RES_*`` code. ``order_send`` with a request the terminal
refuses locally returns a result carrying the trade return code instead. Naive datetimes are UTC there,
and here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import pymt5_core.mt5 as mt5
from pymt5_core.wire.enums import Command, Retcode

from .conftest import START, SYMBOL, UNKNOWN, SimThread, sent_between

DAY_BEFORE = START - timedelta(days=1)
NAN = math.nan
H1 = mt5.TIMEFRAME_H1
INVALID, NOT_FOUND = mt5.RES_E_INVALID_PARAMS, mt5.RES_E_NOT_FOUND


@pytest.fixture(scope="module")
def terminal(sim_thread: SimThread) -> Iterator[None]:
    assert mt5.initialize(server=sim_thread.url, login=sim_thread.login, password=sim_thread.password), \
        mt5.last_error()
    assert mt5.symbol_select(SYMBOL, True) and mt5.symbol_info_tick(SYMBOL) is not None
    yield
    mt5.shutdown()


def _round_trip() -> None:
    """One request and its answer (command 5): whatever was sent before has reached the server."""
    assert mt5.history_deals_total(0, START + timedelta(days=1)) is not None, mt5.last_error()


def _buy(**fields: Any) -> dict[str, Any]:
    return {"action": mt5.TRADE_ACTION_DEAL, "symbol": SYMBOL, "volume": 0.1, "type": mt5.ORDER_TYPE_BUY,
            **fields}


CASES: list[tuple[str, str, tuple[Any, ...], Any, int]] = [
    # (id, function, arguments, value returned on failure, last_error code)
    ("symbol-info-not-a-str", "symbol_info", (123,), None, INVALID),
    ("symbol-info-unknown", "symbol_info", (UNKNOWN,), None, NOT_FOUND),
    ("tick-unknown", "symbol_info_tick", (UNKNOWN,), None, NOT_FOUND),
    ("select-unknown", "symbol_select", (UNKNOWN, True), False, NOT_FOUND),
    ("book-add-unknown", "market_book_add", (UNKNOWN,), False, NOT_FOUND),
    ("book-get-not-added", "market_book_get", (UNKNOWN,), None, NOT_FOUND),
    ("book-release-not-added", "market_book_release", (UNKNOWN,), False, NOT_FOUND),
    ("rates-from-unknown-symbol", "copy_rates_from", (UNKNOWN, H1, START, 10), None, NOT_FOUND),
    ("rates-from-bad-timeframe", "copy_rates_from", (SYMBOL, 12345, START, 10), None, INVALID),
    ("rates-from-timeframe-a-bool", "copy_rates_from", (SYMBOL, True, START, 10), None, INVALID),
    ("rates-from-date-a-word", "copy_rates_from", (SYMBOL, H1, "yesterday", 10), None, INVALID),
    ("rates-from-nan-date", "copy_rates_from", (SYMBOL, H1, NAN, 10), None, INVALID),
    ("rates-from-negative-count", "copy_rates_from", (SYMBOL, H1, START, -1), None, INVALID),
    ("rates-from-count-a-str", "copy_rates_from", (SYMBOL, H1, START, "10"), None, INVALID),
    ("rates-from-pos-negative-start", "copy_rates_from_pos", (SYMBOL, H1, -1, 10), None, INVALID),
    ("rates-from-pos-count-a-float", "copy_rates_from_pos", (SYMBOL, H1, 0, 1.5), None, INVALID),
    ("rates-from-pos-unknown-symbol", "copy_rates_from_pos", (UNKNOWN, H1, 0, 10), None, NOT_FOUND),
    ("rates-range-end-before-start", "copy_rates_range", (SYMBOL, H1, START, DAY_BEFORE), None, INVALID),
    ("rates-range-unknown-symbol", "copy_rates_range", (UNKNOWN, H1, DAY_BEFORE, START), None, NOT_FOUND),
    ("ticks-from-unknown-symbol", "copy_ticks_from", (UNKNOWN, START, 10, mt5.COPY_TICKS_ALL), None, NOT_FOUND),
    ("ticks-from-bad-flags", "copy_ticks_from", (SYMBOL, START, 10, 99), None, INVALID),
    ("ticks-from-negative-count", "copy_ticks_from", (SYMBOL, START, -1, mt5.COPY_TICKS_ALL), None, INVALID),
    ("ticks-range-end-before-start", "copy_ticks_range", (SYMBOL, START, DAY_BEFORE, mt5.COPY_TICKS_ALL), None,
     INVALID),
    ("orders-ticket-a-word", "orders_get", (None, None, "x"), None, INVALID),
    ("positions-group-not-a-str", "positions_get", (None, 5), None, INVALID),
    ("deals-dates-words", "history_deals_get", ("a", "b"), None, INVALID),
    ("deals-end-before-start", "history_deals_get", (START, DAY_BEFORE), None, INVALID),
    ("orders-total-end-before-start", "history_orders_total", (START, DAY_BEFORE), None, INVALID),
    ("margin-unknown-action", "order_calc_margin", (99, SYMBOL, 0.1, 1.1), None, INVALID),
    ("margin-unknown-symbol", "order_calc_margin", (mt5.ORDER_TYPE_BUY, UNKNOWN, 0.1, 1.1), None, NOT_FOUND),
    ("margin-negative-volume", "order_calc_margin", (mt5.ORDER_TYPE_BUY, SYMBOL, -1.0, 1.1), None, INVALID),
    ("margin-volume-a-word", "order_calc_margin", (mt5.ORDER_TYPE_BUY, SYMBOL, "x", 1.1), None, INVALID),
    ("margin-nan-price", "order_calc_margin", (mt5.ORDER_TYPE_BUY, SYMBOL, 0.1, NAN), None, INVALID),
    ("profit-nan-close", "order_calc_profit", (mt5.ORDER_TYPE_BUY, SYMBOL, 0.1, 1.1, NAN), None, INVALID),
    ("check-not-a-dict", "order_check", ("x",), None, INVALID),
    ("check-unknown-field", "order_check", ({"foo": 1},), None, INVALID),
    ("check-unknown-action", "order_check", ({"action": 99},), None, INVALID),
    ("check-unknown-symbol", "order_check", (_buy(symbol=UNKNOWN),), None, NOT_FOUND),
    ("send-not-a-dict", "order_send", ("x",), None, INVALID),
    ("send-unknown-field", "order_send", (_buy(foo=1),), None, INVALID),
    ("send-volume-a-word", "order_send", (_buy(volume="abc"),), None, INVALID),
    ("send-symbol-not-a-str", "order_send", (_buy(symbol=5),), None, INVALID),
    ("send-unknown-symbol", "order_send", (_buy(symbol=UNKNOWN),), None, NOT_FOUND),
    ("send-unknown-symbol-zero-volume", "order_send", (_buy(symbol=UNKNOWN, volume=0.0),), None, NOT_FOUND),
    ("send-expiration-a-word", "order_send", (_buy(expiration="never"),), None, INVALID),
]


@pytest.mark.parametrize(("function", "args", "returned", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_return_failure_and_set_last_error(terminal: None, sim_thread: SimThread, function: str,
                                                         args: tuple[Any, ...], returned: Any, code: int) -> None:
    _round_trip()
    before = sim_thread.received()
    assert getattr(mt5, function)(*args) is returned
    error = mt5.last_error()
    _round_trip()
    assert error[0] == code, error
    assert sent_between(before, sim_thread.received()) == Counter({Command.HISTORY: 1})


REFUSED: list[tuple[str, dict[str, Any], int]] = [
    # (id, request, retcode of the result), as the official terminal refuses them locally
    ("zero-volume", _buy(volume=0.0), Retcode.INVALID_VOLUME),
    ("negative-volume", _buy(volume=-1.0), Retcode.INVALID_VOLUME),
    ("volume-off-step", _buy(volume=0.015), Retcode.INVALID_VOLUME),
    ("volume-above-max", _buy(volume=1e6), Retcode.INVALID_VOLUME),
    ("nan-price", _buy(price=NAN), Retcode.INVALID_PRICE),
    ("sl-above-a-buy", _buy(sl=5.0), Retcode.INVALID_STOPS),
    ("negative-pending-price", _buy(action=mt5.TRADE_ACTION_PENDING, type=mt5.ORDER_TYPE_BUY_LIMIT, price=-1.0),
     Retcode.INVALID_PRICE),
    ("unknown-position", _buy(position=987654, type=mt5.ORDER_TYPE_SELL), Retcode.INVALID),
]


@pytest.mark.parametrize(("request_", "retcode"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_requests_return_a_result_with_the_retcode(terminal: None, sim_thread: SimThread,
                                                           request_: dict[str, Any], retcode: int) -> None:
    _round_trip()
    before = sim_thread.received()
    result = mt5.order_send(request_)
    _round_trip()
    assert result is not None, mt5.last_error()
    assert result.retcode == retcode and result.request.symbol == SYMBOL
    assert sent_between(before, sim_thread.received()) == Counter({Command.HISTORY: 1})


def test_naive_datetimes_are_utc_as_in_the_official_package(terminal: None) -> None:
    naive_from, naive_to = datetime(2026, 11, 17, 0), datetime(2026, 11, 17, 12)
    naive = mt5.copy_rates_range(SYMBOL, H1, naive_from, naive_to)
    aware = mt5.copy_rates_range(SYMBOL, H1, naive_from.replace(tzinfo=UTC), naive_to.replace(tzinfo=UTC))
    assert naive is not None and aware is not None and len(naive) == 13
    assert (naive == aware).all()


def test_calls_before_initialize_fail_with_a_connect_error() -> None:
    mt5.shutdown()
    assert mt5.symbol_info(SYMBOL) is None
    assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"login": "abc"}, INVALID),
    ({"login": -1}, INVALID),
    ({"password": 1234}, INVALID),
    ({"server": "http://127.0.0.1/terminal"}, INVALID),
    ({"timeout": -5}, INVALID),
], ids=["login-a-word", "login-negative", "password-not-a-str", "server-not-ws", "negative-timeout"])
def test_initialize_refuses_bad_arguments_before_connecting(sim_thread: SimThread, kwargs: dict[str, Any],
                                                            code: int) -> None:
    options = {"server": sim_thread.url, "login": sim_thread.login, "password": sim_thread.password, **kwargs}
    before = sim_thread.received()
    assert mt5.initialize(**options) is False
    assert mt5.last_error()[0] == code
    assert mt5.login(options["login"], options["password"], options["server"], options.get("timeout", 60000)) is False
    assert mt5.last_error()[0] == code
    assert sim_thread.received() == before
