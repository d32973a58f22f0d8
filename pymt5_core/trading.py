"""Trade requests: effective symbol settings, local checks, wire fields per operation, margin and profit.

Everything here is pure: functions take the symbol, the quote and the account state and return values
or raise. The client gathers the inputs, the session sends the result.

* :func:`effective_settings` applies the account's group trade settings to a symbol (SPEC §9.7).
* :func:`build_trade_fields` turns a :class:`~pymt5_core.models.TradeRequest` into the TradeRequest
  record fields for the symbol's execution mode (SPEC §8.2, §8.3) after the local checks of SPEC §8.10;
  a failed check raises :class:`~pymt5_core.errors.TradeRejected` with the official return code before
  anything is sent.
* :func:`margin_in_margin_currency` and :func:`profit_in_profit_currency` follow the calculation modes
  (SPEC §7.10); :class:`Rates` converts between currencies with current quotes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pymt5_core.errors import InvalidRequest, TradeRejected
from pymt5_core.models import AccountInfo, Order, Position, RequestAction, SymbolInfo, TradeRequest
from pymt5_core.wire.codec import lots_to_wire, normalize, wire_to_lots
from pymt5_core.wire.enums import (
    CalcMode,
    ExecMode,
    OrderFilling,
    OrderFlags,
    OrderTime,
    OrderType,
    Retcode,
    TradeAction,
    TradeFlags,
    TradeMode,
)

__all__ = [
    "Quote",
    "Rates",
    "TradeContext",
    "build_trade_fields",
    "effective_settings",
    "margin_in_margin_currency",
    "path_matches",
    "profit_in_profit_currency",
    "symbol_info",
]

_I32_MAX, _U32_MAX, _F64_MAX, _U64_MAX = 2**31 - 1, 2**32 - 1, 1.7976931348623157e308, 2**64 - 1
_I32_FIELDS = frozenset({"spread_diff", "spread_diff_balance", "trade_stops_level", "trade_freeze_level",
                         "swap_rollover3days"})
_U64_FIELDS = frozenset({"trade_instant_volume", "volume_min", "volume_max", "volume_step", "volume_limit"})
# The flag values as plain ints: ``&`` of an int and an IntFlag member makes a new flag object, a slow step.
_TYPE_FLAG = {0: int(OrderFlags.MARKET), 1: int(OrderFlags.MARKET), 2: int(OrderFlags.LIMIT), 3: int(OrderFlags.LIMIT),
              4: int(OrderFlags.STOP), 5: int(OrderFlags.STOP), 6: int(OrderFlags.STOP_LIMIT),
              7: int(OrderFlags.STOP_LIMIT)}
_SL_FLAG, _TP_FLAG, _CLOSE_BY_FLAG = int(OrderFlags.SL), int(OrderFlags.TP), int(OrderFlags.CLOSE_BY)
_FILL_FLAG: dict[int, int] = {OrderFilling.FOK: 1, OrderFilling.IOC: 2, OrderFilling.BOC: 4}
_PER_LOT_MARGIN = frozenset({CalcMode.FUTURES, CalcMode.EXCH_FUTURES, CalcMode.EXCH_FUTURES_FORTS})
_VALUED_AT_LAST = frozenset({32, 35, 37, 38, 39})
_MAX_PRICE = 1e9
# The members every market order compares against, looked up once: a member lookup on an enum class (whose
# metaclass has __getattr__) costs as much as the check it serves.
_FULL, _DISABLED = TradeMode.FULL, TradeMode.DISABLED
_BUY, _SELL = OrderType.BUY, OrderType.SELL
_INSTANT_EXECUTION, _REQUEST_EXECUTION, _EXCHANGE_EXECUTION = ExecMode.INSTANT, ExecMode.REQUEST, ExecMode.EXCHANGE
_INSTANT, _REQUEST, _PRICE, _MARKET, _EXCHANGE = (TradeAction.INSTANT, TradeAction.REQUEST, TradeAction.PRICE,
                                                  TradeAction.MARKET, TradeAction.EXCHANGE)
_FOK, _IOC, _RETURN = OrderFilling.FOK, OrderFilling.IOC, OrderFilling.RETURN
_IOC_FLAG, _FOK_FLAG = _FILL_FLAG[_IOC], _FILL_FLAG[_FOK]
_OPEN_FLAGS = TradeFlags.OPEN
_DEAL = RequestAction.DEAL
#: ``type_flags`` of requests that close positions (SPEC §7.15).
_CLOSING_FLAGS = TradeFlags.CLOSE | TradeFlags.OPEN


# --- group trade settings (SPEC §9.7) ---------------------------------------------------------------


@lru_cache(maxsize=1024)
def _mask_regex(mask: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if ch == "*" else re.escape(ch) for ch in mask), re.DOTALL)


def path_matches(masks: str, path: str) -> bool:
    """Tell whether a comma-separated mask list includes ``path`` (``*`` wildcard, ``!`` excludes)."""
    items = [m.strip() for m in masks.split(",") if m.strip()]
    plain = [m for m in items if not m.startswith("!")]
    negated = [m[1:] for m in items if m.startswith("!")]
    if not any(_mask_regex(m).fullmatch(path) for m in plain):
        return False
    return not any(_mask_regex(m).fullmatch(path) for m in negated)


def _is_sentinel(name: str, value: Any) -> bool:
    if isinstance(value, float):
        return value >= _F64_MAX
    if name in _U64_FIELDS:
        return value in (0, _U64_MAX)
    if name in _I32_FIELDS:
        return bool(value == _I32_MAX)
    return bool(value == _U32_MAX)


def effective_settings(own: Mapping[str, Any], groups: Iterable[Mapping[str, Any]], path: str) -> dict[str, Any]:
    """Apply the account's TradeSettings records to a symbol's own settings; the last match wins."""
    result = dict(own)
    for record in groups:
        if not path_matches(str(record.get("symbol_path", "")), path):
            continue
        result = dict(own)
        for name, value in record.items():
            if name == "symbol_path" or name not in result:
                continue
            if isinstance(value, list):
                base = list(result[name]) if isinstance(result[name], list) else [0.0] * len(value)
                result[name] = [b if _is_sentinel(name, v) else v for b, v in zip(base, value, strict=False)]
            elif not _is_sentinel(name, value):
                result[name] = value
    return result


def symbol_info(short: Mapping[str, Any], full: Mapping[str, Any] | None,
                groups: Iterable[Mapping[str, Any]] = ()) -> SymbolInfo:
    """Build a :class:`SymbolInfo` from a SymbolShort record and, when loaded, the SymbolFull record."""
    name = str(short["trade_symbol"])
    base: dict[str, Any] = {
        "name": name, "symbol_id": int(short["symbol_id"]), "description": str(short["symbol_description"]),
        "path": str(short["symbol_path"]), "digits": int(short["digits"]), "calc_mode": int(short["trade_calc_mode"]),
        "basis": str(short.get("basis", "")), "sector": int(short.get("sector", 0)),
    }
    if full is None:
        return SymbolInfo(**base)
    trade = effective_settings(full["trade"], groups, base["path"])

    def lots(key: str) -> float:
        return wire_to_lots(int(trade[key]))

    def f64(key: str) -> float:
        value = float(trade[key])
        return 0.0 if value >= _F64_MAX else value

    return SymbolInfo(
        **{**base, "digits": int(full["digits"]), "calc_mode": int(full["trade_calc_mode"])},
        full=True, point=float(full["point"]) or 10.0 ** -int(full["digits"]),
        currency_base=str(full["currency_base"]), currency_profit=str(full["currency_profit"]),
        currency_margin=str(full["currency_margin"]), contract_size=float(full["trade_contract_size"]),
        tick_size=float(full["trade_tick_size"]), tick_value=float(full["trade_tick_value"]),
        trade_mode=int(trade["trade_mode"]), exec_mode=int(trade["trade_exemode"]),
        filling_flags=int(trade["trade_fill_flags"]), expiration_flags=int(trade["trade_time_flags"]),
        order_flags=int(trade["trade_order_flags"]), stops_level=int(trade["trade_stops_level"]),
        freeze_level=int(trade["trade_freeze_level"]), volume_min=lots("volume_min"), volume_max=lots("volume_max"),
        volume_step=lots("volume_step"), volume_limit=lots("volume_limit"), instant_volume=lots("trade_instant_volume"),
        instant_timeout=int(trade["trade_instant_timeout"]), margin_initial=f64("margin_initial"),
        margin_maintenance=f64("margin_maintenance"), margin_hedged=f64("margin_hedged"),
        margin_rates_initial=tuple(float(x) for x in trade["margin_rates_initial"]),
        margin_rates_maintenance=tuple(float(x) for x in trade["margin_rates_maintenance"]),
        margin_flags=int(trade["margin_flags"]), swap_mode=int(trade["swap_mode"]), swap_long=f64("swap_long"),
        swap_short=f64("swap_short"), swap_rollover3days=int(trade["swap_rollover3days"]),
        spread=int(full["trade_spread"]),
        spread_diff=0 if trade["spread_diff"] == _I32_MAX else int(trade["spread_diff"]),
        spread_diff_balance=0 if trade["spread_diff_balance"] == _I32_MAX else int(trade["spread_diff_balance"]),
        ticks_flags=int(full["ticks_flags"]), book_depth=int(full["ticks_bookdepth"]),
        chart_mode=int(full["ticks_chart_mode"]), gtc_mode=int(full["trade_gtc_mode"]),
        face_value=float(full["trade_face_value"]), isin=str(full["isin"]), exchange=str(full["trade_exchange"]),
        category=str(full["category"]), time_start=int(full["time_start"]),
        time_expiration=int(full["time_expiration"]), raw=full,
    )


# --- inputs of the checks ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """Current prices of one symbol (0 = unknown)."""

    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0


@dataclass(frozen=True, slots=True)
class TradeContext:
    """What the checks need to know besides the request and the symbol."""

    account: AccountInfo
    quote: Quote
    positions: Mapping[int, Position]
    orders: Mapping[int, Order]
    now_s: int
    link_up: bool = True


def _reject(code: int, message: str = "") -> TradeRejected:
    return TradeRejected(code, message or Retcode.describe(code))


def _on_grid(price: float, sym: SymbolInfo) -> bool:
    step = sym.tick_size or sym.point
    if step <= 0:
        return True
    ratio = price / step
    return math.isclose(ratio, round(ratio), rel_tol=0.0, abs_tol=1e-6)


def _normalize_price(price: float, sym: SymbolInfo) -> float:
    if not price:
        return 0.0
    if sym.tick_size:
        return normalize(normalize(price / sym.tick_size, 0) * sym.tick_size, sym.digits)
    return normalize(price, sym.digits)


def _check_price(price: float, sym: SymbolInfo, code: int, what: str) -> None:
    if not math.isfinite(price) or price > _MAX_PRICE or (price < 0 and not sym.negative_prices):
        raise _reject(code, f"{what} {price} is out of range")
    if price and not _on_grid(price, sym):
        raise _reject(code, f"{what} {price} is not a multiple of the tick size {sym.tick_size or sym.point}")


def _check_volume(volume: float, sym: SymbolInfo, *, closing: bool = False) -> int:
    if not math.isfinite(volume) or volume <= 0:
        raise _reject(Retcode.INVALID_VOLUME, f"volume {volume} must be positive")
    wire = lots_to_wire(volume)
    lo, hi, step = _wire_volumes(sym.volume_min, sym.volume_max, sym.volume_step)
    if (not closing and wire < lo) or (hi and wire > hi) or (step and wire % step):
        raise _reject(Retcode.INVALID_VOLUME,
                      f"volume {volume} outside {sym.volume_min:g}..{sym.volume_max:g} step {sym.volume_step:g}")
    return wire


@lru_cache(maxsize=256)
def _wire_volumes(*lots: float) -> tuple[int, ...]:
    """A symbol's volume limits on the wire: the same few per symbol, every order."""
    return tuple(map(lots_to_wire, lots))


def _check_direction(sym: SymbolInfo, buy: bool) -> None:
    mode = sym.trade_mode
    if mode == _FULL:
        return
    if mode == _DISABLED:
        raise _reject(Retcode.TRADE_DISABLED, f"trading is disabled for {sym.name}")
    if mode == TradeMode.CLOSE_ONLY:
        raise _reject(Retcode.CLOSE_ONLY, f"{sym.name}: only closing is allowed")
    if mode == TradeMode.LONG_ONLY and not buy:
        raise _reject(Retcode.LONG_ONLY, f"{sym.name}: only long positions are allowed")
    if mode == TradeMode.SHORT_ONLY and buy:
        raise _reject(Retcode.SHORT_ONLY, f"{sym.name}: only short positions are allowed")


def _check_type_allowed(sym: SymbolInfo, order_type: int, sl: float, tp: float) -> None:
    flag = _TYPE_FLAG.get(order_type)
    if flag is None or not sym.order_flags & flag:
        raise _reject(Retcode.INVALID_ORDER, f"order type {order_type} is not allowed for {sym.name}")
    if (sl and not sym.order_flags & _SL_FLAG) or (tp and not sym.order_flags & _TP_FLAG):
        raise _reject(Retcode.INVALID_ORDER, f"stop loss / take profit not allowed for {sym.name}")


def _points(distance: float, sym: SymbolInfo) -> int:
    return round(distance / sym.point) if sym.point > 0 else 0


def _check_stops(sym: SymbolInfo, buy: bool, reference: float, sl: float, tp: float) -> None:
    if not sl and not tp:  # no stops (zeros pass every check below)
        return
    _check_price(sl, sym, Retcode.INVALID_STOPS, "stop loss")
    _check_price(tp, sym, Retcode.INVALID_STOPS, "take profit")
    if not reference:
        return
    need = max(sym.stops_level, 1)
    sign = 1 if buy else -1
    if sl and _points(sign * (reference - sl), sym) < need:
        raise _reject(Retcode.INVALID_STOPS, f"stop loss {sl} too close to {reference} (stops level {need})")
    if tp and _points(sign * (tp - reference), sym) < need:
        raise _reject(Retcode.INVALID_STOPS, f"take profit {tp} too close to {reference} (stops level {need})")


def _check_pending_price(sym: SymbolInfo, order_type: int, price: float, limit: float, quote: Quote) -> None:
    if price <= 0:
        raise _reject(Retcode.INVALID_PRICE, "a pending order needs a price")
    _check_price(price, sym, Retcode.INVALID_PRICE, "price")
    stop_limit = order_type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT)
    if stop_limit:
        if limit <= 0:
            raise _reject(Retcode.INVALID_PRICE, "a stop-limit order needs a limit price")
        _check_price(limit, sym, Retcode.INVALID_PRICE, "limit price")
        if (order_type == OrderType.BUY_STOP_LIMIT and limit > price) or (
                order_type == OrderType.SELL_STOP_LIMIT and limit < price):
            raise _reject(Retcode.INVALID_PRICE, "the limit price is on the wrong side of the stop price")
    buy = OrderType(order_type).is_buy
    market = quote.ask if buy else quote.bid
    if not market:
        raise _reject(Retcode.PRICE_OFF, f"no quotes for {sym.name}")
    above = order_type in (OrderType.BUY_STOP, OrderType.BUY_STOP_LIMIT, OrderType.SELL_LIMIT)
    if _points((price - market) if above else (market - price), sym) < max(sym.stops_level, 1):
        raise _reject(Retcode.INVALID_PRICE, f"price {price} is on the wrong side of or too close to {market}")


def _check_expiration(sym: SymbolInfo, type_time: int, expiration: int, now_s: int) -> int:
    if not 0 <= type_time <= 3 or not sym.expiration_flags & (1 << type_time):
        raise _reject(Retcode.INVALID_EXPIRATION, f"expiration type {type_time} is not allowed for {sym.name}")
    if type_time in (OrderTime.SPECIFIED, OrderTime.SPECIFIED_DAY):
        if not 1 <= expiration <= _I32_MAX or (type_time == OrderTime.SPECIFIED and expiration <= now_s):
            raise _reject(Retcode.INVALID_EXPIRATION, f"expiration {expiration} is not a future time")
        return expiration
    return 0


def _check_filling(sym: SymbolInfo, filling: int, *, market: bool) -> None:
    if filling == OrderFilling.RETURN:
        return
    flag = _FILL_FLAG.get(filling)  # int keys: the enum members hash as their values
    if flag is None or not sym.filling_flags & flag or (market and filling == OrderFilling.BOC):
        raise _reject(Retcode.INVALID_FILL, f"filling {filling} is not allowed for {sym.name}")


def _market_filling(sym: SymbolInfo, requested: int | None) -> int:
    if requested is not None:  # checked by _execution
        return requested
    if sym.filling_flags & _IOC_FLAG:
        return _IOC
    if sym.filling_flags & _FOK_FLAG:
        return _FOK
    return _RETURN


def _execution(sym: SymbolInfo, volume_wire: int, quoted: float, requested_filling: int | None) -> tuple[int, float,
                                                                                                         int]:
    """``(trade_action, price_order, type_filling)`` of a market deal for the symbol's execution mode."""
    mode = sym.exec_mode
    if requested_filling is not None:
        _check_filling(sym, requested_filling, market=True)
    if mode == _INSTANT_EXECUTION:
        limit = lots_to_wire(sym.instant_volume)
        if not limit or volume_wire <= limit:
            return _INSTANT, quoted, _FOK
        return _REQUEST, quoted, _FOK
    if mode == _REQUEST_EXECUTION:
        return (_REQUEST if quoted else _PRICE), quoted, _FOK
    if mode == _EXCHANGE_EXECUTION:
        return _EXCHANGE, 0.0, _market_filling(sym, requested_filling)
    return _MARKET, 0.0, _market_filling(sym, requested_filling)


def _check_account(ctx: TradeContext) -> None:
    if not ctx.link_up:
        raise _reject(Retcode.CONNECTION, "the access server has no connection to the trade server")
    if not ctx.account.trade_allowed:
        raise _reject(Retcode.TRADE_DISABLED, "trading is disabled for this account")


# --- building the wire fields -----------------------------------------------------------------------


def build_trade_fields(request: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    """Check ``request`` locally and return the TradeRequest record fields (without ``action_id``).

    Args:
        request: what to do.
        sym: the effective configuration of the request's symbol (full configuration needed).
        ctx: account, quote, positions and orders.

    Returns:
        TradeRequest field values by SPEC name.

    Raises:
        TradeRejected: a local check failed; ``retcode`` is the code the official client reports.
        InvalidRequest: the request is malformed (unknown action, missing full configuration).
    """
    if not sym.full:
        raise InvalidRequest(f"{sym.name}: the full symbol configuration is not loaded", retcode=Retcode.INVALID)
    if request.deviation < 0 or request.deviation > _I32_MAX:
        raise _reject(Retcode.TRADE_DISABLED, f"deviation {request.deviation} is out of range")
    _check_account(ctx)
    action = request.action
    if action.__class__ is not RequestAction:
        try:
            action = RequestAction(action)
        except ValueError:
            raise InvalidRequest(f"unknown trade action {request.action!r}", retcode=Retcode.INVALID) from None
    base: dict[str, Any] = {"trade_symbol": sym.name, "digits": sym.digits, "type_reason": 0,
                            "comment": request.comment[:31]}
    if action is _DEAL:
        fields = _close(request, sym, ctx) if request.position else _open(request, sym, ctx)
    elif action is RequestAction.PENDING:
        fields = _pending(request, sym, ctx)
    elif action is RequestAction.SLTP:
        fields = _sltp(request, sym, ctx)
    elif action is RequestAction.MODIFY:
        fields = _modify(request, sym, ctx)
    elif action is RequestAction.REMOVE:
        fields = _remove(request, ctx)
    else:
        fields = _close_by(request, sym, ctx)
    base.update(fields)
    return base


def _open(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    if r.type not in (_BUY, _SELL):
        raise _reject(Retcode.INVALID, f"a market deal needs type BUY or SELL, not {r.type}")
    buy = r.type == _BUY
    _check_type_allowed(sym, r.type, r.sl, r.tp)
    _check_direction(sym, buy)
    volume = _check_volume(r.volume, sym)
    quote = ctx.quote
    if not quote.bid or not quote.ask:
        raise _reject(Retcode.PRICE_OFF, f"no quotes for {sym.name}")
    if r.price:
        _check_price(r.price, sym, Retcode.INVALID_PRICE, "price")
    _check_stops(sym, buy, quote.bid if buy else quote.ask, r.sl, r.tp)
    quoted = r.price or (quote.ask if buy else quote.bid)
    action, price, filling = _execution(sym, volume, quoted, r.type_filling)
    return {
        "trade_action": action, "trade_type": r.type, "trade_volume": volume,
        # A market order usually has no price of its own and no stops: 0.0 without a call.
        "price_order": _normalize_price(price, sym) if price else 0.0,
        "price_sl": _normalize_price(r.sl, sym) if r.sl else 0.0,
        "price_tp": _normalize_price(r.tp, sym) if r.tp else 0.0, "type_filling": filling, "type_flags": _OPEN_FLAGS,
        "price_deviation": r.deviation if action == _INSTANT else 0,
    }


def _position(ctx: TradeContext, ticket: int) -> Position:
    pos = ctx.positions.get(ticket)
    if pos is None:
        raise _reject(Retcode.INVALID, f"position {ticket} does not exist")
    if pos.volume_wire <= 0:
        raise _reject(Retcode.POSITION_CLOSED, f"position {ticket} is already closed")
    return pos


def _close(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    pos = _position(ctx, r.position)
    if pos.symbol != sym.name:
        raise _reject(Retcode.INVALID, f"position {pos.ticket} is on {pos.symbol}, not {sym.name}")
    closing_type = _SELL if pos.type == 0 else _BUY
    if r.type != closing_type:
        raise _reject(Retcode.INVALID, f"closing position {pos.ticket} needs type {closing_type.name}")
    if sym.trade_mode == _DISABLED:
        raise _reject(Retcode.TRADE_DISABLED, f"trading is disabled for {sym.name}")
    volume = _check_volume(r.volume or pos.volume, sym, closing=True)
    if volume > pos.volume_wire:
        raise _reject(Retcode.INVALID_VOLUME, f"cannot close {r.volume} of {pos.volume} lots")
    quote = ctx.quote
    current = quote.bid if pos.type == 0 else quote.ask
    if sym.exec_mode in (_INSTANT_EXECUTION, _REQUEST_EXECUTION) and not current:
        raise _reject(Retcode.PRICE_OFF, f"no quotes for {sym.name}")
    quoted = r.price or current or pos.price_current
    action, price, filling = _execution(sym, volume, quoted, r.type_filling)
    if action not in (_INSTANT, _REQUEST, _PRICE):
        price = current or pos.price_current
        filling = _RETURN if action == _EXCHANGE and r.type_filling is None else filling
    return {
        "trade_action": action, "trade_type": closing_type, "trade_volume": volume,
        "price_order": _normalize_price(price, sym), "type_filling": filling, "type_flags": _CLOSING_FLAGS,
        "trade_position": pos.ticket, "price_deviation": r.deviation if action == _INSTANT else 0,
    }


def _pending(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    if not 2 <= r.type <= 7:
        raise _reject(Retcode.INVALID_ORDER, f"order type {r.type} is not a pending type")
    buy = OrderType(r.type).is_buy
    _check_type_allowed(sym, r.type, r.sl, r.tp)
    _check_direction(sym, buy)
    volume = _check_volume(r.volume, sym)
    _check_pending_price(sym, r.type, r.price, r.stoplimit, ctx.quote)
    stop_limit = r.type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT)
    _check_stops(sym, buy, r.stoplimit if stop_limit else r.price, r.sl, r.tp)
    expiration = _check_expiration(sym, r.type_time, r.expiration, ctx.now_s)
    if sym.exec_mode == ExecMode.EXCHANGE and r.type_filling is not None:
        _check_filling(sym, r.type_filling, market=False)
        filling = r.type_filling
    elif r.type_filling not in (None, OrderFilling.RETURN):
        raise _reject(Retcode.INVALID_FILL, "pending orders use RETURN filling")
    else:
        filling = OrderFilling.RETURN
    return {
        "trade_action": TradeAction.PENDING, "trade_type": r.type, "trade_volume": volume,
        "price_order": _normalize_price(r.price, sym), "price_trigger": _normalize_price(r.stoplimit, sym),
        "price_sl": _normalize_price(r.sl, sym), "price_tp": _normalize_price(r.tp, sym), "type_filling": filling,
        "type_time": r.type_time, "time_expiration": expiration, "type_flags": TradeFlags.OPEN,
    }


def _sltp(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    pos = _position(ctx, r.position)
    if sym.trade_mode == TradeMode.DISABLED:
        raise _reject(Retcode.TRADE_DISABLED, f"trading is disabled for {sym.name}")
    sl, tp = _normalize_price(r.sl, sym), _normalize_price(r.tp, sym)
    if math.isclose(sl, pos.sl, abs_tol=sym.point / 2) and math.isclose(tp, pos.tp, abs_tol=sym.point / 2):
        raise _reject(Retcode.NO_CHANGES, f"position {pos.ticket} already has these stops")
    if (r.sl and not sym.order_flags & _SL_FLAG) or (r.tp and not sym.order_flags & _TP_FLAG):
        raise _reject(Retcode.INVALID_ORDER, f"stop loss / take profit not allowed for {sym.name}")
    buy = pos.type == 0
    _check_stops(sym, buy, ctx.quote.bid if buy else ctx.quote.ask, r.sl, r.tp)
    return {
        "trade_action": TradeAction.SLTP, "trade_type": pos.type, "trade_volume": pos.volume_wire,
        "price_order": pos.price_current, "price_sl": sl, "price_tp": tp, "trade_position": pos.ticket,
        "type_flags": 0,
    }


def _order(ctx: TradeContext, ticket: int) -> Order:
    order = ctx.orders.get(ticket)
    if order is None:
        raise _reject(Retcode.INVALID, f"order {ticket} is not an active pending order")
    if order.state not in (1, 3):
        raise _reject(Retcode.INVALID, f"order {ticket} cannot be changed in state {order.state}")
    return order


def _modify(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    order = _order(ctx, r.order)
    if sym.trade_mode == TradeMode.DISABLED:
        raise _reject(Retcode.TRADE_DISABLED, f"trading is disabled for {sym.name}")
    price = _normalize_price(r.price, sym) if r.price else order.price_open
    limit = _normalize_price(r.stoplimit, sym) if r.stoplimit else order.price_stoplimit
    sl, tp = _normalize_price(r.sl, sym), _normalize_price(r.tp, sym)
    new = (price, limit, sl, tp, r.type_time, r.expiration if r.type_time in (2, 3) else 0)
    old = (order.price_open, order.price_stoplimit, order.sl, order.tp, order.type_time,
           order.time_expiration if order.type_time in (2, 3) else 0)
    if all(math.isclose(a, b, abs_tol=sym.point / 2) for a, b in zip(new, old, strict=True)):
        raise _reject(Retcode.NO_CHANGES, f"order {order.ticket} already has these values")
    _check_pending_price(sym, order.type, r.price or price, r.stoplimit or limit, ctx.quote)
    stop_limit = order.type in (OrderType.BUY_STOP_LIMIT, OrderType.SELL_STOP_LIMIT)
    _check_stops(sym, OrderType(order.type).is_buy, limit if stop_limit else price, r.sl, r.tp)
    expiration = _check_expiration(sym, r.type_time, r.expiration, ctx.now_s)
    return {
        "trade_action": TradeAction.MODIFY, "trade_type": order.type, "trade_volume": order.volume_wire,
        "price_order": price, "price_trigger": limit, "price_sl": sl, "price_tp": tp, "trade_order": order.ticket,
        "type_time": r.type_time, "time_expiration": expiration, "type_flags": 0,
    }


def _remove(r: TradeRequest, ctx: TradeContext) -> dict[str, Any]:
    order = _order(ctx, r.order)
    return {
        "trade_action": TradeAction.REMOVE, "trade_type": order.type, "trade_volume": order.volume_wire,
        "price_order": order.price_open, "price_trigger": order.price_stoplimit, "price_sl": order.sl,
        "price_tp": order.tp, "trade_order": order.ticket, "type_time": order.type_time,
        "time_expiration": order.time_expiration if order.type_time in (2, 3) else 0, "type_flags": 0,
    }


def _close_by(r: TradeRequest, sym: SymbolInfo, ctx: TradeContext) -> dict[str, Any]:
    first, other = _position(ctx, r.position), _position(ctx, r.position_by)
    if not ctx.account.hedging or not sym.order_flags & _CLOSE_BY_FLAG:
        raise _reject(Retcode.INVALID_ORDER, "close-by needs a hedging account and a symbol that allows it")
    if first.symbol != other.symbol or first.type == other.type or first.symbol != sym.name:
        raise _reject(Retcode.INVALID, "close-by needs two opposite positions of the same symbol")
    return {
        "trade_action": TradeAction.CLOSE_BY, "trade_type": 1 - first.type, "trade_volume": first.volume_wire,
        "price_order": first.price_current, "trade_position": first.ticket, "position_by": other.ticket,
        "type_filling": OrderFilling.FOK, "type_flags": _CLOSING_FLAGS,
    }


# --- margin and profit ------------------------------------------------------------------------------


def _margin_rate(rates: tuple[float, ...], order_type: int) -> float:
    if 0 <= order_type < len(rates) and 0 < rates[order_type] < _F64_MAX:
        return rates[order_type]
    return 1.0


def margin_in_margin_currency(order_type: int, sym: SymbolInfo, volume: float, price: float, leverage: int,
                              contract_size: float | None = None) -> float:
    """Initial margin of ``volume`` lots in the symbol's margin currency, by calculation mode.

    Forex: lots x contract / leverage; Forex without leverage: lots x contract; CFD and exchange stocks:
    lots x contract x price; CFD index: that x tick value / tick size; CFD leverage: that / leverage;
    futures: lots x initial margin. A non-zero ``margin_initial`` replaces the contract size for the other
    modes. Everything is multiplied by the margin rate of the order type.

    Args:
        contract_size: overrides the contract size (hedged volume uses ``margin_hedged``).
    """
    rate = _margin_rate(sym.margin_rates_initial, order_type)
    mode = sym.calc_mode
    leverage = max(int(leverage), 1)
    if mode in _PER_LOT_MARGIN:
        return volume * sym.margin_initial * rate
    contract = contract_size if contract_size is not None else (sym.margin_initial or sym.contract_size)
    if mode == CalcMode.FOREX:
        return volume * contract / leverage * rate
    if mode == CalcMode.FOREX_NO_LEVERAGE:
        return volume * contract * rate
    if mode == CalcMode.SERV_COLLATERAL:
        return 0.0
    amount = volume * contract * price
    if mode == CalcMode.CFD_INDEX and sym.tick_size > 0:
        amount *= sym.tick_value / sym.tick_size
    elif mode == CalcMode.CFD_LEVERAGE:
        amount /= leverage
    elif mode in (CalcMode.EXCH_BONDS, CalcMode.EXCH_BONDS_MOEX) and sym.face_value:
        amount *= sym.face_value / 100.0
    return amount * rate


def profit_in_profit_currency(order_type: int, sym: SymbolInfo, volume: float, price_open: float,
                              price_close: float) -> float:
    """Profit of ``volume`` lots from ``price_open`` to ``price_close`` in the symbol's profit currency."""
    buy = order_type % 2 == 0
    diff = (price_close - price_open) if buy else (price_open - price_close)
    if sym.calc_mode in _PER_LOT_MARGIN and sym.tick_size > 0:
        return diff / sym.tick_size * sym.tick_value * volume
    if sym.calc_mode in (CalcMode.EXCH_BONDS, CalcMode.EXCH_BONDS_MOEX) and sym.face_value:
        return diff * sym.contract_size * volume * sym.face_value / 100.0
    return diff * sym.contract_size * volume


def valuation_price(sym: SymbolInfo, quote: Quote, position_type: int) -> float:
    """The price a position is valued at: bid for a long, ask for a short; last for value-based modes."""
    if sym.calc_mode in _VALUED_AT_LAST and quote.last > 0:
        return quote.last
    return quote.bid if position_type == 0 else quote.ask


class Rates:
    """Currency conversion with the mid price of a direct or inverse pair, else through USD.

    Args:
        find: returns the name of a symbol quoting ``base`` in ``quote`` currency, or None.
        quote: returns the current quote of a symbol (None when unknown).
        wanted: called with the symbol names whose quotes are needed but missing.
    """

    def __init__(self, find: Callable[[str, str], str | None], quote: Callable[[str], Quote | None],
                 wanted: Callable[[str], None] | None = None) -> None:
        self._find = find
        self._quote = quote
        self._wanted = wanted

    def rate(self, src: str, dst: str) -> float | None:
        """How many ``dst`` one ``src`` is worth now, None when unknown."""
        if src == dst or not src or not dst:
            return 1.0
        direct = self._pair(src, dst)
        if direct is not None:
            return direct
        if "USD" not in (src, dst):
            a, b = self._pair(src, "USD"), self._pair("USD", dst)
            if a is not None and b is not None:
                return a * b
        return None

    def _pair(self, src: str, dst: str) -> float | None:
        for base, quote_ccy, invert in ((src, dst, False), (dst, src, True)):
            name = self._find(base, quote_ccy)
            if name is None:
                continue
            q = self._quote(name)
            if q is None or q.bid <= 0 or q.ask <= 0:
                if self._wanted is not None:
                    self._wanted(name)
                continue
            mid = (q.bid + q.ask) / 2
            return 1.0 / mid if invert else mid
        return None
