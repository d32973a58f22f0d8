"""The simulator's market: bars, ticks, quotes and books of every catalogue symbol, on demand.

Everything is a pure function of (seed, symbol, time): any range can be asked for in any order, and the
answers agree with each other. (The only thing kept is a bounded cache of finished command 11 bodies, so a
repeated download is served at once, as a real server serves stored history.)

* ``m1`` is the source of truth; ``bars`` of every period (SPEC §7.17) are summed up from it, so all
  periods agree exactly. A bar is included when its open time t satisfies ``from_s <= t <= to_s``; bar
  times are aligned in UTC as SPEC §9.5 requires (weeks start on Sunday, months on the 1st), and only
  periods holding at least one M1 bar appear. Bars are bid bars (chart mode 0).
* ``ticks`` of a minute start at the bar's open, reach its high and low and end at its close, and there
  are ``tick_volume`` of them. A live server that streams these ticks therefore builds every bar exactly
  as command 11 returns it afterwards.
* ``quote_at`` is the latest tick at or before an instant, ``book`` the depth of market around it.

The model has no clock: it would return future bars as readily as past ones. A server passes ``now_ms``
to the bar calls so that nothing after "now" is returned and the forming minute holds only the ticks
already streamed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from pymt5_core.sim.market.book import BookSide, book_levels
from pymt5_core.sim.market.catalogue import Catalogue
from pymt5_core.sim.market.records import Bars, Quote, Ticks, bars_to_wire, empty_bars
from pymt5_core.sim.market.replay import ReplayBarSource, ReplayData, ReplayTickSource
from pymt5_core.sim.market.rng import Stream, stream_key
from pymt5_core.sim.market.sources import MarketSource, SplicedSource
from pymt5_core.sim.market.synthetic import SyntheticSeries
from pymt5_core.sim.market.ticks import bars_from_ticks
from pymt5_core.sim.market.timeframes import aggregate, first_bar_at_or_after, next_bar_open
from pymt5_core.wire.enums import Period

__all__ = ["PriceModel"]

_DAY = 86_400
# Longest market closure that quote_at looks back over.
_QUOTE_LOOKBACK_DAYS = 10
_LAST_WIRE_TIME = 2**31 - 1
#: Bytes of command 11 bodies kept for repeated requests (a 100,000-bar page is 4.8 MB).
RATES_CACHE_BYTES = 1 << 27


class PriceModel:
    """Deterministic, seeded market data for the symbols of a catalogue.

    Args:
        catalogue: the symbols (default: :meth:`Catalogue.default`); its timezone shift places sessions.
        seed: the market seed; the same seed gives the same market.
        replay: recorded data served instead of the synthetic model for its symbols and time ranges.

    Symbol arguments are names; an unknown name raises ``KeyError``.

    Raises:
        KeyError: a replayed symbol is not in the catalogue.
    """

    def __init__(
        self, catalogue: Catalogue | None = None, *, seed: int = 0, replay: ReplayData | None = None
    ) -> None:
        self.catalogue = catalogue if catalogue is not None else Catalogue.default()
        self.seed = seed
        self._replay = replay if replay is not None else ReplayData(())
        unknown = [name for name in self._replay.symbols if name not in self.catalogue]
        if unknown:
            raise KeyError(f"replayed symbols missing from the catalogue: {', '.join(unknown)}")
        self._sources: dict[str, MarketSource] = {}
        self._minutes: dict[str, _Minute] = {}
        self._wire_cache: OrderedDict[tuple[str, int, int, int], bytes] = OrderedDict()
        self._wire_cache_bytes = 0

    def source(self, symbol: str) -> MarketSource:
        """Return the data source of a symbol (synthetic, replayed or spliced)."""
        source = self._sources.get(symbol)
        if source is None:
            source = self._sources[symbol] = self._make_source(symbol)
        return source

    def _make_source(self, symbol: str) -> MarketSource:
        spec = self.catalogue[symbol]
        synthetic = SyntheticSeries(spec, self.seed, self.catalogue.timezone_shift)
        if symbol not in self._replay:
            return synthetic
        series = self._replay[symbol]
        replayed: MarketSource
        if series.bars is not None:
            replayed = ReplayBarSource(spec, series.bars, stream_key(self.seed, spec.symbol_id, Stream.TICKS))
        else:
            assert series.ticks is not None
            replayed = ReplayTickSource(spec, series.ticks)
        return SplicedSource(replayed, synthetic, series.start_s, series.end_s)

    # --- bars -------------------------------------------------------------------------------------

    def m1(self, symbol: str, from_s: int, to_s: int, *, now_ms: int | None = None) -> Bars:
        """Return the M1 bars whose open time t satisfies ``from_s <= t <= to_s``.

        Args:
            now_ms: when given, bars after this instant are left out and the bar of its minute is built
                from the ticks up to it (or left out when it has none yet).
        """
        source = self.source(symbol)
        if now_ms is None:
            return source.m1(from_s, to_s)
        bars = source.m1(from_s, min(to_s, now_ms // 1000))
        if len(bars) == 0 or int(bars["time"][-1]) * 1000 + 60_000 <= now_ms:
            return bars
        forming = source.ticks(int(bars["time"][-1]) * 1000, now_ms)
        return np.concatenate([bars[:-1], bars_from_ticks(forming, self.catalogue[symbol])])

    def bars(
        self, symbol: str, period: Period | int, from_s: int, to_s: int, *, now_ms: int | None = None
    ) -> Bars:
        """Return the ``period`` bars whose open time t satisfies ``from_s <= t <= to_s``.

        Raises:
            ValueError: ``period`` is not one of the nine period codes of SPEC §7.17.
        """
        period = Period.parse(period)
        first = first_bar_at_or_after(from_s, period)
        if first > to_s:
            return empty_bars()
        m1 = self.m1(symbol, first, next_bar_open(to_s, period) - 1, now_ms=now_ms)
        return aggregate(m1, period)

    def bars_wire(
        self, symbol: str, period: Period | int, from_s: int, to_s: int, *, now_ms: int | None = None
    ) -> bytes:
        """Return the body of the command 11 response: the bars as uncounted 48-byte Bar records.

        A body whose every bar has closed by ``now_ms`` can no longer change: the last ones asked for are
        kept (up to :data:`RATES_CACHE_BYTES`) and served again as they are.

        Raises:
            ValueError: ``period`` is not one of the nine period codes of SPEC §7.17.
        """
        period = Period.parse(period)
        to_s = min(to_s, _LAST_WIRE_TIME)
        settled = now_ms is None or next_bar_open(to_s, period) * 1000 <= now_ms
        key = (symbol, int(period), from_s, to_s)
        body = self._wire_cache.get(key) if settled else None
        if body is not None:
            self._wire_cache.move_to_end(key)
            return body
        body = bars_to_wire(self.bars(symbol, period, from_s, to_s, now_ms=now_ms))
        if settled and len(body) <= RATES_CACHE_BYTES // 4:
            self._wire_cache[key] = body
            self._wire_cache_bytes += len(body)
            while self._wire_cache_bytes > RATES_CACHE_BYTES:
                self._wire_cache_bytes -= len(self._wire_cache.popitem(last=False)[1])
        return body

    # --- ticks, quotes, books ---------------------------------------------------------------------

    def ticks(self, symbol: str, from_ms: int, to_ms: int) -> Ticks:
        """Return the ticks with ``from_ms <= time_ms <= to_ms``, in time order."""
        return self.source(symbol).ticks(from_ms, to_ms)

    def quote_at(self, symbol: str, t_ms: int) -> Quote | None:
        """Return the latest tick at or before ``t_ms``, or None when there is none within 10 days."""
        source = self.source(symbol)
        end_s = t_ms // 1000
        # Every instant of a minute looks at the same last two bars: keep them (and their ticks) per symbol.
        minute = self._minutes.get(symbol)
        if minute is None or minute.start_s != end_s // 60 * 60:
            times = source.m1(end_s // _DAY * _DAY, end_s)["time"][-2:].tolist()
            minute = self._minutes[symbol] = _Minute(end_s // 60 * 60, times, [None] * len(times))
        for i in reversed(range(len(minute.bar_times))):
            ticks = minute.ticks[i]
            if ticks is None:
                bar_ms = minute.bar_times[i] * 1000
                ticks = minute.ticks[i] = source.ticks(bar_ms, bar_ms + 59_999)
            quote = _last_tick(ticks, t_ms)
            if quote is not None:
                return quote
        end_s = end_s // _DAY * _DAY - 1
        for _ in range(_QUOTE_LOOKBACK_DAYS - 1):
            start_s = end_s // _DAY * _DAY
            for bar_time in reversed(source.m1(start_s, end_s)["time"][-2:].tolist()):
                quote = _last_tick(source.ticks(bar_time * 1000, bar_time * 1000 + 59_999), t_ms)
                if quote is not None:
                    return quote
            end_s = start_s - 1
        return None

    def book(self, symbol: str, t_ms: int, depth: int | None = None) -> tuple[BookSide, BookSide]:
        """Return the depth of market ``(bids, asks)`` at ``t_ms``: ``(price, lots)`` levels, best first.

        Args:
            depth: levels per side; defaults to the symbol's book depth (0: empty sides).
        """
        spec = self.catalogue[symbol]
        quote = self.quote_at(symbol, t_ms)
        if quote is None:
            return [], []
        key = stream_key(self.seed, spec.symbol_id, Stream.BOOK)
        return book_levels(spec, quote, spec.book_depth if depth is None else depth, key)

    def conversion_rate(self, from_ccy: str, to_ccy: str, t_ms: int) -> float:
        """Return how many ``to_ccy`` one ``from_ccy`` is worth at ``t_ms``, at mid prices.

        Raises:
            KeyError: the currencies are not connected by Forex pairs of the catalogue.
            LookupError: a pair on the way has no quote at ``t_ms``.
        """

        def mid(spec_name: str) -> float:
            quote = self.quote_at(spec_name, t_ms)
            if quote is None:
                raise LookupError(f"{spec_name} has no quote at {t_ms}")
            return (quote.bid + quote.ask) / 2

        return self.catalogue.conversion_rate(from_ccy, to_ccy, lambda spec: mid(spec.name))


@dataclass(slots=True)
class _Minute:
    """The bars :meth:`PriceModel.quote_at` reads for any instant of one minute, with their ticks once made."""

    start_s: int
    bar_times: list[int]
    ticks: list[Ticks | None]


def _last_tick(ticks: Ticks, t_ms: int) -> Quote | None:
    """The last of ``ticks`` (in time order) at or before ``t_ms``."""
    i = int(np.searchsorted(ticks["time_ms"], t_ms, side="right"))
    if not i:
        return None
    time_ms, bid, ask, last = ticks[i - 1][["time_ms", "bid", "ask", "last"]].tolist()
    return Quote(int(time_ms), float(bid), float(ask), float(last))
