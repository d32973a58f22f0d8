"""The ``backtrader`` workload: the adapter's live M1 feed through a fault, checked bar by bar.

The feed runs as in Cerebro: an :class:`~pymt5_backtrader.store.MT5Store` with its own loop thread and
client, and the feed's loop-side pump putting ``("bar", open, o, h, l, c, volume, backfill)`` items on
the queue ``MT5Data._load`` reads. The harness moves the simulator's clock in 5-second steps, arms the
fault mid-stream, and at the end compares the bars the feed delivered with the server's bars of the
same span: the same open times, once each, with the same prices.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from typing import TYPE_CHECKING, Any

from pymt5_core.errors import MT5Error
from pymt5_core.events import ConnectionState
from pymt5_core.wire.enums import Command
from tests.reliability.fault_harness import CALL_LIMIT, CLIENT_TIMEOUT

if TYPE_CHECKING:
    from tests.reliability.fault_harness import _Run

__all__ = ["run_feed"]

_STEP_MS = 5000
_STEPS_AFTER_FAULT = 30


async def run_feed(run: _Run) -> None:
    from pymt5_backtrader import parsing
    from pymt5_backtrader.store import FeedSpec, MT5Store

    sim, fault = run.sim, run.scenario.fault
    store = MT5Store(url=sim.url, login=run.login, password=run.password, timeout=CLIENT_TIMEOUT,
                     client_factory=lambda url, **kwargs: run.new_client(**kwargs))
    await asyncio.to_thread(store.start)
    store.client.on(ConnectionState, run._on_state)
    spec = FeedSpec("EURUSD", "M1", ticks=False, historical=False, start=None, end=None, count=5, after=None,
                    bar_source="ticks", first_tick_wait=CLIENT_TIMEOUT)
    out: queue.Queue[tuple[Any, ...]] = await asyncio.to_thread(store.subscribe, spec)
    items: list[tuple[Any, ...]] = []

    async def barrier() -> None:
        """A ping on the store's loop: the client has handled every frame sent before it (or reconnected)."""
        with contextlib.suppress(MT5Error):  # the fault struck this ping; the next step tries again
            await asyncio.to_thread(store.run, store.client.session.request(Command.PING), CALL_LIMIT)

    try:
        after = int(fault.args["after_steps"])
        for step in range(after + _STEPS_AFTER_FAULT):
            await sim.advance(_STEP_MS)
            await barrier()
            if step == after:
                run.arm(fault)
        sim.faults.reset()
        await run.call("store reconnected", asyncio.to_thread(
            store.run, store.client.session.wait_ready(CALL_LIMIT / 2), CALL_LIMIT))
        for _ in range(3):  # ticks after the reconnect: the feed re-syncs and closes the bars
            await sim.advance(_STEP_MS)
            await barrier()
        now_s = sim.clock.now_ms() // 1000
        last = parsing.bar_open_of(now_s - 2 * _STEP_MS // 1000, "M1") - 60
        items += await _until_bar(out, last)
        bars = [i for i in items if i[0] == "bar"]
        ended = [i for i in items if i[0] in ("error", "end")]
        if ended:
            run.fail(f"the feed ended: {ended[0]}")
        if not bars:
            run.fail("the feed delivered no bar")
            return
        ok, server = await run.call("server bars", asyncio.to_thread(
            store.run, store.client.bars("EURUSD", "M1", bars[0][1], last), CALL_LIMIT))
        if not ok:
            run.fail(f"could not download the server's bars to compare: {server!r}")
            return
        delivered = [b[1] for b in bars if b[1] <= last]
        expected = [int(t) for t in server["time"]]
        if delivered != expected:
            twice = sorted({t for t in delivered if delivered.count(t) > 1})
            missing = sorted(set(expected) - set(delivered))
            run.fail(f"feed bars != server bars: duplicates {twice[:5]}, missing {missing[:5]}, "
                     f"delivered {len(delivered)} vs {len(expected)}")
            return
        run.outcome.feed_bars = len(delivered)
        prices = {int(r["time"]): (float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]))
                  for r in server}
        wrong = [b[1] for b in bars if b[1] <= last and tuple(b[2:6]) != prices[b[1]]]
        if wrong:
            run.fail(f"{len(wrong)} feed bars have other prices than the server's, first at {wrong[0]}")
    finally:
        await asyncio.to_thread(store.unsubscribe, out)
        await asyncio.to_thread(store.stop)


async def _until_bar(out: queue.Queue[tuple[Any, ...]], last: int) -> list[tuple[Any, ...]]:
    """Everything the feed puts on ``out`` until the bar opening at ``last`` (bounded wait)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CALL_LIMIT
    items = drain(out)
    while not any(i[0] == "bar" and i[1] >= last for i in items):
        remaining = deadline - loop.time()
        if remaining <= 0 or any(i[0] in ("error", "end") for i in items):
            break
        try:
            items.append(await asyncio.to_thread(out.get, True, min(remaining, 0.5)))
        except queue.Empty:
            continue
    return items


def drain(q: queue.Queue[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Everything queued on ``q`` right now."""
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
