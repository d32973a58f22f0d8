"""Exceptions raised by pymt5-core.

Every exception derives from :class:`MT5Error`. The tree says whose fault an error is::

    MT5Error
    ├── ProtocolError            the peer sent bytes that break the protocol (or they were corrupted)
    ├── EncodeError              a value cannot be written into its wire field; nothing was sent
    ├── RequestError             the caller asked for something invalid; nothing was sent
    │   ├── InvalidRequest       bad argument (type, range, naive datetime, ...)
    │   │   └── UnknownSymbol    the server has no symbol of that name
    │   └── TradeRejected        a trade request failed local checks or the server's (has ``retcode``)
    ├── ServerError              the server answered a request with a non-zero frame code (``code``)
    │   ├── AuthError            login refused: invalid account or password (code 3)
    │   │   ├── OTPRequired      a one-time password is needed or was wrong (codes 5, 201)
    │   │   └── TOTPNotEnabled   the account must enable two-factor authentication first (code 6)
    │   └── TradeServerUnavailable   the access server lost its trade server (codes 2, 100)
    └── ConnectionError_         the connection is not usable
        ├── ConnectionLost       the socket closed while a request was waiting for its answer
        ├── NotConnected         a request was made before connecting or after closing
        └── RequestTimeout       no answer within the request timeout

``ConnectionError_`` has a trailing underscore so it does not shadow the built-in ``ConnectionError``;
it is exported as ``MT5ConnectionError`` too.

A :class:`TradeRejected` is only ever raised for a definitive answer (a local check or a server
retcode). A request whose outcome is unknown because the connection dropped raises
:class:`ConnectionLost` with ``outcome_unknown=True``; the client reconciles it from server state.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConnectionError_",
    "ConnectionLost",
    "EncodeError",
    "InvalidRequest",
    "MT5ConnectionError",
    "MT5Error",
    "NotConnected",
    "OTPRequired",
    "ProtocolError",
    "RequestError",
    "RequestTimeout",
    "ServerError",
    "TOTPNotEnabled",
    "TradeRejected",
    "TradeServerUnavailable",
    "UnknownSymbol",
    "server_error_for_code",
]


class MT5Error(Exception):
    """Root of every exception raised by pymt5-core."""


class ProtocolError(MT5Error):
    """The peer sent bytes that violate the protocol (malformed, truncated or undecryptable)."""


class EncodeError(MT5Error, ValueError):
    """A value does not fit the wire field it is written to. Nothing was sent."""


class RequestError(MT5Error):
    """The caller asked for something invalid. Nothing was sent."""


class InvalidRequest(RequestError, ValueError):
    """An argument is of the wrong type, out of range or refers to something unknown.

    Attributes:
        retcode: the MT5 trade return code that the official client would report, when one applies.
    """

    def __init__(self, message: str, retcode: int | None = None) -> None:
        super().__init__(message)
        self.retcode = retcode


#: Retcode.INVALID (10013), the code the trade checks give an unknown symbol. A literal: importing
#: pymt5_core.wire.enums here would import the wire package, whose modules import this one.
_RETCODE_INVALID = 10013


class UnknownSymbol(InvalidRequest):
    """The server has no symbol of this name.

    Raised wherever a symbol is looked up (symbol configuration, quotes, bars, streams, trade requests,
    margin, downloads), before any request for it is sent; ``MT5Client.symbol`` raises it too when the
    server answers the configuration request without the symbol. The ``mt5`` module reports it as
    ``RES_E_NOT_FOUND``.

    Attributes:
        symbol: the unknown name (the first one when a call named several).
        symbols: every unknown name the call named.
        retcode: 10013 (invalid request), the trade return code of a request naming an unknown symbol.
    """

    def __init__(self, symbol: str, *others: str, message: str = "") -> None:
        self.symbol = symbol
        self.symbols = (symbol, *others)
        if not message:
            names = ", ".join(repr(name) for name in self.symbols)
            message = f"unknown symbol{'s' if others else ''} {names}"
        super().__init__(message, retcode=_RETCODE_INVALID)


class TradeRejected(RequestError):
    """A trade request was refused, locally before sending or by the server.

    Attributes:
        retcode: the MT5 trade return code (e.g. 10014 invalid volume).
        comment: the server's comment, if any.
        result: the full result object when the server answered.
    """

    def __init__(self, retcode: int, message: str = "", comment: str = "", result: object = None) -> None:
        from pymt5_core.wire.enums import Retcode

        self.retcode = retcode
        self.comment = comment
        self.result = result
        text = message or Retcode.describe(retcode)
        if comment and comment not in text:
            text = f"{text} ({comment})"
        super().__init__(f"[{retcode}] {text}")


class ServerError(MT5Error):
    """The server answered a request with a non-zero frame result code.

    Attributes:
        command: the command id of the request.
        code: the frame result code (SPEC 2.13).
    """

    def __init__(self, command: int, code: int, message: str = "") -> None:
        self.command = command
        self.code = code
        super().__init__(message or f"command {command} failed with code {code}")


class AuthError(ServerError):
    """Login refused: invalid account or password."""


class OTPRequired(AuthError):
    """A one-time password is required, or the one given was wrong."""


class TOTPNotEnabled(AuthError):
    """The account requires two-factor authentication to be enabled first."""


class TradeServerUnavailable(ServerError):
    """The access server has no connection to the trade server."""


class ConnectionError_(MT5Error):
    """The connection is not usable."""


MT5ConnectionError = ConnectionError_


class ConnectionLost(ConnectionError_):
    """The connection closed while a request waited for its answer.

    Attributes:
        outcome_unknown: True when the request may have reached the server (e.g. a trade request
            already sent); the client then settles its outcome from server state after reconnecting.
    """

    def __init__(self, message: str = "connection lost", outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


class NotConnected(ConnectionError_):
    """A request was made while not connected (before login or after close)."""


class RequestTimeout(ConnectionError_, TimeoutError):
    """No answer arrived within the request timeout."""


_LOGIN_CODE_MESSAGES: dict[int, tuple[type[ServerError], str]] = {
    2: (TradeServerUnavailable, "trade server not available"),
    3: (AuthError, "invalid account or password"),
    5: (OTPRequired, "one-time password required or invalid"),
    6: (TOTPNotEnabled, "two-factor authentication must be enabled for this account"),
    9: (AuthError, "authorization with SSL certificates is not supported"),
    100: (TradeServerUnavailable, "no connection to the trade server"),
    201: (OTPRequired, "invalid one-time password"),
}


def server_error_for_code(command: int, code: int) -> ServerError:
    """Build the most specific :class:`ServerError` for a non-zero frame code."""
    from pymt5_core.wire.enums import FrameCode

    kind, text = _LOGIN_CODE_MESSAGES.get(code, (ServerError, FrameCode.describe(code)))
    return kind(command, code, f"command {command}: {text} (code {code})")
