"""Depth of market around a quote: one level per tick step on each side, sizes growing with distance.

The book is a pure function of the symbol's latest tick, so it changes exactly when the quote does and
reads the same whenever it is asked for.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pymt5_core.sim.market.records import Quote
from pymt5_core.sim.market.rng import hash_uniform
from pymt5_core.sim.market.spec import SymbolSpec

__all__ = ["BookLevel", "BookSide", "book_levels"]

# Typical size of the best level, in minimum volumes.
_TOP_SIZE = 8


class BookLevel(NamedTuple):
    """One price level, ``volume`` in lots."""

    price: float
    volume: float


#: The levels of one side, best first.
BookSide = list[BookLevel]


def book_levels(spec: SymbolSpec, quote: Quote, depth: int, key: int) -> tuple[BookSide, BookSide]:
    """Return ``(bids, asks)``, ``depth`` levels each, one tick size apart: bids descending, asks ascending.

    Args:
        key: the symbol's book stream key (:func:`~pymt5_core.sim.market.rng.stream_key`).
    """
    if depth <= 0:
        return [], []
    scale = 10**spec.digits
    level = np.arange(depth)
    draws = hash_uniform(key, np.full(2 * depth, quote.time_ms), np.arange(2 * depth))
    lot = max(spec.volume_min, spec.volume_step)
    steps = np.maximum(np.rint(_TOP_SIZE * (1 + 0.5 * np.tile(level, 2)) * (0.4 + 1.2 * draws)), 1)
    sizes = np.round(steps * lot, 8).tolist()
    offsets = level * spec.tick_points
    bids = ((round(quote.bid * scale) - offsets) / scale).tolist()
    asks = ((round(quote.ask * scale) + offsets) / scale).tolist()
    return (
        [BookLevel(p, v) for p, v in zip(bids, sizes[:depth], strict=True)],
        [BookLevel(p, v) for p, v in zip(asks, sizes[depth:], strict=True)],
    )
