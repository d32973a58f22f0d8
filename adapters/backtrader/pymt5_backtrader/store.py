"""MT5Store: one MT5 connection shared by the broker and the data feeds of one account.

Threads: Backtrader runs on the caller's thread; the store runs one asyncio loop on a background thread
that owns the :class:`~pymt5_core.client.MT5Client`. Everything crosses between them through thread-safe
queues: one per feed (bars and status), one for the broker (deals, order steps, request results), and
the store notification deque. Backtrader's thread never waits for the network except in ``start()``
(login, symbol look-ups) and in explicit blocking helpers.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import datetime as _dt
import logging
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pymt5_backtrader import parsing

if TYPE_CHECKING:
    from pymt5_backtrader.broker import MT5Broker
    from pymt5_backtrader.feed import MT5Data

__all__ = ["FeedSpec", "MT5Store"]

log = logging.getLogger("pymt5_backtrader")
T = TypeVar("T")


class _LoopThread:
    """An asyncio loop running forever on a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @staticmethod
    async def _drain(grace: float) -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return self.submit(coro).result(timeout)

    def close(self, grace: float = 2.0) -> None:
        """Let pending tasks (e.g. a socket's closing handshake) finish for ``grace`` s, then stop the loop."""
        if self.loop.is_running():
            with contextlib.suppress(Exception):
                self.run(self._drain(grace), grace + 1.0)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self.loop.is_running():
            self.loop.close()


def _checked(url: object, login: object, password: object, *, otp: object = None, timeout: object = 30.0,
             client_kwargs: object = None, client_factory: object = None, **_: object) -> tuple[str, int]:
    """Check the store's parameters before anything connects; return its registry key.

    Raises:
        pymt5_core.errors.InvalidRequest: a parameter of the wrong type or out of range.
    """
    from pymt5_core._validate import check_login, check_seconds, check_url
    from pymt5_core.errors import InvalidRequest

    if client_factory is None:
        check_url(url)
    elif not isinstance(url, str) or not url:
        raise InvalidRequest("url must be a non-empty str")
    key = (str(url), check_login(login))
    if not isinstance(password, str):
        raise InvalidRequest(f"password must be a str, not {type(password).__name__}")
    if otp is not None and not isinstance(otp, str):
        raise InvalidRequest(f"otp must be a str, not {type(otp).__name__}")
    check_seconds(timeout, "timeout")
    if client_kwargs is not None and not isinstance(client_kwargs, dict):
        raise InvalidRequest("client_kwargs must be a dict of MT5Client keyword arguments")
    if client_factory is not None and not callable(client_factory):
        raise InvalidRequest("client_factory must be callable")
    return key


class FeedSpec:
    """What one feed asks the store for (kept so the same request can be replayed after a reconnect).

    ``start``: first bar open time to backfill (epoch s), or None with ``count`` bars, or no backfill when
    both are None. ``after``: open time of the last bar the feed already has (from ``backfill_from``).
    """

    def __init__(self, symbol: str, period: str, *, ticks: bool, historical: bool, start: int | None,
                 end: int | None, count: int | None, after: int | None, bar_source: str,
                 first_tick_wait: float) -> None:
        self.symbol = symbol
        self.period = period
        self.ticks = ticks
        self.historical = historical
        self.start = start
        self.end = end
        self.count = count
        self.after = after
        self.bar_source = bar_source
        self.first_tick_wait = first_tick_wait


class MT5Store:
    """The connection to one MT5 account, shared by :class:`MT5Broker` and every :class:`MT5Data`.

    Stores are kept in a registry keyed by ``(url, login)``: calling ``MT5Store(url=..., login=...)`` twice
    with the same pair returns the same object, while two accounts in one process get two stores.

    Params (keyword arguments, with defaults):

      - ``url`` (required): the web terminal WebSocket URL (``wss://...``) or a simulator's ``sim.url``.
      - ``login`` (required), ``password`` (required), ``otp`` (None): credentials.
      - ``timeout`` (30.0): seconds to wait for a blocking call (login, symbol look-up) made from
        Backtrader's thread; also passed to the client as its request timeout.
      - ``reconnect`` (True): let the client reconnect; the store then re-subscribes every feed and
        reconciles orders and deals.
      - ``client_kwargs`` (None): extra keyword arguments for :class:`~pymt5_core.client.MT5Client`
        (``verify_tls``, ``ca_file``, ``origin``, ...).
      - ``notifyall`` (False): also notify every connection phase, not only connected/lost/closed.
      - ``client_factory`` (None): callable ``(url, **kwargs) -> client`` used instead of ``MT5Client``
        (any object with the client's public API, e.g. a wrapper that adds logging).

    Store notifications (``notify_store(msg, *args, **kwargs)``): ``"connected"``, ``"connection lost"``,
    ``"reconnecting"``, ``"reconnected"``, ``"disconnected"``, ``"trade server link down/up"`` and order
    warnings (for example an unsupported order type), each with keyword details.
    """

    _registry: ClassVar[weakref.WeakValueDictionary[tuple[str, int], MT5Store]] = weakref.WeakValueDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, url: str, login: int, password: str = "", **kwargs: Any) -> MT5Store:
        key = _checked(url, login, password, **kwargs)
        with cls._registry_lock:
            store = cls._registry.get(key)
            if store is None:
                store = super().__new__(cls)
                store._initialized = False
                cls._registry[key] = store
            return store

    def __init__(self, url: str, login: int, password: str = "", *, otp: str | None = None,
                 timeout: float = 30.0, reconnect: bool = True, client_kwargs: dict[str, Any] | None = None,
                 notifyall: bool = False, client_factory: Callable[..., Any] | None = None) -> None:
        if self._initialized:
            return
        self._initialized = True
        self.url, self.login, self._password, self._otp = str(url), int(login), password, otp  # checked in __new__
        self.timeout = timeout
        self.reconnect = reconnect
        self.client_kwargs = dict(client_kwargs or {})
        self.notifyall = notifyall
        self.client_factory = client_factory
        self.notifs: collections.deque[tuple[str, tuple[Any, ...], dict[str, Any]]] = collections.deque()
        self.broker_queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.client: Any = None
        self.account: Any = None
        self.hedging = False
        self._runner: _LoopThread | None = None
        self._users: set[int] = set()
        self._symbols: dict[str, Any] = {}
        self._pumps: dict[int, _FeedPump] = {}
        self._unsubscribe: list[Callable[[], Any]] = []
        self._connected: asyncio.Event | None = None
        self._logged_in = False
        self._broker: MT5Broker | None = None
        self._lock = threading.Lock()
        self.server_time_ms = 0
        self.started_at = 0

    def __repr__(self) -> str:
        return f"MT5Store(url={self.url!r}, login={self.login}, password='***')"

    # --- factories ------------------------------------------------------------------------------------

    def getdata(self, *args: Any, **kwargs: Any) -> MT5Data:
        """Return an :class:`MT5Data` feed bound to this store (same params as ``MT5Data``)."""
        from pymt5_backtrader.feed import MT5Data

        return MT5Data(*args, store=self, **kwargs)

    def getbroker(self, *args: Any, **kwargs: Any) -> MT5Broker:
        """Return the :class:`MT5Broker` of this store (created on first call)."""
        from pymt5_backtrader.broker import MT5Broker

        if self._broker is None:
            self._broker = MT5Broker(*args, store=self, **kwargs)
        return self._broker

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self, data: Any = None, broker: Any = None) -> None:
        """Connect and log in on first use (blocking); later calls register more users (feeds, broker).

        Raises:
            pymt5_core.errors.MT5Error: connecting or logging in failed.
        """
        user = data if data is not None else broker
        with self._lock:
            if user is not None:
                self._users.add(id(user))
            if self._runner is None:
                self._runner = _LoopThread(f"mt5store-{self.login}")
                try:
                    self._runner.run(self._connect(), self.timeout + 5.0)
                except BaseException:
                    self._runner.close()
                    self._runner = None
                    self._users.discard(id(user))
                    raise
        env = getattr(data, "_env", None)
        if env is not None and self not in env.stores:
            env.addstore(self)  # store notifications reach notify_store without user wiring

    def data_started(self, data: Any) -> None:
        """Tell the broker (if any) that ``data`` started, so it can attach pending orders found at start."""
        if self._broker is not None:
            self._broker.data_started(data)

    def stop(self, user: Any = None) -> None:
        """Release ``user``; when no feed or broker uses the store any more, close the connection."""
        with self._lock:
            if user is not None:
                self._users.discard(id(user))
            if self._users or self._runner is None:
                return
            runner, self._runner = self._runner, None
        try:
            runner.run(self._disconnect(), self.timeout)
        except Exception as exc:  # closing must not mask the run's result
            log.debug("store close: %r", exc)
        runner.close()

    async def _connect(self) -> None:
        from pymt5_core.events import AccountUpdate, ConnectionState, LinkState, OrderEvent, TradeTransaction

        self._connected = asyncio.Event()
        self._logged_in = False  # a "ready" session before the login below returns is not a reconnect
        kwargs = {"timeout": self.timeout, "reconnect": self.reconnect, **self.client_kwargs}
        factory = self.client_factory
        if factory is None:
            from pymt5_core.client import MT5Client

            factory = MT5Client
        self.client = factory(self.url, **kwargs)
        self._unsubscribe = [
            self.client.on(ConnectionState, self._on_connection),
            self.client.on(TradeTransaction, self._on_transaction),
            self.client.on(OrderEvent, self._on_order_event),
            self.client.on(AccountUpdate, self._on_account),
            self.client.on(LinkState, self._on_link),
        ]
        self.account = await self.client.login(self.login, self._password, otp=self._otp)
        self.hedging = int(self.account.margin_mode) == 2
        self._logged_in = True
        self._connected.set()
        self.started_at = int(_dt.datetime.now(_dt.UTC).timestamp())
        self.put_notification("connected", url=self.url, login=self.login)

    async def _disconnect(self) -> None:
        self._refresh_account()
        if self._connected is not None:
            self._connected.clear()
        for pump in list(self._pumps.values()):
            await pump.cancel()
        self._pumps.clear()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self.client is not None:
            await self.client.close()
        self.put_notification("disconnected")

    # --- client events (loop thread) ------------------------------------------------------------------

    def _on_connection(self, ev: Any) -> None:
        state = str(getattr(ev.state, "value", ev.state))
        previous = str(getattr(ev.previous, "value", ev.previous))
        if self.notifyall:
            self.put_notification("connection state", state=state, previous=previous, reason=ev.reason)
        assert self._connected is not None
        if state in ("reconnecting", "disconnected") and self._connected.is_set():
            self._connected.clear()
            self.put_notification("connection lost", reason=ev.reason)
            for pump in self._pumps.values():
                pump.inbox.put_nowait(("down",))
        elif state == "ready" and self._logged_in and not self._connected.is_set():
            self._connected.set()
            self.put_notification("reconnected", attempt=ev.attempt)
            for pump in self._pumps.values():
                pump.inbox.put_nowait(("up",))
            self.broker_queue.put(("reconnected",))
        elif state == "closed":
            self._connected.clear()

    def _refresh_account(self) -> None:
        """Take a fresh account snapshot (equity valued at the latest ticks) from the client's mirror."""
        mirror = getattr(self.client, "mirror", None)
        account = getattr(mirror, "account", None) if mirror is not None else None
        if account is not None:
            self.account = account

    def _on_transaction(self, ev: Any) -> None:
        self._refresh_account()
        if ev.deal is not None:
            self.broker_queue.put(("deal", parsing.parse_deal(ev.deal)))
        elif ev.position is not None:
            self.broker_queue.put(("position", ev.position))

    def _on_order_event(self, ev: Any) -> None:
        self.broker_queue.put(("order", parsing.parse_order(ev.order), bool(ev.history), bool(ev.removed)))

    def _on_account(self, ev: Any) -> None:
        self.account = ev.account
        self._refresh_account()

    def _on_link(self, ev: Any) -> None:
        self.put_notification("trade server link up" if ev.connected else "trade server link down")

    # --- notifications --------------------------------------------------------------------------------

    def put_notification(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Queue a store notification for ``notify_store`` (thread-safe)."""
        self.notifs.append((msg, args, kwargs))

    def get_notifications(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """Return and clear the pending store notifications."""
        out = []
        while True:
            try:
                out.append(self.notifs.popleft())
            except IndexError:
                return out

    # --- blocking helpers for Backtrader's thread ------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the store loop and wait for its result."""
        if self._runner is None:
            coro.close()
            raise RuntimeError("the store is not started")
        return self._runner.run(coro, self.timeout if timeout is None else timeout)

    def spawn(self, coro: Coroutine[Any, Any, T], done: Callable[[concurrent.futures.Future[T]], None]) -> None:
        """Run a coroutine on the store loop without waiting; ``done`` gets its future (on the loop thread)."""
        if self._runner is None:
            coro.close()
            raise RuntimeError("the store is not started")
        self._runner.submit(coro).add_done_callback(done)

    def symbol(self, name: str) -> Any:
        """Return the client's ``SymbolInfo`` for ``name`` (cached; blocking on first use).

        Raises:
            pymt5_core.errors.UnknownSymbol: unknown symbol.
        """
        info = self._symbols.get(name)
        if info is None:
            info = self._symbols[name] = self.run(self.client.symbol(name))
        return info

    def wait_connected(self) -> Awaitable[Any]:
        """Awaitable (loop side) that resolves once the session is ready."""
        assert self._connected is not None
        return self._connected.wait()

    @property
    def connected(self) -> bool:
        """True while the session is logged in and ready."""
        return self._connected is not None and self._connected.is_set()

    # --- feeds ----------------------------------------------------------------------------------------

    def subscribe(self, spec: FeedSpec) -> queue.Queue[tuple[Any, ...]]:
        """Start delivering bars (or ticks) for ``spec``; return the feed's queue."""
        out: queue.Queue[tuple[Any, ...]] = queue.Queue()
        pump = _FeedPump(self, spec, out)
        self._pumps[id(out)] = pump
        self.run(pump.start())
        return out

    def unsubscribe(self, out: queue.Queue[tuple[Any, ...]]) -> None:
        """Stop the feed that owns ``out``."""
        pump = self._pumps.pop(id(out), None)
        if pump is not None and self._runner is not None:
            self.run(pump.cancel())

    def _clock(self, t_ms: int, source: _FeedPump) -> None:
        """Advance the store's server clock from any feed's tick and wake feeds whose bar ended."""
        if t_ms <= self.server_time_ms:
            return
        self.server_time_ms = t_ms
        self._refresh_account()
        for pump in self._pumps.values():
            if pump is not source and pump.boundary_ms is not None and t_ms >= pump.boundary_ms:
                pump.inbox.put_nowait(("clock", t_ms))


class _Builder:
    """A bar being built from ticks. ``complete`` is False when the feed did not see the bar's start."""

    __slots__ = ("close", "complete", "high", "low", "open", "open_t", "volume")

    def __init__(self, open_t: int, complete: bool) -> None:
        self.open_t = open_t
        self.complete = complete
        self.open = self.high = self.low = self.close = 0.0
        self.volume = 0

    def add(self, price: float) -> None:
        if not self.volume:
            self.open = self.high = self.low = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += 1


class _FeedPump:
    """The loop-side half of a feed: backfill, live bars from ticks, and the gap after each reconnect.

    Rules (documented in docs/backtrader.md):
      - a bar is final when a tick at or after its end arrives (own symbol, or any symbol of the store);
      - a bar the feed watched from its first tick is built from ticks (``bar_source="ticks"``); any other
        (the bar forming at start or at a reconnect, and everything missed while disconnected) is fetched
        from the server once final, so it is complete and never delivered twice (``open > last_open``).
    Items put on ``out``: ("bar", open_t, o, h, l, c, volume, backfill), ("tick", t_ms, price, volume),
    ("status", name), ("end",), ("error", message).
    """

    def __init__(self, store: MT5Store, spec: FeedSpec, out: queue.Queue[tuple[Any, ...]]) -> None:
        self.store, self.spec, self.out = store, spec, out
        self.inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self.last_open: int | None = spec.after
        self.builder: _Builder | None = None
        self.boundary_ms: int | None = None
        self.use_last = False
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._main()))

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _main(self) -> None:
        from pymt5_core.errors import InvalidRequest

        client, spec = self.store.client, self.spec
        try:
            info = await client.symbol(spec.symbol)
        except InvalidRequest as exc:
            self.out.put(("status", "NOTSUBSCRIBED", str(exc)))
            return
        self.use_last = int(getattr(info, "chart_mode", 0)) == 1
        try:
            if spec.historical:
                await self._historical()
                return
            self._tasks.append(asyncio.get_running_loop().create_task(self._read_ticks()))
            await self._live(int(getattr(info, "time_msc", 0) or 0))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # surfaced to the feed, which reports it and ends
            log.exception("feed %s failed", spec.symbol)
            self.out.put(("error", f"{type(exc).__name__}: {exc}"))

    async def _historical(self) -> None:
        spec = self.spec
        rates = await self._bars(spec.start, spec.end, spec.count)
        for r in rates:
            self._put_bar(r, backfill=True)
        self.out.put(("end",))

    async def _bars(self, start: int | None, end: int | None, count: int | None) -> Any:
        client, spec = self.store.client, self.spec
        utc = _dt.UTC
        if start is None and count:
            end_dt = _dt.datetime.fromtimestamp(end, utc) if end is not None else None
            return await client.bars(spec.symbol, spec.period, end=end_dt, count=count)
        start_dt = _dt.datetime.fromtimestamp(start or 0, utc)
        end_dt = _dt.datetime.fromtimestamp(end, utc) if end is not None else None
        return await client.bars(spec.symbol, spec.period, start_dt, end_dt)

    def _put_bar(self, r: Any, *, backfill: bool) -> None:
        open_t = int(r["time"])
        self.last_open = open_t
        volume = int(r["real_volume"]) if self.use_last and int(r["real_volume"]) else int(r["tick_volume"])
        self.out.put(("bar", open_t, float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]),
                      volume, backfill))

    async def _read_ticks(self) -> None:
        """Forward the symbol's ticks to the inbox, re-subscribing after the connection comes back."""
        client, symbol = self.store.client, self.spec.symbol
        while True:
            received = 0
            try:
                async for tick in client.ticks([symbol]):
                    if tick.symbol == symbol:
                        received += 1
                        self.inbox.put_nowait(("tick", tick))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("tick stream of %s failed: %r", symbol, exc)
            self.inbox.put_nowait(("down",))  # the stream ended: the feed re-syncs on the next tick
            await self.store.wait_connected()
            # retry pause when the stream ends at once while connected (not a synchronisation)
            await asyncio.sleep(0 if received else 0.2)

    async def _live(self, quote_ms: int) -> None:
        from pymt5_core.errors import ConnectionError_

        spec, out = self.spec, self.out
        synced = False
        broken = False
        while True:
            if not synced:
                try:
                    msg = await asyncio.wait_for(self.inbox.get(), spec.first_tick_wait)
                except TimeoutError:  # quiet market: take the last quote time as "now"
                    msg = ("clock", max(quote_ms, self.store.server_time_ms))
            else:
                msg = await self.inbox.get()
            kind = msg[0]
            if kind == "down":
                if not broken:
                    broken = True
                    out.put(("status", "CONNBROKEN"))
                synced = False
                self.builder = None
                continue
            if kind == "up":
                continue
            now_ms = parsing.tick_time_ms(msg[1]) if kind == "tick" else int(msg[1])
            try:
                if not synced:
                    if not spec.ticks:
                        await self._sync(now_ms)
                    synced, broken = True, False
                    out.put(("status", "LIVE"))
                if kind == "tick":
                    self.store._clock(now_ms, self)
                    await self._on_tick(msg[1], now_ms)
                else:
                    await self._on_clock(now_ms)
            except ConnectionError_ as exc:  # a download lost with the link: re-sync from last_open later
                log.debug("feed %s: %r; re-syncing on the next tick", spec.symbol, exc)
                if not broken:
                    broken = True
                    out.put(("status", "CONNBROKEN"))
                synced = False
                self.builder = None

    async def _sync(self, now_ms: int, *, backfill: bool = True) -> None:
        """Deliver every final bar after ``last_open`` up to ``now_ms`` from the server."""
        spec = self.spec
        now = now_ms // 1000
        if self.last_open is not None:
            start, count = self.last_open + 1, None
        elif spec.start is not None or spec.count:
            start, count = spec.start, spec.count
        else:
            return
        rates = await self._bars(start, now, count + 1 if count else None)  # + the forming bar
        final = [r for r in rates
                 if (self.last_open is None or int(r["time"]) > self.last_open)
                 and parsing.next_bar_open(int(r["time"]), spec.period) * 1000 <= now_ms]
        for r in final[-count:] if count else final:
            self._put_bar(r, backfill=backfill)

    async def _on_tick(self, tick: Any, t_ms: int) -> None:
        spec = self.spec
        price = parsing.tick_price(tick, use_last=self.use_last)
        if spec.ticks:
            self.out.put(("tick", t_ms, price, float(getattr(tick, "volume", 0.0) or 0.0)))
            return
        open_t = parsing.bar_open_of(t_ms // 1000, spec.period)
        builder = self.builder
        if builder is not None and open_t > builder.open_t:
            await self._close_bar(builder, t_ms)
            builder = None
        if builder is None:
            # complete only when the previous bar was followed tick by tick up to its end
            complete = self.builder is not None and self.builder.open_t < open_t
            builder = self.builder = _Builder(open_t, complete)
            self.boundary_ms = parsing.next_bar_open(open_t, spec.period) * 1000
        builder.add(price)

    async def _on_clock(self, t_ms: int) -> None:
        builder = self.builder
        if builder is not None and self.boundary_ms is not None and t_ms >= self.boundary_ms:
            await self._close_bar(builder, t_ms)
            self.builder = _Builder(parsing.bar_open_of(t_ms // 1000, self.spec.period), True)
            self.builder.volume = 0
            self.boundary_ms = parsing.next_bar_open(self.builder.open_t, self.spec.period) * 1000

    async def _close_bar(self, builder: _Builder, now_ms: int) -> None:
        if builder.complete and self.spec.bar_source == "ticks":
            if builder.volume and (self.last_open is None or builder.open_t > self.last_open):
                self.last_open = builder.open_t
                self.out.put(("bar", builder.open_t, builder.open, builder.high, builder.low, builder.close,
                              builder.volume, False))
            return
        if self.last_open is None:
            self.last_open = builder.open_t - 1
        await self._sync(now_ms, backfill=False)
