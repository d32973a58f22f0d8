"""Orders cancelled while their outcome is unknown (request lost with the connection) are settled by the server.

Each run cuts the connection at a trade request and refuses logins until the client has given up
settling the request itself (it waits ``2 x timeout`` for the reconnect), so the broker gets
``ConnectionLost(outcome_unknown=True)``. The strategy cancels the order on that notification, then
logins are allowed again and the broker's reconcile after the reconnect decides what the order became.
"""

from __future__ import annotations

import itertools

import backtrader as bt
import pytest
from pymt5_backtrader import MT5Store

FINAL = ("Completed", "Canceled", "Rejected", "Expired", "Margin")


def _engine_state(sim, login):
    """The account on the simulator: (trade deals, history orders, open orders, positions)."""
    from pymt5_core.models import Deal, Order, Position

    engine = sim.sim.engine
    deals, history = sim.on_loop(engine.history, login, 0, 0)
    return ([Deal.from_wire(d) for d in deals if d["trade_symbol"]], [Order.from_wire(o) for o in history],
            [Order.from_wire(o) for o in sim.on_loop(engine.orders, login)],
            [Position.from_wire(p) for p in sim.on_loop(engine.positions, login)])


@pytest.mark.parametrize(("kind", "when", "cut_fetch", "statuses"), [
    ("market", "unanswered", False, ["Submitted", "Accepted", "Completed"]),  # executed: the fill wins
    ("limit", "unanswered", False, ["Submitted", "Accepted", "Canceled"]),  # resting: cancelled on the server
    ("limit", "before", False, ["Submitted", "Canceled"]),  # never reached the server
    # the first reconcile's history is cut: the order stays unknown until the next reconcile finds its deal
    ("market", "unanswered", True, ["Submitted", "Accepted", "Completed"]),
], ids=["executed", "resting", "never-arrived", "executed-reconcile-cut"])
def test_cancel_while_the_outcome_is_unknown_waits_for_the_server(make_sim, run, kind, when, cut_fetch, statuses):
    sim = make_sim()
    account = sim.sim.demo_account
    faults = sim.sim.faults
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password, timeout=1.0,
                     client_kwargs={"reconnect_delays": lambda: itertools.repeat(0.05)})

    def script(s, n):
        if n == 2:
            def arm():
                faults.refuse_logins(2)
                faults.drop_at_command(12, when)

            sim.on_loop(arm)
            price = s.data.close[0] - 0.01 if kind == "limit" else None
            s.state["order"] = s.buy(size=0.1, exectype=bt.Order.Limit if kind == "limit" else bt.Order.Market,
                                     price=price)
        elif "order" in s.state and "reconnected" in s.store_msgs and s.last_status(s.state["order"].ref) in FINAL:
            s.finished = True

    def on_store(s, msg):
        if msg == "order outcome unknown" and "after cancel" not in s.state:
            s.cancel(s.state["order"])
            s.state["after cancel"] = s.state["order"].getstatusname()
            if cut_fetch:
                sim.on_loop(faults.drop_at_command, 5)  # the next history request (the reconcile's) is cut
            sim.on_loop(faults.allow_logins)

    cerebro, strat = run(store, {"script": script, "on_store": on_store, "max_live": 80})
    order = strat.state["order"]
    assert strat.state["after cancel"] == "Submitted"  # alive until the server's state is known
    assert strat.statuses_of(order.ref) == statuses
    assert "external deal" not in strat.store_msgs
    assert strat.store_msgs.count("reconnected") == 1 + cut_fetch
    deals, history, orders, positions = _engine_state(sim, account.login)
    assert orders == []  # nothing left resting on the server
    if kind == "market":
        assert len(deals) == 1 and [p.volume for p in positions] == [pytest.approx(0.1)]  # executed once
        assert order.executed.size == pytest.approx(0.1)
        assert cerebro.getbroker().getposition(cerebro.datas[0]).size == pytest.approx(0.1)
    elif when == "unanswered":
        assert [o.state for o in history] == [2]  # placed, then cancelled by the broker
    else:
        assert deals == history == positions == []


def test_an_order_that_never_reached_the_server_stays_submitted_and_cancels_at_once(make_sim, run):
    # the client reconnects at once, finds no trace of the request and reports it unknown; the broker then
    # fetches the server state itself (the reconnect's reconcile started before the order became unknown)
    sim = make_sim()
    account = sim.sim.demo_account
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password)

    def script(s, n):
        if n == 2:
            sim.on_loop(sim.sim.faults.drop_at_command, 12, "before")
            s.state["order"] = s.buy(size=0.1, exectype=bt.Order.Limit, price=s.data.close[0] - 0.01)
        elif "order" in s.state and s.last_status(s.state["order"].ref) in FINAL:
            s.finished = True

    def on_store(s, msg):
        if msg == "order not on the server":
            s.state["not found"] = s.state["order"].getstatusname()
            s.cancel(s.state["order"])
            s.state["after cancel"] = s.state["order"].getstatusname()

    _, strat = run(store, {"script": script, "on_store": on_store, "max_live": 40})
    assert (strat.state["not found"], strat.state["after cancel"]) == ("Submitted", "Canceled")
    assert strat.statuses_of(strat.state["order"].ref) == ["Submitted", "Canceled"]
    assert strat.store_msgs.index("order outcome unknown") < strat.store_msgs.index("order not on the server")
    assert _engine_state(sim, account.login) == ([], [], [], [])


@pytest.mark.parametrize("late", [False, True], ids=["result-withheld", "result-late"])
def test_a_trade_result_that_times_out_is_an_unknown_outcome_not_a_rejection(make_sim, run, late):
    # The simulator executes the market order but holds its answer, push 19 and deal pushes back past the
    # client's timeout, so order_send raises RequestTimeout. Withheld: they never come; the broker's
    # server-state fetch finds the deal. Late: they come after the timeout while every history request
    # times out, so only the late deal push can fill the order.
    sim = make_sim()
    account = sim.sim.demo_account
    faults = sim.sim.faults
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password, timeout=1.0)

    def script(s, n):
        if n == 2:
            def arm():
                faults.delay(12, 3.0 if late else 600.0, times=1)
                if late:
                    faults.delay(5, 600.0)

            sim.on_loop(arm)
            s.state["order"] = s.buy(size=0.1)
        elif "order" in s.state and s.last_status(s.state["order"].ref) in FINAL:
            s.finished = True

    def on_store(s, msg):
        if msg == "order outcome unknown":
            s.state["status when unknown"] = s.state["order"].getstatusname()

    cerebro, strat = run(store, {"script": script, "on_store": on_store, "max_live": 80})
    order = strat.state["order"]
    assert strat.statuses_of(order.ref) == ["Submitted", "Accepted", "Completed"]
    assert strat.state["status when unknown"] == "Submitted"
    assert "order rejected" not in strat.store_msgs and "external deal" not in strat.store_msgs
    assert ("request failed" in strat.store_msgs) == late  # late: the fetch timed out, the push filled it
    deals, _, orders, positions = _engine_state(sim, account.login)
    assert len(deals) == 1 and orders == [] and [p.volume for p in positions] == [pytest.approx(0.1)]
    assert order.executed.size == pytest.approx(0.1) and order.executed.price == pytest.approx(deals[0].price)
    assert cerebro.getbroker().getposition(cerebro.datas[0]).size == pytest.approx(0.1)
