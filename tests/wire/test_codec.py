"""The field codec against ``codec_types.json``, ``string_helpers.json`` and ``codec_quirks.json``.

Where the official codec has a quirk (overflowing strings, wrapping integers, shifting short buffers) we
deliberately do something safer; each such choice has its own test below that names it.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire.codec import (
    FILETIME_EPOCH_OFFSET_MS,
    LOTS_SCALE,
    Field,
    FieldType,
    decode_str8,
    decode_str16,
    encode_str8,
    encode_str16,
    filetime_to_unix_ms,
    lots_to_wire,
    normalize,
    price_from_wire,
    price_to_wire,
    read_length_prefixed,
    unix_ms_to_filetime,
    wire_to_lots,
)
from pymt5_core.wire.layout import Layout

VECTORS = Path(__file__).parents[1] / "data" / "vectors"


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / f"{name}.json").read_text())


CODEC_TYPES = load_vector("codec_types")
STRING_HELPERS = load_vector("string_helpers")
QUIRKS = {q["name"]: q for q in load_vector("codec_quirks")["quirks"]}


def one_field(prop_type: int, length: int = 0) -> Layout:
    """A layout of a single field of the given codec type id."""
    return Layout("one", [Field("v", FieldType(prop_type), length)])


def from_json(prop_type: int, value: Any) -> Any:
    """Translate a vector value into our Python convention (see the vectors README)."""
    if prop_type in (17, 18):
        return int(value)
    if prop_type == 12:
        return bytes.fromhex(value)
    return value


def _type_case_id(case: dict[str, Any]) -> str:
    return f"{case['type']}-{case['value']!r}"[:40]


# --- codec_types.json: one field of every type -------------------------------------------------------


@pytest.mark.parametrize("case", CODEC_TYPES["cases"], ids=_type_case_id)
def test_single_field_encodes_to_the_official_bytes(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    layout = one_field(case["propType"], case.get("propLength", len(raw)))
    assert layout.pack([from_json(case["propType"], case["value"])]) == raw


@pytest.mark.parametrize("case", CODEC_TYPES["cases"], ids=_type_case_id)
def test_single_field_decodes_to_the_official_value(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    layout = one_field(case["propType"], case.get("propLength", len(raw)))
    assert layout.unpack(raw) == [from_json(case["propType"], case["parsed"])]


def test_every_type_id_of_the_vectors_is_a_field_type_with_the_documented_size() -> None:
    for type_id, size in CODEC_TYPES["sizes"].items():
        field_type = FieldType(int(type_id))
        if size == "propLength":
            assert field_type.fixed_size is None
        else:
            assert field_type.fixed_size == size
    covered = {c["propType"] for c in CODEC_TYPES["cases"]}
    assert covered == {int(t) for t in CODEC_TYPES["type_ids"]} - {9}  # type 9 has its own section


def test_float32_field_widens_to_the_nearest_float32_value() -> None:
    layout = one_field(7)
    assert layout.unpack(layout.pack([0.1]))[0] == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert layout.unpack(layout.pack([16777217]))[0] == 16777216.0


def test_float32_field_rejects_a_value_beyond_float32_range() -> None:
    with pytest.raises(EncodeError):
        one_field(7).pack([1e39])


# --- FILETIME (type 9) --------------------------------------------------------------------------------

FILETIME_CASES = CODEC_TYPES["filetime"]["cases"]
EXACT = [c for c in FILETIME_CASES if c["same_as_exact"]]
DOUBLE_ROUNDED = [c for c in FILETIME_CASES if not c["same_as_exact"]]


@pytest.mark.parametrize("case", EXACT, ids=lambda c: str(c["ms"]))
def test_filetime_field_matches_the_official_bytes_when_doubles_are_exact(case: dict[str, Any]) -> None:
    layout = one_field(9)
    assert layout.pack([case["ms"]]).hex() == case["hex"]
    assert layout.unpack(bytes.fromhex(case["hex"])) == [case["parsed"]]


def test_vectors_contain_a_filetime_where_official_double_arithmetic_loses_precision() -> None:
    assert DOUBLE_ROUNDED, "the exact-vs-double section of codec_types.json is what the next tests check"


@pytest.mark.parametrize("case", DOUBLE_ROUNDED, ids=lambda c: str(c["ms"]))
def test_filetime_uses_exact_integer_arithmetic_where_the_official_codec_rounds(case: dict[str, Any]) -> None:
    """Deliberate difference: FILETIME conversion is exact integer arithmetic, not JavaScript doubles.

    Above 2**53 ticks the official codec writes a rounded tick count and reads a millisecond off; we write
    the exact tick count (``exact_integer_hex``) and read every tick count back to the exact millisecond.
    """
    layout = one_field(9)
    assert layout.pack([case["ms"]]).hex() == case["exact_integer_hex"] != case["hex"]
    assert layout.unpack(bytes.fromhex(case["exact_integer_hex"])) == [case["exact_integer_roundtrip"]]
    assert case["exact_integer_roundtrip"] != case["parsed_from_exact_hex"]
    # The official (rounded) bytes are a tick count that floors to the same millisecond the official reader
    # reports, so bytes written by the official codec still read the same here.
    assert layout.unpack(bytes.fromhex(case["hex"])) == [case["parsed"]]


@pytest.mark.parametrize("ms", [0, 1, -1, 1_700_000_000_123, -FILETIME_EPOCH_OFFSET_MS, 253_402_300_799_999])
def test_filetime_helpers_are_inverse_of_each_other(ms: int) -> None:
    assert filetime_to_unix_ms(unix_ms_to_filetime(ms)) == ms


def test_filetime_reading_floors_sub_millisecond_ticks() -> None:
    assert filetime_to_unix_ms(unix_ms_to_filetime(5) + 9_999) == 5


def test_filetime_before_1601_cannot_be_encoded() -> None:
    with pytest.raises(EncodeError):
        one_field(9).pack([-FILETIME_EPOCH_OFFSET_MS - 1])


# --- length-prefixed byte fields (§3.5) ---------------------------------------------------------------


@pytest.mark.parametrize("case", CODEC_TYPES["length_prefixed_bytes"]["cases"], ids=lambda c: c["hex"])
def test_length_prefixed_bytes_read_like_the_official_reader(case: dict[str, Any]) -> None:
    data = bytes.fromhex(case["hex"])
    chunk, pos = read_length_prefixed(data, 0, FieldType(case["propLengthType"]))
    (after,) = struct.unpack_from("<I", data, pos)
    want_bytes, want_after = case["parsed"]
    assert chunk == (None if want_bytes is None else bytes.fromhex(want_bytes))
    assert after == want_after
    assert pos + 4 == len(data)


def test_length_prefix_cut_by_the_end_of_the_body_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        read_length_prefixed(b"\x01", 0, FieldType.U16)


def test_length_prefix_of_a_non_integer_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        read_length_prefixed(b"\x01\x00", 0, FieldType.F64)


# --- string_helpers.json ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", STRING_HELPERS["utf16"], ids=lambda c: repr(c["value"]))
def test_utf16_helper_writes_the_official_bytes_and_reads_back(case: dict[str, Any]) -> None:
    buffer = bytes.fromhex(case["buffer_hex"])
    field = buffer[case["offset"] :]
    assert encode_str16(case["value"], len(field)) == field
    assert decode_str16(field) == case["read_back"]


def test_utf16_helper_keeps_a_surrogate_pair_as_two_code_units() -> None:
    assert encode_str16("\U0001f600", 4) == bytes.fromhex("3dd800de")
    assert decode_str16(bytes.fromhex("3dd800de")) == "\U0001f600"


def test_utf16_helper_passes_a_lone_surrogate_through() -> None:
    assert decode_str16(bytes.fromhex("3dd8")) == "\ud83d"
    assert encode_str16("\ud83d", 4) == bytes.fromhex("3dd80000")


def test_utf16_helper_ends_the_string_at_an_embedded_zero_unit() -> None:
    assert decode_str16(encode_str16("a\x00b", 8)) == "a"


@pytest.mark.parametrize("case", STRING_HELPERS["ascii"], ids=lambda c: repr(c["value"]))
def test_one_byte_text_helper_writes_low_bytes_and_reads_every_byte(case: dict[str, Any]) -> None:
    buffer = bytes.fromhex(case["buffer_hex"])
    field = buffer[case["offset"] :]
    assert encode_str8(case["value"], len(field)) == field
    assert decode_str8(field[: len(case["read_back"])]) == case["read_back"]


@pytest.mark.parametrize("case", STRING_HELPERS["filetime"], ids=lambda c: str(c["ms"]))
def test_filetime_helper_writes_the_official_tick_count(case: dict[str, Any]) -> None:
    buffer = bytes.fromhex(case["buffer_hex"])
    ticks = int.from_bytes(buffer[case["offset"] : case["offset"] + 8], "little")
    assert unix_ms_to_filetime(case["ms"]) == ticks
    assert filetime_to_unix_ms(ticks) == case["read_back"]


# --- codec_quirks.json: our deliberate behaviour for each quirk ---------------------------------------

TWO_TEXTS_AND_U32 = Layout(
    "quirk", [Field("a", FieldType.STR16, 8), Field("b", FieldType.STR16, 8), Field("n", FieldType.U32)]
)


def test_quirk_string_overflow_choice_long_string_is_truncated_to_its_field() -> None:
    """Official: 8 characters in an 8-byte field spill into the next field. Ours: cut to 4 code units."""
    official = QUIRKS["string_overflow_into_next_field"]["result"]
    ours = TWO_TEXTS_AND_U32.pack(["ABCDEFGH", "", 7])
    assert ours == bytes.fromhex("41004200430044000000000000000000" "07000000")
    assert ours.hex() != official["hex"]
    assert TWO_TEXTS_AND_U32.unpack(ours) == ["ABCD", "", 7]


def test_quirk_string_overflow_at_end_choice_truncates_instead_of_raising() -> None:
    assert "throws" in QUIRKS["string_overflow_at_end"]
    assert one_field(11, 8).pack(["ABCDEFGH"]) == "ABCD".encode("utf-16-le")


def test_quirk_utf16_reader_stops_at_the_first_zero_unit_like_the_official_reader() -> None:
    assert [decode_str16(bytes.fromhex("4100420000004300"))] == QUIRKS["utf16_reader_stops_at_zero"]["result"]


def test_quirk_short_bytes_choice_value_is_zero_padded_and_later_fields_stay_in_place() -> None:
    """Official: a 2-byte buffer in a 4-byte field shifts the next field left. Ours: zero padding."""
    layout = Layout("quirk", [Field("raw", FieldType.BYTES, 4), Field("n", FieldType.U32)])
    ours = layout.pack([bytes.fromhex("aabb"), 0x11223344])
    assert ours == bytes.fromhex("aabb0000" "44332211")
    assert ours.hex() != QUIRKS["bytes_shorter_than_propLength"]["result"]


def test_quirk_empty_device_id_choice_sixteen_zero_bytes_keep_later_fields_in_place() -> None:
    layout = Layout("quirk", [Field("a", FieldType.U32), Field("cid", FieldType.BYTES, 16), Field("b", FieldType.U32)])
    ours = layout.pack([1, b"", 2])
    assert ours == bytes.fromhex("01000000" + "00" * 16 + "02000000")
    assert ours.hex() != QUIRKS["bytes_zero_length_device_id"]["result"]


def test_quirk_bytes_longer_than_the_field_raise_encode_error() -> None:
    with pytest.raises(EncodeError):
        one_field(12, 4).pack([bytes(5)])


def test_quirk_parse_past_end_choice_absent_fields_are_none() -> None:
    layout = Layout("quirk", [Field("a", FieldType.U32), Field("b", FieldType.U32), Field("c", FieldType.U32)])
    got = layout.unpack(bytes.fromhex("0100000002000000"))
    assert got[: len(QUIRKS["parse_past_end"]["result"])] == QUIRKS["parse_past_end"]["result"]
    assert got == [1, 2, None]


@pytest.mark.parametrize("prop_type", [2, 3, 5, 6, 8, 9, 11, 17, 18])
def test_quirk_partial_numeric_or_utf16_field_raises_protocol_error(prop_type: int) -> None:
    assert "throws" in QUIRKS["parse_partial_field"]
    layout = Layout("quirk", [Field("a", FieldType.U8), Field("b", FieldType(prop_type), 4)])
    with pytest.raises(ProtocolError):
        layout.unpack(bytes.fromhex("0102"))


def test_quirk_partial_one_byte_text_and_bytes_fields_are_truncated_like_the_official_reader() -> None:
    layout = Layout("quirk", [Field("t", FieldType.STR8, 4), Field("r", FieldType.BYTES, 4)])
    assert layout.unpack(b"AB") == ["AB", None]
    assert layout.unpack(b"ABCD\x01") == ["ABCD", b"\x01"]


WRAP_CASES = {
    "u8_256": (4, 256),
    "u8_minus1": (4, -1),
    "i32_2pow31": (3, 2**31),
    "u32_minus1": (6, -1),
    "u32_1_9": (6, 1.9),
    "i16_minus1_5": (2, -1.5),
    "u64_2pow64": (18, 2**64),
    "i64_2pow63": (17, 2**63),
}


@pytest.mark.parametrize("name", sorted(QUIRKS["integer_wrap_on_write"]["result"]))
def test_quirk_integer_wrap_choice_out_of_range_or_fractional_value_raises_encode_error(name: str) -> None:
    """Official: wraps modulo 2**bits and truncates fractions. Ours: refuse, nothing is written."""
    prop_type, value = WRAP_CASES[name]
    with pytest.raises(EncodeError):
        one_field(prop_type).pack([value])


def test_quirk_integral_float_is_accepted_for_an_integer_field() -> None:
    assert one_field(6).pack([2.0]) == bytes.fromhex("02000000")


@pytest.mark.parametrize("prop_type", [1, 2, 3, 4, 5, 6, 17, 18])
def test_quirk_bigint_vs_number_choice_python_int_serves_every_integer_width(prop_type: int) -> None:
    assert "throws" in QUIRKS["number_for_64bit_field"] and "throws" in QUIRKS["bigint_for_32bit_field"]
    layout = one_field(prop_type)
    assert layout.unpack(layout.pack([1])) == [1]


@pytest.mark.parametrize("value", [True, "1", b"\x01"])
def test_integer_field_rejects_non_integers(value: Any) -> None:
    with pytest.raises(EncodeError):
        one_field(6).pack([value])


@pytest.mark.parametrize("buffer", [bytearray(b"\x01\x02"), memoryview(b"\x01\x02"), b"\x01\x02"])
def test_quirk_typed_array_choice_any_bytes_like_value_is_accepted(buffer: Any) -> None:
    assert "throws" in QUIRKS["typed_array_for_bytes"]
    assert one_field(12, 2).pack([buffer]) == b"\x01\x02"


def test_bytes_field_rejects_text() -> None:
    with pytest.raises(EncodeError):
        one_field(12, 2).pack(["ab"])


def test_quirk_empty_field_list_choice_packs_to_empty_bytes_not_none() -> None:
    assert QUIRKS["empty_field_list"]["result"] is None
    assert Layout("empty", []).pack([]) == b""


@pytest.mark.parametrize("type_id", [0, 13, 14, 15, 16, 19])
def test_quirk_unknown_type_choice_is_rejected_when_the_layout_is_declared(type_id: int) -> None:
    """Official: unknown ids take no bytes and read as 0. Ours: such a field cannot be declared."""
    with pytest.raises(ValueError):
        FieldType(type_id)


def test_quirk_one_byte_text_writes_the_low_byte_of_each_code_unit_like_the_official_writer() -> None:
    assert encode_str8("\u0100\u20acZ", 3).hex() == QUIRKS["ascii_field_nonascii_input"]["result"]


def test_every_quirk_in_the_vectors_is_covered_here() -> None:
    covered = {
        "string_overflow_into_next_field", "string_overflow_at_end", "utf16_reader_stops_at_zero",
        "bytes_shorter_than_propLength", "bytes_zero_length_device_id", "parse_past_end", "parse_partial_field",
        "integer_wrap_on_write", "number_for_64bit_field", "bigint_for_32bit_field", "typed_array_for_bytes",
        "empty_field_list", "unknown_type", "ascii_field_nonascii_input",
    }
    assert set(QUIRKS) == covered


def test_sized_field_without_length_is_rejected() -> None:
    with pytest.raises(ValueError):
        Field("v", FieldType.STR16)
    with pytest.raises(ValueError):
        Field("v", FieldType.STR16, 3)


# --- §3.8 normalize, lots and prices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (1.23456, 2, 1.23),
        (1.005, 2, 1.01),  # 100.49999999999999 + 0.5000001 floors to 101
        (-1.005, 2, -1.01),  # mirror image for negatives
        (2.5, 0, 3.0),
        (-2.5, 0, -3.0),
        (0.4999999, 0, 1.0),  # the 1e-7 bias rounds values this close to .5 up
        (0.49999, 0, 0.0),
        (1.123456789123, 12, 1.12345679),  # digits clamped to 8
        (2.5, -3, 3.0),  # digits clamped to 0
        (0.0, 5, 0.0),
    ],
)
def test_normalize_rounds_with_the_official_bias(value: float, digits: int, expected: float) -> None:
    assert normalize(value, digits) == expected


@pytest.mark.parametrize(
    ("lots", "wire"),
    [
        (0.01, 1_000_000),
        (1.0, LOTS_SCALE),
        (0.1 + 0.2, 30_000_000),  # formatting to 8 decimals removes the binary error
        (123.456789012, 12_345_678_901),  # digits beyond the 8th are rounded away
        (-0.5, -50_000_000),
        (0.0, 0),
    ],
)
def test_lots_to_wire_formats_with_eight_decimals(lots: float, wire: int) -> None:
    assert lots_to_wire(lots) == wire


def test_lots_to_wire_equals_the_eight_decimal_formatting_everywhere() -> None:
    """The arithmetic shortcut gives exactly the formatted value: volumes on and near the 1e-8 grid, halves
    of it (ties), random doubles, and values past the shortcut's range."""
    rng = random.Random(8)
    grid = [rng.randrange(10**13) / 1e8 for _ in range(3000)]
    halves = [(rng.randrange(10**12) + 0.5) / 1e8 for _ in range(3000)]
    near = [math.nextafter(v, math.inf if i % 2 else -math.inf) for i, v in enumerate(grid + halves)]
    doubles = [rng.uniform(-2e7, 2e7) for _ in range(3000)] + [rng.random() * 10.0 ** rng.randint(-10, 9)
                                                                  for _ in range(3000)]
    edges = [9999999.999999995, 9999999.99999999, 1e7, -1e7, 1e15, 5e-9, 1.5e-8, 2.5e-8, -2.5e-8, -0.0, 0.0, 3, -7]
    for lots in [*grid, *halves, *near, *doubles, *(-v for v in grid[:500]), *edges]:
        assert lots_to_wire(lots) == int(f"{lots:.8f}".replace(".", "")), lots


@pytest.mark.parametrize("lots", [math.inf, -math.inf, math.nan])
def test_lots_to_wire_rejects_non_finite_volumes(lots: float) -> None:
    with pytest.raises(EncodeError):
        lots_to_wire(lots)


def test_wire_to_lots_divides_by_1e8() -> None:
    assert wire_to_lots(1_000_000) == 0.01
    assert wire_to_lots(lots_to_wire(2.35)) == 2.35


def test_tick_prices_scale_by_ten_to_the_digits_and_back() -> None:
    assert price_to_wire(1.08123, 5) == 108123.0
    assert price_from_wire(108123.0, 5) == 1.08123
    assert price_to_wire(1.5, 12) == 150_000_000.0  # digits clamped to 8


# --- compiled record readers and dict packing ----------------------------------------------------------

MIXED = Layout("mixed", [
    Field("id", FieldType.U64), Field("name", FieldType.STR16, 8), Field("tag", FieldType.STR8, 3),
    Field("price", FieldType.F64), Field("at", FieldType.TIME), Field("raw", FieldType.BYTES, 2),
    Field("n", FieldType.I32),
])


def test_a_compiled_reader_gives_the_wanted_fields_in_the_order_asked_as_unpack_decodes_them() -> None:
    values = [2**63 + 5, "Ab", "x\0y", 1.25, 1_763_467_200_123, b"\x01\x02", -7]
    data = b"\xee" * 3 + MIXED.pack(values) + b"\xee"
    assert MIXED.unpack(data, 3) == values and MIXED.reader()(data, 3) == tuple(values)
    assert MIXED.unpack_dict(data, 3) == dict(zip(MIXED.fields, values, strict=True))
    assert MIXED.reader(["n", "name", "at", "id"])(data, 3) == (-7, "Ab", 1_763_467_200_123, 2**63 + 5)
    assert MIXED.reader(["n", "name", "at", "id"]) is MIXED.reader(("n", "name", "at", "id"))  # compiled once
    assert MIXED.reader([])(data, 3) == ()
    with pytest.raises(KeyError):
        MIXED.reader(["nope"])
    empty = MIXED.pack([0, "", "", 0.0, None, b"", 0])
    assert MIXED.reader(["name", "tag"])(empty, 0) == ("", "\0\0\0")


def test_pack_dict_writes_missing_fields_as_zero_and_reports_errors_in_field_order() -> None:
    assert MIXED.pack_dict({"n": 3, "name": "Q"}) == MIXED.pack([None, "Q", None, None, None, None, 3])
    with pytest.raises(EncodeError, match="unknown fields"):
        MIXED.pack_dict({"n": "bad", "nope": 1})  # the unknown field is reported first, as before any value
    with pytest.raises(EncodeError, match=r"^id: "):
        MIXED.pack_dict({"n": "bad", "id": -1})  # the first field in layout order, not in the dict's order


def test_short_texts_read_again_and_again_decode_the_same_as_new_ones() -> None:
    """Readers keep the short texts they decoded (a bounded table, emptied when full): a text read the first
    time, read again, or read after the table was emptied is the same string."""
    layout = Layout("texts", [Field("t", FieldType.STR16, 16), Field("long", FieldType.STR16, 256)])
    texts = [f"s{i}\u20ac" for i in range(5000)] + ["s1\u20ac", "\U0001f600x", "s4999\u20ac"]
    for text in texts:
        data = layout.pack([text, text])
        assert layout.unpack(data) == list(layout.unpack_dict(data).values()) == [text, text]
        assert layout.reader(["t"])(data, 0) == (text,)
