"""A drop-in for the official ``MetaTrader5`` package: ``import pymt5_core.mt5 as mt5``.

Same functions, signatures, return types (numpy dtypes, namedtuples with the official field orders),
constants and error model: functions return ``None`` (or ``False``) on failure and :func:`last_error`
says why with the official ``RES_*`` codes. It runs on a blocking
:class:`~pymt5_core.sync.MT5ClientSync` held by the module, over the web terminal protocol instead of a
local terminal, so it works on any OS. The differences, and why, are in ``docs/compat.md``:

* ``initialize(server=...)`` takes the web terminal's WebSocket URL (or ``PYMT5_URL``); ``path`` and
  ``portable`` are accepted and ignored (a URL given as ``path`` is used as the server).
* Periods the protocol lacks (M2, M3, M4, M6, M10, M12, M20, H2, H3, H6, H8, H12) are built from the
  largest served period dividing them (see :mod:`pymt5_core._timeframes`).
* ``copy_ticks_from``/``copy_ticks_range`` return the ticks recorded from the live stream since the symbol
  was selected: the protocol has no tick history. At most :data:`TICK_BUFFER` ticks per symbol are kept.
* ``order_check`` is computed locally (the protocol has no check request).
* Naive datetimes are read as UTC (the official package's documented convention).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from pymt5_core import _mt5_constants as _c
from pymt5_core._mt5_constants import *  # noqa: F403
from pymt5_core._mt5_constants import __all__ as _constant_names
from pymt5_core._symbol_mask import SymbolMask
from pymt5_core._timeframes import RATES_DTYPE, TICKS_DTYPE, Timeframe, aggregate, parse_timeframe
from pymt5_core._validate import check_login, check_url
from pymt5_core.errors import (
    AuthError,
    ConnectionError_,
    InvalidRequest,
    MT5Error,
    RequestTimeout,
    TradeRejected,
    UnknownSymbol,
)

if TYPE_CHECKING:
    from pymt5_core.sync import MT5ClientSync

__version__ = "5.0.5687"
__author__ = "pymt5-core"

#: Ticks kept per selected symbol for copy_ticks_*.
TICK_BUFFER = 100_000
#: Seconds symbol_info_tick() waits for the first quote of a symbol just selected.
_QUOTE_WAIT = 10.0
#: Build date reported by version(); the web terminal release this library follows (SPEC §11).
_BUILD_DATE = "15 Mar 2026"

P = ParamSpec("P")
R = TypeVar("R")


# --- return types (field orders exactly as the official package prints them) ---------------------------


class AccountInfo(NamedTuple):
    """``account_info()``."""

    login: int
    trade_mode: int
    leverage: int
    limit_orders: int
    margin_so_mode: int
    trade_allowed: bool
    trade_expert: bool
    margin_mode: int
    currency_digits: int
    fifo_close: bool
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    margin_level: float
    margin_so_call: float
    margin_so_so: float
    margin_initial: float
    margin_maintenance: float
    assets: float
    liabilities: float
    commission_blocked: float
    name: str
    server: str
    currency: str
    company: str


class TerminalInfo(NamedTuple):
    """``terminal_info()``."""

    community_account: bool
    community_connection: bool
    connected: bool
    dlls_allowed: bool
    trade_allowed: bool
    tradeapi_disabled: bool
    email_enabled: bool
    ftp_enabled: bool
    notifications_enabled: bool
    mqid: bool
    build: int
    maxbars: int
    codepage: int
    ping_last: int
    community_balance: float
    retransmission: float
    company: str
    name: str
    language: str
    path: str
    data_path: str
    commondata_path: str


_SYMBOL_FIELDS = (  # noqa: SIM905 - 96 names read better as text
    "custom chart_mode select visible session_deals session_buy_orders session_sell_orders volume volumehigh "
    "volumelow time digits spread spread_float ticks_bookdepth trade_calc_mode trade_mode start_time "
    "expiration_time trade_stops_level trade_freeze_level trade_exemode swap_mode swap_rollover3days "
    "margin_hedged_use_leg expiration_mode filling_mode order_mode order_gtc_mode option_mode option_right bid "
    "bidhigh bidlow ask askhigh asklow last lasthigh lastlow volume_real volumehigh_real volumelow_real "
    "option_strike point trade_tick_value trade_tick_value_profit trade_tick_value_loss trade_tick_size "
    "trade_contract_size trade_accrued_interest trade_face_value trade_liquidity_rate volume_min volume_max "
    "volume_step volume_limit swap_long swap_short margin_initial margin_maintenance session_volume "
    "session_turnover session_interest session_buy_orders_volume session_sell_orders_volume session_open "
    "session_close session_aw session_price_settlement session_price_limit_min session_price_limit_max "
    "margin_hedged price_change price_volatility price_theoretical price_greeks_delta price_greeks_theta "
    "price_greeks_gamma price_greeks_vega price_greeks_rho price_greeks_omega price_sensitivity basis category "
    "currency_base currency_profit currency_margin bank description exchange formula isin name page path"
).split()
#: ``symbol_info()``: 96 fields.
SymbolInfo = collections.namedtuple("SymbolInfo", _SYMBOL_FIELDS)  # type: ignore[misc]


class Tick(NamedTuple):
    """``symbol_info_tick()``."""

    time: int
    bid: float
    ask: float
    last: float
    volume: int
    time_msc: int
    flags: int
    volume_real: float


class BookInfo(NamedTuple):
    """One level of ``market_book_get()``."""

    type: int
    price: float
    volume: int
    volume_dbl: float


class TradeOrder(NamedTuple):
    """``orders_get()`` / ``history_orders_get()``."""

    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
    symbol: str
    comment: str
    external_id: str


class TradePosition(NamedTuple):
    """``positions_get()``."""

    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str


class TradeDeal(NamedTuple):
    """``history_deals_get()``."""

    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str


class TradeRequest(NamedTuple):
    """The request echoed in results."""

    action: int
    magic: int
    order: int
    symbol: str
    volume: float
    price: float
    stoplimit: float
    sl: float
    tp: float
    deviation: int
    type: int
    type_filling: int
    type_time: int
    expiration: int
    comment: str
    position: int
    position_by: int


class OrderSendResult(NamedTuple):
    """``order_send()``."""

    retcode: int
    deal: int
    order: int
    volume: float
    price: float
    bid: float
    ask: float
    comment: str
    request_id: int
    retcode_external: int
    request: TradeRequest


class OrderCheckResult(NamedTuple):
    """``order_check()``."""

    retcode: int
    balance: float
    equity: float
    profit: float
    margin: float
    margin_free: float
    margin_level: float
    comment: str
    request: TradeRequest


# --- module state ----------------------------------------------------------------------------------------


class _Failure(Exception):
    """Internal: a failure with its RES_* code."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Terminal:
    """What the official package keeps in the terminal: the connection, selections, recorded ticks."""

    def __init__(self) -> None:
        self.client: MT5ClientSync | None = None
        self.url = ""
        self.error: tuple[int, str] = (_c.RES_S_OK, _c.RES_DESCRIPTIONS[_c.RES_S_OK])
        self.lock = threading.Lock()
        self.selected: set[str] = set()
        self.ticks: dict[str, collections.deque[tuple[Any, ...]]] = {}
        self.books: dict[str, Any] = {}
        self.book_symbols: set[str] = set()
        self.book_streams: dict[str, Any] = {}
        self.unsubscribe: list[Callable[[], Any]] = []

    def need(self) -> MT5ClientSync:
        if self.client is None:
            raise _Failure(_c.RES_E_INTERNAL_FAIL_CONNECT, "not initialized: call initialize() first")
        return self.client

    def reset(self) -> None:
        for undo in self.unsubscribe:
            with contextlib.suppress(Exception):  # best effort on shutdown
                undo()
        self.__init__()  # type: ignore[misc]

    # ticks recorded from the stream --------------------------------------------------------------------
    def on_tick(self, tick: Any) -> None:
        with self.lock:
            buf = self.ticks.get(tick.symbol)
            if buf is None:
                return
            flags = (int(tick.flags) & 0x0F) << 1  # wire bits 1,2,4,8 -> TICK_FLAG_BID..VOLUME
            buf.append((tick.time_msc // 1000, tick.bid, tick.ask, tick.last, int(tick.volume), tick.time_msc,
                        flags, float(tick.volume)))

    def on_book(self, update: Any) -> None:
        with self.lock:
            if update.symbol in self.book_symbols:
                self.books[update.symbol] = update


_state = _Terminal()


def _set_error(code: int, detail: str = "") -> None:
    base = _c.RES_DESCRIPTIONS.get(code, "Error")
    _state.error = (code, f"{base}: {detail}" if detail and code != _c.RES_S_OK else base)


def _classify(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, _Failure):
        return exc.code, exc.detail
    if isinstance(exc, AuthError):
        return _c.RES_E_AUTH_FAILED, str(exc)
    if isinstance(exc, RequestTimeout | TimeoutError):
        return _c.RES_E_INTERNAL_FAIL_TIMEOUT, str(exc)
    if isinstance(exc, ConnectionError_ | OSError):
        return _c.RES_E_INTERNAL_FAIL_CONNECT, str(exc)
    if isinstance(exc, UnknownSymbol):
        return _c.RES_E_NOT_FOUND, str(exc)
    if isinstance(exc, InvalidRequest | ValueError | TypeError):
        return _c.RES_E_INVALID_PARAMS, str(exc)
    if isinstance(exc, MT5Error):
        return _c.RES_E_FAIL, str(exc)
    return _c.RES_E_INTERNAL_FAIL, f"{type(exc).__name__}: {exc}"


def _api(on_error: Any = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run a function the official way: set last_error, return ``on_error`` instead of raising."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                _set_error(*_classify(exc))
                return on_error  # type: ignore[no-any-return]
            _set_error(_c.RES_S_OK)
            return result

        return inner

    return wrap


# --- conversions -------------------------------------------------------------------------------------------


def _seconds(value: Any, what: str) -> int:
    """Datetime (naive = UTC, as the official package), or Unix seconds."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return int(value)
    if hasattr(value, "timestamp"):
        return int(value.timestamp())
    raise _Failure(_c.RES_E_INVALID_PARAMS, f"{what} must be a datetime or Unix seconds")


def _count(value: Any, what: str = "count") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise _Failure(_c.RES_E_INVALID_PARAMS, f"{what} must be a non-negative integer")
    return int(value)


def _timeframe(value: Any) -> Timeframe:
    try:
        return parse_timeframe(value)
    except InvalidRequest as exc:
        raise _Failure(_c.RES_E_INVALID_PARAMS, str(exc)) from None


def _s_ms(msc: int) -> tuple[int, int]:
    return int(msc) // 1000, int(msc)


def _dt_s(value: datetime | None) -> int:
    return int(value.timestamp()) if value is not None else 0


def _account_tuple(a: Any) -> AccountInfo:
    # Wire account_type REAL 0 / DEMO 1 / CONTEST 2 -> ACCOUNT_TRADE_MODE DEMO 0 / CONTEST 1 / REAL 2.
    mode = {0: _c.ACCOUNT_TRADE_MODE_REAL, 1: _c.ACCOUNT_TRADE_MODE_DEMO, 2: _c.ACCOUNT_TRADE_MODE_CONTEST}
    return AccountInfo(
        login=int(a.login), trade_mode=mode.get(int(a.trade_mode), _c.ACCOUNT_TRADE_MODE_DEMO),
        leverage=int(a.leverage), limit_orders=0, margin_so_mode=int(a.margin_so_mode),
        trade_allowed=bool(a.trade_allowed), trade_expert=True, margin_mode=int(a.margin_mode),
        currency_digits=int(a.currency_digits), fifo_close=False, balance=float(a.balance), credit=float(a.credit),
        profit=float(a.profit), equity=float(a.equity), margin=float(a.margin), margin_free=float(a.margin_free),
        margin_level=float(a.margin_level), margin_so_call=float(a.margin_so_call),
        margin_so_so=float(a.margin_so_so), margin_initial=0.0, margin_maintenance=0.0, assets=0.0,
        liabilities=0.0, commission_blocked=0.0, name=str(a.name), server=str(a.server),
        currency=str(a.currency), company=str(a.company),
    )


def _symbol_tuple(s: Any, selected: bool) -> Any:
    point = float(s.point) or 10.0 ** -int(s.digits)
    spread = round((s.ask - s.bid) / point) if s.ask and s.bid else int(s.spread)
    values: dict[str, Any] = dict.fromkeys(_SYMBOL_FIELDS, 0)
    values.update(
        custom=False, chart_mode=int(s.chart_mode), select=selected, visible=selected, time=int(s.time_msc) // 1000,
        digits=int(s.digits), spread=spread, spread_float=int(s.spread) == 0, ticks_bookdepth=int(s.book_depth),
        trade_calc_mode=int(s.calc_mode), trade_mode=int(s.trade_mode), start_time=int(s.time_start),
        expiration_time=int(s.time_expiration), trade_stops_level=int(s.stops_level),
        trade_freeze_level=int(s.freeze_level), trade_exemode=int(s.exec_mode), swap_mode=int(s.swap_mode),
        swap_rollover3days=int(s.swap_rollover3days), margin_hedged_use_leg=False,
        expiration_mode=int(s.expiration_flags), filling_mode=int(s.filling_flags), order_mode=int(s.order_flags),
        order_gtc_mode=int(s.gtc_mode), bid=float(s.bid), ask=float(s.ask), last=float(s.last),
        volume_real=0.0, volumehigh_real=0.0, volumelow_real=0.0, option_strike=0.0, point=point,
        trade_tick_value=float(s.tick_value), trade_tick_value_profit=float(s.tick_value),
        trade_tick_value_loss=float(s.tick_value), trade_tick_size=float(s.tick_size),
        trade_contract_size=float(s.contract_size), trade_accrued_interest=0.0, trade_face_value=float(s.face_value),
        trade_liquidity_rate=0.0, volume_min=float(s.volume_min), volume_max=float(s.volume_max),
        volume_step=float(s.volume_step), volume_limit=float(s.volume_limit), swap_long=float(s.swap_long),
        swap_short=float(s.swap_short), margin_initial=float(s.margin_initial),
        margin_maintenance=float(s.margin_maintenance), margin_hedged=float(s.margin_hedged),
        basis=str(s.basis), category=str(s.category), currency_base=str(s.currency_base),
        currency_profit=str(s.currency_profit), currency_margin=str(s.currency_margin), bank="",
        description=str(s.description), exchange=str(s.exchange), formula="", isin=str(s.isin), name=str(s.name),
        page="", path=str(s.path),
    )
    for name in ("bidhigh", "bidlow", "askhigh", "asklow", "lasthigh", "lastlow", "session_volume",
                 "session_turnover", "session_interest", "session_buy_orders_volume", "session_sell_orders_volume",
                 "session_open", "session_close", "session_aw", "session_price_settlement", "session_price_limit_min",
                 "session_price_limit_max", "price_change", "price_volatility", "price_theoretical",
                 "price_greeks_delta", "price_greeks_theta", "price_greeks_gamma", "price_greeks_vega",
                 "price_greeks_rho", "price_greeks_omega", "price_sensitivity"):
        values[name] = float(values[name])
    return SymbolInfo(**values)


def _order_tuple(o: Any) -> TradeOrder:
    setup, setup_ms = _s_ms(o.time_setup_msc)
    done, done_ms = _s_ms(o.time_done_msc)
    return TradeOrder(
        ticket=int(o.ticket), time_setup=setup, time_setup_msc=setup_ms, time_done=done, time_done_msc=done_ms,
        time_expiration=int(o.time_expiration), type=int(o.type), type_time=int(o.type_time),
        type_filling=int(o.type_filling), state=int(o.state), magic=int(o.magic), position_id=int(o.position_id),
        position_by_id=int(getattr(o, "position_by_id", 0)), reason=int(o.reason),
        volume_initial=float(o.volume_initial), volume_current=float(o.volume_current),
        price_open=float(o.price_open), sl=float(o.sl), tp=float(o.tp), price_current=float(o.price_current),
        price_stoplimit=float(o.price_stoplimit), symbol=str(o.symbol), comment=str(o.comment),
        external_id=str(o.external_id),
    )


def _position_tuple(p: Any) -> TradePosition:
    t, t_ms = _s_ms(p.time_msc)
    u, u_ms = _s_ms(p.time_update_msc or p.time_msc)
    return TradePosition(
        ticket=int(p.ticket), time=t, time_msc=t_ms, time_update=u, time_update_msc=u_ms, type=int(p.type),
        magic=int(p.magic), identifier=int(p.identifier), reason=int(p.reason), volume=float(p.volume),
        price_open=float(p.price_open), sl=float(p.sl), tp=float(p.tp), price_current=float(p.price_current),
        swap=float(p.swap), profit=float(p.profit), symbol=str(p.symbol), comment=str(p.comment),
        external_id=str(p.external_id),
    )


def _deal_tuple(d: Any) -> TradeDeal:
    t, t_ms = _s_ms(d.time_msc)
    return TradeDeal(
        ticket=int(d.ticket), order=int(d.order), time=t, time_msc=t_ms, type=int(d.type), entry=int(d.entry),
        magic=int(d.magic), position_id=int(d.position_id), reason=int(d.reason), volume=float(d.volume),
        price=float(d.price), commission=float(d.commission), swap=float(d.swap), profit=float(d.profit),
        fee=float(d.fee), symbol=str(d.symbol), comment=str(d.comment), external_id=str(d.external_id),
    )


_REQUEST_DEFAULTS: dict[str, Any] = {
    "action": 0, "magic": 0, "order": 0, "symbol": "", "volume": 0.0, "price": 0.0, "stoplimit": 0.0, "sl": 0.0,
    "tp": 0.0, "deviation": 0, "type": 0, "type_filling": 0, "type_time": 0, "expiration": 0, "comment": "",
    "position": 0, "position_by": 0,
}


def _request_tuple(request: Any) -> TradeRequest:
    if not isinstance(request, Mapping):
        raise _Failure(_c.RES_E_INVALID_PARAMS, "request must be a dict")
    unknown = set(request) - set(_REQUEST_DEFAULTS)
    if unknown:
        raise _Failure(_c.RES_E_INVALID_PARAMS, f"unknown request fields {sorted(unknown)}")
    values = {**_REQUEST_DEFAULTS, **request}
    if values["action"] not in (_c.TRADE_ACTION_DEAL, _c.TRADE_ACTION_PENDING, _c.TRADE_ACTION_SLTP,
                                _c.TRADE_ACTION_MODIFY, _c.TRADE_ACTION_REMOVE, _c.TRADE_ACTION_CLOSE_BY):
        raise _Failure(_c.RES_E_INVALID_PARAMS, f"unknown action {values['action']!r}")
    try:
        if isinstance(values["expiration"], datetime):
            values["expiration"] = _seconds(values["expiration"], "expiration")
        for key in ("volume", "price", "stoplimit", "sl", "tp"):
            values[key] = float(values[key])
        for key in ("action", "magic", "order", "deviation", "type", "type_filling", "type_time", "expiration",
                    "position", "position_by"):
            values[key] = int(values[key])
    except (TypeError, ValueError) as exc:
        raise _Failure(_c.RES_E_INVALID_PARAMS, f"bad request value: {exc}") from None
    return TradeRequest(**{k: values[k] for k in _REQUEST_DEFAULTS})


def _client_request(req: TradeRequest, request: Mapping[str, Any]) -> Any:
    from pymt5_core.models import TradeRequest as ClientRequest

    return ClientRequest(
        action=req.action, symbol=req.symbol, volume=req.volume, type=req.type, price=req.price,
        stoplimit=req.stoplimit, sl=req.sl, tp=req.tp, deviation=req.deviation,
        type_filling=req.type_filling if "type_filling" in request else None, type_time=req.type_time,
        expiration=req.expiration, comment=req.comment, position=req.position, position_by=req.position_by,
        order=req.order, magic=req.magic,
    )


# --- connection -------------------------------------------------------------------------------------------


def _checked(url: Any, account: Any, password: Any, timeout: Any) -> tuple[str, int, str, int]:
    """The connection arguments, checked before the current connection is given up."""
    if not isinstance(password, str) or not password:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "password must be a non-empty str")
    return check_url(url), check_login(account), password, _count(timeout, "timeout")


def _open(url: str, login_: int, password: str, timeout_ms: int) -> None:
    from pymt5_core.sync import MT5ClientSync

    _state.reset()
    client = MT5ClientSync(url, timeout=max(timeout_ms, 1000) / 1000.0)
    try:
        client.connect()
        client.login(login_, password)
    except BaseException:
        client.close()
        raise
    _state.client = client
    _state.url = url
    _hook_streams(client)


def _hook_streams(client: MT5ClientSync) -> None:
    from pymt5_core.models import BookUpdate as ClientBook
    from pymt5_core.models import Tick as ClientTick

    for event, callback in ((ClientTick, _state.on_tick), (ClientBook, _state.on_book)):
        undo = client.on(event, callback)
        if callable(undo):
            _state.unsubscribe.append(undo)


@_api(False)
def initialize(
    path: str | None = None,
    *,
    login: int | None = None,
    password: str | None = None,
    server: str | None = None,
    timeout: int = 60000,
    portable: bool = False,
) -> bool:
    """Connect and log in. ``server`` is the web terminal WebSocket URL (default ``PYMT5_URL``); ``login``
    and ``password`` default to ``PYMT5_LOGIN``/``PYMT5_PASSWORD``. ``timeout`` is in milliseconds.
    ``path`` (a terminal executable in the official package) and ``portable`` are ignored, except that a
    ``ws://``/``wss://`` URL given as ``path`` is used as the server.
    """
    url = server or (path if path and path.startswith(("ws://", "wss://")) else None) or os.environ.get("PYMT5_URL")
    if not url:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "no server: pass server='wss://...' or set PYMT5_URL")
    account = login if login is not None else os.environ.get("PYMT5_LOGIN")
    secret = password if password is not None else os.environ.get("PYMT5_PASSWORD")
    if account is None or secret is None:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "no account: pass login= and password=, or set PYMT5_LOGIN/PASSWORD")
    _open(*_checked(url, account, secret, timeout))
    return True


@_api(False)
def login(account: int, password: str | None = None, server: str | None = None, timeout: int = 60000) -> bool:
    """Switch to another account, on the current server unless ``server`` (a URL) is given."""
    url = server or _state.url or os.environ.get("PYMT5_URL")
    if not url:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "no server: call initialize() or pass server=")
    secret = password if password is not None else os.environ.get("PYMT5_PASSWORD")
    if secret is None:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "no password")
    _open(*_checked(url, account, secret, timeout))
    return True


def shutdown() -> None:
    """Close the connection (nothing happens when there is none)."""
    client = _state.client
    _state.reset()
    if client is not None:
        with contextlib.suppress(Exception):  # closing is best effort
            client.close()


def last_error() -> tuple[int, str]:
    """``(code, description)`` of the last call: ``(1, 'Success')`` or a ``RES_*`` code."""
    return _state.error


@_api(None)
def version() -> tuple[int, int, str]:
    """``(500, server build, build date)``."""
    client = _state.need()
    return (500, int(client.server_build), _BUILD_DATE)


# --- account, terminal, symbols ---------------------------------------------------------------------------


@_api(None)
def account_info() -> AccountInfo:
    """The account (balance, equity, margin, ...)."""
    return _account_tuple(_state.need().account())


@_api(None)
def terminal_info() -> TerminalInfo:
    """Connection facts in the official shape; there is no local terminal, so most flags are False."""
    client = _state.need()
    acc = client.account()
    latency = getattr(client, "latency", None)
    return TerminalInfo(
        community_account=False, community_connection=False, connected=True, dlls_allowed=False,
        trade_allowed=bool(acc.trade_allowed), tradeapi_disabled=False, email_enabled=False, ftp_enabled=False,
        notifications_enabled=False, mqid=False, build=int(client.server_build), maxbars=100_000, codepage=0,
        ping_last=int(latency * 1e6) if latency else 0, community_balance=0.0, retransmission=0.0,
        company=str(acc.company), name="pymt5-core", language="English", path="", data_path="", commondata_path="",
    )


@_api(None)
def symbols_total() -> int:
    """Number of symbols the account can see."""
    return len(_state.need().symbols())


@_api(None)
def symbols_get(group: str | None = None) -> tuple[Any, ...]:
    """Symbols matching a mask such as ``"*,!*EUR*"`` (on name or path), as ``SymbolInfo`` tuples."""
    mask = SymbolMask(group)
    return tuple(_symbol_tuple(s, s.name in _state.selected) for s in _state.need().symbols() if mask(s.name, s.path))


def _symbol(name: Any) -> Any:
    """The symbol's full configuration (one round trip to the client). The client refuses an unknown symbol
    itself (UnknownSymbol, reported as RES_E_NOT_FOUND), so calls that reach it need no look-up first."""
    if not isinstance(name, str) or not name:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "symbol must be a non-empty string")
    return _state.need().symbol(name)


@_api(None)
def symbol_info(symbol: str) -> Any:
    """The symbol's configuration and current prices (``SymbolInfo``, 96 fields)."""
    return _symbol_tuple(_symbol(symbol), symbol in _state.selected)


def _select(symbol: str) -> None:
    client = _state.need()
    with _state.lock:
        if symbol in _state.selected:
            return
    _symbol(symbol)  # refuses an unknown symbol before any state changes; loads its configuration
    with _state.lock:
        if symbol in _state.selected:
            return
        _state.selected.add(symbol)
        _state.ticks[symbol] = collections.deque(maxlen=TICK_BUFFER)
    # quote() subscribes the symbol for good; a zero timeout only skips waiting for its first tick.
    with contextlib.suppress(RequestTimeout):
        client.quote(symbol, timeout=0)


@_api(False)
def symbol_select(symbol: str, enable: bool | None = None) -> bool:
    """Add a symbol to Market Watch (subscribe to its ticks and start recording them), or remove it."""
    if enable is False:
        _symbol(symbol)
        with _state.lock:
            _state.selected.discard(symbol)
            _state.ticks.pop(symbol, None)
        return True
    _select(symbol)
    return True


@_api(None)
def symbol_info_tick(symbol: str) -> Tick | None:
    """The latest tick; selects the symbol first, as the terminal does for a chart."""
    _select(symbol)
    try:
        tick = _state.need().quote(symbol, timeout=_QUOTE_WAIT)
    except RequestTimeout:
        raise _Failure(_c.RES_E_NOT_FOUND, f"no quote for {symbol} yet (market closed?)") from None
    flags = (int(tick.flags) & 0x0F) << 1
    return Tick(int(tick.time_msc) // 1000, float(tick.bid), float(tick.ask), float(tick.last), int(tick.volume),
                int(tick.time_msc), flags, float(tick.volume))


# --- depth of market ----------------------------------------------------------------------------------------


@_api(False)
def market_book_add(symbol: str) -> bool:
    """Subscribe to the symbol's depth of market; poll it with :func:`market_book_get`."""
    _symbol(symbol)
    client = _state.need()
    with _state.lock:
        if symbol in _state.book_symbols:
            return True
        _state.book_symbols.add(symbol)
    stream = client.book(symbol)  # a blocking iterator of BookUpdate; drained on a daemon thread

    def drain() -> None:
        with contextlib.suppress(Exception):
            for update in stream:
                _state.on_book(update)
                if symbol not in _state.book_symbols:
                    break

    _state.book_streams[symbol] = stream
    threading.Thread(target=drain, name=f"mt5-book-{symbol}", daemon=True).start()
    return True


@_api(None)
def market_book_get(symbol: str) -> tuple[BookInfo, ...]:
    """The latest depth of market: sells from the highest price down, then buys from the highest down."""
    with _state.lock:
        if symbol not in _state.book_symbols:
            raise _Failure(_c.RES_E_NOT_FOUND, f"call market_book_add({symbol!r}) first")
        book = _state.books.get(symbol)
    if book is None:
        return ()
    levels = [BookInfo(_c.BOOK_TYPE_SELL, float(x.price), round(x.volume), float(x.volume)) for x in book.asks]
    levels += [BookInfo(_c.BOOK_TYPE_BUY, float(x.price), round(x.volume), float(x.volume)) for x in book.bids]
    return tuple(levels)


@_api(False)
def market_book_release(symbol: str) -> bool:
    """Stop the depth-of-market subscription."""
    with _state.lock:
        if symbol not in _state.book_symbols:
            raise _Failure(_c.RES_E_NOT_FOUND, f"{symbol} has no book subscription")
        _state.book_symbols.discard(symbol)
        _state.books.pop(symbol, None)
        stream = _state.book_streams.pop(symbol, None)
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
    return True


# --- rates and ticks ----------------------------------------------------------------------------------------


def _fetch(symbol: str, tf: Timeframe, start: int, end: int) -> npt.NDArray[Any]:
    lo = start - start % tf.seconds if not tf.served else start
    bars = np.asarray(_state.need().bars(symbol, tf.base, lo, end), dtype=RATES_DTYPE)
    if not tf.served:
        bars = aggregate(bars, tf.seconds)
        bars = bars[(bars["time"] >= start) & (bars["time"] <= end)]
    return bars


def _latest(symbol: str, tf: Timeframe, end: int | None, count: int) -> npt.NDArray[Any]:
    """The ``count`` latest bars opening at or before ``end`` (None: now), looking further back as needed."""
    if count == 0:
        _symbol(symbol)  # no bar request follows to refuse an unknown symbol
        return np.zeros(0, RATES_DTYPE)
    client = _state.need()
    # Counted back from the server's clock (it may differ from this machine's), as the terminal does.
    horizon = end if end is not None else client.wait_server_time(symbol) // 1000 + tf.seconds
    span = max(count * tf.seconds * 2, 7 * 86_400)
    bars = np.zeros(0, RATES_DTYPE)
    for _ in range(8):
        bars = _fetch(symbol, tf, horizon - span, horizon)
        if len(bars) >= count:
            break
        span *= 4
    return np.ascontiguousarray(bars[-count:])


@_api(None)
def copy_rates_from(symbol: str, timeframe: int, date_from: Any, count: int) -> npt.NDArray[Any]:
    """``count`` bars ending at ``date_from`` (the latest bars opening at or before it), oldest first."""
    tf = _timeframe(timeframe)
    return _latest(symbol, tf, _seconds(date_from, "date_from"), _count(count))


@_api(None)
def copy_rates_from_pos(symbol: str, timeframe: int, start_pos: int, count: int) -> npt.NDArray[Any]:
    """``count`` bars starting ``start_pos`` bars back from the current one (0 = the forming bar)."""
    tf = _timeframe(timeframe)
    skip, n = _count(start_pos, "start_pos"), _count(count)
    bars = _latest(symbol, tf, None, skip + n)
    return np.ascontiguousarray(bars[: len(bars) - skip] if skip else bars)


@_api(None)
def copy_rates_range(symbol: str, timeframe: int, date_from: Any, date_to: Any) -> npt.NDArray[Any]:
    """Bars opening in ``[date_from, date_to]``."""
    tf = _timeframe(timeframe)
    start, end = _seconds(date_from, "date_from"), _seconds(date_to, "date_to")
    if end < start:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "date_to is before date_from")
    return _fetch(symbol, tf, start, end)


def _recorded(symbol: str, flags: int) -> npt.NDArray[Any]:
    with _state.lock:
        rows = list(_state.ticks.get(symbol, ())) if symbol in _state.selected else None
    if rows is None:
        _symbol(symbol)  # an unknown symbol is reported as such, a known one as not selected
        raise _Failure(_c.RES_E_NOT_FOUND, f"{symbol} is not selected: call symbol_select({symbol!r}, True) "
                                           "first (ticks are recorded from the live stream)")
    ticks = np.array(rows, dtype=TICKS_DTYPE) if rows else np.zeros(0, TICKS_DTYPE)
    if flags == _c.COPY_TICKS_INFO:
        ticks = ticks[(ticks["flags"] & (_c.TICK_FLAG_BID | _c.TICK_FLAG_ASK)) != 0]
    elif flags == _c.COPY_TICKS_TRADE:
        ticks = ticks[(ticks["flags"] & (_c.TICK_FLAG_LAST | _c.TICK_FLAG_VOLUME)) != 0]
    elif flags != _c.COPY_TICKS_ALL:
        raise _Failure(_c.RES_E_INVALID_PARAMS, f"flags must be a COPY_TICKS_* value, not {flags!r}")
    return ticks


@_api(None)
def copy_ticks_from(symbol: str, date_from: Any, count: int, flags: int) -> npt.NDArray[Any]:
    """Up to ``count`` ticks from ``date_from`` on, from those recorded since :func:`symbol_select`.

    The web protocol has no tick history: ticks before the symbol was selected are not available.
    """
    start_ms = _seconds(date_from, "date_from") * 1000
    ticks = _recorded(symbol, flags)
    return np.ascontiguousarray(ticks[ticks["time_msc"] >= start_ms][: _count(count)])


@_api(None)
def copy_ticks_range(symbol: str, date_from: Any, date_to: Any, flags: int) -> npt.NDArray[Any]:
    """Ticks in ``[date_from, date_to]`` among those recorded since :func:`symbol_select` (see
    :func:`copy_ticks_from`)."""
    start_ms, end_ms = _seconds(date_from, "date_from") * 1000, _seconds(date_to, "date_to") * 1000 + 999
    if end_ms < start_ms:
        raise _Failure(_c.RES_E_INVALID_PARAMS, "date_to is before date_from")
    ticks = _recorded(symbol, flags)
    return np.ascontiguousarray(ticks[(ticks["time_msc"] >= start_ms) & (ticks["time_msc"] <= end_ms)])


# --- orders, positions, history ------------------------------------------------------------------------------


def _filter(items: list[Any], symbol: str | None, group: str | None, ticket: int | None, key: str = "ticket"
            ) -> list[Any]:
    for name, value in (("symbol", symbol), ("group", group)):
        if value is not None and not isinstance(value, str):
            raise _Failure(_c.RES_E_INVALID_PARAMS, f"{name} must be a str")
    if ticket is not None:
        _count(ticket, "ticket")
        return [x for x in items if int(getattr(x, key)) == int(ticket)]
    if symbol is not None:
        return [x for x in items if x.symbol == symbol]
    if group is not None:
        mask = SymbolMask(group)
        return [x for x in items if mask(x.symbol)]
    return items


@_api(None)
def orders_total() -> int:
    """Number of pending orders."""
    return len(_state.need().orders())


@_api(None)
def orders_get(symbol: str | None = None, group: str | None = None, ticket: int | None = None
               ) -> tuple[TradeOrder, ...]:
    """Pending orders, optionally by symbol, group mask or ticket."""
    return tuple(_order_tuple(o) for o in _filter(_state.need().orders(), symbol, group, ticket))


@_api(None)
def positions_total() -> int:
    """Number of open positions."""
    return len(_state.need().positions())


@_api(None)
def positions_get(symbol: str | None = None, group: str | None = None, ticket: int | None = None
                  ) -> tuple[TradePosition, ...]:
    """Open positions, optionally by symbol, group mask or ticket."""
    return tuple(_position_tuple(p) for p in _filter(_state.need().positions(), symbol, group, ticket))


def _history(date_from: Any, date_to: Any) -> tuple[list[Any], list[Any]]:
    if date_from is None or date_to is None:
        start, end = 0, int(datetime.now(UTC).timestamp()) + 7 * 86_400
    else:
        start, end = _seconds(date_from, "date_from"), _seconds(date_to, "date_to")
    deals, orders = _state.need().history(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
    return list(deals), list(orders)


@_api(None)
def history_orders_total(date_from: Any, date_to: Any) -> int:
    """Number of history orders in the range."""
    return len(_history(date_from, date_to)[1])


@_api(None)
def history_orders_get(date_from: Any = None, date_to: Any = None, group: str | None = None, ticket: int | None = None,
                       position: int | None = None) -> tuple[TradeOrder, ...]:
    """History orders in a range (optionally by group mask), or by ``ticket`` or ``position`` (all history)."""
    orders = _history(date_from, date_to)[1]
    if position is not None:
        orders = [o for o in orders if int(o.position_id) == int(position)]
    return tuple(_order_tuple(o) for o in _filter(orders, None, group, ticket))


@_api(None)
def history_deals_total(date_from: Any, date_to: Any) -> int:
    """Number of deals in the range."""
    return len(_history(date_from, date_to)[0])


@_api(None)
def history_deals_get(date_from: Any = None, date_to: Any = None, group: str | None = None, ticket: int | None = None,
                      position: int | None = None) -> tuple[TradeDeal, ...]:
    """Deals in a range (optionally by group mask), or by ``ticket`` or ``position`` (all history)."""
    deals = _history(date_from, date_to)[0]
    if position is not None:
        deals = [d for d in deals if int(d.position_id) == int(position)]
    return tuple(_deal_tuple(d) for d in _filter(deals, None, group, ticket))


# --- trading ---------------------------------------------------------------------------------------------------


@_api(None)
def order_calc_margin(action: int, symbol: str, volume: float, price: float) -> float:
    """Margin in the account currency for ``volume`` lots of an ``ORDER_TYPE_BUY``/``SELL`` at ``price``."""
    _symbol(symbol)
    return float(_state.need().order_calc_margin(int(action), symbol, float(volume), float(price)))


@_api(None)
def order_calc_profit(action: int, symbol: str, volume: float, price_open: float, price_close: float) -> float:
    """Profit in the account currency of a ``volume``-lot trade from ``price_open`` to ``price_close``."""
    _symbol(symbol)
    return float(_state.need().order_calc_profit(int(action), symbol, float(volume), float(price_open),
                                                 float(price_close)))


@_api(None)
def order_check(request: dict[str, Any]) -> OrderCheckResult:
    """Check funds for a request, computed locally: retcode 0 ``'Done'``, or the retcode that would fail it."""
    req = _request_tuple(request)
    client = _state.need()
    acc = client.account()
    margin = 0.0
    retcode, comment = 0, "Done"
    if req.action in (_c.TRADE_ACTION_DEAL, _c.TRADE_ACTION_PENDING) and not req.position:
        info = _symbol(req.symbol)
        too_big = info.volume_max and req.volume > info.volume_max
        if req.volume <= 0 or req.volume < info.volume_min - 1e-12 or too_big:
            retcode, comment = _c.TRADE_RETCODE_INVALID_VOLUME, "Invalid volume"
        else:
            side = _c.ORDER_TYPE_BUY if req.type in (0, 2, 4, 6) else _c.ORDER_TYPE_SELL
            price = req.price or (info.ask if side == _c.ORDER_TYPE_BUY else info.bid)
            margin = float(client.order_calc_margin(side, req.symbol, req.volume, price))
            if margin > acc.margin_free:
                retcode, comment = _c.TRADE_RETCODE_NO_MONEY, "No money"
    used = acc.margin + margin
    return OrderCheckResult(
        retcode=retcode, balance=float(acc.balance), equity=float(acc.equity), profit=float(acc.profit),
        margin=used, margin_free=float(acc.equity) - used, margin_level=acc.equity / used * 100 if used else 0.0,
        comment=comment, request=req,
    )


@_api(None)
def order_send(request: dict[str, Any]) -> OrderSendResult:
    """Send a trade request (the official request dict). A refused request still returns a result with its
    retcode; None means the request could not be sent (see :func:`last_error`)."""
    req = _request_tuple(request)
    client = _state.need()
    try:
        result = client.order_send(_client_request(req, request))
    except TradeRejected as exc:
        if exc.result is not None and hasattr(exc.result, "retcode"):
            result = exc.result
        else:
            return OrderSendResult(exc.retcode, 0, 0, 0.0, 0.0, 0.0, 0.0, exc.comment or str(exc), 0, 0, req)
    return OrderSendResult(
        retcode=int(result.retcode), deal=int(result.deal), order=int(result.order), volume=float(result.volume),
        price=float(result.price), bid=float(result.bid), ask=float(result.ask), comment=str(result.comment),
        request_id=int(result.request_id), retcode_external=0, request=req,
    )


__all__ = [
    *_constant_names,
    "AccountInfo", "BookInfo", "OrderCheckResult", "OrderSendResult", "SymbolInfo", "TerminalInfo", "Tick",
    "TradeDeal", "TradeOrder", "TradePosition", "TradeRequest",
    "account_info", "copy_rates_from", "copy_rates_from_pos", "copy_rates_range", "copy_ticks_from",
    "copy_ticks_range", "history_deals_get", "history_deals_total", "history_orders_get", "history_orders_total",
    "initialize", "last_error", "login", "market_book_add", "market_book_get", "market_book_release",
    "order_calc_margin", "order_calc_profit", "order_check", "order_send", "orders_get", "orders_total",
    "positions_get", "positions_total", "shutdown", "symbol_info", "symbol_info_tick", "symbol_select",
    "symbols_get", "symbols_total", "terminal_info", "version",
]
