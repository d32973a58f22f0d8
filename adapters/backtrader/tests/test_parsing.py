"""Pure translation functions: timeframes, timestamps, validity, volumes, records."""

from __future__ import annotations

import calendar
import datetime as dt
from types import SimpleNamespace

import backtrader as bt
import pytest
import pytz
from pymt5_backtrader import parsing


def test_every_mt5_period_maps_from_a_backtrader_timeframe():
    names = {parsing.parse_timeframe(tf, c) for tf, c in parsing.MAP_TIMEFRAME}
    assert names == {"M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1"}
    assert parsing.parse_timeframe(bt.TimeFrame.Minutes, 1440) == "D1"


@pytest.mark.parametrize("tf,c", [(bt.TimeFrame.Minutes, 2), (bt.TimeFrame.Seconds, 1), (bt.TimeFrame.Days, 2),
                                  (bt.TimeFrame.Ticks, 1)])
def test_unsupported_timeframe_raises_a_clear_error(tf, c):
    with pytest.raises(ValueError, match="no MT5 period"):
        parsing.parse_timeframe(tf, c)


def epoch(*args: int) -> int:
    return calendar.timegm(dt.datetime(*args).timetuple())


def test_bar_open_alignment_for_each_period():
    t = epoch(2026, 3, 18, 13, 47, 12)  # a Wednesday
    assert parsing.bar_open_of(t, "M1") == epoch(2026, 3, 18, 13, 47)
    assert parsing.bar_open_of(t, "M15") == epoch(2026, 3, 18, 13, 45)
    assert parsing.bar_open_of(t, "H4") == epoch(2026, 3, 18, 12)
    assert parsing.bar_open_of(t, "D1") == epoch(2026, 3, 18)
    assert parsing.bar_open_of(t, "W1") == epoch(2026, 3, 15)  # Sunday
    assert parsing.bar_open_of(t, "MN1") == epoch(2026, 3, 1)
    assert parsing.next_bar_open(epoch(2026, 12, 1), "MN1") == epoch(2027, 1, 1)


def test_bars_are_stamped_with_their_end():
    assert parsing.bar_stamp(epoch(2026, 3, 18, 10), "M1") == dt.datetime(2026, 3, 18, 10, 1)
    assert parsing.bar_stamp(epoch(2026, 3, 18, 10), "M1", stamp_open=True) == dt.datetime(2026, 3, 18, 10)
    assert parsing.bar_stamp(epoch(2026, 3, 18), "D1") == dt.datetime(2026, 3, 18, 23, 59, 59, 999990)
    assert parsing.bar_stamp(epoch(2026, 3, 1), "MN1") == dt.datetime(2026, 3, 31, 23, 59, 59, 999990)


class _Data:
    _tz = pytz.timezone("Europe/Berlin")


def test_valid_maps_to_mt5_expiration_kinds():
    assert parsing.parse_valid(None, _Data()) == (parsing.ORDER_TIME_GTC, 0)
    assert parsing.parse_valid(0, _Data()) == (parsing.ORDER_TIME_DAY, 0)
    day = bt.date2num(dt.datetime(2026, 3, 18, 23, 59, 59, 9999))
    assert parsing.parse_valid(day, _Data()) == (parsing.ORDER_TIME_DAY, 0)
    local = bt.date2num(dt.datetime(2026, 3, 18, 12, 0))  # Berlin winter time = UTC+1
    assert parsing.parse_valid(local, _Data()) == (parsing.ORDER_TIME_SPECIFIED, epoch(2026, 3, 18, 11))


SYMBOL = SimpleNamespace(contract_size=100_000.0, volume_min=0.01, volume_max=100.0, volume_step=0.01)


def test_size_to_volume_in_lots_and_units():
    assert parsing.size_to_volume(0.1, SYMBOL, in_lots=True) == 0.1
    assert parsing.size_to_volume(-25_000, SYMBOL, in_lots=False) == 0.25
    assert parsing.volume_to_size(0.25, SYMBOL, in_lots=False) == 25_000


@pytest.mark.parametrize("size,msg", [(0.001, "below"), (1000, "above"), (0.015, "multiple")])
def test_size_to_volume_rejects_out_of_spec_volumes(size, msg):
    with pytest.raises(ValueError, match=msg):
        parsing.size_to_volume(size, SYMBOL, in_lots=True)


def test_parse_deal_and_order_read_client_models():
    deal = SimpleNamespace(ticket=7, order=5, position_id=5, symbol="EURUSD", type=1, entry=1, volume=0.1,
                           price=1.1, commission=-0.7, fee=0.0, swap=0.0, profit=12.5, time_msc=1_000, reason=0,
                           comment="bt3")
    d = parsing.parse_deal(deal)
    assert (d.ticket, d.is_buy, d.entry, d.profit, d.commission, d.comment) == (7, False, 1, 12.5, -0.7, "bt3")
    order = SimpleNamespace(ticket=5, symbol="EURUSD", type=2, state=1, volume_initial=0.1, volume_current=0.1,
                            price_open=1.05, sl=0.0, tp=0.0, position_id=0, type_time=0, time_expiration=0,
                            comment="bt3")
    o = parsing.parse_order(order)
    assert (o.ticket, o.type, o.state, o.price_open, o.comment) == (5, 2, 1, 1.05, "bt3")


def test_tick_price_uses_last_for_exchange_symbols():
    tick = SimpleNamespace(bid=1.0, ask=1.1, last=1.05, time_msc=5)
    assert parsing.tick_price(tick, use_last=False) == 1.0
    assert parsing.tick_price(tick, use_last=True) == 1.05
    assert parsing.tick_time_ms(tick) == 5


def test_round_money_rounds_half_away_from_zero_like_mt5():
    assert parsing.round_money(2.675, 2) == 2.68  # Python's round() gives 2.67
    assert parsing.round_money(-2.675, 2) == -2.68
    assert parsing.round_money(-28.333333, 2) == -28.33
