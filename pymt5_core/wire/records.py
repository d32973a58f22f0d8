"""Record helpers shared by the message readers and builders: nested records, counted arrays, id lists."""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire import debug
from pymt5_core.wire.codec import Field, FieldType
from pymt5_core.wire.layout import Layout
from pymt5_core.wire.layouts import LAYOUTS

__all__ = [
    "Record",
    "build_counted",
    "build_id_list",
    "pack_record",
    "read_counted",
    "read_id_list",
    "read_u32",
    "records",
    "unpack_record",
]

#: A single decoded record: field name to value (nested records decoded into nested dicts).
Record = dict[str, Any]

_U32 = struct.Struct("<I")


def unpack_record(layout: Layout | str, data: bytes | bytearray | memoryview, offset: int = 0) -> Record:
    """Decode one record into a dict, decoding embedded records and f64 arrays too."""
    lay = LAYOUTS[layout] if isinstance(layout, str) else layout
    values = lay.unpack_dict(data, offset)
    for f in lay.spec:
        if f.type is not FieldType.BYTES or values[f.name] is None:
            continue
        raw = values[f.name]
        if f.doubles:
            values[f.name] = list(np.frombuffer(raw.ljust(8 * f.doubles, b"\0"), "<f8", f.doubles).tolist())
        elif f.nested == "Schedule":
            values[f.name] = _unpack_schedule(raw)
        elif f.nested is not None:
            values[f.name] = unpack_record(f.nested, raw)
    return values


def pack_record(layout: Layout | str, values: Mapping[str, Any]) -> bytes:
    """Encode one record from a dict; embedded records and f64 arrays may be given decoded."""
    lay = LAYOUTS[layout] if isinstance(layout, str) else layout
    out = dict(values)
    for f in _embedded(lay):
        v = out.get(f.name)
        if v is None or isinstance(v, (bytes, bytearray, memoryview)):
            continue
        if f.doubles:
            arr = [float(x) for x in v]
            if len(arr) != f.doubles:
                raise EncodeError(f"{lay.name}.{f.name}: expected {f.doubles} doubles, got {len(arr)}")
            out[f.name] = struct.pack(f"<{f.doubles}d", *arr)
        elif f.nested == "Schedule":
            out[f.name] = _pack_schedule(v)
        elif f.nested is not None:
            out[f.name] = pack_record(f.nested, v)
    return lay.pack_dict(out)


@functools.cache
def _embedded(lay: Layout) -> tuple[Field, ...]:
    """The bytes fields of ``lay`` that may be given decoded: f64 arrays and embedded records."""
    return tuple(f for f in lay.spec if f.type is FieldType.BYTES and (f.doubles or f.nested is not None))


def _unpack_schedule(raw: bytes) -> Record:
    sessions = np.frombuffer(raw.ljust(896, b"\0"), "<u2").reshape(2, 7, 16, 2)
    return {
        "quote_sessions": [[(int(a), int(b)) for a, b in day if a != b] for day in sessions[0]],
        "trade_sessions": [[(int(a), int(b)) for a, b in day if a != b] for day in sessions[1]],
    }


def _pack_schedule(value: Mapping[str, Sequence[Sequence[tuple[int, int]]]]) -> bytes:
    grid = np.zeros((2, 7, 16, 2), "<u2")
    for k, key in enumerate(("quote_sessions", "trade_sessions")):
        days = value.get(key, ())
        if len(days) > 7:
            raise EncodeError(f"schedule.{key}: more than 7 days")
        for d, slots in enumerate(days):
            if len(slots) > 16:
                raise EncodeError(f"schedule.{key}: more than 16 sessions on day {d}")
            for s, (start, end) in enumerate(slots):
                if not (0 <= start <= 0xFFFF and 0 <= end <= 0xFFFF):
                    raise EncodeError(f"schedule.{key}: session minutes out of range")
                grid[k, d, s] = (start, end)
    return grid.tobytes()


def records(array: npt.NDArray[Any]) -> list[Record]:
    """Turn a structured array into a list of plain dicts (Python scalars)."""
    names = array.dtype.names or ()
    return [dict(zip(names, row, strict=True)) for row in array.tolist()]


def read_u32(body: bytes | bytearray | memoryview, pos: int, what: str) -> int:
    """Read a u32 at ``pos``.

    Raises:
        ProtocolError: fewer than 4 bytes remain.
    """
    if pos + 4 > len(body):
        raise ProtocolError(f"{what}: body ends inside a u32 at offset {pos}")
    value: int = _U32.unpack_from(body, pos)[0]
    return value


def read_counted(
    layout: Layout | str, body: bytes | bytearray | memoryview, pos: int = 0
) -> tuple[npt.NDArray[Any], int]:
    """Read a counted array (u32 count + records) at ``pos``; return the records and the next offset.

    Raises:
        ProtocolError: the count does not fit in the body.
    """
    lay = LAYOUTS[layout] if isinstance(layout, str) else layout
    count = read_u32(body, pos, f"{lay.name} array")
    pos += 4
    if count * lay.size > len(body) - pos:
        raise ProtocolError(f"{lay.name} array: {count} records do not fit in {len(body) - pos} bytes")
    return lay.unpack_array(body, pos, count), pos + count * lay.size


def build_counted(layout: Layout | str, items: npt.NDArray[Any] | Iterable[Mapping[str, Any]]) -> bytes:
    """Write a counted array from a raw-dtype array or from dicts."""
    lay = LAYOUTS[layout] if isinstance(layout, str) else layout
    if isinstance(items, np.ndarray):
        return _U32.pack(len(items)) + lay.pack_array(items)
    parts = [pack_record(lay, item) for item in items]
    return _U32.pack(len(parts)) + b"".join(parts)


def build_id_list(ids: Sequence[int]) -> bytes:
    """An id list (SPEC §3.7): u32 count + u32 ids."""
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i <= 0xFFFFFFFF:
            raise EncodeError(f"symbol id {i!r} is not a u32")
    return np.array([len(ids), *ids], dtype="<u4").tobytes()


def read_id_list(payload: bytes | bytearray | memoryview) -> list[int]:
    """Read an id list.

    Raises:
        ProtocolError: the count does not match the payload.
    """
    count = read_u32(payload, 0, "id list")
    if 4 + 4 * count > len(payload):
        raise ProtocolError(f"id list: {count} ids do not fit in {len(payload) - 4} bytes")
    if debug.ENABLED:
        debug.check_body("read_id_list", len(payload), 4 + 4 * count)
    return [int(x) for x in np.frombuffer(payload, "<u4", count, 4)]
