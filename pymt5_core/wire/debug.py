"""Optional strict validation of incoming bodies, on when the environment has ``PYMT5_DEBUG=1``.

Callers guard every check with ``if debug.ENABLED:``, so with the variable unset the cost is one
attribute test per message. Checks raise :class:`~pymt5_core.errors.ProtocolError` with a precise
message; they flag what the official client tolerates silently (trailing bytes, impossible times).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from pymt5_core.errors import ProtocolError

__all__ = ["ENABLED", "check_remainder", "check_seconds", "check_trailing"]

ENABLED: bool = os.environ.get("PYMT5_DEBUG", "") == "1"

# 1990-01-01 .. 2100-01-01: anything outside is treated as an impossible market time.
_MIN_S, _MAX_S = 631_152_000, 4_102_444_800


def check_trailing(what: str, body_length: int, consumed: int) -> None:
    """Raise when a reader stopped before the end of the body."""
    if consumed != body_length:
        raise ProtocolError(f"{what}: {body_length - consumed} trailing bytes after the last field")


def check_remainder(what: str, body_length: int, record_size: int) -> None:
    """Raise when an uncounted array leaves a partial record at the end."""
    if body_length % record_size:
        raise ProtocolError(f"{what}: {body_length % record_size} bytes after the last whole record")


def check_seconds(what: str, seconds: npt.NDArray[Any] | int) -> None:
    """Raise when a Unix-seconds value (or array) lies outside 1990..2100 (zero is allowed: "none")."""
    arr = np.atleast_1d(np.asarray(seconds, dtype="<i8"))
    bad = (arr != 0) & ((arr < _MIN_S) | (arr > _MAX_S))
    if bad.any():
        raise ProtocolError(f"{what}: impossible time {int(arr[np.argmax(bad)])}")
