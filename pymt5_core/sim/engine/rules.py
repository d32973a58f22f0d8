"""Request checks with the official return codes (SPEC §7.16, §8.10); each raises :class:`Rejection`."""

from __future__ import annotations

import math

from pymt5_core.sim.engine.models import LOT
from pymt5_core.sim.engine.ports import Quote, SymbolSpec
from pymt5_core.sim.engine.schedule import end_of_day_s
from pymt5_core.wire.enums import OrderFilling, OrderFlags, OrderTime, OrderType, Retcode, TradeMode

__all__ = [
    "Rejection",
    "check_direction",
    "check_expiration",
    "check_filling",
    "check_order_type",
    "check_pending_price",
    "check_stop_flags",
    "check_stops",
    "check_tick",
    "check_volume",
    "points",
]

_TYPE_FLAG = {
    OrderType.BUY: OrderFlags.MARKET, OrderType.SELL: OrderFlags.MARKET,
    OrderType.BUY_LIMIT: OrderFlags.LIMIT, OrderType.SELL_LIMIT: OrderFlags.LIMIT,
    OrderType.BUY_STOP: OrderFlags.STOP, OrderType.SELL_STOP: OrderFlags.STOP,
    OrderType.BUY_STOP_LIMIT: OrderFlags.STOP_LIMIT, OrderType.SELL_STOP_LIMIT: OrderFlags.STOP_LIMIT,
    OrderType.CLOSE_BY: OrderFlags.CLOSE_BY,
}
_FILL_FLAG = {OrderFilling.FOK: 1, OrderFilling.IOC: 2, OrderFilling.BOC: 4}


class Rejection(Exception):
    """A request fails with ``retcode``; ``comment`` goes into the TradeResult."""

    def __init__(self, retcode: int, comment: str = "") -> None:
        super().__init__(retcode, comment)
        self.retcode = retcode
        self.comment = comment or Retcode.describe(retcode)


def points(distance: float, point: float) -> int:
    """``distance`` in whole points."""
    return round(distance / point) if point > 0 else 0


def check_volume(spec: SymbolSpec, volume: int, closing: bool = False) -> None:
    """Positive, within min (not for closes) and max, a multiple of the step (10014)."""
    lo, hi, step = (round(v * LOT) for v in (spec.volume_min, spec.volume_max, spec.volume_step))
    if volume <= 0 or (not closing and volume < lo) or (hi > 0 and volume > hi) or (step > 0 and volume % step):
        raise Rejection(Retcode.INVALID_VOLUME, f"volume {volume / LOT:g} outside {lo / LOT:g}..{hi / LOT:g}")


def check_tick(spec: SymbolSpec, price: float) -> None:
    """Positive and on the tick grid (10015)."""
    step = spec.tick_size or spec.point
    if price <= 0 or (step > 0 and not math.isclose(price / step, round(price / step), abs_tol=1e-6)):
        raise Rejection(Retcode.INVALID_PRICE, f"price {price} is not on the tick grid")


def check_filling(spec: SymbolSpec, filling: int, market: bool) -> None:
    """The filling type is allowed by ``fill_flags``; RETURN always is, BOC only for pending orders (10030)."""
    if filling == OrderFilling.RETURN:
        return
    if filling not in _FILL_FLAG or not spec.fill_flags & _FILL_FLAG[OrderFilling(filling)] or (
            market and filling == OrderFilling.BOC):
        raise Rejection(Retcode.INVALID_FILL)


def check_order_type(spec: SymbolSpec, order_type: int, sl: float = 0.0, tp: float = 0.0) -> None:
    """The order kind, and SL/TP when given, are allowed by ``order_flags`` (10035)."""
    flag = _TYPE_FLAG.get(OrderType(order_type)) if 0 <= order_type <= 8 else None
    if flag is None or not spec.order_flags & flag:
        raise Rejection(Retcode.INVALID_ORDER)
    check_stop_flags(spec, sl, tp)


def check_stop_flags(spec: SymbolSpec, sl: float, tp: float) -> None:
    """A stop loss / take profit is only set when ``order_flags`` allows it (10035)."""
    if (sl and not spec.order_flags & OrderFlags.SL) or (tp and not spec.order_flags & OrderFlags.TP):
        raise Rejection(Retcode.INVALID_ORDER, "stop loss or take profit not allowed")


def check_direction(spec: SymbolSpec, buy: bool) -> None:
    """Opening in this direction is allowed by ``trade_mode`` (10017, 10042, 10043, 10044)."""
    mode = spec.trade_mode
    if mode == TradeMode.DISABLED:
        raise Rejection(Retcode.TRADE_DISABLED)
    if mode == TradeMode.CLOSE_ONLY:
        raise Rejection(Retcode.CLOSE_ONLY)
    if mode == TradeMode.LONG_ONLY and not buy:
        raise Rejection(Retcode.LONG_ONLY)
    if mode == TradeMode.SHORT_ONLY and buy:
        raise Rejection(Retcode.SHORT_ONLY)


def check_stops(spec: SymbolSpec, buy: bool, reference: float, sl: float, tp: float) -> None:
    """SL below / TP above ``reference`` for a long (mirrored for a short) by the stops level (10016).

    The reference is the closing side of the market for positions (bid for a long) and the open price
    for pending orders. At least one point of distance is required even with a zero stops level.
    """
    need = max(spec.stops_level, 1)
    sign = 1 if buy else -1
    if sl and points(sign * (reference - sl), spec.point) < need:
        raise Rejection(Retcode.INVALID_STOPS, "stop loss too close")
    if tp and points(sign * (tp - reference), spec.point) < need:
        raise Rejection(Retcode.INVALID_STOPS, "take profit too close")
    if sl < 0 or tp < 0:
        raise Rejection(Retcode.INVALID_STOPS)


def check_pending_price(spec: SymbolSpec, order_type: int, price: float, limit: float, quote: Quote) -> None:
    """A pending price on the right side of the market by the stops level; stop-limit limit price (10015)."""
    check_tick(spec, price)
    t = OrderType(order_type)
    market = quote.ask if t.is_buy else quote.bid
    above = t in (OrderType.BUY_STOP, OrderType.BUY_STOP_LIMIT, OrderType.SELL_LIMIT)
    if points((price - market) if above else (market - price), spec.point) < max(spec.stops_level, 1):
        raise Rejection(Retcode.INVALID_PRICE, f"price {price} too close to the market {market}")
    if t in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT):
        check_tick(spec, limit)
        if (t == OrderType.BUY_STOP_LIMIT and limit > price) or (t == OrderType.SELL_STOP_LIMIT and limit < price):
            raise Rejection(Retcode.INVALID_PRICE, "stop-limit price on the wrong side of the stop price")


def check_expiration(spec: SymbolSpec, type_time: int, expiration_s: int, now_ms: int, shift: int = 0) -> None:
    """The expiration kind is allowed by ``time_flags`` and a given time is in the future (10022)."""
    if not 0 <= type_time <= 3 or not spec.time_flags & (1 << type_time):
        raise Rejection(Retcode.INVALID_EXPIRATION)
    if type_time == OrderTime.SPECIFIED and not now_ms // 1000 < expiration_s <= 2**31 - 1:
        raise Rejection(Retcode.INVALID_EXPIRATION)
    if type_time == OrderTime.SPECIFIED_DAY and not (
            expiration_s > 0 and end_of_day_s(expiration_s, shift) > now_ms // 1000):
        raise Rejection(Retcode.INVALID_EXPIRATION)
