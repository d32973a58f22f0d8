"""Record layouts declared as data: one table of fields drives packing, unpacking and numpy dtypes.

A :class:`Layout` is built from a list of :class:`~pymt5_core.wire.codec.Field`; offsets and the size are
derived. It compiles one :class:`struct.Struct` for single records and one numpy dtype for arrays of
records, so a whole body of bars or ticks decodes in a single ``numpy.frombuffer`` call. Single whole
records are read by readers compiled on first use from the same field list (:meth:`Layout.reader`): one
``unpack_from`` that skips the fields not wanted, the text and FILETIME conversions inline, nothing looked
up per field.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import EncodeError, ProtocolError
from pymt5_core.wire.codec import (
    _INT_RANGES,
    INTEGER_TYPES,
    Field,
    FieldType,
    decode_str8,
    decode_str16,
    encode_str8,
    encode_str16,
    filetime_to_unix_ms,
    unix_ms_to_filetime,
)

__all__ = ["Layout"]

_TEXT = (FieldType.STR16, FieldType.STR8)


class Layout:
    """A fixed-size record: an ordered list of fields with derived offsets.

    Values are positional lists in field order (see :mod:`pymt5_core.wire.codec` for the Python type of
    each field type). ``None`` in :meth:`pack` writes zeros; in :meth:`unpack` it marks a field that
    started past the end of the data (SPEC §3.6).
    """

    __slots__ = (
        "_converters",
        "_decoded_dtype",
        "_pack_dict",
        "_post",
        "_read_dict",
        "_readers",
        "_struct",
        "dtype",
        "fields",
        "index",
        "name",
        "offsets",
        "size",
        "spec",
    )

    def __init__(self, name: str, spec: Sequence[Field]) -> None:
        self.name = name
        self.spec: tuple[Field, ...] = tuple(spec)
        self.fields: tuple[str, ...] = tuple(f.name for f in self.spec)
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"{name}: duplicate field names")
        self.index: dict[str, int] = {n: i for i, n in enumerate(self.fields)}
        offsets, pos = [], 0
        for f in self.spec:
            offsets.append(pos)
            pos += f.size
        self.offsets: tuple[int, ...] = tuple(offsets)
        self.size: int = pos
        self._struct = struct.Struct("<" + "".join(map(_struct_code, self.spec)))
        self._converters = tuple(_converter(f) for f in self.spec)
        # Fields whose struct value needs a conversion after unpacking.
        self._post: tuple[tuple[int, FieldType], ...] = tuple(
            (i, f.type) for i, f in enumerate(self.spec) if f.type in (*_TEXT, FieldType.TIME)
        )
        self._pack_dict: Callable[[Mapping[str, Any]], bytes] | None = None  # compiled on first use
        self._readers: dict[tuple[str, ...] | None, Callable[[Any, int], tuple[Any, ...]]] = {}  # see reader()
        self._read_dict: Callable[[Any, int], dict[str, Any]] | None = None
        self.dtype: np.dtype[Any] = np.dtype(
            {
                "names": list(self.fields),
                "formats": [
                    f.type.numpy_code + (str(f.size) if f.type.fixed_size is None else "") for f in self.spec
                ],
                "offsets": list(self.offsets),
                "itemsize": self.size,
            }
        )
        self._decoded_dtype: np.dtype[Any] | None = None

    def __repr__(self) -> str:
        return f"<Layout {self.name} {self.size} B, {len(self.fields)} fields>"

    def __len__(self) -> int:
        return self.size

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        return self.spec[self.index[name]]

    # --- single records ---------------------------------------------------------------------------

    def pack(self, values: Sequence[Any]) -> bytes:
        """Encode one record from positional values.

        Raises:
            EncodeError: a value has the wrong type or does not fit its field.
        """
        if len(values) != len(self.spec):
            raise EncodeError(f"{self.name}: expected {len(self.spec)} values, got {len(values)}")
        out = [to_wire(v) for to_wire, v in zip(self._converters, values, strict=True)]
        try:
            return self._struct.pack(*out)
        except struct.error as exc:  # pragma: no cover - _to_wire checks first
            raise EncodeError(f"{self.name}: {exc}") from exc

    def pack_dict(self, values: Mapping[str, Any]) -> bytes:
        """Encode one record from a mapping of field name to value; missing fields are zero."""
        pack = self._pack_dict
        if pack is None:
            pack = self._pack_dict = self._compile_packer()
        try:
            return pack(values)
        except Exception:  # the checks below, in field order, raise the error to report
            return self._pack_dict_in_order(values)

    def _compile_packer(self) -> Callable[[Mapping[str, Any]], bytes]:
        """Generate ``pack_dict`` for this field list: each value fetched and, when it is of the plain type
        (an int in range, a float, a str), taken as it is; anything else goes through its converter, which
        writes None as zero and raises for what does not fit."""
        lines = ["def pack_dict(values):", "    if not values.keys() <= NAMES:",
                 "        raise KeyError('unknown field')", "    get = values.get"]
        for i, f in enumerate(self.spec):
            local, name = f"a{i}", repr(f.name)
            if f.type in INTEGER_TYPES:
                lo, hi = _INT_RANGES[f.type]
                lines += [f"    {local} = get({name}, 0)",  # an int enum member in range is taken as it is too
                          f"    if ({local}.__class__ is not int and ({local}.__class__ is bool"
                          f" or not isinstance({local}, int))) or not {lo} <= {local} <= {hi}:",
                          f"        {local} = convert[{i}]({local})"]
            elif f.type is FieldType.F64:
                lines += [f"    {local} = get({name}, 0.0)",
                          f"    if {local}.__class__ is not float:", f"        {local} = convert[{i}]({local})"]
            elif f.type is FieldType.STR16:
                lines += [f"    {local} = get({name})",
                          f"    {local} = encode_str16({local}, {f.size}) if {local}.__class__ is str "
                          f"else convert[{i}]({local})"]
            else:
                lines.append(f"    {local} = convert[{i}](get({name}))")
        lines.append(f"    return pack({', '.join(f'a{i}' for i in range(len(self.spec)))})")
        namespace: dict[str, Any] = {"NAMES": frozenset(self.fields), "convert": self._converters,
                                     "encode_str16": encode_str16, "pack": self._struct.pack}
        exec(compile("\n".join(lines) + "\n", f"<layout {self.name} packer>", "exec"), namespace)
        packer: Callable[[Mapping[str, Any]], bytes] = namespace["pack_dict"]
        return packer

    def _pack_dict_in_order(self, values: Mapping[str, Any]) -> bytes:
        if not self.index.keys() >= values.keys():
            raise EncodeError(f"{self.name}: unknown fields {sorted(set(values) - set(self.index))}")
        get = values.get
        out = [to_wire(get(n)) for n, to_wire in zip(self.fields, self._converters, strict=True)]
        try:
            return self._struct.pack(*out)
        except struct.error as exc:  # pragma: no cover - _to_wire checks first
            raise EncodeError(f"{self.name}: {exc}") from exc

    def unpack(self, data: bytes | bytearray | memoryview, offset: int = 0) -> list[Any]:
        """Decode one record starting at ``offset``.

        A record cut short by the end of ``data`` is read as SPEC §3.6 says: fields starting at or past
        the end are ``None``; a numeric or UTF-16 field that straddles the end raises.

        Raises:
            ProtocolError: a field straddles the end of the data.
        """
        return list(self.unpack_tuple(data, offset))

    def unpack_tuple(self, data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Any, ...]:
        """:meth:`unpack` as a tuple: the cheapest form of one decoded record (values in field order)."""
        if offset < 0:
            raise ProtocolError(f"{self.name}: negative offset")
        if len(data) - offset >= self.size:
            return self.reader()(data, offset)
        return tuple(self._unpack_partial(data, offset))

    def unpack_dict(self, data: bytes | bytearray | memoryview, offset: int = 0) -> dict[str, Any]:
        """Decode one record into a dict keyed by field name."""
        if 0 <= offset <= len(data) - self.size:
            read = self._read_dict
            if read is None:
                read = self._read_dict = self._compile(self.fields, as_dict=True)
            return read(data, offset)
        return dict(zip(self.fields, self.unpack_tuple(data, offset), strict=True))

    def reader(self, names: Sequence[str] | None = None) -> Callable[[Any, int], tuple[Any, ...]]:
        """The compiled reader of one whole record: ``read(data, offset)`` gives the values of ``names`` (every
        field by default), in that order, as :meth:`unpack` decodes them; the other fields are skipped, not
        decoded. The caller makes sure that a whole record lies at ``offset``.

        Raises:
            KeyError: a name is not a field of the layout.
        """
        key = None if names is None else tuple(names)
        read = self._readers.get(key)
        if read is None:
            read = self._readers[key] = self._compile(self.fields if key is None else key, as_dict=False)
        return read

    def _compile(self, names: Sequence[str], *, as_dict: bool) -> Any:
        """Generate a reader of the fields ``names``: one ``unpack_from`` (other fields are pad bytes) into
        locals, then a tuple or dict display of them with each text or FILETIME value converted in place."""
        wanted = sorted({self.index[n] for n in names})
        if not wanted:
            return lambda data, offset: {} if as_dict else ()
        fmt = "<" + "".join(_struct_code(f) if i in wanted else f"{f.size}x" for i, f in enumerate(self.spec))
        values = {}
        for i in wanted:
            f, local = self.spec[i], f"v{i}"
            if f.type is FieldType.STR16 and f.size <= _REMEMBERED_TEXT:  # names, symbols, comments
                # The empty string, the most common text, without a call; a text seen before without decoding.
                values[f.name] = f"'' if {local}[:2] == EMPTY else TEXTS.get({local}) or remember_str16({local})"
            elif f.type is FieldType.STR16:
                values[f.name] = f"'' if {local}[:2] == EMPTY else decode_str16({local})"
            elif f.type is FieldType.STR8:
                values[f.name] = f"decode_str8({local})"
            elif f.type is FieldType.TIME:
                values[f.name] = f"filetime_to_unix_ms({local})"
            else:
                values[f.name] = local
        shown = (f"{{{', '.join(f'{n!r}: {values[n]}' for n in names)}}}" if as_dict
                 else f"({', '.join(values[n] for n in names)},)")
        source = (f"def read(data, offset):\n    {', '.join(f'v{i}' for i in wanted)}, = unpack_from(data, offset)\n"
                  f"    return {shown}\n")
        namespace: dict[str, Any] = {
            "unpack_from": struct.Struct(fmt).unpack_from, "EMPTY": b"\0\0", "decode_str16": decode_str16,
            "decode_str8": decode_str8, "filetime_to_unix_ms": filetime_to_unix_ms, "TEXTS": _TEXTS,
            "remember_str16": _remember_str16,
        }
        exec(compile(source, f"<layout {self.name}>", "exec"), namespace)
        return namespace["read"]

    def _unpack_partial(self, data: bytes | bytearray | memoryview, offset: int) -> list[Any]:
        end = len(data)
        values: list[Any] = [None] * len(self.spec)
        pos = offset
        for i, f in enumerate(self.spec):
            if pos >= end:
                break
            avail = end - pos
            if f.type in (FieldType.STR8, FieldType.BYTES):
                chunk = bytes(data[pos : pos + min(f.size, avail)])
                values[i] = decode_str8(chunk) if f.type is FieldType.STR8 else chunk
            elif f.size > avail:
                raise ProtocolError(
                    f"{self.name}.{f.name}: field of {f.size} bytes at offset {pos - offset} "
                    f"runs past the end ({avail} bytes left)"
                )
            elif f.type is FieldType.STR16:
                values[i] = decode_str16(bytes(data[pos : pos + f.size]))
            else:
                (raw,) = struct.unpack_from("<" + f.type.struct_code, data, pos)
                values[i] = filetime_to_unix_ms(raw) if f.type is FieldType.TIME else raw
            pos += f.size
        return values

    # --- arrays of records ------------------------------------------------------------------------

    def unpack_array(
        self, data: bytes | bytearray | memoryview, offset: int = 0, count: int | None = None
    ) -> npt.NDArray[Any]:
        """Decode records that sit back to back, in one vectorized step.

        Without ``count`` the records fill the rest of ``data`` (a remainder shorter than a record is
        ignored, as for uncounted arrays). Numeric records come back as a zero-copy view of ``data``;
        records with text get a decoded copy where text fields are numpy unicode and FILETIME fields
        Unix milliseconds (``<i8``).

        Raises:
            ProtocolError: ``count`` records do not fit in ``data``.
        """
        if not offset and count is None and not self._post:  # hot path (bars, ticks): one view, no arithmetic
            try:
                return np.frombuffer(data, self.dtype)
            except ValueError:  # a partial record at the end, or no data: the general path below
                pass
        avail = (len(data) - offset) // self.size if len(data) > offset else 0
        n = avail if count is None else count
        if n < 0 or n > avail:
            raise ProtocolError(f"{self.name}: {n} records do not fit in {len(data) - offset} bytes")
        raw = np.frombuffer(data, self.dtype, n, offset)
        if not self._post:
            return raw
        return self._decode_array(raw)

    @property
    def decoded_dtype(self) -> np.dtype[Any]:
        """The dtype :meth:`unpack_array` returns (text as unicode, FILETIME as Unix ms)."""
        if self._decoded_dtype is None:
            formats: list[str] = []
            for f in self.spec:
                if f.type is FieldType.STR16:
                    formats.append(f"<U{f.size // 2}")
                elif f.type is FieldType.STR8:
                    formats.append(f"<U{f.size}")
                elif f.type is FieldType.TIME:
                    formats.append("<i8")
                elif f.type is FieldType.BYTES:
                    formats.append(f"V{f.size}")
                else:
                    formats.append(f.type.numpy_code)
            self._decoded_dtype = np.dtype({"names": list(self.fields), "formats": formats})
        return self._decoded_dtype

    def _decode_array(self, raw: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(len(raw), dtype=self.decoded_dtype)
        kinds = dict(self._post)
        for i, name in enumerate(self.fields):
            kind = kinds.get(i)
            if kind is None:
                out[name] = raw[name]
            elif kind is FieldType.TIME:
                out[name] = (raw[name] // 10_000).astype("<i8") - 11_644_473_600_000
            else:
                out[name] = _decode_text_column(raw[name], self.spec[i])
        return out

    def pack_array(self, records: npt.NDArray[Any] | Iterable[Sequence[Any]]) -> bytes:
        """Encode many records; a structured array with this layout's raw dtype is written directly."""
        if isinstance(records, np.ndarray):
            if records.dtype == self.dtype:
                return records.tobytes()
            if set(records.dtype.names or ()) >= set(self.fields) and not self._post:
                raw = np.zeros(len(records), dtype=self.dtype)
                for name in self.fields:
                    raw[name] = records[name]
                return raw.tobytes()
            records = (tuple(r) for r in records.tolist())
        return b"".join(self.pack(r) for r in records)

    def empty_array(self, n: int) -> npt.NDArray[Any]:
        """A zeroed array of ``n`` records in the raw wire dtype, ready to fill and :meth:`pack_array`."""
        return np.zeros(n, dtype=self.dtype)


#: Short UTF-16 fields decoded before, by their bytes: records repeat the same symbols and names.
_TEXTS: dict[bytes, str] = {}
_REMEMBERED_TEXT = 128  # longest field (bytes) whose texts are kept
_TEXTS_KEPT = 4096


def _remember_str16(raw: bytes) -> str:
    text = decode_str16(raw)
    if len(_TEXTS) >= _TEXTS_KEPT:
        _TEXTS.clear()
    _TEXTS[raw] = text
    return text


def _struct_code(f: Field) -> str:
    return f"{f.size}{f.type.struct_code}" if f.type.fixed_size is None else f.type.struct_code


def _decode_text_column(column: npt.NDArray[Any], field: Field) -> npt.NDArray[Any]:
    """Decode a column of fixed-size text fields without a Python loop over records."""
    n = len(column)
    if field.type is FieldType.STR8:
        units = np.frombuffer(column.tobytes(), dtype="u1").reshape(n, field.size).astype("<u4")
        return units.view(f"<U{field.size}").reshape(n)
    width = field.size // 2
    units = np.frombuffer(column.tobytes(), dtype="<u2").reshape(n, width)
    # Everything after the first zero code unit is not part of the string.
    units = np.where(np.maximum.accumulate(units == 0, axis=1), 0, units)
    out = units.astype("<u4").view(f"<U{width}").reshape(n)
    # A surrogate pair is two code units but one character: decode those (rare) rows like decode_str16.
    for row in np.flatnonzero(((units >= 0xD800) & (units < 0xE000)).any(axis=1)):
        out[row] = decode_str16(units[row].tobytes())
    return out


def _converter(f: Field) -> Callable[[Any], Any]:
    """``_to_wire`` for one field, with the common cases (an int in range, a float for f64, a str for text,
    None for a number) done inline."""
    general = functools.partial(_to_wire, f)
    if f.type in INTEGER_TYPES:
        lo, hi, check = *_INT_RANGES[f.type], f.check_int
        # A missing value (None, written as zero) is common in requests: it skips the general checks too, as
        # does an int enum member in range (check_int gives it back unchanged).
        def to_int(value: Any) -> Any:
            plain = value.__class__ is int or (isinstance(value, int) and value.__class__ is not bool)
            if plain and lo <= value <= hi:
                return value
            return 0 if value is None else check(value)

        return to_int
    if f.type is FieldType.F64:
        return lambda value: value if value.__class__ is float else 0.0 if value is None else general(value)
    if f.type in _TEXT:
        encode, size = (encode_str16 if f.type is FieldType.STR16 else encode_str8), f.size
        return lambda value: encode(value, size) if value.__class__ is str else general(value)
    return general


def _to_wire(f: Field, value: Any) -> Any:
    t = f.type
    if t in INTEGER_TYPES:
        return 0 if value is None else f.check_int(value)
    if t in (FieldType.F64, FieldType.F32):
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise EncodeError(f"{f.name}: expected a number, got {type(value).__name__}")
        if t is FieldType.F32:
            try:
                struct.pack("<f", value)
            except OverflowError as exc:
                raise EncodeError(f"{f.name}: {value} does not fit a float32") from exc
        return float(value)
    if t is FieldType.TIME:
        if value is None:
            return 0
        ms = Field(f.name, FieldType.I64).check_int(value)
        ticks = unix_ms_to_filetime(ms)
        if not 0 <= ticks < 2**64:
            raise EncodeError(f"{f.name}: time {ms} ms is outside the FILETIME range")
        return ticks
    if t in _TEXT:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise EncodeError(f"{f.name}: expected str, got {type(value).__name__}")
        return encode_str16(value, f.size) if t is FieldType.STR16 else encode_str8(value, f.size)
    # BYTES
    if value is None:
        return bytes(f.size)
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise EncodeError(f"{f.name}: expected bytes, got {type(value).__name__}")
    raw = bytes(value)
    if len(raw) > f.size:
        raise EncodeError(f"{f.name}: {len(raw)} bytes do not fit a {f.size}-byte field")
    return raw + bytes(f.size - len(raw))
