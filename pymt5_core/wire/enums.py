"""Enumerations and bit flags of the protocol (SPEC §2.13, §4, §7)."""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "KNOWN_COMMANDS",
    "AccountType",
    "BookType",
    "CalcMode",
    "Command",
    "DealEntry",
    "DealType",
    "ExecMode",
    "FillFlags",
    "FrameCode",
    "MarginMode",
    "OrderFlags",
    "OrderState",
    "OrderTime",
    "OrderType",
    "Period",
    "PositionType",
    "Retcode",
    "StatsField",
    "TickField",
    "TimeFlags",
    "TradeAction",
    "TradeFlags",
    "TradeMode",
]


class _Readable(IntEnum):
    """An IntEnum whose ``str()`` reads well in logs: ``NAME(value)``."""

    def __str__(self) -> str:
        return f"{self.name}({int(self)})"


class Command(_Readable):
    """Command ids used by the official client (SPEC §4)."""

    BOOTSTRAP = 0
    LOGOUT = 2
    ACCOUNT = 3
    OPENED = 4
    HISTORY = 5
    SYMBOLS = 6
    SUBSCRIBE_TICKS = 7
    TICKS = 8
    SYMBOL_GROUPS = 9
    TRADE_UPDATE = 10
    RATES = 11
    TRADE_REQUEST = 12
    SYMBOL_UPDATE = 13
    ACCOUNT_UPDATE = 14
    LINK_STATE = 15
    SYMBOL_STATS = 17
    FULL_SYMBOLS = 18
    TRADE_RESULT = 19
    SPREADS = 20
    SUBSCRIBE_BOOK = 22
    BOOK = 23
    CHANGE_PASSWORD = 24
    VERIFY_CODES_REQUEST = 27
    LOGIN = 28
    INIT = 29
    OPEN_DEMO = 30
    SYMBOLS_COMPRESSED = 34
    OPEN_REAL = 39
    VERIFY_CODES_SUBMIT = 40
    TRADER_PARAMS = 41
    NOTIFY = 42
    OTP = 43
    CORPORATE_LINKS = 44
    PING = 51


#: Every command id the official client accepts (its send/receive allow-list, SPEC §4).
KNOWN_COMMANDS: frozenset[int] = frozenset(
    [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 29, 30,
     33, 34, 37, 39, 40, 41, 42, 43, 44, 50, 51, 52, *range(100, 113)]
)

#: Commands the server only ever pushes (never requested by the client).
PUSH_COMMANDS: frozenset[int] = frozenset({8, 10, 13, 14, 15, 17, 19, 23})

#: Commands the official client sends without a timeout.
NO_TIMEOUT_COMMANDS: frozenset[int] = frozenset({7, 22})


class FrameCode(_Readable):
    """The result code byte of server frames (SPEC §2.13), plus the client's local codes."""

    OK = 0
    INTERNAL_ERROR = 1
    TRADE_SERVER_UNAVAILABLE = 2
    INVALID_ACCOUNT = 3
    ERROR_WITHOUT_MESSAGE = 4
    OTP_REQUIRED = 5
    TOTP_REQUIRED = 6
    INVALID_EMAIL = 7
    INVALID_PHONE = 8
    SSL_CERT_NOT_SUPPORTED = 9
    NO_CONNECTION = 100
    INVALID_OTP = 201
    # local, never on the wire
    UNKNOWN_COMMAND = 102
    NOT_READY = 103
    SOCKET_CLOSED = 104
    TIMEOUT = 408
    REPLACED = 10000

    @classmethod
    def describe(cls, code: int) -> str:
        """A human description of a frame code."""
        return _FRAME_TEXT.get(code, f"error code {code}")


_FRAME_TEXT = {
    0: "success",
    1: "internal error",
    2: "trade server not available",
    3: "invalid account or password",
    4: "error without message",
    5: "one-time password required",
    6: "two-factor authentication must be enabled",
    7: "invalid e-mail",
    8: "invalid phone",
    9: "authorization with SSL certificates is not supported",
    100: "no connection",
    201: "invalid one-time password",
    102: "unknown command id",
    103: "connection not ready",
    104: "socket closed",
    408: "request timed out",
    10000: "request replaced",
}


class TradeAction(_Readable):
    """``trade_action`` of trade requests (SPEC §7.1)."""

    PRICE = 0
    REQUEST = 1
    INSTANT = 2
    MARKET = 3
    EXCHANGE = 4
    PENDING = 5
    SLTP = 6
    MODIFY = 7
    REMOVE = 8
    TRANSFER = 9
    CLOSE_BY = 10
    ACTIVATE = 100
    ACTIVATE_SL = 101
    ACTIVATE_TP = 102
    ACTIVATE_STOPLIMIT = 103
    STOPOUT_ORDER = 104
    STOPOUT_POSITION = 105
    EXPIRE = 106
    DEALER_POS_EXECUTE = 200
    DEALER_ORD_PENDING = 201
    DEALER_POS_MODIFY = 202
    DEALER_ORD_MODIFY = 203
    DEALER_ORD_REMOVE = 204
    DEALER_ORD_ACTIVATE = 205
    DEALER_BALANCE = 206
    DEALER_ORD_SLIMIT = 207
    DEALER_CLOSE_BY = 208

    @property
    def is_market(self) -> bool:
        """True for the actions that execute at market (1-4 and 200)."""
        return self in (1, 2, 3, 4, 200)


class OrderType(_Readable):
    """Order types (SPEC §7.2)."""

    BUY = 0
    SELL = 1
    BUY_LIMIT = 2
    SELL_LIMIT = 3
    BUY_STOP = 4
    SELL_STOP = 5
    BUY_STOP_LIMIT = 6
    SELL_STOP_LIMIT = 7
    CLOSE_BY = 8

    @property
    def is_buy(self) -> bool:
        """True for the buy side (0, 2, 4, 6)."""
        return self in (0, 2, 4, 6)

    @property
    def is_pending(self) -> bool:
        """True for pending order types (2-7)."""
        return 2 <= self <= 7


class OrderFilling(_Readable):
    """Filling type (SPEC §7.3)."""

    FOK = 0
    IOC = 1
    RETURN = 2
    BOC = 3


class OrderTime(_Readable):
    """Expiration type (SPEC §7.4)."""

    GTC = 0
    DAY = 1
    SPECIFIED = 2
    SPECIFIED_DAY = 3


class OrderState(_Readable):
    """Order states (SPEC §7.5)."""

    STARTED = 0
    PLACED = 1
    CANCELED = 2
    PARTIAL = 3
    FILLED = 4
    REJECTED = 5
    EXPIRED = 6
    REQUEST_ADD = 7
    REQUEST_MODIFY = 8
    REQUEST_CANCEL = 9


class DealType(_Readable):
    """Deal types (SPEC §7.6)."""

    BUY = 0
    SELL = 1
    BALANCE = 2
    CREDIT = 3
    CHARGE = 4
    CORRECTION = 5
    BONUS = 6
    COMMISSION = 7
    COMMISSION_DAILY = 8
    COMMISSION_MONTHLY = 9
    AGENT_DAILY = 10
    AGENT_MONTHLY = 11
    INTEREST = 12
    BUY_CANCELED = 13
    SELL_CANCELED = 14
    DIVIDEND = 15
    DIVIDEND_FRANKED = 16
    TAX = 17
    BALANCE_OTHER = 18


class DealEntry(_Readable):
    """Deal entry (SPEC §7.7)."""

    IN = 0
    OUT = 1
    INOUT = 2
    OUT_BY = 3


class PositionType(_Readable):
    """Position type (SPEC §7.9)."""

    BUY = 0
    SELL = 1


class CalcMode(_Readable):
    """Symbol ``trade_calc_mode`` (SPEC §7.10)."""

    FOREX = 0
    FUTURES = 1
    CFD = 2
    CFD_INDEX = 3
    CFD_LEVERAGE = 4
    FOREX_NO_LEVERAGE = 5
    EXCH_STOCKS = 32
    EXCH_FUTURES = 33
    EXCH_FUTURES_FORTS = 34
    EXCH_OPTIONS = 35
    EXCH_OPTIONS_MARGIN = 36
    EXCH_BONDS = 37
    EXCH_STOCKS_MOEX = 38
    EXCH_BONDS_MOEX = 39
    SERV_COLLATERAL = 64


class TradeMode(_Readable):
    """Symbol ``trade_mode`` (SPEC §7.10)."""

    DISABLED = 0
    LONG_ONLY = 1
    SHORT_ONLY = 2
    CLOSE_ONLY = 3
    FULL = 4


class ExecMode(_Readable):
    """Symbol ``trade_exemode`` (SPEC §7.10)."""

    REQUEST = 0
    INSTANT = 1
    MARKET = 2
    EXCHANGE = 3


class FillFlags(IntFlag):
    """Symbol ``trade_fill_flags``: which filling types are allowed."""

    FOK = 1
    IOC = 2
    BOC = 4


class TimeFlags(IntFlag):
    """Symbol ``trade_time_flags``: which expiration kinds are allowed."""

    GTC = 1
    DAY = 2
    SPECIFIED = 4
    SPECIFIED_DAY = 8


class OrderFlags(IntFlag):
    """Symbol ``trade_order_flags``: which order kinds are allowed."""

    MARKET = 1
    LIMIT = 2
    STOP = 4
    STOP_LIMIT = 8
    SL = 16
    TP = 32
    CLOSE_BY = 64


class TradeFlags(IntFlag):
    """Trade request ``type_flags`` bits (SPEC §7.15)."""

    CLOSE = 1
    OPEN = 2
    EXPERT = 256
    SIGNAL = 512
    SKIP_MARGIN_CHECK = 1024


class TickField(IntFlag):
    """Tick ``fields`` bits (SPEC §7.13)."""

    BID = 1
    ASK = 2
    LAST = 4
    VOLUME = 8


#: Tick ``flags`` bit for a delayed quote.
TICK_DELAYED = 512


class StatsField(IntFlag):
    """Statistics ``fields`` bits (SPEC §7.14)."""

    BID_LAST = 1
    BID_HIGH = 2
    BID_LOW = 4
    ASK_LAST = 8
    ASK_HIGH = 16
    ASK_LOW = 32
    LAST_LAST = 64
    LAST_HIGH = 128
    LAST_LOW = 256
    VOL_LAST = 512
    VOL_HIGH = 1024
    VOL_LOW = 2048
    TRADE_BUY_VOLUME = 4096
    TRADE_SELL_VOLUME = 8192
    TRADE_BUY_ORDERS = 16384
    TRADE_SELL_ORDERS = 32768
    TRADE_DEALS = 65536
    TRADE_VOLUME = 131072
    TRADE_TURNOVER = 262144
    TRADE_INTEREST = 524288
    PRICE_OPEN = 1048576
    PRICE_CLOSE = 2097152
    PRICE_AW = 4194304
    PRICE_CHANGE = 8388608
    PRICE_VOLATILITY = 16777216
    PRICE_THEORETICAL = 33554432
    PRICE_GREEKS_DELTA = 2**34
    PRICE_GREEKS_THETA = 2**35
    PRICE_GREEKS_GAMMA = 2**36
    PRICE_GREEKS_VEGA = 2**37
    PRICE_GREEKS_RHO = 2**38
    PRICE_GREEKS_OMEGA = 2**39
    PRICE_SENSITIVITY = 2**40


class BookType(_Readable):
    """Depth-of-market level types (SPEC §7.12)."""

    RESET = 0
    SELL = 1
    BUY = 2
    SELL_MARKET = 3
    BUY_MARKET = 4


#: BookHeader ``books_flags`` bit: clear the stored book first (snapshot).
BOOK_SNAPSHOT = 2


class AccountType(_Readable):
    """``account_type`` of AccountMain (SPEC §7.11)."""

    REAL = 0
    DEMO = 1
    CONTEST = 2
    PRELIMINARY = 3


class MarginMode(_Readable):
    """Account ``margin_mode`` (SPEC §7.11)."""

    RETAIL_NETTING = 0
    EXCHANGE = 1
    RETAIL_HEDGING = 2


class Period(_Readable):
    """Bar period codes of command 11 (SPEC §7.17)."""

    M1 = 1
    M5 = 5
    M15 = 15
    M30 = 30
    H1 = 0x4001
    H4 = 0x4004
    D1 = 0x4018
    W1 = 0x8001
    MN1 = 0xC001

    @property
    def minutes(self) -> int:
        """Nominal length in minutes (a month counts as 30 days)."""
        return _PERIOD_MINUTES[self]

    @property
    def seconds(self) -> int:
        """Nominal length in seconds (a month counts as 30 days)."""
        return _PERIOD_MINUTES[self] * 60

    @classmethod
    def parse(cls, value: str | int) -> Period:
        """Accept an MT5 name (``"H4"``), a period code or a member.

        Raises:
            ValueError: not one of the nine periods the protocol knows.
        """
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(
                    f"unknown timeframe {value!r}; use one of {', '.join(m.name for m in cls)}"
                ) from None
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown period code {value!r}") from None


_PERIOD_MINUTES = {
    Period.M1: 1, Period.M5: 5, Period.M15: 15, Period.M30: 30, Period.H1: 60, Period.H4: 240,
    Period.D1: 1440, Period.W1: 10080, Period.MN1: 43200,
}


class Retcode(_Readable):
    """Trade return codes (SPEC §7.16)."""

    PLACED_LOCAL = 10001
    ACCEPTED = 10002
    PROCESSING = 10003
    REQUOTE = 10004
    PRICES = 10005
    REJECT = 10006
    CANCEL = 10007
    PLACED = 10008
    DONE = 10009
    DONE_PARTIAL = 10010
    ERROR = 10011
    TIMEOUT = 10012
    INVALID = 10013
    INVALID_VOLUME = 10014
    INVALID_PRICE = 10015
    INVALID_STOPS = 10016
    TRADE_DISABLED = 10017
    MARKET_CLOSED = 10018
    NO_MONEY = 10019
    PRICE_CHANGED = 10020
    PRICE_OFF = 10021
    INVALID_EXPIRATION = 10022
    ORDER_CHANGED = 10023
    TOO_MANY_REQUESTS = 10024
    NO_CHANGES = 10025
    SERVER_DISABLES_AT = 10026
    CLIENT_DISABLES_AT = 10027
    LOCKED = 10028
    FROZEN = 10029
    INVALID_FILL = 10030
    CONNECTION = 10031
    ONLY_REAL = 10032
    LIMIT_ORDERS = 10033
    LIMIT_VOLUME = 10034
    INVALID_ORDER = 10035
    POSITION_CLOSED = 10036
    CLOSE_ORDER_EXIST = 10039
    LIMIT_POSITIONS = 10040
    REJECT_CANCEL = 10041
    LONG_ONLY = 10042
    SHORT_ONLY = 10043
    CLOSE_ONLY = 10044
    FIFO_CLOSE = 10045
    DONE_PARTIAL_ALT = 11001
    DEMO_DISABLED = 1025

    @classmethod
    def describe(cls, code: int) -> str:
        """The description of a return code."""
        return _RETCODE_TEXT.get(code, f"return code {code}")

    @classmethod
    def is_final(cls, code: int) -> bool:
        """True when ``code`` ends a request (every code except 0, 10001-10003 and 10028)."""
        return code not in (0, 10001, 10002, 10003, 10028)

    @classmethod
    def is_success(cls, code: int) -> bool:
        """True for 10008, 10009, 10010 and 11001."""
        return code in (10008, 10009, 10010, 11001)

    @classmethod
    def is_done(cls, code: int) -> bool:
        """True when the order was executed (10009, 10010, 11001)."""
        return code in (10009, 10010, 11001)


_RETCODE_TEXT = {
    10001: "request sent", 10002: "request accepted", 10003: "request being processed",
    10004: "requote", 10005: "prices", 10006: "request rejected", 10007: "request canceled by trader",
    10008: "order placed", 10009: "request completed", 10010: "request partially completed",
    10011: "request processing error", 10012: "request canceled by timeout", 10013: "invalid request",
    10014: "invalid volume", 10015: "invalid price", 10016: "invalid stops", 10017: "trading disabled",
    10018: "market closed", 10019: "not enough money", 10020: "prices changed",
    10021: "no quotes to process the request", 10022: "invalid order expiration",
    10023: "order state changed", 10024: "too many requests", 10025: "no changes in request",
    10026: "automated trading disabled by server", 10027: "automated trading disabled by client",
    10028: "request locked for processing", 10029: "order or position frozen",
    10030: "unsupported filling mode", 10031: "no connection with the trade server",
    10032: "operation allowed only for live accounts", 10033: "pending orders limit reached",
    10034: "volume limit for the symbol reached", 10035: "invalid or prohibited order type",
    10036: "position already closed", 10039: "a close order already exists for the position",
    10040: "positions limit reached", 10041: "pending order activation rejected, order canceled",
    10042: "only long positions allowed", 10043: "only short positions allowed",
    10044: "only position closing allowed", 10045: "position closing prohibited by FIFO rule",
    11001: "request partially completed", 1025: "demo account allocation disabled",
}
