"""Argument checks of the public entry points: each raises before anything is sent.

Two kinds of failure, as in ``docs/errors.md``:

* a value of the wrong type (a string volume, a float ticket, a non-callable callback) raises
  :class:`~pymt5_core.errors.InvalidRequest`, with the MT5 return code of the field when it has one;
* a trade value of the right type that the official client refuses locally (a volume of zero, a NaN
  price) raises :class:`~pymt5_core.errors.TradeRejected` with that return code. The checks that need the
  symbol's configuration (volume step, stops level, ...) live in :mod:`pymt5_core.trading`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from pymt5_core.errors import InvalidRequest, TradeRejected
from pymt5_core.models import RequestAction, TradeRequest
from pymt5_core.wire.enums import OrderFilling, OrderTime, OrderType, Retcode

__all__ = [
    "check_callable",
    "check_int",
    "check_login",
    "check_number",
    "check_seconds",
    "check_symbol_name",
    "check_ticket",
    "check_trade_request",
    "check_url",
]

_U64_MAX = 2**64 - 1
_I32_MAX = 2**31 - 1


def _type_name(value: object) -> str:
    return type(value).__name__


def check_int(value: object, what: str, *, minimum: int | None = None, maximum: int | None = None,
              retcode: int | None = None) -> int:
    """An integer (numpy integers too, never a bool or a float) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidRequest(f"{what} must be an integer, not {_type_name(value)} {value!r}", retcode=retcode)
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else f"{minimum}"
        high = "" if maximum is None else f"{maximum}"
        raise InvalidRequest(f"{what} must be in {low}..{high}, not {number}", retcode=retcode)
    return number


def check_number(value: object, what: str, *, positive: bool = False, minimum: float | None = None,
                 retcode: int | None = None) -> float:
    """A finite real number (not a bool); ``positive`` excludes zero and below, ``minimum`` what is below."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidRequest(f"{what} must be a number, not {_type_name(value)} {value!r}", retcode=retcode)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRequest(f"{what} must be a finite number, not {number}", retcode=retcode)
    if (positive and number <= 0) or (minimum is not None and number < minimum):
        bound = "positive" if positive else f">= {minimum:g}"
        raise InvalidRequest(f"{what} must be {bound}, not {number:g}", retcode=retcode)
    return number


def check_seconds(value: object, what: str) -> float:
    """A timeout or interval: a positive, finite number of seconds."""
    return check_number(value, what, positive=True)


def check_symbol_name(value: object, what: str = "symbol") -> str:
    """A non-empty symbol name (whether the server knows it is checked by the client)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be a symbol name (str), not {_type_name(value)} {value!r}",
                             retcode=Retcode.INVALID)
    if not value.strip():
        raise InvalidRequest(f"{what} is empty", retcode=Retcode.INVALID)
    return value


def check_ticket(value: object, what: str = "ticket") -> int:
    """An order, position or deal ticket: a positive integer."""
    if type(value) is int and 0 < value <= _U64_MAX:  # the usual ticket, without the general check
        return value
    return check_int(value, what, minimum=1, maximum=_U64_MAX, retcode=Retcode.INVALID)


def check_login(value: object) -> int:
    """An account number: a positive integer (a string of digits is accepted, as from an environment)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return check_int(value, "login", minimum=1, maximum=_U64_MAX)


def check_credentials(password: object, otp: object = None) -> tuple[str, str | None]:
    """A non-empty password string and an optional OTP string (their values never go into the message)."""
    if not isinstance(password, str) or not password:
        raise InvalidRequest(f"password must be a non-empty str, not {_type_name(password)}")
    if otp is not None and not isinstance(otp, str):
        raise InvalidRequest(f"otp must be a str, not {_type_name(otp)}")
    return password, otp


def check_url(value: object) -> str:
    """A ``ws://`` or ``wss://`` URL with a host."""
    if not isinstance(value, str):
        raise InvalidRequest(f"url must be a ws:// or wss:// URL (str), not {_type_name(value)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise InvalidRequest(f"url {value!r} is malformed: {exc}") from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidRequest(f"url must look like wss://HOST/terminal, not {value!r}")
    return value


def check_callable(value: object, what: str) -> Callable[..., Any]:
    """A function or coroutine function."""
    if not callable(value):
        raise InvalidRequest(f"{what} must be callable, not {_type_name(value)} {value!r}")
    return value


# --- trade requests -------------------------------------------------------------------------------------

_PRICE_FIELDS = (("price", Retcode.INVALID_PRICE), ("stoplimit", Retcode.INVALID_PRICE),
                 ("sl", Retcode.INVALID_STOPS), ("tp", Retcode.INVALID_STOPS))
_TICKET_FIELDS = ("position", "position_by", "order", "magic")
#: Actions that create exposure: their volume must be positive (a close may give 0 = the whole position).
_OPENING = (RequestAction.DEAL, RequestAction.PENDING)


def check_trade_request(request: object) -> TradeRequest:
    """Check the types and the symbol-independent values of a trade request.

    Raises:
        InvalidRequest: not a :class:`TradeRequest`, a field of the wrong type or an unknown action.
        TradeRejected: a volume, price or stop that no symbol accepts (zero or negative volume to open,
            NaN or infinite prices), with the official return code.
    """
    if type(request) is TradeRequest and _plainly_valid(request):
        return request
    return _check_each_field(request)


def _check_each_field(request: object) -> TradeRequest:
    """:func:`check_trade_request` field by field, raising for the first one that fails."""
    if not isinstance(request, TradeRequest):
        raise InvalidRequest(f"expected a TradeRequest, not {_type_name(request)}", retcode=Retcode.INVALID)
    r = request
    action = check_int(r.action, "action", retcode=Retcode.INVALID)
    if action not in RequestAction.__members__.values():
        raise InvalidRequest(f"unknown trade action {action}", retcode=Retcode.INVALID)
    symbol: object = r.symbol
    if not isinstance(symbol, str):
        check_symbol_name(symbol)
    check_int(r.type, "type", minimum=0, maximum=8, retcode=Retcode.INVALID_ORDER)
    volume = _real(r.volume, "volume", Retcode.INVALID_VOLUME)
    if volume < 0 or (volume == 0 and action in _OPENING and not r.position):
        raise TradeRejected(Retcode.INVALID_VOLUME, f"volume {volume:g} must be positive")
    for name, code in _PRICE_FIELDS:
        _real(getattr(r, name), name, code)
    check_int(r.deviation, "deviation", minimum=0, maximum=_I32_MAX, retcode=Retcode.TRADE_DISABLED)
    if r.type_filling is not None:
        check_int(r.type_filling, "type_filling", minimum=0, maximum=3, retcode=Retcode.INVALID_FILL)
    check_int(r.type_time, "type_time", minimum=0, maximum=3, retcode=Retcode.INVALID_EXPIRATION)
    check_int(r.expiration, "expiration (Unix seconds)", minimum=0, retcode=Retcode.INVALID_EXPIRATION)
    comment: object = r.comment  # typed as str, but callers may pass anything
    if not isinstance(comment, str):
        raise InvalidRequest(f"comment must be a str, not {_type_name(comment)}", retcode=Retcode.INVALID)
    for name in _TICKET_FIELDS:
        check_int(getattr(r, name), name, minimum=0, maximum=_U64_MAX, retcode=Retcode.INVALID)
    return request


_ACTIONS = frozenset(RequestAction.__members__.values())
#: int and the int enums the client's own shortcuts put in requests.
_INT_TYPES = frozenset({int, RequestAction, OrderType, OrderFilling, OrderTime})
_REAL_TYPES = (float, int)
_INF = math.inf


def _plainly_valid(r: TradeRequest) -> bool:
    """True for a request whose every field has a plain type and a valid value: one that
    :func:`_check_each_field` passes (it runs for everything else, to find the error to raise)."""
    volume, type_filling = r.volume, r.type_filling
    return (
        r.action.__class__ in _INT_TYPES and r.action in _ACTIONS and r.symbol.__class__ is str
        and r.type.__class__ in _INT_TYPES and 0 <= r.type <= 8
        and volume.__class__ in _REAL_TYPES and 0 < volume < _INF
        and r.price.__class__ in _REAL_TYPES and -_INF < r.price < _INF
        and r.stoplimit.__class__ in _REAL_TYPES and -_INF < r.stoplimit < _INF
        and r.sl.__class__ in _REAL_TYPES and -_INF < r.sl < _INF
        and r.tp.__class__ in _REAL_TYPES and -_INF < r.tp < _INF
        and r.deviation.__class__ is int and 0 <= r.deviation <= _I32_MAX
        and (type_filling is None or (type_filling.__class__ in _INT_TYPES and 0 <= type_filling <= 3))
        and r.type_time.__class__ in _INT_TYPES and 0 <= r.type_time <= 3
        and r.expiration.__class__ is int and r.expiration >= 0
        and r.comment.__class__ is str
        and r.position.__class__ is int and 0 <= r.position <= _U64_MAX
        and r.position_by.__class__ is int and 0 <= r.position_by <= _U64_MAX
        and r.order.__class__ is int and 0 <= r.order <= _U64_MAX
        and r.magic.__class__ is int and 0 <= r.magic <= _U64_MAX
    )


def _real(value: object, what: str, retcode: int) -> float:
    """A number of the right type; NaN and infinities are a rejected value, not a wrong type."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidRequest(f"{what} must be a number, not {_type_name(value)} {value!r}", retcode=retcode)
    number = float(value)
    if not math.isfinite(number):
        raise TradeRejected(retcode, f"{what} {number} is not a finite number")
    return number
