"""The protocol logic of one simulated connection, without I/O.

A :class:`Session` takes decrypted requests and returns a :class:`Reply`: the frame code and body of
the answer, the pushes that follow it on the same connection, and the trading events to deliver to every
connection of the account. The asyncio shell (:mod:`pymt5_core.sim.connection`) does the crypto,
ordering, faults and writing; the server (:mod:`pymt5_core.sim.server`) routes events and streams
market data.

Phases, and the commands each allows (anything else gets the code in brackets)::

    READY       (after the bootstrap)  28 login, 29 init, 43 OTP, 2, 51        [3]
    CONFIG      (after 29)             + 41, 27, 30, 39, 40                    [3]
    LOGGED_IN   (after 28)             + every data command of SPEC §4        —
    any phase                          unknown / unsupported command ids       [1]

Data commands before login are answered with code 3 ("invalid account or password"): it is the code
the official client maps to an authorization failure, which is what an anonymous request is.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymt5_core.errors import ProtocolError
from pymt5_core.sim.auth import Authenticator
from pymt5_core.sim.backend import CatalogueLike, ClockLike, EngineLike, PriceModelLike
from pymt5_core.sim.engine.events import EngineEvent
from pymt5_core.wire import messages as msg
from pymt5_core.wire.enums import KNOWN_COMMANDS, Command, Period
from pymt5_core.wire.frames import RequestFrame

__all__ = ["CORPORATE_LINKS", "HANDLED_COMMANDS", "TRADER_PARAMS", "Phase", "Reply", "Session", "SessionContext"]

#: Command 41 answer: (country, currency).
TRADER_PARAMS = ("Cyprus", "USD")
#: Command 44 answer.
CORPORATE_LINKS: tuple[dict[str, Any], ...] = (
    {"link_type": 0, "label": "pymt5 Simulated Broker", "url": "https://localhost/", "flags": 0, "reserved": b""},
    {"link_type": 1, "label": "Support", "url": "mailto:support@localhost", "flags": 0, "reserved": b""},
)

_OK, _INTERNAL, _AUTH = 0, 1, 3
_RETCODE_NO_CONNECTION = 10031
_RETCODE_TRADE_DISABLED = 10017


class Phase(enum.Enum):
    """Where a connection is in its life (SPEC §2.8)."""

    BOOTSTRAP = "bootstrap"
    READY = "ready"
    CONFIG = "config"
    LOGGED_IN = "logged-in"


@dataclass(slots=True)
class Reply:
    """The answer to one request and what follows it.

    ``pushes`` are ``(command, body)`` frames sent on this connection right after the answer; ``events``
    are trading events the server delivers to every connection of their account, after the answer;
    ``delay`` is how many seconds to wait before answering (a refused login during a lock-out).
    """

    code: int = _OK
    body: bytes = b""
    pushes: list[tuple[int, bytes]] = field(default_factory=list)
    events: list[EngineEvent] = field(default_factory=list)
    delay: float = 0.0


class SessionContext(Protocol):
    """The server-wide services a session uses."""

    @property
    def catalogue(self) -> CatalogueLike: ...
    @property
    def model(self) -> PriceModelLike: ...
    @property
    def engine(self) -> EngineLike: ...
    @property
    def clock(self) -> ClockLike: ...
    @property
    def auth(self) -> Authenticator: ...
    @property
    def trade_link_up(self) -> bool: ...
    @property
    def login_refusal(self) -> int | None: ...

    def open_demo_account(self, form: Mapping[str, Any]) -> tuple[int, str, str]: ...
    def symbol_full_values(self, symbol_id: int) -> dict[str, Any] | None: ...
    def snapshot(self, session: Session, symbol_ids: Sequence[int]) -> list[tuple[int, bytes]]: ...
    def book_snapshot(self, session: Session, symbol_ids: Sequence[int]) -> list[tuple[int, bytes]]: ...
    def logged_in(self, session: Session) -> None: ...
    def logged_out(self, session: Session) -> None: ...


Handler = Callable[["Session", bytes], Reply]


class Session:
    """One connection's protocol state: phase, account, subscriptions (see the module docstring).

    Args:
        ctx: the server services.
        log: the connection's logger.
        peer: the client's address (failed logins are also limited per address).
    """

    def __init__(self, ctx: SessionContext, log: logging.LoggerAdapter[logging.Logger], peer: str = "") -> None:
        self.ctx = ctx
        self.log = log
        self.peer = peer
        self.phase = Phase.READY
        self.login = 0
        self.investor = False
        #: Symbol ids whose ticks and statistics this connection receives (command 7).
        self.tick_ids: frozenset[int] = frozenset()
        #: Symbol ids whose depth of market this connection receives (command 22).
        self.book_ids: frozenset[int] = frozenset()

    def __repr__(self) -> str:
        return f"<Session {self.phase.value} login={self.login or '-'}>"

    def handle(self, request: RequestFrame) -> Reply:
        """Answer one request (never raises for bad input: malformed payloads get code 1)."""
        command = request.command
        entry = _HANDLERS.get(command)
        if entry is None:
            level = logging.INFO if command in KNOWN_COMMANDS else logging.WARNING
            self.log.log(level, "unsupported command %d (%d B payload): code 1", command, len(request.payload))
            return Reply(_INTERNAL)
        handler, allowed = entry
        if self.phase not in allowed:
            self.log.info("command %s refused in phase %s: code 3", _name(command), self.phase.value)
            return Reply(_AUTH)
        try:
            return handler(self, request.payload)
        except ProtocolError as exc:
            self.log.warning("malformed %s request: %s", _name(command), exc)
            return Reply(_INTERNAL)

    # --- session ------------------------------------------------------------------------------------

    def _login(self, payload: bytes) -> Reply:
        request = msg.read_login_request(payload)
        login = int(request["login"])
        refusal = self.ctx.login_refusal
        if refusal is not None:
            self.log.info("login %d refused by fault injection: code %d", login, refusal)
            return Reply(refusal)
        outcome = self.ctx.auth.login(request, self.peer)
        if outcome.code != _OK:
            self.log.info("login %d failed: code %d", login, outcome.code)
            return Reply(outcome.code, delay=outcome.delay)
        if self.phase is Phase.LOGGED_IN:
            self.ctx.logged_out(self)
        self.phase, self.login, self.investor = Phase.LOGGED_IN, login, outcome.investor
        self.tick_ids = self.book_ids = frozenset()
        self.ctx.logged_in(self)
        self.log.info("login %d ok%s", login, " (investor)" if outcome.investor else "")
        # The client starts with the link up (SPEC §5.23): tell a new session at once when it is not.
        pushes = [] if self.ctx.trade_link_up else [(int(Command.LINK_STATE), msg.build_link_state(1))]
        return Reply(body=msg.build_login_response(outcome.blob, outcome.session), pushes=pushes)

    def _logout(self, payload: bytes) -> Reply:
        if self.phase is Phase.LOGGED_IN:
            self.log.info("logout %d", self.login)
            self.ctx.logged_out(self)
            self.phase, self.login = Phase.READY, 0
            self.tick_ids = self.book_ids = frozenset()
        return Reply()

    def _ping(self, payload: bytes) -> Reply:
        return Reply()

    def _init(self, payload: bytes) -> Reply:
        msg.read_init_request(payload)
        if self.phase is Phase.READY:
            self.phase = Phase.CONFIG
        return Reply()

    def _otp(self, payload: bytes) -> Reply:
        request = msg.read_otp_request(payload)
        login = int(request["login"])
        access = self.ctx.auth.verify(
            login, str(request["password"]), bytes(request["password_blob"] or b""), self.peer
        )
        if access is None or access:
            self.log.info("OTP request for %d refused: code 3", login)
            return Reply(_AUTH)
        if request["otp_secret"]:
            code = self.ctx.auth.bind_otp(login, str(request["otp_secret"]), str(request["otp_secret_check"]))
        else:
            code = self.ctx.auth.unbind_otp(login, str(request["otp"]))
        self.log.info("OTP %s for %d: code %d", "bind" if request["otp_secret"] else "unbind", login, code)
        return Reply(code)

    # --- configuration connection -------------------------------------------------------------------

    def _trader_params(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_trader_params(*TRADER_PARAMS))

    def _verify_request(self, payload: bytes) -> Reply:
        msg.read_verification_request(payload)
        return Reply(body=msg.build_verification_response(0, 0))  # no code needed: open directly

    def _verify_submit(self, payload: bytes) -> Reply:
        msg.read_open_account_request(payload)
        return Reply(body=msg.build_verification_response(1, 1))

    def _open_demo(self, payload: bytes) -> Reply:
        form = msg.read_open_account_request(payload)
        login, password, investor = self.ctx.open_demo_account(form)
        self.log.info("demo account %d opened", login)
        return Reply(body=msg.build_open_account_response(0, login, password, investor))

    def _open_real(self, payload: bytes) -> Reply:
        # A real account needs the broker's review: the application is taken, no account exists yet.
        _, _, documents = msg.read_open_real_account_request(payload)
        self.log.info("real account application with %d documents taken", len(documents))
        return Reply(body=msg.build_open_account_response(0))

    # --- account and trading ------------------------------------------------------------------------

    def _account(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_account(self.ctx.engine.account_body(self.login)))

    def _opened(self, payload: bytes) -> Reply:
        engine = self.ctx.engine
        return Reply(body=msg.build_opened(engine.positions(self.login), engine.orders(self.login)))

    def _history(self, payload: bytes) -> Reply:
        from_s, to_s = msg.read_history_request(payload)
        deals, orders = self.ctx.engine.history(self.login, max(from_s, 0), to_s if to_s > 0 else 0)
        return Reply(body=msg.build_history(deals, orders))

    def _trade(self, payload: bytes) -> Reply:
        request = msg.read_trade_request(payload)
        if not self.ctx.trade_link_up:
            return Reply(body=msg.build_trade_status(_RETCODE_NO_CONNECTION))
        if self.investor:
            return Reply(body=msg.build_trade_status(_RETCODE_TRADE_DISABLED))
        submission = self.ctx.engine.submit(self.login, request)
        return Reply(body=msg.build_trade_status(submission.status), events=list(submission.events))

    def _change_password(self, payload: bytes) -> Reply:
        request = msg.read_change_password_request(payload)
        result = self.ctx.auth.change_password(
            self.login, str(request["old_password"]), str(request["new_password"]), bool(request["is_investor"])
        )
        self.log.info("password change for %d: result %d", self.login, result)
        return Reply(body=msg.build_change_password_response(result))

    def _notify(self, payload: bytes) -> Reply:
        msg.read_notify_request(payload)
        return Reply()

    def _corporate_links(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_corporate_links(CORPORATE_LINKS))

    # --- symbols and market data --------------------------------------------------------------------

    def _symbols(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_symbols([s.symbol_short_values() for s in self.ctx.catalogue]))

    def _symbols_compressed(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_symbols_compressed([s.symbol_short_values() for s in self.ctx.catalogue]))

    def _groups(self, payload: bytes) -> Reply:
        return Reply(body=msg.build_symbol_groups(self.ctx.catalogue.groups()))

    def _full_symbols(self, payload: bytes) -> Reply:
        values = [self.ctx.symbol_full_values(i) for i in msg.read_id_list(payload)]
        return Reply(body=msg.build_full_symbols([v for v in values if v is not None]))

    def _spreads(self, payload: bytes) -> Reply:
        msg.read_id_list(payload)
        return Reply(body=msg.build_spreads([]))  # the simulated symbols define no inter-symbol margins

    def _subscribe_ticks(self, payload: bytes) -> Reply:
        ids = self._known_ids(msg.read_id_list(payload))
        added = [i for i in ids if i not in self.tick_ids]
        self.tick_ids = frozenset(ids)
        return Reply(pushes=self.ctx.snapshot(self, added) if added else [])

    def _subscribe_book(self, payload: bytes) -> Reply:
        ids = self._known_ids(msg.read_id_list(payload))
        added = [i for i in ids if i not in self.book_ids]
        self.book_ids = frozenset(ids)
        return Reply(pushes=self.ctx.book_snapshot(self, added) if added else [])

    def _rates(self, payload: bytes) -> Reply:
        symbol, period, from_s, to_s = msg.read_rates_request(payload)
        try:
            Period(period)
        except ValueError:
            self.log.info("rates request with unknown period %d: code 1", period)
            return Reply(_INTERNAL)
        if self.ctx.catalogue.get(symbol) is None:
            return Reply()
        now_ms = self.ctx.clock.now_ms()
        if to_s <= 0:
            to_s = now_ms // 1000
        return Reply(body=self.ctx.model.bars_wire(symbol, period, from_s, to_s, now_ms=now_ms))

    def _known_ids(self, ids: Sequence[int]) -> list[int]:
        out: list[int] = []
        for i in dict.fromkeys(ids):
            if self.ctx.symbol_full_values(i) is not None:
                out.append(i)
        return out


_ANON = frozenset({Phase.READY, Phase.CONFIG, Phase.LOGGED_IN})
_CONFIG = frozenset({Phase.CONFIG, Phase.LOGGED_IN})
_LOGGED_IN = frozenset({Phase.LOGGED_IN})

_HANDLERS: dict[int, tuple[Handler, frozenset[Phase]]] = {
    Command.LOGIN: (Session._login, _ANON),
    Command.LOGOUT: (Session._logout, _ANON),
    Command.PING: (Session._ping, _ANON),
    Command.INIT: (Session._init, _ANON),
    Command.OTP: (Session._otp, _ANON),
    Command.TRADER_PARAMS: (Session._trader_params, _CONFIG),
    Command.VERIFY_CODES_REQUEST: (Session._verify_request, _CONFIG),
    Command.VERIFY_CODES_SUBMIT: (Session._verify_submit, _CONFIG),
    Command.OPEN_DEMO: (Session._open_demo, _CONFIG),
    Command.OPEN_REAL: (Session._open_real, _CONFIG),
    Command.ACCOUNT: (Session._account, _LOGGED_IN),
    Command.OPENED: (Session._opened, _LOGGED_IN),
    Command.HISTORY: (Session._history, _LOGGED_IN),
    Command.SYMBOLS: (Session._symbols, _LOGGED_IN),
    Command.SYMBOLS_COMPRESSED: (Session._symbols_compressed, _LOGGED_IN),
    Command.SYMBOL_GROUPS: (Session._groups, _LOGGED_IN),
    Command.FULL_SYMBOLS: (Session._full_symbols, _LOGGED_IN),
    Command.SPREADS: (Session._spreads, _LOGGED_IN),
    Command.SUBSCRIBE_TICKS: (Session._subscribe_ticks, _LOGGED_IN),
    Command.SUBSCRIBE_BOOK: (Session._subscribe_book, _LOGGED_IN),
    Command.RATES: (Session._rates, _LOGGED_IN),
    Command.TRADE_REQUEST: (Session._trade, _LOGGED_IN),
    Command.CHANGE_PASSWORD: (Session._change_password, _LOGGED_IN),
    Command.NOTIFY: (Session._notify, _LOGGED_IN),
    Command.CORPORATE_LINKS: (Session._corporate_links, _LOGGED_IN),
}

#: The command ids a session answers with something else than code 1.
HANDLED_COMMANDS: frozenset[int] = frozenset(_HANDLERS)


def _name(command: int) -> str:
    try:
        return str(Command(command))
    except ValueError:
        return str(command)
