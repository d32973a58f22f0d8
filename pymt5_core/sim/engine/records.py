"""Wire records (SPEC §6.4) of the engine's positions, orders and deals."""

from __future__ import annotations

from pymt5_core.sim.engine.models import Order, Position, blank, split_ms
from pymt5_core.sim.engine.ports import SymbolSpec
from pymt5_core.wire.records import Record

__all__ = ["currency_digits", "order_record", "position_record", "trade_result"]

_ZERO_DIGIT_CURRENCIES = frozenset({"JPY", "KRW", "HUF", "CLP", "ISK"})


def currency_digits(currency: str) -> int:
    """Decimal places of money amounts in ``currency``."""
    return 0 if currency.upper() in _ZERO_DIGIT_CURRENCIES else 2


def position_record(pos: Position, spec: SymbolSpec, digits_currency: int, *, price_close: float = 0.0,
                    profit: float = 0.0, rate_profit: float = 0.0) -> Record:
    """The Position record; ``price_close``/``profit`` are the current valuation."""
    rec = blank("Position")
    create_s, create_ms = split_ms(pos.time_create_ms)
    update_s, update_ms = split_ms(pos.time_update_ms)
    rec.update(
        position_id=pos.ticket, trade_order=pos.order, time_create=create_s, time_update=update_s,
        trade_symbol=pos.symbol, trade_action=pos.type, price_open=pos.price_open, price_close=price_close,
        sl=pos.sl, tp=pos.tp, trade_volume=pos.volume, profit=profit, rate_profit=rate_profit,
        storage=pos.storage, comment=pos.comment, contract_size=spec.contract_size, digits=spec.digits,
        digits_currency=digits_currency, trade_reason=pos.reason, time_create_ms=create_ms, time_update_ms=update_ms,
    )
    return rec


def order_record(order: Order, spec: SymbolSpec, digits_currency: int, price_current: float = 0.0) -> Record:
    """The Order record."""
    rec = blank("Order")
    setup_s, setup_ms = split_ms(order.time_setup_ms)
    done_s, done_ms = split_ms(order.time_done_ms)
    rec.update(
        trade_order=order.ticket, trade_symbol=order.symbol, time_setup=setup_s, time_expiration=order.expiration_s,
        time_done=done_s, order_type=order.type, type_filling=order.filling, type_time=order.type_time,
        type_reason=order.reason, price_order=order.price_order, price_trigger=order.price_trigger,
        price_current=price_current, price_sl=order.sl, price_tp=order.tp, volume_initial=order.volume_initial,
        volume_current=order.volume_current, order_state=order.state, position_id=order.position_id,
        comment=order.comment, contract_size=spec.contract_size, digits=spec.digits, digits_currency=digits_currency,
        time_setup_ms=setup_ms, time_done_ms=done_ms,
    )
    return rec


def trade_result(retcode: int, res_time: int, *, deal: int = 0, order: int = 0, volume: int = 0,
                 price: float = 0.0, bid: float = 0.0, ask: float = 0.0, last: float = 0.0,
                 comment: str = "") -> Record:
    """A TradeResult record (push 19)."""
    return {"retcode": retcode, "deal": deal, "trade_order": order, "volume": volume, "price": price,
            "res_time": res_time, "bid": bid, "ask": ask, "last": last, "comment": comment[:32]}
