"""The copy-saving cipher paths give exactly the bytes of the plain ones (pymt5_core.wire.frames)."""

from __future__ import annotations

import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.wire.frames import HEADER_SIZE, FrameCipher, ResponseFrame, pack_message, unpack_message

KEY = bytes(range(32))


@pytest.mark.parametrize("length", [0, 1, 10, 11, 15, 16, 17, 27, 43, 4096 + 3])
def test_encrypt_message_of_parts_equals_the_packed_encryption_of_their_join(length: int) -> None:
    cipher = FrameCipher(KEY)
    body = bytes((7 * i) % 251 for i in range(length))
    prefix = ResponseFrame(11, 0, body, 0x1234).prefix()
    message = cipher.encrypt_message(prefix, memoryview(body))
    joined = prefix + body
    assert message == pack_message(cipher.encrypt(joined)) == pack_message(cipher.encrypt(bytearray(joined)))
    view = cipher.decrypt_view(unpack_message(message))
    assert isinstance(view, memoryview) and bytes(view) == prefix + body == cipher.decrypt(unpack_message(message))
    frame = ResponseFrame.decode(view)
    assert frame == ResponseFrame(11, 0, body, 0x1234)
    if length > 4096:  # a large body stays a read-only view on the decrypted buffer: not copied
        assert isinstance(frame.body, memoryview) and frame.body.readonly and frame.body.obj is view.obj
    else:
        assert type(frame.body) is bytes


def test_decrypt_view_checks_the_padding_like_decrypt() -> None:
    ciphertext = bytearray(FrameCipher(KEY).encrypt(b"hello"))
    ciphertext[-1] ^= 0x55
    for decrypt in (FrameCipher(KEY).decrypt, FrameCipher(KEY).decrypt_view):
        with pytest.raises(ProtocolError):
            decrypt(bytes(ciphertext))


def _fed(cipher: FrameCipher, message: bytes, cuts: list[int]) -> memoryview:
    incoming = cipher.incoming(len(message))
    pos = 0
    for cut in [*cuts, len(message)]:
        incoming.feed(memoryview(message)[pos:cut])
        pos = cut
    return incoming.finish()


@pytest.mark.parametrize("cuts", [[], [1], [7, 8, 9], [8], [8, 24], [13, 100, 101, 4000], list(range(0, 9000, 977))])
@pytest.mark.parametrize("length", [0, 11, 27, 4096 + 3, 8000])
def test_a_message_fed_in_pieces_decrypts_as_the_whole_one(length: int, cuts: list[int]) -> None:
    cipher = FrameCipher(KEY)
    body = bytes((7 * i) % 251 for i in range(length))
    message = cipher.encrypt_message(ResponseFrame(11, 0, body, 9).prefix(), body)
    cuts = [c for c in cuts if c < len(message)]
    assert bytes(_fed(cipher, message, cuts)) == bytes(cipher.decrypt_view(unpack_message(message)))


def test_a_message_fed_in_pieces_is_checked_like_a_whole_one() -> None:
    cipher = FrameCipher(KEY)
    message = bytearray(cipher.encrypt_message(b"x" * 5000))
    with pytest.raises(ProtocolError, match="padding"):
        _fed(cipher, bytes(message[:-1]) + bytes([message[-1] ^ 0x55]), [100])
    short = cipher.incoming(len(message))
    short.feed(message[:-16])
    with pytest.raises(ProtocolError, match="whole ciphertext"):
        short.finish()
    with pytest.raises(ProtocolError, match="announced"):
        cipher.incoming(100).feed(bytes(101))
    odd = cipher.incoming(8 + 20)
    odd.feed(bytes(28))
    with pytest.raises(ProtocolError):
        odd.finish()


def test_messages_read_in_pieces_after_an_unfinished_one_decrypt_as_whole_ones() -> None:
    # Large messages share one lent decrypting context: a message abandoned midway (a partial block fed)
    # or cut short must not leak its chaining or its partial block into the next one.
    cipher = FrameCipher(KEY)
    bodies = [bytes((5 * i + k) % 253 for i in range(6000 + 37 * k)) for k in range(3)]
    messages = [cipher.encrypt_message(ResponseFrame(11, 0, b, 1).prefix(), b) for b in bodies]
    abandoned = cipher.incoming(len(messages[0]))
    abandoned.feed(memoryview(messages[0])[:HEADER_SIZE + 21])
    short = cipher.incoming(len(messages[1]))
    short.feed(memoryview(messages[1])[:-16])
    with pytest.raises(ProtocolError, match="whole ciphertext"):
        short.finish()
    for message in [*messages, *messages]:
        whole = bytes(FrameCipher(KEY).decrypt_view(unpack_message(message)))
        assert bytes(_fed(cipher, message, [HEADER_SIZE + 5, 1000, 1001])) == whole
        assert bytes(cipher.decrypt_view(unpack_message(message))) == whole
