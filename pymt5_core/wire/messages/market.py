"""Market data messages: symbols, groups, full configurations, ticks, statistics, bars, books, spreads."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import debug
from pymt5_core.wire.enums import Period
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import (
    Record,
    build_counted,
    pack_record,
    read_counted,
    read_u32,
    records,
    unpack_record,
)

__all__ = [
    "BookBlock",
    "SpreadEntry",
    "build_bars",
    "build_book",
    "build_full_symbols",
    "build_rates_request",
    "build_spreads",
    "build_symbol_groups",
    "build_symbol_stats",
    "build_symbol_update",
    "build_symbols",
    "build_symbols_compressed",
    "build_ticks",
    "check_bar_times",
    "read_bars",
    "read_book",
    "read_full_symbols",
    "read_rates_request",
    "read_spreads",
    "read_symbol_groups",
    "read_symbol_stats",
    "read_symbol_update",
    "read_symbols",
    "read_symbols_compressed",
    "read_ticks",
]

_TICK = LAYOUTS["Tick"]
_STATS = LAYOUTS["SymbolStats"]
_BAR = LAYOUTS["Bar"]
_FULL = LAYOUTS["SymbolFull"]
_BOOK_HEADER = LAYOUTS["BookHeader"]
_BOOK_LEVEL = LAYOUTS["BookLevel"]
_SPREAD = LAYOUTS["Spread"]
_U32 = struct.Struct("<I")


# --- symbol lists (commands 6, 34, 9) ---------------------------------------------------------------


def build_symbols(symbols: npt.NDArray[Any] | Iterable[Mapping[str, Any]]) -> bytes:
    """Command 6 answer: counted SymbolShort records."""
    return build_counted("SymbolShort", symbols)


def read_symbols(body: bytes | bytearray | memoryview) -> npt.NDArray[Any]:
    """Decode command 6: a structured array of SymbolShort records (text decoded)."""
    arr, end = read_counted("SymbolShort", body)
    if debug.ENABLED:
        debug.check_body("read_symbols", len(body), end)
    return arr


def build_symbols_compressed(symbols: npt.NDArray[Any] | Iterable[Mapping[str, Any]]) -> bytes:
    """Command 34 answer: the inflated length as u32, then the command 6 body zlib-compressed."""
    raw = build_symbols(symbols)
    return _U32.pack(len(raw)) + zlib.compress(raw)


def read_symbols_compressed(body: bytes | bytearray | memoryview) -> npt.NDArray[Any]:
    """Decode command 34: skip 4 bytes, inflate (zlib or gzip), then read as command 6.

    Raises:
        ProtocolError: the stream does not inflate.
    """
    if len(body) < 4:
        raise ProtocolError("compressed symbol list shorter than its 4-byte prefix")
    inflater = zlib.decompressobj(wbits=47)  # 32+15: zlib or gzip header
    try:
        raw = inflater.decompress(bytes(body[4:]))
    except zlib.error as exc:
        raise ProtocolError(f"compressed symbol list does not inflate: {exc}") from exc
    if debug.ENABLED:
        if not inflater.eof:
            raise ProtocolError("read_symbols_compressed: the compressed stream is cut short")
        debug.check_trailing("read_symbols_compressed", len(body), len(body) - len(inflater.unused_data))
    return read_symbols(raw)


def build_symbol_groups(groups: Sequence[str]) -> bytes:
    """Command 9 answer: counted SymbolGroup records."""
    return build_counted("SymbolGroup", [{"group_name": g[:128]} for g in groups])


def read_symbol_groups(body: bytes | bytearray | memoryview) -> list[str]:
    """Decode command 9: the group paths."""
    arr, end = read_counted("SymbolGroup", body)
    if debug.ENABLED:
        debug.check_body("read_symbol_groups", len(body), end)
    return [str(x) for x in arr["group_name"]]


# --- full symbol configuration (command 18, push 13) -----------------------------------------------


def build_full_symbols(symbols: Sequence[Mapping[str, Any]]) -> bytes:
    """Command 18 answer: counted SymbolFull records (nested records may be given decoded)."""
    return _U32.pack(len(symbols)) + build_symbol_update(symbols)


def read_full_symbols(body: bytes | bytearray | memoryview) -> list[Record]:
    """Decode command 18: SymbolFull dicts with ``trade``, ``schedule`` and ``subscription`` decoded."""
    count = read_u32(body, 0, "SymbolFull array")
    if 4 + count * _FULL.size > len(body):
        raise ProtocolError(f"SymbolFull array: {count} records do not fit in {len(body) - 4} bytes")
    out = [unpack_record(_FULL, body, 4 + i * _FULL.size) for i in range(count)]
    if debug.ENABLED:
        debug.check_body("read_full_symbols", len(body), 4 + count * _FULL.size, (_FULL, out))
    return out


def build_symbol_update(symbols: Sequence[Mapping[str, Any]]) -> bytes:
    """Push 13 body: uncounted SymbolFull records."""
    return b"".join(pack_record(_FULL, s) for s in symbols)


def read_symbol_update(body: bytes | bytearray | memoryview) -> list[Record]:
    """Decode push 13: SymbolFull dicts, as :func:`read_full_symbols`."""
    out = [unpack_record(_FULL, body, i * _FULL.size) for i in range(len(body) // _FULL.size)]
    if debug.ENABLED:
        debug.check_array("read_symbol_update", len(body), _FULL, out)
    return out


# --- ticks (push 8) and statistics (push 17) --------------------------------------------------------


def build_ticks(ticks: npt.NDArray[Any] | Iterable[Sequence[Any]]) -> bytes:
    """Push 8 body: uncounted Tick records (prices already scaled x 10^digits)."""
    return _TICK.pack_array(ticks)


def read_ticks(body: bytes | bytearray | memoryview) -> npt.NDArray[Any]:
    """Decode push 8 in one step: a zero-copy structured array of raw Tick records."""
    arr = _TICK.unpack_array(body)
    if debug.ENABLED:
        debug.check_array("read_ticks", len(body), _TICK, arr)
    return arr


def build_symbol_stats(stats: npt.NDArray[Any] | Iterable[Sequence[Any]]) -> bytes:
    """Push 17 body: uncounted SymbolStats records."""
    return _STATS.pack_array(stats)


def read_symbol_stats(body: bytes | bytearray | memoryview) -> npt.NDArray[Any]:
    """Decode push 17: a structured array of raw SymbolStats records."""
    arr = _STATS.unpack_array(body)
    if debug.ENABLED:
        debug.check_array("read_symbol_stats", len(body), _STATS, arr)
    return arr


# --- bars (command 11) -----------------------------------------------------------------------------


def build_rates_request(symbol: str, period: Period | int, from_s: int, to_s: int) -> bytes:
    """Command 11 payload (74 bytes); times in Unix seconds."""
    return LAYOUTS["RatesRequest"].pack([symbol[:32], int(period), from_s, to_s])


def read_rates_request(payload: bytes | bytearray | memoryview) -> tuple[str, int, int, int]:
    """Return ``(symbol, period, from_s, to_s)`` of a command 11 payload.

    Raises:
        ProtocolError: shorter than 74 bytes.
    """
    if len(payload) < LAYOUTS["RatesRequest"].size:
        raise ProtocolError(f"rates request of {len(payload)} bytes (expected 74)")
    symbol, period, from_s, to_s = LAYOUTS["RatesRequest"].unpack(payload)
    if debug.ENABLED:
        debug.check_body("read_rates_request", len(payload), LAYOUTS["RatesRequest"].size)
    return symbol, period, from_s, to_s


def build_bars(bars: npt.NDArray[Any]) -> bytes:
    """Command 11 answer: uncounted Bar records from a raw-dtype (or compatible) structured array."""
    return _BAR.pack_array(bars)


def read_bars(body: bytes | bytearray | memoryview, period: Period | int | None = None) -> npt.NDArray[Any]:
    """Decode command 11 in one ``frombuffer`` step; with ``period``, check alignment as the official client.

    Raises:
        ProtocolError: the body length is not a multiple of 4, or a bar is not aligned to ``period``.
    """
    if len(body) % 4:
        raise ProtocolError(f"bars body of {len(body)} bytes is not a multiple of 4")
    arr = _BAR.unpack_array(body)
    if debug.ENABLED:
        debug.check_array("read_bars", len(body), _BAR, arr)
    if period is not None:
        check_bar_times(arr["time"], period)
    return arr


def check_bar_times(times: npt.NDArray[np.integer[Any]], period: Period | int) -> None:
    """Check bar open times (Unix seconds) as the official client does: all aligned to ``period`` in UTC.

    Raises:
        ProtocolError: a time is not aligned; one such bar rejects its whole answer (SPEC 9.5).
    """
    if len(times):
        misaligned = _misaligned(times, Period.parse(period))
        if misaligned is not None:
            raise ProtocolError(f"bar at {misaligned} is not aligned to {Period.parse(period).name}")


def _misaligned(times: npt.NDArray[Any], period: Period) -> int | None:
    if period.minutes < 1440 or period is Period.D1 or period is Period.W1:
        # Rounding down by a scalar floor division (which numpy vectorizes, without a hardware divide) beats a
        # remainder, and on int32 (the wire's type) it takes a third of the time it takes on int64. What is
        # left after subtracting the times is 0 for aligned ones, even where the product wraps around.
        step = period.seconds if period.minutes < 1440 else 86400
        times = np.ascontiguousarray(times)
        off = times // step
        off *= step
        off -= times
        if off.any():
            return int(times[np.flatnonzero(off)[0]])
        return None
    days = times.astype("datetime64[s]").astype("datetime64[D]")
    bad = (times % 86400 != 0) | (days.astype("datetime64[M]").astype("datetime64[D]") != days)
    if bad.any():
        return int(times[np.argmax(bad)])
    return None


# --- depth of market (push 23) ---------------------------------------------------------------------


@dataclass(slots=True)
class BookBlock:
    """One symbol block of push 23: the header fields and its levels (raw BookLevel array)."""

    symbol_id: int
    books_time: int = 0
    time_msc: int = 0
    flag_mask: int = 0
    books_flags: int = 0
    levels: npt.NDArray[Any] = field(default_factory=lambda: _BOOK_LEVEL.empty_array(0))


def build_book(blocks: Sequence[BookBlock]) -> bytes:
    """Push 23 body: u32 block count, then per block a BookHeader and its BookLevel records."""
    parts = [_U32.pack(len(blocks))]
    for b in blocks:
        levels = b.levels if b.levels.dtype == _BOOK_LEVEL.dtype else _to_raw(_BOOK_LEVEL.dtype, b.levels)
        parts.append(_BOOK_HEADER.pack([b.symbol_id, b.books_time, b.time_msc, b.flag_mask, b.books_flags,
                                        len(levels)]))
        parts.append(levels.tobytes())
    return b"".join(parts)


def read_book(body: bytes | bytearray | memoryview) -> list[BookBlock]:
    """Decode push 23; a body of 4 bytes or less carries nothing.

    Raises:
        ProtocolError: a header or its levels run past the end.
    """
    if len(body) <= 4:
        return []
    count = read_u32(body, 0, "book push")
    pos, blocks = 4, []
    for _ in range(count):
        if pos + _BOOK_HEADER.size > len(body):
            raise ProtocolError("book header runs past the end of the body")
        sid, t, msc, mask, flags, n = _BOOK_HEADER.unpack(body, pos)
        pos += _BOOK_HEADER.size
        if pos + n * _BOOK_LEVEL.size > len(body):
            raise ProtocolError(f"book block of {n} levels runs past the end of the body")
        blocks.append(BookBlock(sid, t, msc, mask, flags, _BOOK_LEVEL.unpack_array(body, pos, n)))
        pos += n * _BOOK_LEVEL.size
    if debug.ENABLED:
        debug.check_body("read_book", len(body), pos, (_BOOK_HEADER, blocks))
    return blocks


# --- spreads (command 20) ---------------------------------------------------------------------------


@dataclass(slots=True)
class SpreadEntry:
    """One inter-symbol margin definition of command 20 with its two leg lists."""

    spread: Record
    legs_a: list[Record] = field(default_factory=list)
    legs_b: list[Record] = field(default_factory=list)


def build_spreads(entries: Sequence[SpreadEntry]) -> bytes:
    """Command 20 answer: one block holding every entry (legs only for non-zero ``spread_id``)."""
    parts = [LAYOUTS["SpreadBlockHeader"].pack([0, len(entries)])]
    for e in entries:
        parts.append(_SPREAD.pack_dict(e.spread))
        if e.spread.get("spread_id"):
            parts += [build_counted("SpreadLeg", e.legs_a), build_counted("SpreadLeg", e.legs_b)]
    return b"".join(parts)


def read_spreads(body: bytes | bytearray | memoryview) -> list[SpreadEntry]:
    """Decode command 20: blocks until the end; entries with ``spread_id`` 0 are dropped, as the client does.

    Raises:
        ProtocolError: a block or a leg array runs past the end.
    """
    pos, out = 0, []
    while pos < len(body):
        count = read_u32(body, pos + 4, "spread block")
        pos += 8
        for _ in range(count):
            if pos + _SPREAD.size > len(body):
                raise ProtocolError("spread record runs past the end of the body")
            spread = _SPREAD.unpack_dict(body, pos)
            pos += _SPREAD.size
            if spread["spread_id"] == 0:
                continue
            legs_a, pos = read_counted("SpreadLeg", body, pos)
            legs_b, pos = read_counted("SpreadLeg", body, pos)
            out.append(SpreadEntry(spread, records(legs_a), records(legs_b)))
    if debug.ENABLED:  # blocks run to the end of the body, so nothing can trail
        debug.check_times("read_spreads", LAYOUTS["SpreadLeg"], [leg for e in out for leg in e.legs_a + e.legs_b])
    return out


def _to_raw(dtype: np.dtype[Any], arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    raw = np.zeros(len(arr), dtype=dtype)
    for name in dtype.names or ():
        raw[name] = arr[name]
    return raw

