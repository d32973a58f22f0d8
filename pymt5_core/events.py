"""Typed events: one class per kind of server push, plus connection and order-lifecycle events.

=====================  ==========================  ===========================================================
Event                  Source                      Payload
=====================  ==========================  ===========================================================
:class:`Tick`          push 8 (and 17)             merged quote of one symbol
:class:`BookUpdate`    push 23                     full depth of market of one symbol after the update
:class:`TradeTransaction`  push 10                 one applied record: order / history order / deal / position
:class:`TradeResult`   push 19, command 12         result of a trade request of this session (also intermediate)
:class:`AccountUpdate` push 14, push 10 money      the new :class:`AccountInfo` and the names of changed fields
:class:`SymbolUpdate`  push 13                     the new effective :class:`SymbolInfo`
:class:`LinkState`     push 15                     whether the access server is connected to the trade server
:class:`ConnectionState`  the session              a transition of :class:`SessionState`
:class:`OrderEvent`    push 10 (derived)           a lifecycle step of one order (placed, filled, canceled, ...)
=====================  ==========================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from pymt5_core.models import (
    AccountInfo,
    BookUpdate,
    Deal,
    Event,
    Order,
    Position,
    SymbolInfo,
    Tick,
    TradeResult,
)

__all__ = [
    "EVENT_TYPES",
    "AccountUpdate",
    "BookUpdate",
    "ConnectionState",
    "Event",
    "LinkState",
    "OrderEvent",
    "SessionState",
    "SymbolUpdate",
    "Tick",
    "TradeResult",
    "TradeTransaction",
    "TransactionType",
]


class SessionState(Enum):
    """Phases of a client session; the allowed transitions are the table in :mod:`pymt5_core.session`."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"  # bootstrap done, not logged in
    LOGGING_IN = "logging_in"
    SYNCING = "syncing"  # logged in, loading account, symbols, positions and orders
    READY = "ready"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ConnectionState(Event):
    """The session moved from ``previous`` to ``state``.

    Attributes:
        reason: why (e.g. ``"connection closed"``, ``"dead link"``, ``"login refused: ..."``).
        attempt: the reconnect attempt number (0 outside reconnects).
    """

    state: SessionState
    previous: SessionState
    reason: str = ""
    attempt: int = 0


class TransactionType(IntEnum):
    """Kind of a :class:`TradeTransaction`; values match ``MetaTrader5.TRADE_TRANSACTION_*``."""

    ORDER_ADD = 0
    ORDER_UPDATE = 1
    ORDER_DELETE = 2
    HISTORY_ADD = 3
    HISTORY_UPDATE = 4
    HISTORY_DELETE = 5
    DEAL_ADD = 6
    DEAL_UPDATE = 7
    DEAL_DELETE = 8
    POSITION = 9


@dataclass(frozen=True, slots=True)
class TradeTransaction(Event):
    """One record of push 10 as applied to the mirror.

    Exactly one of ``order``, ``deal`` and ``position`` is set. For ``POSITION`` a ``position`` with
    ``volume`` 0 means the position was closed.
    """

    type: TransactionType
    order: Order | None = None
    deal: Deal | None = None
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class AccountUpdate(Event):
    """The account changed on the server side; ``changed`` names the :class:`AccountInfo` fields."""

    account: AccountInfo
    changed: frozenset[str]


@dataclass(frozen=True, slots=True)
class SymbolUpdate(Event):
    """A symbol's configuration was replaced by push 13 (or re-derived after push 14)."""

    symbol: SymbolInfo


@dataclass(frozen=True, slots=True)
class LinkState(Event):
    """Push 15: ``connected`` is False while the access server has lost its trade server."""

    connected: bool
    state: int


@dataclass(frozen=True, slots=True)
class OrderEvent(Event):
    """A step in the life of one order, derived from push 10.

    Attributes:
        ticket: the order ticket.
        state: the new :class:`~pymt5_core.wire.enums.OrderState` value.
        previous: the previous state, None for the first event of the order.
        order: the order record after the change.
        history: True when the step comes from the history list (the order is done).
        removed: True when the order left the list of active orders.
    """

    ticket: int
    state: int
    previous: int | None
    order: Order
    history: bool = False
    removed: bool = False


#: Every event type :meth:`MT5Client.on` accepts.
EVENT_TYPES: tuple[type[Event], ...] = (
    Tick, BookUpdate, TradeTransaction, TradeResult, AccountUpdate, SymbolUpdate, LinkState, ConnectionState,
    OrderEvent,
)

