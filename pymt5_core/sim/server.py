"""The simulated MT5 access server: a ``websockets`` server on ``/terminal`` speaking the web protocol.

:class:`SimServer` wires the pieces together and keeps what is shared between connections:

* the market (:class:`~pymt5_core.sim.market.catalogue.Catalogue`, the price model, the clock), the
  trading engine and the account credentials (:class:`~pymt5_core.sim.auth.Authenticator`);
* the registry of connections and of the logins they are logged in to, through which trading events
  reach every connection of their account;
* market data streaming: a background task when the clock runs by itself, or :meth:`SimServer.advance`
  with a manual clock (tests), which moves time, lets the engine react, pushes the ticks, statistics
  and book changes of the interval and returns once those frames are written;
* fault injection (:attr:`SimServer.faults`, see :mod:`pymt5_core.sim.faults`).

Each connection is a :class:`~pymt5_core.sim.connection.SimConnection` (the asyncio shell) around a
:class:`~pymt5_core.sim.session.Session` (the protocol logic).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import ssl
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, serve
from websockets.asyncio.server import ServerConnection as WebSocket
from websockets.http11 import Request, Response

from pymt5_core.sim.accounts import AccountConfig, default_accounts
from pymt5_core.sim.auth import Authenticator, LoginLimits
from pymt5_core.sim.backend import CatalogueLike, ClockLike, EngineLike, PriceModelLike
from pymt5_core.sim.connection import SimConnection
from pymt5_core.sim.engine.events import AccountEvent, EngineEvent, TradeResultEvent
from pymt5_core.sim.faults import ConnectionFaults, FaultPlan
from pymt5_core.sim.session import Session
from pymt5_core.sim.streaming import BookMirror, MarketStream
from pymt5_core.sim.tls import TlsMaterial, generate_tls
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages.trading import DealUpdate, OrderUpdate
from pymt5_core.wire.records import unpack_record

__all__ = ["PATH", "DemoAccount", "SimServer"]

#: The only path the server accepts WebSocket connections on (SPEC §2.1).
PATH = "/terminal"

_log = logging.getLogger("pymt5_core.sim")
_TOKENS_REMEMBERED = 1024
#: Seconds of real time between two pumps of the background streaming task.
STREAM_INTERVAL = 0.05


@dataclass(frozen=True)
class DemoAccount:
    """Credentials of an account of the simulator (the password is kept out of the repr)."""

    login: int
    password: str = field(repr=False)
    investor_password: str = field(default="", repr=False)


class SimServer:
    """A simulated MT5 access server (see the module docstring).

    Use it as an async context manager::

        async with SimServer(seed=1, speed=60) as sim:
            print(sim.url, sim.demo_account.login)

    Args:
        host: address to listen on.
        port: TCP port, 0 for any free port (see :attr:`url` for the one chosen).
        seed: seed of the price model, the engine and the fault generator.
        speed: virtual seconds per real second of the default clock (ignored when ``clock`` is given).
        clock: a clock to use instead; a manual clock (``speed`` 0) disables background streaming, time
            then moves only through :meth:`advance`.
        accounts: the accounts (default: :func:`~pymt5_core.sim.accounts.default_accounts`).
        data: replay data (``ReplayData``) to serve instead of the synthetic market.
        tls: serve ``wss://`` with a freshly generated CA and certificate.
        catalogue: the symbols (default: the built-in catalogue).
        login_limits: the lock-out rules for failed logins (default :class:`~pymt5_core.sim.auth.LoginLimits`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        speed: float = 1.0,
        clock: ClockLike | None = None,
        accounts: Sequence[AccountConfig] | None = None,
        data: Any = None,
        tls: bool = False,
        catalogue: CatalogueLike | None = None,
        login_limits: LoginLimits | None = None,
    ) -> None:
        from pymt5_core.sim import _factory  # the market and engine packages, loaded on first use

        self.host = host
        self.port = port
        self.seed = seed
        self.catalogue: CatalogueLike = catalogue if catalogue is not None else _factory.default_catalogue()
        self.clock: ClockLike = clock if clock is not None else _factory.default_clock(speed)
        self.model: PriceModelLike = _factory.price_model(self.catalogue, seed, data)
        account_list = list(accounts) if accounts is not None else default_accounts()
        if not account_list:
            raise ValueError("the simulator needs at least one account")
        self.engine: EngineLike = _factory.engine(self.catalogue, self.model, self.clock, account_list, seed)
        self.auth = Authenticator(account_list, self.clock.now_ms, login_limits)
        first = account_list[0]
        self.demo_account = DemoAccount(first.login, first.password, first.investor_password)
        self.faults = FaultPlan(seed)
        self.faults.bind(self._on_link_change, self.engine)
        self._tls: TlsMaterial | None = generate_tls() if tls else None
        self._realtime = _factory.is_running_clock(self.clock)
        self._stream = MarketStream(self.catalogue, self.model, getattr(self.catalogue, "timezone_shift", 0))
        self._symbol_overrides: dict[int, dict[str, Any]] = {}
        self._connections: set[SimConnection] = set()
        self._connections_changed = asyncio.Event()
        #: Requests received per command id, over every connection (the bootstrap included).
        self.received: Counter[int] = Counter()
        self._by_login: dict[int, set[Session]] = {}
        self._conn_of: dict[Session, SimConnection] = {}
        self._books: dict[Session, BookMirror] = {}
        self._tokens: deque[bytes] = deque(maxlen=_TOKENS_REMEMBERED)
        self._numbers = itertools.count(1)
        self._server: Server | None = None
        self._streamer: asyncio.Task[None] | None = None
        self._pump_lock = asyncio.Lock()
        self._last_pump_ms = self.clock.now_ms()

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "not started"
        return f"<SimServer {state} connections={self.connections}>"

    # --- life cycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (and streaming, when the clock runs by itself)."""
        if self._server is not None:
            return
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=_only_terminal_path,
            ssl=self._tls.server_context() if self._tls is not None else None,
            compression=None,  # every message is ciphertext: nothing to compress
            ping_interval=None,  # the protocol keeps alive with command 51 (SPEC §2.1)
            max_size=64 * 2**20,  # command 39 carries documents
            server_header=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._last_pump_ms = self.clock.now_ms()
        if self._realtime:
            self._streamer = asyncio.create_task(self._stream_loop(), name="sim-streamer")
        _log.info("simulator listening on %s", self.url)

    async def close(self) -> None:
        """Stop streaming, close every connection and stop listening."""
        if self._streamer is not None:
            self._streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._streamer
            self._streamer = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.close()

    # --- public views -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/terminal``, or ``wss://localhost:PORT/terminal`` with TLS."""
        if self._tls is not None:
            host = "localhost" if self.host in ("127.0.0.1", "localhost", "::1", "") else self.host
            return f"wss://{host}:{self.port}{PATH}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{PATH}"

    @property
    def market(self) -> PriceModelLike:
        """The price model (alias of :attr:`model`)."""
        return self.model

    @property
    def connections(self) -> int:
        """Number of open connections."""
        return len(self._connections)

    async def wait_connections(self, count: int) -> None:
        """Wait until exactly ``count`` connections are open (wrap it in a timeout)."""
        while True:
            changed = self._connections_changed
            if len(self._connections) == count:
                return
            await changed.wait()

    def _connections_change(self) -> None:
        self._connections_changed.set()
        self._connections_changed = asyncio.Event()

    @property
    def ca_pem(self) -> str | None:
        """The PEM of the generated CA with TLS, else None."""
        return self._tls.ca_pem if self._tls is not None else None

    def ssl_context_for_clients(self) -> ssl.SSLContext:
        """An SSL context that trusts the generated CA.

        Raises:
            RuntimeError: the server does not use TLS.
        """
        if self._tls is None:
            raise RuntimeError("this simulator was started without tls=True")
        return self._tls.client_context()

    # --- time and market data -----------------------------------------------------------------------

    async def advance(self, ms: int) -> None:
        """Move a manual clock forward and deliver everything that happened in between.

        The engine reacts to the new prices (pending orders, SL/TP, stop-out), subscribed connections
        get the ticks, statistics and book changes of the interval, and the call returns once all
        those frames have been written to the sockets.
        """
        if ms < 0:
            raise ValueError("time only moves forward")
        self.clock.advance(ms)
        await self._pump()

    async def _stream_loop(self) -> None:
        while True:
            await asyncio.sleep(STREAM_INTERVAL)
            try:
                await self._pump()
            except Exception:
                _log.exception("market data pump failed")

    async def _pump(self) -> None:
        async with self._pump_lock:
            start, now = self._last_pump_ms, self.clock.now_ms()
            self._last_pump_ms = max(start, now)
            touched = self._pump_interval(start, now)
            await asyncio.gather(*(conn.flush() for conn in touched))

    def _pump_interval(self, start: int, now: int) -> set[SimConnection]:
        """Queue the market data of ``(start, now]`` and the engine's reaction; return who got frames."""
        touched: set[SimConnection] = set()
        if now <= start:
            return touched
        sessions = [s for logins in self._by_login.values() for s in logins]
        wanted = {sid for s in sessions for sid in s.tick_ids}
        data = self._stream.interval(sorted(wanted), start, now)
        if data:
            for session in sessions:
                ids = [sid for sid in sorted(session.tick_ids) if sid in data]
                if ids:
                    conn = self._conn_of[session]
                    conn.push(Command.TICKS, b"".join(data[sid][0] for sid in ids))
                    conn.push(Command.SYMBOL_STATS, b"".join(data[sid][1] for sid in ids))
                    touched.add(conn)
        booked = {sid for s in sessions for sid in s.book_ids}
        if booked:
            books = {sid: self._stream.book(sid, now) for sid in sorted(booked)}
            for session in sessions:
                if not session.book_ids:
                    continue
                mine = {sid: books[sid] for sid in sorted(session.book_ids)}
                body = self._stream.book_body(self._mirror(session), mine, now, snapshot=False)
                if body is not None:
                    conn = self._conn_of[session]
                    conn.push(Command.BOOK, body)
                    touched.add(conn)
        touched |= self.route(self.engine.on_quotes(now))
        return touched

    def update_symbol(self, name: str, **changes: Any) -> None:
        """Change a symbol's full configuration and push 13 to every logged-in connection.

        ``changes`` are SymbolFull field names (``symbol_description=...``) or fields of its embedded
        TradeSettings (``trade_stops_level=...``). Command 18 answers with the changed configuration from
        then on. The change is a wire-level override: the trading engine keeps using the catalogue's spec.

        Raises:
            KeyError: no such symbol, or a name that is neither a SymbolFull nor a TradeSettings field.
        """
        spec = self.catalogue.get(name)
        if spec is None:
            raise KeyError(name)
        full, trade = set(LAYOUTS["SymbolFull"].fields), set(LAYOUTS["TradeSettings"].fields)
        unknown = set(changes) - full - trade
        if unknown:
            raise KeyError(f"not SymbolFull or TradeSettings fields: {sorted(unknown)}")
        overrides = self._symbol_overrides.setdefault(spec.symbol_id, {})
        overrides.update(changes)
        body = msg.build_symbol_update([self.symbol_full_values(spec.symbol_id) or {}])
        for conn in self._logged_in_connections():
            conn.push(Command.SYMBOL_UPDATE, body)

    # --- session services (SessionContext) -----------------------------------------------------------

    @property
    def trade_link_up(self) -> bool:
        """False while faults report the trade-server link down."""
        return self.faults.trade_link_up

    @property
    def login_refusal(self) -> int | None:
        """The code logins are refused with by fault injection, or None."""
        return self.faults.login_refusal

    def symbol_full_values(self, symbol_id: int) -> dict[str, Any] | None:
        """The SymbolFull values of a symbol id (with :meth:`update_symbol` changes), or None."""
        try:
            spec = self.catalogue.by_id(symbol_id)
        except KeyError:
            return None
        values: dict[str, Any] = spec.symbol_full_values()
        overrides = self._symbol_overrides.get(symbol_id)
        if overrides:
            trade_fields = LAYOUTS["TradeSettings"].fields
            trade = {k: v for k, v in overrides.items() if k in trade_fields and k not in LAYOUTS["SymbolFull"].fields}
            values.update({k: v for k, v in overrides.items() if k not in trade})
            if trade:
                settings = values["trade"]
                current = unpack_record("TradeSettings", settings) if isinstance(settings, bytes) else dict(settings)
                values["trade"] = {**current, **trade}
        return values

    def open_demo_account(self, form: Mapping[str, Any]) -> tuple[int, str, str]:
        """Create a demo account from an account-opening form; returns ``(login, password, investor)``."""
        name = str(form.get("name") or "").strip() or "Demo Trader"
        leverage = int(form.get("leverage") or 100)
        deposit = float(form.get("deposit") or 10_000.0)
        config = self.engine.open_demo_account(name, leverage=leverage, balance=deposit)
        self.auth.add(config)
        return config.login, config.password, config.investor_password

    def snapshot(self, session: Session, symbol_ids: Sequence[int]) -> list[tuple[int, bytes]]:
        """The pushes that start a tick subscription: the latest tick and statistics."""
        return self._stream.snapshot(symbol_ids, self.clock.now_ms())

    def book_snapshot(self, session: Session, symbol_ids: Sequence[int]) -> list[tuple[int, bytes]]:
        """The push that starts a book subscription: a snapshot (``books_flags`` bit 2) of each symbol."""
        mirror = self._mirror(session)
        mirror.reset(session.book_ids)
        now = self.clock.now_ms()
        books = {sid: self._stream.book(sid, now) for sid in symbol_ids}
        body = self._stream.book_body(mirror, books, now, snapshot=True)
        return [(Command.BOOK, body)] if body is not None else []

    def logged_in(self, session: Session) -> None:
        """Register a session under its login (it now receives its account's events)."""
        self._by_login.setdefault(session.login, set()).add(session)

    def logged_out(self, session: Session) -> None:
        """Unregister a session from its login."""
        sessions = self._by_login.get(session.login)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._by_login[session.login]
        self._books.pop(session, None)

    # --- connection services (ConnectionHost) --------------------------------------------------------

    def new_faults(self) -> ConnectionFaults:
        """Per-connection fault state."""
        return self.faults.attach()

    def bootstrap_token(self, token: bytes) -> bytes:
        """Note the token a client presented and issue a fresh one (SPEC §2.11 guidance: accept any)."""
        if any(token):
            known = token in self._tokens
            _log.info("bootstrap with a %s token", "known" if known else "foreign")
        fresh = os.urandom(64)
        self._tokens.append(fresh)
        return fresh

    def route(self, events: Iterable[EngineEvent]) -> set[SimConnection]:
        """Queue trading events on every connection of their account, in order; return those connections."""
        touched: set[SimConnection] = set()
        for login, event in events:
            frame = self._event_frame(login, event)
            if frame is None:
                continue
            for session in self._by_login.get(login, ()):
                conn = self._conn_of[session]
                conn.push(*frame)
                touched.add(conn)
        return touched

    def closed(self, connection: SimConnection) -> None:
        """Forget a connection."""
        self._connections.discard(connection)
        self._connections_change()
        session = connection.session
        if session.login:
            self.logged_out(session)
        self._conn_of.pop(session, None)
        self._books.pop(session, None)

    # --- internals ----------------------------------------------------------------------------------

    async def _handle(self, websocket: WebSocket) -> None:
        conn = SimConnection(self, websocket, next(self._numbers))
        self._connections.add(conn)
        self._connections_change()
        self._conn_of[conn.session] = conn
        conn.log.debug("connection from %s", websocket.remote_address)
        await conn.run()

    def _event_frame(self, login: int, event: object) -> tuple[int, bytes] | None:
        if isinstance(event, TradeResultEvent):
            return Command.TRADE_RESULT, msg.build_trade_result(event.echo, event.result)
        if isinstance(event, AccountEvent):
            return Command.ACCOUNT_UPDATE, msg.build_account(self.engine.account_body(event.login))
        if isinstance(event, OrderUpdate | DealUpdate):
            return Command.TRADE_UPDATE, msg.build_trade_update([event])
        if isinstance(event, list) and event:
            return Command.TRADE_UPDATE, msg.build_trade_update(event)
        _log.warning("unknown engine event %r for %d dropped", type(event).__name__, login)
        return None

    def _mirror(self, session: Session) -> BookMirror:
        mirror = self._books.get(session)
        if mirror is None:
            mirror = self._books[session] = BookMirror()
        return mirror

    def _logged_in_connections(self) -> list[SimConnection]:
        return [self._conn_of[s] for sessions in self._by_login.values() for s in sessions]

    def _on_link_change(self, up: bool) -> None:
        _log.info("trade server link %s", "up" if up else "down")
        body = msg.build_link_state(0 if up else 1)
        for conn in self._logged_in_connections():
            conn.push(Command.LINK_STATE, body)


def _only_terminal_path(connection: WebSocket, request: Request) -> Response | None:
    if request.path != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None
