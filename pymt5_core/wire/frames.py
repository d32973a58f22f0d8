"""Frames: the 8-byte outer header, AES-CBC with a zero IV, and inner request/response frames (SPEC §2.2-2.6).

Everything here is sans-I/O: functions take and return bytes. :class:`ClientConnection` and
:class:`ServerConnection` hold the one piece of state a connection has at this layer, the current key,
and switch it at the end of the bootstrap exchange exactly as the official client does.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pymt5_core._construct import positional_constructor
from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire.enums import Command

__all__ = [
    "HEADER_SIZE",
    "INITIAL_KEY",
    "INITIAL_KEY_OBFUSCATED",
    "RESPONSE_PREFIX_SIZE",
    "TOKEN_SIZE",
    "ClientConnection",
    "FrameCipher",
    "IncomingMessage",
    "RequestFrame",
    "ResponseFrame",
    "ServerConnection",
    "deobfuscate_key",
    "deobfuscate_text",
    "pack_message",
    "unpack_message",
]

HEADER_SIZE = 8
TOKEN_SIZE = 64
_HEADER = struct.Struct("<II")
_REQ_PREFIX = struct.Struct("<BBH")
_RESP_PREFIX = struct.Struct("<HHB")
#: Bytes of a decrypted response before its body: random u16, command u16, code u8.
RESPONSE_PREFIX_SIZE = _RESP_PREFIX.size
_ZERO_IV = _ZERO_BLOCK = bytes(16)
#: The PKCS#7 padding of ``n`` bytes, by ``n``.
_PADDING = tuple(bytes((n,)) * n for n in range(17))
_SMALL_FRAME = 4096
_SMALL_BODY_AT = 16 + _RESP_PREFIX.size  # where a small frame's body starts in what _decrypt_small returns
_ENTROPY_BLOCK = 256

#: The initial key as the official client stores it (SPEC §2.4).
INITIAL_KEY_OBFUSCATED = "13ef13b2b76dd8:5795gdcfb2fdc1ge85bf768f54773d22fff996e3ge75g5:75"


def deobfuscate_text(text: str) -> str:
    """The official decoding rule: each character code minus one, except 28 -> '&' and 23 -> '!'."""
    return "".join("&" if ord(c) == 28 else "!" if ord(c) == 23 else chr(ord(c) - 1) for c in text)


def deobfuscate_key(text: str) -> bytes:
    """Decode the obfuscated key: :func:`deobfuscate_text`, then hex to bytes."""
    return bytes.fromhex(deobfuscate_text(text))


#: The AES-256 key used for the bootstrap request and response.
INITIAL_KEY = deobfuscate_key(INITIAL_KEY_OBFUSCATED)


class FrameCipher:
    """AES-CBC with a zero IV and PKCS#7 padding; every message is encrypted independently.

    Creating a cipher context (about 20 us with OpenSSL 3) costs more than encrypting a small message, so
    contexts are kept: one per direction for messages up to 4 KiB, and one decrypting context lent to each
    large message read piece by piece (:meth:`incoming`; a message left unfinished keeps it, and the next one
    takes a new context). Large messages sent take a new context, whose cost is small against theirs.
    A kept context chains on from the last ciphertext block it saw. Encrypting, XOR-ing that block into a
    message's first block cancels the chaining; decrypting, a zero block fed first makes it the zero IV
    (its own plaintext is dropped). Either way every message comes out exactly as under a new context with
    the zero IV. The contexts carry state: one cipher serves one connection, from one thread.
    """

    __slots__ = ("_algorithm", "_decryptor", "_encrypt_chain", "_encryptor", "_spare", "key_size")

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise EncodeError(f"AES key must be 16, 24 or 32 bytes, not {len(key)}")
        self._algorithm = algorithms.AES(bytes(key))
        self._encryptor = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).encryptor()
        self._decryptor = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).decryptor()
        self._encrypt_chain = 0  # the last ciphertext block the encrypting context saw, as an int
        self._spare: Any = None  # a decrypting context for large messages, lent to one at a time
        self.key_size = len(key)

    def __repr__(self) -> str:
        return f"<FrameCipher AES-{self.key_size * 8}>"  # never the key itself

    def encrypt(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """Pad with PKCS#7 and encrypt."""
        data = bytearray(plaintext)
        data += _PADDING[16 - len(data) % 16]
        return self._encrypt_kept(data)

    def _encrypt_kept(self, data: bytearray) -> bytes:
        """Encrypt padded ``data`` on the kept context (see the class docstring); ``data`` is changed."""
        data[:16] = (int.from_bytes(data[:16], "little") ^ self._encrypt_chain).to_bytes(16, "little")
        out = self._encryptor.update(data)
        self._encrypt_chain = int.from_bytes(out[-16:], "little")
        return out

    def encrypt_message(self, *parts: bytes | bytearray | memoryview) -> bytes:
        """Pad, encrypt and prefix the outer header: ``pack_message(encrypt(b"".join(parts)))`` without joining."""
        n = sum(map(len, parts))
        if n < _SMALL_FRAME:
            data = bytearray()
            for chunk in parts:
                data += chunk
            data += _PADDING[16 - n % 16]
            ciphertext = self._encrypt_kept(data)
            return _HEADER.pack(len(ciphertext), 1) + ciphertext
        out = self._encrypt_into(parts, HEADER_SIZE)
        _HEADER.pack_into(out, 0, len(out) - HEADER_SIZE, 1)
        return bytes(out)

    def _encrypt_into(self, parts: tuple[bytes | bytearray | memoryview, ...], head: int) -> memoryview:
        """The ciphertext of ``parts`` after ``head`` spare bytes of one fresh buffer (the parts are not copied)."""
        n = sum(len(c) for c in parts)
        pad = 16 - n % 16
        enc = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).encryptor()
        out = bytearray(head + n + pad + 15)  # update_into wants one spare block
        view = memoryview(out)
        done = head
        for chunk in (*parts, bytes([pad]) * pad):  # CBC keeps partial blocks between updates
            done += enc.update_into(chunk, view[done:])
        enc.finalize()
        return view[:done]

    def decrypt(self, ciphertext: bytes | bytearray | memoryview) -> bytes:
        """Decrypt and strip the padding.

        Raises:
            ProtocolError: the length is not a positive multiple of 16 or the padding is invalid.
        """
        return bytes(self.decrypt_view(ciphertext))

    def decrypt_view(self, ciphertext: bytes | bytearray | memoryview) -> memoryview:
        """Like :meth:`decrypt`, as a view on a fresh buffer: the caller copies out only what it keeps.

        Raises:
            ProtocolError: as :meth:`decrypt`.
        """
        n = len(ciphertext)
        if n == 0 or n % 16:
            raise ProtocolError(f"ciphertext of {n} bytes is not a positive multiple of 16")
        if n <= _SMALL_FRAME:
            small, end = self._decrypt_small(ciphertext)
            return memoryview(small)[16:end]
        message = self.incoming(n, skip=0)
        message.feed(ciphertext)
        return message.finish()

    def incoming(self, size: int, *, skip: int = HEADER_SIZE) -> IncomingMessage:
        """Decrypt a message of ``size`` bytes (outer header included) piece by piece as it arrives."""
        context, self._spare = self._spare, None  # lent: a message left unfinished keeps it
        if context is None:
            context = Cipher(self._algorithm, modes.CBC(_ZERO_IV)).decryptor()
        return IncomingMessage(context, size, skip=skip, on_finished=self._give_back)

    def _give_back(self, context: Any) -> None:
        self._spare = context

    def _decrypt_small(self, ciphertext: bytes | bytearray | memoryview) -> tuple[bytes, int]:
        """The plaintext of a small frame, which starts after 16 bytes to skip, and where it ends (the padding)."""
        plain = self._decryptor.update(_ZERO_BLOCK + ciphertext)  # on the kept context: see the class docstring
        pad = plain[-1]
        if not 1 <= pad <= 16 or not plain.endswith(_PADDING[pad]):
            raise ProtocolError("invalid PKCS#7 padding (wrong key or corrupted frame)")
        return plain, len(plain) - pad


class IncomingMessage:
    """One server message decrypted as its bytes arrive: :meth:`feed` every byte of it, then :meth:`finish`.

    The outer header (``skip`` bytes) is passed over and the ciphertext decrypted straight into one buffer
    (``update_into`` wants one spare block; numpy leaves it unzeroed and backs a large one with huge pages),
    a piece at a time, so a page of megabytes is decrypted while its bytes are still in the CPU's cache
    from the socket read. The result is :meth:`FrameCipher.decrypt_view` of the ciphertext.

    Args:
        context: a CBC decrypting context on the message's key; its chaining is reset to the zero IV here (a
            zero block fed first). ``on_finished`` gets it back once the message ended on a whole block.

    Attributes:
        size: the length of the whole message, ``skip`` bytes included.
    """

    __slots__ = ("_decryptor", "_fed", "_on_finished", "_out", "_plain", "_skip", "size")

    def __init__(self, context: Any, size: int, *, skip: int = HEADER_SIZE,
                 on_finished: Callable[[Any], None] | None = None) -> None:
        self.size, self._skip = size, skip
        self._fed = self._plain = 0
        self._decryptor, self._on_finished = context, on_finished
        self._out = np.empty(max(size - skip, 16) + 15, np.uint8).data
        context.update_into(_ZERO_BLOCK, self._out)  # chaining from zero: the next block sees the zero IV

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Take the next bytes of the message (more than announced raises ``ProtocolError``)."""
        start = self._fed
        self._fed += len(chunk)
        if self._fed > self.size:
            raise ProtocolError(f"message longer than the {self.size} bytes announced")
        if start < self._skip:
            chunk = memoryview(chunk)[self._skip - start:]
            if not chunk:
                return
        self._plain += self._decryptor.update_into(chunk, self._out[self._plain:])

    def finish(self) -> memoryview:
        """The plaintext, padding stripped.

        Raises:
            ProtocolError: bytes missing, a ciphertext that is not a positive multiple of 16, bad padding.
        """
        n = self.size - self._skip
        if self._fed != self.size or n <= 0 or n % 16:
            raise ProtocolError(f"message of {self._fed} of {self.size} bytes: not a whole ciphertext")
        if self._on_finished is not None:  # no partial block is left in the context: it can serve again
            self._on_finished(self._decryptor)
            self._on_finished = None
        plain = self._out[:self._plain]
        pad = plain[-1]
        if not 1 <= pad <= 16 or plain[-pad:] != _PADDING[pad]:
            raise ProtocolError("invalid PKCS#7 padding (wrong key or corrupted frame)")
        return plain[:-pad]


def pack_message(ciphertext: bytes) -> bytes:
    """Prefix a ciphertext with the outer header (length, version 1)."""
    return _HEADER.pack(len(ciphertext), 1) + ciphertext


def unpack_message(message: bytes | bytearray | memoryview) -> memoryview:
    """Return the ciphertext of a WebSocket message; like the official client, header fields are ignored.

    Raises:
        ProtocolError: the message is shorter than the header or carries no ciphertext.
    """
    if len(message) <= HEADER_SIZE:
        raise ProtocolError(f"message of {len(message)} bytes has no ciphertext")
    return memoryview(message)[HEADER_SIZE:]


@dataclass(frozen=True, slots=True)
class RequestFrame:
    """A decrypted client-to-server frame."""

    command: int
    payload: bytes = b""
    random: tuple[int, int] = (0, 0)

    def encode(self) -> bytes:
        """The inner frame bytes (before encryption)."""
        if not 0 <= self.command <= 0xFFFF:
            raise EncodeError(f"command id {self.command} is not a u16")
        return _REQ_PREFIX.pack(self.random[0], self.random[1], self.command) + self.payload

    @classmethod
    def decode(cls, inner: bytes | bytearray | memoryview) -> RequestFrame:
        """Parse an inner request frame.

        Raises:
            ProtocolError: shorter than the 4-byte prefix.
        """
        if len(inner) < _REQ_PREFIX.size:
            raise ProtocolError(f"request frame of {len(inner)} bytes is shorter than its prefix")
        r0, r1, command = _REQ_PREFIX.unpack_from(inner)
        return cls(command, bytes(inner[_REQ_PREFIX.size :]), (r0, r1))

    def __repr__(self) -> str:
        return f"RequestFrame({_command_name(self.command)}, {len(self.payload)} B)"


@dataclass(frozen=True, slots=True)
class ResponseFrame:
    """A decrypted server-to-client frame (response or push).

    ``body`` of a large frame decoded from a memoryview is a read-only view on the same buffer (a decrypted
    page of bars is not copied); small ones are bytes.
    """

    command: int
    code: int = 0
    body: bytes | memoryview = b""
    reserved: int = 0

    def encode(self) -> bytes:
        """The inner frame bytes (before encryption)."""
        return self.prefix() + self.body

    def prefix(self) -> bytes:
        """The 5 bytes before the body: reserved, command, code."""
        if not 0 <= self.command <= 0xFFFF or not 0 <= self.code <= 0xFF or not 0 <= self.reserved <= 0xFFFF:
            raise EncodeError("response prefix value out of range")
        return _RESP_PREFIX.pack(self.reserved, self.command, self.code)

    @classmethod
    def decode(cls, inner: bytes | bytearray | memoryview) -> ResponseFrame:
        """Parse an inner response frame.

        Raises:
            ProtocolError: shorter than the 5-byte prefix.
        """
        if len(inner) < _RESP_PREFIX.size:
            raise ProtocolError(f"response frame of {len(inner)} bytes is shorter than its prefix")
        reserved, command, code = _RESP_PREFIX.unpack_from(inner)
        body = inner[_RESP_PREFIX.size :]
        if isinstance(body, memoryview) and len(body) > _SMALL_FRAME:
            return cls(command, code, body.toreadonly(), reserved)
        return cls(command, code, bytes(body), reserved)

    def __repr__(self) -> str:
        return f"ResponseFrame({_command_name(self.command)}, code={self.code}, {len(self.body)} B)"


_new_response = positional_constructor(ResponseFrame)


def _command_name(command: int) -> str:
    try:
        return str(Command(command))
    except ValueError:
        return str(command)


@dataclass
class ClientConnection:
    """The client side of one connection: encrypts requests, decrypts responses, switches keys.

    Call :meth:`bootstrap` first; feed the bootstrap answer to :meth:`receive`, which installs the
    session key. ``token`` then holds the token to send on the next connection after a drop.
    """

    token: bytes = bytes(TOKEN_SIZE)
    _cipher: FrameCipher = field(default_factory=lambda: FrameCipher(INITIAL_KEY), repr=False)
    ready: bool = False
    _entropy: bytearray = field(default_factory=bytearray, repr=False, compare=False)

    def bootstrap(self, random: tuple[int, int] | None = None) -> bytes:
        """The first message of the connection: command 0 with the stored token."""
        return self.request(Command.BOOTSTRAP, self.token, random=random, _bootstrap=True)

    def request(
        self, command: int, payload: bytes = b"", random: tuple[int, int] | None = None, *, _bootstrap: bool = False
    ) -> bytes:
        """Encode and encrypt one request message.

        Raises:
            ProtocolError: a non-bootstrap request before the bootstrap completed (local code 103).
        """
        if not self.ready and not _bootstrap:
            raise ProtocolError("connection not ready: the bootstrap exchange has not completed")
        command = int(command)
        if not 0 <= command <= 0xFFFF:
            raise EncodeError(f"command id {command} is not a u16")
        r0, r1 = random or self._random_prefix()
        return self._cipher.encrypt_message(_REQ_PREFIX.pack(r0, r1, command), bytes(payload))

    def _random_prefix(self) -> tuple[int, int]:
        """The request's two random bytes, each in 0..254 (SPEC §2.5).

        They come from ``os.urandom`` a block at a time: a system call costs more than encoding a request.
        """
        entropy = self._entropy
        if len(entropy) < 2:
            entropy += os.urandom(_ENTROPY_BLOCK)
        return entropy.pop() % 255, entropy.pop() % 255

    def receive(self, message: bytes | bytearray | memoryview) -> ResponseFrame:
        """Decrypt and parse one server message; a bootstrap answer installs the new key.

        Raises:
            ProtocolError: undecryptable, malformed, a failed bootstrap, or a key of a bad length.
        """
        n = len(message) - HEADER_SIZE
        if 0 < n <= _SMALL_FRAME and not n % 16:  # most frames: read straight from the decrypted bytes
            plain, end = self._cipher._decrypt_small(memoryview(message)[HEADER_SIZE:])
            if end < _SMALL_BODY_AT:
                raise ProtocolError(f"response frame of {end - 16} bytes is shorter than its prefix")
            reserved, command, code = _RESP_PREFIX.unpack_from(plain, 16)
            frame = _new_response(command, code, plain[_SMALL_BODY_AT:end], reserved)
        else:
            frame = ResponseFrame.decode(self._cipher.decrypt_view(unpack_message(message)))
        if not self.ready and frame.command == Command.BOOTSTRAP:
            self._install(frame)
        return frame

    def incoming(self, size: int) -> IncomingMessage:
        """Start decrypting a server message of ``size`` bytes as it arrives; :meth:`finish` it at the end."""
        return self._cipher.incoming(size)

    def finish(self, message: IncomingMessage) -> ResponseFrame:
        """The frame of a message fed whole to :meth:`incoming`'s result (as :meth:`receive` gives it).

        Raises:
            ProtocolError: as :meth:`receive`.
        """
        frame = ResponseFrame.decode(message.finish())
        if not self.ready and frame.command == Command.BOOTSTRAP:
            self._install(frame)
        return frame

    def _install(self, frame: ResponseFrame) -> None:
        from pymt5_core.wire.messages import read_bootstrap_response

        if frame.code != 0:
            raise ProtocolError(f"bootstrap refused with code {frame.code}")
        token, key = read_bootstrap_response(frame.body)
        if len(key) not in (16, 32):
            raise ProtocolError(f"session key of {len(key)} bytes (expected 16 or 32)")
        self.token = token
        self._cipher = FrameCipher(key)
        self.ready = True


@dataclass
class ServerConnection:
    """The server side of one connection: decrypts requests, encrypts responses and pushes.

    The first request must be the bootstrap; :meth:`accept_bootstrap` answers it under the initial key
    and switches to the new session key for everything after.
    """

    _cipher: FrameCipher = field(default_factory=lambda: FrameCipher(INITIAL_KEY), repr=False)
    ready: bool = False

    def receive(self, message: bytes | bytearray | memoryview) -> RequestFrame:
        """Decrypt and parse one client message.

        Raises:
            ProtocolError: undecryptable or malformed, or not a bootstrap as the first request.
        """
        frame = RequestFrame.decode(self._cipher.decrypt_view(unpack_message(message)))
        if not self.ready and frame.command != Command.BOOTSTRAP:
            raise ProtocolError(f"expected the bootstrap request, got command {frame.command}")
        return frame

    def accept_bootstrap(self, request: RequestFrame, token: bytes, key: bytes) -> bytes:
        """Answer the bootstrap request (under the initial key) and install ``key``."""
        from pymt5_core.wire.messages import build_bootstrap_response

        if len(token) != TOKEN_SIZE:
            raise EncodeError("token must be 64 bytes")
        message = self.respond(request, 0, build_bootstrap_response(token, key))
        self._cipher = FrameCipher(key)
        self.ready = True
        return message

    def respond(self, request: RequestFrame, code: int, body: bytes = b"") -> bytes:
        """Answer ``request``: same command id, its two random bytes copied (SPEC §2.5 guidance)."""
        reserved = request.random[0] | (request.random[1] << 8)
        return self.frame(request.command, code, body, reserved)

    def push(self, command: int, body: bytes, code: int = 0) -> bytes:
        """An unsolicited frame; the reserved bytes are zero."""
        return self.frame(command, code, body, 0)

    def frame(self, command: int, code: int, body: bytes, reserved: int = 0) -> bytes:
        """Encode and encrypt one server frame."""
        return self._cipher.encrypt_message(ResponseFrame(int(command), code, body, reserved).prefix(), body)
