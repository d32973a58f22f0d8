"""Counter-based randomness: every random number is a pure function of (seed, symbol, stream, counters).

Whole days draw from a generator keyed by ``(seed, symbol_id, stream, day)``; single ticks and book
levels, which are generated a few at a time, hash their counters with SplitMix64. Either way a value never
depends on which range was requested.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["Stream", "day_generator", "hash_uniform", "stream_generator", "stream_key"]


class Stream(IntEnum):
    """Independent random streams of one symbol."""

    DAILY = 1
    INTRADAY = 2
    TICKS = 3
    BOOK = 4


def stream_generator(seed: int, symbol_id: int, stream: Stream) -> np.random.Generator:
    """Return a generator for a whole stream of a symbol (e.g. its daily path)."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, symbol_id, stream])))


def day_generator(seed: int, symbol_id: int, stream: Stream, day: int) -> np.random.Generator:
    """Return the generator of one day (counted from 1970-01-01) of a symbol's stream."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, symbol_id, stream, day])))


def stream_key(seed: int, symbol_id: int, stream: Stream) -> int:
    """Return a 64-bit key for :func:`hash_uniform`."""
    return int(np.random.SeedSequence([seed, symbol_id, stream]).generate_state(1, np.uint64)[0])


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hash_uniform(key: int, *counters: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Return uniforms in [0, 1), one per element of the (broadcast) counter arrays.

    Args:
        key: from :func:`stream_key`; use different keys (or an extra counter) for different quantities.
        counters: non-negative integer arrays identifying each number, e.g. bar time and tick index.
    """
    shape = np.broadcast_shapes(*(c.shape for c in counters))
    z = np.full(shape, key, dtype=np.uint64)
    for counter in counters:
        # Arrays wrap silently on uint64 overflow, which SplitMix64 relies on.
        z = _splitmix(z + np.asarray(counter).astype(np.uint64) * _GOLDEN)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
