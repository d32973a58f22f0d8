"""The asyncio client: the public API over a :class:`~pymt5_core.session.Session` and a :class:`StateMirror`.

Every operation is written once, here, as a coroutine; :class:`~pymt5_core.sync.MT5ClientSync` runs the
same coroutines on a background loop. User callbacks run on the client's event loop and must not block it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from pymt5_core._construct import positional_constructor
from pymt5_core._validate import (
    check_callable,
    check_credentials,
    check_int,
    check_login,
    check_number,
    check_seconds,
    check_symbol_name,
    check_ticket,
    check_trade_request,
    check_url,
)
from pymt5_core.errors import (
    ConnectionLost,
    InvalidRequest,
    MT5Error,
    NotConnected,
    ProtocolError,
    RequestTimeout,
    ServerError,
    TradeRejected,
    UnknownSymbol,
)
from pymt5_core.events import (
    EVENT_TYPES,
    ConnectionState,
    LinkState,
    SessionState,
    SymbolUpdate,
)
from pymt5_core.mirror import DealMark, StateMirror
from pymt5_core.models import (
    AccountInfo,
    BookLevel,
    BookUpdate,
    Deal,
    Event,
    Order,
    Position,
    RequestAction,
    SymbolInfo,
    Tick,
    TradeRequest,
    TradeResult,
)
from pymt5_core.rates import RATES_DTYPE, BarSink, FrameSink, RatesSink, max_bars
from pymt5_core.session import Connector, Session
from pymt5_core.trading import (
    Quote,
    Rates,
    TradeContext,
    build_trade_fields,
    margin_in_margin_currency,
    profit_in_profit_currency,
    symbol_info,
    valuation_price,
)
from pymt5_core.wire.codec import LOTS_SCALE, lots_to_wire
from pymt5_core.wire.enums import Command, OrderType, Period, Retcode, StatsField, TradeAction
from pymt5_core.wire.messages import (
    build_history_request,
    build_id_list,
    build_rates_request,
    build_trade_request,
    check_bar_times,
    read_account,
    read_bars,
    read_book,
    read_full_symbols,
    read_history,
    read_link_state,
    read_opened,
    read_symbol_groups,
    read_symbol_stats,
    read_symbol_update,
    read_symbols,
    read_symbols_compressed,
    read_ticks,
    read_trade_outcome,
    read_trade_status,
    read_trade_update,
)
from pymt5_core.wire.records import records

if TYPE_CHECKING:
    import ssl as ssl_module

    import pandas as pd

__all__ = ["RATES_DTYPE", "BookStream", "MT5Client", "TickStream", "to_epoch_seconds"]

_COMPRESSED_LIST_ABOVE = 256
_DELAYED = 512
#: How far before a lost trade request's departure (server clock) a deal or order may be dated and still be
#: taken as its effect: the client's estimate of the server's clock runs at most this much ahead of it.
_RECONCILE_SKEW_MS = 60_000
_T = TypeVar("_T")
_R = TypeVar("_R")
EventCallback = Callable[[Any], Any]
#: Requests that need a current quote to be checked and priced.
_NEEDS_QUOTE = frozenset({RequestAction.DEAL, RequestAction.PENDING, RequestAction.SLTP, RequestAction.MODIFY})
# Looked up once: a member (or method) lookup on an enum class costs about as much as a small check.
_DEAL, _TRADE_REQUEST, _is_final = RequestAction.DEAL, Command.TRADE_REQUEST, Retcode.is_final
# The values of one order, built positionally (see pymt5_core._construct): every field given, in order.
_new_request = positional_constructor(TradeRequest)
_new_result = positional_constructor(TradeResult)
_new_context = positional_constructor(TradeContext)
_new_quote = positional_constructor(Quote)


def _market_request(order_type: int, symbol: str, volume: float, price: float | None, sl: float | None,
                    tp: float | None, deviation: int, comment: str, filling: int | None, position: int = 0
                    ) -> TradeRequest:
    """The request of a market deal: a new position (:meth:`MT5Client.buy`, :meth:`MT5Client.sell`) or the
    close of ``position``."""
    return _new_request(_DEAL, symbol, volume, order_type, price or 0.0, 0.0, sl or 0.0, tp or 0.0, deviation,
                        filling, 0, 0, comment, position, 0, 0, 0)


def to_epoch_seconds(value: datetime | float | int | np.datetime64 | None, what: str = "time") -> int | None:
    """Convert a timezone-aware datetime (or pandas Timestamp), epoch seconds or datetime64 to Unix seconds.

    Raises:
        InvalidRequest: a naive datetime or an unsupported type.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequest(f"{what}: naive datetime {value!r}; give a timezone-aware datetime (e.g. UTC)")
        return math.floor(value.timestamp())
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[s]").astype("int64"))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise InvalidRequest(f"{what}: {value!r} is not a finite time")
        return math.floor(value)
    raise InvalidRequest(f"{what}: expected a timezone-aware datetime or epoch seconds, not {type(value).__name__}")


# --- per-symbol state ---------------------------------------------------------------------------------


class _QuoteState:
    __slots__ = ("ask", "bid", "fields", "last", "t_ba", "t_last", "time", "volume")

    def __init__(self) -> None:
        self.bid = self.ask = self.last = self.volume = 0.0
        self.t_ba = self.t_last = self.time = 0
        self.fields = 0


class _Symbol:
    """Everything the client keeps about one symbol, keyed by name (ids may change across reconnects)."""

    __slots__ = ("book_buy", "book_sell", "delayed", "digits", "full", "id", "info", "live", "name", "scale",
                 "short", "stats", "streams", "widen")

    def __init__(self, short: Mapping[str, Any]) -> None:
        self.name = str(short["trade_symbol"])
        self.live = _QuoteState()
        self.delayed = _QuoteState()
        self.full: dict[str, Any] | None = None
        self.info: SymbolInfo | None = None
        self.streams: list[TickStream] = []
        self.book_buy: dict[int, int] = {}
        self.book_sell: dict[int, int] = {}
        self.stats: dict[str, float] = {}
        self.widen: tuple[float, int, int] | None = None
        self.set_short(short)

    def set_short(self, short: Mapping[str, Any]) -> None:
        self.short = dict(short)
        self.id = int(short["symbol_id"])
        self.digits = min(max(int(short["digits"]), 0), 8)
        self.scale = 10.0**self.digits
        self.info = None


# --- streams ------------------------------------------------------------------------------------------


class _Stream(Generic[_T]):
    """An async iterator fed by the client; subscribes on first iteration, unsubscribes on close."""

    def __init__(self, client: MT5Client, maxlen: int) -> None:
        self._client = client
        self._queue: deque[_T] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self._started = False
        self._closed = False
        #: Items dropped because the consumer was slower than the feed (oldest first).
        self.dropped = 0

    def __aiter__(self) -> _Stream[_T]:
        return self

    async def __anext__(self) -> _T:
        if not self._started:
            self._started = True
            await self._start()
        queue = self._queue
        while not queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return queue.popleft()

    async def next_batch(self) -> list[_T]:
        """Wait for the next item and return it with every item already queued (empty when the stream ended)."""
        try:
            first = await self.__anext__()
        except StopAsyncIteration:
            return []
        batch = [first]
        queue = self._queue
        while queue:
            batch.append(queue.popleft())
        return batch

    def _push(self, item: _T) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def aclose(self) -> None:
        """Stop the stream and unsubscribe (when it was the last consumer of its symbols)."""
        if self._closed:
            return
        self._end()
        if self._started:
            await self._stop()

    async def __aenter__(self) -> _Stream[_T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class TickStream(_Stream[Tick]):
    """Ticks of one or more symbols (see :meth:`MT5Client.ticks`)."""

    def __init__(self, client: MT5Client, symbols: Sequence[str], maxlen: int) -> None:
        super().__init__(client, maxlen)
        self.symbols = tuple(symbols)

    async def _start(self) -> None:
        await self._client._watch_ticks(self, add=True)

    async def _stop(self) -> None:
        await self._client._watch_ticks(self, add=False)


class BookStream(_Stream[BookUpdate]):
    """Depth-of-market updates of one symbol (see :meth:`MT5Client.book`)."""

    def __init__(self, client: MT5Client, symbol: str, maxlen: int) -> None:
        super().__init__(client, maxlen)
        self.symbol = symbol

    async def _start(self) -> None:
        await self._client._watch_book(self, add=True)

    async def _stop(self) -> None:
        await self._client._watch_book(self, add=False)


# --- trade bookkeeping ----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, slots=True)
class _PendingTrade:
    request: TradeRequest
    fields: dict[str, Any]
    future: asyncio.Future[TradeResult]
    known_deals: DealMark
    known_positions: Mapping[int, Position]
    known_orders: frozenset[int]
    sent_ms: int | None = None  # the server's time when the request left, for reconciling (None: unknown)
    sent: bool = False


class _Valuation:
    """Profit, current price and margin of positions from the client's ticks (installed in the mirror)."""

    def __init__(self, client: MT5Client) -> None:
        self._client = client

    def revalue(self, position: Position) -> Position:
        client = self._client
        sym = client._symbols.get(position.symbol)
        info = client._info(sym) if sym is not None and sym.full is not None else None
        account = client.mirror.body
        if info is None or sym is None or account is None:
            return position
        state = sym.live
        if not state.bid or not state.ask:
            return position
        price = valuation_price(info, Quote(state.bid, state.ask, state.last), position.type)
        rate = client._rates.rate(info.currency_profit, str(account.main["account_currency"]))
        if rate is None:
            return position
        profit = profit_in_profit_currency(position.type, info, position.volume, position.price_open, price) * rate
        return dataclasses.replace(position, price_current=price, profit=round(profit, 2))

    def margin(self, positions: Iterable[Position], leverage: int, hedging: bool) -> float:
        client = self._client
        account = client.mirror.body
        if account is None:
            return 0.0
        currency = str(account.main["account_currency"])
        by_symbol: dict[str, list[Position]] = {}
        for p in positions:
            by_symbol.setdefault(p.symbol, []).append(p)
        total = 0.0
        for name, group in by_symbol.items():
            sym = client._symbols.get(name)
            if sym is None or sym.full is None:
                continue
            info = client._info(sym)
            rate = client._rates.rate(info.currency_margin or info.currency_profit, currency)
            if rate is None:
                continue
            total += _symbol_margin(info, group, leverage, hedging) * rate
        return total


def _symbol_margin(info: SymbolInfo, positions: list[Position], leverage: int, hedging: bool) -> float:
    buy = sum(p.volume for p in positions if p.type == 0)
    sell = sum(p.volume for p in positions if p.type == 1)
    price = positions[0].price_current or positions[0].price_open
    if not hedging:
        return sum(margin_in_margin_currency(p.type, info, p.volume, p.price_current or p.price_open, leverage)
                   for p in positions)
    covered = min(buy, sell)
    side = 0 if buy >= sell else 1
    uncovered = margin_in_margin_currency(side, info, abs(buy - sell), price, leverage)
    if info.margin_flags & 4:  # large leg: only the bigger side counts
        return margin_in_margin_currency(side, info, max(buy, sell), price, leverage)
    hedged = margin_in_margin_currency(side, info, covered, price, leverage, contract_size=info.margin_hedged) \
        if covered and info.margin_hedged else 0.0
    return uncovered + hedged


# --- the client -----------------------------------------------------------------------------------------


class MT5Client:
    """An asynchronous MetaTrader 5 client over the web terminal protocol.

    Example::

        async with MT5Client("wss://web.metatrader.app/terminal") as client:
            account = await client.login(12345678, "password")
            bars = await client.bars_df("EURUSD", "H1", start, end)
            async for tick in client.ticks("EURUSD"):
                ...

    Args:
        url: the endpoint, ``wss://HOST/terminal``.
        origin: the ``Origin`` header (default ``https://HOST``).
        ssl: a TLS context (overrides ``verify_tls``/``ca_file``).
        verify_tls: verify the server certificate (on by default).
        ca_file: a CA bundle to verify the server against.
        timeout: request timeout in seconds (also the wait for a trade result).
        reconnect: reconnect automatically after a drop, re-login, resubscribe and resync.
        cid: the 16-byte client id (SPEC §2.14).
        keepalive_interval: seconds between keep-alive pings (5).
        dead_after: seconds without a ping answer that mark the link dead (15).
        reconnect_delays: factory of reconnect delay iterators (see :func:`pymt5_core.backoff.backoff`).
        max_reconnect_attempts: stop reconnecting after this many failures (None: never stop).
        bars_per_request: the size of one bars page (command 11).
        stream_maxlen: how many items a tick/book stream buffers before dropping the oldest.
        connector: replaces the WebSocket connector (tests).

    Raises:
        InvalidRequest: a URL that is not ``ws://``/``wss://HOST``, or an option of the wrong type or out of
            range (checked here, before anything connects).

    Events (``client.on(EventType, callback)``; callbacks may be plain functions or coroutines):

    * :class:`Tick` -- a merged quote (push 8).
    * :class:`BookUpdate` -- the full depth of market of a symbol after an update (push 23).
    * :class:`TradeTransaction` -- one applied record of push 10 (order, history order, deal, position).
    * :class:`TradeResult` -- a result of this session's trade request (push 19), intermediate ones too.
    * :class:`AccountUpdate` -- server-side account change (push 14, balance fields of push 10).
    * :class:`SymbolUpdate` -- a symbol's effective configuration changed (push 13, or push 14 settings).
    * :class:`LinkState` -- the access server lost or regained the trade server (push 15).
    * :class:`ConnectionState` -- a session state transition (connecting, ready, reconnecting, ...).
    * :class:`OrderEvent` -- a lifecycle step of one order (placed, partially filled, filled, canceled, ...).

    Attributes:
        mirror: the :class:`StateMirror` (positions, orders, deals, account); reading it never does I/O.
        session: the underlying :class:`Session`.
    """

    def __init__(
        self,
        url: str,
        *,
        origin: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        verify_tls: bool = True,
        ca_file: str | None = None,
        timeout: float = 30.0,
        reconnect: bool = True,
        cid: bytes | None = None,
        keepalive_interval: float = 5.0,
        dead_after: float = 15.0,
        reconnect_delays: Callable[[], Any] | None = None,
        max_reconnect_attempts: int | None = None,
        bars_per_request: int = 100_000,
        stream_maxlen: int = 1_000_000,
        connector: Connector | None = None,
    ) -> None:
        check_url(url)
        for name, seconds in (("timeout", timeout), ("keepalive_interval", keepalive_interval),
                              ("dead_after", dead_after)):
            check_seconds(seconds, name)
        check_int(bars_per_request, "bars_per_request", minimum=1)
        check_int(stream_maxlen, "stream_maxlen", minimum=1)
        if max_reconnect_attempts is not None:
            check_int(max_reconnect_attempts, "max_reconnect_attempts", minimum=0)
        self.timeout = timeout
        self.bars_per_request = bars_per_request
        self.stream_maxlen = stream_maxlen
        self.session = Session(
            url, origin=origin, ssl=ssl, verify_tls=verify_tls, ca_file=ca_file, timeout=timeout,
            reconnect=reconnect, cid=cid, keepalive_interval=keepalive_interval, dead_after=dead_after,
            reconnect_delays=reconnect_delays, max_reconnect_attempts=max_reconnect_attempts, connector=connector,
        )
        self.log = logging.getLogger("pymt5_core.client")
        self.session.on_login = self._start_up
        self._callbacks: dict[type[Event], list[EventCallback]] = {}
        self.mirror = StateMirror(self._emit, self._callbacks.get)  # "listening?": the callback list, or None
        self.mirror.valuation = _Valuation(self)
        self._symbols: dict[str, _Symbol] = {}
        self._by_id: dict[int, _Symbol] = {}
        self._pairs: dict[tuple[str, str], str] = {}
        self._groups: list[str] = []
        self._watch: Counter[str] = Counter()
        self._internal_watch: set[str] = set()
        self._tick_version = 0
        self._tick_sent_version = 0
        self._tick_lock = asyncio.Lock()
        self._books: Counter[str] = Counter()
        self._book_streams: dict[str, list[BookStream]] = {}
        self._first_tick: dict[str, asyncio.Future[None]] = {}
        self._pending: dict[int, _PendingTrade] = {}
        self._action_id = 1000
        self._link_up = True
        self._background: set[asyncio.Task[Any]] = set()
        self._rates = Rates(self._find_pair, self._live_quote, self._want_quote)
        self._login = 0
        self._server_offset_ms: int | None = None
        on = self.session.add_listener
        on(Command.TICKS, self._on_ticks)
        on(Command.SYMBOL_STATS, self._on_stats)
        on(Command.BOOK, self._on_book)
        on(Command.TRADE_UPDATE, self._on_trade_update)
        on(Command.TRADE_RESULT, self._on_trade_result)
        on(Command.ACCOUNT_UPDATE, self._on_account_update)
        on(Command.SYMBOL_UPDATE, self._on_symbol_update)
        on(Command.LINK_STATE, self._on_link_state)
        self.session.add_state_listener(self._on_session_state)

    def __repr__(self) -> str:
        return f"<MT5Client {self.session.url} login={self._login or None} state={self.session.state}>"

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> MT5Client:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Open the WebSocket and run the bootstrap exchange.

        Raises:
            OSError, ProtocolError, RequestTimeout: the connection could not be established.
        """
        await self.session.open()

    async def login(self, login: int, password: str, *, otp: str | None = None) -> AccountInfo:
        """Log in and load the account, symbols, positions and orders (SPEC §2.12).

        Args:
            login: the account number.
            password: the password (or the 320-hex password blob of an earlier login).
            otp: a one-time password, when the account requires one.

        Returns:
            The account.

        Raises:
            AuthError: invalid account or password. OTPRequired: an OTP is needed or was wrong.
            TOTPNotEnabled: two-factor authentication must be enabled first.
            TradeServerUnavailable: the server kept answering code 2/100.
            ConnectionLost, RequestTimeout, OSError: the connection failed.
            InvalidRequest: a login that is not an account number, a password or OTP that is not a string.
        """
        login = check_login(login)
        password, otp = check_credentials(password, otp)
        self._login = login  # action ids keep counting: a late push 19 of the last session matches nothing new
        self._server_offset_ms = None  # another server (or its clock) may differ
        await self.session.login(int(login), password, otp=otp)
        account = self.mirror.account
        assert account is not None
        return account

    async def disconnect(self) -> None:
        """Log out, close the connection and end every stream. Safe to call twice."""
        for stream in [s for sym in self._symbols.values() for s in sym.streams]:
            stream._end()
        for streams in self._book_streams.values():
            for book in streams:
                book._end()
        await self.session.close()
        current = asyncio.current_task()
        tasks = [task for task in self._background if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:  # cancelled callbacks end at their next await; none is left pending behind the caller
            await asyncio.wait(tasks, timeout=5.0)

    @overload
    async def close(self) -> None: ...

    @overload
    async def close(self, position_ticket: int, volume: float | None = None, *, deviation: int = 10) -> TradeResult:
        ...

    async def close(self, position_ticket: int | None = None, volume: float | None = None, *,
                    deviation: int = 10) -> TradeResult | None:
        """Close a position (fully, or ``volume`` lots of it); without a ticket, close the client.

        Args:
            position_ticket: the position to close; None closes the connection (like :meth:`disconnect`).
            volume: lots to close (default: all).
            deviation: maximal price deviation in points (instant execution).

        Returns:
            The trade result (None when closing the client).

        Raises:
            TradeRejected: refused locally (e.g. 10013 unknown position) or by the server.
            ConnectionLost: the connection dropped and the outcome could not be settled.
        """
        if position_ticket is None:
            await self.disconnect()
            return None
        return await self.close_position(position_ticket, volume, deviation=deviation)

    # --- properties -----------------------------------------------------------------------------

    @property
    def server_build(self) -> int:
        """The trade server's build number (0 before login)."""
        body = self.mirror.body
        return int(body.main["server_build"]) if body else 0

    @property
    def server_time_offset(self) -> int:
        """Server time minus UTC in seconds (``timezone_shift + 3600 * daylightmode``)."""
        body = self.mirror.body
        return int(body.main["timezone_shift"]) + 3600 * int(body.main["daylightmode"]) if body else 0

    @property
    def server_time(self) -> int | None:
        """The server's current time in Unix milliseconds; None before the first quote arrived.

        It is the newest server timestamp received (tick and statistics times) carried forward by the
        time elapsed here since, so it follows the server's clock, not this machine's. Expirations are
        checked and bars without an end are counted back against it, as the official terminal does.
        """
        offset = self._server_offset_ms
        return None if offset is None else _monotonic_ms() + offset

    def _note_server_time(self, server_ms: int) -> None:
        # Each timestamp is at most the server's time on arrival: the largest offset is the best estimate.
        offset = server_ms - _monotonic_ms()
        if self._server_offset_ms is None or offset > self._server_offset_ms:
            self._server_offset_ms = offset

    async def wait_server_time(self, symbol: str) -> int:
        """The server's current time in Unix milliseconds (:attr:`server_time`).

        When no quote has arrived yet, ``symbol`` is subscribed and its first quote awaited briefly; if
        none comes (market closed), this machine's clock is the answer.

        Raises:
            UnknownSymbol: unknown symbol. NotConnected: not logged in.
        """
        sym = self._require_symbol(symbol)
        if self._server_offset_ms is None:
            with contextlib.suppress(RequestTimeout, ConnectionLost):
                await self._wait_first_tick(sym, min(self.timeout, 5.0))
        now = self.server_time
        return time.time_ns() // 1_000_000 if now is None else now

    @property
    def state(self) -> SessionState:
        """The session state."""
        return self.session.state

    @property
    def latency(self) -> float | None:
        """The last keep-alive round trip in seconds."""
        return self.session.latency

    # --- events ---------------------------------------------------------------------------------

    def on(self, event_type: type[Event], callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event of ``event_type``; coroutine callbacks become tasks.

        Args:
            event_type: one of the event classes listed in the class docstring.
            callback: a function or coroutine function taking the event.

        Returns:
            A function that unsubscribes the callback.

        Raises:
            InvalidRequest: ``event_type`` is not an event type.
        """
        if not isinstance(event_type, type) or event_type not in EVENT_TYPES:
            raise InvalidRequest(f"{event_type!r} is not an event type; use one of "
                                 f"{', '.join(t.__name__ for t in EVENT_TYPES)}")
        check_callable(callback, "callback")
        callbacks = self._callbacks.setdefault(event_type, [])
        callbacks.append(callback)

        def off() -> None:
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)

        return off

    def _emit(self, event: Event) -> None:
        for callback in self._callbacks.get(type(event), ()):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                self.log.exception("event callback %r failed", callback)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await awaitable
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("background task failed")

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_session_state(self, event: ConnectionState) -> None:
        if event.state in (SessionState.RECONNECTING, SessionState.DISCONNECTED, SessionState.CLOSED):
            for pending in self._pending.values():
                if pending.sent and not pending.future.done():
                    _fail(pending.future, ConnectionLost(
                        f"connection lost ({event.reason}) before the trade result arrived", outcome_unknown=True))
            for fut in self._first_tick.values():
                if not fut.done():
                    fut.cancel()
            self._first_tick.clear()
        if event.state in (SessionState.DISCONNECTED, SessionState.CLOSED):
            for sym in self._symbols.values():
                for stream in sym.streams:
                    stream._end()
            for streams in self._book_streams.values():
                for book in streams:
                    book._end()
        self._emit(event)

    # --- start-up (SPEC §2.12) ------------------------------------------------------------------

    async def _start_up(self, reconnect: bool) -> None:
        request = self.session.request
        mirror = self.mirror
        mirror.hold()
        try:
            body = read_account((await request(Command.ACCOUNT)).body)
            positions: list[dict[str, Any]] = []
            orders: list[dict[str, Any]] = []
            if not body.main["rights"] & 1024:
                self._groups = read_symbol_groups((await request(Command.SYMBOL_GROUPS)).body)
                await self._load_symbols(body.symbols_count)
                pos_arr, ord_arr = read_opened((await request(Command.OPENED)).body)
                positions, orders = records(pos_arr), records(ord_arr)
            mirror.reset(self._login, body, positions, orders)
            needed = {str(p["trade_symbol"]) for p in positions} | {str(o["trade_symbol"]) for o in orders}
            if reconnect:
                needed |= {name for name, sym in self._symbols.items() if sym.full is not None}
            await self._load_full([n for n in needed if n in self._symbols], force=reconnect)
            self._internal_watch |= {str(p["trade_symbol"]) for p in positions if p["trade_symbol"] in self._symbols}
        except BaseException:
            mirror.drop_held()
            raise
        mirror.release()
        self._link_up = True
        if self._watched() or reconnect:
            self._tick_sent_version = -1
            await self._send_tick_subscription()
        if reconnect and +self._books:
            await self._send_book_subscription()

    async def _load_symbols(self, count: int) -> None:
        arr: npt.NDArray[Any] | None = None
        if count > _COMPRESSED_LIST_ABOVE:
            try:
                arr = read_symbols_compressed((await self.session.request(Command.SYMBOLS_COMPRESSED)).body)
            except (ProtocolError, ServerError) as exc:
                self.log.info("compressed symbol list failed (%s); using command 6", exc)
        if arr is None:
            arr = read_symbols((await self.session.request(Command.SYMBOLS)).body)
        self._by_id.clear()
        self._pairs.clear()
        for short in records(arr):
            name = str(short["trade_symbol"])
            sym = self._symbols.get(name)
            if sym is None:
                sym = self._symbols[name] = _Symbol(short)
            else:
                sym.set_short(short)
            self._by_id[sym.id] = sym

    async def _load_full(self, names: Sequence[str], *, force: bool = False) -> None:
        wanted = [self._symbols[n] for n in dict.fromkeys(names) if force or self._symbols[n].full is None]
        if not wanted:
            return
        frame = await self.session.request(Command.FULL_SYMBOLS, build_id_list([s.id for s in wanted]))
        for full in read_full_symbols(frame.body):
            self._store_full(full)

    def _store_full(self, full: dict[str, Any]) -> _Symbol | None:
        sym = self._symbols.get(str(full["trade_symbol"]))
        if sym is None:
            return None
        sym.full = full
        sym.info = None
        self._pairs.clear()
        return sym

    def _info(self, sym: _Symbol) -> SymbolInfo:
        info = sym.info
        if info is None:
            body = self.mirror.body
            info = symbol_info(sym.short, sym.full, body.trade_settings if body else ())
            sym.info = info
            if info.spread_diff:
                sym.widen = (info.point, info.spread_diff, info.spread_diff_balance)
            else:
                sym.widen = None
        return info

    # --- symbols --------------------------------------------------------------------------------

    def _require_symbol(self, name: str) -> _Symbol:
        sym = self._symbols.get(check_symbol_name(name))
        if sym is None:
            if not self._symbols:
                raise NotConnected("not logged in: no symbol list")
            raise UnknownSymbol(name)
        return sym

    def _with_quote(self, sym: _Symbol, info: SymbolInfo) -> SymbolInfo:
        q = sym.live
        if not q.time:
            return info
        return dataclasses.replace(info, bid=q.bid, ask=q.ask, last=q.last, time_msc=q.time)

    async def symbols(self) -> list[SymbolInfo]:
        """Every symbol of the account (full configuration where already loaded), with the latest quote.

        Raises:
            NotConnected: not logged in.
        """
        if not self._symbols:
            raise NotConnected("not logged in")
        return [self._with_quote(s, self._info(s)) for s in self._symbols.values()]

    async def symbol(self, name: str) -> SymbolInfo:
        """The full configuration of a symbol (loaded with command 18 once, then kept current by push 13).

        Raises:
            UnknownSymbol: unknown symbol (also when the server sends no configuration for a listed one).
            InvalidRequest: not a symbol name. NotConnected: not logged in.
        """
        sym = self._require_symbol(name)
        if sym.full is None:
            await self._load_full([name])
            if sym.full is None:
                raise UnknownSymbol(name, message=f"the server has no configuration for {name!r}")
        return self._with_quote(sym, self._info(sym))

    async def groups(self) -> list[str]:
        """The symbol group paths (command 9)."""
        if not self._symbols and not self._groups:
            raise NotConnected("not logged in")
        return list(self._groups)

    async def account(self) -> AccountInfo:
        """The account, with equity, margin and profit computed from the latest ticks (no I/O).

        Raises:
            NotConnected: not logged in.
        """
        account = self.mirror.account
        if account is None:
            raise NotConnected("not logged in")
        return account

    async def positions(self) -> list[Position]:
        """Open positions with current price and profit from the latest ticks (no I/O)."""
        return self.mirror.valued_positions()

    async def orders(self) -> list[Order]:
        """Active pending orders (no I/O)."""
        return list(self.mirror.orders.values())

    async def history(self, start: datetime | float | int, end: datetime | float | int | None = None
                      ) -> tuple[list[Deal], list[Order]]:
        """Deals and history orders between ``start`` and ``end`` (command 5).

        Args:
            start: a timezone-aware datetime or epoch seconds.
            end: the same; None = up to now.

        Returns:
            ``(deals, orders)``.

        Raises:
            InvalidRequest: a naive datetime or a value of another type, ``end`` before ``start``.
        """
        from_s = to_epoch_seconds(start, "start") or 0
        to_s = to_epoch_seconds(end, "end") or 0
        if to_s and to_s < from_s:
            raise InvalidRequest(f"end ({to_s}) is before start ({from_s})")
        frame = await self.session.request(Command.HISTORY, build_history_request(from_s, to_s))
        deals_arr, orders_arr = read_history(frame.body)
        return self.mirror.add_history(records(deals_arr), records(orders_arr))

    # --- bars -----------------------------------------------------------------------------------

    async def bars(self, symbol: str, timeframe: str | Period | int, start: Any = None, end: Any = None, *,
                   count: int | None = None) -> npt.NDArray[Any]:
        """Bars of a symbol as a ``MetaTrader5`` rates array, paged transparently over any range.

        Args:
            symbol: symbol name.
            timeframe: ``"M1"`` ... ``"MN1"`` or a :class:`Period`.
            start: first bar time (timezone-aware datetime, pandas Timestamp or epoch seconds).
            end: last bar time (default: now).
            count: with ``start`` only, the first ``count`` bars from ``start``; otherwise the last ``count``
                bars up to ``end``.

        Returns:
            A structured array of :data:`RATES_DTYPE`, oldest first, without duplicates.

        Raises:
            UnknownSymbol: unknown symbol.
            InvalidRequest: unknown timeframe, naive datetime, ``end`` before ``start``, a count that
                is not a positive integer, or neither ``start`` nor ``count``.
        """
        return await self._download_bars(RatesSink, symbol, timeframe, start, end, count)

    async def _download_bars(self, sink_type: type[BarSink[_R]], symbol: str, timeframe: str | Period | int,
                             start: Any, end: Any, count: int | None) -> _R:
        """Page through a :meth:`bars` request, each page decoded into ``sink_type``'s result as it arrives."""
        if isinstance(timeframe, bool) or not isinstance(timeframe, str | int):
            raise InvalidRequest(f"timeframe must be a name such as 'H1' or a Period, not {timeframe!r}")
        try:
            period = Period.parse(timeframe)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        self._require_symbol(symbol)
        start_s = to_epoch_seconds(start, "start")
        end_s = to_epoch_seconds(end, "end")
        if count is not None:
            check_int(count, "count", minimum=1)
        if start_s is not None and end_s is not None and end_s < start_s:
            raise InvalidRequest(f"end ({end_s}) is before start ({start_s})")
        if end_s is None:
            end_s = await self.wait_server_time(symbol) // 1000 + period.seconds
        if count is None:
            if start_s is None:
                raise InvalidRequest("give start (and optionally end) or count")
            sink = sink_type(max_bars(period, start_s, end_s), backward=False)
            await self._bars_forward(sink, symbol, period, start_s, end_s, None)
        elif start_s is not None and end is None:
            sink = sink_type(min(count, max_bars(period, start_s, end_s)), backward=False)
            await self._bars_forward(sink, symbol, period, start_s, end_s, count)
        else:
            sink = sink_type(min(count, max_bars(period, start_s or 0, end_s)), backward=True)
            await self._bars_backward(sink, symbol, period, end_s, count, start_s)
        return sink.result()

    def _page_seconds(self, period: Period) -> int:
        return max(self.bars_per_request, 1) * (period.seconds if period is not Period.MN1 else 31 * 86400)

    async def _bars_page(self, symbol: str, period: Period, from_s: int, to_s: int) -> npt.NDArray[Any]:
        """One command 11 answer as raw Bar records (a view on the decrypted body), times not checked yet."""
        payload = build_rates_request(symbol, period, max(from_s, 0), max(to_s, 1))
        frame = await self.session.request(Command.RATES, payload)
        return read_bars(frame.body)

    async def _bars_forward(self, sink: BarSink[Any], symbol: str, period: Period, start_s: int, end_s: int,
                            count: int | None) -> None:
        cursor = start_s
        span = self._page_seconds(period)
        while cursor <= end_s and (count is None or len(sink) < count):
            to_s = min(cursor + span - 1, end_s)
            page = await self._bars_page(symbol, period, cursor, to_s)
            first, stop = _within(page, cursor, end_s)
            if count is not None:
                stop = min(stop, first + count - len(sink))
            _add_page(sink, page, first, stop, period)
            if stop > first:
                last = int(page["time"][stop - 1])
                # A page that stops short of its window was capped by the server: continue after its last bar.
                cursor = last + 1 if last < to_s else to_s + 1
            else:
                cursor = to_s + 1

    async def _bars_backward(self, sink: BarSink[Any], symbol: str, period: Period, end_s: int, count: int,
                             floor_s: int | None) -> None:
        span = self._page_seconds(period)
        upper = end_s
        empty = 0
        floor = floor_s if floor_s is not None else 0
        while len(sink) < count and upper > floor:
            lower = max(upper - span + 1, floor)
            page = await self._bars_page(symbol, period, lower, upper)
            first, stop = _within(page, lower, upper)
            first = max(first, stop - (count - len(sink)))
            _add_page(sink, page, first, stop, period)  # newest first: the sink fills its result from the end
            if stop > first:
                empty = 0
                oldest = int(page["time"][first])
                upper = oldest - 1 if oldest > lower else lower - 1
            else:
                empty += 1
                if empty >= 3:
                    break
                upper = lower - 1
                span *= 4  # widen over gaps before the first bar

    async def bars_df(self, symbol: str, timeframe: str | Period | int, start: Any = None, end: Any = None, *,
                      count: int | None = None) -> pd.DataFrame:
        """Like :meth:`bars`, as a DataFrame with a UTC ``DatetimeIndex`` named ``time``.

        Raises:
            InvalidRequest: as :meth:`bars`.
        """
        return await self._download_bars(FrameSink, symbol, timeframe, start, end, count)

    # --- ticks ----------------------------------------------------------------------------------

    def ticks(self, symbols: str | Sequence[str]) -> TickStream:
        """An async iterator of :class:`Tick` for ``symbols``; subscribes on first iteration.

        Close it with ``await stream.aclose()`` (or use it as an async context manager) to unsubscribe.

        Raises:
            InvalidRequest: not a name or a list of names.
            UnknownSymbol: an unknown symbol (at once when the symbol list is loaded, else when iteration
                starts).
        """
        if isinstance(symbols, str):
            names = [symbols]
        elif isinstance(symbols, Sequence | set | frozenset):
            names = list(symbols)
        else:
            raise InvalidRequest(f"symbols must be a name or a list of names, not {type(symbols).__name__}")
        if not names:
            raise InvalidRequest("no symbol given")
        for name in names:
            self._check_known(name)
        return TickStream(self, names, self.stream_maxlen)

    def _check_known(self, name: object) -> None:
        # Streams subscribe lazily; a name that can already be seen to be wrong fails at the call.
        symbol = check_symbol_name(name)
        if symbol not in self._symbols and self._symbols:
            raise UnknownSymbol(symbol)

    def _require_open(self) -> None:
        # A stream started after the client closed would wait forever: nothing feeds or ends it.
        if self.session.state in (SessionState.CLOSED, SessionState.DISCONNECTED):
            raise NotConnected(f"session is {self.session.state}")

    async def _watch_ticks(self, stream: TickStream, *, add: bool) -> None:
        if add:
            self._require_open()
        syms = [self._require_symbol(n) for n in stream.symbols]
        for sym in syms:
            if add:
                sym.streams.append(stream)
                self._watch[sym.name] += 1
            else:
                with contextlib.suppress(ValueError):
                    sym.streams.remove(stream)
                self._watch[sym.name] -= 1
                if self._watch[sym.name] <= 0:
                    del self._watch[sym.name]
        if self.session.state in (SessionState.READY, SessionState.SYNCING):
            await self._change_subscription(self._send_tick_subscription())

    async def _change_subscription(self, send: Awaitable[None]) -> None:
        """Send a subscription change; losing the link meanwhile is no error when a reconnect follows.

        The reconnect's start-up sends the complete watched set (ticks and books) again.
        """
        try:
            await send
        except ConnectionLost:
            if self.session.state is not SessionState.RECONNECTING:
                raise

    def _watched(self) -> list[str]:
        return sorted({*self._watch, *self._internal_watch} & set(self._symbols))

    async def _send_tick_subscription(self) -> None:
        """Send command 7 with the complete watched set; concurrent changes coalesce into one request."""
        self._tick_version += 1
        version = self._tick_version
        async with self._tick_lock:
            if self._tick_sent_version >= version:
                return
            version = self._tick_version
            ids = [self._symbols[n].id for n in self._watched()]
            await self.session.request(Command.SUBSCRIBE_TICKS, build_id_list(ids))
            self._tick_sent_version = version

    def _want_quote(self, name: str) -> None:
        if name in self._symbols and name not in self._internal_watch and name not in self._watch:
            self._internal_watch.add(name)
            if self.session.state is SessionState.READY:
                self._spawn(self._send_tick_subscription())

    def _live_quote(self, name: str) -> Quote | None:
        sym = self._symbols.get(name)
        if sym is None or not sym.live.time:
            return None
        q = sym.live
        return Quote(q.bid, q.ask, q.last)

    async def quote(self, symbol: str, timeout: float | None = None) -> Tick:
        """The current quote of ``symbol``; subscribes it (internally) and waits for a first tick if needed.

        Raises:
            UnknownSymbol: unknown symbol. InvalidRequest: negative timeout. RequestTimeout: no tick arrived in
                time.
        """
        sym = self._require_symbol(symbol)
        if timeout is not None:
            check_number(timeout, "timeout", minimum=0)
        if not sym.live.time:
            await self._wait_first_tick(sym, self.timeout if timeout is None else timeout)
        q = sym.live
        return Tick(sym.name, q.time, q.bid, q.ask, q.last, q.volume, q.fields)

    async def _wait_first_tick(self, sym: _Symbol, timeout: float) -> None:
        fut = self._first_tick.get(sym.name)
        if fut is None or fut.done():
            fut = self._first_tick[sym.name] = asyncio.get_running_loop().create_future()
        if sym.name not in self._watch and sym.name not in self._internal_watch:
            self._internal_watch.add(sym.name)
            # During a reconnect the re-login's start-up subscribes the whole watched set; sending here would
            # hold the subscription lock while waiting for READY, which that start-up needs.
            if self.session.state is not SessionState.RECONNECTING:
                await self._send_tick_subscription()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise RequestTimeout(f"no quote for {sym.name} within {timeout:g} s") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not fut.cancelled() or (task is not None and task.cancelling()):
                raise
            # The wait was ended by a drop (see _on_session_state), not by cancelling the caller.
            raise ConnectionLost(f"connection lost while waiting for a quote of {sym.name}") from None

    def _on_ticks(self, frame: Any) -> None:
        if frame.code:
            return
        arr = read_ticks(frame.body)
        if not len(arr):
            return
        ids = arr["symbol_id"].tolist()
        times = (arr["tick_time"].astype(np.int64) * 1000 + arr["time_ms_delta"]).tolist()
        self._note_server_time(max(times))
        fields = arr["fields"].tolist()
        bids, asks, lasts = arr["bid"].tolist(), arr["ask"].tolist(), arr["last"].tolist()
        volumes, flags = arr["tick_volume"].tolist(), arr["flags"].tolist()
        by_id = self._by_id
        callbacks = self._callbacks.get(Tick, ())
        floor = math.floor
        ceil = math.ceil
        for i in range(len(ids)):
            sym = by_id.get(ids[i])
            if sym is None:
                continue
            t, f = times[i], fields[i]
            delayed = bool(flags[i] & _DELAYED)
            st = sym.delayed if delayed else sym.live
            has_ba = f & 3
            if (has_ba and t < st.t_ba) or (f & 4 and t < st.t_last):
                continue
            # The snapshot that starts a subscription repeats the last tick after a reconnect: not a new tick.
            repeat = (st.bid, st.ask, st.last, st.volume) if t == st.time else None
            updated = 0
            scale = sym.scale
            if f & 1 and (v := bids[i]):
                st.bid = (floor(v + 0.5000001) if v >= 0 else ceil(v - 0.5000001)) / scale
                updated = 1
            if f & 2 and (v := asks[i]):
                st.ask = (floor(v + 0.5000001) if v >= 0 else ceil(v - 0.5000001)) / scale
                updated |= 2
            if f & 4 and (v := lasts[i]):
                st.last = (floor(v + 0.5000001) if v >= 0 else ceil(v - 0.5000001)) / scale
                updated |= 4
            if f & 8:
                st.volume = volumes[i] / LOTS_SCALE
                updated |= 8
            if has_ba:
                st.t_ba = t
            if f & 4:
                st.t_last = t
            if repeat is not None and repeat == (st.bid, st.ask, st.last, st.volume):
                continue
            if t > st.time:
                st.time = t
            st.fields = updated
            bid, ask = st.bid, st.ask
            if sym.widen is not None:
                bid, ask = _widen(bid, ask, sym.widen, sym.digits)
                if bid > ask:
                    continue
            tick = Tick(sym.name, t, bid, ask, st.last, st.volume, updated, delayed)
            for stream in sym.streams:
                stream._push(tick)
            for callback in callbacks:
                try:
                    result = callback(tick)
                    if result is not None and inspect.isawaitable(result):
                        self._spawn(result)
                except Exception:
                    self.log.exception("tick callback failed")
            if not delayed and self._first_tick:
                fut = self._first_tick.pop(sym.name, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)

    def _on_stats(self, frame: Any) -> None:
        if frame.code:
            return
        arr = read_symbol_stats(frame.body)
        for rec in records(arr):
            sym = self._by_id.get(int(rec["symbol_id"]))
            if sym is None or sym.full is None:
                continue
            st = sym.delayed if rec["flags"] & 1 else sym.live
            mask = int(rec["fields"])
            for bit, name in ((StatsField.BID_LAST, "bid"), (StatsField.ASK_LAST, "ask"),
                              (StatsField.LAST_LAST, "last")):
                if mask & bit and rec[f"{name}_last"]:
                    setattr(st, name, round(rec[f"{name}_last"] / sym.scale, sym.digits))
            t = int(rec["lasttime"]) * 1000 + int(rec["lasttime_msc"])
            st.time = max(st.time, t)
            if t > 0:
                self._note_server_time(t)
            sym.stats = {k: v for k, v in rec.items() if isinstance(v, (int, float))}

    # --- depth of market ------------------------------------------------------------------------

    def book(self, symbol: str) -> BookStream:
        """An async iterator of :class:`BookUpdate` for one symbol; subscribes on first iteration.

        Raises:
            UnknownSymbol: unknown symbol (at once when the symbol list is loaded, else when iteration starts).
        """
        self._check_known(symbol)
        return BookStream(self, symbol, self.stream_maxlen)

    async def _watch_book(self, stream: BookStream, *, add: bool) -> None:
        if add:
            self._require_open()
        sym = self._require_symbol(stream.symbol)
        streams = self._book_streams.setdefault(sym.name, [])
        if add:
            streams.append(stream)
            self._books[sym.name] += 1
        else:
            with contextlib.suppress(ValueError):
                streams.remove(stream)
            self._books[sym.name] -= 1
            if self._books[sym.name] <= 0:
                del self._books[sym.name]
                sym.book_buy.clear()
                sym.book_sell.clear()
        if self.session.state in (SessionState.READY, SessionState.SYNCING):
            await self._change_subscription(self._send_book_subscription())

    async def _send_book_subscription(self) -> None:
        ids = [self._symbols[n].id for n in sorted(self._books) if n in self._symbols]
        await self.session.request(Command.SUBSCRIBE_BOOK, build_id_list(ids))

    def _on_book(self, frame: Any) -> None:
        if frame.code:
            return
        for block in read_book(frame.body):
            sym = self._by_id.get(block.symbol_id)
            if sym is None:
                continue
            buy, sell = sym.book_buy, sym.book_sell
            if block.books_flags & 2:
                buy.clear()
                sell.clear()
            levels = block.levels
            for kind, price, volume in zip(levels["book_type"].tolist(), levels["price"].tolist(),
                                           levels["volume"].tolist(), strict=True):
                if kind == 0:
                    buy.clear()
                    sell.clear()
                    continue
                side = buy if kind in (2, 4) else sell
                if volume == 0:
                    side.pop(price, None)
                    continue
                total = side.get(price, 0) + volume
                if total > 0:
                    side[price] = total
                else:
                    side.pop(price, None)
            update = BookUpdate(
                sym.name, int(block.books_time) * 1000 + int(block.time_msc),
                tuple(BookLevel(round(p / sym.scale, sym.digits), v / LOTS_SCALE)
                      for p, v in sorted(buy.items(), reverse=True) if v > 0),
                tuple(BookLevel(round(p / sym.scale, sym.digits), v / LOTS_SCALE)
                      for p, v in sorted(sell.items(), reverse=True) if v > 0),
            )
            for stream in self._book_streams.get(sym.name, ()):
                stream._push(update)
            self._emit(update)

    # --- pushes ---------------------------------------------------------------------------------

    def _on_trade_update(self, frame: Any) -> None:
        if frame.code:
            return
        self.mirror.apply_trade_update(read_trade_update(frame.body))
        if self.mirror.positions:  # without positions there is no symbol to watch
            self._watch_position_symbols()

    def _watch_position_symbols(self) -> None:
        watched, internal, symbols = self._watch, self._internal_watch, self._symbols
        missing: set[str] | None = None
        for position in self.mirror.positions.values():  # runs after every push 10: a plain loop, no new sets
            name = position.symbol
            if name not in internal and name not in watched and name in symbols:
                if missing is None:
                    missing = set()
                missing.add(name)
        if missing and self.session.state is SessionState.READY:
            self._internal_watch |= missing
            self._spawn(self._load_full_and_watch(sorted(missing)))

    async def _load_full_and_watch(self, names: list[str]) -> None:
        await self._load_full(names)
        await self._send_tick_subscription()

    def _on_account_update(self, frame: Any) -> None:
        if frame.code:
            return
        self.mirror.apply_account(read_account(frame.body))
        for sym in self._symbols.values():
            if sym.full is None:
                continue
            before = sym.info
            sym.info = None
            after = self._info(sym)
            if before is not None and before != after:
                self._emit(SymbolUpdate(after))

    def _on_symbol_update(self, frame: Any) -> None:
        if frame.code:
            return
        for full in read_symbol_update(frame.body):
            sym = self._store_full(full)
            if sym is not None:
                self._emit(SymbolUpdate(self._info(sym)))

    def _on_link_state(self, frame: Any) -> None:
        if frame.code:
            return
        state = read_link_state(frame.body)
        self._link_up = state == 0
        self._emit(LinkState(state == 0, state))

    def _on_trade_result(self, frame: Any) -> None:
        if frame.code:
            return
        action_id, res = read_trade_outcome(frame.body)
        retcode = res["retcode"]
        pending = self._pending.get(action_id)
        result = _new_result(  # positional, in field order (the decoded values are Python ints and floats)
            retcode, res["deal"], res["trade_order"], res["volume"] / LOTS_SCALE, res["price"], res["bid"],
            res["ask"], res["comment"], action_id, pending.request if pending else None, res["last"],
            _is_final(retcode), False,
        )
        self._emit(result)
        if pending is not None and result.final and not pending.future.done():
            pending.future.set_result(result)

    # --- trading --------------------------------------------------------------------------------

    def _symbol_of(self, request: TradeRequest) -> str:
        if request.symbol:
            return request.symbol
        if request.position and (pos := self.mirror.positions.get(request.position)):
            return pos.symbol
        if request.order and (order := self.mirror.orders.get(request.order)):
            return order.symbol
        if request.position:
            raise TradeRejected(Retcode.INVALID, f"position {request.position} does not exist")
        if request.order:
            raise TradeRejected(Retcode.INVALID, f"order {request.order} is not an active pending order")
        raise InvalidRequest("the trade request names no symbol", retcode=Retcode.INVALID)

    async def order_send(self, request: TradeRequest) -> TradeResult:
        """Check, send and settle one trade request (command 12, result by push 19).

        Local checks (SPEC §8.10) run first and raise before anything is sent. Intermediate results
        (10002, 10003, 10028) are emitted as events; the call returns the final one. A request is never
        re-sent: if the connection drops after it was sent, its outcome is reconciled from the server's
        state after the reconnect.

        Args:
            request: the request.

        Returns:
            The final result (retcode 10008, 10009, 10010 or 11001).

        Raises:
            TradeRejected: refused locally or by the server (``retcode``; ``result`` holds the TradeResult).
            UnknownSymbol: the request names a symbol the server does not have (checked before the values).
            InvalidRequest: malformed request (unknown action, a field of the wrong type).
            ConnectionLost: the connection dropped; ``outcome_unknown`` tells whether it may have executed.
            RequestTimeout: no final result in time and none found in the mirror.
        """
        named = getattr(request, "symbol", None)
        if isinstance(named, str) and named and named not in self._symbols:
            self._require_symbol(named)  # first: an unknown symbol is the error, whatever else is wrong
        check_trade_request(request)
        name = request.symbol or self._symbol_of(request)
        sym = self._symbols.get(name) or self._require_symbol(name)
        if sym.full is None:
            await self.symbol(name)
            sym = self._symbols[name]
        if request.action in _NEEDS_QUOTE and not (sym.live.bid and sym.live.ask):
            with contextlib.suppress(RequestTimeout):
                await self._wait_first_tick(sym, min(self.timeout, 5.0))
        action_id = self._action_id
        self._action_id += 1
        account = self.mirror.account_as_sent  # the checks read only the account's settings
        if account is None:
            raise NotConnected("not logged in")
        q = sym.live
        now_ms = self.server_time
        ctx = _new_context(account, _new_quote(q.bid, q.ask, q.last), self.mirror.positions, self.mirror.orders,
                           (now_ms if now_ms is not None else time.time_ns() // 1_000_000) // 1000,
                           self._link_up)  # no quote yet: this machine's clock
        try:
            fields = build_trade_fields(request, self._info(sym), ctx)
        except TradeRejected as exc:
            exc.result = TradeResult(exc.retcode, comment=str(exc), request_id=action_id, request=request)
            raise
        fields["action_id"] = action_id
        payload = build_trade_request(fields)
        pending = _PendingTrade(request, fields, asyncio.get_running_loop().create_future(),
                                self.mirror.mark_deals(), dict(self.mirror.positions),
                                frozenset(self.mirror.orders), now_ms)
        self._pending[action_id] = pending
        try:
            result = await self._send_trade(pending, payload)
        finally:
            self._pending.pop(action_id, None)
            self.mirror.unmark_deals(pending.known_deals)
        if not result.success:
            raise TradeRejected(result.retcode, comment=result.comment, result=result)
        return result

    async def _send_trade(self, pending: _PendingTrade, payload: bytes) -> TradeResult:
        action_id = pending.fields["action_id"]
        try:
            pending.sent = True
            frame = await self.session.request(_TRADE_REQUEST, payload, check=False)
            status = Retcode.TIMEOUT if frame.code else read_trade_status(frame.body)
            if status:
                return TradeResult(status, comment=Retcode.describe(status), request_id=action_id,
                                   request=pending.request)
            if pending.future.done():  # push 19 usually arrives with the answer, in the same read
                return pending.future.result()
            timer = asyncio.get_running_loop().call_later(self.timeout, _time_out, pending.future)
            try:
                return await pending.future
            finally:
                timer.cancel()
        except ConnectionLost as exc:
            if not exc.outcome_unknown:
                raise
            return await self._settle_unknown(pending, exc)
        except TimeoutError:
            found = self._reconcile_from_mirror(pending)
            if found is not None:
                return found
            raise RequestTimeout(f"no result for trade request {action_id} within {self.timeout:g} s") from None

    async def _settle_unknown(self, pending: _PendingTrade, cause: ConnectionLost) -> TradeResult:
        if not self.session.reconnect:
            raise cause
        try:
            await self.session.wait_ready(max(self.timeout, 1.0) * 2)
            await self.history(max((self.server_time or 0) // 1000 - 86400 * 7, 0), None)
        except (MT5Error, OSError) as exc:
            raise ConnectionLost(f"trade request {pending.fields['action_id']}: connection lost and not "
                                 f"restored ({exc})", outcome_unknown=True) from cause
        found = self._reconcile_from_mirror(pending)
        if found is None:
            raise ConnectionLost(f"trade request {pending.fields['action_id']}: connection lost after sending; "
                                 "its outcome could not be settled from the server state",
                                 outcome_unknown=True) from cause
        self._emit(found)
        return found

    def _reconcile_from_mirror(self, pending: _PendingTrade) -> TradeResult | None:
        """Find the effect of a sent request in the mirror; None when there is no positive evidence."""
        f = pending.fields
        action, symbol = f["trade_action"], f["trade_symbol"]
        volume = int(f.get("trade_volume", 0))
        comment = str(f.get("comment", ""))
        mirror = self.mirror

        def done(deal: int = 0, order: int = 0, price: float = 0.0, vol: int = volume, code: int = 10009
                 ) -> TradeResult:
            return TradeResult(code, deal=deal, order=order, volume=vol / LOTS_SCALE, price=price,
                               comment="reconciled after reconnect", request_id=int(f["action_id"]),
                               request=pending.request, reconciled=True)

        # History loaded after a reconnect brings deals and orders the mirror never held, some of them
        # possibly identical to this request; only those made after it left can be its effect.
        oldest = 0 if pending.sent_ms is None else pending.sent_ms - _RECONCILE_SKEW_MS
        known_deals = mirror.known_deals(pending.known_deals)
        new_deals = [d for t, d in mirror.deals.items()
                     if t not in known_deals and d.symbol == symbol and d.time_msc >= oldest]
        if action in (TradeAction.REQUEST, TradeAction.INSTANT, TradeAction.MARKET, TradeAction.EXCHANGE,
                      TradeAction.PRICE):
            position = int(f.get("trade_position", 0))
            for d in new_deals:
                if d.type != f["trade_type"] or lots_to_wire(d.volume) > volume:
                    continue
                if position and d.position_id != position:
                    continue
                if not position and comment and d.comment and d.comment != comment:
                    continue
                return done(d.ticket, d.order, d.price, lots_to_wire(d.volume))
            if not position:
                for p in mirror.positions.values():
                    if p.ticket not in pending.known_positions and p.symbol == symbol and p.volume_wire == volume \
                            and p.time_msc >= oldest \
                            and p.type == f["trade_type"] and (not comment or p.comment == comment):
                        return done(order=p.order, price=p.price_open)
            elif position not in mirror.positions:
                return done()
            elif mirror.positions[position].volume_wire < pending.known_positions[position].volume_wire:
                return done(vol=pending.known_positions[position].volume_wire
                            - mirror.positions[position].volume_wire)
            return None
        if action == TradeAction.PENDING:
            for o in (*mirror.orders.values(), *mirror.history_orders.values()):
                if o.ticket not in pending.known_orders and o.symbol == symbol and o.type == f["trade_type"] \
                        and o.time_setup_msc >= oldest \
                        and o.volume_wire == volume and math.isclose(o.price_open, f["price_order"], rel_tol=1e-9) \
                        and (not comment or o.comment == comment):
                    return done(order=o.ticket, price=o.price_open, code=10009)
            return None
        if action == TradeAction.SLTP:
            pos = mirror.positions.get(int(f["trade_position"]))
            if pos is not None and math.isclose(pos.sl, f.get("price_sl", 0.0)) and \
                    math.isclose(pos.tp, f.get("price_tp", 0.0)):
                return done()
            return None
        if action == TradeAction.MODIFY:
            order = mirror.orders.get(int(f["trade_order"]))
            if order is not None and math.isclose(order.price_open, f["price_order"]) and \
                    math.isclose(order.sl, f.get("price_sl", 0.0)) and math.isclose(order.tp, f.get("price_tp", 0.0)):
                return done(order=order.ticket)
            return None
        if action == TradeAction.REMOVE:
            ticket = int(f["trade_order"])
            return done(order=ticket) if ticket not in mirror.orders else None
        if action == TradeAction.CLOSE_BY:
            first, other = int(f["trade_position"]), int(f["position_by"])
            changed = [t for t in (first, other) if t not in mirror.positions
                       or mirror.positions[t].volume_wire < pending.known_positions[t].volume_wire]
            return done() if len(changed) == 2 else None
        return None

    # --- trading shortcuts ----------------------------------------------------------------------

    async def buy(self, symbol: str, volume: float, *, price: float | None = None, sl: float | None = None,
                  tp: float | None = None, deviation: int = 10, comment: str = "", filling: int | None = None
                  ) -> TradeResult:
        """Open a long position at market (see :meth:`order_send` for errors)."""
        return await self.order_send(_market_request(OrderType.BUY, symbol, volume, price, sl, tp, deviation, comment,
                                                     filling))

    async def sell(self, symbol: str, volume: float, *, price: float | None = None, sl: float | None = None,
                   tp: float | None = None, deviation: int = 10, comment: str = "", filling: int | None = None
                   ) -> TradeResult:
        """Open a short position at market (see :meth:`order_send` for errors)."""
        return await self.order_send(_market_request(OrderType.SELL, symbol, volume, price, sl, tp, deviation, comment,
                                                     filling))

    async def _place(self, order_type: int, symbol: str, volume: float, price: float, stoplimit: float,
                     sl: float | None, tp: float | None, expiration: Any, comment: str) -> TradeResult:
        expires = to_epoch_seconds(expiration, "expiration") if expiration is not None else 0
        return await self.order_send(TradeRequest(
            RequestAction.PENDING, symbol, volume, order_type, price, stoplimit, sl or 0.0, tp or 0.0, 0, None,
            2 if expires else 0, expires or 0, comment))

    async def buy_limit(self, symbol: str, volume: float, price: float, *, sl: float | None = None,
                        tp: float | None = None, expiration: Any = None, comment: str = "") -> TradeResult:
        """Place a buy limit order (``expiration``: aware datetime or epoch seconds, GTC when None)."""
        return await self._place(OrderType.BUY_LIMIT, symbol, volume, price, 0.0, sl, tp, expiration, comment)

    async def sell_limit(self, symbol: str, volume: float, price: float, *, sl: float | None = None,
                         tp: float | None = None, expiration: Any = None, comment: str = "") -> TradeResult:
        """Place a sell limit order."""
        return await self._place(OrderType.SELL_LIMIT, symbol, volume, price, 0.0, sl, tp, expiration, comment)

    async def buy_stop(self, symbol: str, volume: float, price: float, *, sl: float | None = None,
                       tp: float | None = None, expiration: Any = None, comment: str = "") -> TradeResult:
        """Place a buy stop order."""
        return await self._place(OrderType.BUY_STOP, symbol, volume, price, 0.0, sl, tp, expiration, comment)

    async def sell_stop(self, symbol: str, volume: float, price: float, *, sl: float | None = None,
                        tp: float | None = None, expiration: Any = None, comment: str = "") -> TradeResult:
        """Place a sell stop order."""
        return await self._place(OrderType.SELL_STOP, symbol, volume, price, 0.0, sl, tp, expiration, comment)

    async def buy_stop_limit(self, symbol: str, volume: float, price: float, stoplimit: float, *,
                             sl: float | None = None, tp: float | None = None, expiration: Any = None,
                             comment: str = "") -> TradeResult:
        """Place a buy stop-limit order: at ``price`` a buy limit at ``stoplimit`` is placed."""
        return await self._place(OrderType.BUY_STOP_LIMIT, symbol, volume, price, stoplimit, sl, tp, expiration,
                                 comment)

    async def sell_stop_limit(self, symbol: str, volume: float, price: float, stoplimit: float, *,
                              sl: float | None = None, tp: float | None = None, expiration: Any = None,
                              comment: str = "") -> TradeResult:
        """Place a sell stop-limit order: at ``price`` a sell limit at ``stoplimit`` is placed."""
        return await self._place(OrderType.SELL_STOP_LIMIT, symbol, volume, price, stoplimit, sl, tp, expiration,
                                 comment)

    async def modify(self, ticket: int, *, sl: float | None = None, tp: float | None = None,
                     price: float | None = None, stoplimit: float | None = None, expiration: Any = None
                     ) -> TradeResult:
        """Change a position's SL/TP, or a pending order's price, limit price, SL/TP or expiration.

        ``None`` keeps the current value; 0 removes a stop level.

        Raises:
            TradeRejected: 10013 unknown ticket, 10025 nothing changes, 10016 invalid stops, ...
        """
        check_ticket(ticket)
        pos = self.mirror.positions.get(ticket)
        if pos is not None:
            if price is not None or stoplimit is not None or expiration is not None:
                raise InvalidRequest("a position has only SL and TP to modify")
            return await self.order_send(TradeRequest(
                RequestAction.SLTP, pos.symbol, pos.volume, pos.type, sl=pos.sl if sl is None else sl,
                tp=pos.tp if tp is None else tp, position=ticket))
        order = self.mirror.orders.get(ticket)
        if order is None:
            raise TradeRejected(Retcode.INVALID, f"{ticket} is neither an open position nor an active order")
        expires = to_epoch_seconds(expiration, "expiration") if expiration is not None else None
        type_time = order.type_time if expires is None else (2 if expires else 0)
        return await self.order_send(TradeRequest(
            RequestAction.MODIFY, order.symbol, order.volume_initial, order.type,
            price=order.price_open if price is None else price,
            stoplimit=order.price_stoplimit if stoplimit is None else stoplimit,
            sl=order.sl if sl is None else sl, tp=order.tp if tp is None else tp, type_time=type_time,
            expiration=order.time_expiration if expires is None else expires, order=ticket))

    async def cancel(self, order_ticket: int) -> TradeResult:
        """Remove a pending order (raises :class:`TradeRejected` 10013 for an unknown order)."""
        order = self.mirror.orders.get(check_ticket(order_ticket, "order_ticket"))
        return await self.order_send(TradeRequest(RequestAction.REMOVE, order.symbol if order else "",
                                                  order=order_ticket))

    async def close_position(self, position_ticket: int, volume: float | None = None, *, deviation: int = 10
                             ) -> TradeResult:
        """Close a position fully or partially (the unambiguous name of :meth:`close` with a ticket)."""
        pos = self.mirror.positions.get(check_ticket(position_ticket, "position_ticket"))
        if pos is None:
            raise TradeRejected(Retcode.INVALID, f"position {position_ticket} does not exist")
        if volume is not None and check_number(volume, "volume", retcode=Retcode.INVALID_VOLUME) <= 0:
            raise TradeRejected(Retcode.INVALID_VOLUME, f"volume {volume:g} must be positive")
        return await self.order_send(_market_request(1 - pos.type, pos.symbol, volume or pos.volume, None, None, None,
                                                     deviation, "", None, position_ticket))

    async def close_by(self, position_ticket: int, opposite_ticket: int) -> TradeResult:
        """Close a position by an opposite one of the same symbol (hedging accounts)."""
        check_ticket(opposite_ticket, "opposite_ticket")
        pos = self.mirror.positions.get(check_ticket(position_ticket, "position_ticket"))
        if pos is None:
            raise TradeRejected(Retcode.INVALID, f"position {position_ticket} does not exist")
        return await self.order_send(TradeRequest(RequestAction.CLOSE_BY, pos.symbol, pos.volume, 1 - pos.type,
                                                  position=position_ticket, position_by=opposite_ticket))

    # --- margin and profit ----------------------------------------------------------------------

    def _find_pair(self, base: str, quote: str) -> str | None:
        key = (base, quote)
        if key in self._pairs:
            return self._pairs[key] or None
        found = ""
        target = base + quote
        for name, sym in self._symbols.items():
            if sym.full is not None:
                if sym.full["currency_base"] == base and sym.full["currency_profit"] == quote and \
                        sym.full["trade_calc_mode"] in (0, 5):
                    found = name
                    break
            elif name.startswith(target) and len(name) <= len(target) + 3 and int(sym.short["trade_calc_mode"]) in \
                    (0, 5):
                found = found or name
        self._pairs[key] = found
        return found or None

    def _calc_inputs(self, symbol: str) -> tuple[SymbolInfo, str, int]:
        sym = self._require_symbol(symbol)
        if sym.full is None:
            self._spawn(self._load_full([symbol]))
            raise InvalidRequest(f"{symbol}: configuration not loaded yet; await client.symbol({symbol!r}) first",
                                 retcode=Retcode.PRICE_OFF)
        body = self.mirror.body
        if body is None:
            raise NotConnected("not logged in")
        return self._info(sym), str(body.main["account_currency"]), int(body.main["margin_leverage"])

    def _convert(self, amount: float, src: str, dst: str) -> float:
        rate = self._rates.rate(src, dst)
        if rate is None:
            raise InvalidRequest(f"no quotes to convert {src} to {dst} yet (subscribed; retry shortly)",
                                 retcode=Retcode.PRICE_OFF)
        return amount * rate

    def order_calc_margin(self, order_type: int, symbol: str, volume: float, price: float) -> float:
        """The margin of an order in the account currency, computed locally by calculation mode.

        Cross rates come from the current ticks; missing ones are subscribed in the background.

        Raises:
            UnknownSymbol: unknown symbol.
            InvalidRequest: configuration or conversion quotes not available yet.
        """
        order_type, volume, price = _calc_args(order_type, volume, price)
        info, currency, leverage = self._calc_inputs(symbol)
        amount = margin_in_margin_currency(order_type, info, volume, price, leverage)
        return round(self._convert(amount, info.currency_margin or info.currency_profit, currency), 2)

    def order_calc_profit(self, order_type: int, symbol: str, volume: float, price_open: float,
                          price_close: float) -> float:
        """The profit of a deal in the account currency, computed locally by calculation mode.

        Raises:
            UnknownSymbol: unknown symbol.
            InvalidRequest: configuration or conversion quotes not available yet.
        """
        order_type, volume, price_open = _calc_args(order_type, volume, price_open)
        price_close = check_number(price_close, "price_close", positive=True, retcode=Retcode.INVALID_PRICE)
        info, currency, _ = self._calc_inputs(symbol)
        amount = profit_in_profit_currency(order_type, info, volume, price_open, price_close)
        return round(self._convert(amount, info.currency_profit, currency), 2)


# --- helpers ---------------------------------------------------------------------------------------------


def _calc_args(order_type: object, volume: object, price: object) -> tuple[int, float, float]:
    """The order type, volume and price of a margin or profit calculation, checked."""
    return (check_int(order_type, "order_type", minimum=0, maximum=7, retcode=Retcode.INVALID_ORDER),
            check_number(volume, "volume", positive=True, retcode=Retcode.INVALID_VOLUME),
            check_number(price, "price", positive=True, retcode=Retcode.INVALID_PRICE))


def _monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a pending trade's future; nobody may await it any more, which is not an error (no warning)."""
    future.set_exception(exc)
    future.exception()  # marks the exception as retrieved; an awaiting task still gets it


def _time_out(future: asyncio.Future[Any]) -> None:
    if not future.done():
        _fail(future, TimeoutError())


def _within(page: npt.NDArray[Any], first_s: int, last_s: int) -> tuple[int, int]:
    """The rows ``[first, stop)`` of a time-sorted page whose bars open in ``[first_s, last_s]``."""
    if not len(page) or (first_s <= page["time"][0] and page["time"][-1] <= last_s):
        return 0, len(page)  # the usual answer: no search over a strided column (which would copy it)
    times = page["time"]
    first = int(np.searchsorted(times, first_s))
    return first, max(first, int(np.searchsorted(times, last_s, side="right")))


def _add_page(sink: BarSink[Any], page: npt.NDArray[Any], first: int, stop: int, period: Period) -> None:
    """Decode rows ``[first, stop)`` of a command 11 answer into ``sink``, every bar time of it checked.

    As in the official client one misaligned bar rejects the whole answer, kept rows or not: the sink checks
    the rows it decodes (on their decoded times), the others are checked here.
    """
    check_bar_times(page["time"][:first], period)
    check_bar_times(page["time"][stop:], period)
    sink.add(page[first:stop], period)


def _widen(bid: float, ask: float, widen: tuple[float, int, int], digits: int) -> tuple[float, float]:
    """Apply the group spread difference (SPEC §9.3)."""
    point, s, b = widen
    spread = round((ask - bid) / point + s)
    half = s - math.trunc(s / 2)
    new_bid = bid - point * (half - b if s > 0 else half + b)
    new_bid = round(new_bid, digits)
    return new_bid, round(new_bid + point * spread, digits)
