"""The simulator's default symbols: Forex, metals, energies, index CFDs, crypto CFDs and two exchange
instruments (a CME future with depth of market and a NASDAQ stock).

Symbol ids follow the order of :data:`_TABLE` starting at 1; append new symbols at the end so ids stay
stable. Sessions are server time; with the default timezone shift of 0 they read as UTC.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from pymt5_core.sim.market.sessions import WeekSessions, parse_week
from pymt5_core.sim.market.spec import SymbolSpec
from pymt5_core.wire.enums import CalcMode, ExecMode, FillFlags

__all__ = ["Sector", "default_symbols"]


class Sector(IntEnum):
    """SymbolShort/SymbolFull ``sector`` values (the MQL5 ENUM_SYMBOL_SECTOR order)."""

    UNDEFINED = 0
    CURRENCY = 5
    CURRENCY_CRYPTO = 6
    ENERGY = 7
    TECHNOLOGY = 12
    INDEXES = 14
    COMMODITIES = 15


_FOREX_WEEK = parse_week({"Mon-Fri": "00:00-24:00"})
# CME Globex hours: a one-hour break every day, opening Sunday evening.
_GLOBEX_WEEK = parse_week({"Sun": "23:00-24:00", "Mon-Thu": "00:00-22:00 23:00-24:00", "Fri": "00:00-22:00"})
_OSAKA_WEEK = parse_week({"Sun": "23:00-24:00", "Mon-Thu": "00:00-21:00 23:00-24:00", "Fri": "00:00-21:00"})
_EUROPE_WEEK = parse_week({"Mon-Fri": "07:00-21:00"})
_CRYPTO_WEEK = parse_week({"Sun-Sat": "00:00-24:00"})
_NASDAQ_TRADE = parse_week({"Mon-Fri": "14:30-21:00"})
# Pre-market quotes without trading.
_NASDAQ_QUOTE = parse_week({"Mon-Fri": "09:00-21:00"})

_ALL_FILLING = FillFlags.FOK | FillFlags.IOC | FillFlags.BOC
_ESZ7_LAST_TRADE = int(datetime(2027, 12, 17, 14, 30, tzinfo=UTC).timestamp())


def _forex(
    name: str,
    description: str,
    base_price: float,
    volatility: float,
    spread: int,
    swaps: tuple[float, float],
    *,
    group: str = "Majors",
    digits: int = 5,
    exec_mode: ExecMode = ExecMode.MARKET,
    **extra: Any,
) -> SymbolSpec:
    point = 10.0**-digits
    return SymbolSpec(
        name=name,
        symbol_id=0,
        description=description,
        path=f"Forex\\{group}\\{name}",
        digits=digits,
        currency_base=name[:3],
        currency_profit=name[3:],
        currency_margin=name[:3],
        calc_mode=CalcMode.FOREX,
        exec_mode=exec_mode,
        contract_size=100_000.0,
        tick_size=point,
        tick_value=round(point * 100_000, 8),
        volume_min=0.01,
        volume_max=100.0,
        volume_step=0.01,
        trade_sessions=_FOREX_WEEK,
        quote_sessions=_FOREX_WEEK,
        margin_hedged=50_000.0,
        swap_long=swaps[0],
        swap_short=swaps[1],
        sector=Sector.CURRENCY,
        base_price=base_price,
        annual_volatility=volatility,
        spread_points=spread,
        ticks_per_minute=60.0 if group == "Majors" else 35.0,
        **extra,
    )


def _cfd(
    name: str,
    description: str,
    path: str,
    *,
    digits: int,
    currency: str,
    contract_size: float,
    volume: tuple[float, float, float],
    week: WeekSessions,
    base_price: float,
    volatility: float,
    spread: int,
    base_currency: str | None = None,
    **extra: Any,
) -> SymbolSpec:
    point = 10.0**-digits
    return SymbolSpec(
        name=name,
        symbol_id=0,
        description=description,
        path=f"{path}\\{name}",
        digits=digits,
        currency_base=base_currency or currency,
        currency_profit=currency,
        currency_margin=currency,
        calc_mode=CalcMode.CFD_LEVERAGE,
        exec_mode=ExecMode.MARKET,
        contract_size=contract_size,
        tick_size=point,
        tick_value=round(point * contract_size, 8),
        volume_min=volume[0],
        volume_max=volume[1],
        volume_step=volume[2],
        trade_sessions=week,
        quote_sessions=week,
        margin_hedged=contract_size / 2,
        base_price=base_price,
        annual_volatility=volatility,
        spread_points=spread,
        **extra,
    )


_FX_LOTS = (0.01, 100.0, 0.01)
_INDEX_LOTS = (0.1, 100.0, 0.1)
_CRYPTO_LOTS = (0.01, 20.0, 0.01)

_TABLE: tuple[SymbolSpec, ...] = (
    _forex("EURUSD", "Euro vs US Dollar", 1.0850, 0.07, 8, (-7.2, 2.1)),
    _forex(
        "GBPUSD", "Great Britain Pound vs US Dollar", 1.2700, 0.08, 12, (-5.4, 0.9),
        exec_mode=ExecMode.INSTANT, instant_volume=20.0, requote_probability=0.05,
        stops_level=10, freeze_level=5, fill_flags=FillFlags.FOK,
    ),
    _forex("USDJPY", "US Dollar vs Japanese Yen", 150.00, 0.09, 12, (14.8, -28.6), digits=3),
    _forex("USDCHF", "US Dollar vs Swiss Franc", 0.8800, 0.08, 14, (6.1, -12.3)),
    _forex("AUDUSD", "Australian Dollar vs US Dollar", 0.6600, 0.10, 12, (-3.9, 0.4)),
    _forex("USDCAD", "US Dollar vs Canadian Dollar", 1.3600, 0.07, 15, (1.2, -8.7)),
    _forex("NZDUSD", "New Zealand Dollar vs US Dollar", 0.6000, 0.10, 18, (-2.8, -0.6)),
    _forex("EURGBP", "Euro vs Great Britain Pound", 0.8550, 0.06, 15, (-6.3, 1.1), group="Crosses"),
    _forex("EURJPY", "Euro vs Japanese Yen", 162.00, 0.09, 18, (9.6, -24.1), group="Crosses", digits=3),
    _forex("GBPJPY", "Great Britain Pound vs Japanese Yen", 190.00, 0.11, 25, (12.4, -30.5),
           group="Crosses", digits=3, stops_level=20),
    _forex(
        "EURCHF", "Euro vs Swiss Franc", 0.9500, 0.06, 18, (-1.8, -4.4),
        group="Crosses", exec_mode=ExecMode.REQUEST, fill_flags=FillFlags.FOK,
    ),
    _forex("AUDJPY", "Australian Dollar vs Japanese Yen", 98.00, 0.12, 20, (7.5, -18.2),
           group="Crosses", digits=3),
    _cfd(
        "XAUUSD", "Gold vs US Dollar", "Metals", digits=2, currency="USD", base_currency="XAU",
        contract_size=100.0, volume=_FX_LOTS, week=_GLOBEX_WEEK, base_price=2300.00, volatility=0.15,
        spread=30, stops_level=20, swap_long=-45.0, swap_short=22.0, sector=Sector.COMMODITIES,
        ticks_per_minute=80.0,
    ),
    _cfd(
        "XAGUSD", "Silver vs US Dollar", "Metals", digits=3, currency="USD", base_currency="XAG",
        contract_size=5000.0, volume=_FX_LOTS, week=_GLOBEX_WEEK, base_price=27.000, volatility=0.25,
        spread=30, stops_level=10, swap_long=-8.0, swap_short=3.5, sector=Sector.COMMODITIES,
    ),
    _cfd(
        "USOIL", "WTI Crude Oil", "Energies", digits=3, currency="USD", contract_size=1000.0,
        volume=_FX_LOTS, week=_GLOBEX_WEEK, base_price=78.000, volatility=0.35, spread=30,
        swap_long=-6.5, swap_short=1.2, sector=Sector.ENERGY, basis="CL",
    ),
    _cfd(
        "US500", "US 500 Cash Index", "Indices\\US", digits=2, currency="USD", contract_size=1.0,
        volume=_INDEX_LOTS, week=_GLOBEX_WEEK, base_price=5200.00, volatility=0.16, spread=50,
        stops_level=30, swap_long=-9.6, swap_short=3.1, sector=Sector.INDEXES, basis="SPX",
    ),
    _cfd(
        "US30", "US Wall Street 30 Cash Index", "Indices\\US", digits=2, currency="USD", contract_size=1.0,
        volume=_INDEX_LOTS, week=_GLOBEX_WEEK, base_price=39000.00, volatility=0.15, spread=200,
        stops_level=50, swap_long=-70.0, swap_short=22.0, sector=Sector.INDEXES, basis="DJI",
    ),
    _cfd(
        "NAS100", "US Tech 100 Cash Index", "Indices\\US", digits=2, currency="USD", contract_size=1.0,
        volume=_INDEX_LOTS, week=_GLOBEX_WEEK, base_price=18000.00, volatility=0.20, spread=150,
        stops_level=50, swap_long=-33.0, swap_short=10.0, sector=Sector.INDEXES, basis="NDX",
    ),
    _cfd(
        "GER40", "Germany 40 Cash Index", "Indices\\Europe", digits=2, currency="EUR", contract_size=1.0,
        volume=_INDEX_LOTS, week=_EUROPE_WEEK, base_price=18000.00, volatility=0.17, spread=120,
        stops_level=40, swap_long=-25.0, swap_short=4.0, sector=Sector.INDEXES, basis="DAX",
    ),
    _cfd(
        "UK100", "UK 100 Cash Index", "Indices\\Europe", digits=2, currency="GBP", contract_size=1.0,
        volume=_INDEX_LOTS, week=_EUROPE_WEEK, base_price=8000.00, volatility=0.14, spread=100,
        stops_level=40, swap_long=-11.0, swap_short=2.5, sector=Sector.INDEXES, basis="FTSE",
    ),
    _cfd(
        "JPN225", "Japan 225 Cash Index", "Indices\\Asia", digits=0, currency="JPY", contract_size=1.0,
        volume=_INDEX_LOTS, week=_OSAKA_WEEK, base_price=38000.0, volatility=0.20, spread=8,
        stops_level=20, swap_long=-15.0, swap_short=-3.0, sector=Sector.INDEXES, basis="N225",
    ),
    _cfd(
        "BTCUSD", "Bitcoin vs US Dollar", "Crypto", digits=2, currency="USD", base_currency="BTC",
        contract_size=1.0, volume=_CRYPTO_LOTS, week=_CRYPTO_WEEK, base_price=65000.00, volatility=0.60,
        spread=2000, stops_level=500, swap_long=-1800.0, swap_short=-1800.0, swap_rollover3days=7,
        margin_rates_initial=(5.0,) * 8, margin_rates_maintenance=(5.0,) * 8,
        sector=Sector.CURRENCY_CRYPTO, spread_variability=0.5,
    ),
    _cfd(
        "ETHUSD", "Ethereum vs US Dollar", "Crypto", digits=2, currency="USD", base_currency="ETH",
        contract_size=1.0, volume=(0.1, 200.0, 0.1), week=_CRYPTO_WEEK, base_price=3200.00,
        volatility=0.75, spread=150, stops_level=100, swap_long=-90.0, swap_short=-90.0,
        swap_rollover3days=7, margin_rates_initial=(5.0,) * 8, margin_rates_maintenance=(5.0,) * 8,
        sector=Sector.CURRENCY_CRYPTO, spread_variability=0.5,
    ),
    SymbolSpec(
        name="ESZ7",
        symbol_id=0,
        description="E-mini S&P 500 Futures, December 2027",
        path="Exchange\\CME\\ESZ7",
        digits=2,
        currency_base="USD",
        currency_profit="USD",
        currency_margin="USD",
        calc_mode=CalcMode.EXCH_FUTURES,
        exec_mode=ExecMode.EXCHANGE,
        contract_size=50.0,
        tick_size=0.25,
        tick_value=12.5,
        volume_min=1.0,
        volume_max=500.0,
        volume_step=1.0,
        trade_sessions=_GLOBEX_WEEK,
        quote_sessions=_GLOBEX_WEEK,
        fill_flags=_ALL_FILLING,
        margin_initial=13_200.0,
        margin_maintenance=12_000.0,
        swap_mode=0,
        book_depth=10,
        basis="ES",
        sector=Sector.INDEXES,
        exchange="CME",
        expiration=_ESZ7_LAST_TRADE,
        base_price=5250.00,
        annual_volatility=0.16,
        spread_points=25,
        spread_variability=0.2,
    ),
    SymbolSpec(
        name="AAPL.NAS",
        symbol_id=0,
        description="Apple Inc.",
        path="Exchange\\NASDAQ\\AAPL.NAS",
        digits=2,
        currency_base="USD",
        currency_profit="USD",
        currency_margin="USD",
        calc_mode=CalcMode.EXCH_STOCKS,
        exec_mode=ExecMode.EXCHANGE,
        contract_size=1.0,
        tick_size=0.01,
        tick_value=0.01,
        volume_min=1.0,
        volume_max=10_000.0,
        volume_step=1.0,
        trade_sessions=_NASDAQ_TRADE,
        quote_sessions=_NASDAQ_QUOTE,
        fill_flags=_ALL_FILLING,
        swap_mode=0,
        book_depth=10,
        basis="AAPL",
        sector=Sector.TECHNOLOGY,
        isin="US0378331005",
        exchange="NASDAQ",
        base_price=190.00,
        annual_volatility=0.28,
        spread_points=2,
        spread_variability=0.5,
    ),
)


def default_symbols() -> tuple[SymbolSpec, ...]:
    """Return the default symbols with their ids (1, 2, ... in table order)."""
    return tuple(replace(spec, symbol_id=i) for i, spec in enumerate(_TABLE, start=1))
