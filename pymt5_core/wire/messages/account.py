"""The account body of command 3 and push 14 (SPEC §10.1), with its optional trailing sections."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import debug
from pymt5_core.wire.layouts import LAYOUTS
from pymt5_core.wire.records import Record, pack_record, unpack_record

__all__ = ["NEUTRAL_TRADE_SETTINGS", "AccountBody", "build_account", "read_account"]

_MAIN = LAYOUTS["AccountMain"]
_SETTINGS = LAYOUTS["TradeSettings"]
_LEV_RULE = LAYOUTS["LeverageRule"]
_LEV_TIER = LAYOUTS["LeverageTier"]
_COM_RULE = LAYOUTS["CommissionRule"]
_COM_TIER = LAYOUTS["CommissionTier"]

_I32_MAX, _U32_MAX, _F64_MAX = 2**31 - 1, 2**32 - 1, 1.7976931348623157e308
_SIGNED = {"spread_diff", "spread_diff_balance", "trade_stops_level", "trade_freeze_level", "swap_rollover3days"}


def _neutral_settings() -> Record:
    values: Record = {}
    for f in _SETTINGS.spec:
        if f.name == "symbol_path":
            values[f.name] = "*"
        elif f.doubles:
            values[f.name] = [_F64_MAX] * f.doubles
        elif f.type.name == "F64":
            values[f.name] = _F64_MAX
        elif f.type.name == "U64":
            values[f.name] = 0
        else:
            values[f.name] = _I32_MAX if f.name in _SIGNED else _U32_MAX
    return values


#: A group trade-settings record that changes nothing (path ``*``, every field at its sentinel, §7.19).
NEUTRAL_TRADE_SETTINGS: Record = _neutral_settings()


@dataclass(slots=True)
class AccountBody:
    """Everything command 3 / push 14 carries.

    ``leverage_rules`` and ``commissions`` are lists of ``(rule, tiers)`` pairs.
    """

    main: Record
    trade_settings: list[Record] = field(default_factory=list)
    trade_flags: int = 0
    symbols_count: int = 0
    leverage_flags: int = 0
    leverage_rules: list[tuple[Record, list[Record]]] = field(default_factory=list)
    commissions: list[tuple[Record, list[Record]]] = field(default_factory=list)


def build_account(account: AccountBody) -> bytes:
    """Encode the account body; an empty trade-settings list is sent as one neutral record (§10.1 quirk)."""
    settings = account.trade_settings or [NEUTRAL_TRADE_SETTINGS]
    parts = [_MAIN.pack_dict(account.main), struct.pack("<I", len(settings))]
    parts += [pack_record(_SETTINGS, s) for s in settings]
    parts.append(struct.pack("<iiQi", account.trade_flags, account.symbols_count, account.leverage_flags,
                             len(account.leverage_rules)))
    for rule, tiers in account.leverage_rules:
        parts.append(_LEV_RULE.pack_dict({**rule, "tier_count": len(tiers)}))
        parts += [_LEV_TIER.pack_dict(t) for t in tiers]
    parts.append(struct.pack("<I", len(account.commissions)))
    for crule, ctiers in account.commissions:
        parts.append(_COM_RULE.pack_dict(crule))
        parts.append(struct.pack("<I", len(ctiers)))
        parts += [_COM_TIER.pack_dict(t) for t in ctiers]
    return b"".join(parts)


class _Reader:
    """Sequential reader with the §3.6 rule: a field starting at the end is absent."""

    def __init__(self, body: bytes | bytearray | memoryview) -> None:
        self.body = body
        self.pos = 0

    @property
    def more(self) -> bool:
        return self.pos < len(self.body)

    def scalar(self, fmt: str, default: int = 0) -> int:
        size = struct.calcsize(fmt)
        if not self.more:
            return default
        if self.pos + size > len(self.body):
            raise ProtocolError(f"account body ends inside a field at offset {self.pos}")
        (value,) = struct.unpack_from(fmt, self.body, self.pos)
        self.pos += size
        return int(value)

    def record(self, name: str) -> Record:
        lay = LAYOUTS[name]
        if self.pos + lay.size > len(self.body):
            raise ProtocolError(f"{name} at offset {self.pos} runs past the end of the account body")
        rec = unpack_record(lay, self.body, self.pos)
        self.pos += lay.size
        return rec


def read_account(body: bytes | bytearray | memoryview) -> AccountBody:
    """Decode an account body exactly as the official reader does, including the count-0 quirk.

    Raises:
        ProtocolError: a section starts inside the body but does not fit.
    """
    if len(body) < _MAIN.size:
        raise ProtocolError(f"account body of {len(body)} bytes is shorter than AccountMain (816)")
    r = _Reader(body)
    account = AccountBody(main=r.record("AccountMain"))
    reread = 0
    if r.more:
        count = r.scalar("<I")
        if count == 0:
            reread = 4
            r.pos -= 4  # the official reader consumes a zero count as trade_flags (SPEC §10.1)
        account.trade_settings = [r.record("TradeSettings") for _ in range(count)]
    account.trade_flags = r.scalar("<i")
    account.symbols_count = r.scalar("<i")
    account.leverage_flags = r.scalar("<Q")
    for _ in range(max(r.scalar("<i"), 0)):
        rule = r.record("LeverageRule")
        account.leverage_rules.append((rule, [r.record("LeverageTier") for _ in range(max(rule["tier_count"], 0))]))
    for _ in range(r.scalar("<I")):
        crule = r.record("CommissionRule")
        account.commissions.append((crule, [r.record("CommissionTier") for _ in range(r.scalar("<I"))]))
    if debug.ENABLED:
        # Sections are optional, so the body may end after any of them. After a re-read zero count, a body
        # whose sections were all written ends 4 bytes after the reader stops: that is not a trailing field.
        end = r.pos + reread if len(body) - r.pos == reread else r.pos
        debug.check_body("read_account", len(body), end, (_MAIN, account.main))
    return account


