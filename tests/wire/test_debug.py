"""``PYMT5_DEBUG=1``: strict checks that turn what the official client tolerates into ProtocolError.

With debug off the same bodies decode exactly as the official reader decodes them.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from pymt5_core.errors import ProtocolError
from pymt5_core.wire import LAYOUTS, debug
from pymt5_core.wire.messages import build_ticks, read_ticks

VECTORS = Path(__file__).parents[1] / "data" / "vectors"
TICKS = bytes.fromhex(
    next(m for m in json.loads((VECTORS / "messages.json").read_text())["messages"] if m["name"] == "ticks")[
        "body_hex"
    ]
)
WHOLE = len(TICKS) // LAYOUTS["Tick"].size * LAYOUTS["Tick"].size


def ticks_at(*seconds: int) -> bytes:
    ticks = LAYOUTS["Tick"].empty_array(len(seconds))
    ticks["symbol_id"] = 1
    ticks["tick_time"] = seconds
    return build_ticks(ticks)


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debug, "ENABLED", True)


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debug, "ENABLED", False)


def test_vector_ticks_body_really_has_trailing_bytes() -> None:
    assert 0 < len(TICKS) - WHOLE < LAYOUTS["Tick"].size


@pytest.mark.usefixtures("strict")
def test_debug_on_ticks_with_trailing_bytes_raise() -> None:
    with pytest.raises(ProtocolError, match="after the last whole record"):
        read_ticks(TICKS)


@pytest.mark.usefixtures("lenient")
def test_debug_off_ticks_with_trailing_bytes_decode_and_ignore_the_remainder() -> None:
    assert len(read_ticks(TICKS)) == WHOLE // LAYOUTS["Tick"].size


@pytest.mark.usefixtures("strict")
def test_debug_on_ticks_without_trailing_bytes_decode_and_time_zero_means_none() -> None:
    ticks = read_ticks(TICKS[:WHOLE])
    assert 0 in ticks["tick_time"]


@pytest.mark.parametrize("seconds", [12_345, 631_151_999, -1])
@pytest.mark.usefixtures("strict")
def test_debug_on_ticks_with_an_impossible_time_raise(seconds: int) -> None:
    with pytest.raises(ProtocolError, match="impossible time"):
        read_ticks(ticks_at(1_700_000_000, seconds))


@pytest.mark.parametrize("seconds", [12_345, 631_151_999, -1])
@pytest.mark.usefixtures("lenient")
def test_debug_off_ticks_with_an_impossible_time_decode_as_sent(seconds: int) -> None:
    assert read_ticks(ticks_at(1_700_000_000, seconds))["tick_time"].tolist() == [1_700_000_000, seconds]


@pytest.mark.parametrize("seconds", [631_152_000, 1_700_000_000, 2**31 - 1])
@pytest.mark.usefixtures("strict")
def test_debug_on_times_from_1990_to_2100_are_accepted(seconds: int) -> None:
    assert read_ticks(ticks_at(seconds))["tick_time"].tolist() == [seconds]


def test_check_trailing_raises_only_when_bytes_are_left() -> None:
    debug.check_trailing("body", 10, 10)
    with pytest.raises(ProtocolError, match="2 trailing bytes"):
        debug.check_trailing("body", 10, 8)


def test_check_seconds_accepts_a_scalar_and_names_the_first_bad_value() -> None:
    debug.check_seconds("t", 0)
    debug.check_seconds("t", 4_102_444_800)
    with pytest.raises(ProtocolError, match="impossible time 4102444801"):
        debug.check_seconds("t", 4_102_444_801)
    with pytest.raises(ProtocolError, match="impossible time 5"):
        debug.check_seconds("t", np.array([1_700_000_000, 5, 6]))


@pytest.mark.parametrize(("value", "enabled"), [("1", True), ("0", False), ("true", False), ("", False)])
def test_only_pymt5_debug_equal_to_1_enables_the_checks(
    monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool
) -> None:
    monkeypatch.setenv("PYMT5_DEBUG", value)
    try:
        assert importlib.reload(debug).ENABLED is enabled
    finally:
        monkeypatch.undo()
        importlib.reload(debug)
