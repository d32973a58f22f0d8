"""The simulator's trading engine: pure, synchronous, deterministic trade-server logic.

:class:`TradingEngine` takes trade requests and the passing of time and returns the frames the server
pushes (push 10 trade transactions, push 19 results, push 14 account markers) in SPEC §8.8 order.
"""

from pymt5_core.sim.engine.engine import TradingEngine
from pymt5_core.sim.engine.events import AccountEvent, EngineEvent, Submission, TradeResultEvent
from pymt5_core.sim.engine.models import LOT, Reason
from pymt5_core.sim.engine.ports import BookSide, Clock, Quote, QuoteSource, SymbolCatalogue, SymbolSpec

__all__ = [
    "LOT",
    "AccountEvent",
    "BookSide",
    "Clock",
    "EngineEvent",
    "Quote",
    "QuoteSource",
    "Reason",
    "Submission",
    "SymbolCatalogue",
    "SymbolSpec",
    "TradeResultEvent",
    "TradingEngine",
]
