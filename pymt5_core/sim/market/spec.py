"""One simulated symbol: its trading configuration, its sessions and the parameters of its price model.

:class:`SymbolSpec` also renders itself as the SPEC records the server sends: SymbolShort (commands 6 and
34), SymbolFull (command 18, push 13) and its embedded TradeSettings (§6.1, §6.2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pymt5_core.sim.market.sessions import WeekSessions, in_session, pack_week, validate_week
from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.codec import lots_to_wire
from pymt5_core.wire.enums import (
    CalcMode,
    ExecMode,
    FillFlags,
    OrderFlags,
    TimeFlags,
    TradeMode,
)

__all__ = ["SymbolSpec"]

_ALL_ORDERS = OrderFlags(127)
_ALL_EXPIRATIONS = TimeFlags(15)
#: TradeSettings ``permissions_flags`` bit: depth of market available.
_PERMIT_BOOK = 1
#: ``swap_rollover3days`` value that disables the triple swap.
_NO_TRIPLE_SWAP = 7
_CURRENCY_DIGITS = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolSpec:
    """A symbol of the simulated server.

    Volumes are lots (floats), prices plain, ``tick_value`` the worth of one tick of one lot in the profit
    currency, ``expiration`` Unix seconds (0: none); ``point`` follows from ``digits``. Sessions are in
    server time (SPEC §9.6). Two groups of fields never go on the wire: ``requote_probability``, for the
    simulated instant-execution dealer, and the price model's parameters from ``base_price`` on.
    """

    name: str
    symbol_id: int
    description: str
    path: str
    digits: int
    currency_base: str
    currency_profit: str
    currency_margin: str
    calc_mode: CalcMode
    exec_mode: ExecMode
    contract_size: float
    tick_size: float
    tick_value: float
    volume_min: float
    volume_max: float
    volume_step: float
    trade_sessions: WeekSessions
    quote_sessions: WeekSessions
    trade_mode: TradeMode = TradeMode.FULL
    volume_limit: float = 0.0
    stops_level: int = 0
    freeze_level: int = 0
    fill_flags: FillFlags = FillFlags.FOK | FillFlags.IOC
    time_flags: TimeFlags = _ALL_EXPIRATIONS
    order_flags: OrderFlags = _ALL_ORDERS
    gtc_mode: int = 0
    margin_initial: float = 0.0
    margin_maintenance: float = 0.0
    margin_hedged: float = 0.0
    margin_rates_initial: tuple[float, ...] = (1.0,) * 8
    margin_rates_maintenance: tuple[float, ...] = (1.0,) * 8
    swap_mode: int = 1
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_rollover3days: int = 3
    book_depth: int = 0
    chart_mode: int = 0
    basis: str = ""
    sector: int = 0
    isin: str = ""
    exchange: str = ""
    expiration: int = 0
    instant_volume: float = 0.0
    requote_probability: float = 0.0
    base_price: float
    annual_volatility: float
    spread_points: int
    spread_variability: float = 0.35
    ticks_per_minute: float = 40.0

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 32:
            raise ValueError(f"symbol name {self.name!r} must have 1 to 32 characters")
        if self.path.split("\\")[-1] != self.name:
            raise ValueError(f"{self.name}: path {self.path!r} must end with the symbol name")
        if not 0 <= self.digits <= 8:
            raise ValueError(f"{self.name}: digits must be 0..8")
        if self.tick_size <= 0 or abs(self.tick_size / self.point - self.tick_points) > 1e-6:
            raise ValueError(f"{self.name}: tick size {self.tick_size} is not a whole number of points")
        if len(self.margin_rates_initial) != 8 or len(self.margin_rates_maintenance) != 8:
            raise ValueError(f"{self.name}: margin rates need one value per order type (8)")
        if self.base_price <= 0 or self.annual_volatility <= 0 or self.spread_points < 0:
            raise ValueError(f"{self.name}: price model parameters must be positive")
        validate_week(self.trade_sessions)
        validate_week(self.quote_sessions)

    # --- derived values ---------------------------------------------------------------------------

    @property
    def point(self) -> float:
        """The price step of the quote, ``10**-digits``."""
        return 10.0**-self.digits

    @property
    def tick_points(self) -> int:
        """The tick size in points: prices are multiples of it."""
        return round(self.tick_size / self.point)

    @property
    def group(self) -> str:
        """The symbol's group path (its path without the name), as listed by command 9."""
        return self.path.rpartition("\\")[0]

    @property
    def is_exchange(self) -> bool:
        """True for exchange instruments (calc modes 32-39): they have last prices and real volume."""
        return 32 <= self.calc_mode < 64

    def is_trading(self, server_time_ms: int) -> bool:
        """Tell whether the symbol can be traded at a server-time instant (SPEC §9.6)."""
        return in_session(self.trade_sessions, server_time_ms)

    def is_quoting(self, server_time_ms: int) -> bool:
        """Tell whether the symbol is quoted at a server-time instant."""
        return in_session(self.quote_sessions, server_time_ms)

    # --- wire records -----------------------------------------------------------------------------

    def symbol_short_values(self) -> dict[str, Any]:
        """Return the SymbolShort field values (SPEC §6.2)."""
        return {
            "trade_symbol": self.name,
            "symbol_description": self.description,
            "digits": self.digits,
            "symbol_id": self.symbol_id,
            "symbol_path": self.path,
            "trade_calc_mode": int(self.calc_mode),
            "basis": self.basis,
            "sector": self.sector,
        }

    def trade_settings_values(self) -> dict[str, Any]:
        """Return the symbol's own TradeSettings field values (SPEC §6.1), ``symbol_path`` = its path."""
        instant = self.exec_mode == ExecMode.INSTANT
        return {
            "symbol_path": self.path,
            "trade_mode": int(self.trade_mode),
            "trade_stops_level": self.stops_level,
            "trade_freeze_level": self.freeze_level,
            "trade_exemode": int(self.exec_mode),
            "trade_fill_flags": int(self.fill_flags),
            "trade_time_flags": int(self.time_flags),
            "trade_order_flags": int(self.order_flags),
            "trade_instant_timeout": 7 if instant else 0,
            "trade_instant_volume": lots_to_wire(self.instant_volume),
            "volume_min": lots_to_wire(self.volume_min),
            "volume_max": lots_to_wire(self.volume_max),
            "volume_step": lots_to_wire(self.volume_step),
            "volume_limit": lots_to_wire(self.volume_limit),
            "margin_initial": self.margin_initial,
            "margin_maintenance": self.margin_maintenance,
            "margin_rates_initial": struct.pack("<8d", *self.margin_rates_initial),
            "margin_rates_maintenance": struct.pack("<8d", *self.margin_rates_maintenance),
            "margin_hedged": self.margin_hedged,
            "swap_mode": self.swap_mode,
            "swap_long": self.swap_long,
            "swap_short": self.swap_short,
            "swap_rollover3days": self.swap_rollover3days,
            "permissions_flags": _PERMIT_BOOK if self.book_depth else 0,
            "permissions_bookdepth": self.book_depth,
            "swap_rates": struct.pack("<7d", *self.swap_day_rates()),
        }

    def swap_day_rates(self) -> tuple[float, ...]:
        """Swap multiplier per weekday (Sunday first): 0 on closed days, 3 on the triple-swap day."""
        rates = [1.0 if sessions else 0.0 for sessions in self.trade_sessions]
        if self.swap_rollover3days != _NO_TRIPLE_SWAP:
            rates[self.swap_rollover3days] = 3.0
        return tuple(rates)

    def symbol_full_values(self) -> dict[str, Any]:
        """Return the SymbolFull field values (SPEC §6.2), nested records already packed."""
        schedule = LAYOUTS["Schedule"].pack_dict(
            {
                "quote_sessions": pack_week(self.quote_sessions),
                "trade_sessions": pack_week(self.trade_sessions),
            }
        )
        return {
            "trade_symbol": self.name,
            "isin": self.isin,
            "symbol_description": self.description,
            "international": self.description,
            "basis": self.basis,
            "trade_exchange": self.exchange,
            "sector": self.sector,
            "currency_base": self.currency_base,
            "currency_profit": self.currency_profit,
            "currency_margin": self.currency_margin,
            "currency_base_digits": _CURRENCY_DIGITS,
            "currency_profit_digits": _CURRENCY_DIGITS,
            "currency_margin_digits": _CURRENCY_DIGITS,
            "digits": self.digits,
            "point": self.point,
            "symbol_id": self.symbol_id,
            "ticks_bookdepth": self.book_depth,
            "ticks_chart_mode": self.chart_mode,
            "trade_tick_value": self.tick_value,
            "trade_tick_size": self.tick_size,
            "trade_contract_size": self.contract_size,
            "trade_gtc_mode": self.gtc_mode,
            "trade_calc_mode": int(self.calc_mode),
            "time_expiration": self.expiration,
            "trade": LAYOUTS["TradeSettings"].pack_dict(self.trade_settings_values()),
            "schedule": schedule,
            "subscription": LAYOUTS["Subscription"].pack_dict({}),
        }

    def __repr__(self) -> str:
        return f"<SymbolSpec {self.symbol_id} {self.path} digits={self.digits}>"
