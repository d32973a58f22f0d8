"""Bad input at every public method of MT5Client and MT5ClientSync: a clear error, and nothing sent.

One table drives both clients. Each case names the call, the exception and the MT5 return code it must
carry (None when no trade return code applies). The simulator counts what it receives; a case passes
only if the only command received between a round trip before and one after the call is that second
round trip.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from pymt5_core.client import MT5Client
from pymt5_core.errors import InvalidRequest, MT5Error, TradeRejected, UnknownSymbol
from pymt5_core.models import Tick, TradeRequest
from pymt5_core.sync import MT5ClientSync
from pymt5_core.wire.enums import Command, Retcode

from .conftest import CLIENT_OPTIONS, START, SYMBOL, UNKNOWN, SimThread, ping, sent_between

ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
NAIVE = datetime(2026, 11, 17, 12)
AWARE = START - timedelta(days=1)
NAN = math.nan
R = Retcode


@dataclass(frozen=True)
class Quote:
    """The fixed quote of the module's simulator (its clock does not move)."""

    bid: float
    ask: float


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Any, Quote], Any]
    error: type[MT5Error]
    retcode: int | None = None


CASES = [
    # symbols
    Case("symbol-not-a-str", lambda c, q: c.symbol(123), InvalidRequest, R.INVALID),
    Case("symbol-empty", lambda c, q: c.symbol(""), InvalidRequest, R.INVALID),
    Case("symbol-unknown", lambda c, q: c.symbol(UNKNOWN), UnknownSymbol, R.INVALID),
    Case("server-time-unknown-symbol", lambda c, q: c.wait_server_time(UNKNOWN), UnknownSymbol, R.INVALID),
    Case("quote-unknown-symbol", lambda c, q: c.quote(UNKNOWN), UnknownSymbol, R.INVALID),
    Case("quote-negative-timeout", lambda c, q: c.quote(SYMBOL, timeout=-1), InvalidRequest),
    Case("quote-timeout-not-a-number", lambda c, q: c.quote(SYMBOL, timeout="1"), InvalidRequest),
    # bars and history
    Case("bars-unknown-symbol", lambda c, q: c.bars(UNKNOWN, "H1", count=5), UnknownSymbol, R.INVALID),
    Case("bars-unknown-timeframe", lambda c, q: c.bars(SYMBOL, "H7", count=5), InvalidRequest),
    Case("bars-empty-timeframe", lambda c, q: c.bars(SYMBOL, "", count=5), InvalidRequest),
    Case("bars-unknown-period-code", lambda c, q: c.bars(SYMBOL, 99, count=5), InvalidRequest),
    Case("bars-bool-timeframe", lambda c, q: c.bars(SYMBOL, True, count=5), InvalidRequest),
    Case("bars-float-timeframe", lambda c, q: c.bars(SYMBOL, 1.0, count=5), InvalidRequest),
    Case("bars-zero-count", lambda c, q: c.bars(SYMBOL, "H1", count=0), InvalidRequest),
    Case("bars-negative-count", lambda c, q: c.bars(SYMBOL, "H1", count=-3), InvalidRequest),
    Case("bars-count-a-str", lambda c, q: c.bars(SYMBOL, "H1", count="5"), InvalidRequest),
    Case("bars-count-a-float", lambda c, q: c.bars(SYMBOL, "H1", count=2.5), InvalidRequest),
    Case("bars-naive-start", lambda c, q: c.bars(SYMBOL, "H1", NAIVE), InvalidRequest),
    Case("bars-naive-end", lambda c, q: c.bars(SYMBOL, "H1", AWARE, NAIVE), InvalidRequest),
    Case("bars-start-a-str", lambda c, q: c.bars(SYMBOL, "H1", "2026-11-17"), InvalidRequest),
    Case("bars-nan-start", lambda c, q: c.bars(SYMBOL, "H1", NAN), InvalidRequest),
    Case("bars-end-before-start", lambda c, q: c.bars(SYMBOL, "H1", AWARE, AWARE - timedelta(hours=1)),
         InvalidRequest),
    Case("bars-no-start-no-count", lambda c, q: c.bars(SYMBOL, "H1"), InvalidRequest),
    Case("bars-df-naive-start", lambda c, q: c.bars_df(SYMBOL, "H1", NAIVE), InvalidRequest),
    Case("history-naive-start", lambda c, q: c.history(NAIVE), InvalidRequest),
    Case("history-end-before-start", lambda c, q: c.history(AWARE, AWARE - timedelta(days=1)), InvalidRequest),
    Case("history-start-a-str", lambda c, q: c.history("2026-11-17"), InvalidRequest),
    # streams and events
    Case("ticks-not-a-name", lambda c, q: c.ticks(123), InvalidRequest),
    Case("ticks-no-symbol", lambda c, q: c.ticks([]), InvalidRequest),
    Case("ticks-unknown-symbol", lambda c, q: c.ticks(UNKNOWN), UnknownSymbol, R.INVALID),
    Case("ticks-one-unknown-symbol", lambda c, q: c.ticks([SYMBOL, UNKNOWN]), UnknownSymbol, R.INVALID),
    Case("book-unknown-symbol", lambda c, q: c.book(UNKNOWN), UnknownSymbol, R.INVALID),
    Case("book-not-a-name", lambda c, q: c.book(5), InvalidRequest, R.INVALID),
    Case("on-not-callable", lambda c, q: c.on(Tick, 5), InvalidRequest),
    Case("on-not-an-event-type", lambda c, q: c.on(int, print), InvalidRequest),
    Case("on-event-type-a-str", lambda c, q: c.on("Tick", print), InvalidRequest),
    # trade requests: types
    Case("order-send-not-a-request", lambda c, q: c.order_send({"action": 1}), InvalidRequest, R.INVALID),
    Case("order-send-unknown-action", lambda c, q: c.order_send(TradeRequest(99, SYMBOL, 0.1)), InvalidRequest,
         R.INVALID),
    Case("order-send-unknown-type", lambda c, q: c.order_send(TradeRequest(1, SYMBOL, 0.1, type=42)),
         InvalidRequest, R.INVALID_ORDER),
    Case("buy-unknown-symbol", lambda c, q: c.buy(UNKNOWN, 0.1), UnknownSymbol, R.INVALID),
    Case("buy-unknown-symbol-zero-volume", lambda c, q: c.buy(UNKNOWN, 0.0), UnknownSymbol, R.INVALID),
    Case("buy-symbol-not-a-str", lambda c, q: c.buy(5, 0.1), InvalidRequest, R.INVALID),
    Case("buy-volume-a-str", lambda c, q: c.buy(SYMBOL, "0.1"), InvalidRequest, R.INVALID_VOLUME),
    Case("buy-volume-a-bool", lambda c, q: c.buy(SYMBOL, True), InvalidRequest, R.INVALID_VOLUME),
    Case("buy-price-a-str", lambda c, q: c.buy(SYMBOL, 0.1, price="1.1"), InvalidRequest, R.INVALID_PRICE),
    Case("buy-sl-a-str", lambda c, q: c.buy(SYMBOL, 0.1, sl="x"), InvalidRequest, R.INVALID_STOPS),
    Case("buy-deviation-negative", lambda c, q: c.buy(SYMBOL, 0.1, deviation=-1), InvalidRequest,
         R.TRADE_DISABLED),
    Case("buy-deviation-a-float", lambda c, q: c.buy(SYMBOL, 0.1, deviation=1.5), InvalidRequest,
         R.TRADE_DISABLED),
    Case("buy-comment-not-a-str", lambda c, q: c.buy(SYMBOL, 0.1, comment=5), InvalidRequest, R.INVALID),
    Case("buy-unknown-filling", lambda c, q: c.buy(SYMBOL, 0.1, filling=9), InvalidRequest, R.INVALID_FILL),
    Case("limit-expiration-naive", lambda c, q: c.buy_limit(SYMBOL, 0.1, q.bid - 0.01, expiration=NAIVE),
         InvalidRequest),
    Case("limit-expiration-a-str", lambda c, q: c.buy_limit(SYMBOL, 0.1, q.bid - 0.01, expiration="tomorrow"),
         InvalidRequest),
    # trade requests: values the official client refuses locally
    Case("buy-zero-volume", lambda c, q: c.buy(SYMBOL, 0), TradeRejected, R.INVALID_VOLUME),
    Case("buy-negative-volume", lambda c, q: c.buy(SYMBOL, -0.1), TradeRejected, R.INVALID_VOLUME),
    Case("buy-nan-volume", lambda c, q: c.buy(SYMBOL, NAN), TradeRejected, R.INVALID_VOLUME),
    Case("buy-volume-off-step", lambda c, q: c.buy(SYMBOL, 0.015), TradeRejected, R.INVALID_VOLUME),
    Case("buy-volume-below-min", lambda c, q: c.buy(SYMBOL, 0.001), TradeRejected, R.INVALID_VOLUME),
    Case("buy-volume-above-max", lambda c, q: c.buy(SYMBOL, 1e6), TradeRejected, R.INVALID_VOLUME),
    Case("buy-negative-price", lambda c, q: c.buy(SYMBOL, 0.1, price=-1.0), TradeRejected, R.INVALID_PRICE),
    Case("buy-nan-price", lambda c, q: c.buy(SYMBOL, 0.1, price=NAN), TradeRejected, R.INVALID_PRICE),
    Case("buy-sl-above-the-price", lambda c, q: c.buy(SYMBOL, 0.1, sl=q.ask + 0.01), TradeRejected,
         R.INVALID_STOPS),
    Case("buy-tp-below-the-price", lambda c, q: c.buy(SYMBOL, 0.1, tp=q.bid - 0.01), TradeRejected,
         R.INVALID_STOPS),
    Case("sell-sl-below-the-price", lambda c, q: c.sell(SYMBOL, 0.1, sl=q.bid - 0.01), TradeRejected,
         R.INVALID_STOPS),
    Case("buy-negative-sl", lambda c, q: c.buy(SYMBOL, 0.1, sl=-1.0), TradeRejected, R.INVALID_STOPS),
    Case("buy-nan-tp", lambda c, q: c.buy(SYMBOL, 0.1, tp=NAN), TradeRejected, R.INVALID_STOPS),
    Case("limit-above-the-market", lambda c, q: c.buy_limit(SYMBOL, 0.1, q.ask + 0.01), TradeRejected,
         R.INVALID_PRICE),
    Case("limit-negative-price", lambda c, q: c.buy_limit(SYMBOL, 0.1, -1.0), TradeRejected, R.INVALID_PRICE),
    Case("limit-nan-price", lambda c, q: c.sell_limit(SYMBOL, 0.1, NAN), TradeRejected, R.INVALID_PRICE),
    Case("sell-stop-above-the-market", lambda c, q: c.sell_stop(SYMBOL, 0.1, q.bid + 0.01), TradeRejected,
         R.INVALID_PRICE),
    Case("stop-limit-limit-above-the-stop",
         lambda c, q: c.buy_stop_limit(SYMBOL, 0.1, q.ask + 0.01, q.ask + 0.02), TradeRejected, R.INVALID_PRICE),
    Case("limit-sl-above-the-price", lambda c, q: c.buy_limit(SYMBOL, 0.1, q.bid - 0.01, sl=q.bid),
         TradeRejected, R.INVALID_STOPS),
    Case("limit-expired-on-the-server", lambda c, q: c.buy_limit(SYMBOL, 0.1, q.bid - 0.01, expiration=AWARE),
         TradeRejected, R.INVALID_EXPIRATION),
    # tickets
    Case("modify-ticket-a-str", lambda c, q: c.modify("1", sl=1.0), InvalidRequest, R.INVALID),
    Case("modify-ticket-zero", lambda c, q: c.modify(0, sl=1.0), InvalidRequest, R.INVALID),
    Case("modify-ticket-negative", lambda c, q: c.modify(-5, sl=1.0), InvalidRequest, R.INVALID),
    Case("modify-unknown-ticket", lambda c, q: c.modify(987654, sl=1.0), TradeRejected, R.INVALID),
    Case("cancel-ticket-a-float", lambda c, q: c.cancel(1.5), InvalidRequest, R.INVALID),
    Case("cancel-unknown-ticket", lambda c, q: c.cancel(987654), TradeRejected, R.INVALID),
    Case("close-position-ticket-none", lambda c, q: c.close_position(None), InvalidRequest, R.INVALID),
    Case("close-position-unknown-ticket", lambda c, q: c.close_position(987654), TradeRejected, R.INVALID),
    Case("close-unknown-ticket", lambda c, q: c.close(987654), TradeRejected, R.INVALID),
    Case("close-by-ticket-a-str", lambda c, q: c.close_by("a", 1), InvalidRequest, R.INVALID),
    # margin and profit
    Case("margin-unknown-symbol", lambda c, q: c.order_calc_margin(0, UNKNOWN, 0.1, 1.1), UnknownSymbol,
         R.INVALID),
    Case("margin-negative-volume", lambda c, q: c.order_calc_margin(0, SYMBOL, -1, 1.1), InvalidRequest,
         R.INVALID_VOLUME),
    Case("margin-nan-price", lambda c, q: c.order_calc_margin(0, SYMBOL, 0.1, NAN), InvalidRequest,
         R.INVALID_PRICE),
    Case("margin-unknown-order-type", lambda c, q: c.order_calc_margin(99, SYMBOL, 0.1, 1.1), InvalidRequest,
         R.INVALID_ORDER),
    Case("margin-order-type-a-str", lambda c, q: c.order_calc_margin("buy", SYMBOL, 0.1, 1.1), InvalidRequest,
         R.INVALID_ORDER),
    Case("profit-nan-close", lambda c, q: c.order_calc_profit(0, SYMBOL, 0.1, 1.1, NAN), InvalidRequest,
         R.INVALID_PRICE),
]


def _check(error: MT5Error, case: Case) -> None:
    assert type(error) is case.error, f"{case.id}: {type(error).__name__}: {error}"
    assert getattr(error, "retcode", None) == case.retcode, f"{case.id}: {error!r}"
    assert str(error)


@ON_MODULE_LOOP
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_async_client_refuses_before_sending(case: Case, async_client: MT5Client,
                                                   sim_thread: SimThread) -> None:
    q = await async_client.quote(SYMBOL)
    await async_client.session.request(Command.PING)
    before = await asyncio.to_thread(sim_thread.received)
    with pytest.raises(MT5Error) as info:
        result = case.call(async_client, Quote(q.bid, q.ask))
        if inspect.isawaitable(result):
            await result
    await async_client.session.request(Command.PING)
    after = await asyncio.to_thread(sim_thread.received)
    _check(info.value, case)
    assert sent_between(before, after) == Counter({Command.PING: 1})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_blocking_client_refuses_before_sending(case: Case, sync_client: MT5ClientSync,
                                                sim_thread: SimThread) -> None:
    q = sync_client.quote(SYMBOL)
    ping(sync_client)
    before = sim_thread.received()
    with pytest.raises(MT5Error) as info:
        case.call(sync_client, Quote(q.bid, q.ask))
    ping(sync_client)
    _check(info.value, case)
    assert sent_between(before, sim_thread.received()) == Counter({Command.PING: 1})


# --- construction and login ---------------------------------------------------------------------------------

CONSTRUCTION = [
    ("url-http", ("http://127.0.0.1/terminal",), {}),
    ("url-not-a-str", (123,), {}),
    ("url-no-host", ("ws:///terminal",), {}),
    ("url-bad-port", ("ws://127.0.0.1:99999999/terminal",), {}),
    ("timeout-zero", ("ws://127.0.0.1/terminal",), {"timeout": 0}),
    ("timeout-nan", ("ws://127.0.0.1/terminal",), {"timeout": NAN}),
    ("timeout-a-str", ("ws://127.0.0.1/terminal",), {"timeout": "5"}),
    ("keepalive-negative", ("ws://127.0.0.1/terminal",), {"keepalive_interval": -1}),
    ("bars-per-request-zero", ("ws://127.0.0.1/terminal",), {"bars_per_request": 0}),
    ("stream-maxlen-a-float", ("ws://127.0.0.1/terminal",), {"stream_maxlen": 10.5}),
    ("reconnect-attempts-negative", ("ws://127.0.0.1/terminal",), {"max_reconnect_attempts": -1}),
    ("cid-too-short", ("ws://127.0.0.1/terminal",), {"cid": b"short"}),
    ("tls-options-on-ws", ("ws://127.0.0.1/terminal",), {"ca_file": "ca.pem"}),
]


@pytest.mark.parametrize(("args", "kwargs"), [c[1:] for c in CONSTRUCTION], ids=[c[0] for c in CONSTRUCTION])
@pytest.mark.parametrize("kind", [MT5Client, MT5ClientSync], ids=["async", "blocking"])
def test_constructor_refuses_bad_options(kind: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        kind(*args, **kwargs)


LOGINS = [
    ("login-a-word", ("abc", "secret"), {}),
    ("login-zero", (0, "secret"), {}),
    ("login-negative", (-5, "secret"), {}),
    ("login-a-float", (5000001.5, "secret"), {}),
    ("login-a-bool", (True, "secret"), {}),
    ("password-not-a-str", (5000001, 1234), {}),
    ("password-empty", (5000001, ""), {}),
    ("otp-not-a-str", (5000001, "secret"), {"otp": 123456}),
]


@ON_MODULE_LOOP
@pytest.mark.parametrize(("args", "kwargs"), [c[1:] for c in LOGINS], ids=[c[0] for c in LOGINS])
async def test_login_refuses_bad_credentials_before_connecting(sim_thread: SimThread, args: tuple[Any, ...],
                                                               kwargs: dict[str, Any]) -> None:
    before = await asyncio.to_thread(sim_thread.received)
    client = MT5Client(sim_thread.url, **CLIENT_OPTIONS)
    with pytest.raises(InvalidRequest):
        await client.login(*args, **kwargs)
    await client.disconnect()
    assert await asyncio.to_thread(sim_thread.received) == before  # not even a connection was opened
