"""The feed's backfill → live seam and reconnect gap, with a scripted in-memory client (no network).

The fake client implements the part of the public client API the feed uses; the tests push ticks and a
disconnect, and check the bars the feed puts on its queue: contiguous, never twice, never the forming one.
"""

from __future__ import annotations

import asyncio
import queue
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pymt5_backtrader.store import FeedSpec, MT5Store

T0 = 1_773_655_200  # 2026-03-16 10:00 UTC, a Monday
RATES = np.dtype([("time", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"), ("close", "<f8"),
                  ("tick_volume", "<u8"), ("spread", "<i4"), ("real_volume", "<u8")])


class FakeClient:
    """Server bars: one M1 bar per minute from T0 - 60 min; ticks come from ``self.ticks_in``."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.ticks_in: asyncio.Queue[Any] = asyncio.Queue()
        self.callbacks: dict[type, list[Any]] = {}
        self.server_now = T0
        self.bars_calls: list[tuple[Any, Any, Any]] = []
        self.bars_errors: list[Exception] = []  # raised by the next bars() calls, one each

    def on(self, event_type: type, callback: Any) -> Any:
        self.callbacks.setdefault(event_type, []).append(callback)
        return lambda: None

    async def login(self, login: int, password: str, *, otp: str | None = None) -> Any:
        return SimpleNamespace(margin_mode=2, margin_free=1000.0, equity=1000.0, leverage=100)

    async def close(self) -> None:
        pass

    async def symbol(self, name: str) -> Any:
        from pymt5_core.errors import InvalidRequest

        if name != "EURUSD":
            raise InvalidRequest(f"unknown symbol {name}")
        return SimpleNamespace(name=name, chart_mode=0, time_msc=T0 * 1000)

    async def bars(self, symbol: str, timeframe: str, start: Any = None, end: Any = None, *,
                   count: int | None = None) -> np.ndarray:
        self.bars_calls.append((start, end, count))
        if self.bars_errors:
            raise self.bars_errors.pop(0)
        opens = np.arange(T0 - 3600, self.server_now + 1, 60)
        out = np.zeros(len(opens), RATES)
        out["time"] = opens
        out["open"] = out["high"] = out["low"] = out["close"] = 1.0 + (opens - T0) / 1e6
        out["tick_volume"] = 7
        if start is not None:
            out = out[out["time"] >= int(start.timestamp())]
        if end is not None:
            out = out[out["time"] <= int(end.timestamp())]
        return out[-count:] if count else out

    async def ticks(self, symbols: list[str]):
        while True:
            item = await self.ticks_in.get()
            if isinstance(item, Exception):
                raise item
            yield item


def tick(t: float, bid: float = 1.0) -> Any:
    return SimpleNamespace(symbol="EURUSD", time_msc=int(t * 1000), bid=bid, ask=bid + 1e-4, last=0.0, volume=0)


@pytest.fixture
def store():
    made: list[FakeClient] = []

    def factory(url: str, **kwargs: Any) -> FakeClient:
        made.append(FakeClient(url, **kwargs))
        return made[-1]

    st = MT5Store(url=f"fake://{id(made)}", login=1, password="x", client_factory=factory, timeout=5)
    st.start()
    st.fake = made[0]
    yield st
    st.stop()


def push(store: MT5Store, *items: Any) -> None:
    async def put() -> None:
        for item in items:
            if isinstance(item, tuple):  # ("down",) / ("up",): connection state reaches the feed
                for pump in store._pumps.values():
                    pump.inbox.put_nowait(item)
                store._connected.clear() if item[0] == "down" else store._connected.set()
            else:
                store.fake.server_now = int(item.time_msc // 1000) if not isinstance(item, Exception) else \
                    store.fake.server_now
                store.fake.ticks_in.put_nowait(item)
        await asyncio.sleep(0.05)  # let the pump drain its inbox on the store loop

    store.run(put())


def drain(q: queue.Queue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def spec(**kwargs: Any) -> FeedSpec:
    base = {"ticks": False, "historical": False, "start": None, "end": None, "count": 5, "after": None,
            "bar_source": "ticks", "first_tick_wait": 2.0}
    base.update(kwargs)
    return FeedSpec("EURUSD", "M1", **base)


def bars(items: list[Any]) -> list[int]:
    return [i[1] for i in items if i[0] == "bar"]


def test_backfill_stops_before_the_forming_bar_and_live_bars_follow(store):
    q = store.subscribe(spec())
    push(store, tick(T0 + 30))  # server time 10:00:30: the 10:00 bar is forming
    items = drain(q)
    assert bars(items) == [T0 - 300, T0 - 240, T0 - 180, T0 - 120, T0 - 60]
    assert ("status", "LIVE") in items
    push(store, tick(T0 + 50, 1.1), tick(T0 + 61, 1.2))  # 10:00 closes: fetched whole from the server
    push(store, tick(T0 + 70, 1.3), tick(T0 + 100, 1.25), tick(T0 + 121, 1.0))  # 10:01 built from ticks
    items = drain(q)
    assert bars(items) == [T0, T0 + 60]
    built = [i for i in items if i[0] == "bar"][-1]
    assert built[2:7] == (1.2, 1.3, 1.2, 1.25, 3)  # open, high, low, close, tick count


def test_reconnect_backfills_the_gap_without_duplicates(store):
    q = store.subscribe(spec())
    push(store, tick(T0 + 30), tick(T0 + 61), tick(T0 + 125))
    first = bars(drain(q))
    from pymt5_core.errors import ConnectionLost

    push(store, ConnectionLost(), ("down",))
    push(store, ("up",), tick(T0 + 601))  # back at 10:10:01: 10:02 .. 10:09 are missing
    items = drain(q)
    assert ("status", "CONNBROKEN") in items
    after = bars(items)
    assert after == list(range(T0 + 120, T0 + 600, 60))
    push(store, tick(T0 + 661))  # the bar forming at the reconnect is fetched once final
    final = first + after + bars(drain(q))
    assert final == sorted(set(final))
    assert final[-1] == T0 + 600
    assert np.all(np.diff(final) == 60)


def test_historical_mode_delivers_the_download_then_ends(store):
    q = store.subscribe(spec(historical=True, start=T0 - 600, end=T0 - 300, count=None))
    store.run(asyncio.sleep(0.05))
    items = drain(q)
    assert bars(items) == list(range(T0 - 600, T0 - 299, 60))
    assert items[-1] == ("end",)


def test_unknown_symbol_reports_notsubscribed(store):
    q = store.subscribe(FeedSpec("NOPE", "M1", ticks=False, historical=False, start=None, end=None, count=5,
                                 after=None, bar_source="ticks", first_tick_wait=1.0))
    store.run(asyncio.sleep(0.05))
    assert drain(q)[0][:2] == ("status", "NOTSUBSCRIBED")


def test_download_lost_with_the_link_does_not_end_the_feed(store):
    from pymt5_core.errors import ConnectionLost

    q = store.subscribe(spec())
    push(store, tick(T0 + 30))
    first = bars(drain(q))
    store.fake.bars_errors.append(ConnectionLost("link lost during the download"))
    push(store, tick(T0 + 61))  # the 10:00 bar is fetched from the server: that download fails
    items = drain(q)
    assert ("status", "CONNBROKEN") in items and not [i for i in items if i[0] in ("error", "end")]
    push(store, tick(T0 + 125))  # the next tick re-syncs from the last bar delivered
    final = first + bars(items) + bars(drain(q))
    assert final == list(range(T0 - 300, T0 + 120, 60))
