"""Trading accounts of the simulated server: their configuration, loading from JSON/TOML and the defaults."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pymt5_core.wire.enums import MarginMode

__all__ = ["AccountConfig", "default_accounts", "load_accounts"]

_MARGIN_MODES = {"netting": MarginMode.RETAIL_NETTING, "exchange": MarginMode.EXCHANGE,
                 "hedging": MarginMode.RETAIL_HEDGING}


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account the simulated server knows.

    ``otp`` is the fixed one-time code the login must carry, or None when the account needs none.
    ``margin_so_call`` / ``margin_so_so`` are margin-level percentages. Secrets never appear in the repr.
    """

    login: int
    password: str = field(repr=False)
    investor_password: str = field(default="", repr=False)
    name: str = ""
    currency: str = "USD"
    leverage: int = 100
    margin_mode: int = MarginMode.RETAIL_HEDGING
    balance: float = 10_000.0
    otp: str | None = field(default=None, repr=False)
    group: str = "demo\\default"
    company: str = "pymt5 Simulated Broker"
    server_name: str = "pymt5-Sim"
    margin_so_call: float = 100.0
    margin_so_so: float = 50.0

    @property
    def is_hedging(self) -> bool:
        """True for retail hedging accounts (one position per fill)."""
        return self.margin_mode == MarginMode.RETAIL_HEDGING

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AccountConfig:
        """Build from a mapping; ``margin_mode`` may be a name (``"hedging"``, ``"netting"``) or a number.

        Raises:
            ValueError: an unknown key or margin mode.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown account keys {sorted(unknown)}")
        values = dict(data)
        mode = values.get("margin_mode", MarginMode.RETAIL_HEDGING)
        if isinstance(mode, str):
            if mode.lower() not in _MARGIN_MODES:
                raise ValueError(f"unknown margin mode {mode!r}; use one of {sorted(_MARGIN_MODES)}")
            mode = _MARGIN_MODES[mode.lower()]
        values["margin_mode"] = int(MarginMode(mode))
        values["login"] = int(values["login"])
        return cls(**values)


def load_accounts(path: str | Path) -> list[AccountConfig]:
    """Read accounts from a ``.json`` or ``.toml`` file.

    The file holds either a list of account tables or a table with an ``accounts`` list
    (in TOML: ``[[accounts]]`` sections).

    Raises:
        ValueError: the file has no account list or an account is invalid.
    """
    p = Path(path)
    raw: Any = tomllib.loads(p.read_text("utf-8")) if p.suffix.lower() == ".toml" else json.loads(p.read_text("utf-8"))
    items = raw.get("accounts") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ValueError(f"{p}: expected a list of accounts")
    return [AccountConfig.from_mapping(item) for item in items]


def default_accounts() -> list[AccountConfig]:
    """The built-in accounts: USD hedging demo, EUR netting, JPY hedging 1:500 and a USD account with OTP."""
    return [
        AccountConfig(5000001, "Demo1234!", "Invest1234!", "Demo Trader", "USD", 100,
                      MarginMode.RETAIL_HEDGING, 10_000.0),
        AccountConfig(5000002, "Netting1234!", "Invest1234!", "Netting Trader", "EUR", 100,
                      MarginMode.RETAIL_NETTING, 10_000.0),
        AccountConfig(5000003, "Yen1234!", "Invest1234!", "Yen Trader", "JPY", 500,
                      MarginMode.RETAIL_HEDGING, 1_000_000.0),
        AccountConfig(5000004, "Secure1234!", "Invest1234!", "Secure Trader", "USD", 100,
                      MarginMode.RETAIL_HEDGING, 10_000.0, otp="123456"),
    ]
