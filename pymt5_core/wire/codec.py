"""The field codec: type ids, single-field encoding, text, FILETIME and scaling helpers (SPEC §3).

Values follow one convention everywhere in :mod:`pymt5_core.wire`:

* integer types (ids 1-6, 17, 18) are ``int``; floats (7, 8) are ``float``;
* type 9 (FILETIME) is ``int`` Unix milliseconds;
* text (10, 11) is ``str``; raw bytes (12) are ``bytes``.
"""

from __future__ import annotations

import codecs
import math
import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from pymt5_core.errors import EncodeError, ProtocolError

__all__ = [
    "FILETIME_EPOCH_OFFSET_MS",
    "LOTS_SCALE",
    "Field",
    "FieldType",
    "TimeKind",
    "decode_str8",
    "decode_str16",
    "encode_str8",
    "encode_str16",
    "filetime_to_unix_ms",
    "lots_to_wire",
    "normalize",
    "price_from_wire",
    "price_to_wire",
    "read_length_prefixed",
    "unix_ms_to_filetime",
    "wire_to_lots",
]

#: Milliseconds between 1601-01-01 and 1970-01-01 (the FILETIME and Unix epochs).
FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000
#: Volumes travel as lots x 1e8.
LOTS_SCALE = 100_000_000


class FieldType(IntEnum):
    """The codec's type ids (SPEC §3.1). The id never appears on the wire."""

    I8 = 1
    I16 = 2
    I32 = 3
    U8 = 4
    U16 = 5
    U32 = 6
    F32 = 7
    F64 = 8
    TIME = 9
    STR8 = 10
    STR16 = 11
    BYTES = 12
    I64 = 17
    U64 = 18

    @property
    def fixed_size(self) -> int | None:
        """Byte size for fixed-width types, None for the sized ones (10, 11, 12)."""
        return _FIXED_SIZES.get(self)

    @property
    def struct_code(self) -> str:
        """The :mod:`struct` code of this type (sized types need a length prefix)."""
        return _STRUCT_CODES[self]

    @property
    def numpy_code(self) -> str:
        """The little-endian numpy type string (sized types need a length suffix)."""
        return _NUMPY_CODES[self]


_FIXED_SIZES = {
    FieldType.I8: 1, FieldType.I16: 2, FieldType.I32: 4, FieldType.U8: 1, FieldType.U16: 2,
    FieldType.U32: 4, FieldType.F32: 4, FieldType.F64: 8, FieldType.TIME: 8, FieldType.I64: 8,
    FieldType.U64: 8,
}
_STRUCT_CODES = {
    FieldType.I8: "b", FieldType.I16: "h", FieldType.I32: "i", FieldType.U8: "B", FieldType.U16: "H",
    FieldType.U32: "I", FieldType.F32: "f", FieldType.F64: "d", FieldType.TIME: "Q", FieldType.STR8: "s",
    FieldType.STR16: "s", FieldType.BYTES: "s", FieldType.I64: "q", FieldType.U64: "Q",
}
_NUMPY_CODES = {
    FieldType.I8: "i1", FieldType.I16: "<i2", FieldType.I32: "<i4", FieldType.U8: "u1",
    FieldType.U16: "<u2", FieldType.U32: "<u4", FieldType.F32: "<f4", FieldType.F64: "<f8",
    FieldType.TIME: "<u8", FieldType.STR8: "S", FieldType.STR16: "V", FieldType.BYTES: "V",
    FieldType.I64: "<i8", FieldType.U64: "<u8",
}
_INT_RANGES = {
    FieldType.I8: (-(2**7), 2**7 - 1), FieldType.I16: (-(2**15), 2**15 - 1),
    FieldType.I32: (-(2**31), 2**31 - 1), FieldType.U8: (0, 2**8 - 1), FieldType.U16: (0, 2**16 - 1),
    FieldType.U32: (0, 2**32 - 1), FieldType.I64: (-(2**63), 2**63 - 1), FieldType.U64: (0, 2**64 - 1),
}
INTEGER_TYPES = frozenset(_INT_RANGES)
SIZED_TYPES = frozenset({FieldType.STR8, FieldType.STR16, FieldType.BYTES})


class TimeKind(StrEnum):
    """What an integer field that holds a time counts (the SPEC layout notes); FILETIME is a time by type."""

    #: Unix seconds of something the server reports happening (a quote, a book, an order, a deal, a symbol
    #: date); 0 or all bits set (-1, or 4294967295 in a u32) mean "none".
    UNIX = "unix"
    #: Unix seconds of a bar's open: price history, which may reach back to 1970.
    HISTORY = "history"
    #: Seconds east of UTC (a server's time zone).
    UTC_OFFSET = "utc_offset"


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record layout.

    Attributes:
        name: the SPEC field name.
        type: the codec type id.
        length: byte length of sized fields (text and bytes); ignored for fixed types.
        nested: for a ``bytes`` field that embeds another record, that record's layout name.
        doubles: for a ``bytes`` field that holds an array of f64 values, their count.
        time: for an integer field that holds a time, what it counts (``PYMT5_DEBUG`` checks it).
    """

    name: str
    type: FieldType
    length: int = 0
    nested: str | None = None
    doubles: int = 0
    time: TimeKind | None = None

    @property
    def size(self) -> int:
        """Byte size of the field on the wire."""
        fixed = self.type.fixed_size
        return fixed if fixed is not None else self.length

    def __post_init__(self) -> None:
        if self.type in SIZED_TYPES and self.length <= 0:
            raise ValueError(f"field {self.name}: sized type {self.type.name} needs a length")
        if self.type is FieldType.STR16 and self.length % 2:
            raise ValueError(f"field {self.name}: str16 length must be even")
        if self.time is not None and self.type not in INTEGER_TYPES:
            raise ValueError(f"field {self.name}: only integer fields count time, not {self.type.name}")

    def check_int(self, value: object) -> int:
        """Return ``value`` as an int in this field's range, or raise :class:`EncodeError`."""
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise EncodeError(f"{self.name}: expected an integer, got {type(value).__name__}")
        lo, hi = _INT_RANGES[self.type]
        if not lo <= value <= hi:
            raise EncodeError(f"{self.name}: {value} is outside {self.type.name} range {lo}..{hi}")
        return value


# --- text -------------------------------------------------------------------------------------------


# The codec functions themselves: str.encode() and bytes.decode() would look the codec up by name each call.
_utf_16_le_encode, _utf_16_le_decode = codecs.utf_16_le_encode, codecs.utf_16_le_decode


def encode_str16(text: str, length: int) -> bytes:
    """Encode ``text`` as a zero-padded UTF-16LE field of ``length`` bytes.

    The string is first cut to ``length // 2`` code units, as the official request builders do, so
    a string that fills the field has no terminator and nothing is ever written past the field.
    """
    raw = _utf_16_le_encode(text, "surrogatepass")[0][:length]
    return raw + bytes(length - len(raw))


def decode_str16(raw: bytes | memoryview) -> str:
    """Decode a UTF-16LE field: code units up to the first zero unit or the end of the field."""
    if raw[:2] == b"\0\0":  # empty: the most common text field value
        return ""
    if len(raw) % 2:
        raw = raw[:-1]
    return _utf_16_le_decode(raw, "surrogatepass", True)[0].partition("\x00")[0]


def encode_str8(text: str, length: int) -> bytes:
    """Encode ``text`` one byte per UTF-16 code unit (its low byte), zero padded to ``length``."""
    units = text.encode("utf-16-le", "surrogatepass")[0 : 2 * length : 2]
    return units + bytes(length - len(units))


def decode_str8(raw: bytes | memoryview) -> str:
    """Decode a one-byte text field, keeping every byte (zero padding included), as the official reader."""
    return bytes(raw).decode("latin-1")


def read_length_prefixed(data: bytes, offset: int, prefix: FieldType) -> tuple[bytes | None, int]:
    """Read a length-prefixed byte field (SPEC §3.5); a zero prefix means absent.

    Returns:
        The bytes (None when absent) and the offset after the field.

    Raises:
        ProtocolError: the prefix does not fit in ``data``.
    """
    width = {FieldType.U8: 1, FieldType.U16: 2, FieldType.U32: 4}.get(prefix)
    if width is None:
        raise ValueError(f"length prefix must be U8, U16 or U32, not {prefix!r}")
    if offset + width > len(data):
        raise ProtocolError("length prefix runs past the end of the body")
    (count,) = struct.unpack_from("<" + prefix.struct_code, data, offset)
    offset += width
    if count == 0:
        return None, offset
    chunk = bytes(data[offset : offset + count])  # truncated silently, like every bytes field
    return chunk, offset + len(chunk)


# --- time -------------------------------------------------------------------------------------------


def unix_ms_to_filetime(unix_ms: int) -> int:
    """Convert Unix milliseconds to a FILETIME tick count (100 ns since 1601)."""
    return (unix_ms + FILETIME_EPOCH_OFFSET_MS) * 10_000


def filetime_to_unix_ms(filetime: int) -> int:
    """Convert a FILETIME tick count to Unix milliseconds (floor)."""
    return filetime // 10_000 - FILETIME_EPOCH_OFFSET_MS


# --- scaling (SPEC §3.8) ----------------------------------------------------------------------------


def normalize(value: float, digits: int) -> float:
    """Round ``value`` to ``digits`` decimals with the official client's rule.

    ``floor(v * 10^d + 0.5000001) / 10^d`` for v >= 0 and the mirror image for v < 0, d clamped to 0..8.
    """
    scale = _SCALES[digits] if type(digits) is int and 0 <= digits <= 8 else 10.0 ** min(max(int(digits), 0), 8)
    if value >= 0:
        return math.floor(value * scale + 0.5000001) / scale
    return math.ceil(value * scale - 0.5000001) / scale


_SCALES = tuple(10.0**d for d in range(9))  # 10^d for the digits normalize() clamps to


def lots_to_wire(lots: float) -> int:
    """Convert lots to the wire integer (lots x 1e8) the way the official client formats them.

    That is ``lots`` written with 8 decimals, correctly rounded, without the point: the integer nearest to
    the exact value of ``lots`` x 1e8 (ties to even).
    """
    if lots.__class__ is float and -_FAST_LOTS < lots < _FAST_LOTS:
        # The product is the exact value rounded to a double, and that rounding keeps order. Integers and
        # halves are doubles at this size, so unless the product is a half, its nearest integer is the
        # exact value's: no formatting needed.
        scaled = lots * 1e8
        nearest = round(scaled)
        if scaled - nearest not in (0.5, -0.5):
            return nearest
    if not math.isfinite(lots):
        raise EncodeError(f"volume {lots!r} is not a finite number")
    return int(f"{lots:.8f}".replace(".", ""))


_FAST_LOTS = 1e7  # lots x 1e8 < 2**52: every integer and half is a double


def wire_to_lots(value: int) -> float:
    """Convert a wire volume integer (lots x 1e8) to lots."""
    return value / LOTS_SCALE


def price_to_wire(price: float, digits: int) -> float:
    """Scale a price for ticks and statistics: price x 10^d with d = min(digits, 8)."""
    d = min(max(int(digits), 0), 8)
    return float(round(price * 10**d))


def price_from_wire(value: float, digits: int) -> float:
    """Undo :func:`price_to_wire`: divide by 10^d and normalize to d decimals."""
    d = min(max(int(digits), 0), 8)
    return normalize(value / 10**d, d)
