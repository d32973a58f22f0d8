"""The client's WebSocket transport: against a websockets server over loopback, and fed byte by byte."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from pymt5_core.transport import WebSocketTransport, open_websocket

Handler = Callable[[ServerConnection], Awaitable[None]]


class Inbox:
    """What a transport delivered: copies of its messages and the close reason."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._wanted = 0
        self._enough: asyncio.Future[None] | None = None

    def on_message(self, message: bytes | memoryview) -> None:
        self.messages.append(bytes(message))
        if self._enough is not None and len(self.messages) >= self._wanted and not self._enough.done():
            self._enough.set_result(None)

    def on_close(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)

    async def wait_for(self, count: int) -> list[bytes]:
        if len(self.messages) < count:
            self._wanted, self._enough = count, asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self._enough, 10)
        return self.messages


async def connect(handler: Handler, **server: Any) -> tuple[WebSocketTransport, Inbox, Any]:
    ws_server = await serve(handler, "127.0.0.1", 0, compression=None, **server)
    port = ws_server.sockets[0].getsockname()[1]
    transport = await open_websocket(f"ws://127.0.0.1:{port}/terminal", origin="https://127.0.0.1", ssl=None,
                                     open_timeout=5.0, user_agent="pymt5-core tests")
    inbox = Inbox()
    transport.start(inbox.on_message, inbox.on_close)
    return transport, inbox, ws_server


@pytest.fixture
async def servers() -> AsyncIterator[list[Any]]:
    started: list[Any] = []
    yield started
    for server in started:
        server.close()
        await server.wait_closed()


def payloads(seed: int) -> list[bytes]:
    """Messages of every header form: 7-bit, 16-bit and 64-bit lengths, the edges of each, and megabytes."""
    rng = random.Random(seed)
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, 300_000, 3_000_000, 17, 2_000_000, 5]
    return [rng.randbytes(n) for n in sizes]


async def test_messages_of_every_size_arrive_whole_and_in_order(servers: list[Any]) -> None:
    sent = payloads(1)

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        for message in sent:
            await ws.send(message)
        await ws.wait_closed()

    transport, inbox, server = await connect(handler)
    servers.append(server)
    transport.send(b"go")
    assert await inbox.wait_for(len(sent)) == sent
    await transport.close()


async def test_requests_reach_the_server_as_binary_messages(servers: list[Any]) -> None:
    heard: asyncio.Queue[Any] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            heard.put_nowait(message)

    transport, _, server = await connect(handler)
    servers.append(server)
    for message in (b"\x01" * 10, b"\x02" * 70_000):
        transport.send(message)
        assert await asyncio.wait_for(heard.get(), 10) == message
    await transport.close()


async def test_fragmented_binary_messages_are_assembled_and_text_is_ignored(servers: list[Any]) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("a text message")
        await ws.send([b"frag", b"mented", b"!" * 200_000])
        await ws.send(b"after")
        await ws.wait_closed()

    transport, inbox, server = await connect(handler)
    servers.append(server)
    transport.send(b"go")
    assert await inbox.wait_for(2) == [b"fragmented" + b"!" * 200_000, b"after"]
    await transport.close()


async def test_a_ping_from_the_server_is_answered(servers: list[Any]) -> None:
    answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        answered.set_result(await asyncio.wait_for(await ws.ping(b"are you there"), 10))
        await ws.send(b"still here")
        await ws.wait_closed()

    transport, inbox, server = await connect(handler)
    servers.append(server)
    transport.send(b"go")
    assert await inbox.wait_for(1) == [b"still here"]
    assert answered.result() >= 0
    await transport.close()


async def test_a_close_from_the_server_reports_its_code_and_reason(servers: list[Any]) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(1002, "protocol violation")

    transport, inbox, server = await connect(handler)
    servers.append(server)
    transport.send(b"go")
    reason = await asyncio.wait_for(inbox.closed, 10)
    assert "1002" in reason and "protocol violation" in reason
    assert not transport.is_open
    with pytest.raises(ConnectionError):
        transport.send(b"too late")


async def test_closing_from_the_client_runs_the_closing_handshake(servers: list[Any]) -> None:
    codes: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.set_result(ws.close_code)

    transport, inbox, server = await connect(handler)
    servers.append(server)
    await transport.close()
    assert await asyncio.wait_for(codes, 10) == 1000
    assert "1000" in await asyncio.wait_for(inbox.closed, 10)


async def test_a_cut_connection_is_reported(servers: list[Any]) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        ws.transport.abort()

    transport, inbox, server = await connect(handler)
    servers.append(server)
    transport.send(b"go")
    assert "closed" in await asyncio.wait_for(inbox.closed, 10) or not transport.is_open


async def test_a_message_over_max_size_fails_the_connection_with_1009(servers: list[Any]) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(bytes(2000))
        await ws.wait_closed()

    ws_server = await serve(handler, "127.0.0.1", 0, compression=None)
    servers.append(ws_server)
    port = ws_server.sockets[0].getsockname()[1]
    transport = await open_websocket(f"ws://127.0.0.1:{port}", origin="https://127.0.0.1", ssl=None,
                                     open_timeout=5.0, user_agent="tests", max_size=1000)
    inbox = Inbox()
    transport.start(inbox.on_message, inbox.on_close)
    transport.send(b"go")
    assert "1009" in await asyncio.wait_for(inbox.closed, 10)
    assert inbox.messages == []


async def test_a_refused_handshake_raises_invalid_status(servers: list[Any]) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(403, "not here\n")

    async def handler(ws: ServerConnection) -> None:
        return None

    ws_server = await serve(handler, "127.0.0.1", 0, process_request=refuse)
    servers.append(ws_server)
    port = ws_server.sockets[0].getsockname()[1]
    with pytest.raises(InvalidStatus) as info:
        await open_websocket(f"ws://127.0.0.1:{port}", origin="https://x", ssl=None, open_timeout=5.0,
                             user_agent="tests")
    assert info.value.response.status_code == 403


async def test_the_handshake_sends_origin_and_user_agent(servers: list[Any]) -> None:
    seen: asyncio.Future[Request] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.set_result(ws.request)
        await ws.wait_closed()

    transport, _, server = await connect(handler)
    servers.append(server)
    request = await asyncio.wait_for(seen, 10)
    assert request.headers["Origin"] == "https://127.0.0.1"
    assert request.headers["User-Agent"] == "pymt5-core tests"
    assert request.path == "/terminal"
    await transport.close()


# --- fed byte by byte, without a socket --------------------------------------------------------------


class Wire(asyncio.Transport):
    """The socket under a transport in a unit test: it keeps what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def feed(transport: WebSocketTransport, data: bytes, chunks: list[int]) -> None:
    """Hand ``data`` to the transport in reads of the given sizes, as asyncio's buffered reads do."""
    pos, i = 0, 0
    while pos < len(data):
        buffer = transport.get_buffer(-1)
        n = min(chunks[i % len(chunks)], len(buffer), len(data) - pos)
        buffer[:n] = data[pos:pos + n]
        transport.buffer_updated(n)
        pos, i = pos + n, i + 1


def server_stream(request_bytes: bytes, frames: list[Frame]) -> bytes:
    """What a websockets server sends: the handshake response to ``request_bytes``, then ``frames``."""
    server = ServerProtocol()
    server.receive_data(request_bytes)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    for frame in frames:
        server.send_frame(frame)
    return b"".join(server.data_to_send())


class Pieces:
    """A receiver's handler of large messages: it keeps the pieces each one arrives in."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.sizes: list[int] = []
        self.pieces: list[int] = []

    def __call__(self, size: int) -> Pieces:
        self.sizes.append(size)
        self.data = bytearray()
        return self

    def feed(self, chunk: memoryview) -> None:
        self.pieces.append(len(chunk))
        self.data += chunk

    def end(self) -> None:
        assert len(self.data) == self.sizes[-1]
        self.inbox.on_message(bytes(self.data))


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("chunks", [[1], [2, 3], [7, 1, 13], [4096], [1 << 20]])
async def test_frames_split_anywhere_between_reads_arrive_intact(chunks: list[int], streamed: bool) -> None:
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    transport = WebSocketTransport(ClientProtocol(parse_uri("ws://h/terminal")), "tests", 1 << 30, 1.0)
    wire = Wire()
    transport.connection_made(wire)
    messages = [*payloads(2)[:9], b"tail"]
    frames = [Frame(Opcode.BINARY, m) for m in messages[:4]]
    frames += [Frame(Opcode.TEXT, b"ignored"), Frame(Opcode.PING, b"p")]
    frames += [Frame(Opcode.BINARY, m) for m in messages[4:]]
    stream = server_stream(bytes(wire.written), frames)
    wire.written.clear()
    inbox = Inbox()
    pieces = Pieces(inbox)
    transport.start(inbox.on_message, inbox.on_close, pieces if streamed else None)
    feed(transport, stream, chunks)
    assert transport.opened.done() and transport.is_open
    assert inbox.messages == messages
    if streamed:  # every message longer than a read came through the handler, piece by piece
        assert 300_000 in pieces.sizes and all(0 < p <= max(max(chunks), 1 << 18) for p in pieces.pieces)
    assert bytes(wire.written).startswith(b"\x8a")  # the pong, masked as a client's frames are


async def test_a_binary_frame_inside_a_fragmented_message_fails_the_connection() -> None:
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    transport = WebSocketTransport(ClientProtocol(parse_uri("ws://h/terminal")), "tests", 1 << 30, 1.0)
    wire = Wire()
    transport.connection_made(wire)
    frames = [Frame(Opcode.BINARY, b"first part", fin=False), Frame(Opcode.BINARY, b"not a continuation")]
    stream = server_stream(bytes(wire.written), frames)
    wire.written.clear()
    inbox = Inbox()
    transport.start(inbox.on_message, inbox.on_close)
    feed(transport, stream, [4096])
    assert inbox.messages == []
    assert bytes(wire.written).startswith(b"\x88")  # a close frame: websockets failed the connection
    assert not transport.is_open
