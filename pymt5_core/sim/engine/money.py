"""Prices, currency conversion, margin and profit by calculation mode.

Conversion between currencies uses the mid price of the direct or inverse pair in the catalogue
(e.g. EURUSD for EUR->USD or USD->EUR), falling back to a cross through USD. Using the mid keeps the
conversion symmetric and deterministic; the spread is already paid through bid/ask on the trade itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pymt5_core.sim.engine.ports import Quote, QuoteSource, SymbolCatalogue, SymbolSpec
from pymt5_core.wire.enums import CalcMode

__all__ = ["NoQuote", "Pricer", "current_price", "hedge_ratio"]

_PRICED_AT_LAST = frozenset({32, 35, 37, 38, 39})  # "value based" modes are valued at the last price (§7.10)
_PER_LOT_MARGIN = frozenset({CalcMode.FUTURES, CalcMode.EXCH_FUTURES, CalcMode.EXCH_FUTURES_FORTS})
_TICK_VALUED = _PER_LOT_MARGIN
_UNSET = 1e300


class NoQuote(LookupError):
    """A price needed for the operation is not available (return code 10021)."""


def current_price(spec: SymbolSpec, quote: Quote, buy: bool, closing: bool = False) -> float:
    """The price a deal executes at: ask to buy, bid to sell; value-based modes use the last price.

    ``closing`` flips the side (a long position is valued and closed at the bid).
    """
    if spec.calc_mode in _PRICED_AT_LAST and quote.last > 0:
        return quote.last
    return quote.bid if buy == closing else quote.ask


class Pricer:
    """Quotes at the engine's current time, conversion rates, margin and profit."""

    def __init__(self, catalogue: SymbolCatalogue, quotes: QuoteSource) -> None:
        self.catalogue = catalogue
        self.quotes = quotes
        self.now_ms = 0
        self._memo: dict[str, Quote | None] | None = None

    @contextmanager
    def frozen(self, now_ms: int | None = None) -> Iterator[None]:
        """Within the block time stands at ``now_ms`` (default: unchanged) and each quote is read once.

        One engine operation asks for the same quote several times (price, margin, conversion, records);
        the source is asked once. Outside a block every call asks the source, which may change at any time.
        """
        before, outer = self.now_ms, self._memo
        if now_ms is not None:
            self.now_ms = now_ms
        self._memo = outer if outer is not None and self.now_ms == before else {}
        try:
            yield
        finally:  # an enclosing block keeps its quotes only if time did not move
            self._memo = outer if outer is None or self.now_ms == before else {}

    def quote(self, symbol: str) -> Quote:
        """The quote of ``symbol`` now.

        Raises:
            NoQuote: no quote, or a side of it is missing.
        """
        memo = self._memo
        if memo is None:
            q = self.quotes.quote_at(symbol, self.now_ms)
        elif symbol in memo:
            q = memo[symbol]
        else:
            q = memo[symbol] = self.quotes.quote_at(symbol, self.now_ms)
        if q is None or q.bid <= 0 or q.ask <= 0:
            raise NoQuote(f"no quote for {symbol}")
        return q

    def rate(self, src: str, dst: str) -> float:
        """How many ``dst`` one ``src`` is worth now.

        Raises:
            NoQuote: no pair links the two currencies.
        """
        if src == dst:
            return 1.0
        direct = self._pair_rate(src, dst)
        if direct is not None:
            return direct
        if "USD" not in (src, dst):
            via_src, via_dst = self._pair_rate(src, "USD"), self._pair_rate("USD", dst)
            if via_src is not None and via_dst is not None:
                return via_src * via_dst
        raise NoQuote(f"no conversion from {src} to {dst}")

    def _pair_rate(self, src: str, dst: str) -> float | None:
        for name, invert in ((src + dst, False), (dst + src, True)):
            if self.catalogue.get(name) is None:
                continue
            try:
                q = self.quote(name)
            except NoQuote:
                continue
            mid = (q.bid + q.ask) / 2
            return 1.0 / mid if invert else mid
        return None

    def margin(self, spec: SymbolSpec, order_type: int, lots: float, leverage: int, currency: str) -> float:
        """Initial margin in ``currency`` for ``lots`` of ``spec`` at the current price.

        Forex: lots x contract / leverage; Forex without leverage: lots x contract; CFD and stocks:
        lots x contract x price; CFD index: the CFD amount scaled by tick value / tick size; CFD leverage:
        the CFD amount / leverage; futures: lots x ``margin_initial``. Every amount is multiplied by the
        symbol's margin rate for the order type and is in the margin currency (profit currency for
        price-based modes) before conversion.

        Raises:
            NoQuote: a needed price is missing.
        """
        rate = _margin_rate(spec.margin_rates_initial, order_type)
        buy = order_type % 2 == 0
        mode = spec.calc_mode
        per_lot = spec.margin_initial > 0 and mode not in _PER_LOT_MARGIN
        contract = spec.margin_initial if per_lot else spec.contract_size
        if mode in (CalcMode.FOREX, CalcMode.FOREX_NO_LEVERAGE):
            amount = lots * contract / (leverage if mode == CalcMode.FOREX else 1)
            return amount * rate * self.rate(spec.currency_margin or spec.currency_base, currency)
        if mode in _PER_LOT_MARGIN:
            return lots * spec.margin_initial * rate * self.rate(spec.currency_margin or spec.currency_profit, currency)
        price = current_price(spec, self.quote(spec.name), buy)
        amount = lots * contract * price
        if mode == CalcMode.CFD_INDEX and spec.tick_size > 0:
            amount *= spec.tick_value / spec.tick_size
        elif mode == CalcMode.CFD_LEVERAGE:
            amount /= leverage
        return amount * rate * self.rate(spec.currency_margin or spec.currency_profit, currency)

    def profit(self, spec: SymbolSpec, buy: bool, lots: float, price_open: float, price_close: float,
               currency: str) -> tuple[float, float]:
        """``(profit in currency, profit-currency -> currency rate)`` of closing ``lots`` at ``price_close``.

        Price-difference modes: (close - open) x contract x lots; futures: ticks moved x tick value x lots.

        Raises:
            NoQuote: no conversion rate.
        """
        diff = (price_close - price_open) if buy else (price_open - price_close)
        if spec.calc_mode in _TICK_VALUED and spec.tick_size > 0:
            raw = diff / spec.tick_size * spec.tick_value * lots
        else:
            raw = diff * spec.contract_size * lots
        rate = self.rate(spec.currency_profit, currency)
        return raw * rate, rate


def hedge_ratio(spec: SymbolSpec) -> float:
    """The share of the normal margin charged on each leg of hedged volume.

    ``margin_hedged`` is per lot in contract units (money for per-lot margin modes); 0 means no hedging
    discount in this simulator, and the ratio never exceeds 1.
    """
    full = spec.margin_initial if spec.calc_mode in _PER_LOT_MARGIN else spec.contract_size
    if spec.margin_hedged <= 0 or full <= 0:
        return 1.0
    return min(spec.margin_hedged / full, 1.0)


def _margin_rate(rates: Iterable[float], order_type: int) -> float:
    values = list(rates)
    if order_type < len(values) and 0 < values[order_type] < _UNSET:
        return float(values[order_type])
    return 1.0
