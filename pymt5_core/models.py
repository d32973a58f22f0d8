"""Typed values of the client API: frozen, slotted dataclasses built from decoded wire records.

Units everywhere: volumes are lots (``float``), prices are plain floats, money is in the account currency.
Times come twice: a timezone-aware UTC :class:`~datetime.datetime` (``time``) and integer Unix milliseconds
(``time_msc``), like the ``MetaTrader5`` package. Every value is immutable; the client replaces objects on
change, so a reference held by user code is a consistent snapshot.

:class:`Event` is the root of everything delivered to :meth:`MT5Client.on` callbacks; :class:`Tick`,
:class:`BookUpdate` and :class:`TradeResult` are events as well as values (the others live in
:mod:`pymt5_core.events`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from operator import itemgetter
from typing import Any, NewType

from pymt5_core._construct import positional_constructor
from pymt5_core.errors import ProtocolError
from pymt5_core.wire.codec import LOTS_SCALE
from pymt5_core.wire.layouts import LAYOUTS

__all__ = [
    "AccountInfo",
    "BookLevel",
    "BookUpdate",
    "Deal",
    "Event",
    "Login",
    "Order",
    "Position",
    "RequestAction",
    "SymbolInfo",
    "Tick",
    "Ticket",
    "TradeRequest",
    "TradeResult",
    "ms_to_datetime",
]

#: A position, order or deal ticket.
Ticket = NewType("Ticket", int)
#: An account number.
Login = NewType("Login", int)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_to_datetime(ms: int) -> datetime:
    """Convert Unix milliseconds to a timezone-aware UTC datetime."""
    global _last_datetime
    last = _last_datetime
    if last[0] == ms:  # the records of one push mostly share their times
        return last[1]
    value = datetime.fromtimestamp(ms / 1000.0, UTC)
    _last_datetime = ms, value  # one tuple, replaced whole: safe for threads
    return value


_last_datetime: tuple[int | None, datetime] = (None, _EPOCH)


class Event:
    """Root of every event type delivered by :meth:`MT5Client.on`."""

    __slots__ = ()


# --- market data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick(Event):
    """The merged quote of a symbol after one tick (SPEC §9.1).

    Attributes:
        symbol: symbol name.
        time_msc: Unix milliseconds of the tick.
        bid, ask, last: current prices (0.0 when never quoted).
        volume: tick volume in lots.
        flags: which values this tick updated (bits 1 bid, 2 ask, 4 last, 8 volume).
        delayed: True for a delayed quote.
    """

    symbol: str
    time_msc: int
    bid: float
    ask: float
    last: float
    volume: float
    flags: int
    delayed: bool = False

    @property
    def time(self) -> datetime:
        """The tick time as a UTC datetime."""
        return ms_to_datetime(self.time_msc)


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level of the depth of market."""

    price: float
    volume: float


@dataclass(frozen=True, slots=True)
class BookUpdate(Event):
    """The full depth of market of a symbol after an update (SPEC §9.4); both sides by descending price."""

    symbol: str
    time_msc: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> float | None:
        """Highest bid price, None when the buy side is empty."""
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        """Lowest ask price, None when the sell side is empty."""
        return self.asks[-1].price if self.asks else None


# --- configuration ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """A symbol's configuration. Fields after ``calc_mode`` need the full configuration (``full`` True).

    Trade settings are the effective ones: the symbol's own, overridden by the account's group settings
    (SPEC §9.7). Volumes are lots; ``stops_level``/``freeze_level`` are points. ``bid``/``ask``/``last``
    and ``time_msc`` are the latest merged tick when the object was made (0 when none yet).
    """

    name: str
    symbol_id: int
    description: str
    path: str
    digits: int
    calc_mode: int
    basis: str = ""
    sector: int = 0
    full: bool = False
    point: float = 0.0
    currency_base: str = ""
    currency_profit: str = ""
    currency_margin: str = ""
    contract_size: float = 0.0
    tick_size: float = 0.0
    tick_value: float = 0.0
    trade_mode: int = 0
    exec_mode: int = 0
    filling_flags: int = 0
    expiration_flags: int = 0
    order_flags: int = 0
    stops_level: int = 0
    freeze_level: int = 0
    volume_min: float = 0.0
    volume_max: float = 0.0
    volume_step: float = 0.0
    volume_limit: float = 0.0
    instant_volume: float = 0.0
    instant_timeout: int = 0
    margin_initial: float = 0.0
    margin_maintenance: float = 0.0
    margin_hedged: float = 0.0
    margin_rates_initial: tuple[float, ...] = ()
    margin_rates_maintenance: tuple[float, ...] = ()
    margin_flags: int = 0
    swap_mode: int = 0
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_rollover3days: int = 0
    spread: int = 0
    spread_diff: int = 0
    spread_diff_balance: int = 0
    ticks_flags: int = 0
    book_depth: int = 0
    chart_mode: int = 0
    gtc_mode: int = 0
    face_value: float = 0.0
    isin: str = ""
    exchange: str = ""
    category: str = ""
    time_start: int = 0
    time_expiration: int = 0
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    time_msc: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def negative_prices(self) -> bool:
        """True when the symbol allows negative prices (``ticks_flags`` bit 8)."""
        return bool(self.ticks_flags & 8)


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Account state: server fields plus values computed from positions and ticks (SPEC §10.2).

    ``profit``, ``equity``, ``margin``, ``margin_free`` and ``margin_level`` are computed by the client
    from the open positions, the latest ticks and the symbols' margin settings.
    """

    login: int
    trade_mode: int
    name: str
    server: str
    company: str
    currency: str
    currency_digits: int
    leverage: int
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    margin_so_call: float
    margin_so_so: float
    margin_so_mode: int
    margin_mode: int
    margin_free_mode: int
    rights: int
    trade_allowed: bool
    server_build: int
    server_time_offset: int
    commission_daily: float
    commission_monthly: float
    acc_profit: float
    symbols_count: int
    otp_status: int = 0

    @property
    def hedging(self) -> bool:
        """True on a retail hedging account (``margin_mode`` 2)."""
        return self.margin_mode == 2


# --- trading records --------------------------------------------------------------------------------


class _RecordFields:
    """The fields a model is built from, in its builder's order, taken from a decoded record or wire bytes."""

    __slots__ = ("_read", "fields", "layout", "size")

    def __init__(self, layout: str, names: tuple[str, ...]) -> None:
        self.layout, self.size = layout, LAYOUTS[layout].size
        self.fields = itemgetter(*names)
        self._read = LAYOUTS[layout].reader(names)

    def read(self, data: bytes | bytearray | memoryview, offset: int) -> Any:
        """The fields of the record at ``offset`` of ``data``, decoding only them.

        Raises:
            ProtocolError: the record does not fit in ``data``.
        """
        if not 0 <= offset <= len(data) - self.size:
            raise ProtocolError(f"{self.layout} record at offset {offset} does not fit in {len(data)} bytes")
        return self._read(data, offset)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position (SPEC §6.4). ``profit`` and ``price_current`` are recomputed from ticks."""

    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    profit: float
    price_current: float
    swap: float
    time: datetime
    time_msc: int
    magic: int
    comment: str
    identifier: int
    time_update: datetime = _EPOCH
    time_update_msc: int = 0
    commission: float = 0.0
    reason: int = 0
    external_id: str = ""
    order: int = 0
    digits: int = 0
    contract_size: float = 0.0
    volume_wire: int = 0

    @classmethod
    def from_wire(cls, r: Mapping[str, Any]) -> Position:
        """Build from a decoded Position record (a mapping of any value types, e.g. a numpy row)."""
        (ticket, order, create_s, update_s, symbol, type_, price_open, price_current, sl, tp, volume, profit,
         commission, swap, magic, comment, contract_size, digits, reason, external_id, create_ms,
         update_ms) = _POSITION.fields(r)
        return _position(int(ticket), int(order), int(create_s), int(update_s), str(symbol), int(type_),
                         float(price_open), float(price_current), float(sl), float(tp), int(volume), float(profit),
                         float(commission), float(swap), int(magic), str(comment), float(contract_size), int(digits),
                         int(reason), str(external_id), int(create_ms), int(update_ms))

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Position:
        """Build from a Position record as the wire layer decodes it (Python values: nothing to convert)."""
        return _position(*_POSITION.fields(r))

    @classmethod
    def from_buffer(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Position:
        """Build from a Position record at ``offset`` of wire bytes (``ProtocolError`` if it does not fit)."""
        return _position(*_POSITION.read(data, offset))


# The record fields a Position is built from, in the order its builder takes them.
_POSITION_NAMES = (
    "position_id", "trade_order", "time_create", "time_update", "trade_symbol", "trade_action", "price_open",
    "price_close", "sl", "tp", "trade_volume", "profit", "commission", "storage", "expert", "comment",
    "contract_size", "digits", "trade_reason", "external_id", "time_create_ms", "time_update_ms",
)
_POSITION = _RecordFields("Position", _POSITION_NAMES)


def _position(ticket: int, order: int, create_s: int, update_s: int, symbol: str, type_: int, price_open: float,
              price_current: float, sl: float, tp: float, volume: int, profit: float, commission: float,
              swap: float, magic: int, comment: str, contract_size: float, digits: int, reason: int,
              external_id: str, create_ms: int, update_ms: int) -> Position:
    created = create_s * 1000 + create_ms
    updated = update_s * 1000 + update_ms
    time = ms_to_datetime(created)
    return _new_position(
        ticket, symbol, type_, volume / LOTS_SCALE, price_open, sl, tp, profit, price_current, swap, time, created,
        magic, comment, ticket, time if updated == created else ms_to_datetime(updated), updated, commission,
        reason, external_id, order, digits, contract_size, volume,
    )


_new_position = positional_constructor(Position)


@dataclass(frozen=True, slots=True)
class Order:
    """A pending or historical order (SPEC §6.4). ``price_open`` is the order price (stop price of a
    stop-limit order) and ``price_stoplimit`` the limit price placed on activation."""

    ticket: int
    symbol: str
    type: int
    state: int
    volume_initial: float
    volume_current: float
    price_open: float
    price_stoplimit: float
    price_current: float
    sl: float
    tp: float
    time_setup: datetime
    time_setup_msc: int
    time_done: datetime | None
    time_done_msc: int
    time_expiration: int
    type_filling: int
    type_time: int
    reason: int
    magic: int
    position_id: int
    comment: str
    external_id: str = ""
    digits: int = 0
    volume_wire: int = 0

    @classmethod
    def from_wire(cls, r: Mapping[str, Any]) -> Order:
        """Build from a decoded Order record (a mapping of any value types, e.g. a numpy row)."""
        (ticket, symbol, type_, state, volume_initial, volume_current, price_open, price_stoplimit, price_current,
         sl, tp, setup_s, setup_ms, done_s, done_ms, expiration, filling, type_time, reason, magic, position_id,
         comment, external_id, digits) = _ORDER.fields(r)
        return _order(int(ticket), str(symbol), int(type_), int(state), int(volume_initial), int(volume_current),
                      float(price_open), float(price_stoplimit), float(price_current), float(sl), float(tp),
                      int(setup_s), int(setup_ms), int(done_s), int(done_ms), int(expiration), int(filling),
                      int(type_time), int(reason), int(magic), int(position_id), str(comment), str(external_id),
                      int(digits))

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Order:
        """Build from an Order record as the wire layer decodes it (Python values: nothing to convert)."""
        return _order(*_ORDER.fields(r))

    @classmethod
    def from_buffer(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Order:
        """Build from an Order record at ``offset`` of wire bytes (``ProtocolError`` if it does not fit)."""
        return _order(*_ORDER.read(data, offset))


# The record fields an Order is built from, in the order its builder takes them.
_ORDER_NAMES = (
    "trade_order", "trade_symbol", "order_type", "order_state", "volume_initial", "volume_current", "price_order",
    "price_trigger", "price_current", "price_sl", "price_tp", "time_setup", "time_setup_ms", "time_done",
    "time_done_ms", "time_expiration", "type_filling", "type_time", "type_reason", "expert", "position_id",
    "comment", "order_id", "digits",
)
_ORDER = _RecordFields("Order", _ORDER_NAMES)


def _order(ticket: int, symbol: str, type_: int, state: int, volume_initial: int, volume_current: int,
           price_open: float, price_stoplimit: float, price_current: float, sl: float, tp: float, setup_s: int,
           setup_ms: int, done_s: int, done_ms: int, expiration: int, filling: int, type_time: int, reason: int,
           magic: int, position_id: int, comment: str, external_id: str, digits: int) -> Order:
    setup = setup_s * 1000 + setup_ms
    done = done_s * 1000 + done_ms if done_s else 0
    time_setup = ms_to_datetime(setup)
    return _new_order(
        ticket, symbol, type_, state, volume_initial / LOTS_SCALE, volume_current / LOTS_SCALE, price_open,
        price_stoplimit, price_current, sl, tp, time_setup, setup,
        (time_setup if done == setup else ms_to_datetime(done)) if done else None, done, expiration, filling,
        type_time, reason, magic, position_id, comment, external_id, digits, volume_initial,
    )


_new_order = positional_constructor(Order)


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal of the trade history (SPEC §6.4). For balance-type deals ``profit`` is the amount."""

    ticket: int
    order: int
    symbol: str
    type: int
    entry: int
    volume: float
    price: float
    profit: float
    commission: float
    swap: float
    fee: float
    magic: int
    position_id: int
    comment: str
    time: datetime
    time_msc: int
    reason: int
    external_id: str = ""

    @classmethod
    def from_wire(cls, r: Mapping[str, Any]) -> Deal:
        """Build from a decoded Deal record (a mapping of any value types, e.g. a numpy row)."""
        (ticket, order, symbol, type_, entry, volume, price, profit, commission, swap, fee, magic, position_id,
         comment, create_s, create_ms, reason, external_id) = _DEAL.fields(r)
        return _deal(int(ticket), int(order), str(symbol), int(type_), int(entry), int(volume), float(price),
                     float(profit), float(commission), float(swap), float(fee), int(magic), int(position_id),
                     str(comment), int(create_s), int(create_ms), int(reason), str(external_id))

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Deal:
        """Build from a Deal record as the wire layer decodes it (Python values: nothing to convert)."""
        return _deal(*_DEAL.fields(r))

    @classmethod
    def from_buffer(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Deal:
        """Build from a Deal record at ``offset`` of wire bytes (``ProtocolError`` if it does not fit)."""
        return _deal(*_DEAL.read(data, offset))


# The record fields a Deal is built from, in the order its builder takes them.
_DEAL_NAMES = (
    "deal", "trade_order", "trade_symbol", "trade_action", "entry", "trade_volume", "price_open", "profit",
    "commission", "storage", "commission_fee", "expert", "position_id", "comment", "time_create", "time_create_ms",
    "trade_reason", "deal_id",
)
_DEAL = _RecordFields("Deal", _DEAL_NAMES)


def _deal(ticket: int, order: int, symbol: str, type_: int, entry: int, volume: int, price: float, profit: float,
          commission: float, swap: float, fee: float, magic: int, position_id: int, comment: str, create_s: int,
          create_ms: int, reason: int, external_id: str) -> Deal:
    created = create_s * 1000 + create_ms
    return _new_deal(
        ticket, order, symbol, type_, entry, volume / LOTS_SCALE, price, profit, commission, swap, fee, magic,
        position_id, comment, ms_to_datetime(created), created, reason, external_id,
    )


_new_deal = positional_constructor(Deal)


# --- trade requests ---------------------------------------------------------------------------------


class RequestAction(IntEnum):
    """What a :class:`TradeRequest` asks for; values match ``MetaTrader5.TRADE_ACTION_*``.

    The wire action (instant, market, exchange, request execution, ...) is chosen from the symbol's
    execution mode when the request is built (SPEC §8.3).
    """

    DEAL = 1
    PENDING = 5
    SLTP = 6
    MODIFY = 7
    REMOVE = 8
    CLOSE_BY = 10


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """A trade request in the terms of ``MetaTrader5.order_send``.

    Attributes:
        action: what to do (see :class:`RequestAction`).
        symbol: symbol name (may be empty for MODIFY/REMOVE/SLTP/CLOSE_BY: taken from the ticket).
        volume: lots (DEAL, PENDING; for a close, the part to close, default the whole position).
        type: order type (:class:`~pymt5_core.wire.enums.OrderType` value).
        price: order price (PENDING, MODIFY); for DEAL the expected price in instant/request execution
            (default: the current ask/bid).
        stoplimit: limit price of stop-limit orders.
        sl, tp: stop levels, 0 = none.
        deviation: maximal deviation in points (instant execution).
        type_filling: filling (:class:`~pymt5_core.wire.enums.OrderFilling`), None = the symbol's preference.
        type_time: expiration kind (:class:`~pymt5_core.wire.enums.OrderTime`).
        expiration: Unix seconds for ``type_time`` 2/3, else 0.
        comment: at most 31 characters are kept.
        position: position ticket (close with DEAL, SLTP, CLOSE_BY).
        position_by: opposite position ticket (CLOSE_BY).
        order: order ticket (MODIFY, REMOVE).
        magic: kept for compatibility; the protocol has no field for it (SPEC §8.7).
    """

    action: RequestAction | int
    symbol: str = ""
    volume: float = 0.0
    type: int = 0
    price: float = 0.0
    stoplimit: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    deviation: int = 10
    type_filling: int | None = None
    type_time: int = 0
    expiration: int = 0
    comment: str = ""
    position: int = 0
    position_by: int = 0
    order: int = 0
    magic: int = 0


@dataclass(frozen=True, slots=True)
class TradeResult(Event):
    """The outcome of a trade request (push 19, or the immediate status of command 12).

    Attributes:
        retcode: trade return code (SPEC §7.16).
        deal, order: tickets created by the request (0 if none).
        volume: executed volume in lots; price: execution price; bid/ask/last: current quotes.
        comment: the server's comment.
        request_id: the request's ``action_id``.
        request: the request as the user gave it (None for results of requests of another session).
        final: False for intermediate results (10002, 10003, 10028).
        reconciled: True when the outcome was settled from server state after a reconnect.
    """

    retcode: int
    deal: int = 0
    order: int = 0
    volume: float = 0.0
    price: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    comment: str = ""
    request_id: int = 0
    request: TradeRequest | None = None
    last: float = 0.0
    final: bool = True
    reconciled: bool = False

    @property
    def success(self) -> bool:
        """True for 10008, 10009, 10010 and 11001."""
        return self.retcode in (10008, 10009, 10010, 11001)
