"""The engine's mutable trading objects and their wire records (SPEC §6.4).

Volumes are integers in wire units (lots x 1e8); times are Unix milliseconds and are split into the
seconds field and its ``_ms`` companion only when a record is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache

from pymt5_core.wire.enums import OrderState, OrderType
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import Record

__all__ = ["LOT", "Ledger", "Order", "Position", "Reason", "blank", "split_ms"]

#: Wire units per lot.
LOT = 100_000_000


class Reason(IntEnum):
    """``trade_reason`` / ``type_reason`` values of the trade server (SPEC §7.8: 3 SL, 4 TP)."""

    CLIENT = 0
    EXPERT = 1
    DEALER = 2
    SL = 3
    TP = 4
    SO = 5
    ROLLOVER = 6
    WEB = 17


def blank(layout: str) -> Record:
    """A record of ``layout`` with every field empty (0, 0.0 or "")."""
    return dict(_blank(layout))


@cache
def _blank(layout: str) -> Record:
    out: Record = {}
    for f in LAYOUTS[layout].spec:
        kind = f.type.name
        out[f.name] = "" if kind.startswith("STR") else b"" if kind == "BYTES" else 0.0 if kind == "F64" else 0
    return out


def split_ms(t_ms: int) -> tuple[int, int]:
    """Unix milliseconds as ``(seconds, millisecond part)``."""
    return t_ms // 1000, t_ms % 1000


@dataclass(slots=True)
class Position:
    """An open position; ``ticket`` is the ticket of the order that opened it."""

    ticket: int
    symbol: str
    type: int
    volume: int
    price_open: float
    time_create_ms: int
    time_update_ms: int
    order: int
    reason: int
    sl: float = 0.0
    tp: float = 0.0
    storage: float = 0.0
    comment: str = ""

    @property
    def is_buy(self) -> bool:
        """True for a long position."""
        return self.type == 0


@dataclass(slots=True)
class Order:
    """An order, active or finished."""

    ticket: int
    symbol: str
    type: int
    volume_initial: int
    price_order: float
    time_setup_ms: int
    filling: int = 0
    type_time: int = 0
    expiration_s: int = 0
    price_trigger: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    volume_current: int = -1
    state: int = OrderState.STARTED
    position_id: int = 0
    reason: int = Reason.WEB
    comment: str = ""
    time_done_ms: int = 0

    def __post_init__(self) -> None:
        if self.volume_current < 0:
            self.volume_current = self.volume_initial

    @property
    def is_buy(self) -> bool:
        """True for the buy side (0, 2, 4, 6)."""
        return OrderType(self.type).is_buy


@dataclass(slots=True)
class Ledger:
    """Everything the engine keeps for one account."""

    balance: float
    leverage: int
    credit: float = 0.0
    positions: dict[int, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    history_orders: dict[int, Record] = field(default_factory=dict)
    deals: list[Record] = field(default_factory=list)
    closed_positions: set[int] = field(default_factory=set)
