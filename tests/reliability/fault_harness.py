"""Runs a :class:`~tests.reliability.fault_scenarios.Scenario` against a real simulator and checks the invariants.

Every run gets its own :class:`Bench`: a fresh :class:`SimServer` (seed :data:`SIM_SEED`, manual clock at
:data:`START`) and a fresh demo account, so a run depends on its scenario seed only and replays alone
exactly as it ran in the suite (starting a simulator costs well under a millisecond). A spy on the
engine's ``submit`` records every trade request the engine received, keyed by the request's comment
(unique per operation), which is how "executed at most once" is checked.

After the workload the harness disarms every fault and checks:

1. the client is (or becomes) READY and answers a request; when the caller's own connect or login failed
   with a clear error, one retry by the caller must succeed;
2. every awaited call returned or raised a :mod:`pymt5_core.errors` exception within its bound;
3. no trade request reached the engine twice, and each trade call's outcome agrees with the engine
   (a success executed exactly once, ``ConnectionLost`` without ``outcome_unknown`` never executed);
4. the mirror's positions, orders and balance equal the engine's;
5. bars equal a clean single-page download; tick streams resume; the Backtrader feed delivers every final
   bar exactly once, as the server has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from pymt5_core.backoff import backoff
from pymt5_core.client import MT5Client
from pymt5_core.errors import ConnectionLost, MT5Error, TradeRejected
from pymt5_core.events import ConnectionState, SessionState
from pymt5_core.models import Order, Position, RequestAction, TradeRequest, TradeResult
from pymt5_core.sim import SimServer, VirtualClock
from pymt5_core.wire.enums import Command, OrderType, Retcode
from tests.reliability.fault_scenarios import Fault, Scenario

__all__ = ["Bench", "Outcome", "run_scenario"]

#: Wednesday 2026-11-18 12:00 UTC: every market of the simulator is open for days.
START = datetime(2026, 11, 18, 12, tzinfo=UTC)
#: The bars workload downloads this fixed past day (M1: 1440 bars).
BARS_FROM = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp())
BARS_TO = BARS_FROM + 86400 - 60
BARS_COUNT = 1200
SIM_SEED = 7
#: Request timeout of the clients under test (seconds).
CLIENT_TIMEOUT = 3.0
#: Bound of one awaited call, and of one whole run: beyond it the run is reported as hung.
CALL_LIMIT = 20.0
RUN_LIMIT = 60.0
_OK_RETCODES = (Retcode.PLACED, Retcode.DONE, Retcode.DONE_PARTIAL)


class Hang(Exception):
    """An awaited call or wait did not finish within its bound."""


@dataclass
class Outcome:
    """What one run did and what went wrong (``failures`` empty = every invariant held)."""

    scenario: Scenario
    reconnects: int = 0
    caller_retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    trade_calls: int = 0
    feed_bars: int = 0
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def recovered(self) -> bool:
        """True when the run lost its connection (or a call failed) and came back."""
        return not self.failures and (self.reconnects > 0 or self.caller_retries > 0)

    def report(self) -> str:
        lines = [self.scenario.describe(), *(f"  - {f}" for f in self.failures),
                 f"  replay: PYMT5_FAULT_SEED={self.scenario.seed} pytest tests/reliability -k seeded"]
        return "\n".join(lines)


class Bench:
    """The simulator of one run, with a spy on the engine's trade requests."""

    def __init__(self) -> None:
        self.sim = SimServer(seed=SIM_SEED, clock=VirtualClock.manual(int(START.timestamp() * 1000)))
        #: (login, comment) -> engine retcodes of each submission with that comment.
        self.submissions: dict[tuple[int, str], list[int]] = {}
        engine = self.sim.engine
        submit = engine.submit

        def spy(login: int, request: Any) -> Any:
            submission = submit(login, request)
            self.submissions.setdefault((login, str(request["comment"])), []).append(submission.retcode)
            return submission

        engine.submit = spy  # type: ignore[method-assign]

    async def __aenter__(self) -> Bench:
        await self.sim.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sim.close()

    def new_account(self, seed: int) -> tuple[int, str]:
        login, password, _ = self.sim.open_demo_account({"name": f"fault run {seed}"})
        return login, password

    async def reference_bars(self, backward: bool) -> np.ndarray[Any, Any]:
        """The bars of the bars workload, downloaded in one page by a client without faults.

        The bars of a past day depend on the simulator's seed only, so one download serves every run.
        """
        if backward not in _REFERENCE:
            login, password = self.new_account(-1)
            async with MT5Client(self.sim.url, timeout=CLIENT_TIMEOUT) as client:
                await client.login(login, password)
                _REFERENCE[backward] = await _download(client, backward=backward)
        return _REFERENCE[backward]


_REFERENCE: dict[bool, np.ndarray[Any, Any]] = {}


async def _download(client: MT5Client, *, backward: bool) -> np.ndarray[Any, Any]:
    if backward:
        return await client.bars("EURUSD", "M1", end=BARS_TO, count=BARS_COUNT)
    return await client.bars("EURUSD", "M1", BARS_FROM, BARS_TO)


class _Run:
    """The state of one run: the client, its account, and the record of every awaited call."""

    def __init__(self, bench: Bench, scenario: Scenario) -> None:
        self.bench = bench
        self.sim = bench.sim
        self.scenario = scenario
        self.outcome = Outcome(scenario)
        self.login, self.password = bench.new_account(scenario.seed)
        self.client = self.new_client()
        self.client.on(ConnectionState, self._on_state)
        #: comment -> what the trade call returned or raised
        self.trades: dict[str, TradeResult | BaseException] = {}

    def new_client(self, **overrides: Any) -> MT5Client:
        seed = self.scenario.seed
        options: dict[str, Any] = {
            "timeout": CLIENT_TIMEOUT, "keepalive_interval": 0.25, "dead_after": 2.0,
            "reconnect_delays": lambda: backoff(0.002, 2.0, 0.05, 0.5, seed=seed),
        }
        options.update(overrides)
        return MT5Client(self.sim.url, **options)

    def _on_state(self, event: ConnectionState) -> None:
        if event.state is SessionState.READY and event.attempt > 0:
            self.outcome.reconnects += 1

    def fail(self, message: str) -> None:
        self.outcome.failures.append(message)

    async def call(self, name: str, awaitable: Awaitable[Any]) -> tuple[bool, Any]:
        """Await a client call within :data:`CALL_LIMIT`; a non-pymt5 exception or a hang is a failure."""
        try:
            async with asyncio.timeout(CALL_LIMIT):
                return True, await awaitable
        except MT5Error as exc:
            self.outcome.errors[type(exc).__name__] += 1
            return False, exc
        except TimeoutError:
            self.fail(f"{name}: no result and no error within {CALL_LIMIT:g} s")
            return False, Hang(name)
        except Exception as exc:
            self.fail(f"{name}: raised {exc!r}, not a pymt5_core.errors exception")
            return False, exc

    def arm(self, fault: Fault) -> None:
        """Arm ``fault`` on the simulator's plan (harness-only arguments are left out)."""
        plan = self.sim.faults
        args = {k: v for k, v in fault.args.items() if k not in ("op_index", "after_steps", "up_after", "attempts")}
        if fault.method == "force_requote":
            plan.force_requote("EURUSD")
        elif fault.method == "refuse_logins":
            plan.refuse_logins(args["code"])
        elif fault.method == "link_down":
            plan.link_down()
        elif fault.method == "drop_after_frames":
            plan.drop_after_frames(args.pop("n"), **args)
        else:
            getattr(plan, fault.method)(**args)

    # --- recovery and invariants ---------------------------------------------------------------------

    async def recover(self) -> None:
        """Disarm the faults; the client must become READY (one retry by the caller when it gave up).

        A link that a fault cut just before this point may still look READY: the ping then fails with
        ``ConnectionLost`` and the client must come back, so the check is repeated (twice at most).
        """
        self.sim.faults.reset()
        client = self.client
        for _ in range(3):
            if client.state not in (SessionState.DISCONNECTED, SessionState.CONNECTED, SessionState.CLOSED):
                ok, exc = await self.call("wait_ready", client.session.wait_ready(CALL_LIMIT / 2))
                if not ok:
                    self.fail(f"the session did not become READY again: {exc!r}")
                    return
            if client.state is not SessionState.READY:
                self.outcome.caller_retries += 1
                ok, exc = await self.call("login (caller retry)", client.login(self.login, self.password))
                if not ok:
                    self.fail(f"a retried login failed after the faults were gone: {exc!r}")
                    return
            ok, exc = await self.call("ping", client.session.request(Command.PING))
            if ok or not isinstance(exc, ConnectionLost):
                break
        if not ok:
            self.fail(f"the recovered session does not answer: {exc!r}")

    def check_mirror(self) -> None:
        """The mirror's positions, orders and balance equal the engine's (after a round-trip barrier)."""
        engine, mirror = self.sim.engine, self.client.mirror
        truth_pos = {p.ticket: _position_key(p) for p in map(Position.from_wire, engine.positions(self.login))}
        mine_pos = {t: _position_key(p) for t, p in mirror.positions.items()}
        if truth_pos != mine_pos:
            self.fail(f"mirror positions {mine_pos} != engine {truth_pos}")
        truth_ord = {o.ticket: _order_key(o) for o in map(Order.from_wire, engine.orders(self.login))}
        mine_ord = {t: _order_key(o) for t, o in mirror.orders.items()}
        if truth_ord != mine_ord:
            self.fail(f"mirror orders {mine_ord} != engine {truth_ord}")
        main = engine.account_body(self.login).main
        account = mirror.account
        if account is None or (account.balance, account.credit) != (float(main["balance"]), float(main["credit"])):
            got = None if account is None else (account.balance, account.credit)
            self.fail(f"mirror balance/credit {got} != engine {(main['balance'], main['credit'])}")

    def check_trades(self) -> None:
        """At most one execution per request, and every outcome the caller saw agrees with the engine."""
        self.outcome.trade_calls = len(self.trades)
        for comment, outcome in self.trades.items():
            codes = self.bench.submissions.get((self.login, comment), [])
            if len(codes) > 1:
                self.outcome.duplicates += 1
                self.fail(f"trade {comment!r} reached the engine {len(codes)} times: {codes}")
                continue
            executed = bool(codes) and codes[0] in _OK_RETCODES
            if isinstance(outcome, TradeResult):
                if not executed:
                    self.fail(f"trade {comment!r} returned {outcome.retcode} but the engine answered {codes}")
            elif isinstance(outcome, ConnectionLost):
                if not outcome.outcome_unknown and codes:
                    self.fail(f"trade {comment!r}: ConnectionLost without outcome_unknown, yet executed {codes}")
            elif isinstance(outcome, TradeRejected):
                if codes and codes[0] != outcome.retcode:
                    self.fail(f"trade {comment!r} rejected with {outcome.retcode}, engine answered {codes}")
                if executed:
                    self.fail(f"trade {comment!r} reported rejected but executed ({codes})")


def _position_key(p: Position) -> tuple[Any, ...]:
    return p.symbol, p.type, p.volume_wire, p.price_open, p.sl, p.tp


def _order_key(o: Order) -> tuple[Any, ...]:
    return o.symbol, o.type, o.volume_wire, o.price_open, o.sl, o.tp, o.state


# --- workloads ---------------------------------------------------------------------------------------


async def _login(run: _Run) -> bool:
    ok, _ = await run.call("connect", run.client.connect())
    if ok:
        ok, _ = await run.call("login", run.client.login(run.login, run.password))
    return ok


async def _clean_login(run: _Run) -> None:
    if not await _login(run):
        raise AssertionError("the login before arming the fault failed")


async def _session(run: _Run) -> None:
    fault, client = run.scenario.fault, run.client
    attempts = int(fault.args.get("attempts", fault.args.get("times", 1)))
    if fault.method == "refuse_logins":
        watched = SessionState.LOGGING_IN if fault.at == "initial" else SessionState.RECONNECTING
        seen = 0

        def allow_after_attempts(event: ConnectionState) -> None:
            nonlocal seen
            if event.state is watched:
                seen += 1
                if seen > attempts:
                    run.sim.faults.allow_logins()

        client.on(ConnectionState, allow_after_attempts)
    if fault.at == "initial":
        run.arm(fault)
        await _login(run)
        return
    await _clean_login(run)
    await run.call("buy", _trade(run, 0, "buy"))
    run.arm(fault)
    await client.session.drop("fault harness: network failure")
    run.sim.route(run.sim.engine.deposit(run.login, 125.0, "deposit while away"))
    # a caller that asks during the reconnect waits for it, then gets its answer (or a clear error)
    await run.call("bars during reconnect", client.bars("EURUSD", "M1", end=BARS_TO, count=5))
    await run.call("wait_ready", client.session.wait_ready(CALL_LIMIT / 2))


async def _bars(run: _Run) -> None:
    backward = run.scenario.params["direction"] == "backward"
    reference = await run.bench.reference_bars(backward)
    await _clean_login(run)
    run.client.bars_per_request = int(run.scenario.params["per_page"])
    run.arm(run.scenario.fault)
    ok, got = await run.call("bars", _download(run.client, backward=backward))
    if ok and not np.array_equal(got, reference):
        run.fail(f"bars under faults differ from a clean download ({len(got)} vs {len(reference)} bars)")
    await run.recover()
    ok, again = await run.call("bars again", _download(run.client, backward=backward))
    if ok and not np.array_equal(again, reference):
        run.fail(f"bars after recovery differ from a clean download ({len(again)} vs {len(reference)} bars)")


async def _ticks(run: _Run) -> None:
    await _clean_login(run)
    fault, client, sim = run.scenario.fault, run.client, run.sim
    symbols = run.scenario.params["symbols"].split("+")
    stream = client.ticks(symbols)
    got: list[Any] = []

    async def consume() -> None:
        while batch := await stream.next_batch():
            got.extend(batch)

    consumer = asyncio.get_running_loop().create_task(consume())
    armed_at: int | None = None
    try:
        for step in range(400):
            await sim.advance(250)
            await _barrier(run, client)
            if step == fault.args["after_steps"]:
                run.arm(fault)
                armed_at = sim.clock.now_ms()
            if fault.method == "link_down" and step == fault.args["after_steps"] + fault.args["up_after"]:
                sim.faults.link_up()
            if armed_at is not None and step > fault.args["after_steps"] + 6 and client.state is SessionState.READY \
                    and any(t.time_msc > armed_at + 1000 for t in got):
                break
        else:
            run.fail("the tick stream did not resume within 100 s of virtual time after the fault")
    finally:
        await run.call("close the stream", stream.aclose())
        await asyncio.wait([consumer], timeout=CALL_LIMIT)
    if not consumer.done():
        consumer.cancel()
        run.fail("the tick stream did not end after aclose()")
    elif consumer.exception() is not None:
        run.fail(f"the tick stream raised {consumer.exception()!r}")
    for symbol in symbols:
        times = [t.time_msc for t in got if t.symbol == symbol]
        if any(b < a for a, b in itertools.pairwise(times)):
            run.fail(f"{symbol}: tick times went backwards")
    seen = Counter((t.symbol, t.time_msc, t.bid, t.ask, t.last) for t in got)
    repeated = [k for k, n in seen.items() if n > 1]
    if repeated:
        run.fail(f"the tick stream delivered {len(repeated)} ticks twice, e.g. {repeated[0]}")


async def _barrier(run: _Run, client: MT5Client) -> None:
    """A ping round trip: the client has handled every frame sent before it (the server keeps order).

    When the fault strikes the ping, wait for the reconnect instead, so the clock does not run away.
    """
    try:
        async with asyncio.timeout(CALL_LIMIT):
            await client.session.request(Command.PING)
    except MT5Error:
        await _settled(run, client)
    except TimeoutError:
        raise AssertionError(f"a ping barrier got no answer and no error within {CALL_LIMIT:g} s") from None


async def _settled(run: _Run, client: MT5Client) -> None:
    """Wait (bounded) while the client reconnects, so the clock does not run away from it."""
    if client.state in (SessionState.RECONNECTING, SessionState.SYNCING):
        ok, exc = await run.call("wait_ready", client.session.wait_ready(CALL_LIMIT / 2))
        if not ok:
            raise AssertionError(f"no reconnect: {exc!r}")


async def _trades(run: _Run) -> None:
    await _clean_login(run)
    fault, client = run.scenario.fault, run.client
    await run.call("quote", client.quote("EURUSD"))
    ops = run.scenario.params["ops"].split("+")
    link_up_at = None
    for i, op in enumerate(ops):
        if i == fault.args["op_index"]:
            run.arm(fault)
            if fault.method == "link_down":
                link_up_at = i + fault.args["up_after"]
                await _barrier(run, client)  # the client has the push 15 before the next request
        if i == link_up_at:
            run.sim.faults.link_up()
            await _barrier(run, client)
        await _settled(run, client)
        await run.call(op, _trade(run, i, op))


async def _trade(run: _Run, index: int, op: str) -> TradeResult | None:
    """Run one trade operation with a unique comment; None when it has no target (nothing sent)."""
    client, mirror = run.client, run.client.mirror
    comment = f"s{run.scenario.seed}o{index}"
    quote = await client.quote("EURUSD")
    request: TradeRequest | None = None
    if op in ("buy", "sell"):
        request = TradeRequest(RequestAction.DEAL, "EURUSD", 0.1, OrderType.BUY if op == "buy" else OrderType.SELL,
                               comment=comment)
    elif op in ("buy_limit", "sell_stop"):
        kind = OrderType.BUY_LIMIT if op == "buy_limit" else OrderType.SELL_STOP
        request = TradeRequest(RequestAction.PENDING, "EURUSD", 0.1, kind, price=round(quote.bid - 0.005, 5),
                               comment=comment)
    elif op in ("modify_order", "cancel") and mirror.orders:
        order = mirror.orders[max(mirror.orders)]
        if op == "cancel":
            request = TradeRequest(RequestAction.REMOVE, order.symbol, order=order.ticket, comment=comment)
        else:
            request = TradeRequest(RequestAction.MODIFY, order.symbol, order.volume_initial, order.type,
                                   price=round(order.price_open - 0.001, 5), order=order.ticket, comment=comment)
    elif op in ("sltp", "close") and mirror.positions:
        pos = mirror.positions[max(mirror.positions)]
        if op == "close":
            request = TradeRequest(RequestAction.DEAL, pos.symbol, pos.volume, 1 - pos.type, position=pos.ticket,
                                   comment=comment)
        else:
            sign = 1 if pos.type == 0 else -1
            request = TradeRequest(RequestAction.SLTP, pos.symbol, pos.volume, pos.type, position=pos.ticket,
                                   sl=round(pos.price_open - sign * 0.01, 5), tp=round(pos.price_open + sign * 0.01, 5),
                                   comment=comment)
    if request is None:
        return None
    ok, value = await run.call(f"{op} ({comment})", client.order_send(request))
    run.trades[comment] = value
    return value if ok else None


async def _backtrader(run: _Run) -> None:
    from tests.reliability.fault_feed import run_feed

    await run_feed(run)


_WORKLOADS: dict[str, Callable[[_Run], Awaitable[None]]] = {
    "session": _session, "bars": _bars, "ticks": _ticks, "trades": _trades, "backtrader": _backtrader,
}


async def run_scenario(bench: Bench, scenario: Scenario) -> Outcome:
    """Run ``scenario`` on ``bench`` and check every invariant; never raises for a failed invariant."""
    started = time.perf_counter()
    run = _Run(bench, scenario)
    try:
        async with asyncio.timeout(RUN_LIMIT):
            await _WORKLOADS[scenario.workload](run)
            if scenario.workload != "backtrader":
                await run.recover()
                if not run.outcome.failures:
                    run.check_mirror()
                    run.check_trades()
    except TimeoutError:
        run.fail(f"the run did not finish within {RUN_LIMIT:g} s (hang)")
    except AssertionError as exc:
        run.fail(str(exc))
    except Exception as exc:
        run.fail(f"harness error: {exc!r}")
    finally:
        bench.sim.faults.reset()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CALL_LIMIT):
                await run.client.disconnect()
    run.outcome.wall = time.perf_counter() - started
    return run.outcome

