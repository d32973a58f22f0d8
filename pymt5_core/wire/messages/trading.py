"""Trading messages: open positions and orders, history, trade requests, push 19 and push 10."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy.typing as npt

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import debug
from pymt5_core.wire.layout import Layout
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import Record, build_counted, pack_record, read_counted, records

__all__ = [
    "DealUpdate",
    "OrderUpdate",
    "RecordAt",
    "TradeUpdate",
    "build_history",
    "build_history_request",
    "build_opened",
    "build_trade_request",
    "build_trade_result",
    "build_trade_status",
    "build_trade_update",
    "read_history",
    "read_history_request",
    "read_opened",
    "read_trade_outcome",
    "read_trade_request",
    "read_trade_result",
    "read_trade_status",
    "read_trade_update",
]

_REQUEST = LAYOUTS["TradeRequest"]
_ECHO = LAYOUTS["TradeRequestEcho"]
_RESULT = LAYOUTS["TradeResult"]
_PUSH19 = LAYOUTS["TradeResultPush"]
_TU_ORDER = LAYOUTS["TradeUpdateOrder"]
_TU_DEAL = LAYOUTS["TradeUpdateDeal"]
_ORDER = LAYOUTS["Order"]
_DEAL = LAYOUTS["Deal"]
_POSITION = LAYOUTS["Position"]
_U32 = struct.Struct("<I")
# Where the embedded records start: they are decoded in place from the body.
_PUSH19_ECHO, _PUSH19_RESULT = _PUSH19.offsets[1], _PUSH19.offsets[2]
_PUSH19_ACTION_ID = _PUSH19_ECHO + _ECHO.offsets[_ECHO.index["action_id"]]
_TU_ORDER_AT = _TU_ORDER.offsets[3]
_TU_DEAL_AT, _TU_POSITION_AT = _TU_DEAL.offsets[3], _TU_DEAL.offsets[4]
# The plain fields of the push 10 records, each read by one unpack (the embedded records are skipped).
_read_order_head = _TU_ORDER.reader(("flag_mask", "transaction_id", "transaction_type"))
_read_deal_head = _TU_DEAL.reader(("transaction_id", "transaction_type", "balance", "credit", "commission_daily",
                                   "commission_monthly", "acc_profit"))
_TWO_U32 = struct.Struct("<II")  # the counts of a deal-kind record's two trailing arrays when both are empty

#: push 10 ``flag_mask`` of the deal/position kind.
DEAL_KIND = 2


# --- positions, orders, history (commands 4, 5) ----------------------------------------------------


def build_opened(positions: Any, orders: Any) -> bytes:
    """Command 4 answer: counted Position records, then counted Order records (arrays or dicts)."""
    return build_counted(_POSITION, positions) + build_counted(_ORDER, orders)


def read_opened(body: bytes | bytearray | memoryview) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Decode command 4: ``(positions, orders)`` as structured arrays (text decoded)."""
    positions, pos = read_counted(_POSITION, body)
    orders, end = read_counted(_ORDER, body, pos)
    if debug.ENABLED:
        debug.check_body("read_opened", len(body), end, (_POSITION, positions), (_ORDER, orders))
    return positions, orders


def build_history_request(from_s: int = 0, to_s: int = 0) -> bytes:
    """Command 5 payload: Unix seconds, 0 = open bound."""
    return LAYOUTS["HistoryRequest"].pack([from_s, to_s])


def read_history_request(payload: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Return ``(from_s, to_s)`` of a command 5 payload."""
    if len(payload) < 8:
        raise ProtocolError(f"history request of {len(payload)} bytes (expected 8)")
    from_s, to_s = LAYOUTS["HistoryRequest"].unpack(payload)
    if debug.ENABLED:
        debug.check_body("read_history_request", len(payload), LAYOUTS["HistoryRequest"].size)
    return from_s, to_s


def build_history(deals: Any, orders: Any) -> bytes:
    """Command 5 answer: counted Deal records, then counted history Order records."""
    return build_counted(_DEAL, deals) + build_counted(_ORDER, orders)


def read_history(body: bytes | bytearray | memoryview) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Decode command 5: ``(deals, orders)`` as structured arrays (text decoded)."""
    deals, pos = read_counted(_DEAL, body)
    orders, end = read_counted(_ORDER, body, pos)
    if debug.ENABLED:
        debug.check_body("read_history", len(body), end, (_DEAL, deals), (_ORDER, orders))
    return deals, orders


# --- trade request (command 12) and its result (push 19) -------------------------------------------


def build_trade_request(values: Mapping[str, Any]) -> bytes:
    """Command 12 payload from TradeRequest fields; symbol and comment are cut to 32 units (by the text fields)."""
    return _REQUEST.pack_dict(values)


def read_trade_request(payload: bytes | bytearray | memoryview) -> Record:
    """Decode a command 12 payload.

    Raises:
        ProtocolError: shorter than 248 bytes.
    """
    if len(payload) < _REQUEST.size:
        raise ProtocolError(f"trade request of {len(payload)} bytes (expected 248)")
    if debug.ENABLED:
        debug.check_body("read_trade_request", len(payload), _REQUEST.size)
    return _REQUEST.unpack_dict(payload)


def build_trade_status(status: int) -> bytes:
    """Command 12 answer: 0 = accepted (result follows in push 19), else the failing return code."""
    return LAYOUTS["TradeRequestResponse"].pack([status])


def read_trade_status(body: bytes | bytearray | memoryview) -> int:
    """The status of a command 12 answer.

    Raises:
        ProtocolError: the body is not a non-empty multiple of 4 bytes.
    """
    if not body or len(body) % 4:
        raise ProtocolError(f"trade request answer of {len(body)} bytes (expected a multiple of 4)")
    if debug.ENABLED:
        debug.check_body("read_trade_status", len(body), 4)
    status: int = _U32.unpack_from(body)[0]  # the length is checked above
    return status


def build_trade_result(request: Mapping[str, Any], result: Mapping[str, Any], reserved: int = 0) -> bytes:
    """Push 19 body: the request echo and the TradeResult; ``time_expiration`` may be an int."""
    echo = dict(request)
    exp = echo.get("time_expiration")
    if isinstance(exp, int):
        echo["time_expiration"] = _U32.pack(exp)
    for name in ("trade_symbol", "comment"):
        if isinstance(echo.get(name), str):
            echo[name] = echo[name][:32]
    res = dict(result)
    if isinstance(res.get("comment"), str):
        res["comment"] = res["comment"][:32]
    return _PUSH19.pack([reserved, _ECHO.pack_dict(echo), _RESULT.pack_dict(res)])


def read_trade_result(body: bytes | bytearray | memoryview) -> tuple[Record, Record]:
    """Decode push 19 into ``(request_echo, result)``; the echo's ``time_expiration`` becomes an int.

    Raises:
        ProtocolError: shorter than 380 bytes.
    """
    if len(body) < _PUSH19.size:
        raise ProtocolError(f"trade result push of {len(body)} bytes (expected 380)")
    if debug.ENABLED:
        debug.check_body("read_trade_result", len(body), _PUSH19.size)
    echo = _ECHO.unpack_dict(body, _PUSH19_ECHO)  # the embedded records are read in place, not copied out
    echo["time_expiration"] = _U32.unpack(echo["time_expiration"])[0]
    return echo, _RESULT.unpack_dict(body, _PUSH19_RESULT)


def read_trade_outcome(body: bytes | bytearray | memoryview) -> tuple[int, Record]:
    """Push 19 as a client settles a request: the echo's ``action_id`` and the TradeResult, nothing else
    of the echo decoded.

    Raises:
        ProtocolError: shorter than 380 bytes.
    """
    if len(body) < _PUSH19.size:
        raise ProtocolError(f"trade result push of {len(body)} bytes (expected 380)")
    result = _RESULT.unpack_dict(body, _PUSH19_RESULT)
    if debug.ENABLED:
        debug.check_body("read_trade_outcome", len(body), _PUSH19.size, (_RESULT, result))
    return _U32.unpack_from(body, _PUSH19_ACTION_ID)[0], result


# --- push 10 ----------------------------------------------------------------------------------------


class _Decoded:
    """A record field of a push 10 update that a reader left undecoded: ``<field>_at`` holds the body and the
    record's offset in it.

    The first read of the field decodes the record's dict, which from then on is the record (it may be
    changed). Until then the mirror builds its models straight from the bytes, decoding only what they
    need; afterwards, and for updates made from dicts, ``<field>_at`` is None.
    """

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._name = self._at = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name, self._at = name, f"{name}_at"

    def __get__(self, update: object, owner: type | None = None) -> Record:
        if update is None:
            raise AttributeError(self._name)  # no default on the class: the dataclass field stays required
        state = update.__dict__
        at = state.pop(self._at, None)
        if at is not None:
            state[self._name] = self._layout.unpack_dict(*at)
        record: Record = state[self._name]
        return record

    def __set__(self, update: object, record: Record) -> None:
        state = update.__dict__
        state[self._name] = record
        state.pop(self._at, None)


#: Where an undecoded record lies: the body and the record's offset in it.
RecordAt = tuple[bytes | memoryview, int]


@dataclass
class OrderUpdate:
    """An order-kind record of push 10: ``flag_mask`` 0 active list, 1 history; type 0 add, 1 update, 2 delete.

    :func:`read_trade_update` leaves ``order`` undecoded until it is read (see ``order_at``).
    """

    flag_mask: int
    transaction_type: int
    order: Record = _Decoded(_ORDER)  # type: ignore[assignment]
    transaction_id: int = 0
    #: Where the Order record lies in the body it was read from, until ``order`` is read (see ``_Decoded``).
    order_at: ClassVar[RecordAt | None] = None


@dataclass
class DealUpdate:
    """A deal-kind record of push 10: a deal (ticket 0 = none), the position after it, and account money.

    ``deals`` and ``positions`` are the trailing arrays the record carries. :func:`read_trade_update` leaves
    ``deal`` and ``position`` undecoded until they are read (see ``deal_at``, ``position_at``).
    """

    transaction_type: int
    deal: Record = _Decoded(_DEAL)  # type: ignore[assignment]
    position: Record = _Decoded(_POSITION)  # type: ignore[assignment]
    balance: float = 0.0
    credit: float = 0.0
    commission_daily: float = 0.0
    commission_monthly: float = 0.0
    acc_profit: float = 0.0
    deals: list[Record] = field(default_factory=list)
    positions: list[Record] = field(default_factory=list)
    transaction_id: int = 0
    #: Where the Deal and Position records lie in the body they were read from, until read (see ``_Decoded``).
    deal_at: ClassVar[RecordAt | None] = None
    position_at: ClassVar[RecordAt | None] = None


def _order_update(flag_mask: int, transaction_type: int, order: RecordAt, transaction_id: int) -> OrderUpdate:
    update = OrderUpdate.__new__(OrderUpdate)
    update.__dict__ = {"flag_mask": flag_mask, "transaction_type": transaction_type, "order_at": order,
                       "transaction_id": transaction_id}
    return update


def _deal_update(transaction_type: int, deal: RecordAt, position: RecordAt, balance: float, credit: float,
                 commission_daily: float, commission_monthly: float, acc_profit: float, deals: list[Record],
                 positions: list[Record], transaction_id: int) -> DealUpdate:
    update = DealUpdate.__new__(DealUpdate)
    update.__dict__ = {
        "transaction_type": transaction_type, "deal_at": deal, "position_at": position, "balance": balance,
        "credit": credit, "commission_daily": commission_daily, "commission_monthly": commission_monthly,
        "acc_profit": acc_profit, "deals": deals, "positions": positions, "transaction_id": transaction_id,
    }
    return update


TradeUpdate = OrderUpdate | DealUpdate


def build_trade_update(updates: Sequence[TradeUpdate]) -> bytes:
    """Push 10 body from records of one kind (never mixed).

    Raises:
        ValueError: the updates mix the two kinds, or an order update uses flag_mask 2.
    """
    if not updates:
        return b""
    if all(isinstance(u, DealUpdate) for u in updates):
        return b"".join(_pack_deal_update(u) for u in updates if isinstance(u, DealUpdate))
    if all(isinstance(u, OrderUpdate) for u in updates):
        out = []
        last: tuple[Mapping[str, Any], bytes] | None = None
        for u in updates:
            assert isinstance(u, OrderUpdate)
            if u.flag_mask == DEAL_KIND:
                raise ValueError("an order update cannot use flag_mask 2")
            # A filled order is "delete from active" and "add to history" with the same record: pack it once.
            order = last[1] if last is not None and last[0] == u.order else pack_record(_ORDER, u.order)
            last = u.order, order
            out.append(_TU_ORDER.pack([u.flag_mask, u.transaction_id, u.transaction_type, order]))
        return b"".join(out)
    raise ValueError("push 10 never mixes order and deal records")


def _pack_deal_update(u: DealUpdate) -> bytes:
    head = _TU_DEAL.pack([DEAL_KIND, u.transaction_id, u.transaction_type, pack_record(_DEAL, u.deal),
                          pack_record(_POSITION, u.position), u.balance, u.credit, u.commission_daily,
                          u.commission_monthly, u.acc_profit])
    return head + build_counted(_DEAL, u.deals) + build_counted(_POSITION, u.positions)


def read_trade_update(body: bytes | bytearray | memoryview) -> list[TradeUpdate]:
    """Decode push 10; the first u32 chooses the kind for every record of the body.

    Raises:
        ProtocolError: a deal-kind record or its arrays run past the end.
    """
    out: list[TradeUpdate] = []
    end = len(body)
    if not isinstance(body, bytes):
        body = bytes(body)  # the records are decoded later, from bytes nobody can change
    if end < 4 or _U32.unpack_from(body)[0] != DEAL_KIND:
        size, previous, order = _TU_ORDER.size, None, (body, 0)
        for pos in range(0, end - size + 1, size):
            mask, tid, ttype = _read_order_head(body, pos)
            # A filled order comes as "delete from active" and "add to history" with the same record: both
            # updates point at the first (each still makes its own dict when read).
            record = body[pos + _TU_ORDER_AT:pos + size]
            if record != previous:
                order = body, pos + _TU_ORDER_AT
            previous = record
            out.append(_order_update(mask, ttype, order, tid))
        if debug.ENABLED:
            debug.check_array("read_trade_update", end, _TU_ORDER, out)
        return out
    pos = 0
    while pos < end:
        if pos + _TU_DEAL.size > end:
            raise ProtocolError("deal update record runs past the end of the body")
        tid, ttype, balance, credit, com_daily, com_monthly, acc_profit = _read_deal_head(body, pos)
        deal, position = (body, pos + _TU_DEAL_AT), (body, pos + _TU_POSITION_AT)
        pos += _TU_DEAL.size
        deals: list[Record]
        positions: list[Record]
        if pos + 8 <= end and _TWO_U32.unpack_from(body, pos) == (0, 0):
            deals, positions, pos = [], [], pos + 8  # the usual empty trailing arrays: no decoder needed
        else:
            deals, pos = _trailing(_DEAL, body, pos)
            positions, pos = _trailing(_POSITION, body, pos)
        out.append(_deal_update(ttype, deal, position, balance, credit, com_daily, com_monthly, acc_profit, deals,
                                positions, tid))
    if debug.ENABLED:  # records run to the end of the body, so nothing can trail
        updates = [u for u in out if isinstance(u, DealUpdate)]
        debug.check_times("read_trade_update", _TU_DEAL, updates)
        debug.check_times("read_trade_update", _DEAL, [d for u in updates for d in u.deals])
        debug.check_times("read_trade_update", _POSITION, [p for u in updates for p in u.positions])
    return out


def _trailing(layout: Layout, body: bytes | bytearray | memoryview, pos: int) -> tuple[list[Record], int]:
    """A trailing array of a deal-kind record; the usual empty one skips the vectorized decoder."""
    if pos + 4 <= len(body) and not _U32.unpack_from(body, pos)[0]:
        return [], pos + 4
    array, pos = read_counted(layout, body, pos)
    return records(array), pos


