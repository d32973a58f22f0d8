"""Mutation fuzzing of the sans-I/O core: valid vectors with bits flipped, cut short, length fields changed.

``tests/wire/test_properties.py`` feeds every reader random bytes and byte overwrites; this module adds the
mutations a damaged or hostile stream produces from *valid* input: single and multiple bit flips, cuts at
any point, unaligned length/count fields set to extreme values, duplicated and dropped slices, and the same
on whole encrypted WebSocket messages (SPEC §2.2, §2.3). The only exception allowed out is
:class:`ProtocolError`; a change confined to the 8 header bytes must not change the decoded frame at all,
since both sides ignore the header (SPEC §2.2).

Hypothesis runs derandomized without a database, so every run checks the same examples.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import messages
from pymt5_core.wire.frames import (
    HEADER_SIZE,
    INITIAL_KEY,
    ClientConnection,
    FrameCipher,
    RequestFrame,
    ResponseFrame,
    ServerConnection,
    pack_message,
)
from tests.wire.test_properties import FIXED, READERS, SEEDS, VECTORS

EXTREMES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid seed with one to three structural mutations applied in turn."""
    body = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bitflip", "cut", "length", "duplicate", "drop", "extend"]))
        if kind == "bitflip" and body:
            for _ in range(draw(st.integers(1, 4))):
                at = draw(st.integers(0, len(body) - 1))
                body[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            body = body[: draw(st.integers(0, len(body)))]
        elif kind == "length" and body:  # any offset, not only 4-aligned ones: counts live at odd places too
            at = draw(st.integers(0, len(body) - 1))
            width = draw(st.sampled_from([1, 2, 4]))
            value = draw(st.sampled_from(EXTREMES)) % (1 << (8 * width))
            body[at : at + width] = value.to_bytes(width, "little")[: len(body) - at]
        elif kind == "duplicate" and body:
            start = draw(st.integers(0, len(body) - 1))
            end = draw(st.integers(start, len(body)))
            body[end:end] = body[start:end]
        elif kind == "drop" and body:
            start = draw(st.integers(0, len(body) - 1))
            del body[start : draw(st.integers(start, len(body)))]
        elif kind == "extend":
            body += draw(st.binary(min_size=1, max_size=64))
    return bytes(body)


def only_protocol_error(call: Callable[[], Any]) -> None:
    with contextlib.suppress(ProtocolError):
        call()


# --- every message reader -------------------------------------------------------------------------------


def test_every_reader_is_fuzzed() -> None:
    assert set(READERS) == set(SEEDS) and all(SEEDS[r]() for r in READERS)


@pytest.mark.parametrize("reader", READERS)
@FIXED
@given(data=st.data())
def test_reader_given_a_mutated_valid_body_raises_only_protocol_error(reader: str, data: st.DataObject) -> None:
    body = data.draw(mutated(SEEDS[reader]()))
    only_protocol_error(lambda: getattr(messages, reader)(body))


# --- whole encrypted messages ---------------------------------------------------------------------------


def _frames() -> dict[str, Any]:
    return json.loads((VECTORS / "frames.json").read_text())  # type: ignore[no-any-return]


def client_messages() -> list[bytes]:
    """Client-to-server messages of the vectors (initial key): requests and the bootstrap."""
    doc = _frames()
    return [bytes.fromhex(f["frame_hex"]) for f in doc["encrypted_frames_initial_key"]] + [
        bytes.fromhex(doc["bootstrap"]["frame_hex"])
    ]


def server_messages() -> list[bytes]:
    """Server-to-client messages under the initial key: the example bootstrap reply and the header cases."""
    doc = _frames()
    cipher = FrameCipher(INITIAL_KEY)
    cases = [pack_message(cipher.encrypt(bytes.fromhex(c["plaintext_hex"]))) for c in doc["response_header_cases"]]
    return [bytes.fromhex(doc["bootstrap"]["example_reply"]["frame_hex"]), *cases]


def ready_server() -> ServerConnection:
    """A server connection past the bootstrap whose session key is the initial key, so vectors decrypt."""
    conn = ServerConnection()
    conn.accept_bootstrap(RequestFrame(0, bytes(64)), bytes(64), INITIAL_KEY)
    return conn


def test_the_message_vectors_decode_before_mutation() -> None:
    for message in client_messages():
        ready_server().receive(message)
    for message in server_messages():
        ClientConnection().receive(message)


@FIXED
@given(message=mutated(client_messages()))
def test_server_side_given_a_mutated_request_message_raises_only_protocol_error(message: bytes) -> None:
    only_protocol_error(lambda: ServerConnection().receive(message))
    only_protocol_error(lambda: ready_server().receive(message))
    only_protocol_error(lambda: RequestFrame.decode(message[HEADER_SIZE:]))


@FIXED
@given(message=mutated(server_messages()))
def test_client_side_given_a_mutated_server_message_raises_only_protocol_error(message: bytes) -> None:
    only_protocol_error(lambda: ClientConnection().receive(message))
    only_protocol_error(lambda: ResponseFrame.decode(message[HEADER_SIZE:]))


@FIXED
@given(
    original=st.sampled_from(client_messages()),
    length=st.sampled_from(EXTREMES), version=st.sampled_from(EXTREMES),
)
def test_header_fields_are_ignored_on_receipt(original: bytes, length: int, version: int) -> None:
    message = struct.pack("<II", length, version) + original[HEADER_SIZE:]
    assert ready_server().receive(message) == ready_server().receive(original)


@FIXED
@given(plain=st.binary(max_size=100), key=st.binary(min_size=32, max_size=32))
def test_a_message_under_another_key_is_refused_or_decoded_never_anything_else(plain: bytes, key: bytes) -> None:
    message = pack_message(FrameCipher(key).encrypt(plain))
    only_protocol_error(lambda: ready_server().receive(message))
    only_protocol_error(lambda: ClientConnection().receive(message))


@FIXED
@given(plain=st.integers(1, 6).flatmap(lambda blocks: st.binary(min_size=16 * blocks, max_size=16 * blocks)))
def test_bad_padding_is_always_refused(plain: bytes) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    pad = plain[-1]
    if 1 <= pad <= 16 and plain[-pad:] == bytes([pad]) * pad:
        plain = plain[:-1] + bytes([(pad % 16) + 17])  # make the last byte an impossible pad length
    raw = Cipher(algorithms.AES(INITIAL_KEY), modes.CBC(bytes(16))).encryptor()
    message = pack_message(raw.update(plain) + raw.finalize())
    with pytest.raises(ProtocolError):
        ready_server().receive(message)
    with pytest.raises(ProtocolError):
        ClientConnection().receive(message)
