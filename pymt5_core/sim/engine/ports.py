"""What the trading engine needs from the market: a symbol catalogue, a quote source and a clock.

These are structural types so the engine runs equally against the simulator's market package and against
tiny test fakes. Volumes in a :class:`SymbolSpec` are lots (floats); everything the engine emits uses the
wire scaling (lots x 1e8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["BookSide", "Clock", "Quote", "QuoteSource", "SymbolCatalogue", "SymbolSpec"]


class SymbolSpec(Protocol):
    """The trading parameters of one symbol (names follow the SymbolFull / TradeSettings fields)."""

    @property
    def name(self) -> str: ...
    @property
    def digits(self) -> int: ...
    @property
    def point(self) -> float: ...
    @property
    def currency_base(self) -> str: ...
    @property
    def currency_profit(self) -> str: ...
    @property
    def currency_margin(self) -> str: ...
    @property
    def calc_mode(self) -> int: ...
    @property
    def exec_mode(self) -> int: ...
    @property
    def trade_mode(self) -> int: ...
    @property
    def contract_size(self) -> float: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def tick_value(self) -> float: ...
    @property
    def volume_min(self) -> float: ...
    @property
    def volume_max(self) -> float: ...
    @property
    def volume_step(self) -> float: ...
    @property
    def stops_level(self) -> int: ...
    @property
    def freeze_level(self) -> int: ...
    @property
    def fill_flags(self) -> int: ...
    @property
    def time_flags(self) -> int: ...
    @property
    def order_flags(self) -> int: ...
    @property
    def margin_initial(self) -> float: ...
    @property
    def margin_rates_initial(self) -> Sequence[float]: ...
    @property
    def margin_hedged(self) -> float: ...
    @property
    def swap_long(self) -> float: ...
    @property
    def swap_short(self) -> float: ...
    @property
    def trade_sessions(self) -> Sequence[Sequence[tuple[int, int]]]:
        """Seven days (Sunday first) of ``(from, to)`` minute ranges, ``to`` exclusive (SPEC §9.6)."""
        ...
    @property
    def book_depth(self) -> int: ...
    @property
    def requote_probability(self) -> float: ...


class SymbolCatalogue(Protocol):
    """Symbol lookup by name."""

    def __len__(self) -> int:
        """The number of symbols."""
        ...

    def get(self, name: str) -> SymbolSpec | None:
        """The symbol called ``name``, or None."""
        ...


class Quote(Protocol):
    """A price snapshot; a side that has no price is 0."""

    @property
    def bid(self) -> float: ...
    @property
    def ask(self) -> float: ...
    @property
    def last(self) -> float: ...


#: One side of a depth of market: ``(price, lots)`` levels, best first.
BookSide = Sequence[tuple[float, float]]


class QuoteSource(Protocol):
    """Prices as a function of time."""

    def quote_at(self, symbol: str, t_ms: int) -> Quote | None:
        """The quote of ``symbol`` at Unix milliseconds ``t_ms``, or None when there is none."""
        ...

    def book(self, symbol: str, t_ms: int, depth: int) -> tuple[BookSide, BookSide]:
        """The depth of market ``(bids, asks)`` of ``symbol`` at ``t_ms``, at most ``depth`` levels per side."""
        ...


class Clock(Protocol):
    """The simulator's time source."""

    def now_ms(self) -> int:
        """Unix milliseconds."""
        ...
