"""The session: a sans-I/O core (correlation, keep-alive, state table) and a thin asyncio shell over websockets.

Layers, from the bottom:

* :class:`~pymt5_core.wire.frames.ClientConnection` (wire) encrypts requests and decrypts frames.
* :class:`RequestQueues` correlates answers with requests exactly as SPEC §2.9 says: one FIFO queue per
  command id, at most one request of a command in flight, any frame of command N completes the in-flight
  request of N. :class:`KeepAlive` decides when a link is dead (SPEC §2.10). :data:`TRANSITIONS` is the
  table of allowed :class:`~pymt5_core.events.SessionState` transitions. None of these do I/O.
* :class:`Link` is one WebSocket: requests written from the caller's step, answers dispatched from the
  transport's read callback, request timers and the keep-alive task. When it closes, every waiting caller
  gets :class:`ConnectionLost` (with ``outcome_unknown=True`` for a trade request that was transmitted).
* :class:`Session` owns the credentials and the state machine: connect, bootstrap, login, keep-alive and
  automatic reconnect (SPEC §2.11) with a pure backoff generator. After every (re)login it runs the
  ``on_login`` hook (the client's start-up sequence) before it reports READY. It never re-sends anything
  itself: requests lost with a link fail with :class:`ConnectionLost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import ssl as ssl_module
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from pymt5_core.backoff import backoff
from pymt5_core.errors import (
    AuthError,
    ConnectionLost,
    InvalidRequest,
    MT5Error,
    NotConnected,
    ProtocolError,
    RequestTimeout,
    ServerError,
    TradeServerUnavailable,
    server_error_for_code,
)
from pymt5_core.events import ConnectionState, SessionState
from pymt5_core.transport import CloseHandler, LargeHandler, MessageHandler, open_websocket
from pymt5_core.wire.enums import NO_TIMEOUT_COMMANDS, Command
from pymt5_core.wire.frames import HEADER_SIZE, ClientConnection, IncomingMessage, ResponseFrame
from pymt5_core.wire.messages import build_login_request, client_id, read_login_response

__all__ = [
    "TRANSITIONS",
    "Connector",
    "KeepAlive",
    "Link",
    "PendingRequest",
    "RequestQueues",
    "Session",
    "Transport",
    "default_origin",
    "make_ssl_context",
    "websocket_connector",
]

W = TypeVar("W")
_S = SessionState

#: Allowed transitions of the session state machine (anything else is a bug and raises).
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    _S.DISCONNECTED: frozenset({_S.CONNECTING, _S.CLOSED}),
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.DISCONNECTED, _S.CLOSED}),
    _S.CONNECTED: frozenset({_S.LOGGING_IN, _S.DISCONNECTED, _S.CLOSED}),
    _S.LOGGING_IN: frozenset({_S.SYNCING, _S.CONNECTED, _S.DISCONNECTED, _S.CLOSED}),
    _S.SYNCING: frozenset({_S.READY, _S.RECONNECTING, _S.DISCONNECTED, _S.CLOSED}),
    _S.READY: frozenset({_S.RECONNECTING, _S.DISCONNECTED, _S.CLOSED}),
    _S.RECONNECTING: frozenset({_S.SYNCING, _S.DISCONNECTED, _S.CLOSED}),
    _S.CLOSED: frozenset({_S.CONNECTING}),
}

#: Login frame codes after which the whole procedure is retried (SPEC §2.11).
RETRYABLE_LOGIN_CODES = frozenset({2, 100})
_DEFAULT = object()


# --- sans-I/O core ----------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class PendingRequest(Generic[W]):
    """One request in a command queue: its encrypted message and whatever the shell waits on."""

    command: int
    message: bytes
    waiter: W
    sent: bool = False
    deadline: float | None = None  # when it expires, in the shell's clock (None: never)


class RequestQueues(Generic[W]):
    """Per-command FIFO queues with at most one request in flight per command id (SPEC §2.9).

    A request may carry a deadline; :meth:`expired` and :meth:`next_deadline` let the shell run one timer
    for all of them instead of one per request.
    """

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        self._queues: dict[int, deque[PendingRequest[W]]] = {}

    def submit(self, command: int, message: bytes, waiter: W, deadline: float | None = None
               ) -> tuple[PendingRequest[W], bool]:
        """Queue a request; the flag tells whether it must be transmitted now."""
        queue = self._queues.setdefault(command, deque())
        request = PendingRequest(command, message, waiter, False, deadline)
        queue.append(request)
        if len(queue) == 1:
            request.sent = True
            return request, True
        return request, False

    def in_flight(self, command: int) -> PendingRequest[W] | None:
        """The request of ``command`` currently awaiting its answer."""
        queue = self._queues.get(command)
        return queue[0] if queue else None

    def complete(self, command: int) -> tuple[PendingRequest[W] | None, PendingRequest[W] | None]:
        """A frame of ``command`` arrived: return ``(completed request, next request to transmit)``."""
        queue = self._queues.get(command)
        if not queue:
            return None, None
        done = queue.popleft()
        return done, self._advance(queue)

    def remove(self, request: PendingRequest[W]) -> PendingRequest[W] | None:
        """Drop a request (timeout); if it was in flight, return the next one to transmit."""
        queue = self._queues.get(request.command)
        if not queue or request not in queue:
            return None
        if queue[0] is request:
            queue.popleft()
            return self._advance(queue)
        queue.remove(request)
        return None

    def expired(self, now: float) -> list[PendingRequest[W]]:
        """The requests, in flight or queued, whose deadline is ``now`` or earlier."""
        return [r for q in self._queues.values() for r in q if r.deadline is not None and r.deadline <= now]

    def next_deadline(self) -> float | None:
        """The earliest deadline of the requests held, None when none has one."""
        return min((r.deadline for q in self._queues.values() for r in q if r.deadline is not None), default=None)

    def drain(self) -> list[PendingRequest[W]]:
        """Remove and return every request, in flight or queued (the link closed)."""
        out = [r for q in self._queues.values() for r in q]
        self._queues.clear()
        return out

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @staticmethod
    def _advance(queue: deque[PendingRequest[W]]) -> PendingRequest[W] | None:
        if not queue:
            return None
        queue[0].sent = True
        return queue[0]


class KeepAlive:
    """Dead-link detection of SPEC §2.10, fed with timestamps; it never sleeps or sends."""

    __slots__ = ("_sent", "dead_after", "last_answer", "latency")

    def __init__(self, dead_after: float = 15.0) -> None:
        self.dead_after = dead_after
        self.last_answer: float | None = None
        self.latency: float | None = None
        self._sent: deque[float] = deque()

    @property
    def outstanding(self) -> int:
        """Pings sent and not answered yet."""
        return len(self._sent)

    def is_dead(self, now: float) -> bool:
        """True when a ping is unanswered and the last answer is older than ``dead_after``.

        Never true before the first answer, as in the official client.
        """
        return bool(self._sent) and self.last_answer is not None and now - self.last_answer > self.dead_after

    def sent(self, now: float) -> None:
        """A ping was issued at ``now``."""
        self._sent.append(now)

    def answered(self, now: float) -> None:
        """The oldest outstanding ping was answered at ``now``; updates :attr:`latency`."""
        if self._sent:
            self.latency = now - self._sent.popleft()
        self.last_answer = now

    def failed(self) -> None:
        """The oldest outstanding ping failed (timeout)."""
        if self._sent:
            self._sent.popleft()


# --- transport --------------------------------------------------------------------------------------


class Transport(Protocol):
    """What the session needs from a WebSocket connection (:class:`~pymt5_core.transport.WebSocketTransport`).

    Messages and the end of the connection are pushed to the handlers given to :meth:`start`, from the event
    loop; :meth:`send` writes at once and never waits.
    """

    def start(self, on_message: MessageHandler, on_close: CloseHandler, on_large: LargeHandler | None = None) -> None:
        ...

    def send(self, message: bytes) -> None: ...

    async def close(self) -> None: ...

    def abort(self) -> None: ...


#: Opens a new transport to the endpoint.
Connector = Callable[[], Awaitable[Transport]]


def default_origin(url: str) -> str:
    """The ``Origin`` a browser would send for a page on the endpoint's host (SPEC §2.1)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"https://{host}"


def make_ssl_context(
    url: str, ssl: ssl_module.SSLContext | None = None, verify_tls: bool = True, ca_file: str | None = None
) -> ssl_module.SSLContext | None:
    """The TLS context for ``url``: None for ``ws://``; verification on unless explicitly disabled.

    Raises:
        InvalidRequest: TLS options given for a ``ws://`` URL.
    """
    if urlsplit(url).scheme != "wss":
        if ssl is not None or ca_file is not None:
            raise InvalidRequest("TLS options need a wss:// URL")
        return None
    if ssl is not None:
        return ssl
    context = ssl_module.create_default_context(cafile=ca_file)
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
        logging.getLogger("pymt5_core.session").warning(
            "TLS certificate verification is disabled for %s (verify_tls=False)", urlsplit(url).hostname
        )
    return context


def websocket_connector(
    url: str, *, origin: str, ssl: ssl_module.SSLContext | None, open_timeout: float
) -> Connector:
    """A :data:`Connector` opening a :class:`~pymt5_core.transport.WebSocketTransport`: binary messages, no
    compression, no WebSocket pings (the keep-alive is command 51, SPEC §2.10)."""

    async def connect() -> Transport:
        return await open_websocket(
            url, origin=origin, ssl=ssl, open_timeout=open_timeout,
            user_agent=f"pymt5-core Python/{platform.python_version()}",
        )

    return connect


# --- one WebSocket ----------------------------------------------------------------------------------


class Link:
    """One WebSocket connection: bootstrap, requests, the receive callback, keep-alive.

    Requests are written to the transport from the caller's step of the event loop and answers are decrypted
    and dispatched in the transport's read callback: no task sits between the socket and the waiting caller.

    Args:
        transport: an open transport.
        token: the token of the previous connection (zeros on a first connection).
        dispatch: called with every decoded frame, after the in-flight request of its command is completed.
        on_closed: called once when the link closes, with the reason.
    """

    def __init__(
        self,
        transport: Transport,
        token: bytes | None,
        dispatch: Callable[[ResponseFrame], None],
        on_closed: Callable[[Link, str], None],
        logger: logging.Logger,
    ) -> None:
        self.conn = ClientConnection() if token is None else ClientConnection(token=token)
        self._transport = transport
        self._dispatch = dispatch
        self._on_closed = on_closed
        self._log = logger
        self._queues: RequestQueues[asyncio.Future[ResponseFrame]] = RequestQueues()
        self._tasks: set[asyncio.Task[None]] = set()
        self.keepalive: KeepAlive | None = None
        self.closed = False
        self.close_reason = ""
        self._closer: asyncio.Task[None] | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        """Start receiving from the transport."""
        self._transport.start(self._on_message, self._on_transport_closed, self._on_large)

    def _track(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        # Every task of the link is kept until it ends, so close() can wait for all of them.
        task = self._loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def bootstrap(self, timeout: float) -> None:
        """Run the bootstrap exchange (SPEC §2.6); the session key is installed on its answer.

        Raises:
            ProtocolError: the bootstrap was refused.
            ConnectionLost, RequestTimeout: the link failed.
        """
        frame = await self._submit(Command.BOOTSTRAP, self.conn.bootstrap(), timeout)
        if frame.code or not self.conn.ready:
            raise ProtocolError(f"bootstrap refused with code {frame.code}")

    def request(self, command: int, payload: bytes = b"", timeout: float | None = 30.0
                ) -> asyncio.Future[ResponseFrame]:
        """Send one request; the future completes with its answer.

        Raises:
            ConnectionLost: the link is closed (raised here, nothing sent) or closed before the answer (set
                on the future). RequestTimeout: no answer in time (on the future).
        """
        if self.closed:
            raise ConnectionLost(f"connection closed ({self.close_reason}) before {_name(command)} was sent")
        return self._submit(command, self.conn.request(command, payload), timeout)

    def _submit(self, command: int, message: bytes, timeout: float | None) -> asyncio.Future[ResponseFrame]:
        future: asyncio.Future[ResponseFrame] = self._loop.create_future()
        deadline = None if timeout is None else self._loop.time() + timeout
        request, now = self._queues.submit(command, message, future, deadline)
        if deadline is not None and (self._deadline_timer is None or deadline < self._deadline_timer.when()):
            self._arm_deadline_timer(deadline)
        if now:
            self._send(request)
        return future

    def _arm_deadline_timer(self, when: float | None) -> None:
        # One timer for every request of the link, set for the earliest deadline: a request costs no timer of
        # its own, and one answered in time leaves nothing to cancel.
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_timer = None if when is None else self._loop.call_at(when, self._expire_overdue)

    def _expire_overdue(self) -> None:
        self._deadline_timer = None
        for request in self._queues.expired(self._loop.time()):
            self._expire(request)
        if not self.closed:
            self._arm_deadline_timer(self._queues.next_deadline())

    def _send(self, request: PendingRequest[asyncio.Future[ResponseFrame]]) -> None:
        try:
            self._transport.send(request.message)
        except Exception as exc:  # the transport is closing: nothing of the request left
            request.sent = False
            self._shutdown(f"send failed: {type(exc).__name__}: {exc}")

    def _expire(self, request: PendingRequest[asyncio.Future[ResponseFrame]]) -> None:
        following = self._queues.remove(request)
        if not request.waiter.done():
            request.waiter.set_exception(RequestTimeout(f"no answer to {_name(request.command)} in time"))
        if following is not None:
            self._send(following)

    def _on_frame(self, frame: ResponseFrame) -> None:
        done, following = self._queues.complete(frame.command)
        if done is not None and not done.waiter.done():
            done.waiter.set_result(frame)
        if following is not None:
            self._send(following)
        self._dispatch(frame)

    def _on_message(self, message: bytes | memoryview) -> None:
        if self.closed:
            return
        try:
            frame = self.conn.receive(message)
        except ProtocolError as exc:
            self._undecryptable(len(message), exc)
            return
        self._handle(frame)

    def _undecryptable(self, size: int, exc: ProtocolError) -> None:
        if size <= HEADER_SIZE:
            return  # nothing after the header: ignored (SPEC §2.2)
        # The official client drops such a message (SPEC §2.3), but it may have been an answer (its caller
        # would wait out the timeout) or a push (the mirror would silently miss a change): end the link
        # instead, so the reconnect resynchronises everything.
        reason = f"undecryptable message of {size} bytes ({exc})"
        self._log.warning("closing the link: %s", reason)
        self._shutdown(reason)

    def _handle(self, frame: ResponseFrame) -> None:
        try:
            self._on_frame(frame)
        except Exception as exc:  # a failing handler ends the link: the reconnect resynchronises the state
            self._log.exception("handling %s failed: closing the link", _name(frame.command))
            self._shutdown(f"handling {_name(frame.command)} failed: {type(exc).__name__}: {exc}")

    def _on_large(self, size: int) -> _LargeFrame:
        return _LargeFrame(self, self.conn.incoming(size))

    def _on_frame_finished(self, message: IncomingMessage) -> None:
        if self.closed:
            return
        try:
            frame = self.conn.finish(message)
        except ProtocolError as exc:
            self._undecryptable(message.size, exc)
            return
        self._handle(frame)

    def _on_transport_closed(self, reason: str) -> None:
        self._shutdown(reason or "connection closed by the server")

    def start_keepalive(self, interval: float, dead_after: float, timeout: float) -> None:
        """Send command 51 now and every ``interval`` seconds; close the link when it is dead (SPEC §2.10)."""
        self.keepalive = KeepAlive(dead_after)
        self._track(self._keepalive_loop(interval, timeout), "mt5-keepalive")

    async def _keepalive_loop(self, interval: float, timeout: float) -> None:
        assert self.keepalive is not None
        keepalive = self.keepalive
        while not self.closed:
            if keepalive.is_dead(self._loop.time()):
                self._log.warning("no answer to keep-alive for %.1f s: closing the link", keepalive.dead_after)
                await self.close("dead link (keep-alive unanswered)")
                return
            self._track(self._ping(keepalive, timeout), "mt5-ping")
            await asyncio.sleep(interval)

    async def _ping(self, keepalive: KeepAlive, timeout: float) -> None:
        keepalive.sent(self._loop.time())
        try:
            await self.request(Command.PING, b"", timeout)
        except (ConnectionLost, RequestTimeout):
            keepalive.failed()
            return
        keepalive.answered(self._loop.time())

    def _shutdown(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._arm_deadline_timer(None)
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for request in self._queues.drain():
            if not request.waiter.done():
                unknown = request.sent and request.command == Command.TRADE_REQUEST
                request.waiter.set_exception(
                    ConnectionLost(f"{reason} while waiting for {_name(request.command)}", outcome_unknown=unknown)
                )
        # This runs in synchronous code (a callback of the transport, a timer): the closing handshake runs in
        # a task of its own, which close() awaits (a link closed by the peer is awaited by Session.close()).
        self._closer = self._loop.create_task(self._close_transport(), name="mt5-close")
        self._on_closed(self, reason)

    async def _close_transport(self) -> None:
        with contextlib.suppress(Exception):
            await self._transport.close()

    @property
    def finished(self) -> bool:
        """True once the link is closed, its transport closed and every task of it ended."""
        return self.closed and not self._tasks and self._closer is not None and self._closer.done()

    async def close(self, reason: str = "closed by the client", timeout: float = 5.0) -> None:
        """Close the WebSocket, fail every waiting request and wait until every task of the link has ended.

        Safe to call more than once and from any task of the link. The closing handshake gets ``timeout``
        seconds; after that the connection is cut.
        """
        self.close_reason = self.close_reason or reason
        self._shutdown(reason)
        current = asyncio.current_task()
        waiting = {t for t in (*self._tasks, self._closer) if t is not None and t is not current and not t.done()}
        if not waiting:
            return
        _, late = await asyncio.wait(waiting, timeout=timeout)
        if late:
            self._log.warning("closing the link took over %.1f s: cutting the connection", timeout)
            self._transport.abort()
            for task in late:
                task.cancel()
            await asyncio.wait(late)


class _LargeFrame:
    """A large message of a link, decrypted as its bytes arrive (the transport's :class:`LargeMessage`)."""

    __slots__ = ("_link", "_message", "feed")

    def __init__(self, link: Link, message: IncomingMessage) -> None:
        self._link, self._message, self.feed = link, message, message.feed

    def end(self) -> None:
        self._link._on_frame_finished(self._message)


def _name(command: int) -> str:
    try:
        return str(Command(command))
    except ValueError:
        return f"command {command}"


# --- the session ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Credentials:
    """Login data kept for reconnects; the secret is the password until the first login, then the blob."""

    login: int
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"_Credentials(login={self.login}, secret=***)"


class Session:
    """Connection, login, keep-alive and automatic reconnect for one account.

    Args:
        url: ``wss://host/terminal`` (or ``ws://`` for a local simulator).
        origin: the ``Origin`` header; default ``https://<host>`` of the URL.
        ssl: a TLS context, overriding ``verify_tls`` and ``ca_file``.
        verify_tls: verify the server certificate (default True).
        ca_file: a CA bundle to verify against.
        timeout: default request timeout in seconds (commands 7 and 22 have none).
        reconnect: reconnect automatically after a drop once logged in.
        cid: the 16-byte client id; default derived from the platform and a random number (SPEC §2.14).
        keepalive_interval: seconds between keep-alive pings (SPEC §2.10: 5).
        dead_after: seconds without a ping answer after which the link is closed (SPEC §2.10: 15).
        reconnect_delays: factory of reconnect delay iterators (default :func:`~pymt5_core.backoff.backoff`).
        max_reconnect_attempts: give up (state DISCONNECTED) after this many failed attempts; None = never.
        login_retries: extra attempts when login answers code 2 or 100 (SPEC §2.11: 5).
        connector: opens the transport; default a websockets connection (tests inject fakes here).
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
        reconnect_delays: Callable[[], Iterator[float]] | None = None,
        max_reconnect_attempts: int | None = None,
        login_retries: int = 5,
        connector: Connector | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.reconnect = reconnect
        self.keepalive_interval = keepalive_interval
        self.dead_after = dead_after
        self.max_reconnect_attempts = max_reconnect_attempts
        self.login_retries = login_retries
        self.cid = cid if cid is not None else client_id(
            f"{platform.system()};1;en;1920x1080;{int.from_bytes(os.urandom(3), 'little') % 1_000_001}"
        )
        if len(self.cid) != 16:
            raise InvalidRequest("cid must be 16 bytes")
        self._reconnect_delays = reconnect_delays or (lambda: backoff(0.25, 2.0, 30.0, 0.5))
        self._connector = connector or websocket_connector(
            url, origin=origin or default_origin(url), ssl=make_ssl_context(url, ssl, verify_tls, ca_file),
            open_timeout=timeout,
        )
        self.log = logger or logging.getLogger(f"pymt5_core.session.{urlsplit(url).hostname or 'local'}")
        self._state = SessionState.DISCONNECTED
        self._state_changed = asyncio.Event()
        self._link: Link | None = None
        self._token: bytes | None = None
        self._credentials: _Credentials | None = None
        self._session_ids: dict[int, int] = {}
        self._listeners: dict[int, list[Callable[[ResponseFrame], None]]] = {}
        self._state_listeners: list[Callable[[ConnectionState], None]] = []
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing = False
        self._close_lock = asyncio.Lock()
        self._links: set[Link] = set()  # links whose closing is not finished yet
        #: Run after every successful (re)login, in state SYNCING; the argument is True on a reconnect.
        self.on_login: Callable[[bool], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        login = self._credentials.login if self._credentials else None
        return f"<Session {self.url} login={login} state={self._state}>"

    # --- state ----------------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current phase."""
        return self._state

    @property
    def login_id(self) -> int | None:
        """The account number of the current login, if any."""
        return self._credentials.login if self._credentials else None

    @property
    def latency(self) -> float | None:
        """The last keep-alive round-trip time in seconds."""
        ka = self._link.keepalive if self._link else None
        return ka.latency if ka else None

    @property
    def token(self) -> bytes | None:
        """The token to send on the next connection (None before the first bootstrap)."""
        return self._link.conn.token if self._link and self._link.conn.ready else self._token

    def _set_state(self, new: SessionState, reason: str = "", attempt: int = 0) -> None:
        old = self._state
        if new is old:
            return
        if new not in TRANSITIONS[old]:
            raise RuntimeError(f"invalid session transition {old} -> {new}")
        self._state = new
        self.log.info("session %s -> %s%s", old, new, f" ({reason})" if reason else "")
        self._state_changed.set()
        self._state_changed = asyncio.Event()
        self._announce(ConnectionState(new, old, reason, attempt))

    def _announce(self, event: ConnectionState) -> None:
        for callback in list(self._state_listeners):
            try:
                callback(event)
            except Exception:
                self.log.exception("connection-state listener failed")

    def add_state_listener(self, callback: Callable[[ConnectionState], None]) -> Callable[[], None]:
        """Call ``callback`` on every state transition; returns a function that removes it."""
        self._state_listeners.append(callback)
        return lambda: _discard(self._state_listeners, callback)

    def add_listener(self, command: int, callback: Callable[[ResponseFrame], None]) -> Callable[[], None]:
        """Call ``callback`` with every frame of ``command`` (responses and pushes, any code).

        Listeners belong to the session and survive reconnects. Returns a function that removes it.
        """
        self._listeners.setdefault(int(command), []).append(callback)
        return lambda: _discard(self._listeners.get(int(command), []), callback)

    def _dispatch(self, frame: ResponseFrame) -> None:
        for callback in self._listeners.get(frame.command, ()):
            try:
                callback(frame)
            except Exception:
                self.log.exception("listener for %s failed", _name(frame.command))

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the session is READY.

        Raises:
            NotConnected: the session is (or becomes) disconnected or closed.
            RequestTimeout: not ready within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self._state is SessionState.READY and self._link is not None and not self._link.closed:
                return
            if self._state in (SessionState.DISCONNECTED, SessionState.CLOSED, SessionState.CONNECTED):
                raise NotConnected(f"session is {self._state}")
            changed = self._state_changed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise RequestTimeout("session not ready in time")
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                raise RequestTimeout("session not ready in time") from None

    # --- connect and login ----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the WebSocket and run the bootstrap exchange.

        Raises:
            OSError, ProtocolError, RequestTimeout: the connection could not be established.
        """
        if self._link is not None and not self._link.closed:
            return
        self._closing = False
        self._set_state(SessionState.CONNECTING)
        try:
            await self._open_link()
        except BaseException as exc:
            self._set_state(SessionState.DISCONNECTED, f"connect failed: {exc!r}")
            raise
        self._set_state(SessionState.CONNECTED)

    async def _open_link(self) -> Link:
        transport = await asyncio.wait_for(self._connector(), self.timeout)
        link = Link(transport, self._token, self._dispatch, self._on_link_closed, self.log)
        self._links = {old for old in self._links if not old.finished}
        self._links.add(link)
        self._link = link
        link.start()
        try:
            await link.bootstrap(self.timeout)
        except BaseException:
            await link.close("bootstrap failed")
            raise
        self._token = link.conn.token
        return link

    async def login(self, login: int, password: str, *, otp: str | None = None) -> None:
        """Log in, start the keep-alive, run the ``on_login`` hook and become READY.

        Args:
            login: the account number.
            password: the password, or the 320-character hex blob of a previous login.
            otp: a one-time password, when the account needs one.

        Raises:
            AuthError: bad credentials (``OTPRequired`` when a one-time password is needed or wrong).
            TradeServerUnavailable: codes 2/100 persisted through the retries.
            ConnectionLost, RequestTimeout, OSError: the connection failed.
        """
        if self._state is SessionState.READY and self._credentials and self._credentials.login == login:
            return
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            self._reconnect_task = None
        if self._link is None or self._link.closed:
            await self.open()
        elif self._state is not SessionState.CONNECTED:
            raise InvalidRequest(f"cannot log in while {self._state}")
        self._credentials = _Credentials(login, password)
        delays = self._reconnect_delays()
        for attempt in range(self.login_retries + 1):
            self._set_state(SessionState.LOGGING_IN)
            try:
                await self._login_on(self._require_link(), otp)
                break
            except TradeServerUnavailable as exc:
                if attempt >= self.login_retries:
                    self._after_login_failure(exc)
                    raise
                self.log.info("login: %s; retrying", exc)
                await self._reopen(next(delays), str(exc))
            except BaseException as exc:
                self._after_login_failure(exc)
                raise
        await self._synchronise(reconnect=False)

    def _after_login_failure(self, exc: BaseException) -> None:
        if self._link is not None and not self._link.closed:
            self._set_state(SessionState.CONNECTED, f"login failed: {exc}")
        elif self._state is not SessionState.DISCONNECTED:
            self._set_state(SessionState.DISCONNECTED, f"login failed: {exc}")
        if isinstance(exc, AuthError):
            self._credentials = None

    async def _reopen(self, delay: float, reason: str) -> None:
        """Retry the whole procedure on a new connection (SPEC §2.11)."""
        if self._link is not None:
            await self._link.close("retrying login")
        self._set_state(SessionState.DISCONNECTED, f"retrying login: {reason}")
        await asyncio.sleep(delay)
        await self.open()

    async def _login_on(self, link: Link, otp: str | None) -> None:
        creds = self._credentials
        assert creds is not None
        payload = build_login_request(
            creds.login, creds.secret, otp=otp or "", cid=self.cid, session=self._session_ids.get(creds.login, 0)
        )
        frame = await link.request(Command.LOGIN, payload, self.timeout)
        if frame.code:
            raise server_error_for_code(Command.LOGIN, frame.code)
        blob, session_id = read_login_response(frame.body)
        creds.secret = blob.hex()  # the official client keeps only the blob (SPEC §5.2)
        self._session_ids[creds.login] = session_id
        link.start_keepalive(self.keepalive_interval, self.dead_after, self.timeout)

    async def _synchronise(self, *, reconnect: bool, attempt: int = 0) -> None:
        self._set_state(SessionState.SYNCING, "logged in", attempt)
        try:
            if self.on_login is not None:
                await self.on_login(reconnect)
        except (ConnectionLost, RequestTimeout, ProtocolError) as exc:
            if reconnect:
                raise  # the reconnect loop closes the link and tries again
            await self._startup_failed(exc)
            return
        except BaseException as exc:
            if not reconnect:
                await self._give_up(f"start-up failed: {exc!r}")
            raise
        self._set_state(SessionState.READY, "", attempt)

    async def _startup_failed(self, exc: MT5Error) -> None:
        """The initial start-up lost its link or an answer: let the reconnect procedure take over.

        The link is closed if it is still open (a start-up missing an answer is incomplete), so with
        ``reconnect`` a fresh link, login and start-up follow. The caller waits for them within the
        request timeout; after that the session stops trying (DISCONNECTED) and ``exc`` is raised.
        """
        if self._link is not None and not self._link.closed:
            await self._link.close(f"start-up failed: {exc}")
        if not self.reconnect:
            await self._give_up(f"start-up failed: {exc}")
            raise exc
        self.log.info("start-up interrupted (%s); waiting for the reconnect", exc)
        try:
            await self.wait_ready(self.timeout)
        except (NotConnected, RequestTimeout):
            await self._give_up(f"no reconnect after a failed start-up: {exc}")
            raise exc from None

    async def _give_up(self, reason: str) -> None:
        """Stop reconnecting and close the link: the session ends DISCONNECTED."""
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._state not in (SessionState.DISCONNECTED, SessionState.CLOSED):
            self._set_state(SessionState.DISCONNECTED, reason)
        if self._link is not None and not self._link.closed:
            await self._link.close(reason)

    def _require_link(self) -> Link:
        if self._link is None or self._link.closed:
            raise NotConnected("not connected")
        return self._link

    # --- requests -------------------------------------------------------------------------------

    async def request(
        self, command: int, payload: bytes = b"", *, timeout: float | object | None = _DEFAULT, check: bool = True
    ) -> ResponseFrame:
        """Send a request and return its answer; during a reconnect, wait until READY first.

        Args:
            command: the command id.
            payload: the request payload.
            timeout: seconds (None = no timeout); default 30 s, none for commands 7 and 22.
            check: raise for a non-zero frame code.

        Raises:
            ServerError: the frame code is not 0 (with ``check``).
            ConnectionLost: the link closed before the answer arrived.
            RequestTimeout: no answer in time.
            NotConnected: not connected or logged in.
        """
        if timeout is _DEFAULT:
            timeout = None if command in NO_TIMEOUT_COMMANDS else self.timeout
        assert timeout is None or isinstance(timeout, (int, float))
        link = self._link
        if self._state is SessionState.RECONNECTING or link is None or link.closed:
            await self.wait_ready(self.timeout)
            link = self._require_link()
        frame = await link.request(command, payload, timeout)
        if check and frame.code:
            raise server_error_for_code(int(command), frame.code)
        return frame

    # --- drops and reconnects -------------------------------------------------------------------

    def _on_link_closed(self, link: Link, reason: str) -> None:
        if link is not self._link:
            return
        self.log.info("link closed: %s", reason)
        if self._closing:
            return
        if self._state in (SessionState.READY, SessionState.SYNCING) and self.reconnect and self._credentials:
            if self._reconnect_task is None or self._reconnect_task.done():
                self._set_state(SessionState.RECONNECTING, reason)
                self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop(reason))
        elif self._state in (SessionState.CONNECTED, SessionState.READY, SessionState.SYNCING):
            self._set_state(SessionState.DISCONNECTED, reason)

    async def _reconnect_loop(self, reason: str) -> None:
        delays = self._reconnect_delays()
        attempt = 0
        while not self._closing:
            attempt += 1
            if self.max_reconnect_attempts is not None and attempt > self.max_reconnect_attempts:
                self._set_state(SessionState.DISCONNECTED, f"gave up after {attempt - 1} reconnect attempts")
                return
            await asyncio.sleep(next(delays))
            if attempt > 1:  # every further attempt is announced, though the state stays RECONNECTING
                self._announce(ConnectionState(SessionState.RECONNECTING, SessionState.RECONNECTING,
                                               "retrying", attempt))
            try:
                self.log.info("reconnect attempt %d", attempt)
                link = await self._open_link()
                await self._login_on(link, None)
                await self._synchronise(reconnect=True, attempt=attempt)
                return
            except asyncio.CancelledError:
                raise
            except AuthError as exc:
                self._credentials = None
                if self._state is SessionState.SYNCING:
                    self._set_state(SessionState.RECONNECTING, str(exc), attempt)
                self._set_state(SessionState.DISCONNECTED, f"re-login refused: {exc}", attempt)
                if self._link is not None:
                    await self._link.close("re-login refused")
                return
            except (ServerError, ConnectionLost, RequestTimeout, ProtocolError, NotConnected, OSError,
                    TimeoutError) as exc:
                self.log.info("reconnect attempt %d failed: %s", attempt, exc)
                if self._state is SessionState.SYNCING:
                    self._set_state(SessionState.RECONNECTING, str(exc), attempt)
                if self._link is not None:
                    await self._link.close("reconnect attempt failed")
            except Exception as exc:  # e.g. websockets.InvalidHandshake / InvalidURI
                self.log.warning("reconnect attempt %d failed: %r", attempt, exc)
                if self._state is SessionState.SYNCING:
                    self._set_state(SessionState.RECONNECTING, repr(exc), attempt)
                if self._link is not None:
                    await self._link.close("reconnect attempt failed")

    async def drop(self, reason: str = "dropped by the client") -> None:
        """Close the current link as if the network failed (the reconnect procedure then runs)."""
        if self._link is not None:
            await self._link.close(reason)

    async def close(self, *, logout: bool = True) -> None:
        """Log out (best effort), close the link and stop reconnecting.

        Returns once the WebSocket closing handshake is over (or cut after a few seconds) and no task of
        the session is left. Safe to call twice, also concurrently.
        """
        async with self._close_lock:
            if self._state is SessionState.CLOSED and not self._links:
                return
            self._closing = True
            if self._reconnect_task is not None:
                self._reconnect_task.cancel()
                with contextlib.suppress(BaseException):
                    await self._reconnect_task
                self._reconnect_task = None
            link = self._link
            if link is not None and not link.closed and logout and self._state is SessionState.READY:
                with contextlib.suppress(Exception):
                    await link.request(Command.LOGOUT, b"", min(self.timeout, 5.0))
            # Links the server closed earlier may still be finishing their closing handshake.
            for each in list(self._links):
                await each.close("closed by the client")
            self._links.clear()
            if self._state is not SessionState.CLOSED:
                self._set_state(SessionState.CLOSED, "closed by the client")


def _discard(items: list[Any], item: Any) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)
