"""Symbol group masks as the ``MetaTrader5`` package reads them: ``"*,!*EUR*"``.

Comma-separated conditions with ``*``/``?`` wildcards, case-insensitive; a condition starting with ``!``
excludes. A symbol is kept when it matches an include condition (or there is none) and no exclusion.
A condition matches the symbol's name or its path (``Forex\\Majors\\EURUSD``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

__all__ = ["SymbolMask"]


class SymbolMask:
    """A parsed mask; ``mask("EURUSD", path)`` tells whether a symbol is kept."""

    __slots__ = ("exclude", "include", "text")

    def __init__(self, text: str | None) -> None:
        self.text = text or "*"
        parts = [p.strip().upper() for p in self.text.split(",") if p.strip()]
        self.include = [p for p in parts if not p.startswith("!")] or ["*"]
        self.exclude = [p[1:] for p in parts if p.startswith("!")]

    def __repr__(self) -> str:
        return f"SymbolMask({self.text!r})"

    def __call__(self, name: str, path: str = "") -> bool:
        keys = [name.upper()] + ([path.upper()] if path else [])
        if not any(fnmatchcase(k, p) for k in keys for p in self.include):
            return False
        return not any(fnmatchcase(k, p) for k in keys for p in self.exclude)
