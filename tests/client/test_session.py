"""The session layer: the sans-I/O core on its own, and the asyncio shell over an in-memory transport.

The fake server is built from :class:`~pymt5_core.wire.frames.ServerConnection`, so frames are real
(encrypted, bootstrapped); only the socket is replaced by queues.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from pymt5_core.backoff import backoff
from pymt5_core.errors import ConnectionLost, InvalidRequest, NotConnected, RequestTimeout
from pymt5_core.events import ConnectionState, SessionState
from pymt5_core.session import (
    TRANSITIONS,
    KeepAlive,
    RequestQueues,
    Session,
    Transport,
    default_origin,
    make_ssl_context,
)
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import RequestFrame, ServerConnection
from pymt5_core.wire.messages import build_login_response, read_login_request

# --- the sans-I/O core --------------------------------------------------------------------------------


def test_request_queues_keep_one_request_in_flight_per_command() -> None:
    q: RequestQueues[str] = RequestQueues()
    a, send_a = q.submit(11, b"a", "wa")
    b, send_b = q.submit(11, b"b", "wb")
    c, send_c = q.submit(3, b"c", "wc")
    assert (send_a, send_b, send_c) == (True, False, True)
    assert q.in_flight(11) is a and not b.sent
    done, following = q.complete(11)
    assert done is a and following is b and b.sent
    assert q.complete(11) == (b, None)
    assert q.complete(11) == (None, None)  # a frame nobody waits for (a push)
    assert len(q) == 1 and q.drain() == [c] and len(q) == 0


def test_request_queues_remove_on_timeout_sends_the_next() -> None:
    q: RequestQueues[int] = RequestQueues()
    a, _ = q.submit(5, b"a", 1)
    b, _ = q.submit(5, b"b", 2)
    c, _ = q.submit(5, b"c", 3)
    assert q.remove(b) is None  # queued: just dropped
    assert q.remove(a) is c and c.sent  # in flight: the next one goes out
    assert q.remove(a) is None


def test_request_queues_report_expired_requests_and_the_next_deadline() -> None:
    q: RequestQueues[int] = RequestQueues()
    a, _ = q.submit(5, b"a", 1, deadline=30.0)
    b, _ = q.submit(5, b"b", 2, deadline=10.0)  # queued behind a, yet it expires first
    q.submit(7, b"c", 3)  # no deadline
    assert q.next_deadline() == 10.0
    assert q.expired(9.9) == [] and q.expired(10.0) == [b]
    q.remove(b)
    assert q.next_deadline() == 30.0 and q.expired(100.0) == [a]
    q.remove(a)
    assert q.next_deadline() is None and q.expired(100.0) == []


def test_keepalive_is_never_dead_before_a_first_answer() -> None:
    ka = KeepAlive(dead_after=15.0)
    ka.sent(0.0)
    assert not ka.is_dead(100.0)
    ka.answered(0.5)
    assert ka.latency == 0.5 and not ka.is_dead(100.0)  # nothing outstanding
    ka.sent(5.0)
    assert not ka.is_dead(15.4) and ka.is_dead(15.6)
    ka.failed()
    assert ka.outstanding == 0


def test_backoff_is_capped_seeded_and_jittered() -> None:
    plain = backoff(1.0, 2.0, 8.0, 0.0)
    assert [next(plain) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    a, b = backoff(1.0, 2.0, 8.0, 0.5, seed=3), backoff(1.0, 2.0, 8.0, 0.5, seed=3)
    first = [next(a) for _ in range(20)]
    assert first == [next(b) for _ in range(20)]
    assert all(0.5 * min(2.0**i, 8.0) <= d <= min(2.0**i, 8.0) for i, d in enumerate(first))
    with pytest.raises(ValueError):
        backoff(factor=0.5)


def test_state_table_covers_every_state_and_forbids_shortcuts() -> None:
    assert set(TRANSITIONS) == set(SessionState)
    assert SessionState.READY not in TRANSITIONS[SessionState.CONNECTING]
    assert SessionState.SYNCING in TRANSITIONS[SessionState.RECONNECTING]


def test_origin_and_tls_defaults() -> None:
    assert default_origin("wss://user@web.example.com:8443/terminal") == "https://web.example.com:8443"
    assert make_ssl_context("ws://127.0.0.1:1/terminal") is None
    context = make_ssl_context("wss://web.example.com/terminal")
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    loose = make_ssl_context("wss://web.example.com/terminal", verify_tls=False)
    assert loose is not None and loose.verify_mode == ssl.CERT_NONE
    with pytest.raises(InvalidRequest):
        make_ssl_context("ws://127.0.0.1:1/terminal", ca_file="ca.pem")


# --- an in-memory server ------------------------------------------------------------------------------

Policy = Callable[["FakeServer", RequestFrame], "list[tuple[int, int, bytes]] | None"]


class FakeServer:
    """Answers bootstrap and login itself; everything else goes through ``policy`` (None = hold)."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or (lambda server, req: [(req.command, 0, b"")])
        self.requests: list[RequestFrame] = []
        self.tokens: list[bytes] = []
        self.logins: list[dict[str, Any]] = []
        self.transports: list[MemoryTransport] = []
        self.token_counter = 0

    async def connect(self) -> Transport:
        transport = MemoryTransport(self)
        self.transports.append(transport)
        return transport

    def handle(self, transport: MemoryTransport, message: bytes) -> None:
        request = transport.server.receive(message)
        if request.command == Command.BOOTSTRAP:
            self.tokens.append(request.payload)
            self.token_counter += 1
            token = bytes([self.token_counter]) * 64
            transport.deliver(transport.server.accept_bootstrap(request, token, bytes(range(32))))
            return
        self.requests.append(request)
        if request.command == Command.LOGIN:
            self.logins.append(read_login_request(request.payload))
            transport.deliver(transport.server.respond(request, 0, build_login_response(b"\x07" * 160, 99)))
            return
        for command, code, body in self.policy(self, request) or ():
            transport.deliver(transport.server.frame(command, code, body))

    def answer(self, command: int, body: bytes = b"", code: int = 0) -> None:
        """Send a frame of ``command`` on the newest connection."""
        transport = self.transports[-1]
        transport.deliver(transport.server.frame(command, code, body))

    def commands(self) -> list[int]:
        """Commands received, keep-alive pings left out."""
        return [r.command for r in self.requests if r.command != Command.PING]


class MemoryTransport:
    """A transport to the fake server: messages are delivered from the event loop, as a socket's would be."""

    def __init__(self, server: FakeServer) -> None:
        self.owner = server
        self.server = ServerConnection()
        self.closed = False
        self.on_message: Callable[[bytes | memoryview], None] | None = None
        self.on_close: Callable[[str], None] | None = None

    def start(self, on_message: Callable[[bytes | memoryview], None], on_close: Callable[[str], None],
              on_large: object = None) -> None:
        self.on_message, self.on_close = on_message, on_close  # messages come whole

    def deliver(self, message: bytes) -> None:
        if not self.closed:
            asyncio.get_running_loop().call_soon(self._receive, message)

    def _receive(self, message: bytes) -> None:
        if not self.closed and self.on_message is not None:
            self.on_message(message)

    def send(self, message: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("closed")
        self.owner.handle(self, message)

    async def close(self) -> None:
        self.cut()

    def abort(self) -> None:
        self.cut()

    def cut(self) -> None:
        """Simulate a network failure."""
        if not self.closed:
            self.closed = True
            if self.on_close is not None:
                asyncio.get_running_loop().call_soon(self.on_close, "connection reset")


def hold_all(server: FakeServer, request: RequestFrame) -> None:
    return None


async def logged_in(server: FakeServer, **kwargs: Any) -> Session:
    options: dict[str, Any] = {"connector": server.connect, "reconnect_delays": lambda: backoff(0, 1, 0, 0),
                               "keepalive_interval": 3600.0}
    options.update(kwargs)
    session = Session("ws://fake/terminal", **options)
    await session.login(123, "hunter2")
    return session


# --- the asyncio shell --------------------------------------------------------------------------------


async def test_a_second_request_of_a_command_waits_for_the_first_answer() -> None:
    server = FakeServer(hold_all)
    session = await logged_in(server)
    first = asyncio.create_task(session.request(Command.RATES, b"1"))
    second = asyncio.create_task(session.request(Command.RATES, b"2"))
    other = asyncio.create_task(session.request(Command.ACCOUNT))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert server.commands()[-2:] == [Command.RATES, Command.ACCOUNT]  # "2" not transmitted yet
    server.answer(Command.RATES, b"one")
    assert (await first).body == b"one"
    server.answer(Command.RATES, b"two")
    assert (await second).body == b"two"
    assert [r.payload for r in server.requests if r.command == Command.RATES] == [b"1", b"2"]
    server.answer(Command.ACCOUNT, b"acc")
    assert (await other).body == b"acc"
    await session.close(logout=False)


async def test_a_late_answer_completes_the_next_request_as_the_spec_says() -> None:
    server = FakeServer(hold_all)
    session = await logged_in(server)
    first = asyncio.create_task(session.request(Command.RATES, b"1", timeout=0.05))
    second = asyncio.create_task(session.request(Command.RATES, b"2"))
    with pytest.raises(RequestTimeout):
        await first
    server.answer(Command.RATES, b"late answer to 1")
    assert (await second).body == b"late answer to 1"
    await session.close(logout=False)


async def test_a_shorter_timeout_behind_a_longer_one_expires_on_time() -> None:
    server = FakeServer(hold_all)
    session = await logged_in(server)
    slow = asyncio.create_task(session.request(Command.RATES, b"1", timeout=3600.0))
    quick = asyncio.create_task(session.request(Command.ACCOUNT, timeout=0.05))
    with pytest.raises(RequestTimeout):
        await quick
    assert not slow.done()
    server.answer(Command.RATES, b"one")
    assert (await slow).body == b"one"
    await session.close(logout=False)


async def test_the_deadline_timer_moves_on_to_the_next_request_after_expiring_one() -> None:
    server = FakeServer(hold_all)
    session = await logged_in(server)
    first = asyncio.create_task(session.request(Command.RATES, timeout=0.02))
    second = asyncio.create_task(session.request(Command.ACCOUNT, timeout=0.05))
    answered = asyncio.create_task(session.request(Command.SYMBOLS, timeout=3600.0))
    results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)  # not a hang
    assert [type(r) for r in results] == [RequestTimeout, RequestTimeout]
    server.answer(Command.SYMBOLS, b"still there")
    assert (await answered).body == b"still there"
    await session.close(logout=False)


async def test_a_cancelled_callers_request_still_expires_and_frees_its_command() -> None:
    second_sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def note_second(server: FakeServer, request: RequestFrame) -> None:
        if request.payload == b"2":
            second_sent.set_result(None)

    server = FakeServer(note_second)
    session = await logged_in(server)
    first = asyncio.create_task(session.request(Command.RATES, b"1", timeout=0.05))
    second = asyncio.create_task(session.request(Command.RATES, b"2"))
    await asyncio.sleep(0)
    first.cancel()  # nobody waits for "1" any more, but it is in flight: it must still time out
    await second_sent
    server.answer(Command.RATES, b"two")
    assert (await second).body == b"two"
    await session.close(logout=False)


async def test_a_drop_fails_waiters_and_marks_only_sent_trade_requests_unknown() -> None:
    server = FakeServer(hold_all)
    session = await logged_in(server, reconnect=False)
    sent_trade = asyncio.create_task(session.request(Command.TRADE_REQUEST, b"t1"))
    queued_trade = asyncio.create_task(session.request(Command.TRADE_REQUEST, b"t2"))
    read = asyncio.create_task(session.request(Command.ACCOUNT))
    await asyncio.sleep(0)
    server.transports[-1].cut()
    results = await asyncio.gather(sent_trade, queued_trade, read, return_exceptions=True)
    assert all(isinstance(r, ConnectionLost) for r in results)
    assert [r.outcome_unknown for r in results if isinstance(r, ConnectionLost)] == [True, False, False]
    assert session.state is SessionState.DISCONNECTED
    with pytest.raises(NotConnected):
        await session.request(Command.ACCOUNT)


async def test_reconnect_sends_the_previous_token_and_the_password_blob() -> None:
    server = FakeServer()
    session = await logged_in(server)
    ready: asyncio.Future[ConnectionState] = asyncio.get_running_loop().create_future()
    session.add_state_listener(lambda e: ready.done() or e.state is not SessionState.READY or ready.set_result(e))
    server.transports[-1].cut()
    await ready
    assert server.tokens == [bytes(64), bytes([1]) * 64]
    first, second = server.logins
    assert first["password"] == "hunter2" and not any(first["password_blob"]) and first["session"] == 0
    assert second["password"] == "" and second["password_blob"] == b"\x07" * 160 and second["session"] == 99
    assert "hunter2" not in repr(session) and "hunter2" not in repr(session._credentials)
    await session.close()


async def test_the_keepalive_closes_a_dead_link() -> None:
    answered = 0

    def pings(server: FakeServer, request: RequestFrame) -> list[tuple[int, int, bytes]] | None:
        nonlocal answered
        if request.command == Command.PING and answered < 2:
            answered += 1
            return [(Command.PING, 0, b"")]
        return None if request.command == Command.PING else [(request.command, 0, b"")]

    server = FakeServer(pings)
    states: list[ConnectionState] = []
    down: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_state(event: ConnectionState) -> None:
        states.append(event)
        if event.state is SessionState.DISCONNECTED and not down.done():
            down.set_result(None)

    session = Session("ws://fake/terminal", connector=server.connect, keepalive_interval=0.02, dead_after=0.1,
                      reconnect=False)
    session.add_state_listener(on_state)
    await session.login(1, "pw")
    await down
    assert "dead link" in states[-1].reason
    assert session.latency is not None


async def test_login_hook_runs_in_syncing_and_errors_leave_the_session_usable() -> None:
    server = FakeServer()
    session = Session("ws://fake/terminal", connector=server.connect, keepalive_interval=3600.0)
    seen: list[SessionState] = []

    async def hook(reconnect: bool) -> None:
        seen.append(session.state)
        await session.request(Command.ACCOUNT)

    session.on_login = hook
    await session.login(1, "pw")
    assert seen == [SessionState.SYNCING] and session.state is SessionState.READY
    assert server.commands()[-1] == Command.ACCOUNT
    await session.close()
    assert session.state is SessionState.CLOSED
    await session.close()  # idempotent
