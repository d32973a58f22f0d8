"""Builds the default market, clock and engine of a :class:`~pymt5_core.sim.server.SimServer`.

This is the one place where the server shell meets the concrete market and engine packages; everything
else talks to them through the protocols of :mod:`pymt5_core.sim.backend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymt5_core.sim.accounts import AccountConfig
from pymt5_core.sim.backend import CatalogueLike, ClockLike, EngineLike, PriceModelLike

__all__ = ["default_catalogue", "default_clock", "engine", "is_running_clock", "price_model"]


def default_catalogue() -> CatalogueLike:
    """The built-in symbols."""
    from pymt5_core.sim.market.catalogue import Catalogue

    return Catalogue.default()


def default_clock(speed: float) -> ClockLike:
    """A clock that starts now and runs ``speed`` times faster than real time."""
    from pymt5_core.sim.market.clock import VirtualClock

    return VirtualClock(speed)


def is_running_clock(clock: ClockLike) -> bool:
    """True when the clock moves by itself (background streaming needed), False for a manual clock."""
    speed = getattr(clock, "speed", 1.0)
    return bool(speed and speed > 0)


def price_model(catalogue: CatalogueLike, seed: int, data: Any = None) -> PriceModelLike:
    """The price model over ``catalogue``, replaying ``data`` (``ReplayData``, or a CSV/Parquet path).

    Raises:
        KeyError: a replayed symbol is not in the catalogue.
    """
    from pymt5_core.sim.market.catalogue import Catalogue
    from pymt5_core.sim.market.model import PriceModel
    from pymt5_core.sim.market.replay import ReplayData

    if isinstance(data, str | Path):
        path = Path(data)
        parquet = path.suffix.lower() in (".parquet", ".pq")
        data = ReplayData.from_parquet(path) if parquet else ReplayData.from_csv(path)
    if not isinstance(catalogue, Catalogue):
        raise TypeError("the price model needs a market Catalogue")
    return PriceModel(catalogue, seed=seed, replay=data)


def engine(
    catalogue: CatalogueLike, model: PriceModelLike, clock: ClockLike, accounts: Sequence[AccountConfig], seed: int
) -> EngineLike:
    """The trading engine."""
    from pymt5_core.sim.engine import TradingEngine

    built: EngineLike = TradingEngine(catalogue, model, clock, accounts, seed=seed)
    return built
