"""The simulated market: symbols, a seeded price model, replayed data and a virtual clock.

``PriceModel(Catalogue.default(), seed=1)`` gives bars (command 11), ticks (push 8), quotes and books for
every symbol, deterministic and consistent with each other; ``VirtualClock`` says what "now" is.
"""

from pymt5_core.sim.market.book import BookLevel, BookSide
from pymt5_core.sim.market.catalogue import Catalogue, ConversionLeg
from pymt5_core.sim.market.clock import VirtualClock
from pymt5_core.sim.market.model import PriceModel
from pymt5_core.sim.market.records import BAR_DTYPE, TICK_DTYPE, Bars, Quote, Ticks
from pymt5_core.sim.market.replay import ReplayData, ReplaySeries
from pymt5_core.sim.market.sessions import WeekSessions, parse_week
from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.sim.market.symbols import Sector

__all__ = [
    "BAR_DTYPE",
    "TICK_DTYPE",
    "Bars",
    "BookLevel",
    "BookSide",
    "Catalogue",
    "ConversionLeg",
    "PriceModel",
    "Quote",
    "ReplayData",
    "ReplaySeries",
    "Sector",
    "SymbolSpec",
    "Ticks",
    "VirtualClock",
    "WeekSessions",
    "parse_week",
]
