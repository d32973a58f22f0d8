"""The simulated market: determinism, bar alignment and aggregation, ticks that draw the bars, records."""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymt5_core.sim.market import Catalogue, PriceModel, parse_week
from pymt5_core.sim.market.ticks import bars_from_ticks
from pymt5_core.sim.market.timeframes import aggregate
from pymt5_core.wire import LAYOUTS
from pymt5_core.wire.enums import ExecMode, Period

DAY = 86_400
# Monday 2025-03-03 00:00 UTC.
MONDAY = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp())
SATURDAY = MONDAY + 5 * DAY
CATALOGUE = Catalogue.default()


@pytest.fixture(scope="module")
def model() -> PriceModel:
    return PriceModel(CATALOGUE, seed=11)


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


# --- determinism ------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_bars_and_another_seed_different_ones(model: PriceModel) -> None:
    again = PriceModel(CATALOGUE, seed=11).m1("EURUSD", MONDAY, MONDAY + 3 * DAY)
    other = PriceModel(CATALOGUE, seed=12).m1("EURUSD", MONDAY, MONDAY + 3 * DAY)
    bars = model.m1("EURUSD", MONDAY, MONDAY + 3 * DAY)
    np.testing.assert_array_equal(bars, again)
    assert len(other) == len(bars)
    assert not np.array_equal(other["close"], bars["close"])


def test_symbols_of_one_market_move_independently(model: PriceModel) -> None:
    eur = model.m1("EURUSD", MONDAY, MONDAY + DAY)["close"]
    gbp = model.m1("GBPUSD", MONDAY, MONDAY + DAY)["close"]
    assert abs(np.corrcoef(np.diff(eur), np.diff(gbp))[0, 1]) < 0.2


def test_a_sub_range_equals_the_slice_of_a_larger_range(model: PriceModel) -> None:
    big = model.m1("XAUUSD", MONDAY - 10 * DAY, MONDAY + 10 * DAY)
    for start, end in [(MONDAY + 3_600 + 17, MONDAY + DAY + 59), (MONDAY - 7 * DAY + 5, MONDAY + 4 * DAY)]:
        part = model.m1("XAUUSD", start, end)
        np.testing.assert_array_equal(part, big[(big["time"] >= start) & (big["time"] <= end)])


@settings(max_examples=25, deadline=None)
@given(
    offset=st.integers(0, 20 * DAY),
    length=st.integers(0, 4 * DAY),
    symbol=st.sampled_from(["EURUSD", "BTCUSD", "ESZ7", "AAPL.NAS"]),
)
def test_any_range_agrees_with_a_fixed_reference_range(offset: int, length: int, symbol: str) -> None:
    model = _REFERENCE_MODEL
    reference = _reference_bars(symbol)
    start = MONDAY - 7 * DAY + offset
    bars = model.m1(symbol, start, start + length)
    mask = (reference["time"] >= start) & (reference["time"] <= start + length)
    np.testing.assert_array_equal(bars, reference[mask])


_REFERENCE_MODEL = PriceModel(CATALOGUE, seed=3)
_REFERENCES: dict[str, np.ndarray] = {}


def _reference_bars(symbol: str) -> np.ndarray:
    if symbol not in _REFERENCES:
        _REFERENCES[symbol] = _REFERENCE_MODEL.m1(symbol, MONDAY - 8 * DAY, MONDAY + 20 * DAY)
    return _REFERENCES[symbol]


def test_ticks_of_a_minute_do_not_depend_on_the_range(model: PriceModel) -> None:
    start_ms = (MONDAY + 10 * 3_600) * 1000
    whole = model.ticks("ESZ7", start_ms, start_ms + 3_600_000)
    part = model.ticks("ESZ7", start_ms + 754_321, start_ms + 1_234_567)
    mask = (whole["time_ms"] >= start_ms + 754_321) & (whole["time_ms"] <= start_ms + 1_234_567)
    np.testing.assert_array_equal(part, whole[mask])


# --- bars -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", [s.name for s in CATALOGUE])
def test_bars_keep_the_ohlc_invariants_and_the_price_grid(model: PriceModel, symbol: str) -> None:
    spec = CATALOGUE[symbol]
    bars = model.m1(symbol, MONDAY, MONDAY + 2 * DAY)
    assert len(bars) > 0
    assert np.all(bars["high"] >= np.maximum(bars["open"], bars["close"]))
    assert np.all(bars["low"] <= np.minimum(bars["open"], bars["close"]))
    assert np.all(bars["tick_volume"] > 0)
    assert np.all(bars["spread"] >= spec.tick_points)
    assert np.all(np.diff(bars["time"]) > 0) and np.all(bars["time"] % 60 == 0)
    for name in ("open", "high", "low", "close"):
        ticks = bars[name] / spec.tick_size
        np.testing.assert_allclose(ticks, np.rint(ticks), atol=1e-6)
    if spec.is_exchange:
        assert np.all(bars["real_volume"] >= bars["tick_volume"] * spec.volume_step)
    else:
        assert np.all(bars["real_volume"] == 0)


def test_intraday_moves_have_a_realistic_size(model: PriceModel) -> None:
    bars = model.m1("EURUSD", MONDAY, MONDAY + 5 * DAY - 1)
    returns = np.diff(np.log(bars["close"]))
    annualized = returns.std() * np.sqrt(len(returns) / 5 * 260)
    assert 0.03 < annualized < 0.15
    pips = (bars["high"] - bars["low"]) / 0.0001
    assert 0.5 < np.median(pips) < 5


def test_forex_is_closed_at_the_weekend_and_crypto_is_not(model: PriceModel) -> None:
    weekend = (SATURDAY, SATURDAY + 2 * DAY - 1)
    assert len(model.m1("EURUSD", *weekend)) == 0
    assert len(model.m1("BTCUSD", *weekend)) == 2 * 1440
    friday = model.m1("EURUSD", MONDAY + 4 * DAY, SATURDAY - 1)
    assert len(friday) == 1440


def test_bars_exist_only_in_quote_sessions(model: PriceModel) -> None:
    us500 = model.m1("US500", MONDAY, MONDAY + DAY - 1)
    hours = (us500["time"] % DAY) // 3_600
    assert len(us500) == 23 * 60 and not np.any(hours == 22)
    aapl = model.m1("AAPL.NAS", MONDAY, MONDAY + DAY - 1)
    minutes = (aapl["time"] % DAY) // 60
    assert minutes.min() == 9 * 60 and minutes.max() == 21 * 60 - 1 and len(aapl) == 12 * 60


def test_a_timezone_shift_moves_the_sessions_to_server_time() -> None:
    shifted = PriceModel(Catalogue.default(timezone_shift=2 * 3_600), seed=11)
    # The server week opens Sunday 22:00 UTC and closes Friday 22:00 UTC.
    bars = shifted.m1("EURUSD", MONDAY - DAY, SATURDAY + DAY)
    assert bars["time"][0] == MONDAY - 2 * 3_600
    assert bars["time"][-1] == SATURDAY - 2 * 3_600 - 60
    assert len(bars) == 5 * 1440


ALIGNMENT: dict[Period, Callable[[datetime], bool]] = {
    Period.M1: lambda d: True,
    Period.M5: lambda d: d.minute % 5 == 0,
    Period.M15: lambda d: d.minute % 15 == 0,
    Period.M30: lambda d: d.minute % 30 == 0,
    Period.H1: lambda d: d.minute == 0,
    Period.H4: lambda d: d.minute == 0 and d.hour % 4 == 0,
    Period.D1: lambda d: d.minute == 0 and d.hour == 0,
    Period.W1: lambda d: d.minute == 0 and d.hour == 0 and d.isoweekday() == 7,
    Period.MN1: lambda d: d.minute == 0 and d.hour == 0 and d.day == 1,
}


@pytest.mark.parametrize("period", list(Period))
def test_bar_times_are_aligned_to_the_period_and_inside_the_range(model: PriceModel, period: Period) -> None:
    start, end = MONDAY - 100 * DAY + 1_234, MONDAY + 17
    bars = model.bars("USDJPY", period, start, end)
    assert len(bars) > 0
    assert np.all((bars["time"] >= start) & (bars["time"] <= end))
    for t in bars["time"].tolist():
        when = utc(t)
        assert when.second == 0 and ALIGNMENT[period](when), when


@pytest.mark.parametrize("period", [Period.M5, Period.H1, Period.H4, Period.D1, Period.W1, Period.MN1])
def test_every_period_is_the_sum_of_its_m1_bars(model: PriceModel, period: Period) -> None:
    start, end = MONDAY - 70 * DAY, MONDAY
    bars = model.bars("GBPJPY", period, start, end)
    m1 = model.m1("GBPJPY", int(bars["time"][0]), int(bars["time"][-1]) + period.seconds * 2)
    expected = aggregate(m1, period)[: len(bars)]
    np.testing.assert_array_equal(bars, expected)


def test_a_day_equals_its_hours(model: PriceModel) -> None:
    day = model.bars("NAS100", Period.D1, MONDAY + DAY, MONDAY + DAY)[0]
    hours = model.bars("NAS100", Period.H1, MONDAY + DAY, MONDAY + 2 * DAY - 1)
    assert day["open"] == hours["open"][0] and day["close"] == hours["close"][-1]
    assert day["high"] == hours["high"].max() and day["low"] == hours["low"].min()
    assert day["tick_volume"] == hours["tick_volume"].sum()


def test_a_bar_is_included_when_its_open_time_is_in_the_range(model: PriceModel) -> None:
    bars = model.bars("EURUSD", Period.H1, MONDAY + 3_600 + 1, MONDAY + 3 * 3_600)
    assert bars["time"].tolist() == [MONDAY + 2 * 3_600, MONDAY + 3 * 3_600]
    assert len(model.bars("EURUSD", Period.D1, MONDAY + 1, MONDAY + DAY - 1)) == 0


def test_bars_wire_decodes_to_the_same_bars(model: PriceModel) -> None:
    body = model.bars_wire("ESZ7", Period.M15, MONDAY, MONDAY + 2 * DAY)
    bars = model.bars("ESZ7", Period.M15, MONDAY, MONDAY + 2 * DAY)
    assert len(body) == 48 * len(bars)
    decoded = LAYOUTS["Bar"].unpack_array(body)
    for name in ("time", "open", "high", "low", "close", "tick_volume", "real_volume"):
        np.testing.assert_array_equal(decoded[name], bars[name])


def test_a_finished_bars_body_is_served_again_from_the_cache() -> None:
    model = PriceModel(CATALOGUE, seed=11)
    now_ms = (MONDAY + 3 * DAY) * 1000
    first = model.bars_wire("EURUSD", Period.M5, MONDAY, MONDAY + DAY, now_ms=now_ms)
    again = model.bars_wire("EURUSD", Period.M5, MONDAY, MONDAY + DAY, now_ms=now_ms + 60_000)
    assert again is first  # kept, not rebuilt
    assert first == PriceModel(CATALOGUE, seed=11).bars_wire("EURUSD", Period.M5, MONDAY, MONDAY + DAY)


def test_a_body_holding_the_forming_bar_is_built_anew_as_time_passes() -> None:
    model = PriceModel(CATALOGUE, seed=11)
    forming_ms = (MONDAY + DAY + 600) * 1000 + 30_000  # the M1 bar of 00:10 is half done
    early = model.bars_wire("EURUSD", Period.M1, MONDAY + DAY, MONDAY + 2 * DAY, now_ms=forming_ms)
    later = model.bars_wire("EURUSD", Period.M1, MONDAY + DAY, MONDAY + 2 * DAY, now_ms=forming_ms + 120_000)
    assert len(later) > len(early)
    # Asked again before the range has closed (a clock set back), nothing from the later call is served.
    assert model.bars_wire("EURUSD", Period.M1, MONDAY + DAY, MONDAY + 2 * DAY, now_ms=forming_ms) == early


def test_the_bars_cache_keeps_to_its_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymt5_core.sim.market import model as model_module

    monkeypatch.setattr(model_module, "RATES_CACHE_BYTES", 48 * 1440 * 4)  # four days of M1 (crypto trades daily)
    model = PriceModel(CATALOGUE, seed=11)
    days = [model.bars_wire("BTCUSD", Period.M1, MONDAY + d * DAY, MONDAY + (d + 1) * DAY - 1) for d in range(5)]
    assert sum(map(len, days)) > model_module.RATES_CACHE_BYTES
    assert model.bars_wire("BTCUSD", Period.M1, MONDAY + 4 * DAY, MONDAY + 5 * DAY - 1) is days[4]
    assert model.bars_wire("BTCUSD", Period.M1, MONDAY, MONDAY + DAY - 1) is not days[0]  # the oldest went


def test_an_unknown_period_is_rejected(model: PriceModel) -> None:
    with pytest.raises(ValueError, match="period"):
        model.bars("EURUSD", 2, MONDAY, MONDAY + DAY)


# --- ticks, quotes, books ---------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["EURUSD", "JPN225", "ESZ7", "BTCUSD"])
def test_the_ticks_of_a_minute_draw_its_bar(model: PriceModel, symbol: str) -> None:
    spec = CATALOGUE[symbol]
    bars = model.m1(symbol, MONDAY + 9 * 3_600, MONDAY + 10 * 3_600)
    ticks = model.ticks(symbol, (MONDAY + 9 * 3_600) * 1000, (MONDAY + 10 * 3_600) * 1000 + 59_999)
    minute = ticks["time_ms"] // 60_000 * 60
    assert np.all(np.diff(ticks["time_ms"]) >= 0)
    for bar in bars[::7]:
        bids = ticks["bid"][minute == bar["time"]]
        asks = ticks["ask"][minute == bar["time"]]
        assert len(bids) == bar["tick_volume"]
        assert (bids[0], bids.max(), bids.min(), bids[-1]) == tuple(bar[["open", "high", "low", "close"]])
        np.testing.assert_allclose(asks - bids, bar["spread"] * spec.point, atol=spec.point / 10)
    np.testing.assert_array_equal(bars_from_ticks(ticks, spec), bars)


def test_exchange_ticks_carry_last_prices_and_volumes_that_add_up(model: PriceModel) -> None:
    bars = model.m1("AAPL.NAS", MONDAY + 15 * 3_600, MONDAY + 16 * 3_600 - 1)
    ticks = model.ticks("AAPL.NAS", (MONDAY + 15 * 3_600) * 1000, (MONDAY + 16 * 3_600) * 1000 - 1)
    assert np.all((ticks["last"] == ticks["bid"]) | (ticks["last"] == ticks["ask"]))
    assert np.all(ticks["volume"] >= 100_000_000) and np.all(ticks["fields"] == 15)
    assert ticks["volume"].sum() / 1e8 == pytest.approx(bars["real_volume"].sum())


def test_forex_ticks_carry_bid_and_ask_only(model: PriceModel) -> None:
    ticks = model.ticks("EURUSD", MONDAY * 1000, MONDAY * 1000 + 600_000)
    assert np.all(ticks["fields"] == 3) and np.all(ticks["last"] == 0) and np.all(ticks["volume"] == 0)


def test_a_forming_bar_holds_only_the_ticks_up_to_now(model: PriceModel) -> None:
    minute = MONDAY + 12 * 3_600
    ticks = model.ticks("EURUSD", minute * 1000, minute * 1000 + 59_999)
    now_ms = int(ticks["time_ms"][len(ticks) // 2])
    live = model.m1("EURUSD", minute - 600, minute + 600, now_ms=now_ms)
    assert live["time"][-1] == minute
    seen = ticks[ticks["time_ms"] <= now_ms]
    assert live[-1]["tick_volume"] == len(seen) and live[-1]["close"] == seen["bid"][-1]
    done = model.m1("EURUSD", minute - 600, minute + 600, now_ms=minute * 1000 + 60_000)
    np.testing.assert_array_equal(done[-1:], model.m1("EURUSD", minute, minute))
    hours = model.bars("EURUSD", Period.H1, minute - 3_600, minute, now_ms=now_ms)
    assert hours["close"][-1] == seen["bid"][-1]


def test_quote_at_is_the_latest_tick_at_or_before_the_time(model: PriceModel) -> None:
    t_ms = (MONDAY + 14 * 3_600) * 1000 + 12_345
    ticks = model.ticks("USDCAD", t_ms - 120_000, t_ms)
    quote = model.quote_at("USDCAD", t_ms)
    assert quote is not None
    last = ticks[-1]
    assert quote == (int(last["time_ms"]), float(last["bid"]), float(last["ask"]), 0.0)


def test_quote_at_agrees_with_the_ticks_at_any_instant_in_any_order(model: PriceModel) -> None:
    minute = (MONDAY + 14 * 3_600) * 1000
    ticks = model.ticks("EURUSD", minute - 120_000, minute + 120_000)
    instants = [minute + 59_999, minute, minute - 1, minute + 30_000, minute + 60_000, minute + 1, minute - 60_000]
    for t_ms in instants + instants[::-1]:
        last = ticks[ticks["time_ms"] <= t_ms][-1]
        assert model.quote_at("EURUSD", t_ms) == (int(last["time_ms"]), float(last["bid"]), float(last["ask"]), 0.0)


def test_quote_at_during_the_weekend_is_the_friday_close(model: PriceModel) -> None:
    quote = model.quote_at("EURUSD", (SATURDAY + DAY) * 1000)
    friday_close = model.m1("EURUSD", SATURDAY - 60, SATURDAY - 60)["close"][0]
    assert quote is not None and quote.bid == friday_close
    assert quote.time_ms < SATURDAY * 1000
    assert model.quote_at("EURUSD", -DAY * 1000) is None


def test_the_book_surrounds_the_quote_and_is_deterministic(model: PriceModel) -> None:
    t_ms = (MONDAY + 15 * 3_600) * 1000 + 500
    bids, asks = model.book("ESZ7", t_ms)
    quote = model.quote_at("ESZ7", t_ms)
    assert quote is not None and len(bids) == len(asks) == 10
    assert bids[0].price == quote.bid and asks[0].price == quote.ask
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert np.allclose(np.diff([p for p, _ in asks]), 0.25)
    assert all(v >= 1 and v == int(v) for _, v in bids + asks)
    assert model.book("ESZ7", t_ms) == (bids, asks)
    assert model.book("EURUSD", t_ms) == ([], [])


# --- catalogue and records --------------------------------------------------------------------------


def test_the_default_catalogue_covers_the_required_markets() -> None:
    names = {s.name for s in CATALOGUE}
    assert len(CATALOGUE) >= 24
    assert {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "GER40", "JPN225", "BTCUSD", "AAPL.NAS"} <= names
    assert [s.symbol_id for s in CATALOGUE] == list(range(1, len(CATALOGUE) + 1))
    assert CATALOGUE.by_id(1).name == "EURUSD" and CATALOGUE.get("NOPE") is None
    modes = {s.exec_mode for s in CATALOGUE}
    assert modes == {ExecMode.REQUEST, ExecMode.INSTANT, ExecMode.MARKET, ExecMode.EXCHANGE}
    future = CATALOGUE["ESZ7"]
    assert (future.calc_mode, future.exec_mode, future.book_depth) == (33, 3, 10)
    assert CATALOGUE["GER40"].currency_profit == "EUR" and CATALOGUE["JPN225"].currency_profit == "JPY"
    assert "Forex\\Majors" in CATALOGUE.groups() and "Crypto" in CATALOGUE.groups()


@pytest.mark.parametrize("symbol", [s.name for s in CATALOGUE])
def test_symbol_records_pack_and_round_trip(symbol: str) -> None:
    spec = CATALOGUE[symbol]
    full = LAYOUTS["SymbolFull"].pack_dict(spec.symbol_full_values())
    assert len(full) == 3068
    values = LAYOUTS["SymbolFull"].unpack_dict(full)
    assert (values["trade_symbol"], values["symbol_id"]) == (symbol, spec.symbol_id)
    assert values["digits"] == spec.digits
    assert values["trade_tick_size"] == spec.tick_size and values["point"] == spec.point
    trade = LAYOUTS["TradeSettings"].unpack_dict(values["trade"])
    assert trade["symbol_path"] == spec.path
    assert trade["volume_min"] == round(spec.volume_min * 1e8) and trade["trade_exemode"] == spec.exec_mode
    assert struct.unpack("<8d", trade["margin_rates_initial"]) == spec.margin_rates_initial
    sessions = np.frombuffer(values["schedule"], dtype="<u2").reshape(2, 7, 16, 2)
    for day in range(7):
        slots = [tuple(s) for s in sessions[1, day].tolist() if s != [0, 0]]
        assert slots == [tuple(s) for s in spec.trade_sessions[day] if s != (0, 0)]
    short = LAYOUTS["SymbolShort"].pack_dict(spec.symbol_short_values())
    assert len(short) == 526
    assert LAYOUTS["SymbolShort"].unpack_dict(short)["symbol_path"] == spec.path


def test_trading_follows_the_sessions_in_server_time() -> None:
    us500, btc = CATALOGUE["US500"], CATALOGUE["BTCUSD"]
    monday_ms = MONDAY * 1000
    assert us500.is_trading(monday_ms + 21 * 3_600_000) and not us500.is_trading(monday_ms + 22 * 3_600_000)
    assert not us500.is_trading(SATURDAY * 1000) and btc.is_trading(SATURDAY * 1000)
    aapl = CATALOGUE["AAPL.NAS"]
    assert aapl.is_quoting(monday_ms + 10 * 3_600_000) and not aapl.is_trading(monday_ms + 10 * 3_600_000)
    assert CATALOGUE.server_time_ms(monday_ms) == monday_ms


CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD"]


@pytest.mark.parametrize("currency", CURRENCIES)
def test_every_currency_converts_to_every_other(model: PriceModel, currency: str) -> None:
    t_ms = (MONDAY + 12 * 3_600) * 1000
    for other in CURRENCIES:
        there = model.conversion_rate(currency, other, t_ms)
        back = model.conversion_rate(other, currency, t_ms)
        assert there > 0 and there * back == pytest.approx(1.0)
    assert model.conversion_rate(currency, currency, t_ms) == 1.0


def test_cross_symbols_say_whether_to_divide() -> None:
    assert CATALOGUE.cross_symbol("EUR", "USD") == (CATALOGUE["EURUSD"], False)
    assert CATALOGUE.cross_symbol("JPY", "USD") == (CATALOGUE["USDJPY"], True)
    assert CATALOGUE.cross_symbol("CAD", "NZD") is None
    assert len(CATALOGUE.conversion_path("CAD", "NZD")) == 2
    assert CATALOGUE.conversion_rate("EUR", "JPY", lambda spec: {"EURJPY": 160.0}[spec.name]) == 160.0
    with pytest.raises(KeyError):
        CATALOGUE.conversion_path("USD", "XAU")


def test_week_tables_reject_bad_input() -> None:
    assert parse_week({"Sat-Sun": "00:00-24:00"})[0] == ((0, 1440),)
    with pytest.raises(ValueError, match="day"):
        parse_week({"Mon-Funday": "00:00-24:00"})
    with pytest.raises(ValueError, match="outside"):
        parse_week({"Mon": "00:00-25:00"})
