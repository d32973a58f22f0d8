"""Rates arrays and DataFrames built from command 11 pages as they arrive.

A bars download decodes every page straight into its preallocated result (a ``MetaTrader5`` rates array or
the columns of a DataFrame) and lets the page's decrypted body go: nothing is concatenated, and at any time
the client holds the result plus the page in hand. Pages come oldest first (paging forward) or newest first
(paging back from ``end``); the latter fill the result from its end.

The alignment of a page's bar times (SPEC 9.5) is checked on the time column the sink has just written,
a contiguous column, rather than on a second gather of the page's strided one.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from pymt5_core._timeframes import RATES_DTYPE
from pymt5_core.wire.enums import Period
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.messages.market import check_bar_times

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RATES_DTYPE", "BarSink", "FrameSink", "RatesSink", "max_bars", "rates_frame"]

#: Rows reserved up front at most; a larger download grows its result by doubling.
FIRST_CAPACITY = 1 << 22

_PRICES = ("open", "high", "low", "close")
_Unit = Literal["s", "ms", "us", "ns"]
_UNIT_SCALE: dict[_Unit, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_R = TypeVar("_R")


def _prices_block(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """A view of ``dtype``'s four prices, which are contiguous in both the wire Bar and the rates record, as one
    opaque field: one copy per record moves all four."""
    offsets = [dtype.fields[name][1] for name in _PRICES]  # type: ignore[index]
    assert offsets == list(range(offsets[0], offsets[0] + 32, 8)), "the four prices must be contiguous"
    return np.dtype({"names": ["p"], "formats": ["V32"], "offsets": [offsets[0]], "itemsize": dtype.itemsize})


_RAW_PRICES = _prices_block(LAYOUTS["Bar"].dtype)
_OUT_PRICES = _prices_block(RATES_DTYPE)


def max_bars(period: Period, start_s: int, end_s: int) -> int:
    """The most bars of ``period`` that can open in ``[start_s, end_s]`` (bars are aligned to their period)."""
    step = period.seconds if period is not Period.MN1 else 28 * 86_400
    return max(end_s - start_s, -1) // step + 1


class BarSink(Generic[_R]):
    """The result of one bars download, filled page by page into arrays reserved for ``bound`` rows.

    Args:
        bound: the most rows the download can bring (a larger count grows the arrays, a smaller one is
            trimmed at the end).
        backward: pages come newest first and fill the arrays from their end.
    """

    def __init__(self, bound: int, *, backward: bool) -> None:
        self.backward = backward
        capacity = max(min(bound, FIRST_CAPACITY), 0)
        self._arrays = self._allocate(capacity)
        self._lo = self._hi = capacity if backward else 0

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def _capacity(self) -> int:
        return int(self._arrays[0].shape[-1])

    def add(self, page: npt.NDArray[Any], period: Period | None = None) -> None:
        """Decode one page of raw Bar records (sorted, next in paging order) into the result.

        With ``period``, the bar times are checked as :func:`~pymt5_core.wire.messages.read_bars` checks
        them, on their decoded column.

        Raises:
            ProtocolError: a bar is not aligned to ``period``; the page is then not added.
        """
        n = len(page)
        if not n:
            return
        if (self._lo if self.backward else self._capacity - self._hi) < n:
            self._grow(n)
        rows = slice(self._lo - n, self._lo) if self.backward else slice(self._hi, self._hi + n)
        self._write(rows, page)
        if period is not None:
            check_bar_times(self._times(rows).astype(page["time"].dtype), period)  # back to the wire's type
        self._complete(rows)
        if self.backward:
            self._lo = rows.start
        else:
            self._hi = rows.stop

    def result(self) -> _R:
        """The finished result: oldest first, exactly the rows added."""
        arrays = self._arrays
        if len(self) != self._capacity:
            arrays = [a[..., self._lo:self._hi].copy() for a in arrays]
        self._arrays = []
        return self._finish(arrays, len(self))

    def _grow(self, need: int) -> None:
        size, capacity = len(self), max(2 * self._capacity, len(self) + need)
        rows = slice(capacity - size, capacity) if self.backward else slice(0, size)
        grown = self._allocate(capacity)
        for old, new in zip(self._arrays, grown, strict=True):
            new[..., rows] = old[..., self._lo:self._hi]
        self._arrays = grown
        self._lo, self._hi = rows.start, rows.stop

    def _allocate(self, capacity: int) -> list[npt.NDArray[Any]]:
        """Uninitialised arrays of ``capacity`` rows along their last axis."""
        raise NotImplementedError

    def _write(self, rows: slice, page: npt.NDArray[Any]) -> None:
        raise NotImplementedError

    def _times(self, rows: slice) -> npt.NDArray[np.int64]:
        """The bar times written to ``rows``, in Unix seconds."""
        raise NotImplementedError

    def _complete(self, rows: slice) -> None:
        """Finish ``rows`` once their times are checked."""

    def _finish(self, arrays: list[npt.NDArray[Any]], n: int) -> _R:
        raise NotImplementedError


class RatesSink(BarSink[npt.NDArray[Any]]):
    """Fills a :data:`RATES_DTYPE` array: ``spread`` is 0 (bars carry none), ``real_volume`` whole lots."""

    def _allocate(self, capacity: int) -> list[npt.NDArray[Any]]:
        return [np.empty(capacity, RATES_DTYPE)]

    def _write(self, rows: slice, page: npt.NDArray[Any]) -> None:
        out = self._arrays[0][rows]
        out.view(_OUT_PRICES)["p"] = page.view(_RAW_PRICES)["p"]
        out["tick_volume"] = page["tick_volume"]
        out["spread"] = 0
        out["real_volume"] = np.rint(page["real_volume"])
        out["time"] = page["time"]  # last, right before the check reads it back

    def _times(self, rows: slice) -> npt.NDArray[np.int64]:
        return self._arrays[0]["time"][rows]

    def _finish(self, arrays: list[npt.NDArray[Any]], n: int) -> npt.NDArray[Any]:
        return arrays[0]


class FrameSink(BarSink["pd.DataFrame"]):
    """Fills the columns of a :func:`rates_frame` directly, without a rates array in between."""

    def _allocate(self, capacity: int) -> list[npt.NDArray[Any]]:
        return [np.empty(capacity, np.int64), np.empty((4, capacity)), np.empty(capacity, np.uint64),
                np.empty(capacity, np.uint64)]

    def _write(self, rows: slice, page: npt.NDArray[Any]) -> None:
        time_s, prices, tick_volume, real_volume = self._arrays
        for row, name in enumerate(_PRICES):
            prices[row, rows] = page[name]
        tick_volume[rows] = page["tick_volume"]
        np.rint(page["real_volume"], out=real_volume[rows], casting="unsafe")
        time_s[rows] = page["time"]  # last, right before the check and the scaling read it back

    def _times(self, rows: slice) -> npt.NDArray[np.int64]:
        return self._arrays[0][rows]

    def _complete(self, rows: slice) -> None:
        self._arrays[0][rows] *= _UNIT_SCALE[_epoch_unit()]  # to the resolution of the DataFrame's index

    def _finish(self, arrays: list[npt.NDArray[Any]], n: int) -> pd.DataFrame:
        time, prices, tick_volume, real_volume = arrays
        return _frame(time, prices, tick_volume, np.zeros(n, np.int32), real_volume)


def rates_frame(rates: npt.NDArray[Any]) -> pd.DataFrame:
    """Turn a rates array into a DataFrame indexed by a UTC ``DatetimeIndex`` named ``time``."""
    time = rates["time"].astype(np.int64)
    time *= _UNIT_SCALE[_epoch_unit()]
    prices = np.empty((4, len(rates)))
    for row, name in enumerate(_PRICES):
        prices[row] = rates[name]
    return _frame(time, prices, rates["tick_volume"].astype(np.uint64), rates["spread"].astype(np.int32),
                  rates["real_volume"].astype(np.uint64))


def _frame(time: npt.NDArray[np.int64], prices: npt.NDArray[np.float64], tick_volume: npt.NDArray[Any],
           spread: npt.NDArray[Any], real_volume: npt.NDArray[Any]) -> pd.DataFrame:
    """A rates DataFrame over fresh arrays that nobody else holds: they become its columns without a copy.

    ``time`` is in the resolution pandas gives epoch seconds (:func:`_epoch_unit`).
    """
    import pandas as pd

    unit = _epoch_unit()
    index = pd.DatetimeIndex(time, dtype=pd.DatetimeTZDtype(unit, "UTC"), name="time", copy=False)
    columns = dict(zip(_PRICES, prices, strict=True))
    columns |= {"tick_volume": tick_volume, "spread": spread, "real_volume": real_volume}
    return pd.DataFrame(columns, index=index, copy=False)


@functools.cache
def _epoch_unit() -> _Unit:
    """The resolution ``pd.to_datetime(seconds, unit="s")`` gives (ns before pandas 3, us since)."""
    import pandas as pd

    unit = pd.to_datetime(np.zeros(1, np.int64), unit="s", utc=True).unit
    return next(u for u in _UNIT_SCALE if u == unit)
