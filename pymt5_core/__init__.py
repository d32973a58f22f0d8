"""pymt5-core: MetaTrader 5 from any OS over the web terminal protocol.

The public API: :class:`MT5Client` (asyncio), :class:`MT5ClientSync` and :func:`connect` (blocking),
:class:`ClientPool` (several accounts), :func:`download` (pandas, one call), the value types of
:mod:`pymt5_core.models`, the events of :mod:`pymt5_core.events` and the exceptions of :mod:`pymt5_core.errors`.
"""

from __future__ import annotations

from pymt5_core.backoff import backoff
from pymt5_core.client import RATES_DTYPE, BookStream, MT5Client, TickStream
from pymt5_core.download import download, download_async
from pymt5_core.errors import (
    AuthError,
    ConnectionLost,
    InvalidRequest,
    MT5Error,
    NotConnected,
    OTPRequired,
    ProtocolError,
    RequestTimeout,
    ServerError,
    TradeRejected,
    TradeServerUnavailable,
    UnknownSymbol,
)
from pymt5_core.events import (
    AccountUpdate,
    ConnectionState,
    LinkState,
    OrderEvent,
    SessionState,
    SymbolUpdate,
    TradeTransaction,
    TransactionType,
)
from pymt5_core.mirror import StateMirror
from pymt5_core.models import (
    AccountInfo,
    BookLevel,
    BookUpdate,
    Deal,
    Event,
    Order,
    Position,
    RequestAction,
    SymbolInfo,
    Tick,
    TradeRequest,
    TradeResult,
)
from pymt5_core.pool import ClientPool
from pymt5_core.sync import MT5ClientSync, connect
from pymt5_core.wire.enums import OrderFilling, OrderState, OrderTime, OrderType, Period, Retcode

__version__ = "0.1.0"

__all__ = [
    "RATES_DTYPE",
    "AccountInfo",
    "AccountUpdate",
    "AuthError",
    "BookLevel",
    "BookStream",
    "BookUpdate",
    "ClientPool",
    "ConnectionLost",
    "ConnectionState",
    "Deal",
    "Event",
    "InvalidRequest",
    "LinkState",
    "MT5Client",
    "MT5ClientSync",
    "MT5Error",
    "NotConnected",
    "OTPRequired",
    "Order",
    "OrderEvent",
    "OrderFilling",
    "OrderState",
    "OrderTime",
    "OrderType",
    "Period",
    "Position",
    "ProtocolError",
    "RequestAction",
    "RequestTimeout",
    "Retcode",
    "ServerError",
    "SessionState",
    "StateMirror",
    "SymbolInfo",
    "SymbolUpdate",
    "Tick",
    "TickStream",
    "TradeRejected",
    "TradeRequest",
    "TradeResult",
    "TradeServerUnavailable",
    "TradeTransaction",
    "TransactionType",
    "UnknownSymbol",
    "__version__",
    "backoff",
    "connect",
    "download",
    "download_async",
]
