"""Fixtures for the simulator tests: a manual-clock simulator and a tiny client made of the wire layer only.

The :class:`WireClient` deliberately knows nothing but the wire layer (frames + message builders and
readers) so these tests check the simulator against the SPEC, not against the client library.
Every wait is bounded (``TIMEOUT``) and tests synchronise on received frames or on ``sim.advance()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection as WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import TOKEN_SIZE, ClientConnection, ResponseFrame

TIMEOUT = 5.0
#: A Wednesday, 10:00 UTC: every default symbol is quoted and tradable.
START_MS = int(datetime(2026, 3, 4, 10, 0, tzinfo=UTC).timestamp() * 1000)


class Closed(Exception):
    """The server closed the connection while a frame was awaited."""


class WireClient:
    """One connection to the simulator: send requests, read every server frame in arrival order.

    Frames are read by a background task into a buffer; :meth:`next` takes the oldest one (optionally
    the oldest of one command id, leaving the others in place). A frame that does not decrypt is kept
    as a :class:`ProtocolError` and raised by :meth:`next`.
    """

    def __init__(self, ws: WebSocket, conn: ClientConnection) -> None:
        self.ws = ws
        self.conn = conn
        self._buffer: list[ResponseFrame | ProtocolError] = []
        self._arrived = asyncio.Condition()
        self._closed = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(
        cls, url: str, *, token: bytes | None = None, ssl_context: ssl.SSLContext | None = None,
        bootstrap: bool = True,
    ) -> WireClient:
        ws = await connect(url, ssl=ssl_context, compression=None, ping_interval=None, open_timeout=TIMEOUT)
        client = cls(ws, ClientConnection(token=token or bytes(TOKEN_SIZE)))
        if bootstrap:
            await client.bootstrap()
        return client

    async def bootstrap(self) -> ResponseFrame:
        await self.ws.send(self.conn.bootstrap())
        frame = await self.next(Command.BOOTSTRAP)
        assert self.conn.ready
        return frame

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                assert isinstance(message, bytes), "the simulator sends binary messages only"
                item: ResponseFrame | ProtocolError
                try:
                    item = self.conn.receive(message)
                except ProtocolError as exc:
                    item = exc
                async with self._arrived:
                    self._buffer.append(item)
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            async with self._arrived:
                self._closed = True
                self._arrived.notify_all()

    async def send(self, command: int, payload: bytes = b"") -> None:
        """Send one request without waiting."""
        await self.ws.send(self.conn.request(command, payload))

    async def send_raw(self, message: bytes) -> None:
        """Send bytes as they are (for malformed frames)."""
        await self.ws.send(message)

    async def next(self, command: int | None = None, timeout: float = TIMEOUT) -> ResponseFrame:
        """The oldest unread frame (of ``command`` when given).

        Raises:
            ProtocolError: that frame did not decrypt.
            Closed: the connection closed first.
            TimeoutError: nothing arrived within ``timeout``.
        """

        def pick() -> ResponseFrame | ProtocolError | None:
            for i, item in enumerate(self._buffer):
                if command is None or isinstance(item, ProtocolError) or item.command == command:
                    return self._buffer.pop(i)
            return None

        async with asyncio.timeout(timeout), self._arrived:
            while True:
                item = pick()
                if item is not None:
                    if isinstance(item, ProtocolError):
                        raise item
                    return item
                if self._closed:
                    raise Closed(f"connection closed while waiting for command {command}")
                await self._arrived.wait()

    def pending(self, command: int | None = None) -> list[ResponseFrame]:
        """Frames received but not read yet (of ``command`` when given), without consuming them."""
        return [f for f in self._buffer if isinstance(f, ResponseFrame) and command in (None, f.command)]

    async def request(self, command: int, payload: bytes = b"") -> ResponseFrame:
        """Send a request and return the next frame with its command id."""
        await self.send(command, payload)
        return await self.next(command)

    async def login(self, login: int, password: str, *, otp: str = "", session: int = 0) -> ResponseFrame:
        return await self.request(Command.LOGIN, msg.build_login_request(login, password, otp=otp, session=session))

    async def wait_closed(self) -> None:
        async with asyncio.timeout(TIMEOUT):
            await self._reader

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


WireClientFactory = Callable[..., Awaitable[WireClient]]


@pytest.fixture
def start_ms() -> int:
    return START_MS


@pytest.fixture
async def sim(start_ms: int) -> AsyncIterator[Any]:
    """A simulator on a free port with a manual clock at :data:`START_MS`, seed 1."""
    from pymt5_core.sim import SimServer, VirtualClock

    async with SimServer(seed=1, clock=VirtualClock.manual(start_ms)) as server:
        yield server


@pytest.fixture
async def wire_client(sim: Any) -> AsyncIterator[WireClientFactory]:
    """Open bootstrapped :class:`WireClient` connections to ``sim`` (closed at the end of the test).

    Call it as ``await wire_client()`` for an anonymous connection, or ``await wire_client(login=True)``
    for one logged in to the demo account.
    """
    clients: list[WireClient] = []

    async def factory(*, login: bool = False, url: str | None = None, **kwargs: Any) -> WireClient:
        client = await WireClient.open(url or sim.url, **kwargs)
        clients.append(client)
        if login:
            frame = await client.login(sim.demo_account.login, sim.demo_account.password)
            assert frame.code == 0, frame
        return client

    yield factory
    for client in clients:
        await client.close()
