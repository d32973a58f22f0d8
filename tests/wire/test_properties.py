"""Property tests: every layout round-trips, arrays decode like single records, and no input makes a reader
fail with anything but :class:`ProtocolError`.

Hypothesis runs derandomized (a fixed seed per test), without an example database, so every run checks the
same examples.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import LAYOUTS, messages
from pymt5_core.wire.codec import FILETIME_EPOCH_OFFSET_MS, Field, FieldType
from pymt5_core.wire.frames import (
    INITIAL_KEY,
    ClientConnection,
    FrameCipher,
    RequestFrame,
    ResponseFrame,
    ServerConnection,
    pack_message,
)
from pymt5_core.wire.layout import Layout

VECTORS = Path(__file__).parents[1] / "data" / "vectors"

FIXED = settings(
    derandomize=True, database=None, deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
INT_RANGES = {
    FieldType.I8: (-(2**7), 2**7 - 1), FieldType.I16: (-(2**15), 2**15 - 1), FieldType.I32: (-(2**31), 2**31 - 1),
    FieldType.U8: (0, 2**8 - 1), FieldType.U16: (0, 2**16 - 1), FieldType.U32: (0, 2**32 - 1),
    FieldType.I64: (-(2**63), 2**63 - 1), FieldType.U64: (0, 2**64 - 1),
}
#: Unix ms values whose FILETIME fits a u64.
TIME_RANGE = (-FILETIME_EPOCH_OFFSET_MS, (2**64 - 1) // 10_000 - FILETIME_EPOCH_OFFSET_MS)
NO_NUL_TEXT = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])


def _fit_utf16(text: str, size: int) -> str:
    """Drop whole characters from the end until the UTF-16 form fits ``size`` bytes (keeps pairs intact)."""
    while len(text.encode("utf-16-le")) > size:
        text = text[:-1]
    return text


def field_values(field: Field) -> st.SearchStrategy[Any]:
    """Values that a field can carry and give back unchanged."""
    t = field.type
    if t in INT_RANGES:
        return st.integers(*INT_RANGES[t])
    if t is FieldType.F64:
        return st.floats(allow_nan=True, allow_infinity=True)
    if t is FieldType.F32:
        return st.floats(width=32, allow_nan=False, allow_infinity=True)
    if t is FieldType.TIME:
        return st.integers(*TIME_RANGE)
    if t is FieldType.STR16:
        return st.text(NO_NUL_TEXT, max_size=field.size // 2).map(lambda s: _fit_utf16(s, field.size))
    if t is FieldType.STR8:
        return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=field.size)
    return st.binary(min_size=field.size, max_size=field.size)


def record_values(layout: Layout) -> st.SearchStrategy[list[Any]]:
    return st.tuples(*(field_values(f) for f in layout.spec)).map(list)


def comparable(field: Field, value: Any) -> Any:
    """A form of a value where equality means bit-identical on the wire (floats, NaN) or as decoded (str8)."""
    if field.type is FieldType.F64:
        return struct.pack("<d", value)
    if field.type is FieldType.F32:
        return struct.pack("<f", value)
    if field.type is FieldType.STR8:
        return value.rstrip("\x00")
    if isinstance(value, (bytes, np.void)):
        return bytes(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def assert_same_record(layout: Layout, got: Any, want: list[Any]) -> None:
    bad = [f.name for f, g, w in zip(layout.spec, got, want, strict=True) if comparable(f, g) != comparable(f, w)]
    assert not bad


LAYOUT_NAMES = sorted(LAYOUTS)


# --- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAYOUT_NAMES)
@FIXED
@given(data=st.data())
def test_layout_pack_then_unpack_gives_the_values_back(name: str, data: st.DataObject) -> None:
    layout = LAYOUTS[name]
    values = data.draw(record_values(layout))
    raw = layout.pack(values)
    assert len(raw) == layout.size
    assert_same_record(layout, layout.unpack(raw), values)
    assert layout.pack_dict(layout.unpack_dict(raw)) == raw


@pytest.mark.parametrize("name", LAYOUT_NAMES)
@FIXED
@given(data=st.data())
def test_unpack_array_of_packed_records_equals_unpacking_each_record(name: str, data: st.DataObject) -> None:
    layout = LAYOUTS[name]
    rows = data.draw(st.lists(record_values(layout), max_size=3))
    raw = b"".join(layout.pack(r) for r in rows)
    array = layout.unpack_array(raw)
    assert len(array) == len(rows)
    for i, row in enumerate(rows):
        single = layout.unpack(raw, i * layout.size)
        assert_same_record(layout, [array[f][i] for f in layout.fields], single)
        assert_same_record(layout, single, row)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
@FIXED
@given(data=st.data())
def test_unpack_array_of_arbitrary_bytes_equals_unpacking_each_record(name: str, data: st.DataObject) -> None:
    layout = LAYOUTS[name]
    raw = data.draw(st.binary(min_size=0, max_size=2 * layout.size + 3))
    array = layout.unpack_array(raw)
    assert len(array) == len(raw) // layout.size
    for i in range(len(array)):
        assert_same_record(layout, [array[f][i] for f in layout.fields], layout.unpack(raw, i * layout.size))


def test_unpack_array_decodes_text_outside_the_basic_plane_like_unpack() -> None:
    layout = LAYOUTS["SymbolGroup"]
    raw = layout.pack(["Forex \U0001f600 \u65e5"]) + layout.pack(["plain"])
    assert list(layout.unpack_array(raw)["group_name"]) == ["Forex \U0001f600 \u65e5", "plain"]


def test_float_fields_keep_nan_payload_and_signed_zero_bit_for_bit() -> None:
    layout = Layout("f", [Field("v", FieldType.F64)])
    for bits in (0x7FF8_0000_0000_0001, 0xFFF0_0000_0000_0000, 0x8000_0000_0000_0000):
        raw = struct.pack("<Q", bits)
        assert layout.pack(layout.unpack(raw)) == raw
        assert layout.pack_array(layout.unpack_array(raw)) == raw


# --- fuzzing: only ProtocolError may escape ------------------------------------------------------------


def _hex(name: str, *path: str | int) -> list[bytes]:
    doc: Any = json.loads((VECTORS / f"{name}.json").read_text())
    for key in path:
        doc = doc[key]
    return [bytes.fromhex(doc)] if isinstance(doc, str) else [bytes.fromhex(c["hex"]) for c in doc]


def _message(*names: str) -> list[bytes]:
    found = {m["name"]: m for m in json.loads((VECTORS / "messages.json").read_text())["messages"]}
    return [bytes.fromhex(found[n]["body_hex"]) for n in names]


def _compressed() -> list[bytes]:
    (raw,) = _message("symbols_basic")
    return [struct.pack("<I", len(raw)) + zlib.compress(raw)]


#: Valid bodies to mutate, per reader (empty: only random bytes). Every read_* must have an entry.
SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "read_account": lambda: _message("account_full", "account_header_only"),
    "read_bars": lambda: [bytes.fromhex(s["hex"]) for s in json.loads((VECTORS / "rate_bar.json").read_text())["sets"]],
    "read_book": lambda: _message("book", "book_empty"),
    "read_full_symbols": lambda: _message("symbols_full"),
    "read_rates_request": lambda: _hex("rate_request", "cases"),
    "read_spreads": lambda: _message("spreads"),
    "read_symbol_groups": lambda: _message("symbol_groups"),
    "read_symbol_stats": lambda: _message("tickers"),
    "read_symbol_update": lambda: _message("symbols_full_push"),
    "read_symbols": lambda: _message("symbols_basic"),
    "read_symbols_compressed": _compressed,
    "read_ticks": lambda: _message("ticks"),
    "read_bootstrap_request": lambda: [bytes(64)],
    "read_bootstrap_response": lambda: [messages.build_bootstrap_response(bytes(64), bytes(32))],
    "read_change_password_request": lambda: _hex("change_password_request", "cases"),
    "read_change_password_response": lambda: [bytes(4)],
    "read_corporate_links": lambda: _message("corporate_links"),
    "read_init_request": lambda: _hex("init_request", "cases"),
    "read_link_state": lambda: [bytes(4)],
    "read_login_request": lambda: _hex("login_request", "cases"),
    "read_login_response": lambda: _message("login_response"),
    "read_notify_request": lambda: _hex("notify_request", "cases"),
    "read_open_account_request": lambda: _hex("open_demo_account_request", "cases"),
    "read_open_account_response": lambda: _message("open_account_result"),
    "read_open_real_account_request": lambda: _hex("open_real_account_request", "cases"),
    "read_otp_request": lambda: _hex("otp_request", "cases"),
    "read_trader_params": lambda: _message("trader_params"),
    "read_verification_request": lambda: _hex("verify_codes_request", "cases"),
    "read_verification_response": lambda: _message("verify_result"),
    "read_history": lambda: _message("trade_history"),
    "read_history_request": lambda: _hex("trade_history_request", "cases"),
    "read_opened": lambda: _message("open_positions_and_orders"),
    "read_trade_request": lambda: _hex("trade_request", "cases"),
    "read_trade_result": lambda: _message("trade_result"),
    "read_trade_outcome": lambda: _message("trade_result"),
    "read_trade_status": lambda: [bytes(4)],
    "read_trade_update": lambda: _message("trade_update", "order_transactions"),
    "read_id_list": lambda: _hex("symbol_id_list_request", "cases"),
}
READERS = sorted(n for n in messages.__all__ if n.startswith("read_"))


def test_every_reader_has_fuzz_seeds() -> None:
    assert set(READERS) == set(SEEDS)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed body truncated, with bytes overwritten, with a huge count planted, or plain random bytes."""
    kind = draw(st.sampled_from(["random", "truncate", "flip", "count"] if seeds else ["random"]))
    if kind == "random":
        return draw(st.binary(max_size=600))
    body = bytearray(draw(st.sampled_from(seeds)))
    if kind == "truncate":
        return bytes(body[: draw(st.integers(0, max(len(body) - 1, 0)))])
    if kind == "flip" and body:
        for _ in range(draw(st.integers(1, 8))):
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        return bytes(body)
    if len(body) >= 4:
        at = draw(st.sampled_from(range(0, len(body) - 3, 4)))
        body[at : at + 4] = struct.pack("<I", draw(st.sampled_from([1, 2, 255, 2**31 - 1, 2**31, 2**32 - 1])))
    return bytes(body)


def assert_only_protocol_error(call: Callable[[], Any]) -> None:
    with contextlib.suppress(ProtocolError):
        call()


@pytest.mark.parametrize("reader", READERS)
@FIXED
@given(data=st.data())
def test_reader_given_corrupt_bytes_raises_only_protocol_error(reader: str, data: st.DataObject) -> None:
    body = data.draw(mutated(SEEDS[reader]()))
    assert_only_protocol_error(lambda: getattr(messages, reader)(body))


@FIXED
@given(body=mutated([b.ljust(48 * ((len(b) + 47) // 48), b"\0") for b in SEEDS["read_bars"]()]),
       period=st.sampled_from([1, 5, 15, 30, 0x4001, 0x4004, 0x4018, 0x8001, 0xC001]))
def test_bars_alignment_check_given_corrupt_bytes_raises_only_protocol_error(body: bytes, period: int) -> None:
    assert_only_protocol_error(lambda: messages.read_bars(body, period))


@FIXED
@given(inner=st.binary(max_size=200))
def test_frame_decoders_given_random_bytes_raise_only_protocol_error(inner: bytes) -> None:
    assert_only_protocol_error(lambda: RequestFrame.decode(inner))
    assert_only_protocol_error(lambda: ResponseFrame.decode(inner))


@FIXED
@given(message=st.binary(max_size=200))
def test_connections_given_random_messages_raise_only_protocol_error(message: bytes) -> None:
    assert_only_protocol_error(lambda: ClientConnection().receive(message))
    assert_only_protocol_error(lambda: ServerConnection().receive(message))


@FIXED
@given(inner=st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=120).map(lambda b: b"\x00\x00\x00\x00" + b),  # bootstrap answers, any code and size
))
def test_connections_given_well_encrypted_random_frames_raise_only_protocol_error(inner: bytes) -> None:
    message = pack_message(FrameCipher(INITIAL_KEY).encrypt(inner))
    assert_only_protocol_error(lambda: ClientConnection().receive(message))
    assert_only_protocol_error(lambda: ServerConnection().receive(message))

