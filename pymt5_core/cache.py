"""Parquet cache of bars, one file per (server, symbol, period), holding one contiguous span.

Each file stores the bars and, in its schema metadata, the span ``[span_from, span_to]`` (Unix seconds,
inclusive) that is known to be complete: every bar the server has in that span is in the file. A request
then needs only what lies outside the span (:meth:`BarCache.missing`):

* before it: ``[start, span_from - 1]``;
* after it: ``[span_to + 1, end]``, and from the last cached bar on when that bar was still forming when
  it was fetched (it closes after ``fetched_at``), so a bar cached mid-formation is always refreshed.

A request that does not touch the span at all is fetched whole and replaces the file when it is more
recent; the cache never stores a span with a hole in it. Files are written atomically (temporary file,
then rename). Times are the bar times the server gives (``time`` column, Unix seconds).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core._timeframes import RATES_DTYPE

__all__ = ["BarCache", "CachedBars"]

_META_KEY = b"pymt5_core.cache"
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CachedBars:
    """What a cache file holds: the bars (rates dtype, oldest first), their complete span, and the server
    time at which the last bar was fetched (it was still forming if it closes after that)."""

    bars: npt.NDArray[Any]
    span_from: int
    span_to: int
    fetched_at: int = 0

    @property
    def empty(self) -> bool:
        """True when nothing is cached."""
        return self.span_to < self.span_from


_EMPTY = CachedBars(np.zeros(0, RATES_DTYPE), 0, -1, 0)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._#+-]", "_", text) or "_"


class BarCache:
    """A directory of Parquet files, one per ``(namespace, symbol, period)``.

    Args:
        directory: root folder, created on first write.
        namespace: keeps servers apart (two brokers' "EURUSD" differ); typically the server host.
    """

    def __init__(self, directory: str | os.PathLike[str], namespace: str = "default") -> None:
        self.directory = Path(directory).expanduser()
        self.namespace = _safe(namespace)

    def __repr__(self) -> str:
        return f"BarCache({str(self.directory)!r}, namespace={self.namespace!r})"

    def path(self, symbol: str, period: str) -> Path:
        """The file of one symbol and period."""
        return self.directory / self.namespace / f"{_safe(symbol)}.{_safe(period)}.parquet"

    def load(self, symbol: str, period: str) -> CachedBars:
        """Read a file; a missing or unreadable file is an empty cache (it is then rewritten)."""
        import pyarrow.parquet as pq

        path = self.path(symbol, period)
        if not path.exists():
            return _EMPTY
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[_META_KEY])
            if meta.get("format") != _FORMAT:
                return _EMPTY
            bars = np.zeros(table.num_rows, RATES_DTYPE)
            for name in RATES_DTYPE.names or ():
                bars[name] = table.column(name).to_numpy()
            return CachedBars(bars, int(meta["span_from"]), int(meta["span_to"]), int(meta["fetched_at"]))
        except (OSError, KeyError, ValueError, TypeError):
            return _EMPTY

    def store(self, symbol: str, period: str, cached: CachedBars) -> None:
        """Write a file atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(symbol, period)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = list(RATES_DTYPE.names or ())
        meta = {"format": _FORMAT, "symbol": symbol, "period": period,
                "span_from": cached.span_from, "span_to": cached.span_to, "fetched_at": cached.fetched_at}
        table = pa.table({name: cached.bars[name] for name in names}).replace_schema_metadata(
            {_META_KEY: json.dumps(meta).encode()}
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def missing(cached: CachedBars, start: int, end: int, period_seconds: int) -> list[tuple[int, int]]:
        """The inclusive ranges to fetch so that ``cached`` plus them covers ``[start, end]``."""
        if cached.empty or end < cached.span_from or start > cached.span_to + 1:
            return [(start, end)]
        ranges: list[tuple[int, int]] = []
        if start < cached.span_from:
            ranges.append((start, cached.span_from - 1))
        final_to = cached.span_to
        if len(cached.bars):
            last = int(cached.bars["time"][-1])
            if last + period_seconds > cached.fetched_at:  # it was still forming when fetched
                final_to = min(final_to, last - 1)
        if end > final_to:
            ranges.append((final_to + 1, end))
        return ranges

    @staticmethod
    def merge(cached: CachedBars, fetched: list[tuple[int, int, npt.NDArray[Any]]], now: int) -> CachedBars:
        """Add ranges ``(from, to, bars)`` fetched at server time ``now``; newer bars replace older ones.

        The result spans the union when it is contiguous; otherwise the most recent contiguous part
        wins (the cache never holds a hole).
        """
        spans = [] if cached.empty else [(cached.span_from, cached.span_to)]
        spans += [(a, b) for a, b, _ in fetched]
        spans.sort()
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        span_from, span_to = merged[-1]
        parts = [cached.bars, *(bars for _, _, bars in fetched)]
        allbars = np.concatenate([np.asarray(p, dtype=RATES_DTYPE) for p in parts])
        # Keep the last occurrence of each time: reverse, unique (first occurrence), restore order.
        rev = allbars[::-1]
        _, first = np.unique(rev["time"], return_index=True)
        bars = rev[first]
        bars = bars[(bars["time"] >= span_from) & (bars["time"] <= span_to)]
        fetched_at = cached.fetched_at
        if len(bars):
            last = int(bars["time"][-1])
            if any(a <= last <= b for a, b, _ in fetched):
                fetched_at = now
        return CachedBars(np.ascontiguousarray(bars), int(span_from), int(span_to), fetched_at)
