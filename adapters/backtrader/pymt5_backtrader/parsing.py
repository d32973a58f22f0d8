"""Translation between Backtrader and MT5, as tables plus pure functions.

Everything that knows both vocabularies lives here: the store, broker and feed only move values around.
Nothing in this module does I/O or touches a thread, so all of it is unit-tested without a server.

MT5 values are read from the client's models by attribute name (the ``MetaTrader5`` package names:
``ticket``, ``volume``, ``price_open``, ...). The enumerations used are the public ``MetaTrader5``
constants (order types, filling and expiration kinds, retcodes, order states), not protocol details.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

import backtrader as bt

from pymt5_core import OrderState, OrderTime, OrderType, Retcode
from pymt5_core.errors import InvalidRequest

__all__ = [
    "DONE_RETCODES",
    "EXECTYPE_NATIVE_BRACKET",
    "MAP_EXECTYPE",
    "MAP_ORDER_STATE",
    "MAP_RETCODE_STATUS",
    "MAP_TIMEFRAME",
    "ORDER_TIME_DAY",
    "ORDER_TIME_GTC",
    "ORDER_TIME_SPECIFIED",
    "BarSpan",
    "DealFill",
    "OrderSnap",
    "bar_open_of",
    "bar_stamp",
    "contract_size",
    "next_bar_open",
    "parse_bar_span",
    "parse_deal",
    "parse_order",
    "parse_position",
    "parse_timeframe",
    "parse_valid",
    "round_money",
    "size_to_volume",
    "tick_price",
    "tick_time_ms",
    "volume_to_size",
]

# --- MetaTrader5 constants used by the adapter (the core's enums, under the MetaTrader5 names) ----------

ORDER_TYPE_BUY, ORDER_TYPE_SELL = OrderType.BUY, OrderType.SELL
ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED = OrderTime.GTC, OrderTime.DAY, OrderTime.SPECIFIED
RETCODE_INVALID_VOLUME = Retcode.INVALID_VOLUME
#: Retcodes meaning "executed, at least partly".
DONE_RETCODES = frozenset({Retcode.DONE, Retcode.DONE_PARTIAL, Retcode.DONE_PARTIAL_ALT})

#: Backtrader (timeframe, compression) -> MT5 period name. Anything else raises in :func:`parse_timeframe`.
MAP_TIMEFRAME: dict[tuple[int, int], str] = {
    (bt.TimeFrame.Minutes, 1): "M1",
    (bt.TimeFrame.Minutes, 5): "M5",
    (bt.TimeFrame.Minutes, 15): "M15",
    (bt.TimeFrame.Minutes, 30): "M30",
    (bt.TimeFrame.Minutes, 60): "H1",
    (bt.TimeFrame.Minutes, 240): "H4",
    (bt.TimeFrame.Days, 1): "D1",
    (bt.TimeFrame.Weeks, 1): "W1",
    (bt.TimeFrame.Months, 1): "MN1",
}

#: MT5 period name -> nominal length in seconds (W1/MN1 are calendar-aligned, see :func:`bar_open_of`).
PERIOD_SECONDS: dict[str, int] = {
    "M1": 60, "M5": 300, "M15": 900, "M30": 1800, "H1": 3600, "H4": 14400, "D1": 86400, "W1": 604800,
    "MN1": 2592000,
}

#: (Backtrader exectype, is_buy) -> MT5 order type. ``Close`` is sent as a market order.
MAP_EXECTYPE: dict[tuple[int, bool], int] = {
    (bt.Order.Market, True): OrderType.BUY, (bt.Order.Market, False): OrderType.SELL,
    (bt.Order.Close, True): OrderType.BUY, (bt.Order.Close, False): OrderType.SELL,
    (bt.Order.Limit, True): OrderType.BUY_LIMIT, (bt.Order.Limit, False): OrderType.SELL_LIMIT,
    (bt.Order.Stop, True): OrderType.BUY_STOP, (bt.Order.Stop, False): OrderType.SELL_STOP,
    (bt.Order.StopLimit, True): OrderType.BUY_STOP_LIMIT, (bt.Order.StopLimit, False): OrderType.SELL_STOP_LIMIT,
}

#: Parent order types whose bracket children can ride on the MT5 request as its SL and TP.
EXECTYPE_NATIVE_BRACKET = frozenset(
    {bt.Order.Market, bt.Order.Close, bt.Order.Limit, bt.Order.Stop, bt.Order.StopLimit}
)

#: Final answer of a trade request -> Backtrader status. Codes not listed map to ``Rejected``.
MAP_RETCODE_STATUS: dict[int, int] = {
    Retcode.PLACED: bt.Order.Accepted,
    Retcode.DONE: bt.Order.Accepted,  # the fill itself comes from the deal
    Retcode.DONE_PARTIAL: bt.Order.Accepted,
    Retcode.DONE_PARTIAL_ALT: bt.Order.Accepted,
    Retcode.NO_MONEY: bt.Order.Margin,
    Retcode.CANCEL: bt.Order.Canceled,  # canceled by trader
    Retcode.TIMEOUT: bt.Order.Canceled,  # canceled by timeout
}

#: MT5 order state -> Backtrader status.
MAP_ORDER_STATE: dict[int, int] = {
    OrderState.STARTED: bt.Order.Submitted,
    OrderState.PLACED: bt.Order.Accepted,
    OrderState.CANCELED: bt.Order.Canceled,
    OrderState.PARTIAL: bt.Order.Partial,
    OrderState.FILLED: bt.Order.Completed,
    OrderState.REJECTED: bt.Order.Rejected,
    OrderState.EXPIRED: bt.Order.Expired,
    OrderState.REQUEST_ADD: bt.Order.Submitted,
    OrderState.REQUEST_MODIFY: bt.Order.Accepted,
    OrderState.REQUEST_CANCEL: bt.Order.Accepted,  # still alive until the server says so
}


# --- timeframes and timestamps --------------------------------------------------------------------------


def parse_timeframe(timeframe: int, compression: int) -> str:
    """Return the MT5 period name for a Backtrader ``timeframe``/``compression``.

    Raises:
        InvalidRequest: the combination has no MT5 period (for example ``Minutes`` x 2, or ``Seconds``).
    """
    if timeframe == bt.TimeFrame.Minutes and compression == 1440:
        return "D1"
    try:
        return MAP_TIMEFRAME[(timeframe, compression)]
    except KeyError:
        names = bt.TimeFrame.getname(timeframe, compression) if timeframe in range(9) else str(timeframe)
        valid = ", ".join(f"{bt.TimeFrame.getname(tf, c)} x {c}" for tf, c in MAP_TIMEFRAME)
        raise InvalidRequest(
            f"no MT5 period for timeframe={names} compression={compression}; use one of: {valid} "
            "(other sizes: resample an M1 feed with cerebro.resampledata)"
        ) from None


def bar_open_of(t: int, period: str) -> int:
    """Return the open time (epoch s) of the ``period`` bar containing epoch second ``t``.

    Intraday and D1 bars align on multiples of their length since the epoch; W1 bars open on Sunday
    00:00; MN1 bars open on the first day of the month, as MT5 aligns them.
    """
    if period == "MN1":
        d = _dt.datetime.fromtimestamp(t, _dt.UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    if period == "W1":
        sunday = 3 * 86400  # 1970-01-04 was a Sunday
        return t - (t - sunday) % 604800
    return t - t % PERIOD_SECONDS[period]


def next_bar_open(open_t: int, period: str) -> int:
    """Return the open time of the bar after the one opening at ``open_t`` (its end boundary)."""
    if period == "MN1":
        d = _dt.datetime.fromtimestamp(open_t, _dt.UTC)
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0))
    return open_t + PERIOD_SECONDS[period]


#: The instant Backtrader uses for "end of day" (its ``TIME_MAX``): daily-and-longer bars are stamped there.
_DAY_END = _dt.timedelta(microseconds=10)


def bar_stamp(open_t: int, period: str, *, stamp_open: bool = False) -> _dt.datetime:
    """Return the naive-UTC datetime a bar is delivered with.

    The convention (see ``docs/backtrader.md``): a bar is stamped with its **end**, as Backtrader stamps
    resampled bars. Intraday bars: open time + period (the M1 bar opening 10:00 is stamped 10:01). D1, W1
    and MN1 bars: the last instant of their last day (23:59:59.999990), so the date stays the bar's own.
    ``stamp_open=True`` stamps with MT5's open time instead.
    """
    start = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=open_t)
    if stamp_open:
        return start
    end = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=next_bar_open(open_t, period))
    return end - _DAY_END if period in ("D1", "W1", "MN1") else end


@dataclass(frozen=True, slots=True)
class BarSpan:
    """Requested backfill window in epoch seconds (``end`` None = up to now)."""

    start: int | None
    end: int | None


def parse_bar_span(fromdate: _dt.datetime | None, todate: _dt.datetime | None, tz: Any) -> BarSpan:
    """Convert Backtrader ``fromdate``/``todate`` (naive = in ``tz``, or UTC when ``tz`` is None) to epochs."""

    def conv(d: _dt.datetime | None) -> int | None:
        if d is None:
            return None
        if d.tzinfo is None:
            d = tz.localize(d) if tz is not None and hasattr(tz, "localize") else d.replace(tzinfo=_dt.UTC)
        return int(d.timestamp())

    return BarSpan(conv(fromdate), conv(todate))


# --- orders ---------------------------------------------------------------------------------------------


def parse_valid(valid: float | None, data: Any) -> tuple[int, int]:
    """Map a Backtrader order's ``valid`` to ``(type_time, expiration epoch s)``.

    By the time the broker sees an order, Backtrader has turned ``valid`` into a date number in the
    feed's timezone: None → GTC; 0 or ``Order.DAY`` (end of today) → DAY; any other date number (from a
    datetime, date or timedelta) → SPECIFIED at that instant.
    """
    if valid is None:
        return ORDER_TIME_GTC, 0
    if not valid:
        return ORDER_TIME_DAY, 0
    local = bt.num2date(valid)  # naive, in the feed's timezone
    t = local.time()
    if (t.hour, t.minute, t.second) == (23, 59, 59) and abs(t.microsecond - 9999) < 100:  # Order.DAY
        return ORDER_TIME_DAY, 0
    tz = getattr(data, "_tz", None)
    aware = tz.localize(local) if tz is not None and hasattr(tz, "localize") else local.replace(tzinfo=_dt.UTC)
    return ORDER_TIME_SPECIFIED, math.ceil(aware.timestamp())


def size_to_volume(size: float, symbol: Any, *, in_lots: bool) -> float:
    """Convert a Backtrader size (sign ignored) to MT5 lots and check it against the symbol's limits.

    Args:
        size: the order size; lots when ``in_lots`` else units of the base asset.
        symbol: the client's ``SymbolInfo`` (``trade_contract_size``, ``volume_min/max/step``).
        in_lots: whether ``size`` is already in lots.

    Raises:
        InvalidRequest: the size is not a finite number, or the volume is below the minimum, above the
            maximum or not a multiple of the step (``retcode`` 10014, as the client would refuse it).
    """
    if isinstance(size, bool) or not isinstance(size, int | float) or not math.isfinite(size):
        raise InvalidRequest(f"order size {size!r} is not a finite number", retcode=RETCODE_INVALID_VOLUME)
    lots = abs(size) if in_lots else abs(size) / contract_size(symbol)
    vmin, vmax = float(symbol.volume_min or 0.0), float(symbol.volume_max or 0.0)
    step = float(symbol.volume_step or 0.0)
    if lots <= 0 or (vmin and lots < vmin - 1e-12):
        raise InvalidRequest(f"volume {lots:g} lots is below the symbol minimum {vmin:g}",
                             retcode=RETCODE_INVALID_VOLUME)
    if step > 0:
        steps = round(lots / step)
        if abs(steps * step - lots) > step * 1e-6:
            raise InvalidRequest(f"volume {lots:g} lots is not a multiple of the volume step {step:g}",
                                 retcode=RETCODE_INVALID_VOLUME)
        lots = round(steps * step, 8)
    if vmax and lots > vmax + 1e-12:
        raise InvalidRequest(f"volume {lots:g} lots is above the symbol maximum {vmax:g}",
                             retcode=RETCODE_INVALID_VOLUME)
    return lots


def volume_to_size(volume: float, symbol: Any, *, in_lots: bool) -> float:
    """Convert MT5 lots to a (positive) Backtrader size."""
    return float(volume) if in_lots else float(volume) * contract_size(symbol)


def contract_size(symbol: Any) -> float:
    """Return the contract size of a symbol (units of the base asset per lot)."""
    return float(_num(symbol, "contract_size", "trade_contract_size", default=0.0) or 1.0)


def round_money(value: float, digits: int) -> float:
    """Round money to ``digits`` decimals the way MT5 rounds deal profits (half away from zero)."""
    scale = 10.0 ** min(max(int(digits), 0), 8)
    if value >= 0:
        return math.floor(value * scale + 0.5000001) / scale
    return math.ceil(value * scale - 0.5000001) / scale


# --- server records ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealFill:
    """One trade deal as the broker uses it. ``volume`` is in lots, ``commission`` is MT5-signed."""

    ticket: int
    order: int
    position_id: int
    symbol: str
    is_buy: bool
    entry: int  # 0 in, 1 out, 2 in/out, 3 out by
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    time_ms: int
    reason: int
    comment: str = ""


@dataclass(frozen=True, slots=True)
class OrderSnap:
    """One MT5 order (active or historical) as the broker uses it."""

    ticket: int
    symbol: str
    type: int
    state: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    position_id: int
    type_time: int
    expiration: int
    comment: str = ""


def _num(obj: Any, *names: str, default: Any = 0) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return default


def _epoch_ms(value: Any, *, seconds: bool = False) -> int:
    """Epoch milliseconds from a datetime (naive = UTC) or a number (ms, or s when ``seconds``)."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return int(value.timestamp() * 1000)
    return int(value or 0) * (1000 if seconds else 1)


def parse_deal(deal: Any) -> DealFill:
    """Convert a client deal model into a :class:`DealFill`."""
    time_ms = _num(deal, "time_msc", default=None)
    time_ms = _epoch_ms(time_ms) if time_ms is not None else _epoch_ms(_num(deal, "time"), seconds=True)
    return DealFill(
        ticket=int(deal.ticket),
        order=int(_num(deal, "order")),
        position_id=int(_num(deal, "position_id", "position")),
        symbol=str(_num(deal, "symbol", default="")),
        is_buy=int(_num(deal, "type")) == ORDER_TYPE_BUY,
        entry=int(_num(deal, "entry")),
        volume=float(_num(deal, "volume")),
        price=float(_num(deal, "price")),
        commission=float(_num(deal, "commission")) + float(_num(deal, "fee")),
        swap=float(_num(deal, "swap")),
        profit=float(_num(deal, "profit")),
        time_ms=time_ms,
        reason=int(_num(deal, "reason")),
        comment=str(_num(deal, "comment", default="")),
    )


def parse_order(order: Any) -> OrderSnap:
    """Convert a client order model (active or historical) into an :class:`OrderSnap`."""
    expiration = _num(order, "time_expiration", "expiration")
    if isinstance(expiration, _dt.datetime):
        expiration = _epoch_ms(expiration) // 1000
    return OrderSnap(
        ticket=int(order.ticket),
        symbol=str(_num(order, "symbol", default="")),
        type=int(_num(order, "type")),
        state=int(_num(order, "state", default=1)),
        volume_initial=float(_num(order, "volume_initial", "volume")),
        volume_current=float(_num(order, "volume_current", "volume")),
        price_open=float(_num(order, "price_open", "price")),
        sl=float(_num(order, "sl")),
        tp=float(_num(order, "tp")),
        position_id=int(_num(order, "position_id")),
        type_time=int(_num(order, "type_time")),
        expiration=int(expiration or 0),
        comment=str(_num(order, "comment", default="")),
    )


def parse_position(position: Any) -> tuple[str, int, float, float]:
    """Return ``(symbol, ticket, signed volume in lots, open price)`` of a client position model."""
    sign = 1.0 if int(_num(position, "type")) == 0 else -1.0
    return (
        str(position.symbol),
        int(position.ticket),
        sign * float(_num(position, "volume")),
        float(_num(position, "price_open")),
    )


def tick_price(tick: Any, *, use_last: bool) -> float:
    """Return the price a bar is built from: ``last`` for exchange symbols (chart mode LAST), else ``bid``."""
    if use_last:
        last = float(_num(tick, "last", default=0.0))
        if last:
            return last
    return float(_num(tick, "bid", default=0.0))


def tick_time_ms(tick: Any) -> int:
    """Return a tick's server time in epoch milliseconds."""
    ms = _num(tick, "time_msc", default=None)
    return _epoch_ms(ms) if ms is not None else _epoch_ms(_num(tick, "time"), seconds=True)
