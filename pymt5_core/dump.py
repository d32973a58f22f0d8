"""Record a session's decrypted frames as JSON lines, with every secret redacted.

The recorder is a loopback WebSocket proxy, so it needs no hook in the client and records exactly what
crosses the wire. :class:`FrameDecoder` follows the connection passively: it decrypts both directions
with the initial key, takes the session key from the bootstrap answer (SPEC §2.6) like the client
does, and decodes each body with the wire readers. :class:`DumpProxy` listens on ``127.0.0.1``, opens
one upstream connection per client connection and feeds both directions to a decoder.

One line per frame::

    {"t": 1718000000.123, "conn": 1, "dir": "send", "command": 28, "name": "LOGIN", "size": 912,
     "fields": {"login": 1001, "password": "<redacted>", ...}}

Redaction is by field name and applies at every depth (:data:`SECRET_FIELDS`): passwords, OTPs,
OTP secrets, the 160-byte password blob, session ids, bootstrap tokens and keys, confirmation codes
and personal data of account-opening forms. Raw bytes are never written for a frame that carries
secrets; other undecodable frames keep at most 64 bytes of hex.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pymt5_core.errors import MT5Error
from pymt5_core.wire import messages as m
from pymt5_core.wire.enums import Command
from pymt5_core.wire.frames import INITIAL_KEY, FrameCipher, RequestFrame, ResponseFrame, unpack_message

__all__ = ["REDACTED", "SECRET_FIELDS", "DumpProxy", "FrameDecoder", "JsonlSink", "decode_body"]

REDACTED = "<redacted>"
#: Field names whose values are never written.
SECRET_FIELDS = frozenset({
    "password", "otp", "password_blob", "otp_secret", "otp_secret_check", "new_password", "old_password",
    "investor_password", "phone_password", "token", "key", "session", "email_confirm_code",
    "phone_confirm_code", "email", "phone", "address",
})
#: Commands whose bodies carry secrets: raw bytes of these are never written, even when decoding fails.
_SECRET_COMMANDS = frozenset({
    Command.BOOTSTRAP, Command.LOGIN, Command.INIT, Command.OTP, Command.CHANGE_PASSWORD, Command.OPEN_DEMO,
    Command.OPEN_REAL, Command.VERIFY_CODES_REQUEST, Command.VERIFY_CODES_SUBMIT,
})
_MAX_RECORDS = 5
_MAX_RAW = 64


def _bootstrap_request(payload: bytes) -> Any:
    return {"token": m.read_bootstrap_request(payload)}


def _bootstrap_response(body: bytes) -> Any:
    token, key = m.read_bootstrap_response(body)
    return {"token": token, "key": key}


def _login_response(body: bytes) -> Any:
    blob, session = m.read_login_response(body)
    return {"password_blob": blob, "session": session}


def _pair(names: tuple[str, ...], reader: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    return lambda body: dict(zip(names, reader(body), strict=True))


_EMPTY: Callable[[bytes], Any] = lambda body: {}  # noqa: E731
#: command -> (request payload reader, response body reader); None = not decoded (size only).
_DECODERS: dict[int, tuple[Callable[[bytes], Any] | None, Callable[[bytes], Any] | None]] = {
    Command.BOOTSTRAP: (_bootstrap_request, _bootstrap_response),
    Command.LOGIN: (m.read_login_request, _login_response),
    Command.INIT: (m.read_init_request, None),
    Command.LOGOUT: (_EMPTY, None),
    Command.PING: (_EMPTY, _EMPTY),
    Command.ACCOUNT: (_EMPTY, m.read_account),
    Command.ACCOUNT_UPDATE: (None, m.read_account),
    Command.OPENED: (_EMPTY, _pair(("positions", "orders"), m.read_opened)),
    Command.HISTORY: (_pair(("from", "to"), m.read_history_request), _pair(("deals", "orders"), m.read_history)),
    Command.SYMBOLS: (_EMPTY, m.read_symbols),
    Command.SYMBOLS_COMPRESSED: (_EMPTY, m.read_symbols_compressed),
    Command.SYMBOL_GROUPS: (_EMPTY, m.read_symbol_groups),
    Command.FULL_SYMBOLS: (m.read_id_list, m.read_full_symbols),
    Command.SYMBOL_UPDATE: (None, m.read_symbol_update),
    Command.SUBSCRIBE_TICKS: (m.read_id_list, None),
    Command.TICKS: (None, m.read_ticks),
    Command.SYMBOL_STATS: (None, m.read_symbol_stats),
    Command.SUBSCRIBE_BOOK: (m.read_id_list, None),
    Command.BOOK: (None, m.read_book),
    Command.RATES: (_pair(("symbol", "period", "from", "to"), m.read_rates_request), m.read_bars),
    Command.TRADE_REQUEST: (m.read_trade_request, m.read_trade_status),
    Command.TRADE_RESULT: (None, _pair(("request", "result"), m.read_trade_result)),
    Command.TRADE_UPDATE: (None, m.read_trade_update),
    Command.LINK_STATE: (None, m.read_link_state),
    Command.SPREADS: (_EMPTY, m.read_spreads),
    Command.CHANGE_PASSWORD: (m.read_change_password_request, m.read_change_password_response),
    Command.NOTIFY: (m.read_notify_request, None),
    Command.TRADER_PARAMS: (_EMPTY, _pair(("country", "currency"), m.read_trader_params)),
    Command.OTP: (m.read_otp_request, None),
    Command.CORPORATE_LINKS: (_EMPTY, m.read_corporate_links),
    Command.OPEN_DEMO: (m.read_open_account_request, m.read_open_account_response),
}


def _jsonable(value: Any, key: str = "") -> Any:
    """A JSON-friendly copy of a decoded value, secrets redacted by field name, long arrays shortened."""
    if key in SECRET_FIELDS:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, str(k)) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name), f.name) for f in fields(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.names:
            names = value.dtype.names
            head = [{n: _jsonable(row[n], n) for n in names} for row in value[:_MAX_RECORDS]]
            return {"count": len(value), "records": head}
        return _jsonable(value.tolist(), key)
    if isinstance(value, list | tuple):
        items = [_jsonable(v) for v in value[:_MAX_RECORDS]]
        return items if len(value) <= _MAX_RECORDS else {"count": len(value), "records": items}
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return raw[:_MAX_RAW].hex() + ("..." if len(raw) > _MAX_RAW else "")
    if isinstance(value, np.generic):
        return _jsonable(value.item(), key)
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def decode_body(command: int, data: bytes, *, request: bool) -> dict[str, Any]:
    """Decode one request payload or response body into a redacted JSON-friendly dict.

    Returns ``{"fields": ...}`` when a reader exists, else ``{"raw": hex}`` (never for secret commands),
    plus ``{"error": ...}`` when the reader failed.
    """
    readers = _DECODERS.get(command)
    reader = None if readers is None else readers[0 if request else 1]
    if reader is not None:
        try:
            return {"fields": _jsonable(reader(data))}
        except (MT5Error, ValueError, KeyError, IndexError, TypeError) as exc:
            out: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}"}
    else:
        out = {}
    if data and command not in _SECRET_COMMANDS:
        out["raw"] = _jsonable(data)
    return out


def _name(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        return str(command)


class FrameDecoder:
    """Decrypts and decodes both directions of one connection, passively.

    Args:
        sink: receives one dict per frame.
        conn: a connection number written into every line.
    """

    def __init__(self, sink: Callable[[dict[str, Any]], None], conn: int = 1) -> None:
        self._sink = sink
        self._conn = conn
        self._cipher = FrameCipher(INITIAL_KEY)

    def __repr__(self) -> str:
        return f"<FrameDecoder conn={self._conn}>"

    def client_message(self, message: bytes) -> None:
        """One message from the client to the server."""
        try:
            frame = RequestFrame.decode(self._cipher.decrypt(unpack_message(message)))
        except MT5Error as exc:
            self._emit("send", -1, len(message), {"error": str(exc)})
            return
        self._emit("send", frame.command, len(frame.payload), decode_body(frame.command, frame.payload, request=True))

    def server_message(self, message: bytes) -> None:
        """One message from the server to the client; a bootstrap answer switches the key."""
        try:
            frame = ResponseFrame.decode(self._cipher.decrypt(unpack_message(message)))
        except MT5Error as exc:
            self._emit("recv", -1, len(message), {"error": str(exc)})
            return
        extra = decode_body(frame.command, bytes(frame.body), request=False)
        self._emit("recv", frame.command, len(frame.body), {"code": frame.code, **extra})
        if frame.command == Command.BOOTSTRAP and frame.code == 0:
            try:
                _, key = m.read_bootstrap_response(frame.body)
                self._cipher = FrameCipher(key)
            except MT5Error:
                pass

    def _emit(self, direction: str, command: int, size: int, extra: dict[str, Any]) -> None:
        line = {"t": round(time.time(), 3), "conn": self._conn, "dir": direction, "command": command,
                "name": _name(command), "size": size, **extra}
        self._sink(line)


class JsonlSink:
    """Writes dicts as JSON lines to a text stream and counts them."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0

    def __call__(self, line: dict[str, Any]) -> None:
        self.stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.count += 1


class DumpProxy:
    """A loopback WebSocket proxy that records every frame through :class:`FrameDecoder`.

    Use as ``async with DumpProxy(upstream_url, sink) as proxy:`` and point the client at ``proxy.url``.

    Args:
        upstream: the real server's WebSocket URL.
        sink: receives one dict per frame.
        origin, ssl: passed to the upstream connection (for ``wss://`` servers that check them).
    """

    def __init__(self, upstream: str, sink: Callable[[dict[str, Any]], None], *, origin: str | None = None,
                 ssl: Any = None) -> None:
        self.upstream = upstream
        self._sink = sink
        self._origin = origin
        self._ssl = ssl
        self._server: Any = None
        self._connections = 0
        self.url = ""

    def __repr__(self) -> str:
        return f"<DumpProxy {self.url or '(not started)'} -> {self.upstream}>"

    async def __aenter__(self) -> DumpProxy:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None, compression=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, downstream: Any) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        self._connections += 1
        decoder = FrameDecoder(self._sink, self._connections)
        kwargs: dict[str, Any] = {"max_size": None, "compression": None}
        if self._origin:
            kwargs["origin"] = self._origin
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
        async with connect(self.upstream, **kwargs) as upstream:

            async def pump(src: Any, dst: Any, record: Callable[[bytes], None]) -> None:
                try:
                    async for message in src:
                        data = message if isinstance(message, bytes) else message.encode()
                        record(data)
                        await dst.send(message)
                except ConnectionClosed:
                    pass
                finally:
                    await dst.close()

            await asyncio.gather(
                pump(downstream, upstream, decoder.client_message),
                pump(upstream, downstream, decoder.server_message),
            )


async def record_session(
    url: str, out: str | Path, login: int, password: str, *, seconds: float = 5.0, symbols: int = 3,
    origin: str | None = None,
) -> int:
    """Log in through a :class:`DumpProxy`, exercise the common requests for ``seconds`` and write the frames.

    The session loads the account and symbols, asks for a day of H1 bars and streams ticks of the first
    ``symbols`` symbols until ``seconds`` have passed. Returns the number of lines written.
    """
    from pymt5_core.client import MT5Client

    with open(out, "w", encoding="utf-8") as stream:
        sink = JsonlSink(stream)
        async with DumpProxy(url, sink, origin=origin) as proxy, MT5Client(proxy.url, reconnect=False) as client:
            await client.login(login, password)
            await client.account()
            names = [s.name for s in await client.symbols()][:symbols]
            if names:
                now = int(time.time())
                await client.bars(names[0], "H1", now - 86_400, now)

                async def stream_ticks() -> None:
                    async for _ in client.ticks(names):
                        pass

                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream_ticks(), timeout=seconds)
        return sink.count
