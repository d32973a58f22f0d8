"""pymt5_core.mt5 against the simulator over loopback (runs once pymt5_core.sync has landed)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pymt5_core.sync")

import pymt5_core.mt5 as mt5
from pymt5_core._timeframes import RATES_DTYPE, TICKS_DTYPE
from pymt5_core.sync import LoopThread

NOW_MS = 1_710_331_200_000  # Wednesday 2024-03-13 12:00 UTC


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int, str]]:
    """The simulator on a background thread (the mt5 module runs its own blocking client)."""
    from pymt5_core.sim import SimServer
    from pymt5_core.sim.market.clock import VirtualClock

    ready: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        stop = asyncio.Event()
        async with SimServer(seed=1, clock=VirtualClock(60.0, start_ms=NOW_MS)) as sim:
            ready.update(url=sim.url, login=sim.demo_account.login, password=sim.demo_account.password,
                         stop=lambda: loop.call_soon_threadsafe(stop.set))
            loop = asyncio.get_running_loop()
            started.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert started.wait(30)
    yield ready["url"], ready["login"], ready["password"]
    mt5.shutdown()
    ready["stop"]()
    thread.join(10)


@pytest.fixture
def connected(server: tuple[str, int, str]) -> Iterator[None]:
    url, login, password = server
    assert mt5.initialize(server=url, login=login, password=password), mt5.last_error()
    yield
    mt5.shutdown()


def test_a_script_for_the_official_package_runs_unchanged(server: tuple[str, int, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url, login, password = server
    monkeypatch.setenv("PYMT5_URL", url)
    monkeypatch.setenv("PYMT5_LOGIN", str(login))
    monkeypatch.setenv("PYMT5_PASSWORD", password)
    # --- the script, as written for `import MetaTrader5 as mt5` ---
    if not mt5.initialize():
        raise AssertionError(f"initialize() failed, error code = {mt5.last_error()}")
    symbol = "EURUSD"
    tick = mt5.symbol_info_tick(symbol)
    rates = mt5.copy_rates_from_pos(symbol, mt5.TIMEFRAME_M1, 0, 10)
    request = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": symbol, "volume": 0.1, "type": mt5.ORDER_TYPE_BUY,
        "price": tick.ask, "sl": tick.ask - 100 * mt5.symbol_info(symbol).point,
        "tp": tick.ask + 100 * mt5.symbol_info(symbol).point, "deviation": 20, "magic": 234000,
        "comment": "python script open", "type_time": mt5.ORDER_TIME_GTC, "type_filling": mt5.ORDER_FILLING_IOC,
    }
    result = mt5.order_send(request)
    positions = mt5.positions_get(symbol=symbol)
    mt5.shutdown()
    # --- checks ---
    assert mt5.last_error() == (1, "Success")
    assert tick.bid > 0 and tick.ask >= tick.bid and type(tick).__name__ == "Tick"
    assert rates.dtype == RATES_DTYPE and len(rates) == 10
    assert result.retcode == mt5.TRADE_RETCODE_DONE, result
    assert result.request.symbol == symbol and result.request.magic == 234000
    assert any(p.ticket == result.order or p.identifier == result.order for p in positions)


def test_every_function_answers(connected: None) -> None:
    now = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    assert mt5.version()[0] == 500 and mt5.version()[1] > 0
    assert mt5.account_info().login > 0 and mt5.terminal_info().connected
    assert mt5.symbols_total() == len(mt5.symbols_get()) > 5
    assert all("JPY" not in s.name for s in mt5.symbols_get(group="*,!*JPY*"))
    info = mt5.symbol_info("EURUSD")
    assert len(info) == 96 and info.name == "EURUSD" and info.digits == 5
    assert mt5.symbol_select("EURUSD", True) is True
    assert mt5.copy_rates_from("EURUSD", mt5.TIMEFRAME_H1, now, 5).dtype == RATES_DTYPE
    h2 = mt5.copy_rates_range("EURUSD", mt5.TIMEFRAME_H2, now.timestamp() - 86_400, now)
    assert len(h2) and (h2["time"] % 7200 == 0).all()
    ticks = mt5.copy_ticks_from("EURUSD", 0, 1000, mt5.COPY_TICKS_ALL)
    assert ticks.dtype == TICKS_DTYPE
    assert mt5.copy_ticks_range("EURUSD", 0, now.timestamp() + 86_400, mt5.COPY_TICKS_INFO).dtype == TICKS_DTYPE
    assert mt5.order_calc_margin(mt5.ORDER_TYPE_BUY, "EURUSD", 1.0, info.ask) > 0
    assert isinstance(mt5.order_calc_profit(mt5.ORDER_TYPE_BUY, "EURUSD", 1.0, 1.1, 1.2), float)
    check = mt5.order_check({"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1,
                             "type": mt5.ORDER_TYPE_BUY})
    assert check.retcode == 0 and check.comment == "Done"
    assert isinstance(mt5.orders_total(), int) and isinstance(mt5.orders_get(), tuple)
    assert isinstance(mt5.positions_total(), int) and isinstance(mt5.positions_get(), tuple)
    assert mt5.history_deals_total(0, now.timestamp() + 86_400) >= 1
    assert isinstance(mt5.history_orders_get(0, now.timestamp() + 86_400), tuple)
    assert mt5.market_book_add("EURUSD") is True
    assert isinstance(mt5.market_book_get("EURUSD"), tuple)
    assert mt5.market_book_release("EURUSD") is True
    assert mt5.last_error() == (1, "Success")


def test_errors_set_last_error(connected: None, server: tuple[str, int, str]) -> None:
    assert mt5.symbol_info("NOSUCH") is None and mt5.last_error()[0] == mt5.RES_E_NOT_FOUND
    assert mt5.copy_rates_from_pos("EURUSD", 12345, 0, 10) is None
    assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS
    assert mt5.order_send({"action": 99}) is None and mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS
    assert mt5.copy_ticks_from("GBPUSD", 0, 10, mt5.COPY_TICKS_ALL) is None  # not selected
    assert mt5.last_error()[0] == mt5.RES_E_NOT_FOUND
    mt5.shutdown()
    url, login, _ = server
    assert mt5.initialize(server=url, login=login, password="wrong") is False
    assert mt5.last_error()[0] == mt5.RES_E_AUTH_FAILED
    assert mt5.account_info() is None and mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT


def test_rejected_order_returns_a_result_with_the_retcode(connected: None) -> None:
    result = mt5.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 1e6,
                             "type": mt5.ORDER_TYPE_BUY})
    assert result is not None and result.retcode != mt5.TRADE_RETCODE_DONE
    assert np.isfinite(result.price)


def test_each_call_is_one_round_trip_to_the_client(connected: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The client refuses an unknown symbol itself (``UnknownSymbol``, reported as ``RES_E_NOT_FOUND``), so
    the module makes no look-up of its own before the call that does the work."""
    assert mt5.symbol_select("EURUSD", True) and mt5.symbol_info_tick("EURUSD") is not None
    trips: list[str] = []
    run = LoopThread.run

    def counted(self: LoopThread, coro: Any) -> Any:
        trips.append(coro.__qualname__.rpartition(".")[2])  # the client method the coroutine runs
        return run(self, coro)

    def call(function: Any, *args: Any) -> tuple[Any, list[str]]:
        trips.clear()
        return function(*args), list(trips)

    monkeypatch.setattr(LoopThread, "run", counted)
    buy = {"action": mt5.TRADE_ACTION_DEAL, "symbol": "NOSUCH", "volume": 0.1, "type": mt5.ORDER_TYPE_BUY}
    assert call(mt5.order_send, buy) == (None, ["order_send"])
    assert mt5.last_error()[0] == mt5.RES_E_NOT_FOUND
    result, sent = call(mt5.order_send, {**buy, "symbol": "EURUSD", "volume": 0.0})
    assert result.retcode == mt5.TRADE_RETCODE_INVALID_VOLUME and sent == ["order_send"]
    tick, sent = call(mt5.symbol_info_tick, "EURUSD")
    assert tick is not None and sent == ["quote"]
    now = datetime.fromtimestamp(NOW_MS / 1000, UTC)
    rates, sent = call(mt5.copy_rates_range, "EURUSD", mt5.TIMEFRAME_H1, now - timedelta(days=1), now)
    assert len(rates) and sent == ["bars"]
