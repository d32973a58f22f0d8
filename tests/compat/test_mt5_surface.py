"""The pymt5_core.mt5 surface against the official package's facts in METATRADER5_API.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import pymt5_core.mt5 as mt5
from pymt5_core.wire.enums import OrderType, Period, Retcode

API_MD = Path("/work/shared/compat/METATRADER5_API.md")

FUNCTIONS = [
    "initialize", "login", "shutdown", "version", "last_error", "account_info", "terminal_info", "symbols_total",
    "symbols_get", "symbol_info", "symbol_info_tick", "symbol_select", "market_book_add", "market_book_get",
    "market_book_release", "copy_rates_from", "copy_rates_from_pos", "copy_rates_range", "copy_ticks_from",
    "copy_ticks_range", "orders_total", "orders_get", "order_calc_margin", "order_calc_profit", "order_check",
    "order_send", "positions_total", "positions_get", "history_orders_total", "history_orders_get",
    "history_deals_total", "history_deals_get",
]

NAMEDTUPLES = {
    "AccountInfo": "login, trade_mode, leverage, limit_orders, margin_so_mode, trade_allowed, trade_expert, "
    "margin_mode, currency_digits, fifo_close, balance, credit, profit, equity, margin, margin_free, margin_level, "
    "margin_so_call, margin_so_so, margin_initial, margin_maintenance, assets, liabilities, commission_blocked, "
    "name, server, currency, company",
    "Tick": "time, bid, ask, last, volume, time_msc, flags, volume_real",
    "BookInfo": "type, price, volume, volume_dbl",
    "TradeRequest": "action, magic, order, symbol, volume, price, stoplimit, sl, tp, deviation, type, type_filling, "
    "type_time, expiration, comment, position, position_by",
}


def _md() -> str:
    if not API_MD.exists():
        pytest.skip("METATRADER5_API.md not available")
    return API_MD.read_text("utf-8")


def _md_fields(text: str, name: str) -> list[str]:
    """Field list of ``Name(a, b, ...)`` or ``Name``, N fields: ``a, b, ...`` in the md."""
    match = re.search(rf"`{name}\((.*?)\)`", text) or re.search(rf"`{name}`, \d+ fields: `(.*?)`", text)
    assert match, f"{name} not documented"
    return [f.strip().split("=")[0] for f in match.group(1).split(",")]


def test_every_documented_function_exists_and_is_callable() -> None:
    text = _md()
    documented = re.findall(r"^\| (\w+) \| `", text, flags=re.M)
    assert set(documented) == set(FUNCTIONS)
    for name in documented:
        assert callable(getattr(mt5, name)), name


@pytest.mark.parametrize(
    "name",
    ["AccountInfo", "TerminalInfo", "SymbolInfo", "Tick", "BookInfo", "TradeOrder", "TradePosition", "TradeDeal",
     "TradeRequest", "OrderSendResult", "OrderCheckResult"],
)
def test_namedtuple_fields_match_the_official_order(name: str) -> None:
    assert list(getattr(mt5, name)._fields) == _md_fields(_md(), name)


def test_namedtuple_fields_without_the_md() -> None:
    for name, fields in NAMEDTUPLES.items():
        assert list(getattr(mt5, name)._fields) == fields.split(", ")
    assert len(mt5.SymbolInfo._fields) == 96


def test_dtypes_are_exact() -> None:
    text = _md()
    rates, ticks = re.findall(r"dtype=(\[\('time'.*?\])`", text)[:2]
    from pymt5_core._timeframes import RATES_DTYPE, TICKS_DTYPE

    assert np.dtype(eval(rates)) == RATES_DTYPE
    assert np.dtype(eval(ticks)) == TICKS_DTYPE
    assert RATES_DTYPE.names == ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")


def test_constants() -> None:
    assert [mt5.TIMEFRAME_M1, mt5.TIMEFRAME_M2, mt5.TIMEFRAME_M20, mt5.TIMEFRAME_M30] == [1, 2, 20, 30]
    assert mt5.TIMEFRAME_H1 == 0x4001 and mt5.TIMEFRAME_H12 == 0x400C and mt5.TIMEFRAME_D1 == 0x4018
    assert mt5.TIMEFRAME_W1 == 0x8001 and mt5.TIMEFRAME_MN1 == 0xC001
    assert (mt5.COPY_TICKS_ALL, mt5.COPY_TICKS_INFO, mt5.COPY_TICKS_TRADE) == (-1, 1, 2)
    assert [mt5.TICK_FLAG_BID, mt5.TICK_FLAG_ASK, mt5.TICK_FLAG_LAST, mt5.TICK_FLAG_VOLUME, mt5.TICK_FLAG_BUY,
            mt5.TICK_FLAG_SELL] == [2, 4, 8, 16, 32, 64]
    assert (mt5.TRADE_ACTION_DEAL, mt5.TRADE_ACTION_PENDING, mt5.TRADE_ACTION_SLTP, mt5.TRADE_ACTION_MODIFY,
            mt5.TRADE_ACTION_REMOVE, mt5.TRADE_ACTION_CLOSE_BY) == (1, 5, 6, 7, 8, 10)
    assert mt5.ORDER_FILLING_BOC == 3 and mt5.ORDER_TIME_SPECIFIED_DAY == 3 and mt5.ORDER_STATE_REQUEST_CANCEL == 9
    assert (mt5.DEAL_DIVIDEND, mt5.DEAL_DIVIDEND_FRANKED, mt5.DEAL_TAX) == (15, 16, 17)
    assert mt5.DEAL_REASON_SPLIT == 9 and mt5.ORDER_REASON_SO == 6 and mt5.POSITION_REASON_EXPERT == 3
    assert mt5.SYMBOL_CALC_MODE_SERV_COLLATERAL == 64 and mt5.SYMBOL_CALC_MODE_EXCH_OPTIONS_MARGIN == 36
    assert mt5.SYMBOL_SWAP_MODE_REOPEN_BID == 8 and mt5.DAY_OF_WEEK_SATURDAY == 6
    assert (mt5.ACCOUNT_TRADE_MODE_DEMO, mt5.ACCOUNT_TRADE_MODE_CONTEST, mt5.ACCOUNT_TRADE_MODE_REAL) == (0, 1, 2)
    assert mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING == 2 and mt5.ACCOUNT_STOPOUT_MODE_MONEY == 1
    assert (mt5.BOOK_TYPE_SELL, mt5.BOOK_TYPE_BUY, mt5.BOOK_TYPE_SELL_MARKET, mt5.BOOK_TYPE_BUY_MARKET) == (1, 2, 3, 4)
    assert (mt5.RES_S_OK, mt5.RES_E_INVALID_PARAMS, mt5.RES_E_AUTH_FAILED, mt5.RES_E_INTERNAL_FAIL_CONNECT,
            mt5.RES_E_INTERNAL_FAIL_TIMEOUT) == (1, -2, -6, -10004, -10005)
    retcodes = {v for k, v in vars(mt5).items() if k.startswith("TRADE_RETCODE_")}
    assert min(retcodes) == 10004 and max(retcodes) == 10045 and 10037 not in retcodes


def test_constants_equal_the_wire_enums() -> None:
    for member in OrderType:
        assert getattr(mt5, f"ORDER_TYPE_{member.name}") == member.value
    for member in Period:
        assert getattr(mt5, f"TIMEFRAME_{member.name}") == member.value
    for name, value in vars(mt5).items():
        if name.startswith("TRADE_RETCODE_") and value != 10038:  # INVALID_CLOSE_VOLUME: not in the wire enum
            assert Retcode(value).name == name.removeprefix("TRADE_RETCODE_")


def test_signatures_match_the_official_calls() -> None:
    sig = inspect.signature(mt5.initialize)
    assert list(sig.parameters) == ["path", "login", "password", "server", "timeout", "portable"]
    assert sig.parameters["timeout"].default == 60000 and sig.parameters["portable"].default is False
    assert list(inspect.signature(mt5.login).parameters) == ["account", "password", "server", "timeout"]
    assert list(inspect.signature(mt5.copy_rates_from).parameters) == ["symbol", "timeframe", "date_from", "count"]
    assert list(inspect.signature(mt5.copy_rates_from_pos).parameters) == ["symbol", "timeframe", "start_pos", "count"]
    assert list(inspect.signature(mt5.copy_ticks_range).parameters) == ["symbol", "date_from", "date_to", "flags"]
    assert list(inspect.signature(mt5.order_calc_profit).parameters) == [
        "action", "symbol", "volume", "price_open", "price_close"]
    assert list(inspect.signature(mt5.symbol_select).parameters) == ["symbol", "enable"]


def test_calls_before_initialize_fail_like_the_official_package() -> None:
    mt5.shutdown()
    assert mt5.account_info() is None
    assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT
    assert mt5.copy_rates_from_pos("EURUSD", mt5.TIMEFRAME_H1, 0, 10) is None
    assert mt5.symbol_select("EURUSD") is False
    assert mt5.orders_total() is None


def test_initialize_without_server_is_invalid_params(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYMT5_URL", raising=False)
    assert mt5.initialize() is False
    code, text = mt5.last_error()
    assert code == mt5.RES_E_INVALID_PARAMS and "PYMT5_URL" in text
