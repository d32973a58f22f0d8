"""Fault injection for the simulator: ``sim.faults``.

A :class:`FaultPlan` is shared by every connection of a :class:`~pymt5_core.sim.server.SimServer`. Tests
arm rules on it at any time; each connection consults it on every frame it receives or sends, so a rule
applies to connections that already exist as well as to new ones. Frame counts are kept per connection
and start at the first frame the connection handles after the rule was armed.

Every rule fires ``times`` times in total (across connections; ``None`` = without limit) and then
disarms itself. Rules bound to a command take ``skip``: the first ``skip`` matching requests (or frames)
pass untouched, so a test can hit, say, the third page of a paged download. :meth:`FaultPlan.reset`
disarms everything. Corruption uses a ``random.Random`` seeded from the server seed, so a run is
reproducible.

Rules:

=====================================  ==========================================================================
``drop_after_frames(n, direction)``    abort the connection once it has sent (or received) ``n`` more frames
``drop_at_command(cmd, when)``         abort when a request ``cmd`` arrives: ``"before"`` handling it, after handling it
                                       but ``"unanswered"`` (a trade executes, no answer or push
                                       leaves), or ``"after"`` answering
``delay(cmd, seconds)``                hold each answer to ``cmd`` (and what follows it) for ``seconds``
``reorder(cmd)``                       hold the answer to ``cmd`` until the next answer has been sent
``corrupt_next_frame(cmd)``            send the next frame (of ``cmd``, or any) undecryptable
``refuse_logins(code)``                answer every login with ``code`` (e.g. 2 "trade server not available")
``link_down()`` / ``link_up()``        push 15 to logged-in connections; trade requests fail with 10031
``force_requote(symbol)``              the engine requotes the next instant request on ``symbol``
``force_reject(retcode)``              the engine rejects the next trade request with ``retcode``
=====================================  ==========================================================================

Aborting means closing the TCP connection without a WebSocket close handshake, as a network failure
would.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["ConnectionFaults", "FaultPlan", "ResponseFaults"]

Direction = Literal["sent", "received"]
When = Literal["before", "unanswered", "after"]


class _EngineHooks(Protocol):
    def force_requote(self, symbol: str) -> None: ...

    def force_next(self, retcode: int) -> None: ...


@dataclass
class _Rule:
    kind: str
    command: int | None = None
    count: int = 0
    seconds: float = 0.0
    direction: Direction = "sent"
    when: When = "before"
    remaining: int | None = 1
    skip: int = 0
    id: int = field(default_factory=itertools.count(1).__next__)

    def matches(self, command: int) -> bool:
        return self.command is None or self.command == command

    def takes(self, command: int) -> bool:
        """True when the rule applies to ``command`` now (consumes one of the skipped matches otherwise)."""
        if not self.matches(command):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        return True


@dataclass(frozen=True, slots=True)
class ResponseFaults:
    """What happens to the answer of one request."""

    delay: float = 0.0
    hold: bool = False
    drop_after: bool = False
    drop_unanswered: bool = False


_NO_FAULTS = ResponseFaults()


class ConnectionFaults:
    """Per-connection bookkeeping of a :class:`FaultPlan` (frame counters per rule)."""

    __slots__ = ("_counts", "_plan")

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._counts: dict[int, int] = {}

    def on_received(self, command: int) -> bool:
        """Account for a received request; True when the connection must be dropped before answering."""
        return self._plan._on_received(self, command)

    def response_faults(self, command: int) -> ResponseFaults:
        """The faults that apply to the answer of a request ``command`` (consumes one-shot rules)."""
        return self._plan._response_faults(command)

    def on_sent(self, command: int, message: bytes) -> tuple[bytes, bool]:
        """Account for an outgoing frame: returns the message to send (maybe corrupted) and whether to drop."""
        return self._plan._on_sent(self, command, message)

    def _tick(self, rule: _Rule) -> int:
        n = self._counts.get(rule.id, 0) + 1
        self._counts[rule.id] = n
        return n


class FaultPlan:
    """The fault rules of one simulator (see the module docstring for the list).

    Args:
        seed: seeds the generator used to corrupt frames.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[_Rule] = []
        self._login_refusal: int | None = None
        self._link_up = True
        self._link_listener: Callable[[bool], None] | None = None
        self._engine: _EngineHooks | None = None

    def __repr__(self) -> str:
        kinds = ", ".join(f"{r.kind}({r.command})" for r in self._rules)
        return f"<FaultPlan rules=[{kinds}] link_up={self._link_up} login_refusal={self._login_refusal}>"

    # --- arming ---------------------------------------------------------------------------------------

    def drop_after_frames(self, n: int, *, direction: Direction = "sent", times: int | None = 1) -> None:
        """Abort a connection once it has sent (or received) ``n`` more frames."""
        if n < 1:
            raise ValueError("n must be at least 1")
        self._rules.append(_Rule("drop_after", count=n, direction=direction, remaining=times))

    def drop_at_command(self, command: int, when: When = "before", *, times: int | None = 1, skip: int = 0) -> None:
        """Abort a connection when a request ``command`` arrives.

        ``when``: ``"before"`` the server handles it; ``"unanswered"``: the server handles it (a trade
        request executes) but the connection is cut before its answer and the pushes it causes are sent;
        ``"after"``: once the answer and those pushes are written.
        """
        if when not in ("before", "unanswered", "after"):
            raise ValueError("when must be 'before', 'unanswered' or 'after'")
        self._rules.append(_Rule("drop_at", command=command, when=when, remaining=times, skip=_skip(skip)))

    def delay(self, command: int, seconds: float, *, times: int | None = None, skip: int = 0) -> None:
        """Delay the answers to ``command`` by ``seconds`` (real time); other commands are not held up."""
        self._rules.append(_Rule("delay", command=command, seconds=seconds, remaining=times, skip=_skip(skip)))

    def reorder(self, command: int, *, times: int | None = 1, skip: int = 0) -> None:
        """Hold the answer to the next request ``command`` until the connection's next answer is sent."""
        self._rules.append(_Rule("reorder", command=command, remaining=times, skip=_skip(skip)))

    def corrupt_next_frame(self, command: int | None = None, *, times: int | None = 1, skip: int = 0) -> None:
        """Send the next server frame (with id ``command``, or any) with a ciphertext no key can decrypt."""
        self._rules.append(_Rule("corrupt", command=command, remaining=times, skip=_skip(skip)))

    def refuse_logins(self, code: int = 2) -> None:
        """Answer every login request with the frame code ``code`` until :meth:`allow_logins`."""
        if not 1 <= code <= 255:
            raise ValueError("a refusal code is 1..255")
        self._login_refusal = code

    def allow_logins(self) -> None:
        """Stop refusing logins."""
        self._login_refusal = None

    def link_down(self) -> None:
        """Report the trade-server link as lost (push 15 state 1); trade requests then fail with 10031."""
        self._set_link(False)

    def link_up(self) -> None:
        """Report the trade-server link as restored (push 15 state 0)."""
        self._set_link(True)

    def force_requote(self, symbol: str) -> None:
        """Make the engine requote the next instant-execution request on ``symbol``."""
        self._require_engine().force_requote(symbol)

    def force_reject(self, retcode: int) -> None:
        """Make the engine answer the next trade request with ``retcode``."""
        self._require_engine().force_next(retcode)

    def reset(self) -> None:
        """Disarm every rule, accept logins, bring the link back up and reseed the generator."""
        self._rules.clear()
        self._login_refusal = None
        self._rng = random.Random(self._seed)
        if not self._link_up:
            self._set_link(True)

    # --- state read by the server ---------------------------------------------------------------------

    @property
    def login_refusal(self) -> int | None:
        """The frame code every login is answered with, or None."""
        return self._login_refusal

    @property
    def trade_link_up(self) -> bool:
        """False while the trade-server link is reported down."""
        return self._link_up

    @property
    def armed(self) -> int:
        """Number of rules still armed."""
        return len(self._rules)

    def attach(self) -> ConnectionFaults:
        """Per-connection state for a new connection."""
        return ConnectionFaults(self)

    def bind(self, link_listener: Callable[[bool], None], engine: _EngineHooks | None) -> None:
        """Connect the plan to its server: who to tell about link changes, who applies trade faults."""
        self._link_listener = link_listener
        self._engine = engine

    # --- evaluation -----------------------------------------------------------------------------------

    def _fire(self, rule: _Rule) -> None:
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0 and rule in self._rules:
                self._rules.remove(rule)

    def _on_received(self, conn: ConnectionFaults, command: int) -> bool:
        for rule in list(self._rules):
            if rule.kind == "drop_after" and rule.direction == "received" and conn._tick(rule) >= rule.count:
                self._fire(rule)
                return True
            if rule.kind == "drop_at" and rule.when == "before" and rule.takes(command):
                self._fire(rule)
                return True
        return False

    def _response_faults(self, command: int) -> ResponseFaults:
        delay, hold, drop, cut = 0.0, False, False, False
        for rule in list(self._rules):
            if rule.kind not in ("delay", "reorder") and not (rule.kind == "drop_at" and rule.when != "before"):
                continue
            if not rule.takes(command):
                continue
            if rule.kind == "delay":
                delay = max(delay, rule.seconds)
            elif rule.kind == "reorder":
                hold = True
            elif rule.when == "after":
                drop = True
            else:
                cut = True
            self._fire(rule)
        return ResponseFaults(delay, hold, drop, cut) if delay or hold or drop or cut else _NO_FAULTS

    def _on_sent(self, conn: ConnectionFaults, command: int, message: bytes) -> tuple[bytes, bool]:
        drop = False
        for rule in list(self._rules):
            if rule.kind == "corrupt" and rule.takes(command):
                message = self._corrupt(message)
                self._fire(rule)
            elif rule.kind == "drop_after" and rule.direction == "sent" and conn._tick(rule) >= rule.count:
                drop = True
                self._fire(rule)
        return message, drop

    def _corrupt(self, message: bytes) -> bytes:
        # Scramble the ciphertext and cut its last byte: a length that is not a multiple of the AES
        # block size cannot decrypt under any key, so the corruption is certain, not probabilistic.
        head, body = message[:8], message[8:]
        noise = self._rng.randbytes(len(body))
        scrambled = bytes(a ^ b for a, b in zip(body, noise, strict=True))
        return head + scrambled[:-1]

    def _set_link(self, up: bool) -> None:
        changed = up != self._link_up
        self._link_up = up
        if changed and self._link_listener is not None:
            self._link_listener(up)

    def _require_engine(self) -> _EngineHooks:
        if self._engine is None:
            raise RuntimeError("the fault plan is not bound to a trading engine")
        return self._engine


def _skip(skip: int) -> int:
    if skip < 0:
        raise ValueError("skip must be >= 0")
    return skip
