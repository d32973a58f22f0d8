"""Reconnect delays as a pure generator: exponential growth, a cap and random jitter.

The policy holds no state besides the generator itself, so it is trivially replaceable and testable::

    >>> delays = backoff(initial=1.0, factor=2.0, max_delay=8.0, jitter=0.0)
    >>> [next(delays) for _ in range(5)]
    [1.0, 2.0, 4.0, 8.0, 8.0]

Pass ``seed`` (or a :class:`random.Random`) to make the jitter deterministic in tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["backoff"]


def backoff(
    initial: float = 0.5,
    factor: float = 2.0,
    max_delay: float = 30.0,
    jitter: float = 0.5,
    *,
    seed: int | random.Random | None = None,
) -> Iterator[float]:
    """Yield reconnect delays in seconds, forever.

    The n-th nominal delay is ``min(initial * factor**n, max_delay)``; ``jitter`` then scales it by a
    uniform factor in ``[1 - jitter, 1]`` so that many clients do not reconnect in lockstep.

    Args:
        initial: the first nominal delay (0 retries immediately once).
        factor: growth factor between consecutive delays (>= 1).
        max_delay: upper bound of the nominal delay.
        jitter: fraction of the delay that is randomised, in ``[0, 1]``.
        seed: an int seed or a :class:`random.Random` for reproducible jitter.

    Returns:
        An infinite iterator of non-negative delays.

    Raises:
        ValueError: a parameter is out of range.
    """
    if initial < 0 or factor < 1 or max_delay < 0 or not 0 <= jitter <= 1:
        raise ValueError("backoff needs initial >= 0, factor >= 1, max_delay >= 0 and 0 <= jitter <= 1")
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    return _delays(initial, factor, max_delay, jitter, rng)


def _delays(initial: float, factor: float, max_delay: float, jitter: float, rng: random.Random) -> Iterator[float]:
    nominal = initial
    while True:
        delay = min(nominal, max_delay)
        yield delay * (1.0 - jitter * rng.random()) if jitter else delay
        nominal = nominal * factor if nominal else 0.0
