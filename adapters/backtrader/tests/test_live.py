"""A real Cerebro against the simulator over loopback (fast virtual clock)."""

from __future__ import annotations

import datetime as dt
import itertools

import backtrader as bt
import pytest
from pymt5_backtrader import MT5Store, parsing


def deals_of(sim, login):
    from pymt5_core.models import Deal

    deals, _ = sim.on_loop(sim.sim.engine.history, login, 0, 0)
    return [Deal.from_wire(d) for d in deals if d["trade_symbol"]]


def history_orders_of(sim, login):
    from pymt5_core.models import Order

    _, orders = sim.on_loop(sim.sim.engine.history, login, 0, 0)
    return [Order.from_wire(o) for o in orders]


def new_store(sim, login=None, password=None) -> MT5Store:
    account = sim.sim.demo_account
    return MT5Store(url=sim.sim.url, login=login or account.login, password=password or account.password)


class SmaCross(bt.Strategy):
    """An ordinary SMA crossover, unaware of MT5: it only uses the standard Backtrader API."""

    params = (("fast", 2), ("slow", 5), ("stake", 0.1), ("live_bars", 25))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.trades: list[bt.Trade] = []
        self.completed: list[bt.Order] = []
        self.live = 0
        self.closing = None

    def notify_data(self, data, status, *args, **kwargs):
        self.is_live = status == data.LIVE

    def notify_trade(self, trade):
        if trade.isclosed:
            self.trades.append(trade)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.completed.append(order)
            if order is self.closing or (self.closing is not None and order.ref == self.closing.ref):
                self.env.runstop()

    def next(self):
        if not getattr(self, "is_live", False) or self.closing is not None:
            return
        self.live += 1
        if self.live >= self.p.live_bars:
            self.closing = self.close() or self.env.runstop()
        elif self.cross > 0:
            self.order_target_size(target=self.p.stake)
        elif self.cross < 0:
            self.order_target_size(target=-self.p.stake)


def test_sma_cross_trades_live_and_matches_simulator_history(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.setbroker(store.getbroker())
    cerebro.adddata(store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, compression=1,
                                  backfill_bars=10, qcheck=0.2))
    cerebro.addstrategy(SmaCross)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="ta")
    strat = cerebro.run()[0]
    login = sim.sim.demo_account.login

    deals = deals_of(sim, login)
    assert strat.trades, "the crossover should have traded"
    assert len(deals) == sum(len(o.executed.exbits) for o in strat.completed)
    assert sum(t.pnl for t in strat.trades) == pytest.approx(sum(d.profit for d in deals), abs=1e-6)
    assert sum(t.commission for t in strat.trades) == pytest.approx(-sum(d.commission for d in deals), abs=1e-6)
    prices = sorted(round(b.price, 6) for o in strat.completed for b in o.executed.exbits)
    assert prices == sorted(round(d.price, 6) for d in deals)
    assert not sim.on_loop(sim.sim.engine.positions, login)
    broker = cerebro.getbroker()
    assert broker.getvalue() == pytest.approx(sim.on_loop(sim.sim.engine.equity, login), abs=1e-6)
    assert broker.getcash() == pytest.approx(sim.on_loop(sim.sim.engine.free_margin, login), abs=1e-6)
    assert broker.getposition(cerebro.datas[0]).size == 0


def test_historical_mode_yields_exactly_the_client_bars(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)
    start = dt.datetime(2027, 3, 15, 8, 0)
    end = dt.datetime(2027, 3, 15, 9, 30)
    data = store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, compression=5, historical=True,
                         fromdate=start, todate=end)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(data)
    cerebro.addstrategy(scripted)
    strat = cerebro.run()[0]

    store.start()
    try:
        rates = store.run(store.client.bars("EURUSD", "M5", start.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)))
    finally:
        store.stop()
    assert len(rates) == 19
    expected = [(parsing.bar_stamp(int(r["time"]), "M5"), float(r["close"])) for r in rates]
    assert strat.bars == expected


def test_bracket_attaches_sl_tp_and_cancels_the_sibling(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)

    def script(s, n):
        if n == 1:
            price = s.data.close[0]
            parent, stop, limit = s.buy_bracket(size=0.1, exectype=bt.Order.Market, stopprice=price - 0.0004,
                                                limitprice=price + 0.0004)
            s.state["refs"] = (parent.ref, stop.ref, limit.ref)
        elif "refs" in s.state:
            finals = [s.statuses_of(r)[-1] for r in s.state["refs"][1:]]
            if "Completed" in finals and "Canceled" in finals:
                s.finished = True
            if n == 2:
                s.state["positions"] = sim.on_loop(sim.sim.engine.positions, sim.sim.demo_account.login)

    _, strat = run(store, {"script": script, "max_live": 60})
    parent, stop, limit = strat.state["refs"]
    assert strat.statuses_of(parent)[-1] == "Completed"
    assert sorted([strat.statuses_of(stop)[-1], strat.statuses_of(limit)[-1]]) == ["Canceled", "Completed"]
    (pos,) = strat.state["positions"]
    assert pos["sl"] > 0 and pos["tp"] > 0  # the server protects the position
    assert len(strat.trades) == 1


def test_oco_pending_orders_cancel_each_other(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)

    def script(s, n):
        if n == 1:
            price = s.data.close[0]
            a = s.buy(size=0.1, exectype=bt.Order.Stop, price=price + 0.0003)
            b = s.sell(size=0.1, exectype=bt.Order.Stop, price=price - 0.0003, oco=a)
            s.state["refs"] = (a.ref, b.ref)
        elif "refs" in s.state:
            finals = sorted(s.statuses_of(r)[-1] for r in s.state["refs"])
            if finals == ["Canceled", "Completed"]:
                s.close()
                s.finished = True

    _, strat = run(store, {"script": script, "max_live": 60})
    a, b = strat.state["refs"]
    assert sorted([strat.statuses_of(a)[-1], strat.statuses_of(b)[-1]]) == ["Canceled", "Completed"]
    states = sorted(o.state for o in history_orders_of(sim, sim.sim.demo_account.login) if o.type in (4, 5))
    assert states == [2, 4]  # one canceled, one filled, on the server too


def test_pending_order_expires(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)

    def script(s, n):
        if n == 1:
            order = s.buy(size=0.1, exectype=bt.Order.Limit, price=s.data.close[0] - 0.01,
                          valid=dt.timedelta(minutes=3))
            s.state["ref"] = order.ref
        elif "ref" in s.state and s.statuses_of(s.state["ref"])[-1] == "Expired":
            s.finished = True

    _, strat = run(store, {"script": script, "max_live": 30})
    assert strat.statuses_of(strat.state["ref"]) == ["Submitted", "Accepted", "Expired"]
    (order,) = history_orders_of(sim, sim.sim.demo_account.login)
    assert order.state == 6


def test_order_without_money_gets_margin_status(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)

    def script(s, n):
        if n == 1:
            s.state["ref"] = s.buy(size=90).ref  # 9 million EUR on a 10k account at 1:100
        elif s.statuses_of(s.state["ref"])[-1] in ("Margin", "Rejected"):
            s.finished = True

    _, strat = run(store, {"script": script, "max_live": 20})
    assert strat.statuses_of(strat.state["ref"]) == ["Submitted", "Margin"]
    assert "order rejected" in strat.store_msgs
    assert not deals_of(sim, sim.sim.demo_account.login)


def test_existing_positions_are_loaded_at_start(make_sim, run, scripted):
    sim = make_sim()
    account = sim.sim.demo_account
    setup = MT5Store(url=sim.sim.url, login=account.login, password=account.password, timeout=10)
    setup.start()
    try:
        setup.run(setup.client.buy("EURUSD", 0.2))
        setup.run(setup.client.buy("EURUSD", 0.1))  # two MT5 positions, one Backtrader position of 0.3
    finally:
        setup.stop()

    def script(s, n):
        s.state.setdefault("initial", s.position.size)
        s.state["size"] = s.position.size
        if n == 1:
            s.close()
        elif not s.position:
            s.finished = True

    _, strat = run(setup, {"script": script, "max_live": 20})
    assert strat.state["initial"] == pytest.approx(0.3)
    assert strat.state["size"] == 0
    assert not sim.on_loop(sim.sim.engine.positions, account.login)


def test_store_is_keyed_by_url_and_login(make_sim, run, scripted):
    sim = make_sim()
    a = MT5Store(url=sim.sim.url, login=1, password="x")
    assert MT5Store(url=sim.sim.url, login=1, password="x") is a
    assert MT5Store(url=sim.sim.url, login=2, password="x") is not a
    assert "x" not in repr(a)


def test_unknown_symbol_is_not_subscribed(make_sim, run, scripted):
    sim = make_sim()
    _, strat = run(new_store(sim), {}, data_kwargs={"dataname": "NOPE"})
    assert strat.statuses == ["NOTSUBSCRIBED"]


def test_dropped_connection_loses_no_bar_and_duplicates_no_order(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)
    faults = sim.sim.faults

    def script(s, n):
        if n == 2:
            sim.on_loop(faults.drop_after_frames, 3)  # a passive drop while streaming
        if n == 6:
            sim.on_loop(faults.drop_at_command, 12, "after")  # the next trade request executes, its answer is lost
            s.state["buy"] = s.buy(size=0.1).ref
        if n >= 8 and "buy" in s.state and s.last_status(s.state["buy"]) == "Completed" and "close" not in s.state:
            s.state["close"] = s.close().ref
        if "close" in s.state and s.last_status(s.state["close"]) == "Completed" and n >= 12:
            s.finished = True

    _, strat = run(store, {"script": script, "max_live": 40})
    assert strat.statuses.count("CONNBROKEN") == 2 and strat.statuses[-1] == "LIVE"
    assert "connection lost" in strat.store_msgs and "reconnected" in strat.store_msgs
    stamps = [t for t, _ in strat.bars]
    assert all(b - a == dt.timedelta(minutes=1) for a, b in itertools.pairwise(stamps)), stamps
    # the bars are the server's bars, none missing, none twice
    store.start()
    try:
        first, last = stamps[0] - dt.timedelta(minutes=1), stamps[-1] - dt.timedelta(minutes=1)
        rates = store.run(store.client.bars("EURUSD", "M1", first.replace(tzinfo=dt.UTC), last.replace(tzinfo=dt.UTC)))
    finally:
        store.stop()
    assert [parsing.bar_stamp(int(r["time"]), "M1") for r in rates] == stamps
    # one buy and one close reached the server, each exactly once
    assert strat.statuses_of(strat.state["buy"]) == ["Submitted", "Accepted", "Completed"]
    assert strat.statuses_of(strat.state["close"]) == ["Submitted", "Accepted", "Completed"]
    assert len(deals_of(sim, sim.sim.demo_account.login)) == 2
    assert len(strat.trades) == 1


def test_exchange_order_fills_level_by_level_as_partials(make_sim, run, scripted):
    from pymt5_core.sim.accounts import AccountConfig

    sim = make_sim(accounts=[AccountConfig(7000001, "Rich1234!", name="Rich", balance=5_000_000.0)])
    store = new_store(sim)

    def script(s, n):
        if n == 1:
            s.state["ref"] = s.buy(size=60).ref  # more than the best level of the ESZ7 book
        elif s.last_status(s.state["ref"]) == "Completed" and "close" not in s.state:
            s.state["close"] = s.close().ref
        elif "close" in s.state and s.last_status(s.state["close"]) == "Completed":
            s.finished = True

    _, strat = run(store, {"script": script, "max_live": 30}, data_kwargs={"dataname": "ESZ7"})
    statuses = strat.statuses_of(strat.state["ref"])
    buy_deals = [d for d in deals_of(sim, sim.sim.demo_account.login) if d.entry == 0]
    assert len(buy_deals) > 1, "the book should have filled the order over several levels"
    assert statuses == ["Submitted", "Accepted"] + ["Partial"] * (len(buy_deals) - 1) + ["Completed"]
    fills = [(size, price) for ref, st, size, price in strat.orders if ref == strat.state["ref"] and st != "Submitted"]
    assert fills[-1][0] == 60
    assert fills[-1][1] == pytest.approx(sum(d.price * d.volume for d in buy_deals) / 60)
    deals = deals_of(sim, sim.sim.demo_account.login)
    assert sum(t.pnl for t in strat.trades) == pytest.approx(sum(d.profit for d in deals), abs=1e-6), (
        [(d.entry, d.volume, d.price, d.profit) for d in deals])


def test_netting_account_reversal_and_cross_currency_profit(make_sim, run, scripted):
    sim = make_sim()
    store = MT5Store(url=sim.sim.url, login=5000002, password="Netting1234!")  # EUR, netting

    def script(s, n):
        if n == 1:
            s.state["refs"] = [s.buy(size=0.1).ref]
        elif n == 3:
            s.state["refs"].append(s.sell(size=0.3).ref)  # reverses: one in/out deal
        elif n == 5:
            s.state["refs"].append(s.close().ref)
        elif n > 5 and s.last_status(s.state["refs"][-1]) == "Completed":
            s.finished = True

    cerebro, strat = run(store, {"script": script, "max_live": 30})
    assert [strat.last_status(r) for r in strat.state["refs"]] == ["Completed"] * 3
    deals = deals_of(sim, 5000002)
    assert [d.entry for d in deals] == [0, 2, 1]
    assert len(strat.trades) == 2
    assert sum(t.pnl for t in strat.trades) == pytest.approx(sum(d.profit for d in deals), abs=1e-9)
    assert cerebro.getbroker().getvalue() == pytest.approx(sim.on_loop(sim.sim.engine.equity, 5000002), abs=1e-6)


def test_invalid_volume_and_unsupported_order_type_are_rejected_locally(make_sim, run, scripted):
    sim = make_sim()

    def script(s, n):
        if n == 1:
            s.state["refs"] = [s.buy(size=0.015).ref, s.sell(size=0.1, exectype=bt.Order.StopTrail,
                                                             trailamount=0.001).ref]
        else:
            s.finished = True

    _, strat = run(new_store(sim), {"script": script, "max_live": 5})
    assert [strat.statuses_of(r) for r in strat.state["refs"]] == [["Submitted", "Rejected"]] * 2
    assert strat.store_msgs.count("order rejected") == 2
    assert not history_orders_of(sim, sim.sim.demo_account.login)


def test_tick_feed_resamples_into_bars(make_sim, run, scripted):
    sim = make_sim()
    store = new_store(sim)
    cerebro = bt.Cerebro(stdstats=False)
    data = store.getdata(dataname="EURUSD", use_ticks=True, timeframe=bt.TimeFrame.Ticks, qcheck=0.1)
    cerebro.resampledata(data, timeframe=bt.TimeFrame.Minutes, compression=1)
    cerebro.addstrategy(scripted, max_live=4)
    strat = cerebro.run()[0]
    stamps = [t for t, _ in strat.bars]
    assert len(stamps) >= 4 and all(t.second == 0 for t in stamps)
    assert stamps == sorted(set(stamps))


def test_demo_section_runs_a_short_live_session(make_sim):
    import io

    from pymt5_backtrader.demo import demo_section

    sim = make_sim()
    out = io.StringIO()
    result = demo_section(sim.sim.url, sim.sim.demo_account.login, sim.sim.demo_account.password, bars=4, out=out)
    assert result["trades"] >= 1
    assert "trade closed" in out.getvalue()
    assert result["value"] == pytest.approx(sim.on_loop(sim.sim.engine.equity, sim.sim.demo_account.login))


def test_cancel_of_a_day_order_is_confirmed_by_the_server(make_sim, run, scripted):
    sim = make_sim()

    def script(s, n):
        if n == 1:
            s.state["order"] = s.sell(size=0.1, exectype=bt.Order.Limit, price=s.data.close[0] + 0.01,
                                      valid=bt.Order.DAY)
        elif s.last_status(s.state["order"].ref) == "Accepted" and "cancel" not in s.state:
            s.state["cancel"] = True
            s.cancel(s.state["order"])
        elif s.last_status(s.state["order"].ref) == "Canceled":
            s.finished = True

    _, strat = run(new_store(sim), {"script": script, "max_live": 20})
    assert strat.statuses_of(strat.state["order"].ref) == ["Submitted", "Accepted", "Canceled"]
    (order,) = history_orders_of(sim, sim.sim.demo_account.login)
    assert (order.state, order.type_time, order.type) == (2, 1, 3)  # canceled, DAY, SELL_LIMIT


def test_pending_orders_found_at_start_become_backtrader_orders(make_sim, run, scripted):
    sim = make_sim()
    account = sim.sim.demo_account
    setup = MT5Store(url=sim.sim.url, login=account.login, password=account.password)
    setup.start()
    try:
        setup.run(setup.client.buy_limit("EURUSD", 0.2, 1.0))
    finally:
        setup.stop()
    found = []

    def script(s, n):
        found.extend(o for o in s.broker._orders.values())
        s.cancel(found[0].order)
        s.finished = True

    _, strat = run(setup, {"script": script, "max_live": 10})
    assert [(t.order.size, t.order.created.price) for t in found] == [(0.2, 1.0)]
    ref = found[0].order.ref
    assert strat.statuses_of(ref)[0] == "Accepted"


def test_backfill_from_a_local_feed_resumes_after_its_last_bar(make_sim, run, scripted):
    import pandas as pd

    sim = make_sim()
    store = new_store(sim)
    store.start()
    try:
        end = dt.datetime(2027, 3, 15, 9, 0, tzinfo=dt.UTC)
        rates = store.run(store.client.bars("EURUSD", "M1", end - dt.timedelta(minutes=30), end))
    finally:
        store.stop()
    frame = pd.DataFrame({k: rates[k] for k in ("open", "high", "low", "close")})
    frame["volume"] = rates["tick_volume"]
    frame.index = pd.to_datetime(rates["time"] + 60, unit="s")  # bar-end stamps, as the adapter's
    local = bt.feeds.PandasData(dataname=frame, timeframe=bt.TimeFrame.Minutes)
    _, strat = run(store, {"max_live": 3}, data_kwargs={"backfill_from": local})
    stamps = [t for t, _ in strat.bars]
    assert stamps[:31] == list(frame.index.to_pydatetime())
    assert all(b - a == dt.timedelta(minutes=1) for a, b in itertools.pairwise(stamps))


def test_netting_bracket_on_an_open_position_is_emulated_as_oco(make_sim, run, scripted):
    from pymt5_core.sim.accounts import AccountConfig

    sim = make_sim(accounts=[AccountConfig(7000002, "Net1234!", name="Net", margin_mode=0)])
    store = MT5Store(url=sim.sim.url, login=7000002, password="Net1234!")

    def script(s, n):
        if n == 1:
            s.buy(size=0.1)
        elif n == 3:
            price = s.data.close[0]
            orders = s.buy_bracket(size=0.1, exectype=bt.Order.Market, stopprice=price - 0.0004,
                                   limitprice=price + 0.0004)
            s.state["refs"] = [o.ref for o in orders]
        elif "refs" in s.state:
            finals = sorted(s.last_status(r) for r in s.state["refs"][1:])
            if finals == ["Canceled", "Completed"] and "close" not in s.state:
                s.state["close"] = s.close().ref
            elif "close" in s.state and s.last_status(s.state["close"]) == "Completed":
                s.finished = True

    _, strat = run(store, {"script": script, "max_live": 80})
    parent, stop, limit = strat.state["refs"]
    assert strat.last_status(parent) == "Completed"
    assert sorted([strat.last_status(stop), strat.last_status(limit)]) == ["Canceled", "Completed"]
    pending = [o for o in history_orders_of(sim, 7000002) if o.type in (3, 5)]  # the children, as real orders
    assert sorted(o.state for o in pending) == [2, 4]
    assert not sim.on_loop(sim.sim.engine.positions, 7000002)


@pytest.mark.parametrize("bar_source", ["ticks", "server"])
def test_live_bars_equal_the_server_history(make_sim, run, scripted, bar_source):
    sim = make_sim()
    store = new_store(sim)
    cerebro, _ = run(store, {"max_live": 6}, data_kwargs={"backfill_bars": 2, "bar_source": bar_source})
    d = cerebro.datas[0]
    got = [(d.num2date(d.datetime[-i]), d.open[-i], d.high[-i], d.low[-i], d.close[-i], d.volume[-i])
           for i in range(len(d) - 1, -1, -1)]
    store.start()
    try:
        first, last = (got[0][0] - dt.timedelta(minutes=1)), (got[-1][0] - dt.timedelta(minutes=1))
        rates = store.run(store.client.bars("EURUSD", "M1", first.replace(tzinfo=dt.UTC), last.replace(tzinfo=dt.UTC)))
    finally:
        store.stop()
    expected = [(parsing.bar_stamp(int(r["time"]), "M1"), float(r["open"]), float(r["high"]), float(r["low"]),
                 float(r["close"]), float(r["tick_volume"])) for r in rates]
    assert got == expected
