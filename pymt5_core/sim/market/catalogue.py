"""The simulated server's symbol set: lookup by name and id, group paths, and currency conversion.

Conversion follows Forex pairs only (calc modes 0 and 5), directly or through intermediate currencies,
so the trading engine can turn profit and margin currencies into the account currency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.sim.market.symbols import default_symbols
from pymt5_core.wire.enums import CalcMode

__all__ = ["Catalogue", "ConversionLeg", "SymbolSpec"]

#: One step of a currency conversion: the pair to price, and whether to divide by its price.
ConversionLeg = tuple[SymbolSpec, bool]

_FOREX_MODES = (CalcMode.FOREX, CalcMode.FOREX_NO_LEVERAGE)


class Catalogue:
    """An immutable, ordered set of symbols with unique names and ids.

    Args:
        symbols: the symbols, in the order of the symbol list (command 6).
        timezone_shift: server time minus UTC in seconds (AccountMain ``timezone_shift``); sessions are
            read in server time.

    Raises:
        ValueError: two symbols share a name or an id.
    """

    __slots__ = ("_by_id", "_by_name", "_pairs", "symbols", "timezone_shift")

    def __init__(self, symbols: Iterable[SymbolSpec], *, timezone_shift: int = 0) -> None:
        self.symbols: tuple[SymbolSpec, ...] = tuple(symbols)
        self.timezone_shift = timezone_shift
        self._by_name = {s.name: s for s in self.symbols}
        self._by_id = {s.symbol_id: s for s in self.symbols}
        if len(self._by_name) != len(self.symbols) or len(self._by_id) != len(self.symbols):
            raise ValueError("symbol names and ids must be unique")
        self._pairs: dict[str, list[tuple[str, ConversionLeg]]] = {}
        for s in self.symbols:
            if s.calc_mode in _FOREX_MODES:
                self._pairs.setdefault(s.currency_base, []).append((s.currency_profit, (s, False)))
                self._pairs.setdefault(s.currency_profit, []).append((s.currency_base, (s, True)))

    @classmethod
    def default(cls, *, timezone_shift: int = 0) -> Catalogue:
        """Return the default simulator symbols (see :mod:`pymt5_core.sim.market.symbols`)."""
        return cls(default_symbols(), timezone_shift=timezone_shift)

    def __getitem__(self, name: str) -> SymbolSpec:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[SymbolSpec]:
        return iter(self.symbols)

    def __len__(self) -> int:
        return len(self.symbols)

    def __repr__(self) -> str:
        return f"<Catalogue {len(self.symbols)} symbols, timezone shift {self.timezone_shift} s>"

    def get(self, name: str) -> SymbolSpec | None:
        """Return the symbol called ``name``, or None."""
        return self._by_name.get(name)

    def by_id(self, symbol_id: int) -> SymbolSpec:
        """Return the symbol with this id.

        Raises:
            KeyError: no symbol has this id.
        """
        return self._by_id[symbol_id]

    def groups(self) -> list[str]:
        """Return the group paths for command 9, in order of first appearance."""
        return list(dict.fromkeys(s.group for s in self.symbols))

    def server_time_ms(self, utc_ms: int) -> int:
        """Convert a UTC instant to server time, the clock sessions are written in."""
        return utc_ms + self.timezone_shift * 1000

    # --- currency conversion ----------------------------------------------------------------------

    def cross_symbol(self, from_ccy: str, to_ccy: str) -> ConversionLeg | None:
        """Return the Forex pair that converts ``from_ccy`` to ``to_ccy`` directly, or None.

        The flag is False when an amount is multiplied by the pair's price (``from`` is the base
        currency) and True when it is divided by it.
        """
        return next((leg for ccy, leg in self._pairs.get(from_ccy, ()) if ccy == to_ccy), None)

    def conversion_path(self, from_ccy: str, to_ccy: str) -> tuple[ConversionLeg, ...]:
        """Return the shortest chain of Forex pairs from one currency to another (empty if equal).

        Raises:
            KeyError: the currencies are not connected by the catalogue's Forex pairs.
        """
        previous: dict[str, tuple[str, ConversionLeg] | None] = {from_ccy: None}
        queue = deque([from_ccy])
        while queue and to_ccy not in previous:
            ccy = queue.popleft()
            for nxt, leg in self._pairs.get(ccy, ()):
                if nxt not in previous:
                    previous[nxt] = (ccy, leg)
                    queue.append(nxt)
        if to_ccy not in previous:
            raise KeyError(f"no Forex pairs convert {from_ccy} to {to_ccy}")
        legs: list[ConversionLeg] = []
        step = previous[to_ccy]
        while step is not None:
            legs.append(step[1])
            step = previous[step[0]]
        return tuple(reversed(legs))

    def conversion_rate(self, from_ccy: str, to_ccy: str, price_of: Callable[[SymbolSpec], float]) -> float:
        """Return how many ``to_ccy`` one ``from_ccy`` is worth.

        Args:
            price_of: the price to use for a pair (bid, ask or mid, as the caller needs).

        Raises:
            KeyError: the currencies are not connected (see :meth:`conversion_path`).
        """
        rate = 1.0
        for spec, invert in self.conversion_path(from_ccy, to_ccy):
            price = price_of(spec)
            rate = rate / price if invert else rate * price
        return rate
