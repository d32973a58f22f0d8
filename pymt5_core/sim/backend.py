"""What the server shell needs from the market and the trading engine, as structural types.

The server depends on these protocols only, so the market package, the engine and test fakes are
interchangeable; :class:`~pymt5_core.sim.server.SimServer` wires the real ones together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy.typing as npt

from pymt5_core.sim.accounts import AccountConfig
from pymt5_core.sim.engine.events import EngineEvent, Submission
from pymt5_core.sim.engine.ports import Clock, Quote
from pymt5_core.wire.messages.account import AccountBody
from pymt5_core.wire.records import Record

__all__ = ["CatalogueLike", "ClockLike", "EngineLike", "PriceModelLike", "QuoteLike", "SymbolLike"]


class SymbolLike(Protocol):
    """A symbol as the server shell sees it: identity, digits and its wire records."""

    @property
    def name(self) -> str: ...
    @property
    def symbol_id(self) -> int: ...
    @property
    def digits(self) -> int: ...
    @property
    def book_depth(self) -> int: ...
    def symbol_short_values(self) -> dict[str, Any]: ...
    def symbol_full_values(self) -> dict[str, Any]: ...


class CatalogueLike(Protocol):
    """The symbol set: iteration in list order, lookup by name and id, group paths."""

    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def get(self, name: str) -> Any: ...
    def by_id(self, symbol_id: int) -> Any: ...
    def groups(self) -> list[str]: ...


class QuoteLike(Quote, Protocol):
    """The engine's price snapshot, stamped with its time."""

    @property
    def time_ms(self) -> int: ...


class PriceModelLike(Protocol):
    """Prices as a function of time: bars, ticks, quotes and books."""

    def bars_wire(self, symbol: str, period: int, from_s: int, to_s: int, *, now_ms: int | None = None) -> bytes:
        """Command 11 body: bars opening in ``[from_s, to_s]``; with ``now_ms`` none after it, the last forming."""
        ...

    def ticks(self, symbol: str, from_ms: int, to_ms: int) -> npt.NDArray[Any]:
        """Ticks with ``from_ms <= time_ms <= to_ms`` (fields ``time_ms, bid, ask, last, volume, fields``)."""
        ...

    def quote_at(self, symbol: str, t_ms: int) -> QuoteLike | None:
        """The latest tick at or before ``t_ms``."""
        ...

    def book(
        self, symbol: str, t_ms: int, depth: int | None = None
    ) -> tuple[Sequence[tuple[float, float]], Sequence[tuple[float, float]]]:
        """``(bids, asks)`` as ``(price, lots)`` levels, best first."""
        ...


class ClockLike(Clock, Protocol):
    """The engine's clock, which the server shell can also move forward (manual clocks)."""

    def advance(self, ms: int) -> Any: ...


class EngineLike(Protocol):
    """The trading engine: trade requests in, account state and push events out."""

    def submit(self, login: int, request: Record) -> Submission: ...
    def on_quotes(self, time_ms: int) -> Iterable[EngineEvent]: ...
    def positions(self, login: int) -> Any: ...
    def orders(self, login: int) -> Any: ...
    def history(self, login: int, from_s: int = 0, to_s: int = 0) -> Any: ...
    def account_body(self, login: int) -> AccountBody: ...
    def open_demo_account(
        self, name: str, *, currency: str = "USD", leverage: int = 100, balance: float = 10_000.0,
        hedging: bool = True, password: str | None = None,
    ) -> AccountConfig: ...
    def force_next(self, retcode: int) -> None: ...
    def force_requote(self, symbol: str) -> None: ...
