"""Frames and encryption: ``aes_key``, ``aes_cbc``, ``frames`` and ``device_id`` vectors, and SPEC §12.1-12.3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire.frames import (
    HEADER_SIZE,
    INITIAL_KEY,
    INITIAL_KEY_OBFUSCATED,
    ClientConnection,
    FrameCipher,
    RequestFrame,
    ResponseFrame,
    ServerConnection,
    deobfuscate_key,
    deobfuscate_text,
    pack_message,
    unpack_message,
)
from pymt5_core.wire.messages import build_bootstrap_response, client_id

VECTORS = Path(__file__).parents[1] / "data" / "vectors"


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text())


AES_KEY = load_vector("aes_key")
AES_CBC = load_vector("aes_cbc")
FRAMES = load_vector("frames")
BOOT = FRAMES["bootstrap"]
REPLY = BOOT["example_reply"]
NEXT = BOOT["next_request_with_new_key"]
OTHER_KEY = bytes.fromhex(AES_CBC["other_key_hex"])


def h(text: str) -> bytes:
    """Bytes from hex that may contain spaces and newlines (SPEC §12 layout)."""
    return bytes.fromhex("".join(text.split()))


# --- initial key (aes_key.json) -----------------------------------------------------------------------


def test_initial_key_decodes_from_the_official_obfuscated_string() -> None:
    assert AES_KEY["obfuscated"] == INITIAL_KEY_OBFUSCATED
    assert deobfuscate_text(AES_KEY["obfuscated"]) == AES_KEY["decoded_hex_text"]
    assert deobfuscate_key(AES_KEY["obfuscated"]) == bytes.fromhex(AES_KEY["key_hex"]) == INITIAL_KEY
    assert len(INITIAL_KEY) * 8 == AES_KEY["key_bits"]


@pytest.mark.parametrize("case", AES_KEY["decoder_cases"], ids=lambda c: repr(c["input"]))
def test_key_decoder_applies_the_official_character_rule(case: dict[str, str]) -> None:
    assert deobfuscate_text(case["input"]) == case["output"]


@pytest.mark.parametrize("case", AES_KEY["hex_to_bytes_cases"], ids=lambda c: repr(c["input"]))
def test_key_decoder_converts_hex_digits_of_either_case(case: dict[str, str]) -> None:
    # Encode the expected hex text with the inverse rule, so the whole decoder (rule + hex) is exercised.
    obfuscated = "".join(chr(ord(c) + 1) for c in case["input"])
    assert deobfuscate_key(obfuscated) == bytes.fromhex(case["bytes_hex"])


# --- AES-CBC (aes_cbc.json) ---------------------------------------------------------------------------

CBC_CASES = [(bytes.fromhex(AES_CBC["initial_key_hex"]), c) for c in AES_CBC["cases"]] + [
    (OTHER_KEY, c) for c in AES_CBC["other_key_cases"]
]


def _cbc_id(item: tuple[bytes, dict[str, str]]) -> str:
    key, case = item
    return f"{'initial' if key == INITIAL_KEY else 'other'}-{len(case['plaintext_hex']) // 2}B"


def test_aes_vectors_use_a_zero_iv_and_the_initial_key() -> None:
    assert bytes.fromhex(AES_CBC["iv_hex"]) == bytes(16)
    assert bytes.fromhex(AES_CBC["initial_key_hex"]) == INITIAL_KEY


@pytest.mark.parametrize("item", CBC_CASES, ids=[_cbc_id(i) for i in CBC_CASES])
def test_frame_cipher_encrypts_to_the_official_ciphertext(item: tuple[bytes, dict[str, str]]) -> None:
    key, case = item
    assert FrameCipher(key).encrypt(bytes.fromhex(case["plaintext_hex"])).hex() == case["ciphertext_hex"]


@pytest.mark.parametrize("item", CBC_CASES, ids=[_cbc_id(i) for i in CBC_CASES])
def test_frame_cipher_decrypts_the_official_ciphertext(item: tuple[bytes, dict[str, str]]) -> None:
    key, case = item
    assert FrameCipher(key).decrypt(bytes.fromhex(case["ciphertext_hex"])).hex() == case["plaintext_hex"]


def test_frame_cipher_accepts_bytearray_and_memoryview_input() -> None:
    case = AES_CBC["cases"][-1]
    ciphertext = bytes.fromhex(case["ciphertext_hex"])
    cipher = FrameCipher(INITIAL_KEY)
    assert cipher.decrypt(bytearray(ciphertext)) == cipher.decrypt(memoryview(ciphertext)) == bytes.fromhex(
        case["plaintext_hex"]
    )
    assert cipher.encrypt(memoryview(bytes.fromhex(case["plaintext_hex"]))) == ciphertext


def test_one_cipher_decrypts_frames_of_every_size_on_both_sides_of_the_small_frame_path() -> None:
    cipher = FrameCipher(OTHER_KEY)  # small frames share one kept context: use it many times, in any order
    for size in [4080, 0, 15, 16, 8000, 379, 4079, 4095, 4096, 31, 4080]:
        plain = bytes((i * 7 + size) % 256 for i in range(size))
        assert cipher.decrypt(cipher.encrypt(plain)) == plain


def test_a_kept_cipher_encrypts_and_decrypts_every_message_as_a_new_one_would() -> None:
    kept = FrameCipher(OTHER_KEY)  # its CBC contexts live on from message to message
    plains = [bytes((i * 13 + size) % 256 for i in range(size)) for size in [0, 379, 15, 4096, 16, 8000, 31, 379]]
    ciphertexts = [FrameCipher(OTHER_KEY).encrypt(plain) for plain in plains]
    assert [kept.encrypt(plain) for plain in plains] == ciphertexts
    assert [kept.decrypt(ciphertext) for ciphertext in ciphertexts] == plains
    with pytest.raises(ProtocolError):  # a failed message leaves the next one intact
        kept.decrypt(ciphertexts[1][:-16] + bytes(16))
    assert kept.decrypt(ciphertexts[1]) == plains[1]


def test_frame_cipher_rejects_a_key_of_invalid_length() -> None:
    with pytest.raises(EncodeError):
        FrameCipher(bytes(20))


def test_frame_cipher_repr_never_shows_the_key() -> None:
    assert INITIAL_KEY.hex() not in repr(FrameCipher(INITIAL_KEY))
    assert "AES-256" in repr(FrameCipher(INITIAL_KEY))


# --- malformed ciphertexts ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 15, 17, 31])
def test_decrypt_of_a_length_that_is_not_a_positive_multiple_of_16_raises_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError):
        FrameCipher(INITIAL_KEY).decrypt(bytes(length))


def test_decrypt_with_the_wrong_key_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        FrameCipher(OTHER_KEY).decrypt(bytes.fromhex(AES_CBC["cases"][0]["ciphertext_hex"]))


def test_decrypt_of_a_block_with_invalid_padding_raises_protocol_error() -> None:
    # Encrypt 16 bytes ending in 0x00 without padding: the last block then decrypts to a zero pad byte.
    cipher = FrameCipher(INITIAL_KEY)
    with_padding = cipher.encrypt(bytes(16))
    with pytest.raises(ProtocolError):
        cipher.decrypt(with_padding[:16])


def test_decrypt_of_a_block_with_inconsistent_padding_bytes_raises_protocol_error() -> None:
    cipher = FrameCipher(INITIAL_KEY)
    forged = cipher.encrypt(bytes(14) + b"\x01\x02")[:16]  # plaintext ends ...01 02: pad 2 but bytes differ
    with pytest.raises(ProtocolError):
        cipher.decrypt(forged)


# --- inner frames (frames.json) ----------------------------------------------------------------------


@pytest.mark.parametrize("case", FRAMES["command_plaintexts"], ids=lambda c: str(c["command"]))
def test_request_frame_encodes_random_bytes_command_and_payload(case: dict[str, Any]) -> None:
    payload = bytes.fromhex(case["payload_hex"] or "")
    frame = RequestFrame(case["command"], payload, tuple(case["random_bytes"]))  # type: ignore[arg-type]
    assert frame.encode().hex() == case["plaintext_hex"]
    assert RequestFrame.decode(bytes.fromhex(case["plaintext_hex"])) == frame


@pytest.mark.parametrize("case", FRAMES["encrypted_frames_initial_key"], ids=lambda c: str(c["command"]))
def test_encrypted_frame_under_the_initial_key_matches_the_official_message(case: dict[str, Any]) -> None:
    message = pack_message(FrameCipher(INITIAL_KEY).encrypt(bytes.fromhex(case["plaintext_hex"])))
    assert message.hex() == case["frame_hex"]
    assert FRAMES["header_length"] == HEADER_SIZE
    assert message[:HEADER_SIZE].hex() == case["header_hex"]
    assert bytes(unpack_message(message)).hex() == case["encrypted_hex"]


@pytest.mark.parametrize("case", FRAMES["encrypted_frames_initial_key"], ids=lambda c: str(c["command"]))
def test_server_refuses_a_first_request_that_is_not_the_bootstrap(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        ServerConnection().receive(bytes.fromhex(case["frame_hex"]))


def test_request_frame_rejects_a_command_id_outside_u16() -> None:
    with pytest.raises(EncodeError):
        RequestFrame(65536).encode()


@pytest.mark.parametrize("case", FRAMES["response_header_cases"], ids=lambda c: c["about"])
def test_response_frame_reads_command_at_byte_2_code_at_byte_4_and_body_after(case: dict[str, Any]) -> None:
    frame = ResponseFrame.decode(bytes.fromhex(case["plaintext_hex"]))
    assert (frame.command, frame.code, frame.body.hex()) == (case["command"], case["code"], case["body_hex"])
    assert frame.encode().hex() == case["plaintext_hex"]


@pytest.mark.parametrize("length", [0, 1, 4])
def test_response_frame_shorter_than_its_prefix_raises_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError):
        ResponseFrame.decode(bytes(length))


@pytest.mark.parametrize("length", [0, 3])
def test_request_frame_shorter_than_its_prefix_raises_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError):
        RequestFrame.decode(bytes(length))


@pytest.mark.parametrize("length", [0, 7, 8])
def test_message_without_ciphertext_raises_protocol_error(length: int) -> None:
    with pytest.raises(ProtocolError):
        unpack_message(bytes(length))


def test_outer_header_fields_are_ignored_on_receipt_like_the_official_client() -> None:
    case = FRAMES["encrypted_frames_initial_key"][0]
    message = bytearray.fromhex(case["frame_hex"])
    message[:HEADER_SIZE] = bytes.fromhex("ffffffff07000000")
    assert bytes(unpack_message(message)).hex() == case["encrypted_hex"]


# --- bootstrap sequence (frames.json) ----------------------------------------------------------------


def _client_after_example_reply() -> tuple[ClientConnection, ResponseFrame]:
    client = ClientConnection()
    client.bootstrap(random=tuple(BOOT["random_bytes"]))  # type: ignore[arg-type]
    return client, client.receive(bytes.fromhex(REPLY["frame_hex"]))


def test_client_bootstrap_request_is_the_official_message() -> None:
    client = ClientConnection()
    assert client.token == bytes.fromhex(BOOT["token_hex"])
    assert client.bootstrap(random=tuple(BOOT["random_bytes"])).hex() == BOOT["frame_hex"]  # type: ignore[arg-type]
    assert not client.ready


def test_server_reads_the_official_bootstrap_request() -> None:
    request = ServerConnection().receive(bytes.fromhex(BOOT["frame_hex"]))
    assert request.encode().hex() == BOOT["plaintext_hex"]
    assert (request.command, request.payload.hex()) == (0, BOOT["token_hex"])


def test_client_installs_token_and_key_from_the_example_bootstrap_reply() -> None:
    client, frame = _client_after_example_reply()
    assert (frame.command, frame.code, frame.body.hex()) == (REPLY["command"], REPLY["code"], REPLY["body_hex"])
    assert frame.encode().hex() == REPLY["plaintext_hex"]
    assert client.ready
    assert client.token.hex() == REPLY["new_token_hex"]


def test_client_next_request_is_encrypted_under_the_new_key() -> None:
    client, _ = _client_after_example_reply()
    assert client.request(NEXT["command"], random=tuple(NEXT["random_bytes"])).hex() == NEXT["frame_hex"]  # type: ignore[arg-type]
    plain = FrameCipher(bytes.fromhex(REPLY["new_key_hex"])).decrypt(unpack_message(bytes.fromhex(NEXT["frame_hex"])))
    assert plain.hex() == NEXT["plaintext_hex"]


def test_client_refuses_a_request_before_the_bootstrap_completed() -> None:
    with pytest.raises(ProtocolError):
        ClientConnection().request(3)


def test_server_writes_the_example_reply_then_reads_the_next_request_under_the_new_key() -> None:
    server = ServerConnection()
    request = server.receive(bytes.fromhex(BOOT["frame_hex"]))
    body = bytes.fromhex(REPLY["body_hex"])
    reserved = int.from_bytes(bytes.fromhex(REPLY["plaintext_hex"])[:2], "little")
    assert server.frame(0, 0, body, reserved).hex() == REPLY["frame_hex"]
    server.accept_bootstrap(request, bytes.fromhex(REPLY["new_token_hex"]), bytes.fromhex(REPLY["new_key_hex"]))
    assert server.ready
    nxt = server.receive(bytes.fromhex(NEXT["frame_hex"]))
    assert (nxt.command, nxt.payload, nxt.random) == (NEXT["command"], b"", tuple(NEXT["random_bytes"]))


def test_client_and_server_agree_after_a_bootstrap_with_a_fresh_key() -> None:
    client, server = ClientConnection(), ServerConnection()
    token, key = bytes(range(64)), bytes(range(100, 132))
    reply = server.accept_bootstrap(server.receive(client.bootstrap()), token, key)
    client.receive(reply)
    assert client.token == token and client.ready
    request = server.receive(client.request(51, b"\x01\x02"))
    assert (request.command, request.payload) == (51, b"\x01\x02")
    answer = client.receive(server.respond(request, 0, b"pong"))
    assert (answer.command, answer.code, answer.body, answer.reserved) == (
        51, 0, b"pong", request.random[0] | request.random[1] << 8
    )
    push = client.receive(server.push(8, b"tick"))
    assert (push.command, push.reserved, push.body) == (8, 0, b"tick")


def test_random_prefix_bytes_stay_within_0_to_254() -> None:
    client = ClientConnection()
    for _ in range(200):
        request = ServerConnection().receive(client.bootstrap())
        assert max(request.random) <= 254


def test_bootstrap_reply_with_a_non_zero_code_raises_protocol_error() -> None:
    client = ClientConnection()
    reply = pack_message(FrameCipher(INITIAL_KEY).encrypt(ResponseFrame(0, 1, b"").encode()))
    with pytest.raises(ProtocolError):
        client.receive(reply)
    assert not client.ready


@pytest.mark.parametrize("key_length", [0, 8, 24, 31])
def test_bootstrap_reply_with_an_unusable_key_length_raises_protocol_error(key_length: int) -> None:
    body = bytes(2) + bytes(64) + bytes(key_length)
    reply = pack_message(FrameCipher(INITIAL_KEY).encrypt(ResponseFrame(0, 0, body).encode()))
    with pytest.raises(ProtocolError):
        ClientConnection().receive(reply)


def test_client_receiving_a_frame_under_the_wrong_key_raises_protocol_error() -> None:
    client, _ = _client_after_example_reply()
    with pytest.raises(ProtocolError):
        client.receive(bytes.fromhex(FRAMES["encrypted_frames_initial_key"][0]["frame_hex"]))


def test_server_accepting_a_bootstrap_with_a_token_that_is_not_64_bytes_raises_encode_error() -> None:
    server = ServerConnection()
    request = server.receive(bytes.fromhex(BOOT["frame_hex"]))
    with pytest.raises(EncodeError):
        server.accept_bootstrap(request, bytes(63), bytes(32))


# --- SPEC §12.1-12.3 ---------------------------------------------------------------------------------

SPEC_12_1 = h("""
50 00 00 00 01 00 00 00 65 fc 15 c9 bc e6 50 d1 f3 ba d7 45 cd d9 7c ac 9b d1 d1 14 9d 9b 04 76
ce 57 5f a2 47 8e 6b d0 15 7e 0f 6b 17 f7 b9 9d 26 67 dd 83 9a d0 d0 e9 56 91 62 84 04 47 ae 16
5a d0 e1 62 72 f5 b6 d8 a4 c7 ef f9 e9 f9 05 de 42 a9 80 81 4e 75 bc 58
""")
SPEC_12_2_INNER = h("00 00 00 00 00") + bytes(2) + bytes(range(0xA0, 0xB0)) * 4 + bytes(range(32))
SPEC_12_2 = h("""
70 00 00 00 01 00 00 00 2f bb 52 1c fb 67 55 a3 3d 24 03 bf 9b 44 54 7f 17 09 2e fa f0 a7 77 14
8e 60 89 0a c4 4d 5c 9c 47 45 4d 7e 5a 37 8e 44 04 02 4e a3 31 47 d0 05 d9 6f e3 7f 27 84 77 07
fe 54 db f6 75 c9 0b 0d 1b ff c8 07 a4 76 27 ec 24 66 78 5c 28 c8 35 c5 3d 32 03 62 93 68 37 31
73 38 6f 93 91 f2 be 7a 9d 7f 34 2e 65 36 95 1f 63 1a 41 01 20 22 8c cf
""")
SPEC_12_3_PING = h("10 00 00 00 01 00 00 00 c5 08 e9 e2 fa 57 ee 67 5d 5d 6b 33 a1 69 e5 a1")
SPEC_12_3_PONG = h("10 00 00 00 01 00 00 00 25 51 b4 e6 29 28 3e 3b 23 5c 23 67 4c 08 48 0a")
SPEC_TOKEN, SPEC_KEY = bytes(range(0xA0, 0xB0)) * 4, bytes(range(32))


def test_spec_12_1_bootstrap_request_with_zero_prefix_and_zero_token() -> None:
    assert ClientConnection().bootstrap(random=(0, 0)) == SPEC_12_1


def test_spec_12_2_bootstrap_response_from_the_server_connection() -> None:
    server = ServerConnection()
    request = server.receive(SPEC_12_1)
    assert len(SPEC_12_2_INNER) == 103
    assert ResponseFrame(0, 0, build_bootstrap_response(SPEC_TOKEN, SPEC_KEY)).encode() == SPEC_12_2_INNER
    assert server.accept_bootstrap(request, SPEC_TOKEN, SPEC_KEY) == SPEC_12_2


def test_spec_12_3_ping_and_its_echoed_response_under_the_session_key() -> None:
    client, server = ClientConnection(), ServerConnection()
    client.bootstrap(random=(0, 0))
    server.accept_bootstrap(server.receive(SPEC_12_1), SPEC_TOKEN, SPEC_KEY)
    client.receive(SPEC_12_2)
    assert client.token == SPEC_TOKEN
    assert client.request(51, random=(0x12, 0x34)) == SPEC_12_3_PING
    ping = server.receive(SPEC_12_3_PING)
    assert ping.encode() == h("12 34 33 00")
    assert server.respond(ping, 0) == SPEC_12_3_PONG
    pong = client.receive(SPEC_12_3_PONG)
    assert (pong.command, pong.code, pong.body) == (51, 0, b"")


# --- device id ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load_vector("device_id")["cases"], ids=lambda c: c["fingerprint"])
def test_client_id_is_the_first_16_bytes_of_sha1_of_the_fingerprint(case: dict[str, str]) -> None:
    assert client_id(case["fingerprint"]).hex() == case["cid_hex"]


def test_client_reads_frames_of_every_size_as_decrypt_and_decode_do() -> None:
    client, server = ClientConnection(), ServerConnection()
    client.receive(server.accept_bootstrap(server.receive(client.bootstrap()), bytes(64), OTHER_KEY))
    reference = FrameCipher(OTHER_KEY)
    for size in [0, 1, 10, 11, 27, 4080, 4090, 4091, 4092, 8000, 379]:  # 4090 B of body: the last small frame
        body = bytes((i * 5 + size) % 256 for i in range(size))
        message = server.frame(10, size % 7, body, 0x1234)
        frame = client.receive(message)
        assert frame == ResponseFrame.decode(reference.decrypt(unpack_message(message))) == ResponseFrame(
            10, size % 7, body, 0x1234)
        assert type(frame.body) is (bytes if size <= 4096 else memoryview)
    for inner in (b"", b"\x01\x02\x03\x04"):  # shorter than the response prefix
        with pytest.raises(ProtocolError, match="shorter than its prefix"):
            client.receive(pack_message(reference.encrypt(inner)))
    with pytest.raises(EncodeError):
        client.request(65536)
