"""Seeded fault scenarios: ``scenario(seed)`` picks a workload, a fault and the point where it strikes.

Everything random about a run comes from ``random.Random(seed)`` here, so a seed names a run exactly and
``describe()`` prints it in the terms of :class:`~pymt5_core.sim.faults.FaultPlan`.

Workloads:

* ``session``: connect and log in (faults at the bootstrap, the login or a start-up command), or a forced
  reconnect of a logged-in client with a balance change made while it was away;
* ``bars``: a multi-page M1 download (forward by range or backward by count) over a fixed past day;
* ``ticks``: a tick stream of one or two symbols while the simulator's clock runs;
* ``trades``: a sequence of market and pending orders, modifications, closes and removals;
* ``backtrader``: a live M1 feed of the Backtrader adapter (backfill, live bars, gap after reconnect).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pymt5_core.wire.enums import Command

__all__ = ["OPS", "STARTUP_COMMANDS", "Fault", "Scenario", "scenario"]

#: The requests of the client's start-up sequence (SPEC §2.12) after the login.
STARTUP_COMMANDS = (Command.ACCOUNT, Command.SYMBOL_GROUPS, Command.SYMBOLS, Command.OPENED,
                    Command.FULL_SYMBOLS, Command.SUBSCRIBE_TICKS)
#: Trade operations of the ``trades`` workload.
OPS = ("buy", "sell", "buy_limit", "sell_stop", "modify_order", "sltp", "close", "cancel")
_WHEN = ("before", "unanswered", "after")
_WORKLOADS = (("session", 20), ("bars", 25), ("ticks", 15), ("trades", 30), ("backtrader", 10))


@dataclass(frozen=True)
class Fault:
    """One fault: a :class:`FaultPlan` method, its arguments, and when the harness arms it.

    ``at`` is workload specific: ``"initial"`` (before connecting), ``"reconnect"`` (before a forced drop),
    ``"page"``/``"op"`` (before the download or before operation ``args["op_index"]``), ``"stream"`` (after
    ``args["after_steps"]`` clock steps).
    """

    kind: str
    method: str
    at: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        shown = {k: (Command(v).name if k == "command" else v) for k, v in self.args.items()}
        return f"{self.kind}@{self.at}: {self.method}({', '.join(f'{k}={v}' for k, v in shown.items())})"


@dataclass(frozen=True)
class Scenario:
    """A workload with one fault (two for ``link_down``-style pairs), reproducible from ``seed``."""

    seed: int
    workload: str
    fault: Fault
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"seed={self.seed} workload={self.workload}({params}) fault={self.fault.describe()}"


def scenario(seed: int) -> Scenario:
    """The scenario of ``seed`` (deterministic)."""
    rng = random.Random(seed)
    names, weights = zip(*_WORKLOADS, strict=True)
    workload = rng.choices(names, weights)[0]
    return _BUILDERS[workload](seed, rng)


def _session(seed: int, rng: random.Random) -> Scenario:
    at = rng.choice(("initial", "reconnect"))
    point = rng.choice(("bootstrap", "login", "startup", "startup", "refuse"))
    times = 1 if at == "initial" else rng.randint(1, 3)
    if point == "refuse":
        fault = Fault("refused_login", "refuse_logins", at, {"code": rng.choice((2, 100)), "attempts": times})
    elif point in ("bootstrap", "login"):
        command = Command.BOOTSTRAP if point == "bootstrap" else Command.LOGIN
        fault = Fault(f"drop_{point}", "drop_at_command", at,
                      {"command": command, "when": rng.choice(_WHEN), "times": times})
    else:
        command = rng.choice(STARTUP_COMMANDS)
        fault = _response_fault(rng, command, at, skip=0, times=times)
    return Scenario(seed, "session", fault, {"deposit": at == "reconnect"})


def _bars(seed: int, rng: random.Random) -> Scenario:
    per_page = rng.choice((150, 240, 400))
    direction = rng.choice(("forward", "backward"))
    pages = -(-1440 // per_page) if direction == "forward" else -(-1200 // per_page)
    skip = rng.randrange(pages)
    choice = rng.random()
    if choice < 0.2:
        fault = Fault("drop_frames", "drop_after_frames", "page",
                      {"n": rng.randint(1, pages + 2), "direction": rng.choice(("sent", "received"))})
    else:
        fault = _response_fault(rng, Command.RATES, "page", skip=skip, times=1)
    return Scenario(seed, "bars", fault, {"per_page": per_page, "direction": direction})


def _ticks(seed: int, rng: random.Random) -> Scenario:
    symbols = rng.choice((("EURUSD",), ("USDJPY",), ("EURUSD", "USDJPY")))
    after = rng.randint(1, 6)
    choice = rng.random()
    if choice < 0.45:
        fault = Fault("drop_frames", "drop_after_frames", "stream",
                      {"n": rng.randint(1, 12), "direction": rng.choice(("sent", "received")),
                       "after_steps": after})
    elif choice < 0.7:
        fault = Fault("corrupt", "corrupt_next_frame", "stream",
                      {"command": rng.choice((Command.TICKS, Command.SYMBOL_STATS, Command.PING)),
                       "skip": rng.randint(0, 3), "after_steps": after})
    elif choice < 0.85:
        fault = Fault("drop_ping", "drop_at_command", "stream",
                      {"command": Command.PING, "when": rng.choice(_WHEN), "after_steps": after})
    else:
        fault = Fault("link_down", "link_down", "stream", {"after_steps": after, "up_after": rng.randint(1, 4)})
    return Scenario(seed, "ticks", fault, {"symbols": "+".join(symbols)})


def _trades(seed: int, rng: random.Random) -> Scenario:
    ops = [rng.choice(("buy", "sell")), rng.choice(("buy_limit", "sell_stop"))]
    ops += rng.sample(OPS, rng.randint(2, 4))
    rng.shuffle(ops)
    op_index = rng.randrange(len(ops))
    choice = rng.random()
    at = "op"
    if choice < 0.4:
        fault = Fault("drop_trade", "drop_at_command", at,
                      {"command": Command.TRADE_REQUEST, "when": rng.choice(_WHEN), "op_index": op_index})
    elif choice < 0.52:
        fault = Fault("drop_frames", "drop_after_frames", at,
                      {"n": rng.randint(1, 4), "direction": "sent", "op_index": op_index})
    elif choice < 0.67:
        command = rng.choice((Command.TRADE_REQUEST, Command.TRADE_RESULT, Command.TRADE_UPDATE,
                              Command.ACCOUNT_UPDATE))
        fault = Fault("corrupt", "corrupt_next_frame", at, {"command": command, "op_index": op_index})
    elif choice < 0.75:
        fault = Fault("delay", "delay", at, {"command": Command.TRADE_REQUEST,
                                             "seconds": round(rng.uniform(0.005, 0.08), 3), "op_index": op_index})
    elif choice < 0.82:
        fault = Fault("reorder", "reorder", at, {"command": rng.choice((Command.TRADE_REQUEST, Command.HISTORY)),
                                                 "op_index": op_index})
    elif choice < 0.92:
        fault = Fault("link_down", "link_down", at, {"op_index": op_index, "up_after": rng.randint(1, 2)})
    else:
        method = rng.choice(("force_reject", "force_requote"))
        args: dict[str, Any] = {"op_index": op_index}
        if method == "force_reject":
            args["retcode"] = rng.choice((10004, 10006, 10018, 10021))
        fault = Fault("server_refusal", method, at, args)
    return Scenario(seed, "trades", fault, {"ops": "+".join(ops)})


def _backtrader(seed: int, rng: random.Random) -> Scenario:
    after = rng.randint(2, 12)
    choice = rng.random()
    if choice < 0.5:
        fault = Fault("drop_frames", "drop_after_frames", "stream",
                      {"n": rng.randint(1, 8), "direction": rng.choice(("sent", "received")), "after_steps": after})
    elif choice < 0.75:
        fault = Fault("drop_paging", "drop_at_command", "stream",
                      {"command": Command.RATES, "when": rng.choice(_WHEN), "times": rng.randint(1, 2),
                       "after_steps": after})
    else:
        fault = Fault("corrupt", "corrupt_next_frame", "stream",
                      {"command": Command.TICKS, "skip": rng.randint(0, 2), "after_steps": after})
    return Scenario(seed, "backtrader", fault, {"timeframe": "M1"})


def _response_fault(rng: random.Random, command: int, at: str, *, skip: int, times: int) -> Fault:
    """A fault on the answer to ``command``: drop (before/unanswered/after), corrupt, delay or reorder."""
    choice = rng.random()
    if choice < 0.55:
        return Fault("drop_command", "drop_at_command", at,
                     {"command": command, "when": rng.choice(_WHEN), "times": times, "skip": skip})
    if choice < 0.75:
        return Fault("corrupt", "corrupt_next_frame", at, {"command": command, "times": times, "skip": skip})
    if choice < 0.9:
        return Fault("delay", "delay", at, {"command": command, "seconds": round(rng.uniform(0.005, 0.08), 3),
                                            "times": times, "skip": skip})
    return Fault("reorder", "reorder", at, {"command": command, "times": times, "skip": skip})


_BUILDERS = {"session": _session, "bars": _bars, "ticks": _ticks, "trades": _trades, "backtrader": _backtrader}
