"""Bad input to the Backtrader adapter.

Store, feed and broker parameters raise :class:`~pymt5_core.errors.InvalidRequest` when the object is
made, before anything connects. Bad orders follow Backtrader's semantics instead: the broker never
raises into the strategy; the order turns Rejected and an ``"order rejected"`` store notification carries
the reason and the MT5 return code, and no trade request reaches the server.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Any

import backtrader as bt
import pytest
from pymt5_backtrader import MT5Broker, MT5Data, MT5Store

from pymt5_core.errors import InvalidRequest
from pymt5_core.wire.enums import Command, Retcode

URL = "ws://127.0.0.1:9/terminal"  # nothing listens there: nothing may connect

STORES: list[tuple[str, dict[str, Any]]] = [
    ("url-http", {"url": "http://127.0.0.1/terminal"}),
    ("url-not-a-str", {"url": 5}),
    ("login-a-word", {"login": "abc"}),
    ("login-negative", {"login": -1}),
    ("password-not-a-str", {"password": 5}),
    ("otp-not-a-str", {"otp": 123456}),
    ("timeout-zero", {"timeout": 0}),
    ("client-kwargs-a-list", {"client_kwargs": ["verify_tls"]}),
    ("client-factory-not-callable", {"client_factory": 5}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in STORES], ids=[c[0] for c in STORES])
def test_store_refuses_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        MT5Store(**{"url": URL, "login": 1, "password": "x", **kwargs})


FEEDS: list[tuple[str, dict[str, Any]]] = [
    ("minutes-x2", {"timeframe": bt.TimeFrame.Minutes, "compression": 2}),
    ("seconds", {"timeframe": bt.TimeFrame.Seconds, "compression": 1}),
    ("dataname-not-a-str", {"dataname": 5}),
    ("dataname-empty", {"dataname": ""}),
    ("bar-source-unknown", {"bar_source": "bars"}),
    ("ticks-and-historical", {"use_ticks": True, "historical": True}),
    ("backfill-bars-zero", {"backfill_bars": 0}),
    ("backfill-bars-a-str", {"backfill_bars": "10"}),
    ("qcheck-zero", {"qcheck": 0}),
    ("first-tick-wait-negative", {"first_tick_wait": -1}),
    ("fromdate-a-str", {"fromdate": "2026-01-01"}),
    ("todate-before-fromdate", {"fromdate": dt.datetime(2026, 3, 2), "todate": dt.datetime(2026, 3, 1)}),
    ("no-store", {"store": None}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in FEEDS], ids=[c[0] for c in FEEDS])
def test_feed_refuses_bad_parameters(kwargs: dict[str, Any]) -> None:
    store = MT5Store(url=URL, login=1, password="x")
    with pytest.raises(InvalidRequest):
        MT5Data(**{"dataname": "EURUSD", "store": store, "timeframe": bt.TimeFrame.Minutes, **kwargs})


@pytest.mark.parametrize("kwargs", [{"deviation": -1}, {"filling": 9}, {"comment_prefix": 5}, {"store": None}],
                         ids=["deviation-negative", "filling-unknown", "comment-prefix-not-a-str", "no-store"])
def test_broker_refuses_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        MT5Broker(**{"store": MT5Store(url=URL, login=1, password="x"), **kwargs})


def _above(s: Any) -> float:
    return round(s.data.close[0] + 0.01, 5)


#: (id, strategy -> order, retcode in the rejection notice)
ORDERS: list[tuple[str, Any, int | None]] = [
    ("volume-off-step", lambda s: s.buy(size=0.015), Retcode.INVALID_VOLUME),
    ("volume-below-min", lambda s: s.buy(size=0.001), Retcode.INVALID_VOLUME),
    ("volume-above-max", lambda s: s.sell(size=1e6), Retcode.INVALID_VOLUME),
    ("volume-nan", lambda s: s.buy(size=math.nan), Retcode.INVALID_VOLUME),
    ("limit-price-nan", lambda s: s.buy(size=0.1, exectype=bt.Order.Limit, price=math.nan), Retcode.INVALID_PRICE),
    ("limit-price-negative", lambda s: s.buy(size=0.1, exectype=bt.Order.Limit, price=-1.0), Retcode.INVALID_PRICE),
    ("buy-limit-above-the-market", lambda s: s.buy(size=0.1, exectype=bt.Order.Limit, price=_above(s)),
     Retcode.INVALID_PRICE),
    ("bracket-stop-above-a-buy", lambda s: s.buy_bracket(size=0.1, exectype=bt.Order.Market,
                                                         stopprice=_above(s), limitprice=_above(s) + 0.01)[0],
     Retcode.INVALID_STOPS),
    ("valid-in-the-past", lambda s: s.buy(size=0.1, exectype=bt.Order.Limit, price=round(s.data.close[0] - 0.01, 5),
                                          valid=s.data.datetime.datetime(0) - dt.timedelta(days=1)),
     Retcode.INVALID_EXPIRATION),
    ("trailing-stop", lambda s: s.sell(size=0.1, exectype=bt.Order.StopTrail, trailamount=0.001), None),
]


def test_bad_orders_are_rejected_with_the_reason_and_never_sent(make_sim, scripted) -> None:
    sim = make_sim()
    notices: list[tuple[Any, ...]] = []

    class Recording(scripted):  # type: ignore[misc, valid-type]
        def notify_store(self, msg: str, *args: Any, **kwargs: Any) -> None:
            super().notify_store(msg, *args, **kwargs)
            if msg == "order rejected":
                notices.append((kwargs.get("ref"), kwargs.get("retcode"), args))

    def script(s: Any, n: int) -> None:
        if n == 1:
            s.state["refs"] = [make(s).ref for _, make, _ in ORDERS]
        elif n >= 3:
            s.finished = True

    account = sim.sim.demo_account
    store = MT5Store(url=sim.sim.url, login=account.login, password=account.password)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.setbroker(store.getbroker())
    cerebro.adddata(store.getdata(dataname="EURUSD", timeframe=bt.TimeFrame.Minutes, compression=1,
                                  backfill_bars=10, qcheck=0.2))
    strat = _run(cerebro, Recording, script)
    refs = strat.state["refs"]
    retcodes = {ref: retcode for ref, retcode, _ in notices}
    for (case, _, retcode), ref in zip(ORDERS, refs, strict=True):
        assert strat.last_status(ref) == "Rejected", (case, strat.statuses_of(ref))
        assert ref in retcodes, case
        assert retcodes[ref] == retcode, (case, retcodes[ref])
    assert sim.on_loop(lambda: sim.sim.received[Command.TRADE_REQUEST]) == 0


def _run(cerebro: bt.Cerebro, strategy: Any, script: Any) -> Any:
    """Run Cerebro with ``strategy``; a watchdog stops a run that would not end by itself."""
    cerebro.addstrategy(strategy, script=script, max_live=6)
    timer = threading.Timer(40.0, cerebro.runstop)
    timer.start()
    try:
        return cerebro.run()[0]
    finally:
        timer.cancel()
