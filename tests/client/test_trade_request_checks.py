"""The symbol-independent checks of a trade request: the shortcut for plain valid requests decides like the
field-by-field checks, which alone find the error to raise (pymt5_core._validate)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from pymt5_core import _validate
from pymt5_core.errors import MT5Error
from pymt5_core.models import RequestAction, TradeRequest
from pymt5_core.wire.enums import OrderFilling, OrderTime, OrderType

_INTS: list[Any] = [0, 1, 3, 8, 9, -1, 2**31 - 1, 2**31, 2**64 - 1, 2**64, True, False, 1.0, np.int64(2), None, "1"]
_REALS: list[Any] = [0.0, 0.01, 1.5, -1.5, 0, 2, math.nan, math.inf, -math.inf, True, np.float64(0.1), "0.1", None]
_POOLS: dict[str, list[Any]] = {
    "action": [*RequestAction, 1, 5, 2, 99, 0, True, 1.0, np.int32(1), "1", None],
    "symbol": ["EURUSD", "", "  ", 5, None, b"EURUSD"],
    "volume": _REALS,
    "type": [*OrderType, *_INTS],
    "price": _REALS, "stoplimit": _REALS, "sl": _REALS, "tp": _REALS,
    "deviation": _INTS,
    "type_filling": [*OrderFilling, *_INTS],
    "type_time": [*OrderTime, *_INTS],
    "expiration": _INTS,
    "comment": ["", "hello", 5, None, b"x"],
    "position": _INTS, "position_by": _INTS, "order": _INTS, "magic": _INTS,
}


def outcome(check: Any, request: TradeRequest) -> Any:
    try:
        return check(request) is request
    except MT5Error as exc:
        return type(exc), str(exc), exc.retcode


def test_the_shortcut_never_passes_a_request_the_field_checks_refuse() -> None:
    rng = random.Random(12)
    passed = 0
    for i in range(4000):
        # Mostly plain valid requests with one or two fields changed, so both branches are exercised.
        values: dict[str, Any] = {"action": RequestAction.DEAL, "symbol": "EURUSD", "volume": 0.1, "type": 0,
                                  "deviation": 10, "type_filling": None, "comment": "", "position": 0}
        for name in rng.sample(sorted(_POOLS), 1 + i % 3):
            values[name] = rng.choice(_POOLS[name])
        request = TradeRequest(**values)
        if _validate._plainly_valid(request):
            passed += 1
            assert outcome(_validate._check_each_field, request) is True, request
        assert outcome(_validate.check_trade_request, request) == outcome(_validate._check_each_field, request)
    assert 500 < passed < 3500  # both the shortcut and the field-by-field path ran
