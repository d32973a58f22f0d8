"""Defaults for :class:`~pymt5_vectorbt.MT5Data` in ``vbt.settings.data["mt5"]``.

Registered like vectorbt's own ``data.binance``/``data.alpaca`` entries, as a flexible ``Config``::

    vbt.settings.data["mt5"]["url"] = "wss://..."
    vbt.settings.data["mt5"]["login"] = 12345678
    vbt.settings.data["mt5"]["password"] = "..."
    vbt.settings.data["mt5"]["timeout"] = 60.0   # any other key is passed to MT5ClientSync(...)

The entry is also written into the settings' reset point, so ``vbt.settings.reset()`` keeps it.
"""

from __future__ import annotations

from typing import Any

from vectorbt._settings import settings
from vectorbt.utils.config import Config

__all__ = ["mt5_settings", "register_settings"]

KEY = "mt5"
_DEFAULTS: dict[str, Any] = {"url": None, "login": None, "password": None}


def register_settings() -> None:
    """Add ``settings.data["mt5"]`` (and its reset point) unless it is there already. Idempotent."""
    if KEY not in settings["data"]:
        settings["data"].__setitem__(KEY, Config(dict(_DEFAULTS)), force=True)
    reset_data = settings.reset_dct_.get("data")
    if isinstance(reset_data, dict) and KEY not in reset_data:
        if isinstance(reset_data, Config):
            reset_data.__setitem__(KEY, Config(dict(_DEFAULTS)), force=True)
        else:
            reset_data[KEY] = Config(dict(_DEFAULTS))


def mt5_settings() -> dict[str, Any]:
    """Return a plain copy of ``settings.data["mt5"]`` (registering it first if it went missing)."""
    register_settings()
    return dict(settings["data"][KEY])
