"""The client's WebSocket: websockets' sans-I/O protocol driven by an asyncio buffered protocol.

websockets' asyncio client copies each incoming message three times and wakes a task for each; bars pages
are megabytes and a market order's answer is five messages. So this module drives websockets'
:class:`~websockets.client.ClientProtocol` itself. The opening and closing handshakes, pings, text and
fragmented messages, masking, size limits and protocol errors stay websockets' work; one case is taken off
its hands: a whole unmasked binary frame, the only kind an MT5 access server sends. Its 2-10 byte header is
read here. Its payload lands, by the kernel's copy, in one read buffer (an :class:`asyncio.BufferedProtocol`
chooses the memory each read goes to); a message that does not fit one read is handed on piece by piece as
it arrives, to a :class:`LargeMessage` of the receiver's (the session decrypts it while it is still in the
CPU's cache) or, by default, gathered in a kept buffer. Every other frame is fed to websockets byte for
byte, so its parser is at a frame boundary whenever a header is read here.

Messages are handed to the session from the event loop's read callback and sends are written at once, so no
task sits between the socket and the session. docs/transport.md has the measurements and the limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl as ssl_module
from collections.abc import Callable
from typing import Protocol

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN, State
from websockets.typing import Origin
from websockets.uri import parse_uri

__all__ = ["CloseHandler", "LargeHandler", "LargeMessage", "MessageHandler", "WebSocketTransport", "open_websocket"]

#: Called with every binary message. A large one comes as a view on the transport's receive buffer, valid
#: until the handler returns: a handler that keeps a message copies it (the session decrypts it at once).
MessageHandler = Callable[[bytes | memoryview], None]
#: Called once when the connection is gone, with the reason.
CloseHandler = Callable[[str], None]


class LargeMessage(Protocol):
    """One message too long for a single read, taken in as its bytes arrive."""

    def feed(self, chunk: memoryview) -> None:
        """The next bytes of the message (a view valid during the call)."""

    def end(self) -> None:
        """Every byte has been fed."""


#: Called when a message too long for one read starts, with its length; returns what takes its bytes.
LargeHandler = Callable[[int], LargeMessage]

_SCRATCH = 1 << 18  # the read buffer for headers and messages that arrive whole in one read
_KEEP_LARGE = 1 << 24  # a large-message buffer up to this size is kept for the next one (no fresh pages)
_MAX_HANDSHAKE = 1 << 16
_FIN_BINARY = 0x82  # FIN set, RSV bits clear, opcode 2


async def open_websocket(
    url: str,
    *,
    origin: str,
    ssl: ssl_module.SSLContext | None,
    open_timeout: float,
    user_agent: str,
    max_size: int = 2**31 - 1,
    close_timeout: float = 2.0,
) -> WebSocketTransport:
    """Open a TCP (or TLS) connection to ``url`` and run the WebSocket opening handshake.

    Raises:
        websockets.exceptions.InvalidHandshake: the server refused the upgrade (e.g. ``InvalidStatus``).
        websockets.exceptions.InvalidURI: ``url`` is not a ws:// or wss:// URL.
        OSError: the connection failed (TLS verification failures are ``ssl.SSLError``).
        TimeoutError: no handshake within ``open_timeout`` seconds.
    """
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, origin=Origin(origin), max_size=max_size)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(open_timeout):
        _, transport = await loop.create_connection(
            lambda: WebSocketTransport(protocol, user_agent, max_size, close_timeout),
            uri.host,
            uri.port,
            ssl=ssl if uri.secure else None,
            server_hostname=uri.host if uri.secure else None,
        )
        try:
            await transport.opened
        except BaseException:
            transport.abort()
            raise
    return transport


class WebSocketTransport(asyncio.BufferedProtocol):
    """One client WebSocket connection (see the module docstring).

    Args:
        protocol: a fresh websockets client protocol (state CONNECTING).
        user_agent: the ``User-Agent`` header of the handshake.
        max_size: the largest message accepted, in bytes.
        close_timeout: seconds the closing handshake may take before the connection is cut.
    """

    def __init__(self, protocol: ClientProtocol, user_agent: str, max_size: int, close_timeout: float) -> None:
        self._ws = protocol
        self._user_agent = user_agent
        self._max_size = max_size
        self._close_timeout = close_timeout
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._transport: asyncio.Transport | None = None
        # Bytes read and not yet parsed are scratch[start:end]; a payload longer than what a read brought in
        # is read straight into a buffer of its own (payload[:filled] is in), kept for the next one.
        self._scratch = bytearray(_SCRATCH)
        self._view = memoryview(self._scratch)
        self._start = self._end = 0
        self._large = bytearray()
        self._stream: LargeMessage | None = None
        self._remaining = 0  # bytes of the large message still to come
        self._passthrough = 0  # bytes of the current frame still to feed to websockets
        self._fragmented = False  # websockets is assembling a fragmented message
        self._fragments: list[bytes | bytearray | memoryview] = []
        self._binary = True
        self._cut_scheduled = False
        self._on_message: MessageHandler | None = None
        self._on_large: LargeHandler = self._collect
        self._on_close: CloseHandler | None = None
        self._early: list[bytes | memoryview] = []
        self._close_reason = ""

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self._ws.uri.host}:{self._ws.uri.port} {self._ws.state.name}>"

    # --- the session's side -------------------------------------------------------------------------

    def start(self, on_message: MessageHandler, on_close: CloseHandler, on_large: LargeHandler | None = None) -> None:
        """Deliver messages (those that arrived before included) and the end of the connection from now on.

        With ``on_large``, a message longer than one read is fed to what it returns as its bytes arrive
        (still warm from the socket); without, it is collected and delivered whole to ``on_message``.
        """
        self._on_message, self._on_close = on_message, on_close
        if on_large is not None:
            self._on_large = on_large
        early, self._early = self._early, []
        for message in early:
            on_message(message)
        if self._lost.done():
            on_close(self._close_reason)

    @property
    def is_open(self) -> bool:
        """True while messages can be sent."""
        return self._ws.state is OPEN and self._transport is not None and not self._transport.is_closing()

    def send(self, message: bytes) -> None:
        """Write one binary message to the socket now (it never waits: requests are small).

        Raises:
            ConnectionError: the connection is closing or closed.
        """
        if not self.is_open:
            raise ConnectionError(f"WebSocket is {self._ws.state.name.lower()}")
        self._ws.send_binary(message)
        self._flush()

    async def close(self) -> None:
        """Run the closing handshake (code 1000) and wait until the TCP connection is gone."""
        if self._transport is None or self._lost.done():
            return
        if self._ws.state is OPEN:
            self._ws.send_close(1000)
            self._flush()
        try:
            async with asyncio.timeout(self._close_timeout):
                await asyncio.shield(self._lost)
        except TimeoutError:
            self.abort()
            await asyncio.shield(self._lost)

    def abort(self) -> None:
        """Cut the TCP connection at once."""
        if self._transport is not None:
            self._transport.abort()

    # --- asyncio's side -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        request = self._ws.connect()
        request.headers["User-Agent"] = self._user_agent
        self._ws.send_request(request)
        self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._end == _SCRATCH:
            self._compact()
        return self._view[self._end:]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        if self._ws.state is State.CONNECTING:
            self._handshake()
        else:
            self._parse()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._ws_events()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._ws.receive_eof()
        self._ws_events()
        if self._ws.state is State.CLOSED and exc is None:
            self._close_reason = f"WebSocket closed: {self._ws.close_exc}"
        else:
            self._close_reason = f"connection lost: {exc!r}" if exc else "connection closed by the server"
        if not self.opened.done():
            handshake = self._ws.handshake_exc
            self.opened.set_exception(handshake or ConnectionError(f"{self._close_reason} during the handshake"))
        self._lost.set_result(None)
        if self._on_close is not None:
            self._on_close(self._close_reason)

    # --- receiving ----------------------------------------------------------------------------------

    def _handshake(self) -> None:
        """Feed the HTTP response to websockets, exactly up to its end (frames may follow in the same read)."""
        end = self._scratch.find(b"\r\n\r\n", self._start, self._end)
        if end < 0:
            if self._end - self._start > _MAX_HANDSHAKE:
                self._fail_handshake(ConnectionError("handshake response too large"))
            return
        end += 4
        self._ws.receive_data(bytes(self._view[self._start:end]))
        self._start = end
        self._ws.events_received()
        self._flush()
        if self._ws.state is OPEN:
            self.opened.set_result(None)
            self._parse()
        elif self._ws.handshake_exc is not None:
            self._fail_handshake(self._ws.handshake_exc)
        else:  # a refusal with a body: websockets reads the rest and reports it
            self._passthrough = -1
            self._parse()

    def _fail_handshake(self, exc: BaseException) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()

    def _parse(self) -> None:
        """Split the bytes in scratch into frames: binary ones are delivered, the rest go to websockets."""
        scratch, view = self._scratch, self._view
        p, end = self._start, self._end
        while p < end:
            if self._stream is not None:
                n = min(self._remaining, end - p)
                self._stream.feed(view[p:p + n])
                p += n
                self._remaining -= n
                if not self._remaining:
                    stream, self._stream = self._stream, None
                    stream.end()
                continue
            if self._passthrough:
                n = end - p if self._passthrough < 0 else min(self._passthrough, end - p)
                self._ws.receive_data(bytes(view[p:p + n]))
                p += n
                if self._passthrough > 0:
                    self._passthrough -= n
                self._ws_events()
                continue
            if end - p < 2:
                break
            first, second = scratch[p], scratch[p + 1]
            length, header = second & 0x7F, 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if second & 0x80:
                header += 4  # a masked frame: a server must not send one, websockets will say so
            if end - p < header:
                break
            if length >= 126:
                length = int.from_bytes(view[p + 2:p + header], "big")
            if first != _FIN_BINARY or second & 0x80 or self._fragmented or length > self._max_size \
                    or self._ws.state is not OPEN:
                self._passthrough = header + length
                opcode = first & 0x0F
                if opcode in (Opcode.TEXT, Opcode.BINARY):
                    self._fragmented = not first & 0x80
                elif opcode == Opcode.CONT and first & 0x80:
                    self._fragmented = False
                continue
            p += header
            if end - p >= length:
                self._deliver(bytes(view[p:p + length]))
                p += length
                continue
            self._stream, self._remaining = self._on_large(length), length
        self._start = p
        if p == end:
            self._start = self._end = 0

    def _compact(self) -> None:
        remaining = self._end - self._start
        self._scratch[:remaining] = self._view[self._start:self._end]
        self._start, self._end = 0, remaining  # never full: _handshake caps the response below its size

    def _ws_events(self) -> None:
        """Act on what websockets parsed: data frames are assembled; it answers pings and closes itself."""
        for event in self._ws.events_received():
            if not isinstance(event, Frame):
                continue
            if event.opcode is Opcode.BINARY or event.opcode is Opcode.TEXT:
                self._binary, self._fragments = event.opcode is Opcode.BINARY, [event.data]
            elif event.opcode is Opcode.CONT:
                self._fragments.append(event.data)
            else:
                continue  # ping, pong, close: websockets has queued any answer
            if event.fin:
                message, self._fragments = b"".join(self._fragments), []
                if self._binary:
                    self._deliver(message)  # text messages are ignored (SPEC §2.1)
        self._flush()
        if self._ws.close_expected() and not self._cut_scheduled and not self._lost.done():
            self._cut_scheduled = True
            asyncio.get_running_loop().call_later(self._close_timeout, self._cut_if_open)

    def _cut_if_open(self) -> None:
        if not self._lost.done():
            self.abort()

    def _collect(self, length: int) -> LargeMessage:
        """Collect a large message in the kept buffer, for a receiver that takes messages whole."""
        if len(self._large) < length:
            self._large = bytearray()  # the old one's pages go back before the new one takes its own
            self._large = bytearray(length)
        return _Collected(self, memoryview(self._large)[:length])

    def _delivered_large(self) -> None:
        if len(self._large) > _KEEP_LARGE:
            self._large = bytearray()

    def _deliver(self, message: bytes | memoryview) -> None:
        if self._on_message is None:
            self._early.append(bytes(message))
        else:
            self._on_message(message)

    # --- sending ------------------------------------------------------------------------------------

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    transport.write_eof()


class _Collected:
    """A large message gathered into the transport's kept buffer and delivered whole."""

    __slots__ = ("_filled", "_payload", "_transport")

    def __init__(self, transport: WebSocketTransport, payload: memoryview) -> None:
        self._transport, self._payload, self._filled = transport, payload, 0

    def feed(self, chunk: memoryview) -> None:
        self._payload[self._filled:self._filled + len(chunk)] = chunk
        self._filled += len(chunk)

    def end(self) -> None:
        try:
            self._transport._deliver(self._payload)
        finally:
            self._payload.release()
            self._transport._delivered_large()
