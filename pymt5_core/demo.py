"""``pymt5 demo`` (what ``make demo`` runs): the main job, end to end, on the embedded simulator.

The tour is a list of sections, :data:`DEMO_SECTIONS`, run in order against one in-process
:class:`~pymt5_core.sim.SimServer` and one logged-in :class:`~pymt5_core.client.MT5Client`. Other packages
add their own with :func:`add_section`; the modules named in :data:`DEMO_PLUGINS` are imported when they
exist, so an adapter registers its section at import time::

    # pymt5_backtrader/demo.py
    from pymt5_core.demo import DemoContext, add_section

    def live_run(ctx: DemoContext) -> None:      # a plain function runs in a worker thread:
        ...                                      # it may block and open its own connection to ctx.url

    add_section("live Backtrader run", live_run)

A section is ``async def f(ctx)`` (runs on the event loop; use ``ctx.client``) or ``def f(ctx)`` (runs in
a worker thread while the loop keeps serving the simulator). Output goes through ``ctx.say``. A failing
section is reported and makes the exit status 1; the tour goes on.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pymt5_core.client import MT5Client

__all__ = ["DEMO_PLUGINS", "DEMO_SECTIONS", "DemoContext", "DemoSection", "add_section", "run_demo"]

#: Modules imported (when installed) before the tour, with the title of their section. A module either calls
#: :func:`add_section` itself or defines ``demo_section(url, login, password)``, which then runs (blocking,
#: in a worker thread) under that title.
DEMO_PLUGINS = {"pymt5_backtrader.demo": "live Backtrader run", "pymt5_vectorbt.demo": "vectorbt backtest"}
#: Simulated seconds per real second: fast enough for a few hundred ticks in a second or two.
DEMO_SPEED = 120
_PREFERRED = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
_CRYPTO: list[str] = []  # filled with BTCUSD when the simulator lists it: it streams on weekends too


@dataclass
class DemoContext:
    """What a section gets.

    Attributes:
        client: the logged-in async client (use it from ``async`` sections only).
        url, login, password: to open another connection (e.g. from a blocking section's thread).
        symbols: two or three symbols the tour uses.
        now: the simulator's time (Unix seconds) when the tour started; its market is open then.
        ticks: how many ticks the streaming section prints.
        data: results earlier sections leave for later ones (``"bars"``: the downloaded DataFrame).
    """

    client: MT5Client
    url: str
    login: int
    password: str = field(repr=False)
    symbols: list[str]
    now: int = 0
    ticks: int = 12
    data: dict[str, Any] = field(default_factory=dict)

    def say(self, text: str = "") -> None:
        """Print one line of the tour."""
        print(text, flush=True)


SectionFunc = Callable[[DemoContext], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class DemoSection:
    """A titled step of the tour."""

    title: str
    run: SectionFunc


#: The tour, in order. Append with :func:`add_section`.
DEMO_SECTIONS: list[DemoSection] = []


def add_section(title: str, run: SectionFunc, *, before: str | None = None) -> None:
    """Add a section at the end, or before the section titled ``before``. A title is only added once."""
    if any(s.title == title for s in DEMO_SECTIONS):
        return
    section = DemoSection(title, run)
    index = next((i for i, s in enumerate(DEMO_SECTIONS) if s.title == before), len(DEMO_SECTIONS))
    DEMO_SECTIONS.insert(index, section)


# --- the core sections ---------------------------------------------------------------------------------


async def _account(ctx: DemoContext) -> None:
    acc = await ctx.client.account()
    ctx.say(f"server    {acc.server} (build {ctx.client.server_build}), {acc.company}")
    ctx.say(f"account   {acc.login} {acc.name!r}, {'hedging' if acc.hedging else 'netting'}, 1:{acc.leverage}")
    ctx.say(f"balance   {acc.balance:,.2f} {acc.currency}   equity {acc.equity:,.2f}   "
            f"free margin {acc.margin_free:,.2f}")


async def _bars(ctx: DemoContext) -> None:
    import pandas as pd

    from pymt5_core.download import download_async

    end = pd.Timestamp(ctx.now, unit="s", tz="UTC")
    df = await download_async(ctx.symbols, "H1", end - pd.Timedelta(days=5), end, client=ctx.client,
                              progress=False)
    ctx.data["bars"] = df
    close = df["close"]
    ctx.say(f"download({ctx.symbols}, 'H1', last 5 days) -> DataFrame {df.shape[0]} rows x {df.shape[1]} columns")
    ctx.say(f"columns   (field, symbol): {', '.join(map(str, df.columns.get_level_values(0).unique()))}")
    with pd.option_context("display.width", 120, "display.max_columns", 8):
        ctx.say("close, head:")
        ctx.say(close.head(3).to_string())
        ctx.say("close, tail:")
        ctx.say(close.tail(3).to_string())


async def _ticks(ctx: DemoContext) -> None:
    seen = 0
    start = time.monotonic()
    async for tick in ctx.client.ticks([*ctx.symbols, *_CRYPTO]):
        ctx.say(f"{tick.time:%H:%M:%S.%f}"[:-3] + f"  {tick.symbol:<8} bid {tick.bid:<10g} ask {tick.ask:<10g}")
        seen += 1
        if seen >= ctx.ticks:
            break
    ctx.say(f"{seen} ticks in {time.monotonic() - start:.2f} s")


async def _trade(ctx: DemoContext) -> None:
    from pymt5_core.models import RequestAction, TradeRequest
    from pymt5_core.wire.enums import OrderType

    client, symbol = ctx.client, ctx.symbols[0]
    opened = await client.order_send(TradeRequest(RequestAction.DEAL, symbol, 0.10, OrderType.BUY,
                                                  comment="pymt5 demo"))
    ctx.say(f"buy 0.10 {symbol}: retcode {opened.retcode} ({opened.comment or 'done'}), deal {opened.deal}, "
            f"order {opened.order}, price {opened.price:g}")
    positions = [p for p in await client.positions() if p.symbol == symbol]
    for p in positions:
        ctx.say(f"position  #{p.ticket} {'buy' if p.type == 0 else 'sell'} {p.volume:g} {p.symbol} "
                f"@ {p.price_open:g}, now {p.price_current:g}, profit {p.profit:+.2f}")
    if not positions:
        ctx.say("position  (none open)")
        return
    position = positions[-1]
    opposite = OrderType.SELL if position.type == 0 else OrderType.BUY
    closed = await client.order_send(TradeRequest(RequestAction.DEAL, symbol, position.volume, opposite,
                                                  position=position.ticket, comment="pymt5 demo close"))
    ctx.say(f"close #{position.ticket}: retcode {closed.retcode}, deal {closed.deal}, price {closed.price:g}")
    deals, _orders = await client.history(position.time.timestamp() - 60, ctx.now + 86_400)
    ctx.say("history deals:")
    for d in deals[-4:]:
        ctx.say(f"  #{d.ticket:<6} {d.time:%Y-%m-%d %H:%M:%S}  {d.symbol or '(balance)':<8} type {d.type} "
                f"entry {d.entry} {d.volume:g} @ {d.price:g}  profit {d.profit:+.2f}")


add_section("account", _account)
add_section("bars into pandas", _bars)
add_section("live ticks", _ticks)
add_section("market order, position, close, history", _trade)


# --- runner --------------------------------------------------------------------------------------------


def _load_plugins() -> None:
    for name, title in DEMO_PLUGINS.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        entry = getattr(module, "demo_section", None)
        if callable(entry):
            add_section(title, functools.partial(_run_plugin, entry))


def _run_plugin(entry: Callable[..., Any], ctx: DemoContext) -> None:
    entry(ctx.url, ctx.login, ctx.password)


async def _pick_symbols(client: MT5Client) -> list[str]:
    names = [s.name for s in await client.symbols()]
    _CRYPTO[:] = [n for n in ("BTCUSD",) if n in names]
    preferred = [n for n in _PREFERRED if n in names][:3]
    return preferred if len(preferred) >= 2 else names[:3]


def _market_hours(now: float) -> int:
    """``now`` when FX markets trade then, else the last Friday 14:00 UTC (the demo trades FX)."""
    day = datetime.fromtimestamp(now, UTC)
    if day.weekday() < 4 or (day.weekday() == 4 and day.hour < 20) or (day.weekday() == 6 and day.hour >= 23):
        return int(now)
    friday = (day - timedelta(days=(day.weekday() - 4) % 7)).replace(hour=14, minute=0, second=0, microsecond=0)
    return int(friday.timestamp())


async def _tour(ticks: int) -> int:
    from pymt5_core.client import MT5Client
    from pymt5_core.sim import SimServer

    failures = 0
    began = time.monotonic()
    from pymt5_core.sim.market.clock import VirtualClock

    start = _market_hours(time.time())
    async with SimServer(seed=1, clock=VirtualClock(DEMO_SPEED, start_ms=start * 1000)) as sim:
        acct = sim.demo_account
        print(f"pymt5 demo: embedded simulator at {sim.url}, demo account {acct.login}", flush=True)
        async with MT5Client(sim.url) as client:
            await client.login(acct.login, acct.password)
            ctx = DemoContext(client, sim.url, acct.login, acct.password, await _pick_symbols(client), start, ticks)
            for number, section in enumerate(DEMO_SECTIONS, 1):
                print(f"\n== {number}. {section.title} ==", flush=True)
                try:
                    if inspect.iscoroutinefunction(section.run):
                        await section.run(ctx)
                    else:
                        result = await asyncio.to_thread(section.run, ctx)
                        if inspect.isawaitable(result):
                            await result
                except Exception as exc:  # a section's failure is reported, the tour goes on
                    failures += 1
                    print(f"!! section failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    status = "ok" if not failures else f"{failures} section(s) failed"
    print(f"\npymt5 demo: {len(DEMO_SECTIONS)} sections in {time.monotonic() - began:.1f} s, {status}", flush=True)
    return 1 if failures else 0


def run_demo(ticks: int = 12) -> int:
    """Run the tour on a fresh embedded simulator; returns the exit status (0 when every section passed)."""
    _load_plugins()
    return asyncio.run(_tour(ticks))
