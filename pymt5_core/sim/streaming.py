"""Market data pushes of the simulator: ticks (8), statistics (17) and depth of market (23).

:class:`MarketStream` turns the price model's ticks and books into push bodies. Everything that is the
same for every connection (the Tick records of a symbol for an interval, its SymbolStats record, its
current book) is computed once per pump and shared; only book deltas depend on what a connection has
already been sent, which it keeps in a :class:`BookMirror`.

Scaling follows SPEC §9.1: tick and statistics prices are ``price x 10^d`` (``d = min(digits, 8)``),
volumes lots x 1e8, and only the values whose ``fields`` bit is set are filled (others are 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.sim.backend import CatalogueLike, PriceModelLike
from pymt5_core.wire.codec import LOTS_SCALE
from pymt5_core.wire.enums import BOOK_SNAPSHOT, BookType, StatsField, TickField
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages import BookBlock, build_book

__all__ = ["BookMirror", "Levels", "MarketStream", "encode_ticks"]

_TICK = LAYOUTS["Tick"]
_STATS = LAYOUTS["SymbolStats"]
_LEVEL = LAYOUTS["BookLevel"]
_DAY_MS = 86_400_000

#: A book as the client stores it: (book_type, price x 10^d) -> volume in lots x 1e8.
Levels = dict[tuple[int, int], int]


def _scale(digits: int) -> float:
    return float(10 ** min(max(int(digits), 0), 8))


def encode_ticks(symbol_id: int, digits: int, ticks: npt.NDArray[Any]) -> bytes:
    """Encode model ticks (``time_ms, bid, ask, last, volume, fields``) as uncounted Tick records."""
    out = _TICK.empty_array(len(ticks))
    if not len(ticks):
        return b""
    scale = _scale(digits)
    fields = ticks["fields"].astype(np.uint32)
    out["symbol_id"] = symbol_id
    out["tick_time"] = ticks["time_ms"] // 1000
    out["time_ms_delta"] = ticks["time_ms"] % 1000
    out["fields"] = fields
    out["bid"] = np.where(fields & TickField.BID, np.rint(ticks["bid"] * scale), 0.0)
    out["ask"] = np.where(fields & TickField.ASK, np.rint(ticks["ask"] * scale), 0.0)
    out["last"] = np.where(fields & TickField.LAST, np.rint(ticks["last"] * scale), 0.0)
    out["tick_volume"] = np.where(fields & TickField.VOLUME, ticks["volume"], 0)
    return out.tobytes()


@dataclass
class _Day:
    """Running session statistics of one symbol for one server day."""

    day: int
    time_ms: int = 0
    open: float = 0.0
    prev_close: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    volume: int = 0
    bid_high: float = 0.0
    bid_low: float = 0.0
    ask_high: float = 0.0
    ask_low: float = 0.0
    last_high: float = 0.0
    last_low: float = 0.0
    vol_high: int = 0
    vol_low: int = 0
    deals: int = 0
    traded: int = 0

    def update(self, ticks: npt.NDArray[Any]) -> None:
        if not len(ticks):
            return
        fields = ticks["fields"]
        self.time_ms = int(ticks["time_ms"][-1])
        for name, bit in (("bid", TickField.BID), ("ask", TickField.ASK), ("last", TickField.LAST)):
            values = ticks[name][(fields & bit) != 0]
            if not len(values):
                continue
            current = getattr(self, name)
            setattr(self, name, float(values[-1]))
            high, low = float(values.max()), float(values.min())
            setattr(self, f"{name}_high", max(getattr(self, f"{name}_high"), high) if current else high)
            setattr(self, f"{name}_low", min(getattr(self, f"{name}_low"), low) if current else low)
            if name == "bid" and not self.open:
                self.open = float(values[0])
        volumes = ticks["volume"][(fields & TickField.VOLUME) != 0]
        if len(volumes):
            first = not self.deals
            self.volume = int(volumes[-1])
            self.vol_high = int(volumes.max()) if first else max(self.vol_high, int(volumes.max()))
            self.vol_low = int(volumes.min()) if first else min(self.vol_low, int(volumes.min()))
            self.deals += len(volumes)
            self.traded += int(volumes.sum())


class BookMirror:
    """What one connection has been sent of the books it watches, to compute deltas."""

    __slots__ = ("books",)

    def __init__(self) -> None:
        self.books: dict[int, Levels] = {}

    def reset(self, keep: Iterable[int] = ()) -> None:
        """Forget every book except those of ``keep``."""
        kept = set(keep)
        self.books = {k: v for k, v in self.books.items() if k in kept}


class MarketStream:
    """Builds the market data push bodies from the price model (see the module docstring).

    Args:
        catalogue: the symbols.
        model: the price model.
        timezone_shift: server time minus UTC in seconds (statistics follow the server day).
    """

    def __init__(self, catalogue: CatalogueLike, model: PriceModelLike, timezone_shift: int = 0) -> None:
        self.catalogue = catalogue
        self.model = model
        self._shift_ms = timezone_shift * 1000
        self._days: dict[int, _Day] = {}

    # --- ticks and statistics -----------------------------------------------------------------------

    def interval(self, symbol_ids: Iterable[int], from_ms: int, to_ms: int) -> dict[int, tuple[bytes, bytes]]:
        """The ``(push 8 records, push 17 record)`` of every symbol with ticks in ``(from_ms, to_ms]``."""
        out: dict[int, tuple[bytes, bytes]] = {}
        if to_ms <= from_ms:
            return out
        for sid in symbol_ids:
            spec = self.catalogue.by_id(sid)
            ticks = self.model.ticks(spec.name, from_ms + 1, to_ms)
            if not len(ticks):
                continue
            day = self._day(spec, from_ms + 1)
            if day.day != self._day_index(int(ticks["time_ms"][-1])):
                day = self._day(spec, int(ticks["time_ms"][-1]))  # the interval crossed midnight
            else:
                day.update(ticks)
            out[sid] = (encode_ticks(sid, spec.digits, ticks), self._stats_record(sid, spec.digits, day))
        return out

    def snapshot(self, symbol_ids: Sequence[int], now_ms: int) -> list[tuple[int, bytes]]:
        """The latest tick and the statistics of newly subscribed symbols (pushes 8 and 17)."""
        ticks: list[bytes] = []
        stats: list[bytes] = []
        for sid in symbol_ids:
            spec = self.catalogue.by_id(sid)
            quote = self.model.quote_at(spec.name, now_ms)
            if quote is None:
                continue
            tick = np.zeros(1, dtype=[("time_ms", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"),
                                      ("volume", "<i8"), ("fields", "<u4")])
            fields = TickField.BID | TickField.ASK | (TickField.LAST if quote.last else 0)
            tick[0] = (quote.time_ms, quote.bid, quote.ask, quote.last, 0, int(fields))
            ticks.append(encode_ticks(sid, spec.digits, tick))
            stats.append(self._stats_record(sid, spec.digits, self._day(spec, now_ms)))
        frames: list[tuple[int, bytes]] = []
        if ticks:
            frames.append((8, b"".join(ticks)))
        if stats:
            frames.append((17, b"".join(stats)))
        return frames

    def _day_index(self, utc_ms: int) -> int:
        return (utc_ms + self._shift_ms) // _DAY_MS

    def _day(self, spec: Any, t_ms: int) -> _Day:
        """The statistics of the server day containing ``t_ms`` (built from the model on first use)."""
        index = self._day_index(t_ms)
        day = self._days.get(spec.symbol_id)
        if day is not None and day.day == index:
            if t_ms > day.time_ms:
                day.update(self.model.ticks(spec.name, day.time_ms + 1, t_ms))
            return day
        start = index * _DAY_MS - self._shift_ms
        day = _Day(index, time_ms=start - 1)
        before = self.model.quote_at(spec.name, start - 1)
        if before is not None:
            day.prev_close = float(before.bid)
        day.update(self.model.ticks(spec.name, start, t_ms))
        day.time_ms = max(day.time_ms, t_ms)
        self._days[spec.symbol_id] = day
        return day

    def _stats_record(self, sid: int, digits: int, day: _Day) -> bytes:
        rec = _STATS.empty_array(1)
        scale = _scale(digits)
        mask = 0

        def put(name: str, value: float | int, bit: int, *, price: bool = True) -> None:
            nonlocal mask
            rec[name] = round(value * scale) if price else value
            mask |= bit

        if day.bid:
            put("bid_last", day.bid, StatsField.BID_LAST)
            put("bid_high", day.bid_high, StatsField.BID_HIGH)
            put("bid_low", day.bid_low, StatsField.BID_LOW)
        if day.ask:
            put("ask_last", day.ask, StatsField.ASK_LAST)
            put("ask_high", day.ask_high, StatsField.ASK_HIGH)
            put("ask_low", day.ask_low, StatsField.ASK_LOW)
        if day.last:
            put("last_last", day.last, StatsField.LAST_LAST)
            put("last_high", day.last_high, StatsField.LAST_HIGH)
            put("last_low", day.last_low, StatsField.LAST_LOW)
        if day.deals:
            put("vol_last", day.volume, StatsField.VOL_LAST, price=False)
            put("vol_high", day.vol_high, StatsField.VOL_HIGH, price=False)
            put("vol_low", day.vol_low, StatsField.VOL_LOW, price=False)
            put("trade_deals", day.deals, StatsField.TRADE_DEALS, price=False)
            put("trade_volume", day.traded // LOTS_SCALE, StatsField.TRADE_VOLUME, price=False)
        if day.open:
            put("price_open", day.open, StatsField.PRICE_OPEN)
        if day.prev_close:
            put("price_close", day.prev_close, StatsField.PRICE_CLOSE)
            reference = day.last or day.bid
            if reference:
                put("price_change", (reference / day.prev_close - 1) * 100 * 100, StatsField.PRICE_CHANGE,
                    price=False)
        rec["symbol_id"] = sid
        rec["fields"] = mask
        rec["lasttime"] = max(day.time_ms, 0) // 1000
        rec["lasttime_msc"] = max(day.time_ms, 0) % 1000
        rec["digits"] = digits
        return rec.tobytes()

    # --- depth of market ----------------------------------------------------------------------------

    def book(self, symbol_id: int, now_ms: int) -> Levels:
        """The current book of a symbol in wire units."""
        spec = self.catalogue.by_id(symbol_id)
        depth = int(spec.book_depth)
        if depth <= 0:
            return {}
        scale = _scale(spec.digits)
        levels: Levels = {}
        bids, asks = self.model.book(spec.name, now_ms, depth)
        for kind, side in ((BookType.BUY, bids), (BookType.SELL, asks)):
            for price, lots in side:
                key = (int(kind), round(price * scale))
                levels[key] = levels.get(key, 0) + round(lots * LOTS_SCALE)
        return levels

    def book_body(self, mirror: BookMirror, books: dict[int, Levels], now_ms: int, *, snapshot: bool) -> bytes | None:
        """Push 23 for ``books``: full snapshots (``books_flags`` bit 2), or the deltas from ``mirror``.

        Returns None when nothing changed. ``mirror`` is updated to the new books.
        """
        blocks: list[BookBlock] = []
        for sid, new in books.items():
            old = None if snapshot else mirror.books.get(sid)
            if old is None:
                changes = sorted(new.items(), key=_level_order)
                flags = BOOK_SNAPSHOT
            else:
                changes = [(k, 0) for k in old if k not in new]
                changes += [(k, v - old.get(k, 0)) for k, v in new.items() if v != old.get(k, 0) and k in old]
                changes += [(k, v) for k, v in new.items() if k not in old]
                changes.sort(key=_level_order)
                flags = 0
                if not changes:
                    continue
            mirror.books[sid] = dict(new)
            levels = _LEVEL.empty_array(len(changes))
            for i, ((kind, price), volume) in enumerate(changes):
                levels[i] = (0, kind, price, volume)
            blocks.append(BookBlock(sid, now_ms // 1000, now_ms % 1000, 0, flags, levels))
        return build_book(blocks) if blocks else None


def _level_order(item: tuple[tuple[int, int], int]) -> tuple[int, int]:
    (kind, price), _ = item
    return kind, -price
