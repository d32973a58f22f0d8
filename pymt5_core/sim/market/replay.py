"""Replay of recorded market data in place of the synthetic model.

A file holds either M1 bars (``time, open, high, low, close`` and optionally ``tick_volume, spread,
real_volume``) or ticks (``time, bid, ask`` and optionally ``last, volume``), for one symbol given by
argument or for several in a ``symbol`` column. ``time`` is Unix seconds (fractions allowed for ticks) or
an ISO datetime, naive meaning UTC; tick files may give ``time_msc`` in Unix milliseconds instead. Prices
are plain, volumes in lots, spreads in points.

For a replayed symbol the price model serves the recorded data from its first to its last minute and the
synthetic model outside. Ticks of replayed bars are drawn from the bars as for synthetic bars; bars of
replayed ticks are summed up from the ticks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from pymt5_core.sim.market.records import Bars, Ticks, empty_bars, empty_ticks
from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.sim.market.ticks import bars_from_ticks, min_ticks, synthesize_ticks
from pymt5_core.wire.codec import LOTS_SCALE
from pymt5_core.wire.enums import TickField

if TYPE_CHECKING:
    # pandas is imported only when data is loaded, so the market starts fast without it.
    import pandas as pd

__all__ = ["ReplayBarSource", "ReplayData", "ReplaySeries", "ReplayTickSource"]

_BAR_COLUMNS = ("open", "high", "low", "close")
_TICK_COLUMNS = ("bid", "ask")
# Marks a spread the file did not give; the symbol's typical spread replaces it.
_NO_SPREAD = -1


@dataclass(frozen=True, slots=True)
class ReplaySeries:
    """The recorded data of one symbol: M1 bars or ticks, in time order."""

    symbol: str
    bars: Bars | None = None
    ticks: Ticks | None = None

    def __post_init__(self) -> None:
        if (self.bars is None) == (self.ticks is None):
            raise ValueError(f"{self.symbol}: a replay series holds either bars or ticks")

    @property
    def start_s(self) -> int:
        """The first replayed minute (Unix s)."""
        times = self._minutes()
        return int(times[0]) if len(times) else 0

    @property
    def end_s(self) -> int:
        """The end of the last replayed minute (Unix s, exclusive)."""
        times = self._minutes()
        return int(times[-1]) + 60 if len(times) else 0

    def _minutes(self) -> npt.NDArray[np.int64]:
        if self.bars is not None:
            return np.asarray(self.bars["time"])
        assert self.ticks is not None
        return np.asarray(self.ticks["time_ms"] // 60_000 * 60)


class ReplayData:
    """Recorded data for one or more symbols.

    Raises:
        ValueError: two series for the same symbol.
    """

    def __init__(self, series: Iterable[ReplaySeries]) -> None:
        self._series: dict[str, ReplaySeries] = {}
        for s in series:
            if s.symbol in self._series:
                raise ValueError(f"{s.symbol}: replayed twice")
            self._series[s.symbol] = s

    @classmethod
    def from_csv(cls, path: str | Path, symbol: str | None = None) -> ReplayData:
        """Load bars or ticks from a CSV file (see the module docstring for the columns).

        Raises:
            ValueError: the columns are neither bars nor ticks, or no symbol is given.
        """
        import pandas as pd

        return cls.from_frame(pd.read_csv(path), symbol)

    @classmethod
    def from_parquet(cls, path: str | Path, symbol: str | None = None) -> ReplayData:
        """Load bars or ticks from a Parquet file (needs pyarrow).

        Raises:
            ValueError: the columns are neither bars nor ticks, or no symbol is given.
        """
        import pandas as pd

        return cls.from_frame(pd.read_parquet(path), symbol)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, symbol: str | None = None) -> ReplayData:
        """Load bars or ticks from a DataFrame; ``symbol`` names the data or picks it from a symbol column.

        Raises:
            ValueError: the columns are neither bars nor ticks, or no symbol is given.
        """
        frame = frame.rename(columns=lambda c: str(c).strip().lower())
        if "symbol" in frame.columns:
            groups = dict(tuple(frame.groupby("symbol", sort=False)))
            if symbol is not None:
                groups = {symbol: groups.get(symbol, frame.iloc[:0])}
        elif symbol is not None:
            groups = {symbol: frame}
        else:
            raise ValueError("give the symbol, or a 'symbol' column")
        return cls(_series(str(name), part) for name, part in groups.items())

    def __getitem__(self, symbol: str) -> ReplaySeries:
        return self._series[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._series

    def __iter__(self) -> Iterator[ReplaySeries]:
        return iter(self._series.values())

    def __len__(self) -> int:
        return len(self._series)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The replayed symbols."""
        return tuple(self._series)


def _series(symbol: str, frame: pd.DataFrame) -> ReplaySeries:
    columns = set(frame.columns)
    if columns.issuperset(_TICK_COLUMNS):
        return ReplaySeries(symbol, ticks=_ticks(frame))
    if columns.issuperset(_BAR_COLUMNS):
        return ReplaySeries(symbol, bars=_bars(frame))
    raise ValueError(
        f"{symbol}: columns {sorted(columns)} hold neither bars (open/high/low/close) nor ticks (bid/ask)"
    )


def _unix_ms(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    import pandas as pd

    times: npt.NDArray[np.int64]
    if "time_msc" in frame.columns:
        times = frame["time_msc"].to_numpy(np.int64)
    elif "time" not in frame.columns:
        raise ValueError("a 'time' column is needed")
    elif pd.api.types.is_numeric_dtype(frame["time"]):
        times = np.rint(frame["time"].to_numpy(np.float64) * 1000).astype(np.int64)
    else:
        moments = pd.to_datetime(frame["time"], utc=True)
        times = np.asarray((moments - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms"), dtype=np.int64)
    return times


def _column(frame: pd.DataFrame, name: str, default: float) -> npt.NDArray[np.float64]:
    if name in frame.columns:
        return frame[name].to_numpy(np.float64)
    return np.full(len(frame), default)


def _bars(frame: pd.DataFrame) -> Bars:
    times_ms = _unix_ms(frame)
    if np.any(times_ms % 60_000):
        raise ValueError("M1 bar times must be whole minutes")
    order = np.argsort(times_ms, kind="stable")
    bars = empty_bars(len(frame))
    bars["time"] = times_ms // 1000
    for name in _BAR_COLUMNS:
        bars[name] = frame[name].to_numpy(np.float64)
    bars["tick_volume"] = _column(frame, "tick_volume", 0)
    bars["spread"] = _column(frame, "spread", _NO_SPREAD)
    bars["real_volume"] = _column(frame, "real_volume", 0)
    bars = bars[order]
    # The last of several rows for one minute wins.
    last_of_minute = np.ones(len(bars), dtype=bool)
    last_of_minute[:-1] = bars["time"][1:] != bars["time"][:-1]
    unique: Bars = bars[last_of_minute]
    return unique


def _ticks(frame: pd.DataFrame) -> Ticks:
    ticks = empty_ticks(len(frame))
    ticks["time_ms"] = _unix_ms(frame)
    ticks["bid"] = frame["bid"].to_numpy(np.float64)
    ticks["ask"] = frame["ask"].to_numpy(np.float64)
    fields = TickField.BID | TickField.ASK
    if "last" in frame.columns:
        ticks["last"] = frame["last"].to_numpy(np.float64)
        fields |= TickField.LAST
    if "volume" in frame.columns:
        ticks["volume"] = np.rint(frame["volume"].to_numpy(np.float64) * LOTS_SCALE).astype(np.int64)
        fields |= TickField.VOLUME
    ticks["fields"] = fields
    return ticks[np.argsort(ticks["time_ms"], kind="stable")]


def _round_prices(values: npt.NDArray[np.float64], digits: int) -> npt.NDArray[np.float64]:
    scale = 10**digits
    rounded: npt.NDArray[np.float64] = np.rint(values * scale) / scale
    return rounded


class ReplayBarSource:
    """Replayed M1 bars of one symbol, with ticks drawn from them.

    The bars are rounded to the symbol's digits, a missing spread becomes the symbol's typical spread,
    and a tick volume too small to draw the bar is raised to the fewest ticks that can.

    Raises:
        ValueError: a bar whose high or low does not contain its open and close.
    """

    def __init__(self, spec: SymbolSpec, bars: Bars, tick_key: int) -> None:
        bars = bars.copy()
        for name in _BAR_COLUMNS:
            bars[name] = _round_prices(bars[name], spec.digits)
        if np.any(bars["high"] < np.maximum(bars["open"], bars["close"])) or np.any(
            bars["low"] > np.minimum(bars["open"], bars["close"])
        ):
            raise ValueError(f"{spec.name}: replayed bars whose high/low do not contain open and close")
        scale = 10**spec.digits
        points = [np.rint(bars[name] * scale).astype(np.int64) for name in _BAR_COLUMNS]
        bars["tick_volume"] = np.maximum(bars["tick_volume"], min_ticks(*points))
        bars["spread"] = np.where(bars["spread"] < 0, spec.spread_points, bars["spread"])
        if spec.is_exchange:
            bars["real_volume"] = np.maximum(bars["real_volume"], bars["tick_volume"] * spec.volume_step)
        self._spec, self._bars, self._key = spec, bars, tick_key

    def m1(self, from_s: int, to_s: int) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``."""
        lo, hi = np.searchsorted(self._bars["time"], [from_s, to_s + 1]) if from_s <= to_s else (0, 0)
        return self._bars[lo:hi].copy()

    def ticks(self, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``."""
        ticks = synthesize_ticks(self.m1(from_ms // 60_000 * 60, to_ms // 1000), self._spec, self._key)
        lo, hi = np.searchsorted(ticks["time_ms"], [from_ms, to_ms + 1])
        return ticks[lo:hi]


class ReplayTickSource:
    """Replayed ticks of one symbol (prices rounded to its digits), with M1 bars summed up from them."""

    def __init__(self, spec: SymbolSpec, ticks: Ticks) -> None:
        ticks = ticks.copy()
        for name in ("bid", "ask", "last"):
            ticks[name] = _round_prices(ticks[name], spec.digits)
        self._spec, self._ticks = spec, ticks

    def m1(self, from_s: int, to_s: int) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``."""
        if from_s > to_s:
            return empty_bars()
        ticks = self.ticks(-(-from_s // 60) * 60_000, to_s // 60 * 60_000 + 59_999)
        return bars_from_ticks(ticks, self._spec)

    def ticks(self, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``."""
        lo, hi = np.searchsorted(self._ticks["time_ms"], [from_ms, to_ms + 1]) if from_ms <= to_ms else (0, 0)
        return self._ticks[lo:hi].copy()
