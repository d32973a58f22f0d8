"""The asyncio shell around one simulated connection: read, decrypt, dispatch, fault, write.

:class:`SimConnection` is the ``websockets`` handler of one client. It owns the sans-I/O pieces of the
connection (the :class:`~pymt5_core.wire.frames.ServerConnection` crypto state and the
:class:`~pymt5_core.sim.session.Session` protocol logic) and adds only what needs an event loop:

* one reader loop that decrypts every message in arrival order (the bootstrap is answered inline, so
  the session key is installed before the next message is decrypted);
* one worker task per command id, so requests of one id are answered in order while different ids
  interleave (SPEC §2.9) and a delayed command does not hold up the others;
* one writer task fed by a queue: every frame is encrypted when it is queued, so the order of
  :meth:`push` / answer calls is the order on the wire, and :meth:`flush` waits until everything queued
  so far has been handed to the socket.

A message that cannot be decrypted or parsed closes this connection only (close code 1002).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from websockets.asyncio.server import ServerConnection as WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from pymt5_core.errors import ProtocolError
from pymt5_core.sim.engine.events import EngineEvent
from pymt5_core.sim.faults import ConnectionFaults
from pymt5_core.sim.session import HANDLED_COMMANDS, Reply, Session, SessionContext
from pymt5_core.wire.frames import TOKEN_SIZE, RequestFrame, ServerConnection
from pymt5_core.wire.messages import read_bootstrap_request

__all__ = ["MAX_QUEUED_FRAMES", "SimConnection"]

#: Frames a connection may have waiting to be written; a client that falls further behind is dropped.
MAX_QUEUED_FRAMES = 50_000

_log = logging.getLogger("pymt5_core.sim")


class _Drop:
    """Writer-queue marker: abort the connection once everything before it is written."""


_DROP = _Drop()


class ConnectionHost(SessionContext, Protocol):
    """What a connection needs from its server besides the session services."""

    received: Counter[int]

    def new_faults(self) -> ConnectionFaults: ...
    def bootstrap_token(self, token: bytes) -> bytes: ...
    def route(self, events: Iterable[EngineEvent]) -> object: ...
    def closed(self, connection: SimConnection) -> None: ...


class SimConnection:
    """One client connection of the simulator (see the module docstring).

    Args:
        host: the server.
        websocket: the accepted WebSocket.
        number: a small id used in log lines.
    """

    def __init__(self, host: ConnectionHost, websocket: WebSocket, number: int) -> None:
        self.number = number
        self.log = logging.LoggerAdapter(_log, {"conn": number})
        self._host = host
        self._ws = websocket
        self._wire = ServerConnection()
        self._faults = host.new_faults()
        self.session = Session(host, self.log, _peer_address(websocket))
        self._out: asyncio.Queue[bytes | asyncio.Future[None] | _Drop] = asyncio.Queue()
        self._workers: dict[int, asyncio.Queue[RequestFrame]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[tuple[int, bytes]] = []
        self._closing = False

    def __repr__(self) -> str:
        return f"<SimConnection #{self.number} {self.session!r}>"

    @property
    def is_open(self) -> bool:
        """False once the connection is closing or closed."""
        return not self._closing

    # --- life cycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the peer leaves or a fault or protocol error ends it."""
        writer = asyncio.create_task(self._write_loop(), name=f"sim-conn{self.number}-writer")
        try:
            async for message in self._ws:
                if isinstance(message, str):
                    self.log.warning("text message ignored (the protocol is binary only)")
                    continue
                try:
                    request = self._wire.receive(message)
                except ProtocolError as exc:
                    self.log.warning("closing: undecryptable or malformed frame (%s)", exc)
                    self._closing = True
                    await self._ws.close(CloseCode.PROTOCOL_ERROR, "malformed frame")
                    return
                self._host.received[request.command] += 1
                if self._faults.on_received(request.command):
                    self.log.info("fault: dropping on receipt of command %d", request.command)
                    self._abort()
                    return
                if not self._wire.ready:
                    await self._bootstrap(request)
                else:
                    self._dispatch(request)
        except ConnectionClosed:
            pass
        finally:
            self._closing = True
            for task in self._tasks:
                task.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._release_flush_waiters()
            self._host.closed(self)
            self.log.debug("connection closed")

    async def _bootstrap(self, request: RequestFrame) -> None:
        token = read_bootstrap_request(request.payload) if len(request.payload) == TOKEN_SIZE else bytes(TOKEN_SIZE)
        new_token = self._host.bootstrap_token(token)
        faults = self._faults.response_faults(request.command)
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.drop_unanswered:
            self.log.info("fault: dropping instead of answering the bootstrap")
            self._abort()
            return
        self._queue(request.command, self._wire.accept_bootstrap(request, new_token, os.urandom(32)))
        if faults.drop_after:
            self._out.put_nowait(_DROP)

    def _dispatch(self, request: RequestFrame) -> None:
        # Unsupported ids share one worker: still in order per id, and a peer cycling through thousands
        # of ids cannot make the connection spawn thousands of tasks.
        key = request.command if request.command in HANDLED_COMMANDS else -1
        queue = self._workers.get(key)
        if queue is None:
            queue = self._workers[key] = asyncio.Queue()
            task = asyncio.create_task(self._work(queue), name=f"sim-conn{self.number}-cmd{key}")
            self._tasks.add(task)
        queue.put_nowait(request)

    async def _work(self, queue: asyncio.Queue[RequestFrame]) -> None:
        while True:
            request = await queue.get()
            reply = self._handle(request)
            faults = self._faults.response_faults(request.command)
            if faults.delay or reply.delay:
                await asyncio.sleep(max(faults.delay, reply.delay))
            if self._closing:
                return
            if faults.drop_unanswered:
                # Handled (a trade executed) but the link dies before the answer: its events still reach
                # the account's other connections, never this one.
                self.log.info("fault: dropping instead of answering command %d", request.command)
                self._abort()
            else:
                self._answer(request, reply, hold=faults.hold)
            if reply.events:
                try:
                    self._host.route(reply.events)
                except Exception:  # an unencodable event must not kill this command's worker
                    self.log.exception("could not deliver the events of command %d", request.command)
            if faults.drop_after:
                self.log.info("fault: dropping after answering command %d", request.command)
                self._out.put_nowait(_DROP)

    def _handle(self, request: RequestFrame) -> Reply:
        try:
            return self.session.handle(request)
        except Exception:  # a bug must cost one answer, never the server
            self.log.exception("internal error handling command %d", request.command)
            return Reply(1)

    # --- writing ------------------------------------------------------------------------------------

    def push(self, command: int, body: bytes) -> None:
        """Queue a push frame (reserved bytes zero)."""
        if not self._closing:
            self._queue(command, self._wire.push(command, body))

    def push_many(self, frames: Iterable[tuple[int, bytes]]) -> None:
        """Queue several push frames, in order."""
        for command, body in frames:
            self.push(command, body)

    async def flush(self) -> None:
        """Wait until every frame queued so far has been written to the socket (or the connection died)."""
        if self._closing:
            return
        done = asyncio.get_running_loop().create_future()
        self._out.put_nowait(done)
        await done

    def _answer(self, request: RequestFrame, reply: Reply, *, hold: bool) -> None:
        message = self._wire.respond(request, reply.code, reply.body)
        if hold:
            self.log.info("fault: holding the answer to command %d", request.command)
            self._held.append((request.command, message))
            return
        self._queue(request.command, message)
        held, self._held = self._held, []
        for command, earlier in held:
            self._queue(command, earlier)
        self.push_many(reply.pushes)

    def _queue(self, command: int, message: bytes) -> None:
        if self._closing:
            return
        message, drop = self._faults.on_sent(command, message)
        self._out.put_nowait(message)
        if drop:
            self.log.info("fault: dropping after sending a frame of command %d", command)
            self._out.put_nowait(_DROP)
        elif self._out.qsize() > MAX_QUEUED_FRAMES:
            self.log.warning("client too slow (%d frames queued): dropping", self._out.qsize())
            self._out.put_nowait(_DROP)

    async def _write_loop(self) -> None:
        send = self._ws.send
        while True:
            item = await self._out.get()
            if isinstance(item, bytes):
                try:
                    await send(item)
                except ConnectionClosed:
                    self._closing = True
                    self._release_flush_waiters()
                    return
            elif isinstance(item, _Drop):
                self._abort()
                self._release_flush_waiters()
                return
            elif not item.done():
                item.set_result(None)

    def _release_flush_waiters(self) -> None:
        while not self._out.empty():
            item = self._out.get_nowait()
            if isinstance(item, asyncio.Future) and not item.done():
                item.set_result(None)

    def _abort(self) -> None:
        """Cut the TCP connection without a closing handshake, as a network failure would."""
        self._closing = True
        transport = self._ws.transport
        if transport is not None:
            transport.abort()


def _peer_address(websocket: WebSocket) -> str:
    """The client's IP address ("" when the transport does not tell)."""
    try:
        address = websocket.remote_address
    except Exception:  # a closed or unusual transport
        return ""
    return str(address[0]) if isinstance(address, tuple) and address else str(address or "")
